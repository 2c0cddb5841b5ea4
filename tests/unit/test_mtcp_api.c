/*
 * test_mtcp_api.c - the mOS-style C API (bindings/mtcp_api.h) end to end.
 *
 * Each test writes a small capture with pktbuild's pcap writer into a temp
 * dir, points io.input at it and runs mtcp_app_join, recording what the
 * callbacks see. The mtcp runtime is process-global; Criterion runs every
 * test in its own process, so each test starts from a fresh runtime.
 *
 * Expected values are worked out by hand from the packets below, RFC 793 and
 * docs/events.md (side = the receiving stack; peek(SVR) = client's bytes).
 *
 * The basic conversation (client 10.0.0.1:40000, server 10.0.0.2:80), packet
 * k at T0 + k ms:
 *   1 C SYN      seq 1000
 *   2 S SYN/ACK  seq 5000 ack 1001
 *   3 C ACK      seq 1001 ack 5001
 *   4 C PSH/ACK  seq 1001 ack 5001 "GET / HTTP/1.0\r\n\r\n"          (18 B)
 *   5 S PSH/ACK  seq 5001 ack 1019 "HTTP/1.0 200 OK\r\n\r\nhello"     (24 B)
 *   6 C FIN/ACK  seq 1019 ack 5025
 *   7 S FIN/ACK  seq 5025 ack 1020
 *   8 C ACK      seq 1020 ack 5026
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flow_uid.h"
#include "mtcp_api.h"
#include "pktbuild.h"

#define T0_NS (1700000000ull * 1000000000ull)
#define REQ "GET / HTTP/1.0\r\n\r\n"
#define RSP "HTTP/1.0 200 OK\r\n\r\nhello"

struct pk {
    int dir; /* 0: client -> server, 1: server -> client */
    uint32_t seq, ack;
    uint8_t flags;
    const char *payload;
};

static const struct pk BASIC[] = {
    {0, 1000, 0, PKT_SYN, NULL},
    {1, 5000, 1001, PKT_SYN | PKT_ACK, NULL},
    {0, 1001, 5001, PKT_ACK, NULL},
    {0, 1001, 5001, PKT_PSH | PKT_ACK, REQ},
    {1, 5001, 1019, PKT_PSH | PKT_ACK, RSP},
    {0, 1019, 5025, PKT_FIN | PKT_ACK, NULL},
    {1, 5025, 1020, PKT_FIN | PKT_ACK, NULL},
    {0, 1020, 5026, PKT_ACK, NULL},
};
#define NBASIC (int)(sizeof(BASIC) / sizeof(BASIC[0]))

/* -------------------------------------------------------------- recorder */

#define MAXREC 128
struct rec {
    int sock, side;
    event_t event;
    void *cb;
};

static struct {
    char dir[64];
    char path[128];
    mctx_t m;
    struct rec recs[MAXREC];
    int n;
    int pkts;            /* PKT_IN at HK_SND seen so far (= packet number) */
    char svr_data[256];  /* bytes peeked from the server's buffer (client's data) */
    size_t svr_len;
    char cli_data[256];
    size_t cli_len;
} G;

static void record(int sock, int side, event_t ev, void *cb)
{
    if (G.n < MAXREC)
        G.recs[G.n++] = (struct rec){sock, side, ev, cb};
}

static int count_cb(void *cb)
{
    int k = 0;
    for (int i = 0; i < G.n; i++)
        k += G.recs[i].cb == cb;
    return k;
}

static void write_pcap(const char *name, const char *cli, const char *svr, uint16_t cport, uint16_t sport,
                       const struct pk *p, int n)
{
    snprintf(G.path, sizeof(G.path), "%s/%s", G.dir, name);
    struct pkt_pcap *w = pkt_pcap_open(G.path, 1, false);
    cr_assert_not_null(w);
    for (int i = 0; i < n; i++) {
        uint8_t buf[PKT_MAX];
        struct pkt_spec s = {.src = p[i].dir ? svr : cli, .dst = p[i].dir ? cli : svr,
                             .sport = p[i].dir ? sport : cport, .dport = p[i].dir ? cport : sport,
                             .seq = p[i].seq, .ack = p[i].ack, .flags = p[i].flags,
                             .payload = p[i].payload,
                             .payload_len = p[i].payload ? (uint32_t)strlen(p[i].payload) : 0};
        size_t len = pkt_build(buf, &s);
        cr_assert_gt(len, 0);
        uint64_t ts = T0_NS + (uint64_t)(i + 1) * 1000000ull;
        cr_assert_eq(pkt_pcap_write(w, ts, buf, (uint32_t)len, (uint32_t)len), 0);
    }
    cr_assert_eq(pkt_pcap_close(w), 0);
}

static void write_basic(void)
{
    write_pcap("basic.pcap", "10.0.0.1", "10.0.0.2", 40000, 80, BASIC, NBASIC);
}

static void setup(void)
{
    memset(&G, 0, sizeof(G));
    snprintf(G.dir, sizeof(G.dir), "/tmp/mtcp_api_XXXXXX");
    cr_assert_not_null(mkdtemp(G.dir));
    cr_assert_eq(mtcp_init(NULL), 0);
}

static void teardown(void)
{
    if (G.m)
        mtcp_destroy_context(G.m);
    mtcp_destroy();
    if (G.path[0])
        unlink(G.path);
    rmdir(G.dir);
}

/* Point the runtime at G.path and create context 0. */
static mctx_t open_ctx(void)
{
    char in[200];
    snprintf(in, sizeof(in), "file:%s", G.path);
    cr_assert_eq(mtcp_config_set("io.input", in), 0);
    G.m = mtcp_create_context(0);
    cr_assert_not_null(G.m);
    return G.m;
}

static int stream_sock(mctx_t m)
{
    int s = mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0);
    cr_assert_geq(s, 0);
    cr_assert_lt(s, MTCP_FLOW_SOCK_BASE);
    return s;
}

static void on_pkt_count(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
    (void)m; (void)arg;
    G.pkts++;
    record(sock, side, ev, (void *)on_pkt_count);
}

static void on_rec(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
    (void)m; (void)arg;
    record(sock, side, ev, (void *)on_rec);
}

static void on_rec2(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
    (void)m; (void)arg;
    record(sock, side, ev, (void *)on_rec2);
}

/* ------------------------------------------------------------- lifecycle */

Test(mtcp_api, lifecycle_errors, .init = setup, .fini = teardown)
{
    /* no input configured */
    G.m = mtcp_create_context(0);
    cr_assert_not_null(G.m);
    errno = 0;
    cr_expect_eq(mtcp_app_join(G.m), -1);
    cr_expect_eq(errno, EINVAL);
    /* one context per cpu */
    errno = 0;
    cr_expect_null(mtcp_create_context(0));
    cr_expect_eq(errno, EEXIST);
    errno = 0;
    cr_expect_null(mtcp_create_context(-1));
    cr_expect_eq(errno, EINVAL);
    errno = 0;
    cr_expect_eq(mtcp_destroy_context(NULL), -1);
    cr_expect_eq(errno, EINVAL);
    errno = 0;
    cr_expect_eq(mtcp_config_set("no.such_key", "1"), -1);
    cr_expect_eq(errno, EINVAL);
    errno = 0;
    cr_expect_eq(mtcp_init("/nonexistent/mos.conf"), -1);
    cr_expect_neq(errno, 0);
}

/* ------------------------------------------------------------- sockets */

