/*
 * dtls-reference-server: the floor of our DTLS handshake figures. A minimal DTLS 1.2 server on the
 * system's OpenSSL doing what the daemon's handshakes do and nothing else: one UDP socket for all
 * peers, a stateless cookie exchange (DTLSv1_listen on a listener SSL, HMAC-SHA256 cookie of the
 * peer's address), mutual authentication (client certificate required, verified against --ca),
 * RFC 5077 tickets under OpenSSL's own ticket keys (no session cache), then one SSL per peer until
 * its close_notify. No CoAP, no limits, no logging: what OpenSSL's handshake costs on this machine.
 * (`openssl s_server -dtls1_2` serves one client at a time, so it cannot take the load generator's
 * concurrent handshakes.)
 *
 *   dtls-reference-server --port P --cert F --key F --ca F [--cipher C] [--mtu M]
 * Prints {"port":P} on stdout when ready; exits on SIGINT/SIGTERM.
 * Build: gcc -O2 -o dtls-reference-server dtls-reference-server.c -lssl -lcrypto
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TABLE_SIZE 65536 /* power of two; open addressing on (address, port) */

typedef struct {
  struct sockaddr_in addr; /* sin_family 0: free slot */
  SSL *ssl;
  BIO *rbio;
} peer_t;

static peer_t table[TABLE_SIZE];
static int fd;
static struct sockaddr_in current; /* the peer whose datagram OpenSSL is handling now */
static unsigned char cookie_secret[32];
static volatile sig_atomic_t stop_requested = 0;
static SSL_CTX *ctx;
static int mtu = 1400;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

/* ---------- a write BIO that sends each write as one datagram to the current peer ---------- */
static int sink_write(BIO *b, const char *data, int len) {
  (void)b;
  sendto(fd, data, (size_t)len, 0, (struct sockaddr *)&current, sizeof current);
  return len;
}
static long sink_ctrl(BIO *b, int cmd, long num, void *ptr) {
  (void)b, (void)num, (void)ptr;
  switch (cmd) {
    case BIO_CTRL_FLUSH:
    case BIO_CTRL_DGRAM_SET_CONNECTED:
    case BIO_CTRL_DGRAM_SET_PEER:
      return 1;
    case BIO_CTRL_DGRAM_QUERY_MTU:
    case BIO_CTRL_DGRAM_GET_FALLBACK_MTU:
      return mtu;
    default:
      return 0;
  }
}
static BIO_METHOD *sink_method;

/* ---------- stateless cookies: HMAC-SHA256(secret, address:port) ---------- */
static void cookie_of(unsigned char *out, unsigned int *len) {
  unsigned char in[6];
  memcpy(in, &current.sin_addr, 4);
  memcpy(in + 4, &current.sin_port, 2);
  HMAC(EVP_sha256(), cookie_secret, sizeof cookie_secret, in, sizeof in, out, len);
}
static int cookie_generate(SSL *ssl, unsigned char *cookie, unsigned int *len) {
  (void)ssl;
  cookie_of(cookie, len);
  return 1;
}
static int cookie_verify(SSL *ssl, const unsigned char *cookie, unsigned int len) {
  (void)ssl;
  unsigned char expected[EVP_MAX_MD_SIZE];
  unsigned int n;
  cookie_of(expected, &n);
  return len == n && CRYPTO_memcmp(cookie, expected, n) == 0;
}

/* ---------- the peer table ---------- */
static uint32_t hash_of(const struct sockaddr_in *a) {
  uint32_t h = a->sin_addr.s_addr * 2654435761u ^ (uint32_t)a->sin_port * 40503u;
  return (h ^ (h >> 16)) & (TABLE_SIZE - 1);
}
static int same(const struct sockaddr_in *a, const struct sockaddr_in *b) {
  return a->sin_addr.s_addr == b->sin_addr.s_addr && a->sin_port == b->sin_port;
}
static peer_t *find(const struct sockaddr_in *a) {
  for (uint32_t i = hash_of(a), n = 0; n < TABLE_SIZE; i = (i + 1) & (TABLE_SIZE - 1), n++) {
    peer_t *p = &table[i];
    if (p->addr.sin_family == 0) return NULL;
    if (same(&p->addr, a)) return p;
  }
  return NULL;
}
static peer_t *insert(const struct sockaddr_in *a) {
  for (uint32_t i = hash_of(a), n = 0; n < TABLE_SIZE; i = (i + 1) & (TABLE_SIZE - 1), n++) {
    peer_t *p = &table[i];
    if (p->addr.sin_family == 0) {
      p->addr = *a;
      return p;
    }
  }
  return NULL;
}
/* Frees the peer's slot; the entries after it in its probe run move back (no tombstones). */
static void drop(peer_t *p) {
  SSL_free(p->ssl);
  uint32_t i = (uint32_t)(p - table);
  memset(&table[i], 0, sizeof table[i]);
  for (uint32_t j = (i + 1) & (TABLE_SIZE - 1); table[j].addr.sin_family != 0; j = (j + 1) & (TABLE_SIZE - 1)) {
    uint32_t k = hash_of(&table[j].addr);
    int stays = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);
    if (stays) continue;
    table[i] = table[j];
    memset(&table[j], 0, sizeof table[j]);
    i = j;
  }
}

