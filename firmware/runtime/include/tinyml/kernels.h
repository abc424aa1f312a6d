/* Every kernel of the tinyml runtime. Portable C99; one kernel per source file under src/.
 * Shapes are NHWC. Quantization parameters are precomputed by the code generator; kernels only do integer work
 * (softmax excepted: it follows TFLite's float lookup-table algorithm, IEEE single precision, so it is exact too). */
#ifndef TINYML_KERNELS_H
#define TINYML_KERNELS_H
#include <stdint.h>

typedef struct { int32_t n, h, w, c; } tm_dims;

/* Requantization of an int32 accumulator to the output: per output channel, or one entry for all. */
typedef struct {
  const int32_t *multiplier;
  const int32_t *shift;
} tm_channel_quant;

typedef struct {
  int32_t stride_h, stride_w;
  int32_t dilation_h, dilation_w;
  int32_t pad_h, pad_w;        /* top and left padding */
  int32_t depth_multiplier;    /* depthwise only */
  int32_t vector_channels;     /* depthwise only: channels below this round ties up (TFLite's SIMD blocks of 8) */
  int32_t input_offset;        /* -input zero point */
  int32_t output_offset;       /* output zero point */
  int32_t act_min, act_max;    /* fused activation range, in output units */
} tm_conv_params;

/* Standard convolution. filter: [out_c, kh, kw, in_c]; bias: [out_c] or NULL. */
void tm_conv2d_s8(const tm_conv_params *p, const tm_channel_quant *q,
                  const tm_dims *in_dims, const int8_t *input,
                  const tm_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                  const tm_dims *out_dims, int8_t *output);

/* Depthwise convolution. filter: [1, kh, kw, out_c], out_c = in_c * depth_multiplier; bias: [out_c] or NULL. */
void tm_depthwise_conv2d_s8(const tm_conv_params *p, const tm_channel_quant *q,
                            const tm_dims *in_dims, const int8_t *input,
                            const tm_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                            const tm_dims *out_dims, int8_t *output);

/* Transposed convolution (TRANSPOSE_CONV): output (iy * stride_h - pad_h + ky, ix * stride_w - pad_w + kx) sums
 * input (iy, ix) times tap (ky, kx). filter: [out_c, kh, kw, in_c]; bias: [out_c] or NULL; dilation and
 * depth_multiplier unused; channels below vector_channels round ties up. No scratch. */
void tm_transpose_conv2d_s8(const tm_conv_params *p, const tm_channel_quant *q,
                            const tm_dims *in_dims, const int8_t *input,
                            const tm_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                            const tm_dims *out_dims, int8_t *output);

typedef struct {
  int32_t batches, in_features, out_features;
  int32_t input_offset, output_offset;
  int32_t act_min, act_max;
  int32_t per_channel;         /* 1: q has out_features entries; 0: one entry */
} tm_fc_params;

/* Fully connected. filter: [out_features, in_features]; bias: [out_features] or NULL. */
void tm_fully_connected_s8(const tm_fc_params *p, const tm_channel_quant *q, const int8_t *input,
                           const int8_t *filter, const int32_t *bias, int8_t *output);

/* Helium (MVE, Cortex-M55) variant of tm_fully_connected_s8, the same outputs: bias holds b + input_offset *
 * sum(filter[o]) (folded by the generator, never NULL). Built only for cores with MVE. */
void tm_fully_connected_s8_mve(const tm_fc_params *p, const tm_channel_quant *q, const int8_t *input,
                               const int8_t *filter, const int32_t *bias, int8_t *output);

/* Helium variant of tm_conv2d_s8 for pointwise layers (1x1 filter, stride 1), the same outputs: a fully connected
 * layer over the pixels (tm_fully_connected_s8_mve), bias folded as there. Built only for cores with MVE. */
void tm_conv2d_1x1_s8_mve(const tm_conv_params *p, const tm_channel_quant *q, const tm_dims *in_dims,
                          const int8_t *input, const tm_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                          const tm_dims *out_dims, int8_t *output);