Test(mtcp_api, socket_and_close, .init = setup, .fini = teardown)
{
    write_basic();
    mctx_t m = open_ctx();
    int a = stream_sock(m);
    int b = mtcp_socket(m, AF_INET6, MOS_SOCK_MONITOR_RAW, 0);
    cr_assert_geq(b, 0);
    cr_expect_neq(a, b);
    errno = 0;
    cr_expect_eq(mtcp_socket(m, AF_UNIX, MOS_SOCK_MONITOR_STREAM, 0), -1);
    cr_expect_eq(errno, EAFNOSUPPORT);
    errno = 0;
    cr_expect_eq(mtcp_socket(m, AF_INET, 99, 0), -1);
    cr_expect_eq(errno, EINVAL);
    errno = 0;
    cr_expect_eq(mtcp_socket(NULL, AF_INET, MOS_SOCK_MONITOR_STREAM, 0), -1);
    cr_expect_eq(errno, EINVAL);
    cr_expect_eq(mtcp_close(m, b), 0);
    errno = 0;
    cr_expect_eq(mtcp_close(m, b), -1);
    cr_expect_eq(errno, EBADF);
    /* a closed id is reused; the table holds 64 sockets in all */
    cr_expect_eq(mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0), b);
    int got = 2;
    while (mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0) >= 0)
        got++;
    cr_expect_eq(errno, EMFILE);
    cr_expect_eq(got, 64);
    /* a closed socket gets no flows: a closed stream socket never sees CONN_START */
    cr_assert_eq(mtcp_close(m, a), 0);
    errno = 0;
    cr_expect_eq(mtcp_register_callback(m, a, MOS_ON_CONN_START, MOS_HK_SND, on_rec), -1);
    cr_expect_eq(errno, EBADF);
}

/* Flows go to the first stream socket whose SYN filter accepts them. */
Test(mtcp_api, bind_monitor_filter, .init = setup, .fini = teardown)
{
    /* two connections: to port 81 then to port 80 */
    static const struct pk two[] = {
        {0, 1000, 0, PKT_SYN, NULL},
    };
    snprintf(G.path, sizeof(G.path), "%s/two.pcap", G.dir);
    struct pkt_pcap *w = pkt_pcap_open(G.path, 1, false);
    cr_assert_not_null(w);
    for (int i = 0; i < 2; i++) {
        uint8_t buf[PKT_MAX];
        struct pkt_spec s = {.src = "10.0.0.1", .dst = "10.0.0.2", .sport = (uint16_t)(40000 + i),
                             .dport = (uint16_t)(81 - i), .seq = two[0].seq, .flags = PKT_SYN};
        size_t len = pkt_build(buf, &s);
        cr_assert_eq(pkt_pcap_write(w, T0_NS + (uint64_t)(i + 1) * 1000000ull, buf, (uint32_t)len,
                                    (uint32_t)len), 0);
    }
    cr_assert_eq(pkt_pcap_close(w), 0);

    mctx_t m = open_ctx();
    int a = stream_sock(m), b = stream_sock(m);
    struct monitor_filter good = {.stream_syn_filter = "tcp dst port 81"};
    struct monitor_filter bad = {.stream_syn_filter = "tcp dst port"};
    cr_expect_eq(mtcp_bind_monitor_filter(m, a, &good), 0);
    errno = 0;
    cr_expect_eq(mtcp_bind_monitor_filter(m, b, &bad), -1);
    cr_expect_eq(errno, EINVAL);
    errno = 0;
    cr_expect_eq(mtcp_bind_monitor_filter(m, b, NULL), -1);
    cr_expect_eq(errno, EINVAL);
    errno = 0;
    cr_expect_eq(mtcp_bind_monitor_filter(m, 40, &good), -1);
    cr_expect_eq(errno, EBADF);
    cr_assert_eq(mtcp_register_callback(m, a, MOS_ON_CONN_START, MOS_HK_SND, on_rec), 0);
    cr_assert_eq(mtcp_register_callback(m, b, MOS_ON_CONN_START, MOS_HK_SND, on_rec2), 0);
    cr_assert_eq(mtcp_app_join(m), 0);
    cr_expect_eq(count_cb((void *)on_rec), 1, "port 81 flow on the filtered socket");
    cr_expect_eq(count_cb((void *)on_rec2), 1, "port 80 flow on the catch-all socket");
}

/* --------------------------------------------------------------- UDEs */

static int g_filter_runs;
static filter_arg_t *g_seen_arg;

/* True when the server's buffer holds "GET" at its start. */
static bool f_has_get(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
    (void)ev; (void)arg;
    g_filter_runs++;
    char b[3];
    return side == MOS_SIDE_SVR && mtcp_ppeek(m, sock, side, b, 3, 0) == 3 && memcmp(b, "GET", 3) == 0;
}

static bool f_arg_true(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
    (void)m; (void)sock; (void)side; (void)ev;
    g_seen_arg = arg;
    return arg && arg->len == 5 && strcmp(arg->arg, "magic") == 0;
}

static bool f_false(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
    (void)m; (void)sock; (void)side; (void)ev; (void)arg;
    return false;
}

Test(mtcp_api, define_event_nested, .init = setup, .fini = teardown)
{
    write_basic();
    /* defined before any context: ids are handed out from MOS_UDE_FIRST */
    event_t get = mtcp_define_event(MOS_ON_CONN_NEW_DATA, f_has_get, NULL);
    cr_assert_eq(get, MOS_UDE_FIRST);
    filter_arg_t fa = {.arg = "magic", .len = 5};
    event_t magic = mtcp_define_event(get, f_arg_true, &fa);
    cr_assert_eq(magic, MOS_UDE_FIRST + 1);
    errno = 0;
    cr_expect_eq(mtcp_define_event(MOS_ON_CONN_NEW_DATA, NULL, NULL), -1);
    cr_expect_eq(errno, EINVAL);
    errno = 0;
    cr_expect_eq(mtcp_define_event(MOS_UDE_FIRST + 9, f_false, NULL), -1, "undefined base");
    cr_expect_eq(errno, EINVAL);
    errno = 0;
    cr_expect_eq(mtcp_define_event(MOS_BUILTIN_EVENTS, f_false, NULL), -1, "not an event");
    cr_expect_eq(errno, EINVAL);

    mctx_t m = open_ctx();
    /* defined after the context exists: same numbering continues */
    event_t never = mtcp_define_event(magic, f_false, NULL);
    cr_assert_eq(never, MOS_UDE_FIRST + 2);
    errno = 0;
    cr_expect_eq(mtcp_define_event(MOS_UDE_FIRST + 9, f_false, NULL), -1);
    cr_expect_eq(errno, EINVAL);

    int s = stream_sock(m);
    cr_assert_eq(mtcp_register_callback(m, s, magic, MOS_HK_RCV, on_rec), 0);
    cr_assert_eq(mtcp_register_callback(m, s, never, MOS_HK_RCV, on_rec2), 0);
    /* a UDE on CONN_NEW_DATA inherits its hooks: not at HK_SND */
    errno = 0;
    cr_expect_eq(mtcp_register_callback(m, s, magic, MOS_HK_SND, on_rec), -1);
    cr_expect_eq(errno, EINVAL);
    cr_assert_eq(mtcp_app_join(m), 0);

    /* NEW_DATA twice (request to SVR, response to CLI): the GET filter runs
     * for both, is true once; magic's filter saw our arg copy */
    cr_expect_eq(g_filter_runs, 2);
    cr_assert_eq(count_cb((void *)on_rec), 1);
    cr_expect_eq(G.recs[0].event, magic);
    cr_expect_eq(G.recs[0].side, MOS_SIDE_SVR);
    cr_expect_geq(G.recs[0].sock, MTCP_FLOW_SOCK_BASE);
    cr_expect_eq(count_cb((void *)on_rec2), 0);
    cr_assert_not_null(g_seen_arg);
    cr_expect_eq(g_seen_arg->len, 5);
}

/* ----------------------------------------------- register / unregister */

