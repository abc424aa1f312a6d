/* The MLPerf Tiny runner's command loop: assemble `command%` (at most TM_MLPERF_CMD_CHARS characters), split it
 * on spaces, run it, end the reply with `m-ready`. */
#include "model.h"
#include "tm_mlperf_internal.h"

#define MAX_WORDS 4u
#define DEFAULT_WARMUPS 10u  /* `infer N` without W, as the runner's reference firmware */

static const tm_mlperf_io *cmd_io;

/* A decimal number of at most 9 digits (so no overflow); -1 if `s` is anything else. */
static int32_t parse_count(const char *s) {
  int32_t v = 0;
  uint32_t n = 0;
  for (; s[n] != '\0'; n++) {
    if (s[n] < '0' || s[n] > '9' || n == 9u) {
      return -1;
    }
    v = v * 10 + (s[n] - '0');
  }
  return n == 0u ? -1 : v;
}

static void line(const char *a, const char *b) {
  tm_mlperf_puts(a);
  tm_mlperf_puts(b);
  tm_mlperf_puts("]");
  tm_mlperf_endl();
}

static void help(void) {
  static const char *const lines[] = {
      "name: m-name-dut-[...]", "profile: m-profile-[...] and m-model-[...]", "timestamp: m-lap-us-N",
      "db load N: expect N bytes, then db HEX... lines (the runner sends 31 bytes a line)", "db print: the loaded bytes",
      "infer N W: W warm-up and N timed inferences, then the results", "results: m-results-[...]"};
  for (uint32_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
    tm_mlperf_puts(lines[i]);
    tm_mlperf_endl();
  }
}

static int same(const char *a, const char *b) {
  while (*a != '\0' && *a == *b) {
    a++;
    b++;
  }
  return *a == *b;
}

static void db(char **words, uint32_t n) {
  if (n < 2u) {
    tm_mlperf_error("db: needs 'load N', 'print' or hex bytes", "");
  } else if (same(words[1], "load")) {
    const int32_t bytes = n == 3u ? parse_count(words[2]) : -1;
    if (bytes <= 0) {
      tm_mlperf_error("db load: needs one byte count N >= 1", "");
    } else {
      tm_mlperf_db_load((uint32_t)bytes);
    }
  } else if (n == 2u && same(words[1], "print")) {
    tm_mlperf_db_print();
  } else if (n == 2u) {
    tm_mlperf_db_hex(words[1]);
  } else {
    tm_mlperf_error("db: one run of hex digits per line", "");
  }
}

static void infer(char **words, uint32_t n) {
  const int32_t count = n >= 2u ? parse_count(words[1]) : 1;
  const int32_t warmups = n >= 3u ? parse_count(words[2]) : (int32_t)DEFAULT_WARMUPS;
  if (n > 3u || count < 1 || warmups < 0) {
    tm_mlperf_error("infer: expects 'infer N W' with N >= 1 and W >= 0", "");
    return;
  }
  tm_mlperf_infer((uint32_t)count, (uint32_t)warmups);
}

static void dispatch(char **words, uint32_t n) {
  if (same(words[0], "name") && n == 1u) {
    line("m-name-dut-[", cmd_io->name);
  } else if (same(words[0], "profile") && n == 1u) {
    line("m-profile-[", cmd_io->profile);
    line("m-model-[", cmd_io->model);
  } else if (same(words[0], "help") && n == 1u) {
    help();
  } else if (same(words[0], "timestamp") && n == 1u) {
    tm_mlperf_lap();
  } else if (same(words[0], "db")) {
    db(words, n);
  } else if (same(words[0], "infer")) {
    infer(words, n);
  } else if (same(words[0], "results") && n == 1u) {
    tm_mlperf_results();
  } else {
    tm_mlperf_error("Unknown command: ", words[0]);
  }
}

/* Split `text` in place on spaces; more than MAX_WORDS words count as MAX_WORDS + 1 (always an error). */
static uint32_t split(char *text, char **words) {
  uint32_t n = 0;
  while (*text != '\0') {
    while (*text == ' ') {
      *text++ = '\0';
    }
    if (*text == '\0') {
      break;
    }
    if (n == MAX_WORDS) {
      return MAX_WORDS + 1u;
    }
    words[n++] = text;
    while (*text != '\0' && *text != ' ') {
      text++;
    }
  }
  return n;
}

static void serve(char *text, uint32_t length) {
  char *words[MAX_WORDS];
  if (length > TM_MLPERF_CMD_CHARS) {
    tm_mlperf_error_n("Command longer than ", TM_MLPERF_CMD_CHARS, " characters");
  } else {
    const uint32_t n = split(text, words);
    if (n > MAX_WORDS) {
      tm_mlperf_error("Too many words in the command", "");
    } else if (n > 0u) {
      dispatch(words, n);
    }
  }
  tm_mlperf_puts("m-ready");
  tm_mlperf_endl();
}

void tm_mlperf_run(const tm_mlperf_io *io) {
  static char text[TM_MLPERF_CMD_CHARS + 1u];
  uint32_t length = 0;  /* characters received for this command, also past the buffer's end */
  cmd_io = io;
  tm_mlperf_out_init(io->putc);
  tm_mlperf_time_init(io);
  tm_mlperf_db_init(io);
  tm_mlperf_infer_init(io);
  tm_model_init();
  tm_mlperf_puts("m-timestamp-mode-performance");
  tm_mlperf_endl();
  tm_mlperf_puts("m-init-done");
  tm_mlperf_endl();
  tm_mlperf_puts("m-ready");
  tm_mlperf_endl();
  for (;;) {
    const int c = io->getc();
    if (c < 0) {
      tm_mlperf_time_poll();  /* an idle device still sees every counter wrap */
    } else if (c == '%') {
      text[length < TM_MLPERF_CMD_CHARS ? length : TM_MLPERF_CMD_CHARS] = '\0';
      serve(text, length);
      length = 0;
    } else if (c != '\r' && c != '\n') {
      if (length < TM_MLPERF_CMD_CHARS) {
        text[length] = (char)c;
      }
      if (length <= TM_MLPERF_CMD_CHARS) {
        length++;
      }
    }
  }
}
