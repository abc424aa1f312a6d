/* Private to the pooling kernels (avg_pool2d_s8.c, avg_pool2d_s8_dsp.c, max_pool2d_s8.c, avg_pool2d_s16.c,
 * max_pool2d_s16.c): from pool_each_window.h, their loop over the output pixels and the sum and the maximum of a
 * window: tm_pool_each_window, tm_pool_window_sum and tm_pool_window_max over int8 tensors, the same names with _s16
 * over int16 ones. Not part of the runtime's API. */
#ifndef TINYML_POOL_LOOP_H
#define TINYML_POOL_LOOP_H
#include "tinyml/kernels.h"

#define TM_POOL_T int8_t
#define TM_POOL_PIXEL tm_pool_pixel
#define TM_POOL_EACH_WINDOW tm_pool_each_window
#define TM_POOL_WINDOW_SUM tm_pool_window_sum
#define TM_POOL_WINDOW_MAX tm_pool_window_max
#include "pool_each_window.h"

#define TM_POOL_T int16_t
#define TM_POOL_PIXEL tm_pool_pixel_s16
#define TM_POOL_EACH_WINDOW tm_pool_each_window_s16
#define TM_POOL_WINDOW_SUM tm_pool_window_sum_s16
#define TM_POOL_WINDOW_MAX tm_pool_window_max_s16
#include "pool_each_window.h"

#endif
