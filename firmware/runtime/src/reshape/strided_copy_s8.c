/* The one copy loop of every data-movement operator (TRANSPOSE, SLICE, STRIDED_SLICE, SPLIT, SPLIT_V, PACK,
 * UNPACK, DEPTH_TO_SPACE, SPACE_TO_DEPTH): a box of TM_COPY_DIMS dimensions, each with its own source and
 * destination stride (in elements, negative for a reversed STRIDED_SLICE). The generator folds the operator into
 * the box and merges dimensions that are contiguous on both sides, so the innermost is usually a run of bytes. */
#include "tinyml/kernels.h"

void tm_strided_copy_s8(const tm_copy_box *box, const int8_t *input, int8_t *output) {
  int32_t index[TM_COPY_DIMS - 1] = {0};
  const int32_t inner = box->count[TM_COPY_DIMS - 1];
  const int32_t src_step = box->src_stride[TM_COPY_DIMS - 1], dst_step = box->dst_stride[TM_COPY_DIMS - 1];
  for (;;) {
    const int8_t *src = input;
    int8_t *dst = output;
    for (int d = 0; d < TM_COPY_DIMS - 1; ++d) {
      src += index[d] * box->src_stride[d];
      dst += index[d] * box->dst_stride[d];
    }
    for (int32_t i = 0; i < inner; ++i) dst[i * dst_step] = src[i * src_step];
    int d = TM_COPY_DIMS - 2;  /* the odometer over the outer dimensions */
    while (d >= 0 && ++index[d] == box->count[d]) index[d--] = 0;
    if (d < 0) return;
  }
}