/* Helium variant of tm_conv2d_s8 at dilation 1, the same outputs: bias holds b + input_offset * sum(filter[o])
 * (folded by the generator, never NULL). Built only for cores with MVE. */
void tm_conv2d_s8_mve(const tm_conv_params *p, const tm_channel_quant *q, const tm_dims *in_dims,
                      const int8_t *input, const tm_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                      const tm_dims *out_dims, int8_t *output);

typedef struct {
  int32_t stride_h, stride_w, filter_h, filter_w, pad_h, pad_w;
  int32_t act_min, act_max;
} tm_pool_params;

/* The valid (unpadded) part of the pooling window of output pixel (oy, ox): rows [ky0, ky1) and columns [kx0, kx1)
 * of the window whose top-left input position is (y0, x0). */
typedef struct {
  int32_t y0, x0, ky0, ky1, kx0, kx1;
} tm_pool_window;

static inline tm_pool_window tm_pool_window_at(const tm_pool_params *p, const tm_dims *in, int32_t oy, int32_t ox) {
  tm_pool_window w;
  w.y0 = oy * p->stride_h - p->pad_h;
  w.x0 = ox * p->stride_w - p->pad_w;
  w.ky0 = w.y0 < 0 ? -w.y0 : 0;
  w.ky1 = in->h - w.y0 < p->filter_h ? in->h - w.y0 : p->filter_h;
  w.kx0 = w.x0 < 0 ? -w.x0 : 0;
  w.kx1 = in->w - w.x0 < p->filter_w ? in->w - w.x0 : p->filter_w;
  return w;
}

/* An average pool output: the window's sum over its `count` valid elements, rounded half away from zero. */
static inline int8_t tm_pool_average(int32_t sum, int32_t count, const tm_pool_params *p) {
  if (count > 0) sum = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
  return (int8_t)(sum < p->act_min ? p->act_min : (sum > p->act_max ? p->act_max : sum));
}

void tm_avg_pool2d_s8(const tm_pool_params *p, const tm_dims *in_dims, const int8_t *input,
                      const tm_dims *out_dims, int8_t *output);
void tm_max_pool2d_s8(const tm_pool_params *p, const tm_dims *in_dims, const int8_t *input,
                      const tm_dims *out_dims, int8_t *output);

/* Broadcasting over up to 4 dimensions: strides are 0 along broadcast dimensions. */
typedef struct {
  int32_t out_shape[4];
  int32_t a_strides[4], b_strides[4];
} tm_broadcast;

typedef struct {
  int32_t left_shift;
  int32_t a_offset, a_multiplier, a_shift;
  int32_t b_offset, b_multiplier, b_shift;
  int32_t output_offset, output_multiplier, output_shift;
  int32_t act_min, act_max;
} tm_add_params;

void tm_add_s8(const tm_add_params *p, const tm_broadcast *bc, const int8_t *a, const int8_t *b, int8_t *output);

typedef struct {
  int32_t a_offset, b_offset, output_offset;
  int32_t output_multiplier, output_shift;
  int32_t act_min, act_max;
} tm_mul_params;

void tm_mul_s8(const tm_mul_params *p, const tm_broadcast *bc, const int8_t *a, const int8_t *b, int8_t *output);

/* SUB runs tm_add_s8 with b_multiplier negated (TFLite's int8 SUB is its ADD with input 2's multiplier negated).
 * SQUARED_DIFFERENCE takes ADD's parameters: left_shift 7, the output multiplier of (2 * max input scale)^2 /
 * (2^14 * output scale). */
void tm_squared_difference_s8(const tm_add_params *p, const tm_broadcast *bc, const int8_t *a, const int8_t *b,
                              int8_t *output);

/* MAXIMUM and MINIMUM compare the stored values (TFLite does not requantize them). */
void tm_maximum_s8(const tm_broadcast *bc, const int8_t *a, const int8_t *b, int8_t *output);
void tm_minimum_s8(const tm_broadcast *bc, const int8_t *a, const int8_t *b, int8_t *output);

