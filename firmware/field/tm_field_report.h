/* Field report payloads (docs/PROTOCOL.md "Report frames", report version 1): the identity head, then the
 * statistics (tm_stats_write). Written through a sink, so the same code sends a frame and fills a test's buffer. */
#ifndef TM_FIELD_REPORT_H
#define TM_FIELD_REPORT_H

#include <stdint.h>

#include "tm_stats.h"

#define TM_FIELD_REPORT_VERSION 1u
#define TM_FIELD_STRING_MAX 32u /* longest device id, firmware version or model hash a report carries */

typedef struct {
  const uint8_t *device_id; /* 1 to TM_FIELD_STRING_MAX bytes */
  uint8_t device_id_len;
  uint32_t boot;
  uint32_t seq;    /* per boot, from 1 */
  uint32_t window; /* inferences per report window, as configured */
  const char *firmware;
  const char *model_hash;
} tm_field_report_head;

/* The payload's length in bytes. */
uint32_t tm_field_report_bytes(const tm_field_report_head *h);
void tm_field_report_write(const tm_field_report_head *h, const tm_stats *s, tm_stats_sink sink, void *ctx);

#endif /* TM_FIELD_REPORT_H */
