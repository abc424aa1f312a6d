/* Host harness for firmware/field/tm_stats.c and tm_field_report.c (tests/field/test_field_app.py).
 *
 * stdin: inference count u32, then per inference one shadow byte (0: no shadow run, 1: agrees, 2: disagrees),
 * the input (TM_STATS_ROWS x TM_STATS_FEATURES int8) and every output's classes (int8, output 0 first).
 * stdout: the report payload (device id "host", boot 7, seq 3, window 100).
 * argv[1] "full" starts from nearly saturated counters: u32 counters at 2^32 - 6, sums at INT64_MAX - 100 (sign
 * "+") or INT64_MIN + 100 (sign "-", argv[2]), sums of squares at 2^64 - 1001. */
#include <stdio.h>
#include <string.h>

#include "tm_field_report.h"

static void to_stdout(void *ctx, const uint8_t *bytes, uint32_t n) {
  (void)ctx;
  fwrite(bytes, 1u, n, stdout);
}

static void fill_nearly_full(tm_stats *s, int negative) {
  uint32_t *counters[] = {&s->inferences, &s->shadow_runs, &s->shadow_agree};
  uint32_t i;
  uint32_t b;
  for (i = 0u; i < 3u; i++) {
    *counters[i] = UINT32_MAX - 5u;
  }
  for (i = 0u; i < TM_STATS_OUTPUTS; i++) {
    s->low_confidence[i] = UINT32_MAX - 5u;
  }
  for (i = 0u; i < TM_STATS_CHANNELS; i++) {
    s->count[i] = UINT32_MAX - 5u;
    s->sum[i] = negative ? INT64_MIN + 100 : INT64_MAX - 100;
    s->sumsq[i] = UINT64_MAX - 1000u;
    for (b = 0u; b < TM_STATS_BINS; b++) {
      s->hist[i][b] = UINT32_MAX - 5u;
    }
  }
  for (i = 0u; i < TM_STATS_CLASS_TOTAL; i++) {
    s->class_hist[i] = UINT32_MAX - 5u;
  }
  for (i = 0u; i < TM_STATS_CONFIDENCE_TOTAL; i++) {
    s->confidence_hist[i] = UINT32_MAX - 5u;
  }
}

int main(int argc, char **argv) {
  static tm_stats s;
  static int8_t input[TM_STATS_ROWS * TM_STATS_FEATURES];
  static int8_t outputs[TM_STATS_CLASS_TOTAL];
  static const uint16_t classes[TM_STATS_OUTPUTS] = TM_STATS_CLASSES;
  const int8_t *out_ptrs[TM_STATS_OUTPUTS];
  static const uint8_t id[] = {'h', 'o', 's', 't'};
  tm_field_report_head h = {id, 4u, 7u, 3u, 100u, TM_FIELD_FIRMWARE, TM_FIELD_MODEL_HASH};
  uint32_t n;
  uint32_t i;
  uint32_t base = 0u;
  tm_stats_reset(&s);
  if (argc > 2 && strcmp(argv[1], "full") == 0) {
    fill_nearly_full(&s, argv[2][0] == '-');
  }
  for (i = 0u; i < TM_STATS_OUTPUTS; i++) {
    out_ptrs[i] = outputs + base;
    base += classes[i];
  }
  if (fread(&n, 4u, 1u, stdin) != 1u) {
    return 2;
  }
  for (i = 0u; i < n; i++) {
    int shadow = getchar();
    if (fread(input, 1u, sizeof input, stdin) != sizeof input || fread(outputs, 1u, sizeof outputs, stdin) !=
        sizeof outputs || shadow == EOF) {
      return 2;
    }
    tm_stats_add_input(&s, input);
    tm_stats_add_outputs(&s, out_ptrs);
    if (shadow != 0) {
      tm_stats_add_shadow(&s, shadow == 1);
    }
  }
  tm_field_report_write(&h, &s, to_stdout, NULL);
  fprintf(stderr, "%u\n", (unsigned)tm_field_report_bytes(&h));
  return 0;
}