typedef struct {
  int32_t input_offset, alpha_offset, output_offset;  /* minus the input's and alpha's zero points; output's */
  int32_t positive_multiplier, positive_shift;         /* input_scale / output_scale */
  int32_t negative_multiplier, negative_shift;         /* input_scale * alpha_scale / output_scale */
} tm_prelu_params;

/* PRELU: alpha broadcast to the input (bc's b strides). */
void tm_prelu_s8(const tm_prelu_params *p, const tm_broadcast *bc, const int8_t *input, const int8_t *alpha,
                 int8_t *output);

/* Softmax over the last dimension; exp_table[i] = expf(-input_scale * beta * (255 - i)) computed at generation time. */
typedef struct {
  int32_t rows, depth;
  float output_scale;
  int32_t output_zero_point;
  const float *exp_table;      /* 256 entries */
} tm_softmax_params;

void tm_softmax_s8(const tm_softmax_params *p, const int8_t *input, int8_t *output);

/* L2_NORMALIZATION of each of `rows` rows of `depth` values; the output scale is 1/128, zero point 0. */
void tm_l2_normalization_s8(int32_t rows, int32_t depth, int32_t zero_point, const int8_t *input, int8_t *output);

/* LOG_SOFTMAX over the last dimension (TFLite's integer kernel); the output scale is 16/256, zero point 127. */
typedef struct {
  int32_t rows, depth;
  int32_t input_multiplier, input_shift;      /* a difference x - max to Q5.26 (shift > 0: a left shift) */
  int32_t reverse_multiplier, reverse_shift;  /* Q5.26 back to input units (shift <= 0) */
  int32_t diff_min;                           /* differences below it are too small for Q5.26 */
  const int32_t *exp_table;                   /* 256: exp(-d) of the difference -d in Q12.19, 0 below diff_min */
} tm_log_softmax_params;

void tm_log_softmax_s8(const tm_log_softmax_params *p, const int8_t *input, int8_t *output);

/* Any elementwise int8 -> int8 function as a 256-entry table indexed by (uint8_t)x. May run in place. */
void tm_lut_s8(const int8_t *table, int32_t size, const int8_t *input, int8_t *output);

void tm_quantize_f32_s8(const float *input, int32_t size, int32_t blocks, float scale, int32_t zero_point,
                        int8_t *output);
void tm_dequantize_s8_f32(const int8_t *input, int32_t size, int32_t blocks, float scale, int32_t zero_point,
                          float *output);

/* Constant padding; before[4] is the NHWC padding in front of each dimension. */
void tm_pad_s8(const tm_dims *in_dims, const int32_t before[4], int32_t value, const int8_t *input,
               const tm_dims *out_dims, int8_t *output);

/* Byte copy for layout-only operators whose output cannot share the input's buffer. */
void tm_copy(const void *input, int32_t bytes, void *output);

/* A box of int8 elements copied from input to output: element (i0, ..., i5) goes from
 * input[sum i_d * src_stride[d]] to output[sum i_d * dst_stride[d]]; strides in elements, may be negative. The
 * data-movement operators (TRANSPOSE, SLICE, STRIDED_SLICE, SPLIT, SPLIT_V, PACK, UNPACK, DEPTH_TO_SPACE,
 * SPACE_TO_DEPTH) are each one or more such boxes. */
#define TM_COPY_DIMS 6
typedef struct {
  int32_t count[TM_COPY_DIMS];
  int32_t src_stride[TM_COPY_DIMS], dst_stride[TM_COPY_DIMS];
} tm_copy_box;

void tm_strided_copy_s8(const tm_copy_box *box, const int8_t *input, int8_t *output);

/* GATHER: the input as [outer, axis, inner]; output [outer, count, inner] with the runs at the int32 `indices`. */
void tm_gather_s8(int32_t outer, int32_t axis, int32_t inner, int32_t count, const int32_t *indices,
                  const int8_t *input, int8_t *output);

/* RESIZE_NEAREST_NEIGHBOR: output (n, y, x, :) = input (n, rows[y], cols[x], :). */
typedef struct {
  tm_dims in;
  int32_t out_h, out_w;
  const int32_t *rows, *cols;  /* out_h and out_w source indices */
} tm_resize_nearest_params;

