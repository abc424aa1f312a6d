/* The field app's protocol commands (docs/PROTOCOL.md "Field commands"): SAMPLES, REPORT_NOW, FIELD_INFO and,
 * with a shadow model, SHADOW_MATRIX. Served through the protocol's application hook (tm_proto_app_command). */
#include <stdint.h>

#include "field_config.h"
#include "tm_field.h"
#include "tm_field_device.h"
#if TM_FIELD_SHADOW_EVERY
#include "tm_field_shadow.h"
#endif

#define SAMPLE_CHUNK 64u /* int16 samples decoded from the payload at a time */

static void put_u32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

static void put_u64(uint8_t *p, uint64_t v) {
  put_u32(p, (uint32_t)v);
  put_u32(p + 4, (uint32_t)(v >> 32));
}

static void feed_samples(const uint8_t *data, uint32_t n) {
  int16_t chunk[SAMPLE_CHUNK];
  while (n > 0u) {
    uint32_t take = n < SAMPLE_CHUNK ? n : SAMPLE_CHUNK;
    uint32_t i;
    for (i = 0u; i < take; i++) {
      chunk[i] = (int16_t)(uint16_t)(data[2u * i] | (data[2u * i + 1u] << 8));
    }
    tm_field_feed_samples(chunk, take);
    data += 2u * take;
    n -= take;
  }
}

/* SAMPLES: format u8, data. ACK: inferences since boot u32, reports sent u32. */
static uint8_t cmd_samples(uint8_t *p, uint16_t len, int repeat, uint16_t *reply_len) {
  const tm_field_counters *c = tm_field_counters_get();
  if (len < 1u) {
    return TM_ERR_BAD_LENGTH;
  }
  if (p[0] == TM_FIELD_FORMAT_SAMPLES) {
    if (!TM_FIELD_FEATURES) {
      return TM_ERR_BAD_ARG; /* no feature extractor: stream tensor bytes */
    }
    if ((len - 1u) % 2u != 0u) {
      return TM_ERR_BAD_LENGTH;
    }
  } else if (p[0] == TM_FIELD_FORMAT_RESTART) {
    if (len != 1u) {
      return TM_ERR_BAD_LENGTH;
    }
  } else if (p[0] != TM_FIELD_FORMAT_TENSOR) {
    return TM_ERR_BAD_ARG;
  }
  if (!repeat) { /* a resend whose ACK was lost: the samples were already taken */
    if (p[0] == TM_FIELD_FORMAT_SAMPLES) {
      feed_samples(p + 1, (len - 1u) / 2u);
    } else if (p[0] == TM_FIELD_FORMAT_TENSOR) {
      tm_field_feed_tensor(p + 1, len - 1u);
    } else {
      tm_field_restart_stream();
    }
  }
  put_u32(p, c->inferences);
  put_u32(p + 4, c->reports);
  *reply_len = 8u;
  return 0u;
}

/* REPORT_NOW: no payload. ACK: the sequence number of the report sent u32. */
static uint8_t cmd_report_now(uint8_t *p, uint16_t len, int repeat, uint16_t *reply_len) {
  if (len != 0u) {
    return TM_ERR_BAD_LENGTH;
  }
  put_u32(p, repeat ? tm_field_counters_get()->reports : tm_field_report_now());
  *reply_len = 4u;
  return 0u;
}

/* FIELD_INFO: no payload. ACK: device id (string), boot u32, report every u32, infer every u32, features u8,
 * shadow every u32, statistics bytes u32, inferences u32, reports u32, model ticks u64, statistics ticks u64,
 * shadow ticks u64. */
static uint8_t cmd_field_info(uint8_t *p, uint16_t len, uint16_t *reply_len) {
  const tm_field_counters *c = tm_field_counters_get();
  uint32_t n = tm_field_identity.id_len;
  uint32_t i;
  if (len != 0u) {
    return TM_ERR_BAD_LENGTH;
  }
  p[0] = (uint8_t)n;
  for (i = 0u; i < n; i++) {
    p[1u + i] = tm_field_identity.id[i];
  }
  p += 1u + n;
  put_u32(p, tm_field_identity.boot);
  put_u32(p + 4, TM_FIELD_REPORT_EVERY);
  put_u32(p + 8, TM_FIELD_INFER_EVERY);
  p[12] = (uint8_t)TM_FIELD_FEATURES;
  put_u32(p + 13, TM_FIELD_SHADOW_EVERY);
  put_u32(p + 17, tm_field_stats_bytes());
  put_u32(p + 21, c->inferences);
  put_u32(p + 25, c->reports);
  put_u64(p + 29, c->model_ticks);
  put_u64(p + 37, c->stats_ticks);
  put_u64(p + 45, c->shadow_ticks);
  *reply_len = (uint16_t)(1u + n + 53u);
  return 0u;
}

uint8_t tm_proto_app_command(const tm_proto_io *io, uint8_t type, uint8_t *payload, uint16_t len, int repeat,
                             uint16_t *reply_len) {
  (void)io;
  switch (type) {
    case TM_CMD_SAMPLES:
      return cmd_samples(payload, len, repeat, reply_len);
    case TM_CMD_REPORT_NOW:
      return cmd_report_now(payload, len, repeat, reply_len);
    case TM_CMD_FIELD_INFO:
      return cmd_field_info(payload, len, reply_len);
#if TM_FIELD_SHADOW_EVERY
    case TM_CMD_SHADOW_MATRIX:
      return tm_field_shadow_matrix(payload, len, reply_len);
#endif
    default:
      return TM_ERR_UNKNOWN_CMD;
  }
}
