/* tinyml serial protocol, device side: frame receive/send and the command handlers (docs/PROTOCOL.md). */
#include "tm_proto.h"

#include <string.h>

#include "model.h"
#include "tm_crc32.h"

#if TM_PROTO_MAX_PAYLOAD < 128u || TM_PROTO_MAX_PAYLOAD > 4096u
#error "TM_PROTO_MAX_PAYLOAD must be between 128 and 4096"
#endif
#if TM_MODEL_NUM_INPUTS > 255u || TM_MODEL_NUM_OUTPUTS > 255u
#error "the protocol addresses at most 255 inputs and 255 outputs"
#endif

#define NAME_MAX_BYTES 32u   /* longest string sent in INFO */
#define IDLE_POLL_MS 1000u   /* getc timeout while waiting for a frame to start */
#define LOAD_HEAD_BYTES 5u   /* LOAD_INPUT: index u8, offset u32, then the data */
#define READ_ARGS_BYTES 7u   /* READ_OUTPUT: index u8, offset u32, length u16 */
#define TENSOR_KIND_INPUT 0u
#define TENSOR_KIND_OUTPUT 1u

typedef struct {
  uint8_t version;
  uint8_t type;
  uint16_t seq;
  uint16_t len;
} frame_header;

typedef struct {
  uint32_t count;
  uint64_t total_ticks;
  uint32_t last_ticks;
  uint32_t min_ticks;
  uint32_t max_ticks;
} invoke_record;

static struct {
  uint8_t buf[TM_PROTO_MAX_PAYLOAD]; /* the request payload, then the reply payload */
  invoke_record last_invoke;
  uint32_t invokes_total;
  uint32_t link_errors;
  uint16_t last_seq;       /* seq of the last request served (a frame that passed its CRC) */
  uint8_t last_was_invoke; /* ... and it was a successful INVOKE: a resend of it is answered, not re-run */
#ifdef TM_PROTO_APP
  uint8_t last_ok_type;    /* ... and its type if it succeeded, else 0 (an application command's `repeat`) */
#endif
} g;

static void put_u16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v) {
  put_u16(p, (uint16_t)v);
  put_u16(p + 2, (uint16_t)(v >> 16));
}

static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static uint32_t get_u32(const uint8_t *p) { return (uint32_t)get_u16(p) | ((uint32_t)get_u16(p + 2) << 16); }

/* ---- frames ---- */

static void send_bytes(const tm_proto_io *io, const uint8_t *p, uint32_t n, uint32_t *crc) {
  *crc = tm_crc32_update(*crc, p, n);
  while (n-- > 0u) {
    io->putc(*p++);
  }
}

static void frame_begin(tm_proto_writer *w, const tm_proto_io *io, uint8_t type, uint16_t seq, uint16_t len) {
  uint8_t head[TM_PROTO_HEADER_BYTES];
  head[0] = TM_PROTO_VERSION;
  head[1] = type;
  put_u16(head + 2, seq);
  put_u16(head + 4, len);
  w->io = io;
  w->crc = TM_CRC32_INIT;
  io->putc(TM_PROTO_SYNC0);
  io->putc(TM_PROTO_SYNC1);
  send_bytes(io, head, TM_PROTO_HEADER_BYTES, &w->crc);
}

static void frame_end(tm_proto_writer *w) {
  uint8_t tail[TM_PROTO_CRC_BYTES];
  uint32_t i;
  put_u32(tail, tm_crc32_final(w->crc));
  for (i = 0; i < TM_PROTO_CRC_BYTES; i++) {
    w->io->putc(tail[i]);
  }
}

static void send_frame(const tm_proto_io *io, uint8_t type, uint16_t seq, const uint8_t *payload, uint16_t len) {
  tm_proto_writer w;
  frame_begin(&w, io, type, seq, len);
  send_bytes(io, payload, len, &w.crc);
  frame_end(&w);
}

#ifdef TM_PROTO_APP
/* The application's frame writer (tm_proto.h); a harness without an application (the bench app) leaves it out, so
 * its image is what it was before applications existed. */