void tm_resize_nearest_s8(const tm_resize_nearest_params *p, const int8_t *input, int8_t *output);

/* RESIZE_BILINEAR: per output row (rows) and column (cols) three int32: the two source indices and the second's
 * weight in 1/1024 (the first's is 1024 minus it). */
typedef struct {
  tm_dims in;
  int32_t out_h, out_w;
  const int32_t *rows, *cols;  /* 3 * out_h and 3 * out_w values */
} tm_resize_bilinear_params;

void tm_resize_bilinear_s8(const tm_resize_bilinear_params *p, const int8_t *input, int8_t *output);

/* Mean over any set of dimensions of a rank <= 4 tensor padded at the front to 4-D. Each output is
 * clamp(requantize(sum - input_sum_offset) + output_offset); outputs follow the input's order with the averaged
 * dimensions removed. The final shift rounds half away from zero, except for the innermost index (channel) below
 * round_up_channels, where it rounds half toward +infinity (TFLite's 16-channel SIMD blocks of its 4-D H,W mean). */
typedef struct {
  int32_t dims[4];             /* input shape, NHWC-padded */
  int32_t reduce[4];           /* 1 where the dimension is averaged */
  int32_t input_sum_offset;    /* subtracted from each sum: input zero point * count, or 0 */
  int32_t multiplier, shift;   /* the combined input_scale / (count * output_scale) */
  int32_t output_offset;       /* added after requantization */
  int32_t round_up_channels;
} tm_mean_params;

void tm_mean_s8(const tm_mean_params *p, const int8_t *input, int8_t *output);

/* SUM over the dimensions flagged in reduce[] (outputs ordered as tm_mean_s8's), finished in float32 as TFLite does:
 * clamp(roundf((float)sum * scale + bias) + output_zero_point). */
typedef struct {
  int32_t dims[4];
  int32_t reduce[4];
  float scale, bias;           /* input_scale / output_scale; -input_zero_point * scale * count */
  int32_t output_zero_point;
} tm_sum_params;

void tm_sum_s8(const tm_sum_params *p, const int8_t *input, int8_t *output);

/* REDUCE_MAX over the dimensions flagged in reduce[] of a rank <= 4 tensor padded at the front to 4-D; outputs in
 * the input's order with the reduced dimensions removed. */
typedef struct {
  int32_t dims[4];
  int32_t reduce[4];
} tm_reduce_params;

void tm_reduce_max_s8(const tm_reduce_params *p, const int8_t *input, int8_t *output);

/* ARG_MAX: the input as [outer, axis, inner]; output [outer, inner] indices of the first largest value, each
 * index_words 32-bit words (1: int32; 2: int64, low word first). */
void tm_arg_max_s8(int32_t outer, int32_t axis, int32_t inner, int32_t index_words, const int8_t *input,
                   int32_t *output);

/* Any convolution kernel with tm_conv2d_s8's signature (it must compute any valid shape, batch 1). */
typedef void (*tm_conv_kernel)(const tm_conv_params *p, const tm_channel_quant *q,
                               const tm_dims *in_dims, const int8_t *input,
                               const tm_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                               const tm_dims *out_dims, int8_t *output);

/* An in-place convolution's rows (both wrappers, tm_conv_inplace_s8 and tm_conv_inplace_dsp_s8), as the generator
 * stores them: the ring, the order, and the convolution's own vertical geometry. One constant per in-place layer in
 * flash, so the narrowest fields that hold them (6 bytes): the generator keeps a convolution out of place when a
 * value passes its limit (tinyml.compiler.codegen.scratch, held to these by tests/codegen/test_scratch.py). */
#define TM_INPLACE_MAX_RING_ROWS 65535 /* ring_rows at most this */
#define TM_INPLACE_MAX_GEOMETRY 255    /* stride_h, pad_h and reach at most this */
typedef struct {
  uint16_t ring_rows; /* output rows the ring (scratch of ring_rows * out_w * out_c bytes) holds; 0: see
                       * tm_conv_inplace_dsp_s8 */
  uint8_t backward;   /* 1: compute rows from the last to the first */
  uint8_t stride_h, pad_h;  /* the convolution's */
  uint8_t reach;      /* (kernel_h - 1) * dilation_h: input rows a window spans below its top row */
} tm_inplace_params;

