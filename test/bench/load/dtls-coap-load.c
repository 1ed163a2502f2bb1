/*
 * dtls-coap-load: an independent DTLS 1.2 / CoAP load generator on the system's OpenSSL, so the
 * benches do not measure our servers with our own client code. One process, many sessions, one
 * connected non-blocking UDP socket per session, epoll, OpenSSL's DTLS timers and cookie exchange.
 *
 * Modes (first argument):
 *   get        --sessions N keep --window W CoAP CON GETs outstanding each for --path; counts answers
 *   post       the same with POST --path and --payload (text; "{seq}" in it becomes a counter, so
 *              that bodies differ; "{us}" the wall clock at sending, µs since the epoch, for a
 *              subscriber downstream to time the message end to end) or --payload-hex, --content-format
 *   handshake  --concurrency K full handshakes back to back (close_notify after each)
 *   resume     the same, resuming one saved session (session id, or a ticket if the server issued one)
 *   idle       opens --sessions N and holds them until stdin closes or SIGTERM (for RSS)
 * Common: --host --port --ca --cert --key [--cipher] [--addresses K: bind sessions to 127.0.0.1 ..
 *   127.0.0.K round robin] [--seconds S measured window] [--warmup S] [--rate R: fixed offered rate,
 *   requests/s over all sessions, for latency] [--server-pid P: server CPU (utime+stime from
 *   /proc/P/stat) over the window and its RSS] [--min-server-cpu C --max-seconds M: the window goes
 *   on past --seconds, up to M, until the server used C CPU seconds] [--mtu M] [--timeout-ms T for a
 *   CoAP answer].
 * Prints one JSON line of results on stdout (idle mode: a "ready" line first). Diagnostics: stderr.
 *
 * Build: gcc -O2 -o dtls-coap-load dtls-coap-load.c -lssl -lcrypto
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_WINDOW 256
#define MAX_CODES 256

typedef struct {
  uint16_t mid;
  uint32_t token;
  int64_t sent_ns;
  /* fixed-rate mode: when the schedule meant it to go (<= sent_ns); latency counts from here */
  int64_t intended_ns;
  int busy;
} slot_t;

typedef enum { S_FREE, S_HANDSHAKE, S_OPEN, S_CLOSED } state_t;

typedef struct session {
  int fd;
  SSL *ssl;
  state_t state;
  int index;
  int64_t started_ns;
  uint16_t next_mid;
  uint16_t generation;
  int in_flight;
  slot_t slots[MAX_WINDOW];
} session_t;

/* ---------- options ---------- */
static const char *mode = "get";
static const char *host = "127.0.0.1";
static int port = 5684;
static const char *ca_file, *cert_file, *key_file;
static const char *cipher = "ECDHE-ECDSA-AES128-GCM-SHA256";
static const char *path = "/";
static const char *payload_text = NULL;
static unsigned char payload[4096];
static size_t payload_len = 0;
static int content_format = -1;
static int accept_format = -1;
static int sessions_wanted = 8;
static int window_size = 1;
static int concurrency = 8;
static int address_count = 1;
static double seconds = 5.0;
static double warmup = 1.0;
static double rate = 0.0;
static int server_pid = 0;
static int mtu = 1500;
static int timeout_ms = 2000;
static int handshake_timeout_ms = 15000;
static double min_server_cpu = 0.0;
static double max_seconds = 0.0;
/* --identities N: N client certificates, --cert/--key being patterns with one %d (0..N-1); session i
   uses identity i % N (the proxy bench: one sensor per session, so the gateway's per-sensor order and
   shares apply as with real sensors) */
static int identities = 1;
static char identity_cert[1024], identity_key[1024];

/* ---------- state ---------- */
static SSL_CTX *ctx;
static int epfd;
static struct sockaddr_in server_addr;
static session_t *sessions;
static int session_count;
static volatile sig_atomic_t stop_requested = 0;

/* counters (the measured window only, unless named otherwise) */
static int measuring = 0;
static uint64_t succeeded = 0, answered = 0, answered_total = 0, timeouts = 0, token_mismatch = 0, sent = 0;
static uint64_t offered_skipped = 0;
static uint64_t codes[MAX_CODES];
static uint64_t handshakes_done = 0, handshakes_failed = 0, handshakes_resumed = 0;
static uint64_t handshakes_failed_total = 0, open_failures = 0;
static uint32_t *latencies_us, *send_latencies_us;
static size_t latency_count = 0, latency_cap = 0;
/*
 * Fixed-rate mode, against coordinated omission: a request the schedule offers while every slot is
 * busy waits here (its intended time) for the next free slot instead of being dropped, and every
 * latency counts from the intended time, so a server stall shows in the latencies of all the
 * requests it held up (not only of the few that were in flight).
 */