void tm_proto_frame_begin(tm_proto_writer *w, const tm_proto_io *io, uint8_t type, uint16_t seq, uint16_t len) {
  frame_begin(w, io, type, seq, len);
}

void tm_proto_frame_put(tm_proto_writer *w, const uint8_t *bytes, uint32_t n) { send_bytes(w->io, bytes, n, &w->crc); }

void tm_proto_frame_end(tm_proto_writer *w) { frame_end(w); }
#endif

static void send_nak(const tm_proto_io *io, uint16_t seq, uint8_t error, uint8_t request_type) {
  uint8_t payload[2];
  payload[0] = error;
  payload[1] = request_type;
  send_frame(io, TM_PROTO_NAK, seq, payload, 2u);
}

static void wait_for_sync(const tm_proto_io *io) {
  int prev = -1;
  for (;;) {
    int c = io->getc_timeout(prev == (int)TM_PROTO_SYNC0 ? TM_PROTO_BYTE_TIMEOUT_MS : IDLE_POLL_MS);
    if (prev == (int)TM_PROTO_SYNC0 && c == (int)TM_PROTO_SYNC1) {
      return;
    }
    prev = c;
  }
}

static int recv_bytes(const tm_proto_io *io, uint8_t *dst, uint32_t n) {
  while (n-- > 0u) {
    int c = io->getc_timeout(TM_PROTO_BYTE_TIMEOUT_MS);
    if (c < 0) {
      return -1;
    }
    *dst++ = (uint8_t)c;
  }
  return 0;
}

/* Receives one frame: its header into h, its payload into g.buf. Returns 0, or the link error to NAK with. */
static uint8_t recv_frame(const tm_proto_io *io, frame_header *h) {
  uint8_t head[TM_PROTO_HEADER_BYTES];
  uint8_t tail[TM_PROTO_CRC_BYTES];
  uint32_t crc;
  memset(h, 0, sizeof *h);
  wait_for_sync(io);
  if (recv_bytes(io, head, TM_PROTO_HEADER_BYTES) != 0) {
    return TM_ERR_TIMEOUT;
  }
  h->version = head[0];
  h->type = head[1];
  h->seq = get_u16(head + 2);
  h->len = get_u16(head + 4);
  if (h->len > TM_PROTO_MAX_PAYLOAD) {
    return TM_ERR_TOO_LONG;
  }
  if (recv_bytes(io, g.buf, h->len) != 0 || recv_bytes(io, tail, TM_PROTO_CRC_BYTES) != 0) {
    return TM_ERR_TIMEOUT;
  }
  crc = tm_crc32_update(TM_CRC32_INIT, head, TM_PROTO_HEADER_BYTES);
  crc = tm_crc32_update(crc, g.buf, h->len);
  return tm_crc32_final(crc) == get_u32(tail) ? 0u : TM_ERR_BAD_CRC;
}

/* ---- commands: each checks its request in g.buf, then writes its reply there (length in *reply_len) ---- */

static uint16_t put_name(uint8_t *p, const char *s) {
  uint8_t n = 0;
  while (n < NAME_MAX_BYTES && s[n] != '\0') {
    p[1 + n] = (uint8_t)s[n];
    n++;
  }
  p[0] = n;
  return (uint16_t)(n + 1u);
}

static uint8_t cmd_info(const tm_proto_io *io, const frame_header *h, uint16_t *reply_len) {
  uint8_t *p = g.buf;
  uint16_t n = 9u;
  if (h->len != 0u) {
    return TM_ERR_BAD_LENGTH;
  }
  p[0] = TM_PROTO_VERSION;
  put_u16(p + 1, TM_PROTO_MAX_PAYLOAD);
  put_u32(p + 3, TM_MODEL_ARENA_BYTES);
  p[7] = (uint8_t)TM_MODEL_NUM_INPUTS;
  p[8] = (uint8_t)TM_MODEL_NUM_OUTPUTS;
  n = (uint16_t)(n + put_name(p + n, TM_MODEL_HASH));
  n = (uint16_t)(n + put_name(p + n, io->board_name));
  n = (uint16_t)(n + put_name(p + n, io->firmware_version));
  *reply_len = n;
  return 0u;
}