/* The in-place schedule both wrappers share: output row oy, the k-th row computed, has just gone into the ring,
 * where `pending` rows (oy's included) wait. Copies out, with `copy`, every pending row whose place in the output
 * holds no input bytes a row still to compute reads; returns the rows still pending. `rows` output rows of
 * out_row bytes, in_h input rows of in_row bytes. No state struct: one kept across the row kernel's call would sit on
 * the stack under the kernel's frame (the peak stack is their sum), so the geometry is read where it already is. */
static inline int32_t tm_inplace_flush(const tm_inplace_params *r, int32_t rows, int32_t in_h, int32_t in_row,
                                       int32_t out_row, const int8_t *input, int8_t *output, const int8_t *ring,
                                       int32_t pending, int32_t k, int32_t oy,
                                       void (*copy)(int8_t *to, const int8_t *from, int32_t n)) {
  int32_t lo = 0, hi = 0; /* input rows [lo, hi) that the rows still to compute read */
  if (k < rows - 1) {
    if (!r->backward) {
      lo = (oy + 1) * r->stride_h - r->pad_h;
      lo = lo < 0 ? 0 : (lo > in_h ? in_h : lo);
      hi = in_h;
    } else {
      hi = (oy - 1) * r->stride_h - r->pad_h + r->reach + 1;
      hi = hi < 0 ? 0 : (hi > in_h ? in_h : hi);
    }
  }
  const uintptr_t need_lo = (uintptr_t)input + (uintptr_t)lo * (uintptr_t)in_row;
  const uintptr_t need_hi = (uintptr_t)input + (uintptr_t)hi * (uintptr_t)in_row;
  for (; pending > 0; --pending) {
    const int32_t row = r->backward ? oy + pending - 1 : oy - pending + 1;
    const uintptr_t dst = (uintptr_t)output + (uintptr_t)row * (uintptr_t)out_row;
    if (lo < hi && dst < need_hi && need_lo < dst + (uintptr_t)out_row) break;
    copy(output + row * out_row, ring + (row % r->ring_rows) * out_row, out_row);
  }
  return pending;
}

/* `kernel` run row by row over an output that overlaps its input (the input dies with it); pending rows wait in
 * `ring` until their place holds no input bytes still to be read. Same bytes out as `kernel` on separate buffers. */
void tm_conv_inplace_s8(tm_conv_kernel kernel, const tm_inplace_params *ip, const tm_conv_params *p,
                        const tm_channel_quant *q, const tm_dims *in_dims, const int8_t *input,
                        const tm_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                        const tm_dims *out_dims, int8_t *output, int8_t *ring);

/* Scratch of tm_conv_inplace_s8 (the ring of ring_rows output rows of out_dims as passed to it). Host-callable, like
 * every tm_<kernel>_scratch_bytes: the generator's numbers are tested against these (tests/codegen/test_scratch.py). */
static inline int32_t tm_conv_inplace_s8_scratch_bytes(const tm_inplace_params *ip, const tm_dims *out_dims) {
  return ip->ring_rows * out_dims->w * out_dims->c;
}

/* CONV_2D (portable arithmetic) whose int8 output is added to `skip` (same shape) with TFLite's int8 ADD; the
 * convolution is ADD's first operand if conv_is_first. `output` may be `skip`. */
void tm_conv2d_add_s8(const tm_conv_params *p, const tm_channel_quant *q,
                      const tm_dims *in_dims, const int8_t *input,
                      const tm_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                      const tm_dims *out_dims, const tm_add_params *add, int32_t conv_is_first,
                      const int8_t *skip, int8_t *output);

/* 16x8 kernels (TFLite's EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8): int16 activations with zero
 * point 0 (tm_conv_params' and tm_fc_params' offsets are unused), int8 symmetric weights, int64 bias or NULL, an int64
 * accumulator requantized by tm_requantize_s64 (tinyml/requant.h). No scratch. */