Test(mtcp_api, register_errors, .init = setup, .fini = teardown)
{
    write_basic();
    mctx_t m = open_ctx();
    int s = stream_sock(m);
    int r = mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_RAW, 0);
    struct { int sock; event_t ev; int hook; callback_t cb; int err; } bad[] = {
        {s, MOS_ON_PKT_IN, 7, on_rec, EINVAL},
        {s, MOS_ON_PKT_IN, -1, on_rec, EINVAL},
        {s, MOS_ON_CONN_NEW_DATA, MOS_HK_SND, on_rec, EINVAL},
        {s, MOS_ON_PKT_IN, MOS_HK_NONE, on_rec, EINVAL},
        {s, MOS_ON_ORPHAN, MOS_HK_SND, on_rec, EINVAL},
        {s, 12345, MOS_HK_RCV, on_rec, EINVAL},
        {s, MOS_ON_PKT_IN, MOS_HK_SND, NULL, EINVAL},
        {r, MOS_ON_PKT_IN, MOS_HK_SND, on_rec, EINVAL},
        {33, MOS_ON_PKT_IN, MOS_HK_SND, on_rec, EBADF},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        errno = 0;
        cr_expect_eq(mtcp_register_callback(m, bad[i].sock, bad[i].ev, bad[i].hook, bad[i].cb), -1, "case %zu", i);
        cr_expect_eq(errno, bad[i].err, "case %zu: errno %d", i, errno);
    }
    cr_expect_eq(mtcp_register_callback(m, r, MOS_ON_PKT_IN, MOS_HK_NONE, on_rec), 0);
    errno = 0;
    cr_expect_eq(mtcp_unregister_callback(m, s, MOS_ON_PKT_IN, 9), -1);
    cr_expect_eq(errno, EINVAL);
    errno = 0;
    cr_expect_eq(mtcp_unregister_callback(m, s, MOS_ON_PKT_IN, MOS_HK_SND), -1, "nothing registered");
    cr_expect_eq(errno, ENOENT);
    errno = 0;
    cr_expect_eq(mtcp_unregister_callback(m, 33, MOS_ON_PKT_IN, MOS_HK_SND), -1);
    cr_expect_eq(errno, EBADF);
}

/* Unregister removes every handler of the event at that hook, and only it. */
Test(mtcp_api, unregister_socket_level, .init = setup, .fini = teardown)
{
    write_basic();
    mctx_t m = open_ctx();
    int s = stream_sock(m);
    cr_assert_eq(mtcp_register_callback(m, s, MOS_ON_PKT_IN, MOS_HK_SND, on_rec), 0);
    cr_assert_eq(mtcp_register_callback(m, s, MOS_ON_PKT_IN, MOS_HK_SND, on_rec2), 0);
    cr_assert_eq(mtcp_register_callback(m, s, MOS_ON_PKT_IN, MOS_HK_RCV, on_pkt_count), 0);
    cr_assert_eq(mtcp_unregister_callback(m, s, MOS_ON_PKT_IN, MOS_HK_SND), 0);
    cr_assert_eq(mtcp_app_join(m), 0);
    cr_expect_eq(count_cb((void *)on_rec), 0);
    cr_expect_eq(count_cb((void *)on_rec2), 0);
    cr_expect_eq(count_cb((void *)on_pkt_count), NBASIC);
}

/* Per-flow pairs: registered from CONN_START for that flow only, removed
 * again from the flow's first NEW_DATA. */
static void on_start_add_flow(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
    (void)side; (void)ev; (void)arg;
    cr_assert_geq(sock, MTCP_FLOW_SOCK_BASE);
    cr_assert_eq(mtcp_register_callback(m, sock, MOS_ON_PKT_IN, MOS_HK_RCV, on_pkt_count), 0);
    cr_assert_eq(mtcp_register_callback(m, sock, MOS_ON_CONN_NEW_DATA, MOS_HK_RCV, on_rec), 0);
    errno = 0;
    cr_expect_eq(mtcp_register_callback(m, sock, MOS_ON_PKT_IN, 5, on_rec), -1);
    cr_expect_eq(errno, EINVAL);
}

static void on_data_drop_pkt(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
    (void)side; (void)ev; (void)arg;
    static int calls;
    if (calls++ == 0)
        cr_assert_eq(mtcp_unregister_callback(m, sock, MOS_ON_PKT_IN, MOS_HK_RCV), 0);
    errno = 0;
    cr_expect_eq(mtcp_unregister_callback(m, sock, MOS_ON_PKT_IN, MOS_HK_RCV), -1);
    cr_expect_eq(errno, ENOENT);
}

Test(mtcp_api, register_per_flow, .init = setup, .fini = teardown)
{
    write_basic();
    mctx_t m = open_ctx();
    int s = stream_sock(m);
    cr_assert_eq(mtcp_register_callback(m, s, MOS_ON_CONN_START, MOS_HK_SND, on_start_add_flow), 0);
    cr_assert_eq(mtcp_register_callback(m, s, MOS_ON_CONN_NEW_DATA, MOS_HK_NONE, on_data_drop_pkt), 0);
    cr_assert_eq(mtcp_app_join(m), 0);
    /* Packet 4's receiver update raises NEW_DATA (RCV, then NONE) before its
     * PKT_IN at RCV, so the per-flow PKT_IN handler is gone by then: it
     * ran for packets 1, 2, 3. */
    cr_expect_eq(count_cb((void *)on_pkt_count), 3);
    /* both NEW_DATA (request, response) reach the per-flow handler */
    cr_expect_eq(count_cb((void *)on_rec), 2);
}

/* ---------------------------------------------------------- raise_event */

static event_t g_ude;

static void on_data_raise(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
    (void)ev; (void)arg;
    if (side != MOS_SIDE_SVR)
        return;
    cr_assert_eq(mtcp_raise_event(m, sock, MOS_SIDE_CLI, g_ude), 0);
    errno = 0;
    cr_expect_eq(mtcp_raise_event(m, sock, MOS_SIDE_CLI, MOS_ON_CONN_START), -1, "built-ins are not raised");
    cr_expect_eq(errno, EINVAL);
    errno = 0;
    cr_expect_eq(mtcp_raise_event(m, sock, 7, g_ude), -1);
    cr_expect_eq(errno, EINVAL);
    errno = 0;
    cr_expect_eq(mtcp_raise_event(m, 3, MOS_SIDE_CLI, g_ude), -1);
    cr_expect_eq(errno, EBADF);
    record(sock, side, ev, (void *)on_data_raise);
}

Test(mtcp_api, raise_event, .init = setup, .fini = teardown)
{
    write_basic();
    mctx_t m = open_ctx();
    g_ude = mtcp_define_event(MOS_ON_CONN_NEW_DATA, f_false, NULL);
    cr_assert_geq(g_ude, MOS_UDE_FIRST);
    int s = stream_sock(m);
    cr_assert_eq(mtcp_register_callback(m, s, MOS_ON_CONN_NEW_DATA, MOS_HK_RCV, on_data_raise), 0);
    cr_assert_eq(mtcp_register_callback(m, s, g_ude, MOS_HK_RCV, on_rec), 0);
    cr_assert_eq(mtcp_app_join(m), 0);
    /* the filter never passes, so on_rec runs only for the explicit raise,
     * right after the handler that raised it, with the raised side */
    cr_assert_eq(count_cb((void *)on_rec), 1);
    int i = 0;
    while (G.recs[i].cb != (void *)on_data_raise)
        i++;
    cr_assert_eq(G.recs[i + 1].cb, (void *)on_rec);
    cr_expect_eq(G.recs[i + 1].event, g_ude);
    cr_expect_eq(G.recs[i + 1].side, MOS_SIDE_CLI);
    cr_expect_eq(G.recs[i + 1].sock, G.recs[i].sock);
}

/* ----------------------------------------------------------------- uctx */

static int g_token = 42;
static int g_uctx_ok;