static const tm_io *find_tensor(uint8_t kind, uint8_t index) {
  if (kind == TENSOR_KIND_INPUT && index < TM_MODEL_NUM_INPUTS) {
    return tm_model_input(index);
  }
  if (kind == TENSOR_KIND_OUTPUT && index < TM_MODEL_NUM_OUTPUTS) {
    return tm_model_output(index);
  }
  return NULL;
}

static uint8_t cmd_tensor_info(const frame_header *h, uint16_t *reply_len) {
  uint8_t *p = g.buf;
  const tm_io *t;
  uint32_t scale_bits;
  if (h->len != 2u) {
    return TM_ERR_BAD_LENGTH;
  }
  t = find_tensor(p[0], p[1]);
  if (t == NULL) {
    return TM_ERR_BAD_INDEX;
  }
  memcpy(&scale_bits, &t->scale, sizeof scale_bits); /* IEEE-754 bits: no float formatting on the device */
  p[2] = t->type;
  put_u32(p + 3, t->bytes);
  put_u32(p + 7, scale_bits);
  put_u32(p + 11, (uint32_t)t->zero_point);
  *reply_len = 15u;
  return 0u;
}

/* Checks that [offset, offset + n) lies inside tensor t. */
static int in_range(const tm_io *t, uint32_t offset, uint32_t n) { return offset <= t->bytes && n <= t->bytes - offset; }

static uint8_t cmd_load_input(const frame_header *h) {
  const tm_io *t;
  uint32_t offset;
  uint32_t n;
  if (h->len < LOAD_HEAD_BYTES) {
    return TM_ERR_BAD_LENGTH;
  }
  t = find_tensor(TENSOR_KIND_INPUT, g.buf[0]);
  if (t == NULL) {
    return TM_ERR_BAD_INDEX;
  }
  offset = get_u32(g.buf + 1);
  n = h->len - LOAD_HEAD_BYTES;
  if (!in_range(t, offset, n)) {
    return TM_ERR_BAD_RANGE;
  }
  memcpy((uint8_t *)t->data + offset, g.buf + LOAD_HEAD_BYTES, n);
  return 0u;
}

/* The output bytes are sent straight from the tensor: *reply points into it. */
static uint8_t cmd_read_output(const frame_header *h, const uint8_t **reply, uint16_t *reply_len) {
  const tm_io *t;
  uint32_t offset;
  uint16_t n;
  if (h->len != READ_ARGS_BYTES) {
    return TM_ERR_BAD_LENGTH;
  }
  t = find_tensor(TENSOR_KIND_OUTPUT, g.buf[0]);
  if (t == NULL) {
    return TM_ERR_BAD_INDEX;
  }
  offset = get_u32(g.buf + 1);
  n = get_u16(g.buf + 5);
  if (n > TM_PROTO_MAX_PAYLOAD || !in_range(t, offset, n)) {
    return TM_ERR_BAD_RANGE;
  }
  *reply = (const uint8_t *)t->data + offset;
  *reply_len = n;
  return 0u;
}

static void run_invokes(const tm_proto_io *io, uint32_t n) {
  invoke_record r = {0u, 0u, 0u, UINT32_MAX, 0u};
  while (r.count < n) {
    uint32_t t0 = io->ticks();
    uint32_t dt;
    tm_model_invoke();
    dt = (uint32_t)(io->ticks() - t0); /* modulo 2^32: right across one wrap of the counter */
    r.count++;
    r.total_ticks += dt;
    r.last_ticks = dt;
    r.min_ticks = dt < r.min_ticks ? dt : r.min_ticks;
    r.max_ticks = dt > r.max_ticks ? dt : r.max_ticks;
    g.invokes_total++;
  }
  g.last_invoke = r;
}

