/* CRC-32 (IEEE 802.3, reflected, poly 0xEDB88320): the same value as zlib.crc32 / binascii.crc32. */
#ifndef TM_CRC32_H
#define TM_CRC32_H

#include <stdint.h>

#define TM_CRC32_INIT 0xFFFFFFFFu

/* Feed n bytes into a running CRC state (start from TM_CRC32_INIT). */
uint32_t tm_crc32_update(uint32_t state, const uint8_t *data, uint32_t n);

/* The CRC value of a running state. */
static inline uint32_t tm_crc32_final(uint32_t state) { return state ^ 0xFFFFFFFFu; }

#endif /* TM_CRC32_H */