static int64_t *waiting_ns;
static size_t waiting_head = 0, waiting_count = 0, waiting_cap = 0;
static char first_error[256] = "";

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void note_error(const char *what) {
  if (first_error[0]) return;
  unsigned long e = ERR_peek_error();
  char buf[160] = "";
  if (e) ERR_error_string_n(e, buf, sizeof buf);
  snprintf(first_error, sizeof first_error, "%s%s%s", what, buf[0] ? ": " : "", buf);
}

/* ---------- /proc ---------- */
static double proc_cpu_seconds(int pid) {
  if (pid <= 0) return 0;
  char file[64], buf[2048];
  snprintf(file, sizeof file, "/proc/%d/stat", pid);
  FILE *f = fopen(file, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p) return -1;
  p += 2; /* fields from 3 (state) on */
  unsigned long long utime = 0, stime = 0;
  int field = 3;
  char *save = NULL;
  for (char *tok = strtok_r(p, " ", &save); tok; tok = strtok_r(NULL, " ", &save), field++) {
    if (field == 14) utime = strtoull(tok, NULL, 10);
    if (field == 15) {
      stime = strtoull(tok, NULL, 10);
      break;
    }
  }
  return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static long proc_rss_kb(int pid) {
  if (pid <= 0) return 0;
  char file[64], line[256];
  snprintf(file, sizeof file, "/proc/%d/status", pid);
  FILE *f = fopen(file, "r");
  if (!f) return -1;
  long kb = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) break;
  fclose(f);
  return kb;
}

static double own_cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* ---------- CoAP ---------- */
static size_t put_option(unsigned char *out, int *last, int number, const unsigned char *value, size_t len) {
  int delta = number - *last;
  *last = number;
  size_t n = 1;
  unsigned char d = delta < 13 ? delta : delta < 269 ? 13 : 14;
  unsigned char l = len < 13 ? len : len < 269 ? 13 : 14;
  out[0] = (unsigned char)(d << 4 | l);
  if (d == 13) out[n++] = (unsigned char)(delta - 13);
  if (d == 14) {
    out[n++] = (unsigned char)((delta - 269) >> 8);
    out[n++] = (unsigned char)(delta - 269);
  }
  if (l == 13) out[n++] = (unsigned char)(len - 13);
  if (l == 14) {
    out[n++] = (unsigned char)((len - 269) >> 8);
    out[n++] = (unsigned char)(len - 269);
  }
  memcpy(out + n, value, len);
  return n + len;
}

static size_t uint_option_value(unsigned char *out, unsigned value) {
  if (value == 0) return 0;
  if (value < 256) {
    out[0] = value;
    return 1;
  }
  out[0] = value >> 8;
  out[1] = value & 0xff;
  return 2;
}

/* "{seq}" in the payload: a counter there, so that no two requests carry the same body */
static size_t seq_at = (size_t)-1;
static uint64_t seq_counter = 0;
/* "{us}" in the payload: CLOCK_REALTIME in µs when the request is written (end-to-end latency) */
static size_t us_at = (size_t)-1;

static uint64_t wall_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

/* The request without header and token (options and payload), built once. */
static unsigned char request_tail[4600];
static size_t request_tail_len;
static int request_code;

static void build_request(void) {
  int last = 0;
  size_t n = 0;
  const char *p = path;
  while (*p) {
    while (*p == '/') p++;
    const char *end = strchr(p, '/');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len > 0) n += put_option(request_tail + n, &last, 11, (const unsigned char *)p, len);
    p += len;
  }
  unsigned char v[2];
  if (content_format >= 0) n += put_option(request_tail + n, &last, 12, v, uint_option_value(v, content_format));
  if (accept_format >= 0) n += put_option(request_tail + n, &last, 17, v, uint_option_value(v, accept_format));
  if (payload_len > 0) {
    request_tail[n++] = 0xff;
    void *seq = memmem(payload, payload_len, "{seq}", 5);
    if (seq) seq_at = n + (size_t)((unsigned char *)seq - payload);
    void *us = memmem(payload, payload_len, "{us}", 4);
    if (us) us_at = n + (size_t)((unsigned char *)us - payload);
    memcpy(request_tail + n, payload, payload_len);
    n += payload_len;
  }
  request_tail_len = n;
  request_code = strcmp(mode, "post") == 0 ? 2 : 1;
}

