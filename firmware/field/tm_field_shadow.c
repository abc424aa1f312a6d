/* The shadow model (see tm_field_shadow.h). Compiled in every field image, empty without a challenger. */
#include "field_config.h"

#if TM_FIELD_SHADOW_EVERY
#include <string.h>

#include "tinyml/model_api.h"
#include "tm_field_shadow.h"
#include "tm_proto.h"

/* The challenger's generated API. Its model.h has the production model's file name, so it is declared here; the
 * prefix is fixed (tinyml.device.field_app.SHADOW_PREFIX). */
void tm_shadow_init(void);
void tm_shadow_invoke(void);
const tm_io *tm_shadow_input(uint32_t index);
const tm_io *tm_shadow_output(uint32_t index);

#define CELLS (TM_FIELD_SHADOW_CLASSES * TM_FIELD_SHADOW_CLASSES)
#define MATRIX_HEAD_BYTES 6u

/* Since boot, saturating: [production class][challenger class]. */
uint32_t tm_field_confusion[CELLS];

#if TM_FIELD_SHARED_ARENA
/* Both models' arena (tinyml.device.field_app.SHARED_ARENA_SYMBOL, declared in each model.h), and in it, past the
 * production model's bytes, the input kept for the challenger. */
uint8_t tm_field_arena[TM_FIELD_ARENA_BYTES] __attribute__((aligned(16)));
#define KEPT_INPUT (tm_field_arena + TM_FIELD_INPUT_COPY_OFFSET)
#else
#define KEPT_INPUT ((uint8_t *)tm_shadow_input(0)->data) /* the challenger's own arena keeps it */
#endif

void tm_field_shadow_init(void) { tm_shadow_init(); }

void tm_field_shadow_load(const void *input, uint32_t n) { memcpy(KEPT_INPUT, input, n); }

void tm_field_shadow_run(tm_stats *s, const int8_t *production) {
  /* The production model's class first: with a shared arena the challenger overwrites its output. */
  const uint32_t mine = tm_stats_argmax(production, TM_FIELD_SHADOW_CLASSES);
  uint32_t theirs;
  uint32_t *cell;
#if TM_FIELD_SHARED_ARENA
  memmove(tm_shadow_input(0)->data, KEPT_INPUT, tm_shadow_input(0)->bytes); /* they may overlap */
#endif
  tm_shadow_invoke();
  theirs = tm_stats_argmax((const int8_t *)tm_shadow_output(0)->data, TM_FIELD_SHADOW_CLASSES);
  tm_stats_add_shadow(s, mine == theirs);
  cell = &tm_field_confusion[mine * TM_FIELD_SHADOW_CLASSES + theirs];
  *cell += (uint32_t)(*cell != UINT32_MAX);
}

uint8_t tm_field_shadow_matrix(uint8_t *p, uint16_t len, uint16_t *reply_len) {
  uint32_t first;
  uint32_t n;
  uint32_t i;
  if (len != 2u) {
    return TM_ERR_BAD_LENGTH;
  }
  first = (uint32_t)(p[0] | (p[1] << 8));
  if (first > CELLS) {
    return TM_ERR_BAD_RANGE;
  }
  n = CELLS - first;
  n = n < (TM_PROTO_MAX_PAYLOAD - MATRIX_HEAD_BYTES) / 4u ? n : (TM_PROTO_MAX_PAYLOAD - MATRIX_HEAD_BYTES) / 4u;
  p[0] = (uint8_t)TM_FIELD_SHADOW_CLASSES;
  p[1] = (uint8_t)(TM_FIELD_SHADOW_CLASSES >> 8);
  p[2] = (uint8_t)first;
  p[3] = (uint8_t)(first >> 8);
  p[4] = (uint8_t)n;
  p[5] = (uint8_t)(n >> 8);
  for (i = 0u; i < n; i++) {
    uint32_t v = tm_field_confusion[first + i];
    uint8_t *q = p + MATRIX_HEAD_BYTES + 4u * i;
    q[0] = (uint8_t)v;
    q[1] = (uint8_t)(v >> 8);
    q[2] = (uint8_t)(v >> 16);
    q[3] = (uint8_t)(v >> 24);
  }
  *reply_len = (uint16_t)(MATRIX_HEAD_BYTES + 4u * n);
  return 0u;
}
#else
typedef int tm_field_shadow_unused; /* ISO C forbids an empty translation unit */
#endif
