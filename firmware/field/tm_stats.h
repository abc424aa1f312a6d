/* Field statistics, device side: exactly what tinyml.device.statistics.accumulate computes (its docstring is the
 * reference), in integer arithmetic, alongside inference. The layout comes from the generated field_config.h.
 *
 * Counters are uint32 and saturate at 2^32 - 1; sums are int64 and sums of squares uint64 (saturating too).
 * Histograms: an int8 value v falls in bin ((v + 128) * bins) >> 8; argmax ties go to the first maximum. */
#ifndef TM_STATS_H
#define TM_STATS_H

#include <stdint.h>

#include "field_config.h"

#if TM_STATS_ROWS * TM_STATS_GROUP > 262143u
#error "more than 262143 values per channel and inference: a per-inference sum of squares would overflow 32 bits"
#endif

/* One report window. Everything a report carries beyond the layout constants; nothing else (it is the RAM cost
 * `tinyml build --app field --json` reports, read from this symbol's size in the ELF). */
typedef struct {
  uint32_t inferences;
  uint32_t shadow_runs;
  uint32_t shadow_agree;
  uint32_t low_confidence[TM_STATS_OUTPUTS];
  uint32_t count[TM_STATS_CHANNELS];
  int64_t sum[TM_STATS_CHANNELS];
  uint64_t sumsq[TM_STATS_CHANNELS];
  uint32_t hist[TM_STATS_CHANNELS][TM_STATS_BINS];
  uint32_t class_hist[TM_STATS_CLASS_TOTAL];           /* output 0's classes, then output 1's, ... */
  uint32_t confidence_hist[TM_STATS_CONFIDENCE_TOTAL]; /* likewise */
} tm_stats;

/* Receives serialized bytes (a report being sent, or a test's buffer). */
typedef void (*tm_stats_sink)(void *ctx, const uint8_t *bytes, uint32_t n);

void tm_stats_reset(tm_stats *s);
/* One inference, in two steps because the model may overwrite its input: the input (TM_STATS_ROWS x
 * TM_STATS_FEATURES int8 values) before tm_model_invoke(), then the outputs (outputs[i]: output i's classes),
 * which completes the inference. */
void tm_stats_add_input(tm_stats *s, const int8_t *input);
void tm_stats_add_outputs(tm_stats *s, const int8_t *const *outputs);
/* One shadow run: `agree` is 1 when the shadow model's argmax equals the production model's. */
void tm_stats_add_shadow(tm_stats *s, int agree);
/* Index of the first maximum of y[0 .. n). */
uint32_t tm_stats_argmax(const int8_t *y, uint32_t n);
/* The statistics part of a report payload (docs/PROTOCOL.md "Report frames", from "channels C" to the end). */
uint32_t tm_stats_bytes(void);
void tm_stats_write(const tm_stats *s, tm_stats_sink sink, void *ctx);

#endif /* TM_STATS_H */