static int send_request_at(session_t *s, int slot_index, int64_t intended_ns) {
  unsigned char msg[4800];
  slot_t *slot = &s->slots[slot_index];
  slot->mid = s->next_mid++;
  slot->token = ((uint32_t)slot_index << 16) | (s->generation++);
  msg[0] = 0x44; /* version 1, CON, token length 4 */
  msg[1] = (unsigned char)request_code;
  msg[2] = slot->mid >> 8;
  msg[3] = slot->mid & 0xff;
  memcpy(msg + 4, &slot->token, 4);
  size_t len = 8;
  if (seq_at == (size_t)-1 && us_at == (size_t)-1) {
    memcpy(msg + 8, request_tail, request_tail_len);
    len += request_tail_len;
  } else {
    /* the placeholders in the order they appear, each replaced by its number */
    size_t from = 0;
    for (int pass = 0; pass < 2; pass++) {
      int seq_first = us_at == (size_t)-1 || (seq_at != (size_t)-1 && seq_at < us_at);
      size_t at = pass == 0 ? (seq_first ? seq_at : us_at) : (seq_first ? us_at : seq_at);
      if (at == (size_t)-1) continue;
      int is_seq = at == seq_at;
      memcpy(msg + len, request_tail + from, at - from);
      len += at - from;
      len += (size_t)sprintf((char *)msg + len, "%llu",
                             is_seq ? (unsigned long long)++seq_counter : (unsigned long long)wall_us());
      from = at + (is_seq ? 5 : 4);
    }
    memcpy(msg + len, request_tail + from, request_tail_len - from);
    len += request_tail_len - from;
  }
  int r = SSL_write(s->ssl, msg, (int)len);
  if (r <= 0) {
    int e = SSL_get_error(s->ssl, r);
    if (e != SSL_ERROR_WANT_WRITE) note_error("SSL_write");
    ERR_clear_error();
    return 0;
  }
  slot->busy = 1;
  slot->sent_ns = now_ns();
  slot->intended_ns = intended_ns > 0 ? intended_ns : slot->sent_ns;
  s->in_flight++;
  sent++;
  return 1;
}

static int send_request(session_t *s, int slot_index) { return send_request_at(s, slot_index, 0); }

static void record_latency(int64_t from_intended_ns, int64_t from_send_ns) {
  if (latency_count == latency_cap) {
    latency_cap = latency_cap ? latency_cap * 2 : 1 << 20;
    latencies_us = realloc(latencies_us, latency_cap * sizeof *latencies_us);
    send_latencies_us = realloc(send_latencies_us, latency_cap * sizeof *send_latencies_us);
  }
  send_latencies_us[latency_count] = (uint32_t)(from_send_ns / 1000);
  latencies_us[latency_count++] = (uint32_t)(from_intended_ns / 1000);
}

static void wait_for_slot(int64_t intended_ns) {
  if (waiting_count == waiting_cap) {
    size_t cap = waiting_cap ? waiting_cap * 2 : 1 << 16;
    int64_t *grown = malloc(cap * sizeof *grown);
    for (size_t i = 0; i < waiting_count; i++) grown[i] = waiting_ns[(waiting_head + i) % waiting_cap];
    free(waiting_ns);
    waiting_ns = grown;
    waiting_head = 0;
    waiting_cap = cap;
  }
  waiting_ns[(waiting_head + waiting_count++) % waiting_cap] = intended_ns;
}

/* A slot came free in fixed-rate mode: the oldest waiting request goes out in it. */
static void send_waiting(session_t *s, int slot_index) {
  if (waiting_count == 0) return;
  int64_t intended = waiting_ns[waiting_head];
  if (send_request_at(s, slot_index, intended)) {
    waiting_head = (waiting_head + 1) % waiting_cap;
    waiting_count--;
  }
}

static void send_empty_ack(session_t *s, const unsigned char *m) {
  unsigned char ack[4] = {0x60, 0, m[2], m[3]};
  SSL_write(s->ssl, ack, 4);
  ERR_clear_error();
}

/* fixed-rate mode: whether the freed slot may be refilled at once */
static int refill_on_answer(void) { return rate <= 0; }

static void on_coap(session_t *s, const unsigned char *m, int len) {
  if (len < 4 || (m[0] >> 6) != 1) return;
  int type = (m[0] >> 4) & 3, tkl = m[0] & 15, code = m[1];
  if (code == 0) return; /* empty ACK (a separate response follows) or RST */
  if (type == 0) send_empty_ack(s, m); /* a separate CON response */
  if (tkl != 4 || len < 8) {
    token_mismatch++;
    return;
  }
  uint32_t token;
  memcpy(&token, m + 4, 4);
  int slot_index = (int)(token >> 16);
  if (slot_index >= window_size || !s->slots[slot_index].busy || s->slots[slot_index].token != token) {
    token_mismatch++; /* late (after a timeout) or not ours */
    return;
  }
  slot_t *slot = &s->slots[slot_index];
  slot->busy = 0;
  s->in_flight--;
  answered_total++;
  if (measuring) {
    answered++;
    if ((code >> 5) == 2) succeeded++;
    codes[code]++;
    int64_t now = now_ns();
    record_latency(now - slot->intended_ns, now - slot->sent_ns);
  }
  if (refill_on_answer() && !stop_requested) send_request(s, slot_index);
  else if (!stop_requested) send_waiting(s, slot_index);
}

