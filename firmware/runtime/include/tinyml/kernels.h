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

typedef struct {
  int32_t batches, in_features, out_features;
  int32_t input_offset, output_offset;
  int32_t act_min, act_max;
  int32_t per_channel;         /* 1: q has out_features entries; 0: one entry */
} tm_fc_params;

/* Fully connected. filter: [out_features, in_features]; bias: [out_features] or NULL. */
void tm_fully_connected_s8(const tm_fc_params *p, const tm_channel_quant *q, const int8_t *input,
                           const int8_t *filter, const int32_t *bias, int8_t *output);

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

/* Softmax over the last dimension; exp_table[i] = expf(-input_scale * beta * (255 - i)) computed at generation time. */
typedef struct {
  int32_t rows, depth;
  float output_scale;
  int32_t output_zero_point;
  const float *exp_table;      /* 256 entries */
} tm_softmax_params;

void tm_softmax_s8(const tm_softmax_params *p, const int8_t *input, int8_t *output);

/* Any elementwise int8 -> int8 function as a 256-entry table indexed by (uint8_t)x. May run in place. */
void tm_lut_s8(const int8_t *table, int32_t size, const int8_t *input, int8_t *output);

void tm_quantize_f32_s8(const float *input, int32_t size, float scale, int32_t zero_point, int8_t *output);
void tm_dequantize_s8_f32(const int8_t *input, int32_t size, int32_t blocks, float scale, int32_t zero_point,
                          float *output);

/* Constant padding; before[4] is the NHWC padding in front of each dimension. */
void tm_pad_s8(const tm_dims *in_dims, const int32_t before[4], int32_t value, const int8_t *input,
               const tm_dims *out_dims, int8_t *output);

/* Byte copy for layout-only operators whose output cannot share the input's buffer. */
void tm_copy(const void *input, int32_t bytes, void *output);

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

/* Any convolution kernel with tm_conv2d_s8's signature (it must compute any valid shape, batch 1). */
typedef void (*tm_conv_kernel)(const tm_conv_params *p, const tm_channel_quant *q,
                               const tm_dims *in_dims, const int8_t *input,
                               const tm_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                               const tm_dims *out_dims, int8_t *output);

typedef struct {
  int32_t ring_rows;           /* output rows the ring (scratch of ring_rows * out_w * out_c bytes) holds */
  int32_t backward;            /* 1: compute rows from the last to the first */
} tm_inplace_params;

/* The in-place schedule shared by tm_conv_inplace_s8 and tm_conv_inplace_dsp_s8: output rows computed into a ring
 * of ring_rows rows wait there until their place in the output holds no input bytes a later row reads. */
typedef struct {
  int32_t rows, in_h, in_row, out_row;  /* output rows; input rows; bytes per input and output row */
  int32_t ring_rows, backward, stride_h, pad_h, reach;  /* reach: (kernel_h - 1) * dilation_h */
  const int8_t *input;
  int8_t *output, *ring;
  int32_t pending;  /* rows computed into the ring, not copied out yet */
} tm_inplace_state;

/* After computing output row oy (the k-th row computed) into the ring: copy out, with `copy`, every pending row
 * whose place no row still to compute reads. */
static inline void tm_inplace_flush(tm_inplace_state *s, int32_t k, int32_t oy,
                                    void (*copy)(int8_t *to, const int8_t *from, int32_t n)) {
  int32_t lo = 0, hi = 0; /* input rows [lo, hi) that the rows still to compute read */
  ++s->pending;
  if (k < s->rows - 1) {
    if (!s->backward) {
      lo = (oy + 1) * s->stride_h - s->pad_h;
      lo = lo < 0 ? 0 : (lo > s->in_h ? s->in_h : lo);
      hi = s->in_h;
    } else {
      hi = (oy - 1) * s->stride_h - s->pad_h + s->reach + 1;
      hi = hi < 0 ? 0 : (hi > s->in_h ? s->in_h : hi);
    }
  }
  const uintptr_t need_lo = (uintptr_t)s->input + (uintptr_t)lo * (uintptr_t)s->in_row;
  const uintptr_t need_hi = (uintptr_t)s->input + (uintptr_t)hi * (uintptr_t)s->in_row;
  while (s->pending > 0) {
    const int32_t row = s->backward ? oy + s->pending - 1 : oy - s->pending + 1;
    const uintptr_t dst = (uintptr_t)s->output + (uintptr_t)row * (uintptr_t)s->out_row;
    if (lo < hi && dst < need_hi && need_lo < dst + (uintptr_t)s->out_row) break;
    copy(s->output + row * s->out_row, s->ring + (row % s->ring_rows) * s->out_row, s->out_row);
    --s->pending;
  }
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

#endif
