/* 16x8 fully connected layer (portable): int16 activations (zero point 0), int8 weights, per-tensor or per-channel
 * requantization. Bit-exact with the TFLite interpreter, which takes two paths by the bias: with the (int64) bias, an
 * int64 accumulator and one rounding of the exact product (tm_requantize_s64_exact); without one, its int32 GEMM
 * with the rounding-doubling multiply and a final shift rounding ties up (tm_requantize_round_up).
 * tm_fully_connected_s16 is fully_connected.h's loop with the output stage below. */
#include "tinyml/kernels.h"
#include "tinyml/requant.h"

/* Feature o's accumulator with its bias, requantized by TFLite's path for it (output zero point 0). */
static inline int32_t output_of(const tm_fc_params *p, const tm_channel_quant *q, const int64_t *bias, int32_t o,
                                int64_t acc) {
  const int32_t ch = p->per_channel ? o : 0;
  return bias ? tm_requantize_s64_exact(acc + bias[o], q->multiplier[ch], q->shift[ch])
              : tm_requantize_round_up((int32_t)(uint32_t)acc, q->multiplier[ch], q->shift[ch]);
}

#define TM_FC_IN_T int16_t
#define TM_FC_OUT_T int16_t
#define TM_FC_ACC_T int64_t
#define TM_FC_BIAS_T int64_t
#define TM_FC_TAP(p, x) (x)
#define TM_FC_OUTPUT output_of
#define TM_FULLY_CONNECTED tm_fully_connected_s16
#include "fully_connected.h"