/* ---------- sessions ---------- */
static SSL_SESSION *saved_session;

static int open_session(session_t *s, int index, SSL_SESSION *resume) {
  memset(s, 0, sizeof *s);
  s->index = index;
  s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s->fd < 0) {
    note_error(strerror(errno));
    return -1;
  }
  struct sockaddr_in local = {.sin_family = AF_INET};
  local.sin_addr.s_addr = htonl(0x7f000001 + (uint32_t)(index % address_count));
  if (bind(s->fd, (struct sockaddr *)&local, sizeof local) < 0 ||
      connect(s->fd, (struct sockaddr *)&server_addr, sizeof server_addr) < 0) {
    note_error(strerror(errno));
    close(s->fd);
    return -1;
  }
  BIO *bio = BIO_new_dgram(s->fd, BIO_NOCLOSE);
  BIO_ctrl(bio, BIO_CTRL_DGRAM_SET_CONNECTED, 0, &server_addr);
  s->ssl = SSL_new(ctx);
  if (identities > 1) {
    snprintf(identity_cert, sizeof identity_cert, cert_file, (int)(index % identities));
    snprintf(identity_key, sizeof identity_key, key_file, (int)(index % identities));
    if (SSL_use_certificate_chain_file(s->ssl, identity_cert) != 1 ||
        SSL_use_PrivateKey_file(s->ssl, identity_key, SSL_FILETYPE_PEM) != 1) {
      note_error("cannot load an identity's certificate or key");
      SSL_free(s->ssl);
      close(s->fd);
      return -1;
    }
  }
  SSL_set_bio(s->ssl, bio, bio);
  SSL_set_options(s->ssl, SSL_OP_NO_QUERY_MTU);
  DTLS_set_link_mtu(s->ssl, mtu);
  if (resume) SSL_set_session(s->ssl, resume);
  SSL_set_connect_state(s->ssl);
  s->state = S_HANDSHAKE;
  s->started_ns = now_ns();
  s->next_mid = (uint16_t)rand();
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
  epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev);
  SSL_do_handshake(s->ssl); /* sends the ClientHello */
  ERR_clear_error();
  return 0;
}

static void close_session(session_t *s, int notify) {
  if (s->state == S_FREE || s->state == S_CLOSED) return;
  if (notify && s->state == S_OPEN) SSL_shutdown(s->ssl);
  ERR_clear_error();
  epoll_ctl(epfd, EPOLL_CTL_DEL, s->fd, NULL);
  SSL_free(s->ssl);
  close(s->fd);
  s->ssl = NULL;
  s->state = S_CLOSED;
}

static void on_established(session_t *s);

