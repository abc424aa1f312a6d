/* The field app (`tinyml build --app field`, docs/FIRMWARE.md "Field app"): sensor samples -> features -> model
 * (+ shadow) -> statistics -> report frames, beside the bench protocol's commands.
 *
 * Input: raw int16 samples (from tm_sensor_read, or streamed by the host with SAMPLES) go through the feature
 * extractor (firmware/features) when the model has features.json: the model runs every TM_FIELD_INFER_EVERY new
 * feature frames once a whole window is ready. A model without features.json takes its input tensor's bytes as
 * the stream: every complete tensor is one inference. Every TM_FIELD_REPORT_EVERY inferences, or on request, the
 * app sends a REPORT frame (docs/PROTOCOL.md) and starts a new window. */
#ifndef TM_FIELD_H
#define TM_FIELD_H

#include <stdint.h>

#include "tm_proto.h"

/* The field app's commands (docs/PROTOCOL.md "Field commands"). */
#define TM_CMD_SAMPLES 0x07u
#define TM_CMD_REPORT_NOW 0x08u
#define TM_CMD_FIELD_INFO 0x09u
#define TM_CMD_SHADOW_MATRIX 0x0Au
#define TM_PROTO_REPORT 0x40u

/* SAMPLES formats. */
#define TM_FIELD_FORMAT_SAMPLES 0u /* int16 little-endian raw samples (a model with features on the chip) */
#define TM_FIELD_FORMAT_TENSOR 1u  /* int8 input tensor bytes (the stream continues where the last one ended) */
#define TM_FIELD_FORMAT_RESTART 2u /* no data: drop the partial tensor and restart the feature extractor */

typedef struct {
  uint32_t inferences;   /* since boot (saturating) */
  uint32_t reports;      /* report frames sent since boot */
  uint64_t model_ticks;  /* ticks spent in tm_model_invoke() since boot */
  uint64_t stats_ticks;  /* ticks spent accumulating statistics since boot */
  uint64_t shadow_ticks; /* ticks spent in the shadow model and its comparison since boot */
} tm_field_counters;

/* Reads the device identity and remembers the link reports are sent on; call before tm_proto_run. */
void tm_field_start(const tm_proto_io *io);
/* Stream input: runs the model (and sends reports) as inputs complete. */
void tm_field_feed_samples(const int16_t *samples, uint32_t n);
void tm_field_feed_tensor(const uint8_t *bytes, uint32_t n);
void tm_field_restart_stream(void);
/* Reads the sensor (tm_sensor_read) and feeds what it gave; called while the link is idle. */
void tm_field_poll_sensor(void);
/* Sends the current window's report now and starts a new window; returns its sequence number. */
uint32_t tm_field_report_now(void);
const tm_field_counters *tm_field_counters_get(void);
uint32_t tm_field_stats_bytes(void);

#endif /* TM_FIELD_H */
