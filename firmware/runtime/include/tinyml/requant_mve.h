/* The int8 output stage of the Helium (MVE, Cortex-M55) kernels, four lanes at once: tm_requantize_round_up, the
 * output offset and the activation clamp, bit for bit. VQRDMULH is gemmlowp's rounding doubling high multiply and
 * VRSHL by a negative amount shifts right rounding ties up. Included only by the `*_mve.c` kernels. */
#ifndef TINYML_REQUANT_MVE_H
#define TINYML_REQUANT_MVE_H
#include <arm_mve.h>

#include <stdint.h>

static inline int32x4_t tm_requantize_mve(int32x4_t acc, int32x4_t mult, int32x4_t shift, int32_t output_offset,
                                          int32_t act_min, int32_t act_max) {
  const int32x4_t zero = vdupq_n_s32(0);
  acc = vshlq_s32(acc, vmaxq_s32(shift, zero));
  acc = vqrdmulhq_s32(acc, mult);
  acc = vrshlq_s32(acc, vminq_s32(shift, zero));
  acc = vaddq_n_s32(acc, output_offset);
  return vminq_s32(vmaxq_s32(acc, vdupq_n_s32(act_min)), vdupq_n_s32(act_max));
}

#endif