static uint16_t put_invoke_record(uint8_t *p) {
  const invoke_record *r = &g.last_invoke;
  put_u32(p, r->count);
  put_u32(p + 4, (uint32_t)r->total_ticks);
  put_u32(p + 8, (uint32_t)(r->total_ticks >> 32));
  put_u32(p + 12, r->last_ticks);
  put_u32(p + 16, r->min_ticks);
  put_u32(p + 20, r->max_ticks);
  return 24u;
}

static uint8_t cmd_invoke(const tm_proto_io *io, const frame_header *h, uint16_t *reply_len) {
  uint32_t n;
  if (h->len != 4u) {
    return TM_ERR_BAD_LENGTH;
  }
  n = get_u32(g.buf);
  if (n == 0u) {
    return TM_ERR_BAD_ARG;
  }
  /* A resend of the INVOKE just served (its ACK was lost) gets the same ACK again, without re-running. */
  if (!(g.last_was_invoke && h->seq == g.last_seq && n == g.last_invoke.count)) {
    run_invokes(io, n);
  }
  *reply_len = put_invoke_record(g.buf);
  return 0u;
}

static uint8_t cmd_read_stats(const tm_proto_io *io, const frame_header *h, uint16_t *reply_len) {
  uint16_t n;
  if (h->len != 0u) {
    return TM_ERR_BAD_LENGTH;
  }
  n = put_invoke_record(g.buf);
  put_u32(g.buf + n, io->stack_peak_bytes());
  put_u32(g.buf + n + 4, g.invokes_total);
  put_u32(g.buf + n + 8, g.link_errors);
  *reply_len = (uint16_t)(n + 12u);
  return 0u;
}

static uint8_t dispatch(const tm_proto_io *io, const frame_header *h, const uint8_t **reply, uint16_t *reply_len) {
  if (h->version != TM_PROTO_VERSION) {
    return TM_ERR_BAD_VERSION;
  }
  switch (h->type) {
    case TM_CMD_INFO:
      return cmd_info(io, h, reply_len);
    case TM_CMD_TENSOR_INFO:
      return cmd_tensor_info(h, reply_len);
    case TM_CMD_LOAD_INPUT:
      return cmd_load_input(h);
    case TM_CMD_INVOKE:
      return cmd_invoke(io, h, reply_len);
    case TM_CMD_READ_OUTPUT:
      return cmd_read_output(h, reply, reply_len);
    case TM_CMD_READ_STATS:
      return cmd_read_stats(io, h, reply_len);
#ifdef TM_PROTO_APP
    default: /* g.last_* still describe the previous request here (serve updates them after dispatch) */
      return tm_proto_app_command(io, h->type, g.buf, h->len, g.last_ok_type == h->type && g.last_seq == h->seq,
                                  reply_len);
#else
    default:
      return TM_ERR_UNKNOWN_CMD;
#endif
  }
}

static void serve(const tm_proto_io *io, const frame_header *h) {
  const uint8_t *reply = g.buf;
  uint16_t reply_len = 0u;
  uint8_t error = dispatch(io, h, &reply, &reply_len);
  g.last_seq = h->seq;
  g.last_was_invoke = (uint8_t)(error == 0u && h->type == TM_CMD_INVOKE);
#ifdef TM_PROTO_APP
  g.last_ok_type = error == 0u ? h->type : 0u;
#endif
  if (error != 0u) {
    send_nak(io, h->seq, error, h->type);
  } else {
    send_frame(io, (uint8_t)(h->type | TM_PROTO_ACK_BIT), h->seq, reply, reply_len);
  }
}

void tm_proto_run(const tm_proto_io *io) {
  tm_model_init();
  for (;;) {
    frame_header h;
    uint8_t error = recv_frame(io, &h);
    if (error == 0u) {
      serve(io, &h);
    } else {
      /* A damaged frame changes no state (a resent INVOKE is still recognised): it is only counted and NAKed. */
      g.link_errors++;
      send_nak(io, h.seq, error, h.type);
    }
  }
}
