/* Field statistics: accumulation and serialization (see tm_stats.h). */
#include "tm_stats.h"

#include <string.h>

static const uint16_t classes[TM_STATS_OUTPUTS] = TM_STATS_CLASSES;
static const uint16_t confidence_bins[TM_STATS_OUTPUTS] = TM_STATS_CONFIDENCE_BINS;
static const int8_t low_confidence_q[TM_STATS_OUTPUTS] = TM_STATS_LOW_CONFIDENCE_Q;

static void inc(uint32_t *counter) { *counter += (uint32_t)(*counter != UINT32_MAX); }

static void add_sat_u32(uint32_t *counter, uint32_t n) {
  uint32_t total = *counter + n;
  *counter = total < n ? UINT32_MAX : total;
}

static void add_sat_i64(int64_t *sum, int32_t n) {
  if (n > 0 && *sum > INT64_MAX - n) {
    *sum = INT64_MAX;
  } else if (n < 0 && *sum < INT64_MIN - n) {
    *sum = INT64_MIN;
  } else {
    *sum += n;
  }
}

static void add_sat_u64(uint64_t *sum, uint32_t n) {
  uint64_t total = *sum + n;
  *sum = total < n ? UINT64_MAX : total;
}

static uint32_t bin_of(int32_t v, uint32_t bins) { return ((uint32_t)(v + 128) * bins) >> 8; }

void tm_stats_reset(tm_stats *s) { memset(s, 0, sizeof *s); }

uint32_t tm_stats_argmax(const int8_t *y, uint32_t n) {
  uint32_t best = 0u;
  uint32_t i;
  for (i = 1u; i < n; i++) {
    best = y[i] > y[best] ? i : best;
  }
  return best;
}

/* The input's histograms, and each channel's sum and sum of squares for this inference (32 bits suffice:
 * at most 262143 values of at most 128^2 per channel, checked in tm_stats.h). */
void tm_stats_add_input(tm_stats *s, const int8_t *x) {
  int32_t sum[TM_STATS_CHANNELS] = {0};
  uint32_t sumsq[TM_STATS_CHANNELS] = {0};
  uint32_t row;
  uint32_t c;
  for (row = 0u; row < TM_STATS_ROWS; row++) {
    uint32_t f = 0u;
    for (c = 0u; c < TM_STATS_CHANNELS; c++) {
      uint32_t *hist = s->hist[c];
      uint32_t end = f + TM_STATS_GROUP < TM_STATS_FEATURES ? f + TM_STATS_GROUP : TM_STATS_FEATURES;
      for (; f < end; f++) {
        int32_t v = x[f];
        inc(&hist[bin_of(v, TM_STATS_BINS)]);
        sum[c] += v;
        sumsq[c] += (uint32_t)(v * v);
      }
    }
    x += TM_STATS_FEATURES;
  }
  for (c = 0u; c < TM_STATS_CHANNELS; c++) {
    uint32_t width = TM_STATS_FEATURES - c * TM_STATS_GROUP;
    add_sat_u32(&s->count[c], TM_STATS_ROWS * (width < TM_STATS_GROUP ? width : TM_STATS_GROUP));
    add_sat_i64(&s->sum[c], sum[c]);
    add_sat_u64(&s->sumsq[c], sumsq[c]);
  }
}

void tm_stats_add_outputs(tm_stats *s, const int8_t *const *outputs) {
  uint32_t class_base = 0u;
  uint32_t confidence_base = 0u;
  uint32_t i;
  for (i = 0u; i < TM_STATS_OUTPUTS; i++) {
    uint32_t top = tm_stats_argmax(outputs[i], classes[i]);
    int32_t value = outputs[i][top];
    inc(&s->class_hist[class_base + top]);
    inc(&s->confidence_hist[confidence_base + bin_of(value, confidence_bins[i])]);
    if (value < low_confidence_q[i]) {
      inc(&s->low_confidence[i]);
    }
    class_base += classes[i];
    confidence_base += confidence_bins[i];
  }
  inc(&s->inferences);
}

void tm_stats_add_shadow(tm_stats *s, int agree) {
  inc(&s->shadow_runs);
  if (agree) {
    inc(&s->shadow_agree);
  }
}

/* ---- serialization (little-endian, as docs/PROTOCOL.md specifies) ---- */

#define CHANNEL_HEAD_BYTES 20u /* count u32, sum i64, sum of squares u64 */
#define OUTPUT_HEAD_BYTES 9u   /* classes u16, confidence bins u16, threshold i8, low-confidence count u32 */
#define SHAPE_BYTES 6u         /* channels u16, bins u16, group u8, outputs u8 */

static void put_le(uint8_t *p, uint64_t v, uint32_t n) {
  uint32_t i;
  for (i = 0u; i < n; i++) {
    p[i] = (uint8_t)(v >> (8u * i));
  }
}

static void write_counts(const uint32_t *counts, uint32_t n, tm_stats_sink sink, void *ctx) {
  uint8_t b[4];
  uint32_t i;
  for (i = 0u; i < n; i++) {
    put_le(b, counts[i], 4u);
    sink(ctx, b, 4u);
  }
}

uint32_t tm_stats_bytes(void) {
  return SHAPE_BYTES + TM_STATS_CHANNELS * (CHANNEL_HEAD_BYTES + 4u * TM_STATS_BINS) +
         TM_STATS_OUTPUTS * OUTPUT_HEAD_BYTES + 4u * (TM_STATS_CLASS_TOTAL + TM_STATS_CONFIDENCE_TOTAL);
}

void tm_stats_write(const tm_stats *s, tm_stats_sink sink, void *ctx) {
  uint8_t b[CHANNEL_HEAD_BYTES];
  uint32_t class_base = 0u;
  uint32_t confidence_base = 0u;
  uint32_t i;
  put_le(b, TM_STATS_CHANNELS, 2u);
  put_le(b + 2, TM_STATS_BINS, 2u);
  b[4] = (uint8_t)TM_STATS_GROUP;
  b[5] = (uint8_t)TM_STATS_OUTPUTS;
  sink(ctx, b, SHAPE_BYTES);
  for (i = 0u; i < TM_STATS_CHANNELS; i++) {
    put_le(b, s->count[i], 4u);
    put_le(b + 4, (uint64_t)s->sum[i], 8u);
    put_le(b + 12, s->sumsq[i], 8u);
    sink(ctx, b, CHANNEL_HEAD_BYTES);
    write_counts(s->hist[i], TM_STATS_BINS, sink, ctx);
  }
  for (i = 0u; i < TM_STATS_OUTPUTS; i++) {
    put_le(b, classes[i], 2u);
    put_le(b + 2, confidence_bins[i], 2u);
    b[4] = (uint8_t)low_confidence_q[i];
    put_le(b + 5, s->low_confidence[i], 4u);
    sink(ctx, b, OUTPUT_HEAD_BYTES);
    write_counts(s->class_hist + class_base, classes[i], sink, ctx);
    write_counts(s->confidence_hist + confidence_base, confidence_bins[i], sink, ctx);
    class_base += classes[i];
    confidence_base += confidence_bins[i];
  }
}
