/* Depthwise convolution with int4 weights kept packed in flash (portable): the filter's taps lie out_c apart, so a
 * channel's few taps are spread over the whole tensor; the filter (kh * kw * out_c values, small beside the
 * activations) is unpacked into scratch once per call and run through tm_depthwise_conv2d_s8. */
#include "tinyml/int4.h"
#include "tinyml/kernels.h"

void tm_depthwise_conv2d_s4(const tm_conv_params *p, const tm_channel_quant *q,
                            const tm_dims *in_dims, const int8_t *input,
                            const tm_dims *filter_dims, const uint8_t *filter, const int32_t *bias,
                            const tm_dims *out_dims, int8_t *output, int8_t *scratch) {
  tm_unpack_s4(filter, 0, tm_depthwise_conv2d_s4_scratch_bytes(filter_dims), scratch);
  tm_depthwise_conv2d_s8(p, q, in_dims, input, filter_dims, scratch, bias, out_dims, output);
}