static void on_start_uctx(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
    (void)side; (void)ev; (void)arg;
    cr_expect_null(mtcp_get_uctx(m, sock));
    mtcp_set_uctx(m, sock, &g_token);
}

static void on_end_uctx(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
    (void)side; (void)ev; (void)arg;
    if (mtcp_get_uctx(m, sock) == &g_token)
        g_uctx_ok++;
}

Test(mtcp_api, uctx, .init = setup, .fini = teardown)
{
    write_basic();
    mctx_t m = open_ctx();
    int s = stream_sock(m);
    cr_assert_eq(mtcp_register_callback(m, s, MOS_ON_CONN_START, MOS_HK_SND, on_start_uctx), 0);
    cr_assert_eq(mtcp_register_callback(m, s, MOS_ON_CONN_END, MOS_HK_NONE, on_end_uctx), 0);
    mtcp_set_uctx(m, s, &g_token); /* a monitor socket has none: ignored */
    cr_expect_null(mtcp_get_uctx(m, s));
    cr_expect_null(mtcp_get_uctx(NULL, MTCP_FLOW_SOCK_BASE));
    cr_assert_eq(mtcp_app_join(m), 0);
    cr_expect_eq(g_uctx_ok, 1);
}

/* ------------------------------------------------------------ peek/ppeek */

static void on_data_peek(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
    (void)ev; (void)arg;
    char b[256];
    if (side == MOS_SIDE_SVR) {
        cr_expect_eq(mtcp_ppeek(m, sock, side, b, 3, 0), 3);
        cr_expect_eq(memcmp(b, "GET", 3), 0);
        cr_expect_eq(mtcp_ppeek(m, sock, side, b, 100, 15), 3, "ppeek clips at the end of data");
        cr_expect_eq(memcmp(b, "\n\r\n", 3), 0);
        cr_expect_eq(mtcp_ppeek(m, sock, side, b, 10, 18), 0, "ppeek at the end of data");
        cr_expect_eq(mtcp_ppeek(m, sock, side, b, 10, 1000), 0, "ppeek past the end of data");
        /* ppeek does not consume: peek still returns everything, in two reads */
        ssize_t n1 = mtcp_peek(m, sock, side, b, 4);
        cr_assert_eq(n1, 4);
        ssize_t n2 = mtcp_peek(m, sock, side, b + 4, sizeof(b) - 4);
        cr_assert_eq(n2, 14);
        memcpy(G.svr_data, b, 18);
        G.svr_len = 18;
        cr_expect_eq(mtcp_peek(m, sock, side, b, sizeof(b)), 0, "peek at the end of data");
        cr_expect_eq(mtcp_ppeek(m, sock, side, b, 4, 4), 4, "read bytes stay ppeek-able");
        cr_expect_eq(memcmp(b, "/ HT", 4), 0);
    }
    errno = 0;
    cr_expect_eq(mtcp_peek(m, sock, 5, b, 1), -1);
    cr_expect_eq(errno, EINVAL);
    errno = 0;
    cr_expect_eq(mtcp_peek(m, 7, side, b, 1), -1);
    cr_expect_eq(errno, EBADF);
    errno = 0;
    cr_expect_eq(mtcp_ppeek(m, 7, side, b, 1, 0), -1);
    cr_expect_eq(errno, EBADF);
}

/* The client's buffer is left unread until the end: CONN_END sees it all. */
static void on_end_peek(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
    (void)side; (void)ev; (void)arg;
    ssize_t n = mtcp_peek(m, sock, MOS_SIDE_CLI, G.cli_data, sizeof(G.cli_data));
    cr_assert_geq(n, 0);
    G.cli_len = (size_t)n;
    cr_expect_eq(mtcp_peek(m, sock, MOS_SIDE_SVR, G.cli_data + 200, 10), 0);
}

Test(mtcp_api, peek_ppeek, .init = setup, .fini = teardown)
{
    write_basic();
    mctx_t m = open_ctx();
    int s = stream_sock(m);
    cr_assert_eq(mtcp_register_callback(m, s, MOS_ON_CONN_NEW_DATA, MOS_HK_RCV, on_data_peek), 0);
    cr_assert_eq(mtcp_register_callback(m, s, MOS_ON_CONN_END, MOS_HK_RCV, on_end_peek), 0);
    errno = 0;
    char b[4];
    cr_expect_eq(mtcp_peek(m, s, MOS_SIDE_SVR, b, 4), -1, "a monitor socket has no stream");
    cr_expect_eq(errno, EBADF);
    cr_assert_eq(mtcp_app_join(m), 0);
    cr_assert_eq(G.svr_len, 18);
    cr_expect_eq(memcmp(G.svr_data, REQ, 18), 0);
    cr_assert_eq(G.cli_len, 24);
    cr_expect_eq(memcmp(G.cli_data, RSP, 24), 0);
}

/* ------------------------------------------------------------ getlastpkt */

static int g_lastpkt_checked;

static void on_pkt_last(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
    (void)ev; (void)arg;
    G.pkts++;
    struct pkt_info pi;
    cr_assert_eq(mtcp_getlastpkt(m, sock, side, &pi), 0);
    const struct pk *p = &BASIC[G.pkts - 1];
    cr_expect_eq(pi.cur_ts_ns, T0_NS + (uint64_t)G.pkts * 1000000ull, "packet %d", G.pkts);
    cr_expect_eq(pi.seq, p->seq);
    cr_expect_eq(pi.ack, p->ack);
    cr_expect_eq(pi.tcp_flags, p->flags);
    cr_expect_eq(pi.ip_ver, 4);
    uint32_t pl = p->payload ? (uint32_t)strlen(p->payload) : 0;
    /* Ethernet 14 + IPv4 20 + TCP 20 (+ no options) */
    cr_expect_eq(pi.payloadlen, pl);
    cr_expect_eq(pi.ip_len, 40 + pl);
    cr_expect_eq(pi.frame_len, 54 + pl);
    cr_expect_eq(pi.window, 65535);
    cr_assert_not_null(pi.frame);
    cr_expect_eq(pi.iph, pi.frame + 14);
    cr_expect_eq(pi.tcph, pi.frame + 34);
    cr_expect_eq(pi.iph[0] >> 4, 4);
    cr_expect_eq(pi.tcph[13], p->flags);
    if (pl) {
        cr_expect_eq(pi.payload, pi.frame + 54);
        cr_expect_eq(memcmp(pi.payload, p->payload, pl), 0);
    }
    /* the sender's side at HK_SND */
    cr_expect_eq(side, p->dir ? MOS_SIDE_SVR : MOS_SIDE_CLI);
    g_lastpkt_checked++;
}

Test(mtcp_api, getlastpkt, .init = setup, .fini = teardown)
{
    write_basic();
    mctx_t m = open_ctx();
    int s = stream_sock(m);
    cr_assert_eq(mtcp_register_callback(m, s, MOS_ON_PKT_IN, MOS_HK_SND, on_pkt_last), 0);
    cr_assert_eq(mtcp_app_join(m), 0);
    cr_expect_eq(g_lastpkt_checked, NBASIC);
    struct pkt_info pi;
    errno = 0;
    cr_expect_eq(mtcp_getlastpkt(m, s, 0, &pi), -1, "no packet outside the loop");
    cr_expect_eq(errno, ENODATA);
    errno = 0;
    cr_expect_eq(mtcp_getlastpkt(m, s, 0, NULL), -1);
    cr_expect_eq(errno, EINVAL);
    errno = 0;
    cr_expect_eq(mtcp_setlastpkt(m, s, 0, 0, (const uint8_t *)"x", 1, MOS_TCP_PL), -1, "no packet outside the loop");
    cr_expect_eq(errno, ENODATA);
    errno = 0;
    cr_expect_eq(mtcp_setlastpkt(m, s, 0, 0, (const uint8_t *)"x", 1, MOS_ETH_HDR), -1);
    cr_expect_eq(errno, ENOTSUP);
}