static void drive_handshake(session_t *s) {
  int r = SSL_do_handshake(s->ssl);
  if (r == 1) {
    s->state = S_OPEN;
    on_established(s);
    return;
  }
  int e = SSL_get_error(s->ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
  note_error("handshake");
  ERR_clear_error();
  handshakes_failed_total++;
  if (measuring) handshakes_failed++;
  close_session(s, 0);
  on_established(s); /* the slot is free again: the mode decides what comes next */
}

static void on_readable(session_t *s) {
  unsigned char buf[16384];
  for (int i = 0; i < 64 && s->ssl; i++) {
    if (s->state == S_HANDSHAKE) {
      drive_handshake(s);
      if (s->state == S_HANDSHAKE) {
        /* the handshake may have consumed everything; see if more is queued */
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        if (poll(&p, 1, 0) <= 0) return;
      }
      continue;
    }
    if (s->state != S_OPEN) return;
    int r = SSL_read(s->ssl, buf, sizeof buf);
    if (r > 0) {
      on_coap(s, buf, r);
      continue;
    }
    int e = SSL_get_error(s->ssl, r);
    ERR_clear_error();
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
    if (e == SSL_ERROR_ZERO_RETURN) note_error("the server closed a session (close_notify)");
    else note_error("SSL_read");
    close_session(s, 0);
    return;
  }
}

/* ---------- modes ---------- */
static int is_mode(const char *m) { return strcmp(mode, m) == 0; }
static int handshake_mode(void) { return is_mode("handshake") || is_mode("resume"); }
static int established_count = 0;

static void on_established(session_t *s) {
  if (handshake_mode()) {
    if (s->state == S_OPEN) {
      if (measuring) {
        handshakes_done++;
        if (SSL_session_reused(s->ssl)) handshakes_resumed++;
      }
      if (is_mode("resume") && !saved_session) saved_session = SSL_get1_session(s->ssl);
      close_session(s, 1);
    }
    if (!stop_requested) open_session(s, s->index, is_mode("resume") ? saved_session : NULL);
    return;
  }
  if (s->state == S_OPEN) established_count++;
  else open_failures++;
}

static void check_timers(int64_t now) {
  for (int i = 0; i < session_count; i++) {
    session_t *s = &sessions[i];
    if (s->state == S_HANDSHAKE) {
      if (now - s->started_ns > (int64_t)handshake_timeout_ms * 1000000LL) {
        note_error("handshake timed out");
        handshakes_failed_total++;
        if (measuring) handshakes_failed++;
        close_session(s, 0);
        on_established(s);
        continue;
      }
      struct timeval tv;
      if (DTLSv1_get_timeout(s->ssl, &tv) && tv.tv_sec == 0 && tv.tv_usec == 0) {
        DTLSv1_handle_timeout(s->ssl);
        ERR_clear_error();
      }
    } else if (s->state == S_OPEN && s->in_flight > 0) {
      for (int j = 0; j < window_size; j++) {
        slot_t *slot = &s->slots[j];
        if (slot->busy && now - slot->sent_ns > (int64_t)timeout_ms * 1000000LL) {
          slot->busy = 0;
          s->in_flight--;
          if (measuring) timeouts++;
          if (refill_on_answer() && !stop_requested) send_request(s, j);
          else if (!stop_requested) send_waiting(s, j);
        }
      }
    }
  }
}

static void poll_once(int64_t wait_ns) {
  struct epoll_event events[256];
  struct timespec ts = {.tv_sec = wait_ns / 1000000000LL, .tv_nsec = wait_ns % 1000000000LL};
  int n = epoll_pwait2(epfd, events, 256, wait_ns >= 0 ? &ts : NULL, NULL);
  for (int i = 0; i < n; i++) on_readable((session_t *)events[i].data.ptr);
}

/* Runs the event loop until `until` (monotonic ns), sending at the fixed rate if one is set. */
static int64_t next_send_ns;
static int rr_session = 0;
static int64_t last_timer_scan = 0;

static void run_until(int64_t until) {
  while (!stop_requested) {
    int64_t now = now_ns();
    if (now >= until) return;
    if (now - last_timer_scan > 10000000LL) {
      check_timers(now);
      last_timer_scan = now;
    }
    int64_t wait = 10000000LL;
    /* next_send_ns is 0 until the sessions are open: no catching up from the epoch meanwhile */
    if (rate > 0 && next_send_ns > 0 && (is_mode("get") || is_mode("post"))) {
      int64_t interval = (int64_t)(1e9 / rate);
      while (next_send_ns <= now) {
        int sent_one = 0;
        /* behind requests already waiting for a slot, this one waits too (in order) */
        for (int k = 0; k < session_count && !sent_one && waiting_count == 0; k++) {
          session_t *s = &sessions[(rr_session + k) % session_count];
          if (s->state != S_OPEN || s->in_flight >= window_size) continue;
          for (int j = 0; j < window_size; j++)
            if (!s->slots[j].busy) {
              sent_one = send_request_at(s, j, next_send_ns);
              break;
            }
        }
        rr_session = (rr_session + 1) % session_count;
        if (!sent_one) {
          wait_for_slot(next_send_ns);
          if (measuring) offered_skipped++;
        }
        next_send_ns += interval;
      }
      if (next_send_ns - now < wait) wait = next_send_ns - now;
    }
    if (until - now < wait) wait = until - now;
    poll_once(wait);
  }
}

/*
 * The measured window: `seconds`, then longer (up to `max_seconds`) until the server has used
 * `min_server_cpu` seconds, so that a busy machine still gives enough of /proc's 10 ms ticks.
 */
static void run_window(int64_t t0, double cpu0) {
  run_until(t0 + (int64_t)(seconds * 1e9));
  int64_t cap = t0 + (int64_t)((max_seconds > seconds ? max_seconds : seconds) * 1e9);
  while (!stop_requested && server_pid && min_server_cpu > 0 && now_ns() < cap &&
         proc_cpu_seconds(server_pid) - cpu0 < min_server_cpu) {
    int64_t step = now_ns() + 250000000LL;
    run_until(step < cap ? step : cap);
  }
}

/* Opens `count` sessions, `concurrency` handshakes at a time. */
static void open_all(int count) {
  int started = 0;
  int64_t give_up = now_ns() + (int64_t)(count / 10 + 60) * 1000000000LL;
  while (established_count + (int)open_failures < count && !stop_requested && now_ns() < give_up) {
    int handshaking = started - established_count - (int)open_failures;
    while (started < count && handshaking < concurrency) {
      if (open_session(&sessions[started], started, NULL) < 0) open_failures++;
      started++;
      handshaking++;
    }
    run_until(now_ns() + 5000000LL);
  }
}

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static double percentile_ms(const uint32_t *sorted, double q) {
  if (latency_count == 0) return 0;
  size_t i = (size_t)(q * latency_count);
  if (i >= latency_count) i = latency_count - 1;
  return sorted[i] / 1000.0;
}

/*
 * Time the process's threads (pid 0: this process) waited, runnable, for a CPU (the second field
 * of /proc/<pid>/task/<tid>/schedstat, ns): on a shared machine, how much of a latency tail is
 * other processes holding the core rather than the server's own work.
 */
static double run_delay_ms(int pid) {
  char dir[64], file[352];
  snprintf(dir, sizeof dir, "/proc/%d/task", pid > 0 ? pid : getpid());
  DIR *tasks = opendir(dir);
  if (!tasks) return -1;
  unsigned long long total = 0;
  for (struct dirent *task; (task = readdir(tasks));) {
    if (task->d_name[0] == '.') continue;
    snprintf(file, sizeof file, "%s/%s/schedstat", dir, task->d_name);
    FILE *f = fopen(file, "r");
    unsigned long long run = 0, wait = 0;
    if (f && fscanf(f, "%llu %llu", &run, &wait) == 2) total += wait;
    if (f) fclose(f);
  }
  closedir(tasks);
  return total / 1e6;
}

static void print_common(FILE *out) {
  fprintf(out, "\"mode\":\"%s\",\"cipher\":\"%s\",\"source_addresses\":%d,\"source_address_note\":\"%s\"", mode,
          cipher, address_count,
          address_count == 1 ? "all sessions from 127.0.0.1 (per-address limits of the server apply)"
                             : "sessions spread round robin over 127.0.0.1..127.0.0.K");
}

static void usage(void) {
  fprintf(stderr, "usage: dtls-coap-load get|post|handshake|resume|idle --port N --ca F --cert F --key F [...]\n");
  exit(2);
}

static int hexval(int c) { return c <= '9' ? c - '0' : (c | 32) - 'a' + 10; }

int main(int argc, char **argv) {
  if (argc < 2) usage();
  mode = argv[1];
  if (!is_mode("get") && !is_mode("post") && !is_mode("handshake") && !is_mode("resume") && !is_mode("idle"))
    usage();
  for (int i = 2; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (!strcmp(k, "--host")) host = v;
    else if (!strcmp(k, "--port")) port = atoi(v);
    else if (!strcmp(k, "--ca")) ca_file = v;
    else if (!strcmp(k, "--cert")) cert_file = v;
    else if (!strcmp(k, "--key")) key_file = v;
    else if (!strcmp(k, "--cipher")) cipher = v;
    else if (!strcmp(k, "--path")) path = v;
    else if (!strcmp(k, "--payload")) payload_text = v;
    else if (!strcmp(k, "--payload-hex")) {
      payload_len = strlen(v) / 2;
      if (payload_len > sizeof payload) usage();
      for (size_t j = 0; j < payload_len; j++) payload[j] = (unsigned char)(hexval(v[2 * j]) << 4 | hexval(v[2 * j + 1]));
    } else if (!strcmp(k, "--content-format")) content_format = atoi(v);
    else if (!strcmp(k, "--accept")) accept_format = atoi(v);
    else if (!strcmp(k, "--sessions")) sessions_wanted = atoi(v);
    else if (!strcmp(k, "--window")) window_size = atoi(v);
    else if (!strcmp(k, "--concurrency")) concurrency = atoi(v);
    else if (!strcmp(k, "--addresses")) address_count = atoi(v);
    else if (!strcmp(k, "--seconds")) seconds = atof(v);
    else if (!strcmp(k, "--warmup")) warmup = atof(v);
    else if (!strcmp(k, "--rate")) rate = atof(v);
    else if (!strcmp(k, "--server-pid")) server_pid = atoi(v);
    else if (!strcmp(k, "--mtu")) mtu = atoi(v);
    else if (!strcmp(k, "--timeout-ms")) timeout_ms = atoi(v);
    else if (!strcmp(k, "--min-server-cpu")) min_server_cpu = atof(v);
    else if (!strcmp(k, "--max-seconds")) max_seconds = atof(v);
    else if (!strcmp(k, "--identities")) identities = atoi(v);
    else usage();
  }
  if (payload_text) {
    payload_len = strlen(payload_text);
    if (payload_len > sizeof payload) usage();
    memcpy(payload, payload_text, payload_len);
  }
  if (!ca_file || !cert_file || !key_file || window_size < 1 || window_size > MAX_WINDOW || address_count < 1 ||
      address_count > 250 || sessions_wanted < 1 || concurrency < 1)
    usage();
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  signal(SIGPIPE, SIG_IGN);
  srand((unsigned)getpid());
  /* fixed rate: wake for the next send when due, not up to 50 µs late (the default timer slack) */
  if (rate > 0) prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

  /* One fd per session: raise the descriptor limit to the hard limit. */
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);

  ctx = SSL_CTX_new(DTLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, DTLS1_2_VERSION);
  if (identities > 1) {
    snprintf(identity_cert, sizeof identity_cert, cert_file, 0);
    snprintf(identity_key, sizeof identity_key, key_file, 0);
  }
  if (SSL_CTX_set_cipher_list(ctx, cipher) != 1 ||
      SSL_CTX_use_certificate_chain_file(ctx, identities > 1 ? identity_cert : cert_file) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, identities > 1 ? identity_key : key_file, SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
    ERR_print_errors_fp(stderr);
    return 1;
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  server_addr.sin_family = AF_INET;
  server_addr.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &server_addr.sin_addr) != 1) usage();
  build_request();
  epfd = epoll_create1(EPOLL_CLOEXEC);

  if (handshake_mode()) {
    session_count = concurrency;
    sessions = calloc(session_count, sizeof *sessions);
    if (is_mode("resume")) {
      /* one full handshake first: the session every later one resumes */
      open_session(&sessions[0], 0, NULL);
      int64_t give_up = now_ns() + 15000000000LL;
      while (!saved_session && now_ns() < give_up && !stop_requested) run_until(now_ns() + 5000000LL);
      if (!saved_session) {
        fprintf(stderr, "dtls-coap-load: no session to resume: %s\n", first_error);
        return 1;
      }
    }
    for (int i = is_mode("resume") ? 1 : 0; i < session_count; i++)
      open_session(&sessions[i], i, is_mode("resume") ? saved_session : NULL);
    run_until(now_ns() + (int64_t)(warmup * 1e9));
    double cpu0 = proc_cpu_seconds(server_pid), own0 = own_cpu_seconds();
    int64_t t0 = now_ns();
    measuring = 1;
    run_window(t0, cpu0);
    measuring = 0;
    double wall = (now_ns() - t0) / 1e9;
    double cpu = proc_cpu_seconds(server_pid) - cpu0, own = own_cpu_seconds() - own0;
    printf("{");
    print_common(stdout);
    printf(",\"concurrency\":%d,\"seconds\":%.3f,\"handshakes\":%llu,\"resumed\":%llu,\"failed\":%llu", concurrency,
           wall, (unsigned long long)handshakes_done, (unsigned long long)handshakes_resumed,
           (unsigned long long)handshakes_failed);
    if (saved_session) {
      unsigned int id_len = 0;
      SSL_SESSION_get_id(saved_session, &id_len);
      printf(",\"saved_session\":{\"id_bytes\":%u,\"ticket\":%s}", id_len,
             SSL_SESSION_has_ticket(saved_session) ? "true" : "false");
    }
    printf(",\"per_s\":%.1f", handshakes_done / wall);
    if (server_pid)
      printf(",\"server_cpu_s\":%.3f,\"per_server_cpu_s\":%.1f", cpu, cpu > 0 ? handshakes_done / cpu : 0.0);
    printf(",\"client_cpu_s\":%.3f,\"first_error\":\"%s\"}\n", own, first_error);
    return 0;
  }

  session_count = sessions_wanted;
  sessions = calloc(session_count, sizeof *sessions);
  long rss_before = proc_rss_kb(server_pid);
  int64_t opening_started = now_ns();
  open_all(sessions_wanted);
  double open_seconds = (now_ns() - opening_started) / 1e9;

  if (is_mode("idle")) {
    run_until(now_ns() + 1000000000LL); /* let the server settle (GC, last flights) */
    long rss_after = proc_rss_kb(server_pid);
    /* sessions open now: a server may have ended some while the others were being opened */
    int open_now = 0;
    for (int i = 0; i < session_count; i++) open_now += sessions[i].state == S_OPEN;
    printf("{\"type\":\"ready\",");
    print_common(stdout);
    printf(",\"sessions\":%d,\"established\":%d,\"failed\":%llu,\"open_seconds\":%.3f", open_now,
           established_count, (unsigned long long)open_failures, open_seconds);
    if (server_pid)
      printf(",\"server_rss_before_kb\":%ld,\"server_rss_after_kb\":%ld,\"server_rss_per_session_bytes\":%.0f",
             rss_before, rss_after, open_now ? (rss_after - rss_before) * 1024.0 / open_now : 0.0);
    printf(",\"first_error\":\"%s\"}\n", first_error);
    fflush(stdout);
    /* hold the sessions until stdin closes or a signal */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLHUP, .data.ptr = NULL};
    int stdin_watch = epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &ev) == 0;
    while (!stop_requested) {
      struct epoll_event events[64];
      int n = epoll_wait(epfd, events, 64, 1000);
      for (int i = 0; i < n; i++) {
        if (events[i].data.ptr == NULL) {
          char b[256];
          if (read(0, b, sizeof b) <= 0) stop_requested = 1;
          continue;
        }
        on_readable((session_t *)events[i].data.ptr);
      }
      (void)stdin_watch;
    }
    int still_open = 0;
    for (int i = 0; i < session_count; i++) still_open += sessions[i].state == S_OPEN;
    for (int i = 0; i < session_count; i++) close_session(&sessions[i], 1);
    printf("{\"type\":\"closed\",\"still_open\":%d}\n", still_open);
    return 0;
  }

  /* get / post */
  if (established_count == 0) {
    fprintf(stderr, "dtls-coap-load: no session established: %s\n", first_error);
    printf("{");
    print_common(stdout);
    printf(",\"sessions\":0,\"failed\":%llu,\"first_error\":\"%s\"}\n", (unsigned long long)open_failures,
           first_error);
    return 1;
  }
  if (rate <= 0)
    for (int i = 0; i < session_count; i++)
      if (sessions[i].state == S_OPEN)
        for (int j = 0; j < window_size; j++) send_request(&sessions[i], j);
  next_send_ns = now_ns();
  run_until(now_ns() + (int64_t)(warmup * 1e9));
  double cpu0 = proc_cpu_seconds(server_pid), own0 = own_cpu_seconds();
  uint64_t sent0 = sent;
  double server_wait0 = run_delay_ms(server_pid), own_wait0 = run_delay_ms(0);
  int64_t t0 = now_ns();
  measuring = 1;
  run_window(t0, cpu0);
  measuring = 0;
  double wall = (now_ns() - t0) / 1e9;
  double cpu = proc_cpu_seconds(server_pid) - cpu0, own = own_cpu_seconds() - own0;
  uint64_t sent_in_window = sent - sent0;
  double server_wait = run_delay_ms(server_pid) - server_wait0, own_wait = run_delay_ms(0) - own_wait0;
  qsort(latencies_us, latency_count, sizeof *latencies_us, cmp_u32);
  qsort(send_latencies_us, latency_count, sizeof *send_latencies_us, cmp_u32);
  int still_open = 0;
  for (int i = 0; i < session_count; i++) still_open += sessions[i].state == S_OPEN;

  printf("{");
  print_common(stdout);
  printf(",\"path\":\"%s\",\"sessions\":%d,\"sessions_failed\":%llu,\"sessions_open_at_end\":%d,\"window\":%d",
         path, established_count, (unsigned long long)open_failures, still_open, window_size);
  if (rate > 0)
    printf(",\"offered_per_s\":%.1f,\"offered_but_no_free_slot\":%llu,\"still_waiting_at_end\":%zu", rate,
           (unsigned long long)offered_skipped, waiting_count);
  /* the rates count successes (2.xx) only: an error answer is not a request served */
  printf(",\"seconds\":%.3f,\"sent\":%llu,\"answered\":%llu,\"succeeded\":%llu,\"per_s\":%.1f", wall,
         (unsigned long long)sent_in_window, (unsigned long long)answered, (unsigned long long)succeeded,
         succeeded / wall);
  if (server_pid)
    printf(",\"server_cpu_s\":%.3f,\"per_server_cpu_s\":%.1f", cpu, cpu > 0 ? succeeded / cpu : 0.0);
  /* all requests and answers of the run, warm-up included: to check against the server's own counters */
  printf(",\"sent_total\":%llu,\"answered_total\":%llu", (unsigned long long)sent, (unsigned long long)answered_total);
  printf(",\"client_cpu_s\":%.3f,\"timeouts\":%llu,\"unmatched\":%llu,\"codes\":{", own, (unsigned long long)timeouts,
         (unsigned long long)token_mismatch);
  int first = 1;
  for (int c = 0; c < MAX_CODES; c++)
    if (codes[c]) {
      printf("%s\"%d.%02d\":%llu", first ? "" : ",", c >> 5, c & 31, (unsigned long long)codes[c]);
      first = 0;
    }
  /* fixed rate: latency_ms from the schedule's time (coordinated omission), from_send_ms from the write */
  printf("},\"latency_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f}", percentile_ms(latencies_us, 0.5),
         percentile_ms(latencies_us, 0.99), latency_count ? latencies_us[latency_count - 1] / 1000.0 : 0.0);
  printf(",\"latency_from_send_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f}", percentile_ms(send_latencies_us, 0.5),
         percentile_ms(send_latencies_us, 0.99), latency_count ? send_latencies_us[latency_count - 1] / 1000.0 : 0.0);
  /* waiting for a CPU while runnable, over the window: the machine's share of the tail */
  printf(",\"run_delay_ms\":{\"server\":%.1f,\"load_generator\":%.1f}", server_pid ? server_wait : 0.0, own_wait);
  printf(",\"first_error\":\"%s\"}\n", first_error);
  fflush(stdout);
  stop_requested = 1;
  for (int i = 0; i < session_count; i++) close_session(&sessions[i], 1);
  return 0;
}
