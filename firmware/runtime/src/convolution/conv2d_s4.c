/* Standard convolution with int4 weights kept packed (portable): each output channel's filter row is unpacked into
 * scratch, then the int8 convolution's loop (conv_loops.h) computes that channel at every output pixel. */
#include "conv_accumulate.h"
#include "tinyml/int4.h"

/* One output channel's plane: every element goes `step` bytes after the previous one (the NHWC channel stride). */
typedef struct {
  int8_t *at;
  int32_t step;
} strided_output;

static inline void store_strided(void *ctx, int32_t y) {
  strided_output *o = (strided_output *)ctx;
  *o->at = (int8_t)y;
  o->at += o->step;
}

void tm_conv2d_s4(const tm_conv_params *p, const tm_channel_quant *q,
                  const tm_dims *in_dims, const int8_t *input,
                  const tm_dims *filter_dims, const uint8_t *filter, const int32_t *bias,
                  const tm_dims *out_dims, int8_t *output, int8_t *scratch) {
  const int32_t row = filter_dims->h * filter_dims->w * filter_dims->c;
  const tm_dims one_filter = {1, filter_dims->h, filter_dims->w, filter_dims->c};
  const tm_dims one_channel = {out_dims->n, out_dims->h, out_dims->w, 1};
  for (int32_t oc = 0; oc < out_dims->c; ++oc) {
    tm_unpack_s4(filter, oc * row, row, scratch);
    const tm_channel_quant q_oc = {q->multiplier + oc, q->shift + oc};
    strided_output out = {output + oc, out_dims->c};
    tm_conv_outputs(p, &q_oc, in_dims, input, &one_filter, scratch, bias ? bias + oc : 0, &one_channel,
                    store_strided, &out);
  }
}