/* ------------------------------------------------------------ getsockopt */

static int g_states[NBASIC + 1][2];

static void on_pkt_states(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
    (void)side; (void)ev; (void)arg;
    G.pkts++;
    int v = -1;
    socklen_t l = sizeof(v);
    cr_assert_eq(mtcp_getsockopt(m, sock, SOL_MONSOCKET, MOS_TCP_STATE_CLI, &v, &l), 0);
    cr_expect_eq(l, sizeof(int));
    g_states[G.pkts][0] = v;
    l = sizeof(v);
    cr_assert_eq(mtcp_getsockopt(m, sock, SOL_MONSOCKET, MOS_TCP_STATE_SVR, &v, &l), 0);
    g_states[G.pkts][1] = v;
}

Test(mtcp_api, getsockopt_states, .init = setup, .fini = teardown)
{
    write_basic();
    mctx_t m = open_ctx();
    int s = stream_sock(m);
    /* at HK_RCV: both endpoints updated for the packet */
    cr_assert_eq(mtcp_register_callback(m, s, MOS_ON_PKT_IN, MOS_HK_RCV, on_pkt_states), 0);
    cr_assert_eq(mtcp_app_join(m), 0);
    cr_assert_eq(G.pkts, NBASIC);
    static const int want[NBASIC + 1][2] = {
        {0, 0},
        {MOS_TCP_SYN_SENT, MOS_TCP_SYN_RCVD},       /* SYN */
        {MOS_TCP_ESTABLISHED, MOS_TCP_SYN_RCVD},    /* SYN/ACK */
        {MOS_TCP_ESTABLISHED, MOS_TCP_ESTABLISHED}, /* ACK */
        {MOS_TCP_ESTABLISHED, MOS_TCP_ESTABLISHED},
        {MOS_TCP_ESTABLISHED, MOS_TCP_ESTABLISHED},
        {MOS_TCP_FIN_WAIT_1, MOS_TCP_CLOSE_WAIT},   /* client FIN */
        {MOS_TCP_TIME_WAIT, MOS_TCP_LAST_ACK},      /* server FIN, acks the client's */
        {MOS_TCP_TIME_WAIT, MOS_TCP_CLOSED},        /* last ACK */
    };
    for (int i = 1; i <= NBASIC; i++)
        cr_expect(g_states[i][0] == want[i][0] && g_states[i][1] == want[i][1],
                  "after packet %d: cli %s svr %s, want %s %s", i, mos_tcp_state_name(g_states[i][0]),
                  mos_tcp_state_name(g_states[i][1]), mos_tcp_state_name(want[i][0]),
                  mos_tcp_state_name(want[i][1]));
}

/* Flow identity through getsockopt: the Community ID of 10.0.0.1:40000 ->
 * 10.0.0.2:80 over TCP, seed 0, worked out with Python's hashlib from the
 * spec's byte layout; the uid carries core.instance_id (flow_uid_parse). */
static char g_cid[64], g_uid[64];

static void on_start_ids(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
    (void)side; (void)ev; (void)arg;
    socklen_t l = sizeof(g_cid);
    cr_assert_eq(mtcp_getsockopt(m, sock, SOL_MONSOCKET, MOS_FLOW_COMMUNITY_ID, g_cid, &l), 0);
    cr_expect_eq(l, strlen(g_cid) + 1);
    l = sizeof(g_uid);
    cr_assert_eq(mtcp_getsockopt(m, sock, SOL_MONSOCKET, MOS_FLOW_UID, g_uid, &l), 0);
    char small[8];
    l = sizeof(small);
    errno = 0;
    cr_expect_eq(mtcp_getsockopt(m, sock, SOL_MONSOCKET, MOS_FLOW_UID, small, &l), -1);
    cr_expect_eq(errno, EINVAL);
}

Test(mtcp_api, getsockopt_flow_identity, .init = setup, .fini = teardown)
{
    write_basic();
    cr_assert_eq(mtcp_config_set("core.instance_id", "4242"), 0);
    mctx_t m = open_ctx();
    int s = stream_sock(m);
    cr_assert_eq(mtcp_register_callback(m, s, MOS_ON_CONN_START, MOS_HK_SND, on_start_ids), 0);
    cr_assert_eq(mtcp_app_join(m), 0);
    cr_expect_str_eq(g_cid, "1:3k1SoWXs/FltHw2aBCgUTgbDQF4=");
    uint64_t run, id;
    uint16_t inst;
    cr_assert_eq(flow_uid_parse(g_uid, &run, &inst, &id), 0, "uid '%s'", g_uid);
    cr_expect_eq(inst, 4242);
    cr_expect_gt(run, 1700000000000ull, "run start in ms since the epoch");
}

static int g_opt_checked;

static void on_data_bufinfo(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
    (void)ev; (void)arg;
    struct tcp_buf_info bi;
    socklen_t l = sizeof(bi);
    int opt = side == MOS_SIDE_SVR ? MOS_INFO_SVRBUF : MOS_INFO_CLIBUF;
    uint64_t len = side == MOS_SIDE_SVR ? 18 : 24;
    cr_assert_eq(mtcp_getsockopt(m, sock, SOL_MONSOCKET, opt, &bi, &l), 0);
    cr_expect_eq(l, sizeof(bi));
    cr_expect_eq(bi.next_expected, len);
    cr_expect_eq(bi.last_received, len);
    cr_expect_eq(bi.unread, len);
    cr_expect_eq(bi.gap_bytes, 0);
    char b[8];
    cr_assert_eq(mtcp_peek(m, sock, side, b, 8), 8);
    l = sizeof(bi);
    cr_assert_eq(mtcp_getsockopt(m, sock, SOL_MONSOCKET, opt, &bi, &l), 0);
    cr_expect_eq(bi.unread, len - 8);
    cr_expect_eq(bi.last_received, len);
    /* no holes */
    struct tcp_gap_info gi[4];
    l = sizeof(gi);
    cr_assert_eq(mtcp_getsockopt(m, sock, SOL_MONSOCKET, side == MOS_SIDE_SVR ? MOS_FRAGINFO_SVRBUF
                                                                              : MOS_FRAGINFO_CLIBUF, gi, &l), 0);
    cr_expect_eq(l, 0);
    /* buffering is on by default */
    int v = 0;
    l = sizeof(v);
    cr_assert_eq(mtcp_getsockopt(m, sock, SOL_MONSOCKET, MOS_CLIBUF, &v, &l), 0);
    cr_expect_eq(v, 1);
    /* errors */
    l = sizeof(bi) - 1;
    errno = 0;
    cr_expect_eq(mtcp_getsockopt(m, sock, SOL_MONSOCKET, opt, &bi, &l), -1);
    cr_expect_eq(errno, EINVAL);
    l = sizeof(v);
    errno = 0;
    cr_expect_eq(mtcp_getsockopt(m, sock, 6 /* SOL_TCP */, MOS_TCP_STATE_CLI, &v, &l), -1);
    cr_expect_eq(errno, EINVAL);
    errno = 0;
    cr_expect_eq(mtcp_getsockopt(m, sock, SOL_MONSOCKET, 999, &v, &l), -1);
    cr_expect_eq(errno, ENOPROTOOPT);
    errno = 0;
    cr_expect_eq(mtcp_getsockopt(m, 5, SOL_MONSOCKET, MOS_TCP_STATE_CLI, &v, &l), -1);
    cr_expect_eq(errno, EBADF);
    g_opt_checked++;
}

