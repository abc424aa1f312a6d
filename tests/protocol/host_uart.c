/* The device side of the protocol running on the host, with the fake model. The "UART" is stdin/stdout, or with
 * `--tcp` a loopback TCP connection (the port is printed on stdout, then one client is accepted), like the QEMU
 * UART. End of input exits with status 0, so a fuzzer can feed bytes and wait for the process to end. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "model.h"
#include "tm_proto.h"

static int rx_fd = 0, tx_fd = 1;
static uint8_t rx_buf[4096], tx_buf[4096];
static size_t rx_len, rx_pos, tx_len;

static void flush_tx(void) {
  size_t done = 0;
  while (done < tx_len) {
    ssize_t n = write(tx_fd, tx_buf + done, tx_len - done);
    if (n < 0 && errno != EINTR) {
      exit(0); /* the host went away */
    }
    done += n > 0 ? (size_t)n : 0u;
  }
  tx_len = 0;
}

static int uart_getc_timeout(uint32_t timeout_ms) {
  flush_tx(); /* the device is about to wait: whatever it sent must reach the host */
  if (rx_pos == rx_len) {
    struct pollfd p = {rx_fd, POLLIN, 0};
    ssize_t n;
    int ready = poll(&p, 1, (int)timeout_ms);
    if (ready < 0 && errno != EINTR) {
      exit(1);
    }
    if (ready <= 0) {
      return -1;
    }
    n = read(rx_fd, rx_buf, sizeof rx_buf);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
      exit(0);
    }
    if (n < 0) {
      return -1;
    }
    rx_len = (size_t)n;
    rx_pos = 0;
  }
  return rx_buf[rx_pos++];
}

static void uart_putc(uint8_t byte) {
  if (tx_len == sizeof tx_buf) {
    flush_tx();
  }
  tx_buf[tx_len++] = byte;
}

static uint32_t fake_ticks(void) { return tm_fake_ticks; }

static uint32_t fake_stack_peak(void) { return 4242u; }

static void accept_one_tcp_client(void) {
  struct sockaddr_in addr;
  socklen_t len = sizeof addr;
  int one = 1;
  int server = socket(AF_INET, SOCK_STREAM, 0);
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (server < 0 || bind(server, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(server, 1) != 0 ||
      getsockname(server, (struct sockaddr *)&addr, &len) != 0) {
    perror("host_uart");
    exit(1);
  }
  printf("%u\n", (unsigned)ntohs(addr.sin_port));
  fflush(stdout);
  rx_fd = tx_fd = accept(server, NULL, NULL);
  if (rx_fd < 0) {
    perror("host_uart");
    exit(1);
  }
  setsockopt(rx_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  close(server);
}

int main(int argc, char **argv) {
  static const tm_proto_io io = {"host-test", "test-1.0", uart_getc_timeout, uart_putc, fake_ticks, fake_stack_peak};
  if (argc > 1 && strcmp(argv[1], "--tcp") == 0) {
    accept_one_tcp_client();
  }
  tm_proto_run(&io);
  return 0;
}
