/* The shadow model (`tinyml build --app field --shadow CHALLENGER.tflite --shadow-every k`): a challenger compiled
 * with the symbol prefix tm_shadow, linked into the same image and run on every k-th inference (inferences 0, k,
 * 2k, ... since boot) on the same input as the production model. The device counts, per report window, the shadow
 * runs and agreements (same argmax of output 0; ties: the first maximum) in the statistics, and since boot a
 * confusion matrix (rows: the production model's class, columns: the challenger's), read with SHADOW_MATRIX.
 *
 * With TM_FIELD_SHARED_ARENA (field_config.h) both models use one arena, tm_field_arena, one after the other:
 * the input is kept in it past the production model's bytes until the challenger runs, and the production
 * model's outputs are read before the challenger runs (after it, they are gone). */
#ifndef TM_FIELD_SHADOW_H
#define TM_FIELD_SHADOW_H

#include <stdint.h>

#include "tm_stats.h"

void tm_field_shadow_init(void);
/* Keeps the production model's input (n bytes) for the challenger, before the production model runs. */
void tm_field_shadow_load(const void *input, uint32_t n);
/* Runs the challenger on the kept input and counts its agreement with `production`, the production model's
 * output 0 (read before the challenger runs). */
void tm_field_shadow_run(tm_stats *s, const int8_t *production);
/* SHADOW_MATRIX: request first cell u16; ACK: classes u16, first cell u16, cells n u16, n counts u32 (row-major). */
uint8_t tm_field_shadow_matrix(uint8_t *payload, uint16_t len, uint16_t *reply_len);

#endif /* TM_FIELD_SHADOW_H */
