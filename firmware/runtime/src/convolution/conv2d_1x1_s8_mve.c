/* Int8 pointwise convolution (1x1 filter, stride 1), Helium (MVE, Cortex-M55) variant: tm_conv2d_s8's signature
 * and outputs, bit for bit. A pointwise convolution is a fully connected layer over every pixel (NHWC: the input
 * is [pixels, in_c], the filter [out_c, in_c], the output [pixels, out_c]), so this runs the Helium fully connected
 * kernel (16 products per VMLADAVA, four output channels per input vector) with per-channel requantization. The
 * generator folds the input offset into the bias (`bias[o] = b[o] + input_offset * sum(filter[o])`, never NULL),
 * as tm_fully_connected_s8_mve expects. With this signature it is also the row kernel of tm_conv_inplace_s8, which
 * passes it a few pixels at a time. */
#include "tinyml/kernels.h"

void tm_conv2d_1x1_s8_mve(const tm_conv_params *p, const tm_channel_quant *q, const tm_dims *in_dims,
                          const int8_t *input, const tm_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                          const tm_dims *out_dims, int8_t *output) {
  (void)filter_dims;
  const tm_fc_params fc = {out_dims->n * out_dims->h * out_dims->w, in_dims->c, out_dims->c, p->input_offset,
                           p->output_offset, p->act_min, p->act_max, 1};
  tm_fully_connected_s8_mve(&fc, q, input, filter, bias, output);
}
