/* Field report payloads (see tm_field_report.h). */
#include "tm_field_report.h"

#define HEAD_COUNTERS 6u /* boot, seq, window, inferences, shadow runs, shadow agreements: u32 each */

static uint8_t string_len(const char *s) {
  uint8_t n = 0u;
  while (n < TM_FIELD_STRING_MAX && s[n] != '\0') {
    n++;
  }
  return n;
}

static uint8_t id_len(const tm_field_report_head *h) {
  return h->device_id_len < TM_FIELD_STRING_MAX ? h->device_id_len : (uint8_t)TM_FIELD_STRING_MAX;
}

uint32_t tm_field_report_bytes(const tm_field_report_head *h) {
  return 1u + 1u + id_len(h) + 4u * HEAD_COUNTERS + 1u + string_len(h->firmware) + 1u + string_len(h->model_hash) +
         tm_stats_bytes();
}

static void write_string(const uint8_t *s, uint8_t n, tm_stats_sink sink, void *ctx) {
  sink(ctx, &n, 1u);
  sink(ctx, s, n);
}

void tm_field_report_write(const tm_field_report_head *h, const tm_stats *s, tm_stats_sink sink, void *ctx) {
  const uint32_t counters[HEAD_COUNTERS] = {h->boot, h->seq, h->window, s->inferences, s->shadow_runs,
                                            s->shadow_agree};
  uint8_t b[4u * HEAD_COUNTERS];
  uint32_t i;
  b[0] = (uint8_t)TM_FIELD_REPORT_VERSION;
  sink(ctx, b, 1u);
  write_string(h->device_id, id_len(h), sink, ctx);
  for (i = 0u; i < 4u * HEAD_COUNTERS; i++) {
    b[i] = (uint8_t)(counters[i / 4u] >> (8u * (i % 4u)));
  }
  sink(ctx, b, sizeof b);
  write_string((const uint8_t *)h->firmware, string_len(h->firmware), sink, ctx);
  write_string((const uint8_t *)h->model_hash, string_len(h->model_hash), sink, ctx);
  tm_stats_write(s, sink, ctx);
}