Test(mtcp_api, getsockopt_buffer_info, .init = setup, .fini = teardown)
{
    write_basic();
    mctx_t m = open_ctx();
    int s = stream_sock(m);
    cr_assert_eq(mtcp_register_callback(m, s, MOS_ON_CONN_NEW_DATA, MOS_HK_RCV, on_data_bufinfo), 0);
    cr_assert_eq(mtcp_app_join(m), 0);
    cr_expect_eq(g_opt_checked, 2);
}

/* Client sends "AAAA" (offset 0), "BBBB" (4) is never captured, "CCCC" (8);
 * the server acknowledges all 12 bytes, so the hole [4, 8) is skipped. */
static const struct pk GAPPY[] = {
    {0, 1000, 0, PKT_SYN, NULL},
    {1, 5000, 1001, PKT_SYN | PKT_ACK, NULL},
    {0, 1001, 5001, PKT_ACK, NULL},
    {0, 1001, 5001, PKT_PSH | PKT_ACK, "AAAA"},
    {0, 1009, 5001, PKT_PSH | PKT_ACK, "CCCC"},
    {1, 5001, 1013, PKT_ACK, NULL},
};

static int g_gap_events;

static void on_gap(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
    (void)ev; (void)arg;
    g_gap_events++;
    cr_expect_eq(side, MOS_SIDE_SVR);
    struct tcp_gap_info gi[4];
    socklen_t l = sizeof(gi);
    cr_assert_eq(mtcp_getsockopt(m, sock, SOL_MONSOCKET, MOS_FRAGINFO_SVRBUF, gi, &l), 0);
    cr_assert_eq(l, sizeof(gi[0]));
    cr_expect_eq(gi[0].start, 4);
    cr_expect_eq(gi[0].end, 8);
    /* room for none: nothing written, length 0 */
    l = sizeof(gi[0]) - 1;
    cr_assert_eq(mtcp_getsockopt(m, sock, SOL_MONSOCKET, MOS_FRAGINFO_SVRBUF, gi, &l), 0);
    cr_expect_eq(l, 0);
    l = sizeof(gi);
    cr_assert_eq(mtcp_getsockopt(m, sock, SOL_MONSOCKET, MOS_FRAGINFO_CLIBUF, gi, &l), 0);
    cr_expect_eq(l, 0);
}

static void on_data_collect(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
    (void)ev; (void)arg;
    if (side != MOS_SIDE_SVR)
        return;
    ssize_t n = mtcp_peek(m, sock, side, G.svr_data + G.svr_len, sizeof(G.svr_data) - G.svr_len);
    cr_assert_geq(n, 0);
    G.svr_len += (size_t)n;
    if (G.svr_len == 8) {
        struct tcp_buf_info bi;
        socklen_t l = sizeof(bi);
        cr_assert_eq(mtcp_getsockopt(m, sock, SOL_MONSOCKET, MOS_INFO_SVRBUF, &bi, &l), 0);
        cr_expect_eq(bi.next_expected, 12);
        cr_expect_eq(bi.last_received, 8);
        cr_expect_eq(bi.unread, 0);
        cr_expect_eq(bi.gap_bytes, 4);
    }
}

Test(mtcp_api, getsockopt_gap_info, .init = setup, .fini = teardown)
{
    write_pcap("gap.pcap", "10.0.0.1", "10.0.0.2", 40000, 80, GAPPY, 6);
    mctx_t m = open_ctx();
    int s = stream_sock(m);
    cr_assert_eq(mtcp_register_callback(m, s, MOS_ON_GAP, MOS_HK_RCV, on_gap), 0);
    cr_assert_eq(mtcp_register_callback(m, s, MOS_ON_CONN_NEW_DATA, MOS_HK_RCV, on_data_collect), 0);
    cr_assert_eq(mtcp_app_join(m), 0);
    cr_expect_eq(g_gap_events, 1);
    cr_assert_eq(G.svr_len, 8);
    cr_expect_eq(memcmp(G.svr_data, "AAAACCCC", 8), 0);
}

static void on_gap_count(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
    (void)m; (void)sock; (void)ev; (void)arg;
    cr_expect_eq(side, MOS_SIDE_SVR);
    g_gap_events++;
}

static void on_data_collect_any(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
    (void)ev; (void)arg;
    if (side != MOS_SIDE_SVR)
        return;
    ssize_t n = mtcp_peek(m, sock, side, G.svr_data + G.svr_len, sizeof(G.svr_data) - G.svr_len);
    cr_assert_geq(n, 0);
    G.svr_len += (size_t)n;
}

/* Buffering switched off and back on while segments are held out of order
 * (issue 10, defect 5): "CCCC" is held with its bytes when the server's
 * buffer goes off, "DDDD" is held as a range when it comes back on. Turning
 * it on drops ranges held without bytes (they were never stored), so when
 * "BBBB" fills the first hole the stream is "AAAABBBB" and the server's ack
 * of everything makes [8, 16) a gap. Under ASan this also checks that no
 * byte that was never stored is read. */
static const struct pk TOGGLE[] = {
    {0, 1000, 0, PKT_SYN, NULL},
    {1, 5000, 1001, PKT_SYN | PKT_ACK, NULL},
    {0, 1001, 5001, PKT_ACK, NULL},
    {0, 1001, 5001, PKT_PSH | PKT_ACK, "AAAA"},
    {0, 1009, 5001, PKT_PSH | PKT_ACK, "CCCC"},
    {0, 1013, 5001, PKT_PSH | PKT_ACK, "DDDD"},
    {0, 1005, 5001, PKT_PSH | PKT_ACK, "BBBB"},
    {1, 5001, 1017, PKT_ACK, NULL},
};

static int g_toggle_pkts;

static void on_pkt_toggle(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
    (void)side; (void)ev; (void)arg;
    int v = -1, zero = 0, on = 65536;
    socklen_t l = sizeof(v);
    g_toggle_pkts++;
    if (g_toggle_pkts == 5) /* "CCCC" held */
        cr_assert_eq(mtcp_setsockopt(m, sock, SOL_MONSOCKET, MOS_SVRBUF, &zero, sizeof(zero)), 0);
    if (g_toggle_pkts == 6) /* "DDDD" held as a range: re-enabling is allowed */
        cr_assert_eq(mtcp_setsockopt(m, sock, SOL_MONSOCKET, MOS_SVRBUF, &on, sizeof(on)), 0);
    if (g_toggle_pkts == 5 || g_toggle_pkts == 6) {
        cr_assert_eq(mtcp_getsockopt(m, sock, SOL_MONSOCKET, MOS_SVRBUF, &v, &l), 0);
        cr_expect_eq(v, g_toggle_pkts == 6);
    }
}

Test(mtcp_api, setsockopt_buffer_toggled_with_held_data, .init = setup, .fini = teardown)
{
    write_pcap("toggle.pcap", "10.0.0.1", "10.0.0.2", 40000, 80, TOGGLE, 8);
    mctx_t m = open_ctx();
    int s = stream_sock(m);
    cr_assert_eq(mtcp_register_callback(m, s, MOS_ON_PKT_IN, MOS_HK_RCV, on_pkt_toggle), 0);
    cr_assert_eq(mtcp_register_callback(m, s, MOS_ON_GAP, MOS_HK_RCV, on_gap_count), 0);
    cr_assert_eq(mtcp_register_callback(m, s, MOS_ON_CONN_NEW_DATA, MOS_HK_RCV, on_data_collect_any), 0);
    cr_assert_eq(mtcp_app_join(m), 0);
    cr_expect_eq(g_toggle_pkts, 8);
    cr_assert_eq(G.svr_len, 8);
    cr_expect_eq(memcmp(G.svr_data, "AAAABBBB", 8), 0);
    cr_expect_eq(g_gap_events, 1);
}

/* ------------------------------------------------------------ setsockopt */

static int g_new_data[2];
static ssize_t g_peeked[2];

