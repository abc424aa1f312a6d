/* The model's feature extractor on the device: raw sensor samples in, the model's int8 input out.
 *
 * Streaming: every TM_FEATURES_HOP samples (the first time after TM_FEATURES_WINDOW samples) one frame is computed
 * from the last TM_FEATURES_WINDOW samples: Hann window, real FFT, power spectrum, mel filter bank, natural log,
 * optional DCT-II, (x - mean) / std, then quantized with the model input's scale and zero point. After
 * tm_features_reset() and one clip of TM_FEATURES_CLIP_SAMPLES samples, tm_features_window() equals the host's
 * tinyml.features.extract() on that clip (samples / 32768.0), quantized exactly as the training data were.
 * The sizes and constants come from the generated tm_features_config.h (tinyml.compiler.codegen.features).
 * Not reentrant: one extractor per program, state in static memory (see docs/FIELD.md for its RAM). */
#ifndef TM_FEATURES_H
#define TM_FEATURES_H

#include <stdint.h>

#include "tm_features_config.h"

void tm_features_reset(void);                                   /* forget all samples and frames */
uint32_t tm_features_push(const int16_t *samples, uint32_t n);  /* raw sensor samples, full scale 32768 = 1.0;
                                                                   returns how many new feature frames completed */
uint32_t tm_features_frames(void);                              /* frames completed since reset (saturating) */
int tm_features_window(int8_t *dst);                            /* the last TM_FEATURES_FRAMES frames, oldest first,
                                                                   quantized as the model input (frames x coeffs);
                                                                   returns 0 (dst untouched) until enough frames,
                                                                   else 1 (TM_FEATURES_INPUT_BYTES written) */

#endif
