/* tinyml serial protocol, device side. The frame layout, commands and error codes are specified in
 * docs/PROTOCOL.md; toolkit/tinyml/protocol.py is the host side and must agree with every number here.
 *
 * The device is a pure server: it sends nothing unsolicited (except a field app's report frames, sent with
 * tm_proto_frame_begin/put/end), and answers every frame it receives with exactly one ACK or NAK frame. It talks
 * to the model only through the generated model API (model.h).
 */
#ifndef TM_PROTO_H
#define TM_PROTO_H

#include <stdint.h>

#define TM_PROTO_VERSION 1u
#define TM_PROTO_SYNC0 0xA5u
#define TM_PROTO_SYNC1 0x5Au
#define TM_PROTO_HEADER_BYTES 6u /* version, type, seq (u16), length (u16), after the two sync bytes */
#define TM_PROTO_CRC_BYTES 4u

/* Largest payload the device accepts (its receive buffer). Between 128 and 4096 (the host's limit). */
#ifndef TM_PROTO_MAX_PAYLOAD
#define TM_PROTO_MAX_PAYLOAD 256u
#endif
/* A frame whose next byte does not arrive within this time is dropped and NAKed (TM_ERR_TIMEOUT). */
#ifndef TM_PROTO_BYTE_TIMEOUT_MS
#define TM_PROTO_BYTE_TIMEOUT_MS 100u
#endif

/* Request types. The ACK of a request has type (request | TM_PROTO_ACK_BIT); a NAK has type TM_PROTO_NAK. */
#define TM_CMD_INFO 0x01u
#define TM_CMD_TENSOR_INFO 0x02u
#define TM_CMD_LOAD_INPUT 0x03u
#define TM_CMD_INVOKE 0x04u
#define TM_CMD_READ_OUTPUT 0x05u
#define TM_CMD_READ_STATS 0x06u
#define TM_PROTO_ACK_BIT 0x80u
#define TM_PROTO_NAK 0xFFu

/* NAK error codes (first NAK payload byte; the second is the request type, or 0 if it was not received).
 * 1..3 are link errors: the frame was damaged, the host may resend it. 4.. mean the request itself is wrong. */
#define TM_ERR_BAD_CRC 1u
#define TM_ERR_TIMEOUT 2u
#define TM_ERR_TOO_LONG 3u
#define TM_ERR_BAD_VERSION 4u
#define TM_ERR_UNKNOWN_CMD 5u
#define TM_ERR_BAD_LENGTH 6u
#define TM_ERR_BAD_INDEX 7u
#define TM_ERR_BAD_RANGE 8u
#define TM_ERR_BAD_ARG 9u

/* What the protocol needs from the board (the firmware harness fills it in). All members are required. */
typedef struct {
  const char *board_name;       /* sent in INFO, at most 32 bytes are sent */
  const char *firmware_version; /* sent in INFO, at most 32 bytes are sent */
  int (*getc_timeout)(uint32_t timeout_ms); /* next received byte (0..255), or -1 after timeout_ms of silence */
  void (*putc)(uint8_t byte);               /* send one byte (blocking) */
  uint32_t (*ticks)(void); /* free-running up-counter: cycles on silicon, or emulator ticks. It may wrap at 2^32,
                              but one tm_model_invoke() must take fewer than 2^32 ticks. */
  uint32_t (*stack_peak_bytes)(void); /* peak stack use so far (from stack painting) */
} tm_proto_io;

/* Calls tm_model_init() once, then serves commands forever. */
void tm_proto_run(const tm_proto_io *io);

/* A frame sent piece by piece, for a payload that is not in one buffer (a field report, docs/PROTOCOL.md "Report
 * frames"): begin with the payload's total length, put exactly that many bytes, end (sends the CRC-32). */
typedef struct {
  const tm_proto_io *io;
  uint32_t crc;
} tm_proto_writer;
void tm_proto_frame_begin(tm_proto_writer *w, const tm_proto_io *io, uint8_t type, uint16_t seq, uint16_t len);
void tm_proto_frame_put(tm_proto_writer *w, const uint8_t *bytes, uint32_t n);
void tm_proto_frame_end(tm_proto_writer *w);

/* An application's own commands (the field app, firmware/field), in a build that defines TM_PROTO_APP (the
 * application then defines this function): called for a request type the protocol does not serve itself. The
 * request payload is payload[0 .. len); the reply is written over it (at most TM_PROTO_MAX_PAYLOAD bytes, its
 * length in *reply_len). `repeat` is 1 when the request has the type and sequence number of the last request served
 * successfully: a resend whose ACK was lost, which a command that changes state answers without acting again.
 * Returns 0 (ACK) or a NAK error code. Without TM_PROTO_APP an unknown type is TM_ERR_UNKNOWN_CMD, and neither this
 * hook nor the frame writer above is compiled. */
uint8_t tm_proto_app_command(const tm_proto_io *io, uint8_t type, uint8_t *payload, uint16_t len, int repeat,
                             uint16_t *reply_len);

#endif /* TM_PROTO_H */