void tm_conv2d_s16(const tm_conv_params *p, const tm_channel_quant *q,
                   const tm_dims *in_dims, const int16_t *input,
                   const tm_dims *filter_dims, const int8_t *filter, const int64_t *bias,
                   const tm_dims *out_dims, int16_t *output);
void tm_depthwise_conv2d_s16(const tm_conv_params *p, const tm_channel_quant *q,
                             const tm_dims *in_dims, const int16_t *input,
                             const tm_dims *filter_dims, const int8_t *filter, const int64_t *bias,
                             const tm_dims *out_dims, int16_t *output);
void tm_fully_connected_s16(const tm_fc_params *p, const tm_channel_quant *q, const int16_t *input,
                            const int8_t *filter, const int64_t *bias, int16_t *output);
void tm_avg_pool2d_s16(const tm_pool_params *p, const tm_dims *in_dims, const int16_t *input,
                       const tm_dims *out_dims, int16_t *output);
void tm_max_pool2d_s16(const tm_pool_params *p, const tm_dims *in_dims, const int16_t *input,
                       const tm_dims *out_dims, int16_t *output);
void tm_quantize_f32_s16(const float *input, int32_t size, int32_t blocks, float scale, int32_t zero_point,
                         int16_t *output);
void tm_dequantize_s16_f32(const int16_t *input, int32_t size, float scale, int32_t zero_point, float *output);

/* 16x8 elementwise kernels (int16 activations, zero point 0, as TFLite's int16 paths). ADD takes tm_add_params with
 * left_shift 15 and zero offsets; MUL tm_mul_params with zero offsets. Both broadcast like their int8 kernels. */
void tm_add_s16(const tm_add_params *p, const tm_broadcast *bc, const int16_t *a, const int16_t *b, int16_t *output);
void tm_mul_s16(const tm_mul_params *p, const tm_broadcast *bc, const int16_t *a, const int16_t *b, int16_t *output);

/* 16x8 ADD on TFLite's power-of-two path (pot_scale_int16, every scale a power of two): `shifted` (the input whose
 * scale is below the output's, or either) divided by 2^right_shift with gemmlowp's int16 rounding (1 or -1 from a
 * shift of 16 on), plus `other`, saturated, clamped. Same shapes (the path does not broadcast). */
typedef struct {
  int32_t right_shift;
  int32_t act_min, act_max;
} tm_add_pot_s16_params;

void tm_add_pot_s16(const tm_add_pot_s16_params *p, int32_t size, const int16_t *shifted, const int16_t *other,
                    int16_t *output);

/* 16x8 SOFTMAX over the last dimension: (x - row max) times input_multiplier * 2^(input_shift - 31) (input scale *
 * beta / (10 / 65535)), exp and 1/(1 + x) from 513-entry interpolated tables the generator builds. May run in place. */
typedef struct {
  int32_t rows, depth;
  int32_t input_multiplier, input_shift;
  const int16_t *exp_table;         /* exp on [-10, 0] in Q0.15, 513 entries */
  const int16_t *reciprocal_table;  /* 1 / (1 + x) on [0, 1] in Q0.15, 513 entries */
} tm_softmax_s16_params;

void tm_softmax_s16(const tm_softmax_s16_params *p, const int16_t *input, int16_t *output);

/* 16x8 LOGISTIC and TANH: x * input_multiplier rounded right by input_shift, then TFLite's interpolated table of
 * sigmoid(i / 24) in Q0.16 (256 entries, built by the generator). Output scale 1/32768. May run in place. */
typedef struct {
  int32_t input_multiplier, input_shift;
  const uint16_t *table;
} tm_sigmoid_s16_params;

void tm_logistic_s16(const tm_sigmoid_s16_params *p, int32_t size, const int16_t *input, int16_t *output);
void tm_tanh_s16(const tm_sigmoid_s16_params *p, int32_t size, const int16_t *input, int16_t *output);

