/* The streaming extractor (tm_features.h): a ring of the last TM_FEATURES_WINDOW int16 samples, a frame computed
 * every TM_FEATURES_HOP samples (the first once the ring is full), and a ring of the last TM_FEATURES_FRAMES int8
 * frames. All state is static (zero at start-up, which is the reset state). */
#include <string.h>

#include "tm_features.h"
#include "tm_features_internal.h"

static int16_t samples[TM_FEATURES_WINDOW];
static uint32_t sample_next;        /* ring slot of the next sample = the oldest once the ring is full */
static uint32_t since_frame;        /* samples since the last frame (since reset before the first) */
static uint8_t primed;              /* a frame was computed since reset: the next comes after a hop */
static int8_t frames[TM_FEATURES_FRAMES * TM_FEATURES_COEFFS];
static uint32_t frame_next;         /* ring slot of the next frame = the oldest once the ring is full */
static uint32_t completed;          /* frames since reset, saturating */
static float work[TM_FEATURES_WORK_FLOATS];

void tm_features_reset(void) {
  sample_next = since_frame = frame_next = completed = 0u;
  primed = 0u;
}

uint32_t tm_features_push(const int16_t *src, uint32_t n) {
  uint32_t made = 0u;
  for (uint32_t i = 0; i < n; i++) {
    samples[sample_next] = src[i];
    sample_next = sample_next + 1u == TM_FEATURES_WINDOW ? 0u : sample_next + 1u;
    since_frame++;
    if (since_frame == (primed ? TM_FEATURES_HOP : TM_FEATURES_WINDOW)) {
      tm_features_frame(samples, sample_next, work, frames + frame_next * TM_FEATURES_COEFFS);
      frame_next = frame_next + 1u == TM_FEATURES_FRAMES ? 0u : frame_next + 1u;
      since_frame = 0u;
      primed = 1u;
      made++;
      if (completed != UINT32_MAX) {
        completed++;
      }
    }
  }
  return made;
}

uint32_t tm_features_frames(void) {
  return completed;
}

int tm_features_window(int8_t *dst) {
  if (completed < TM_FEATURES_FRAMES) {
    return 0;
  }
  uint32_t older = (TM_FEATURES_FRAMES - frame_next) * TM_FEATURES_COEFFS;  /* from the oldest to the ring's end */
  memcpy(dst, frames + frame_next * TM_FEATURES_COEFFS, older);
  memcpy(dst + older, frames, frame_next * TM_FEATURES_COEFFS);
  return 1;
}
