/* Real FFT in float32: an n/2-point complex radix-2 FFT of the even/odd samples packed as complex numbers, then
 * the split step that separates their spectra (the classic "real FFT via half-length complex FFT"). Twiddles and
 * bit-reversal order are constant tables generated on the host in float64 and rounded once. */
#include "tm_features_internal.h"

static void bit_reverse(float *buf, uint32_t m, const uint16_t *bitrev) {
  for (uint32_t i = 0; i < m; i++) {
    uint32_t j = bitrev[i];
    if (j > i) {
      float re = buf[2u * i], im = buf[2u * i + 1u];
      buf[2u * i] = buf[2u * j];
      buf[2u * i + 1u] = buf[2u * j + 1u];
      buf[2u * j] = re;
      buf[2u * j + 1u] = im;
    }
  }
}

/* Decimation-in-time butterflies over m complex values; W_size^k = exp(-2 pi i k n / size / n) is table entry
 * k * n / size. */
static void butterflies(float *buf, uint32_t m, uint32_t n, const float *twiddle) {
  for (uint32_t size = 2u; size <= m; size *= 2u) {
    uint32_t half = size / 2u, stride = n / size;
    for (uint32_t k = 0; k < half; k++) {
      float wr = twiddle[2u * k * stride], wi = -twiddle[2u * k * stride + 1u];
      for (uint32_t start = k; start < m; start += size) {
        float *a = buf + 2u * start, *b = buf + 2u * (start + half);
        float tr = b[0] * wr - b[1] * wi;
        float ti = b[0] * wi + b[1] * wr;
        b[0] = a[0] - tr;
        b[1] = a[1] - ti;
        a[0] = a[0] + tr;
        a[1] = a[1] + ti;
      }
    }
  }
}

/* Z = FFT(x[2j] + i x[2j+1]); with A = Z[k], B = conj(Z[m-k]), E = (A + B) / 2, O = -i (A - B) / 2 and
 * W = exp(-2 pi i k / n): X[k] = E + W O and X[m-k] = conj(E - W O). */
static void split(float *buf, uint32_t m, const float *twiddle) {
  float z0r = buf[0], z0i = buf[1];
  buf[0] = z0r + z0i;
  buf[1] = z0r - z0i;
  for (uint32_t k = 1u; k <= m / 2u; k++) {
    float *p = buf + 2u * k, *q = buf + 2u * (m - k);
    float er = (p[0] + q[0]) * 0.5f, ei = (p[1] - q[1]) * 0.5f;
    float or_ = (p[1] + q[1]) * 0.5f, oi = (q[0] - p[0]) * 0.5f;
    float c = twiddle[2u * k], s = twiddle[2u * k + 1u];
    float wor = c * or_ + s * oi, woi = c * oi - s * or_;
    q[0] = er - wor;  /* written first: for k = m / 2, p and q are the same slot and X[k] is the direct form */
    q[1] = woi - ei;
    p[0] = er + wor;
    p[1] = ei + woi;
  }
}

void tm_rfft_f32(float *buf, uint32_t n, const float *twiddle, const uint16_t *bitrev) {
  uint32_t m = n / 2u;
  bit_reverse(buf, m, bitrev);
  butterflies(buf, m, n, twiddle);
  split(buf, m, twiddle);
}