/* Int8 UNIDIRECTIONAL_SEQUENCE_LSTM (TFLite's integer 8x8_16 LSTM as the converter emits it for a Keras LSTM: four
 * gates in the order input, forget, cell, output; no peephole, projection or layer normalization; output size ==
 * n_cell). Per gate g, input_multiplier/shift[g] scale input . weights and recurrent_multiplier/shift[g] output state .
 * weights to Q3.12; hidden_multiplier/shift scale output gate * tanh(cell) (Q0.15 * Q0.15) to the int8 output. */
typedef struct {
  int32_t n_batch, n_time, n_input, n_cell;
  int32_t time_major;               /* input [time][batch][n_input] when 1, [batch][time][n_input] when 0 */
  int32_t input_multiplier[4], input_shift[4];
  int32_t recurrent_multiplier[4], recurrent_shift[4];
  int32_t hidden_multiplier, hidden_shift, hidden_zp;
  int32_t cell_scale;               /* the cell state's scale is 2^cell_scale, -15 <= cell_scale <= -9 */
  int32_t cell_clip;                /* |cell state| <= cell_clip when > 0 */
} tm_lstm_params;

/* input_weights: [4][n_cell][n_input]; recurrent_weights: [4][n_cell][n_cell]; biases: [8][n_cell], the four gates'
 * biases with -input zero point * row sums folded in, then the four -output state zero point * row sums.
 * output_state [n_batch][n_cell] (int8) and cell_state [n_batch][n_cell] (int16) are read and updated: they carry
 * the state from one call to the next. output: [batch][time][n_cell] (or [time][batch][n_cell]). */
void tm_lstm_s8(const tm_lstm_params *p, const int8_t *input_weights, const int8_t *recurrent_weights,
                const int32_t *biases, const int8_t *input, int8_t *output_state, int16_t *cell_state,
                int8_t *output, int16_t *scratch);

/* Scratch of tm_lstm_s8: the four gates of one batch row. */
static inline int32_t tm_lstm_s8_scratch_bytes(int32_t n_cell) { return 4 * n_cell * (int32_t)sizeof(int16_t); }

/* Int4 weights kept packed (TFLite's INT4 layout, tinyml/int4.h): each output channel's row is unpacked into
 * `scratch` and computed as the int8 kernel does, so the outputs are the int8 kernel's on the unpacked weights.
 * CONV_2D: filter [out_c, kh, kw, in_c]; FULLY_CONNECTED: filter [out_features, in_features]. */
void tm_conv2d_s4(const tm_conv_params *p, const tm_channel_quant *q,
                  const tm_dims *in_dims, const int8_t *input,
                  const tm_dims *filter_dims, const uint8_t *filter, const int32_t *bias,
                  const tm_dims *out_dims, int8_t *output, int8_t *scratch);
void tm_fully_connected_s4(const tm_fc_params *p, const tm_channel_quant *q, const int8_t *input,
                           const uint8_t *filter, const int32_t *bias, int8_t *output, int8_t *scratch);
/* DEPTHWISE_CONV_2D: filter [1, kh, kw, out_c], whose channels' taps are spread over the tensor: the whole filter is
 * unpacked (flash stays packed; the scratch holds the int8 filter during the call). */
void tm_depthwise_conv2d_s4(const tm_conv_params *p, const tm_channel_quant *q,
                            const tm_dims *in_dims, const int8_t *input,
                            const tm_dims *filter_dims, const uint8_t *filter, const int32_t *bias,
                            const tm_dims *out_dims, int8_t *output, int8_t *scratch);

/* Scratch of tm_conv2d_s4 and tm_fully_connected_s4: one unpacked row of the filter. */
static inline int32_t tm_conv2d_s4_scratch_bytes(const tm_dims *filter_dims) {
  return filter_dims->h * filter_dims->w * filter_dims->c;
}
static inline int32_t tm_fully_connected_s4_scratch_bytes(int32_t in_features) { return in_features; }
/* Scratch of tm_depthwise_conv2d_s4: the whole filter, unpacked. */
static inline int32_t tm_depthwise_conv2d_s4_scratch_bytes(const tm_dims *filter_dims) {
  return filter_dims->h * filter_dims->w * filter_dims->c;
}

#endif