static void on_data_count(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
    (void)ev; (void)arg;
    char b[64];
    g_new_data[side]++;
    g_peeked[side] += mtcp_peek(m, sock, side, b, sizeof(b));
}

/* MOS_CLIBUF = 0 on the monitor socket: new flows do not store the bytes the
 * client receives; NEW_DATA still reports them, peek finds nothing. */
Test(mtcp_api, setsockopt_clibuf_default, .init = setup, .fini = teardown)
{
    write_basic();
    mctx_t m = open_ctx();
    int s = stream_sock(m);
    int zero = 0;
    cr_assert_eq(mtcp_setsockopt(m, s, SOL_MONSOCKET, MOS_CLIBUF, &zero, sizeof(zero)), 0);
    errno = 0;
    cr_expect_eq(mtcp_setsockopt(m, s, SOL_MONSOCKET, MOS_CLIBUF, &zero, 1), -1);
    cr_expect_eq(errno, EINVAL);
    errno = 0;
    cr_expect_eq(mtcp_setsockopt(m, s, SOL_MONSOCKET, MOS_TCP_STATE_CLI, &zero, sizeof(zero)), -1);
    cr_expect_eq(errno, EPERM, "read only (the same answer as the Lua binding's)");
    errno = 0;
    cr_expect_eq(mtcp_setsockopt(m, s, 0, MOS_CLIBUF, &zero, sizeof(zero)), -1);
    cr_expect_eq(errno, EINVAL);
    cr_assert_eq(mtcp_register_callback(m, s, MOS_ON_CONN_NEW_DATA, MOS_HK_RCV, on_data_count), 0);
    cr_assert_eq(mtcp_app_join(m), 0);
    cr_expect_eq(g_new_data[MOS_SIDE_SVR], 1);
    cr_expect_eq(g_peeked[MOS_SIDE_SVR], 18);
    cr_expect_eq(g_new_data[MOS_SIDE_CLI], 1);
    cr_expect_eq(g_peeked[MOS_SIDE_CLI], 0);
}

static void on_start_nobuf(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
    (void)side; (void)ev; (void)arg;
    int zero = 0, v = 1;
    socklen_t l = sizeof(v);
    cr_assert_eq(mtcp_setsockopt(m, sock, SOL_MONSOCKET, MOS_SVRBUF, &zero, sizeof(zero)), 0);
    cr_assert_eq(mtcp_getsockopt(m, sock, SOL_MONSOCKET, MOS_SVRBUF, &v, &l), 0);
    cr_expect_eq(v, 0);
    l = sizeof(v);
    cr_assert_eq(mtcp_getsockopt(m, sock, SOL_MONSOCKET, MOS_CLIBUF, &v, &l), 0);
    cr_expect_eq(v, 1);
}

/* Per flow: MOS_SVRBUF = 0 from CONN_START; the client's buffer still works. */
Test(mtcp_api, setsockopt_svrbuf_per_flow, .init = setup, .fini = teardown)
{
    write_basic();
    mctx_t m = open_ctx();
    int s = stream_sock(m);
    cr_assert_eq(mtcp_register_callback(m, s, MOS_ON_CONN_START, MOS_HK_SND, on_start_nobuf), 0);
    cr_assert_eq(mtcp_register_callback(m, s, MOS_ON_CONN_NEW_DATA, MOS_HK_RCV, on_data_count), 0);
    cr_assert_eq(mtcp_app_join(m), 0);
    cr_expect_eq(g_new_data[MOS_SIDE_SVR], 1);
    cr_expect_eq(g_peeked[MOS_SIDE_SVR], 0);
    cr_expect_eq(g_new_data[MOS_SIDE_CLI], 1);
    cr_expect_eq(g_peeked[MOS_SIDE_CLI], 24);
}

static void on_data_stop_svr(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
    (void)side; (void)ev; (void)arg;
    int v = MOS_SIDE_SVR;
    cr_assert_eq(mtcp_setsockopt(m, sock, SOL_MONSOCKET, MOS_STOP_MON, &v, sizeof(v)), 0);
    v = 9;
    errno = 0;
    cr_expect_eq(mtcp_setsockopt(m, sock, SOL_MONSOCKET, MOS_STOP_MON, &v, sizeof(v)), -1);
    cr_expect_eq(errno, EINVAL);
    record(sock, side, ev, (void *)on_data_stop_svr);
}

/* STOP_MON for the server side: no more events reported for side SVR. */
Test(mtcp_api, setsockopt_stop_mon_side, .init = setup, .fini = teardown)
{
    write_basic();
    mctx_t m = open_ctx();
    int s = stream_sock(m);
    cr_assert_eq(mtcp_register_callback(m, s, MOS_ON_CONN_NEW_DATA, MOS_HK_RCV, on_data_stop_svr), 0);
    cr_assert_eq(mtcp_register_callback(m, s, MOS_ON_PKT_IN, MOS_HK_RCV, on_pkt_count), 0);
    cr_assert_eq(mtcp_app_join(m), 0);
    /* PKT_IN at RCV reports the receiver: packets 1,3,4,6,8 go to the
     * server, 2,5,7 to the client. STOP_MON(SVR) is set during packet 4's
     * receiver update (its NEW_DATA), before packet 4's own PKT_IN(RCV):
     * server-side PKT_INs 1 and 3 remain, client-side 2, 5, 7 all arrive. */
    int svr = 0, cli = 0;
    for (int i = 0; i < G.n; i++)
        if (G.recs[i].cb == (void *)on_pkt_count)
            (*(G.recs[i].side == MOS_SIDE_SVR ? &svr : &cli))++;
    cr_expect_eq(svr, 2);
    cr_expect_eq(cli, 3);
    /* the response's NEW_DATA (side CLI) still arrives */
    cr_expect_eq(count_cb((void *)on_data_stop_svr), 2);
}

static void on_start_close(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
    (void)side; (void)ev; (void)arg;
    record(sock, side, ev, (void *)on_start_close);
    cr_assert_eq(mtcp_close(m, sock), 0); /* STOP_MON both sides */
}

Test(mtcp_api, setsockopt_stop_mon_both, .init = setup, .fini = teardown)
{
    write_basic();
    mctx_t m = open_ctx();
    int s = stream_sock(m);
    cr_assert_eq(mtcp_register_callback(m, s, MOS_ON_CONN_START, MOS_HK_SND, on_start_close), 0);
    cr_assert_eq(mtcp_register_callback(m, s, MOS_ON_PKT_IN, MOS_HK_SND, on_rec), 0);
    cr_assert_eq(mtcp_register_callback(m, s, MOS_ON_CONN_NEW_DATA, MOS_HK_RCV, on_rec), 0);
    cr_assert_eq(mtcp_register_callback(m, s, MOS_ON_CONN_END, MOS_HK_NONE, on_rec), 0);
    cr_assert_eq(mtcp_app_join(m), 0);
    cr_expect_eq(count_cb((void *)on_start_close), 1);
    cr_expect_eq(count_cb((void *)on_rec), 0, "no event after STOP_MON(BOTH)");
}

/* --------------------------------------------------------- getpeername */

static char g_peer[2][64];
static int g_peer_fam[2];

