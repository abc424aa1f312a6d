/* Private to firmware/features: the generated tables (tm_features_tables.c) and the pieces the streaming API
 * (tm_features.c) is built from. */
#ifndef TM_FEATURES_INTERNAL_H
#define TM_FEATURES_INTERNAL_H

#include <stdint.h>

#include "tm_features_config.h"

/* Mel filter m covers bins first_bin .. first_bin + bins - 1 with weights tm_features_mel_weights[weight_at ...]. */
typedef struct {
  uint16_t first_bin;
  uint16_t bins;
  uint16_t weight_at;
} tm_features_mel_row;

extern const float tm_features_hann[TM_FEATURES_WINDOW];
extern const float tm_features_twiddle[TM_FEATURES_FFT];           /* cos, sin of 2 pi k / FFT, k < FFT / 2 */
extern const uint16_t tm_features_bitrev[TM_FEATURES_FFT / 2u];
extern const float tm_features_mel_weights[TM_FEATURES_MEL_WEIGHTS];
extern const tm_features_mel_row tm_features_mel_rows[TM_FEATURES_MELS];
#if TM_FEATURES_MFCC > 0
extern const float tm_features_dct[TM_FEATURES_MFCC * TM_FEATURES_MELS];  /* row k: coefficient k */
#endif

/* In-place real FFT of n (a power of two, >= 4) float32 samples. Output: buf[0] = X[0], buf[1] = X[n/2] (both
 * real), then buf[2k], buf[2k+1] = Re, Im of X[k] for 0 < k < n/2. `twiddle` holds cos, sin of 2 pi k / n for
 * k < n/2; `bitrev` the bit-reversed order of n/2 indices. */
void tm_rfft_f32(float *buf, uint32_t n, const float *twiddle, const uint16_t *bitrev);

/* One frame from the ring of the last TM_FEATURES_WINDOW samples, whose oldest sample is ring[oldest], into `out`
 * (TM_FEATURES_COEFFS int8 model inputs), with `work` (TM_FEATURES_WORK_FLOATS floats) as scratch. */
void tm_features_frame(const int16_t *ring, uint32_t oldest, float *work, int8_t *out);

#endif