static SSL *new_ssl(BIO **rbio) {
  SSL *ssl = SSL_new(ctx);
  *rbio = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(*rbio, -1);
  BIO *wbio = BIO_new(sink_method);
  BIO_set_init(wbio, 1);
  SSL_set_bio(ssl, *rbio, wbio);
  SSL_set_options(ssl, SSL_OP_COOKIE_EXCHANGE);
  SSL_set_mtu(ssl, mtu);
  return ssl;
}

/* Drives a peer's SSL after new input; drops it on close_notify or failure. */
static void drive(peer_t *p) {
  if (!SSL_is_init_finished(p->ssl)) {
    int r = SSL_do_handshake(p->ssl);
    if (r <= 0) {
      int e = SSL_get_error(p->ssl, r);
      if (e != SSL_ERROR_WANT_READ) {
        ERR_clear_error();
        drop(p);
      }
      return;
    }
  }
  unsigned char buf[2048];
  for (;;) {
    int r = SSL_read(p->ssl, buf, sizeof buf);
    if (r > 0) continue; /* application data: not what this server is for */
    int e = SSL_get_error(p->ssl, r);
    if (e == SSL_ERROR_WANT_READ) return;
    if (e == SSL_ERROR_ZERO_RETURN) SSL_shutdown(p->ssl); /* answer the close_notify */
    ERR_clear_error();
    drop(p);
    return;
  }
}

int main(int argc, char **argv) {
  int port = 0;
  const char *cert = NULL, *key = NULL, *ca = NULL, *cipher = "ECDHE-ECDSA-AES128-GCM-SHA256";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--cert")) cert = argv[i + 1];
    else if (!strcmp(argv[i], "--key")) key = argv[i + 1];
    else if (!strcmp(argv[i], "--ca")) ca = argv[i + 1];
    else if (!strcmp(argv[i], "--cipher")) cipher = argv[i + 1];
    else if (!strcmp(argv[i], "--mtu")) mtu = atoi(argv[i + 1]);
  }
  if (!cert || !key || !ca) {
    fprintf(stderr, "usage: dtls-reference-server --port P --cert F --key F --ca F [--cipher C] [--mtu M]\n");
    return 2;
  }
  RAND_bytes(cookie_secret, sizeof cookie_secret);
  ctx = SSL_CTX_new(DTLS_server_method());
  SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, DTLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_QUERY_MTU | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  /* Tickets only (RFC 5077, OpenSSL's own keys): no server-side session state. */
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  static const unsigned char sid_ctx[] = "dtls-reference";
  SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof sid_ctx - 1);
  if (SSL_CTX_set_cipher_list(ctx, cipher) != 1 || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
    ERR_print_errors_fp(stderr);
    return 1;
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
  SSL_CTX_set_cookie_generate_cb(ctx, cookie_generate);
  SSL_CTX_set_cookie_verify_cb(ctx, cookie_verify);
  sink_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "datagram sink");
  BIO_meth_set_write(sink_method, sink_write);
  BIO_meth_set_ctrl(sink_method, sink_ctrl);

  fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  int size = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  struct sockaddr_in bound = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, "127.0.0.1", &bound.sin_addr);
  if (bind(fd, (struct sockaddr *)&bound, sizeof bound) != 0) {
    perror("bind");
    return 1;
  }
  socklen_t blen = sizeof bound;
  getsockname(fd, (struct sockaddr *)&bound, &blen);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  printf("{\"port\":%d}\n", ntohs(bound.sin_port));
  fflush(stdout);

  BIO *listen_rbio;
  SSL *listener = new_ssl(&listen_rbio);
  BIO_ADDR *client = BIO_ADDR_new();
  unsigned char datagram[4096];
  while (!stop_requested) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (poll(&pfd, 1, 200) <= 0) continue;
    for (;;) {
      socklen_t alen = sizeof current;
      ssize_t n = recvfrom(fd, datagram, sizeof datagram, 0, (struct sockaddr *)&current, &alen);
      if (n < 0) break;
      if (current.sin_family != AF_INET) continue;
      peer_t *p = find(&current);
      if (p) {
        BIO_write(p->rbio, datagram, (int)n);
        drive(p);
        continue;
      }
      /* A new peer: stateless until DTLSv1_listen accepts its cookie. */
      (void)BIO_reset(listen_rbio);
      BIO_write(listen_rbio, datagram, (int)n);
      int r = DTLSv1_listen(listener, client);
      ERR_clear_error();
      if (r <= 0) continue; /* a HelloVerifyRequest went out (or the datagram was not a ClientHello) */
      p = insert(&current);
      if (!p) {
        SSL_free(listener);
      } else {
        p->ssl = listener;
        p->rbio = listen_rbio;
        drive(p);
      }
      listener = new_ssl(&listen_rbio);
    }
  }
  return 0;
}