static void on_start_peer(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
    (void)side; (void)ev; (void)arg;
    for (int sd = 0; sd < 2; sd++) {
        struct sockaddr_storage ss;
        socklen_t l = sizeof(ss);
        cr_assert_eq(mtcp_getpeername(m, sock, (struct sockaddr *)&ss, &l, sd), 0);
        g_peer_fam[sd] = ss.ss_family;
        char ip[INET6_ADDRSTRLEN];
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            cr_expect_eq(l, sizeof(*a));
            inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
            snprintf(g_peer[sd], sizeof(g_peer[sd]), "%s:%u", ip, ntohs(a->sin_port));
        } else {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            cr_expect_eq(l, sizeof(*a));
            inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
            snprintf(g_peer[sd], sizeof(g_peer[sd]), "[%s]:%u", ip, ntohs(a->sin6_port));
        }
    }
    struct sockaddr_in small;
    socklen_t l = 4;
    errno = 0;
    cr_expect_eq(mtcp_getpeername(m, sock, (struct sockaddr *)&small, &l, MOS_SIDE_CLI), -1);
    cr_expect_eq(errno, EINVAL);
    l = sizeof(small);
    errno = 0;
    cr_expect_eq(mtcp_getpeername(m, sock, (struct sockaddr *)&small, &l, MOS_SIDE_BOTH), -1);
    cr_expect_eq(errno, EINVAL);
    errno = 0;
    cr_expect_eq(mtcp_getpeername(m, 2, (struct sockaddr *)&small, &l, MOS_SIDE_CLI), -1);
    cr_expect_eq(errno, EBADF);
}

Test(mtcp_api, getpeername_ipv4, .init = setup, .fini = teardown)
{
    /* the capture starts with the server's SYN/ACK: the client is still
     * the receiver of that first packet */
    write_pcap("v4.pcap", "10.0.0.1", "10.0.0.2", 40000, 80, BASIC + 1, NBASIC - 1);
    mctx_t m = open_ctx();
    int s = stream_sock(m);
    cr_assert_eq(mtcp_register_callback(m, s, MOS_ON_CONN_START, MOS_HK_SND, on_start_peer), 0);
    cr_assert_eq(mtcp_app_join(m), 0);
    cr_expect_eq(g_peer_fam[0], AF_INET);
    cr_expect_str_eq(g_peer[MOS_SIDE_CLI], "10.0.0.1:40000");
    cr_expect_str_eq(g_peer[MOS_SIDE_SVR], "10.0.0.2:80");
}

Test(mtcp_api, getpeername_ipv6, .init = setup, .fini = teardown)
{
    write_pcap("v6.pcap", "2001:db8::1", "2001:db8::2:1", 40000, 443, BASIC, NBASIC);
    mctx_t m = open_ctx();
    int s = stream_sock(m);
    cr_assert_eq(mtcp_register_callback(m, s, MOS_ON_CONN_START, MOS_HK_SND, on_start_peer), 0);
    cr_assert_eq(mtcp_app_join(m), 0);
    cr_expect_eq(g_peer_fam[1], AF_INET6);
    cr_expect_str_eq(g_peer[MOS_SIDE_CLI], "[2001:db8::1]:40000");
    cr_expect_str_eq(g_peer[MOS_SIDE_SVR], "[2001:db8::2:1]:443");
}

/* ----------------------------------------------------------- reset_conn */

static void on_data_reset(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
    (void)arg;
    record(sock, side, ev, (void *)on_data_reset);
    cr_assert_eq(mtcp_reset_conn(m, sock), 0);
    errno = 0;
    cr_expect_eq(mtcp_reset_conn(m, sock), -1, "already ended");
    cr_expect_eq(errno, EBADF);
}

/* Reset from the request's NEW_DATA (packet 4). Packets 5..8 carry no SYN
 * and, without midstream pickup, start no flow: the connection's events end
 * with its CONN_END, right after the handler that reset it. */
Test(mtcp_api, reset_conn, .init = setup, .fini = teardown)
{
    write_basic();
    cr_assert_eq(mtcp_config_set("core.midstream", "false"), 0);
    mctx_t m = open_ctx();
    int s = stream_sock(m);
    cr_assert_eq(mtcp_register_callback(m, s, MOS_ON_CONN_NEW_DATA, MOS_HK_RCV, on_data_reset), 0);
    cr_assert_eq(mtcp_register_callback(m, s, MOS_ON_CONN_END, MOS_HK_SND, on_rec), 0);
    cr_assert_eq(mtcp_register_callback(m, s, MOS_ON_CONN_START, MOS_HK_SND, on_rec2), 0);
    errno = 0;
    cr_expect_eq(mtcp_reset_conn(m, MTCP_FLOW_SOCK_BASE), -1, "no such flow");
    cr_expect_eq(errno, EBADF);
    cr_assert_eq(mtcp_app_join(m), 0);
    for (int i = 0; i < G.n; i++)
        cr_log_info("rec %d: sock %d side %d event %ld", i, G.recs[i].sock, G.recs[i].side, (long)G.recs[i].event);
    cr_assert_eq(G.n, 3, "CONN_START, NEW_DATA, CONN_END");
    cr_expect_eq(G.recs[0].cb, (void *)on_rec2);
    cr_expect_eq(G.recs[1].cb, (void *)on_data_reset);
    cr_expect_eq(G.recs[2].cb, (void *)on_rec);
    cr_expect_eq(G.recs[2].event, MOS_ON_CONN_END);
    cr_expect_eq(G.recs[2].sock, G.recs[1].sock);
    /* at HK_SND, CONN_END reports the last sender: the client (packet 4) */
    cr_expect_eq(G.recs[2].side, MOS_SIDE_CLI);
}

/* -------------------------------------------------- settimer / cb_get_ts */

static int g_timer_fired, g_timer_id, g_timer_after_pkts;
static uint32_t g_timer_ts;

static void on_timer(mctx_t m, int id, int side, event_t ev, filter_arg_t *arg)
{
    (void)side; (void)ev;
    cr_expect_null(arg);
    g_timer_fired++;
    g_timer_id = id;
    g_timer_after_pkts = G.pkts;
    g_timer_ts = mtcp_cb_get_ts(m);
}

static void on_pkt_ts(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
    (void)sock; (void)side; (void)ev; (void)arg;
    G.pkts++;
    uint32_t want = (uint32_t)((T0_NS + (uint64_t)G.pkts * 1000000ull) / 1000000ull);
    cr_expect_eq(mtcp_cb_get_ts(m), want, "packet %d", G.pkts);
    if (G.pkts == 1) {
        struct timeval tv = {.tv_sec = 0, .tv_usec = 2500}; /* due at T0 + 3.5 ms */
        cr_assert_eq(mtcp_settimer(m, 77, &tv, on_timer), 0);
        struct timeval late = {.tv_sec = 3600, .tv_usec = 0}; /* after the capture ends */
        cr_assert_eq(mtcp_settimer(m, 78, &late, on_timer), 0);
        struct timeval neg = {.tv_sec = -1, .tv_usec = 0};
        errno = 0;
        cr_expect_eq(mtcp_settimer(m, 79, &neg, on_timer), -1);
        cr_expect_eq(errno, EINVAL);
        errno = 0;
        cr_expect_eq(mtcp_settimer(m, 79, &tv, NULL), -1);
        cr_expect_eq(errno, EINVAL);
    }
}

Test(mtcp_api, settimer_packet_clock, .init = setup, .fini = teardown)
{
    write_basic();
    mctx_t m = open_ctx();
    cr_expect_eq(mtcp_cb_get_ts(m), 0, "no packet yet");
    cr_expect_eq(mtcp_cb_get_ts(NULL), 0);
    int s = stream_sock(m);
    cr_assert_eq(mtcp_register_callback(m, s, MOS_ON_PKT_IN, MOS_HK_SND, on_pkt_ts), 0);
    cr_assert_eq(mtcp_app_join(m), 0);
    cr_expect_eq(g_timer_fired, 1, "only the 2.5 ms timer is due within the capture");
    cr_expect_eq(g_timer_id, 77);
    /* due at 3.5 ms: the packet clock passes it with packet 4 (at 4 ms), so
     * it fires after packet 3 and no later than packet 4 */
    cr_expect(g_timer_after_pkts == 3 || g_timer_after_pkts == 4, "fired after %d packets", g_timer_after_pkts);
    cr_expect_eq(g_timer_ts, (uint32_t)((T0_NS + 4000000ull) / 1000000ull));
}
