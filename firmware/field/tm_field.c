/* The field app's stream: input -> model (+ shadow) -> statistics -> reports (see tm_field.h). */
#include "tm_field.h"

#include "field_config.h"
#include "model.h"
#include "tm_field_device.h"
#include "tm_field_report.h"
#include "tm_hal.h"
#include "tm_stats.h"
#if TM_FIELD_FEATURES
#include "tm_features.h"
#ifndef TM_FEATURES_HOP
#define TM_FEATURES_HOP 1u /* samples per pushed chunk when the extractor does not state its hop */
#endif
#endif
#if TM_FIELD_SHADOW_EVERY
#include "tm_field_shadow.h"
#endif
#if TM_FIELD_SHARED_ARENA && TM_FIELD_INPUT_COPY_OFFSET < TM_MODEL_ARENA_BYTES
#error "field_config.h keeps the shadow model's input inside the model's arena: regenerate both"
#endif

#define SENSOR_CHUNK 32u /* samples read from the sensor at a time */

/* The statistics of the current report window: the RAM the statistics cost (its size is read from the ELF). */
tm_stats tm_field_stats;

static struct {
  const tm_proto_io *io;
  tm_field_counters counters;
  uint32_t window_inferences;
  uint32_t filled;           /* input bytes streamed into the current tensor (TM_FIELD_FORMAT_TENSOR) */
  uint32_t frames_since_run; /* feature frames completed since the last inference or restart */
  uint32_t run_index;        /* inferences since boot, modulo the shadow period */
} f;

void tm_field_start(const tm_proto_io *io) {
  f.io = io;
  tm_field_identity_init();
  tm_stats_reset(&tm_field_stats);
#if TM_FIELD_FEATURES
  tm_features_reset();
#endif
#if TM_FIELD_SHADOW_EVERY
  tm_field_shadow_init();
#endif
}

static void sink_frame(void *ctx, const uint8_t *bytes, uint32_t n) {
  tm_proto_frame_put((tm_proto_writer *)ctx, bytes, n);
}

uint32_t tm_field_report_now(void) {
  tm_field_report_head h;
  tm_proto_writer w;
  h.device_id = (const uint8_t *)tm_field_identity.id;
  h.device_id_len = (uint8_t)tm_field_identity.id_len;
  h.boot = tm_field_identity.boot;
  h.seq = f.counters.reports + 1u;
  h.window = TM_FIELD_REPORT_EVERY;
  h.firmware = TM_FIELD_FIRMWARE;
  h.model_hash = TM_FIELD_MODEL_HASH;
  tm_proto_frame_begin(&w, f.io, TM_PROTO_REPORT, (uint16_t)h.seq, (uint16_t)tm_field_report_bytes(&h));
  tm_field_report_write(&h, &tm_field_stats, sink_frame, &w);
  tm_proto_frame_end(&w);
  f.counters.reports = h.seq;
  f.window_inferences = 0u;
  tm_stats_reset(&tm_field_stats);
  return h.seq;
}

/* One inference on the model's input tensor, which the stream has just filled. */
static void run_model(void) {
  const int8_t *outputs[TM_MODEL_NUM_OUTPUTS];
  uint32_t t0;
  uint32_t t1;
  uint32_t t2;
  uint32_t i;
#if TM_FIELD_SHADOW_EVERY
  const int shadow_due = f.run_index == 0u;
  if (shadow_due) { /* the production model may overwrite its input: the challenger gets a copy first */
    t0 = f.io->ticks();
    tm_field_shadow_load(tm_model_input(0)->data, tm_model_input(0)->bytes);
    f.counters.shadow_ticks += (uint32_t)(f.io->ticks() - t0);
  }
#endif
  t0 = f.io->ticks();
  tm_stats_add_input(&tm_field_stats, (const int8_t *)tm_model_input(0)->data);
  t1 = f.io->ticks();
  tm_model_invoke();
  t2 = f.io->ticks();
  for (i = 0u; i < TM_MODEL_NUM_OUTPUTS; i++) {
    outputs[i] = (const int8_t *)tm_model_output(i)->data;
  }
  tm_stats_add_outputs(&tm_field_stats, outputs);
  f.counters.stats_ticks += (uint32_t)(t1 - t0) + (uint32_t)(f.io->ticks() - t2);
  f.counters.model_ticks += (uint32_t)(t2 - t1);
#if TM_FIELD_SHADOW_EVERY
  if (shadow_due) {
    uint32_t t3 = f.io->ticks();
    tm_field_shadow_run(&tm_field_stats, outputs[0]);
    f.counters.shadow_ticks += (uint32_t)(f.io->ticks() - t3);
  }
  f.run_index = f.run_index + 1u == TM_FIELD_SHADOW_EVERY ? 0u : f.run_index + 1u;
#endif
  f.counters.inferences += (uint32_t)(f.counters.inferences != UINT32_MAX);
  if (++f.window_inferences >= TM_FIELD_REPORT_EVERY) {
    tm_field_report_now();
  }
}

void tm_field_feed_tensor(const uint8_t *bytes, uint32_t n) {
  const tm_io *in = tm_model_input(0);
  while (n > 0u) {
    uint32_t take = in->bytes - f.filled < n ? in->bytes - f.filled : n;
    uint8_t *dst = (uint8_t *)in->data + f.filled;
    uint32_t i;
    for (i = 0u; i < take; i++) {
      dst[i] = bytes[i];
    }
    bytes += take;
    n -= take;
    f.filled += take;
    if (f.filled == in->bytes) {
      f.filled = 0u;
      run_model();
    }
  }
}

#if TM_FIELD_FEATURES
/* Pushed one hop (or less) at a time, so no push completes more than one frame and no inference is skipped. */
void tm_field_feed_samples(const int16_t *samples, uint32_t n) {
  while (n > 0u) {
    uint32_t take = n < TM_FEATURES_HOP ? n : TM_FEATURES_HOP;
    f.frames_since_run += tm_features_push(samples, take);
    samples += take;
    n -= take;
    if (f.frames_since_run >= TM_FIELD_INFER_EVERY &&
        tm_features_window((int8_t *)tm_model_input(0)->data) != 0) {
      f.frames_since_run = 0u;
      run_model();
    }
  }
}

void tm_field_poll_sensor(void) {
  int16_t buf[SENSOR_CHUNK];
  uint32_t n = tm_sensor_read(buf, SENSOR_CHUNK);
  tm_field_feed_samples(buf, n <= SENSOR_CHUNK ? n : SENSOR_CHUNK);
}
#else
void tm_field_feed_samples(const int16_t *samples, uint32_t n) {
  (void)samples;
  (void)n;
}

void tm_field_poll_sensor(void) {}
#endif

void tm_field_restart_stream(void) {
  f.filled = 0u;
  f.frames_since_run = 0u;
#if TM_FIELD_FEATURES
  tm_features_reset();
#endif
}

const tm_field_counters *tm_field_counters_get(void) { return &f.counters; }

uint32_t tm_field_stats_bytes(void) { return (uint32_t)sizeof tm_field_stats; }
