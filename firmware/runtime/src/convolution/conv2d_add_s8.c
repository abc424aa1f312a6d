/* CONV_2D followed by the ADD of a same-shape skip tensor (ResNet residual), fused: each output element is the
 * convolution's int8 output (portable conv2d_s8 arithmetic: requantized, offset, clamped to its fused activation)
 * added to the skip element with TFLite's int8 ADD arithmetic. The output may be the skip buffer itself (each
 * element is written after its own skip element is read); it must not overlap the convolution's input. */
#include "conv_accumulate.h"
#include "../elementwise/add_one.h"

typedef struct {
  const tm_add_params *add;
  int32_t conv_is_first;
  const int8_t *skip;
  int8_t *output;
  int32_t i;  /* the next element */
} fused_add;

static inline void add_skip(void *ctx, int32_t conv) {
  fused_add *f = (fused_add *)ctx;
  const int32_t skip = f->skip[f->i];
  f->output[f->i++] = tm_add_one_s8(f->add, f->conv_is_first ? conv : skip, f->conv_is_first ? skip : conv);
}

void tm_conv2d_add_s8(const tm_conv_params *p, const tm_channel_quant *q,
                      const tm_dims *in_dims, const int8_t *input,
                      const tm_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                      const tm_dims *out_dims, const tm_add_params *add, int32_t conv_is_first,
                      const int8_t *skip, int8_t *output) {
  fused_add f = {add, conv_is_first, skip, output, 0};
  tm_conv_outputs(p, q, in_dims, input, filter_dims, filter, bias, out_dims, add_skip, &f);
}
