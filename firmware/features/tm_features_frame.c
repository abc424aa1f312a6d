/* One feature frame: Hann window, real FFT, power spectrum, mel filter bank, natural log, optional DCT-II, then
 * normalisation and int8 quantization with exactly the host's float32 arithmetic (tinyml.features.extract's
 * `(x - mean) / std`, then tinyml.train.quantize.quantize_inputs: round half to even of x / scale, plus the zero
 * point, clamped). The work buffer holds the FFT in place, then the power spectrum in its first FFT / 2 + 1 floats
 * followed by the mel energies; the coefficients go back over the spectrum. */
#include <math.h>

#include "tm_features_internal.h"

#define BINS (TM_FEATURES_FFT / 2u + 1u)

static void windowed(const int16_t *ring, uint32_t oldest, float *work) {
  uint32_t at = oldest;
  for (uint32_t i = 0; i < TM_FEATURES_WINDOW; i++) {
    work[i] = (float)ring[at] * (1.0f / 32768.0f) * tm_features_hann[i];
    at = at + 1u == TM_FEATURES_WINDOW ? 0u : at + 1u;
  }
  for (uint32_t i = TM_FEATURES_WINDOW; i < TM_FEATURES_FFT; i++) {
    work[i] = 0.0f;
  }
}

/* |X[k]|^2 into work[k], k = 0 .. FFT / 2: entry k reads 2k and 2k + 1, never an entry already written. */
static void power_spectrum(float *work) {
  float dc = work[0] * work[0], nyquist = work[1] * work[1];
  for (uint32_t k = 1u; k < TM_FEATURES_FFT / 2u; k++) {
    work[k] = work[2u * k] * work[2u * k] + work[2u * k + 1u] * work[2u * k + 1u];
  }
  work[0] = dc;
  work[TM_FEATURES_FFT / 2u] = nyquist;
}

static void log_mel(const float *power, float *mel) {
  for (uint32_t m = 0; m < TM_FEATURES_MELS; m++) {
    const tm_features_mel_row *row = &tm_features_mel_rows[m];
    const float *w = tm_features_mel_weights + row->weight_at;
    const float *p = power + row->first_bin;
    float sum = 0.0f;
    for (uint32_t j = 0; j < row->bins; j++) {
      sum += w[j] * p[j];
    }
    mel[m] = logf(sum + TM_FEATURES_LOG_FLOOR);
  }
}

static int8_t quantize(float x) {
  float v = (x - TM_FEATURES_MEAN) / TM_FEATURES_STD;
  float q = rintf(v / TM_FEATURES_INPUT_SCALE) + (float)TM_FEATURES_INPUT_ZERO_POINT;
  if (q < -128.0f) {
    q = -128.0f;
  }
  if (q > 127.0f) {
    q = 127.0f;
  }
  return (int8_t)q;
}

void tm_features_frame(const int16_t *ring, uint32_t oldest, float *work, int8_t *out) {
  float *mel = work + BINS;
  windowed(ring, oldest, work);
  tm_rfft_f32(work, TM_FEATURES_FFT, tm_features_twiddle, tm_features_bitrev);
  power_spectrum(work);
  log_mel(work, mel);
#if TM_FEATURES_MFCC > 0
  for (uint32_t k = 0; k < TM_FEATURES_MFCC; k++) {
    const float *row = tm_features_dct + k * TM_FEATURES_MELS;
    float sum = 0.0f;
    for (uint32_t m = 0; m < TM_FEATURES_MELS; m++) {
      sum += row[m] * mel[m];
    }
    out[k] = quantize(sum);
  }
#else
  for (uint32_t m = 0; m < TM_FEATURES_MELS; m++) {
    out[m] = quantize(mel[m]);
  }
#endif
}
