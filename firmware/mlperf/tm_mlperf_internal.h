/* Shared between the MLPerf app's files: text output, time, the db buffer and inference. */
#ifndef TM_MLPERF_INTERNAL_H
#define TM_MLPERF_INTERNAL_H
#include <stdint.h>

#include "tm_mlperf.h"

/* tm_mlperf_out.c: text lines, without printf */
void tm_mlperf_out_init(void (*putc)(uint8_t byte));
void tm_mlperf_puts(const char *s);
void tm_mlperf_put_u64(uint64_t v);
void tm_mlperf_put_f32(float v);          /* fixed point, TM_MLPERF_DECIMALS digits, rounded half up */
void tm_mlperf_put_hex8(uint8_t v);
void tm_mlperf_endl(void);                /* "\r\n" */
void tm_mlperf_error(const char *what, const char *detail);           /* e-[<what><detail>] */
void tm_mlperf_error_n(const char *before, uint64_t n, const char *after);  /* e-[<before><n><after>] */

/* tm_mlperf_time.c: microseconds since boot from a 32-bit counter */
void tm_mlperf_time_init(const tm_mlperf_io *io);
void tm_mlperf_time_poll(void);           /* keep up with wraps: call more often than once per 2^32 ticks */
void tm_mlperf_lap(void);                 /* m-lap-us-N */

/* tm_mlperf_db.c: the `db` buffer */
void tm_mlperf_db_init(const tm_mlperf_io *io);
void tm_mlperf_db_load(uint32_t bytes);
void tm_mlperf_db_hex(const char *digits);
void tm_mlperf_db_print(void);
uint32_t tm_mlperf_db_loaded(void);       /* bytes loaded so far by the current `db load` */

/* tm_mlperf_infer.c: input, inference loop, results */
void tm_mlperf_infer_init(const tm_mlperf_io *io);
void tm_mlperf_infer(uint32_t n, uint32_t warmups);
void tm_mlperf_results(void);

#define TM_MLPERF_DECIMALS 6u
#endif
