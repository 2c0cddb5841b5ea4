#define _GNU_SOURCE /* memmem */
/*
 * test_events.c - the engine's events on hand-built flows.
 *
 * Every expected sequence below was worked out by hand from the rules in
 * docs/events.md (sender update -> HK_SND -> receiver update -> HK_RCV ->
 * HK_NONE) and RFC 793's state diagram; none was recorded from the code.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "engine.h"
#include "event_tree.h"
#include "pktbuild.h"

#define MAXREC 256

struct rec {
    int event, side, hook;
    uint64_t handler;
    uint64_t arg;
    char peek[64]; /* what peek(side) returned inside the handler, if asked */
};

struct tctx {
    struct mos_core *core;
    struct rec recs[MAXREC];
    int n;
    bool peek_in_handler;
    int peek_side;
    /* filters: id -> verdict, and how often each ran */
    bool verdict[8];
    int ran[8];
    /* a handler that changes the flow's own set */
    uint64_t self_modify_handler;
};

static struct tctx T;

static bool t_filter(void *ctx, uint64_t filter, uint64_t arg, const struct mos_event *ev)
{
    struct tctx *t = ctx;
    t->ran[filter - 100]++;
    if (arg == 7) { /* a filter that reads peek: true when the unread data contains "GET" */
        uint8_t buf[64];
        int64_t n = core_ppeek(t->core, ev->flow, ev->side, 0, buf, sizeof(buf));
        return n >= 3 && memmem(buf, (size_t)n, "GET", 3) != NULL;
    }
    return t->verdict[filter - 100];
}

static void t_handler(void *ctx, uint64_t handler, const struct mos_event *ev)
{
    struct tctx *t = ctx;
    if (t->n >= MAXREC)
        return;
    struct rec *r = &t->recs[t->n++];
    r->event = ev->event;
    r->side = ev->side;
    r->hook = ev->hook;
    r->handler = handler;
    r->arg = ev->arg;
    r->peek[0] = 0;
    if (t->peek_in_handler && ev->flow) {
        int64_t n = core_peek(t->core, ev->flow, t->peek_side, (uint8_t *)r->peek, sizeof(r->peek) - 1);
        cr_assert_geq(n, 0);
        r->peek[n] = 0;
    }
    if (handler == t->self_modify_handler && ev->flow) {
        /* switch this flow from handler 9 to handler 10 for PKT_IN at SND */
        cr_assert_eq(core_flow_unregister(t->core, ev->flow, MOS_ON_PKT_IN, MOS_HK_SND, 9), 0);
        cr_assert_eq(core_flow_register(t->core, ev->flow, MOS_ON_PKT_IN, MOS_HK_SND, 10), 0);
    }
}

static const struct etree_host HOST = {.ctx = &T, .filter = t_filter, .handler = t_handler};

static void setup(void)
{
    memset(&T, 0, sizeof(T));
    struct mos_config cfg;
    config_defaults(&cfg);
    cfg.max_concurrency = 200000;
    cr_assert_eq(core_create(&cfg, 0, &T.core), 0);
}

static void teardown(void)
{
    core_destroy(T.core);
}

static uint64_t g_ts = 1700000000ull * 1000000000ull;

static void feed(const char *src, const char *dst, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
                 uint8_t flags, const char *payload)
{
    uint8_t buf[PKT_MAX];
    struct pkt_spec s = {.src = src, .dst = dst, .sport = sport, .dport = dport, .seq = seq, .ack = ack,
                         .flags = flags, .payload = payload, .payload_len = payload ? (uint32_t)strlen(payload) : 0};
    size_t n = pkt_build(buf, &s);
    cr_assert_gt(n, 0);
    g_ts += 1000000; /* 1 ms apart */
    struct mos_frame fr = {.data = buf, .caplen = (uint32_t)n, .wirelen = (uint32_t)n, .ts_ns = g_ts, .linktype = 1};
    cr_assert_geq(core_process_frame(T.core, &fr, &HOST), 0);
}

#define C "10.0.0.1"
#define S "10.0.0.2"
#define CP 40000
#define SP 80

static void c2s(uint32_t seq, uint32_t ack, uint8_t fl, const char *pl) { feed(C, S, CP, SP, seq, ack, fl, pl); }
static void s2c(uint32_t seq, uint32_t ack, uint8_t fl, const char *pl) { feed(S, C, SP, CP, seq, ack, fl, pl); }

struct want {
    int event, side, hook;
};

static void expect(const struct want *w, int n)
{
    for (int i = 0; i < n && i < T.n; i++) {
        cr_expect(T.recs[i].event == w[i].event && T.recs[i].side == w[i].side && T.recs[i].hook == w[i].hook,
                  "record %d: got (%s, side %d, hook %d), want (%s, side %d, hook %d)", i,
                  mos_event_name(T.recs[i].event), T.recs[i].side, T.recs[i].hook, mos_event_name(w[i].event),
                  w[i].side, w[i].hook);
    }
    cr_assert_eq(T.n, n, "got %d records, want %d", T.n, n);
}

static int sock_with(const int (*pairs)[2], int npairs, uint64_t handler)
{
    int s = core_socket(T.core, MOS_SOCK_MONITOR_STREAM);
    cr_assert_geq(s, 0);
    for (int i = 0; i < npairs; i++)
        cr_assert_eq(core_register(T.core, s, pairs[i][0], pairs[i][1], handler, false), 0, "pair %d", i);
    return s;
}

TestSuite(events, .init = setup, .fini = teardown);

/* A whole connection: handshake, 5 bytes, close. */
Test(events, full_connection_sequence)
{
    const int pairs[][2] = {
        {MOS_ON_CONN_START, MOS_HK_SND}, {MOS_ON_CONN_START, MOS_HK_RCV},
        {MOS_ON_TCP_STATE_CHANGE, MOS_HK_SND}, {MOS_ON_TCP_STATE_CHANGE, MOS_HK_RCV},
        {MOS_ON_PKT_IN, MOS_HK_SND}, {MOS_ON_CONN_NEW_DATA, MOS_HK_RCV}, {MOS_ON_CONN_END, MOS_HK_RCV},
    };
    sock_with(pairs, 7, 1);
    enum { CLI = MOS_SIDE_CLI, SVR = MOS_SIDE_SVR, SND = MOS_HK_SND, RCV = MOS_HK_RCV };
    c2s(1000, 0, PKT_SYN, NULL);
    s2c(5000, 1001, PKT_SYN | PKT_ACK, NULL);
    c2s(1001, 5001, PKT_ACK, NULL);
    c2s(1001, 5001, PKT_ACK | PKT_PSH, "hello");
    s2c(5001, 1006, PKT_ACK, NULL);
    c2s(1006, 5001, PKT_FIN | PKT_ACK, NULL);
    s2c(5001, 1007, PKT_FIN | PKT_ACK, NULL);
    c2s(1007, 5002, PKT_ACK, NULL);
    core_shutdown(T.core, &HOST);
    const struct want w[] = {
        /* SYN: client CLOSED->SYN_SENT at SND, server LISTEN->SYN_RCVD at RCV */
        {MOS_ON_CONN_START, CLI, SND}, {MOS_ON_TCP_STATE_CHANGE, CLI, SND}, {MOS_ON_PKT_IN, CLI, SND},
        {MOS_ON_CONN_START, SVR, RCV}, {MOS_ON_TCP_STATE_CHANGE, SVR, RCV},
        /* SYN/ACK: the server stays SYN_RCVD; the client becomes ESTABLISHED */
        {MOS_ON_PKT_IN, SVR, SND}, {MOS_ON_TCP_STATE_CHANGE, CLI, RCV},
        /* ACK: the server becomes ESTABLISHED */
        {MOS_ON_PKT_IN, CLI, SND}, {MOS_ON_TCP_STATE_CHANGE, SVR, RCV},
        /* data: the server's buffer gets 5 bytes */
        {MOS_ON_PKT_IN, CLI, SND}, {MOS_ON_CONN_NEW_DATA, SVR, RCV},
        /* ACK of the data */
        {MOS_ON_PKT_IN, SVR, SND},
        /* client FIN: FIN_WAIT_1 / CLOSE_WAIT */
        {MOS_ON_TCP_STATE_CHANGE, CLI, SND}, {MOS_ON_PKT_IN, CLI, SND}, {MOS_ON_TCP_STATE_CHANGE, SVR, RCV},
        /* server FIN+ACK: LAST_ACK / client TIME_WAIT */
        {MOS_ON_TCP_STATE_CHANGE, SVR, SND}, {MOS_ON_PKT_IN, SVR, SND}, {MOS_ON_TCP_STATE_CHANGE, CLI, RCV},
        /* last ACK: the server is CLOSED */
        {MOS_ON_PKT_IN, CLI, SND}, {MOS_ON_TCP_STATE_CHANGE, SVR, RCV},
        /* the end, after the last packet's receiver */
        {MOS_ON_CONN_END, SVR, RCV},
    };
    expect(w, sizeof(w) / sizeof(w[0]));
    /* the state each change reported */
    cr_expect_eq(T.recs[1].arg, MOS_TCP_SYN_SENT);
    cr_expect_eq(T.recs[4].arg, MOS_TCP_SYN_RCVD);
    cr_expect_eq(T.recs[17].arg, MOS_TCP_TIME_WAIT);
    cr_expect_eq(T.recs[19].arg, MOS_TCP_CLOSED);
    cr_expect_eq(T.recs[10].arg, 5);
}

/* peek at HK_SND sees the receiver before this packet's bytes; at HK_RCV after. */
Test(events, peek_before_and_after_receiver_update)
{
    const int pairs[][2] = {{MOS_ON_PKT_IN, MOS_HK_SND}, {MOS_ON_PKT_IN, MOS_HK_RCV}};
    sock_with(pairs, 2, 1);
    c2s(1000, 0, PKT_SYN, NULL);
    s2c(5000, 1001, PKT_SYN | PKT_ACK, NULL);
    c2s(1001, 5001, PKT_ACK, NULL);
    T.n = 0;
    T.peek_in_handler = true;
    T.peek_side = MOS_SIDE_SVR;
    c2s(1001, 5001, PKT_ACK | PKT_PSH, "hello");
    cr_assert_eq(T.n, 2);
    cr_expect_str_eq(T.recs[0].peek, "");
    cr_expect_str_eq(T.recs[1].peek, "hello");
    /* reading again at the end of data gives 0 bytes, not an error */
    c2s(1006, 5001, PKT_ACK, NULL);
    cr_expect_str_eq(T.recs[2].peek, "");
}

Test(events, rexmit_and_inconsistent_rexmit)
{
    const int pairs[][2] = {{MOS_ON_REXMIT, MOS_HK_SND}, {MOS_ON_REXMIT_INCONSISTENT, MOS_HK_SND},
                            {MOS_ON_CONN_NEW_DATA, MOS_HK_RCV}};
    sock_with(pairs, 3, 1);
    c2s(1000, 0, PKT_SYN, NULL);
    s2c(5000, 1001, PKT_SYN | PKT_ACK, NULL);
    c2s(1001, 5001, PKT_ACK, NULL);
    c2s(1001, 5001, PKT_ACK, "hello");
    c2s(1001, 5001, PKT_ACK, "hello"); /* same bytes */
    c2s(1001, 5001, PKT_ACK, "HELLO"); /* different bytes: tunneling */
    c2s(1005, 5001, PKT_ACK, NULL);    /* keep-alive style: no payload, no event */
    const struct want w[] = {
        {MOS_ON_CONN_NEW_DATA, MOS_SIDE_SVR, MOS_HK_RCV},
        {MOS_ON_REXMIT, MOS_SIDE_CLI, MOS_HK_SND},
        {MOS_ON_REXMIT, MOS_SIDE_CLI, MOS_HK_SND},
        {MOS_ON_REXMIT_INCONSISTENT, MOS_SIDE_CLI, MOS_HK_SND},
    };
    expect(w, 4);
    cr_expect_eq(core_counters(T.core)->reasm_rexmit_inconsistent, 1);
}

Test(events, gap_when_acked_past_a_hole)
{
    const int pairs[][2] = {{MOS_ON_GAP, MOS_HK_RCV}, {MOS_ON_CONN_NEW_DATA, MOS_HK_RCV}};
    sock_with(pairs, 2, 1);
    c2s(1000, 0, PKT_SYN, NULL);
    s2c(5000, 1001, PKT_SYN | PKT_ACK, NULL);
    c2s(1001, 5001, PKT_ACK, NULL);
    c2s(1001, 5001, PKT_ACK, "aaa");  /* offsets 0..3 */
    c2s(1011, 5001, PKT_ACK, "bbb");  /* offsets 10..13: hole [3,10) */
    T.peek_in_handler = true;
    T.peek_side = MOS_SIDE_SVR;
    s2c(5001, 1014, PKT_ACK, NULL);   /* the server got everything: the hole is lost */
    const struct want w[] = {
        {MOS_ON_CONN_NEW_DATA, MOS_SIDE_SVR, MOS_HK_RCV},
        {MOS_ON_GAP, MOS_SIDE_SVR, MOS_HK_RCV},
        {MOS_ON_CONN_NEW_DATA, MOS_SIDE_SVR, MOS_HK_RCV},
    };
    expect(w, 3);
    /* at the GAP the bytes after the hole are already readable, right after
     * the unread "aaa"; the NEW_DATA handler that follows finds them read */
    cr_expect_str_eq(T.recs[1].peek, "aaabbb");
    cr_expect_str_eq(T.recs[2].peek, "");
    cr_expect_eq(T.recs[2].arg, 3);
}

Test(events, orphan_without_midstream)
{
    T.n = 0;
    core_destroy(T.core);
    struct mos_config cfg;
    config_defaults(&cfg);
    cfg.midstream = false;
    cr_assert_eq(core_create(&cfg, 0, &T.core), 0);
    const int pairs[][2] = {{MOS_ON_ORPHAN, MOS_HK_NONE}, {MOS_ON_CONN_START, MOS_HK_SND}};
    sock_with(pairs, 2, 1);
    c2s(1001, 5001, PKT_ACK, "mid-stream");
    const struct want w[] = {{MOS_ON_ORPHAN, MOS_SIDE_CLI, MOS_HK_NONE}};
    expect(w, 1);
    cr_expect_eq(core_counters(T.core)->pkts_orphan, 1);
}

Test(events, bad_hooks_are_rejected)
{
    int s = core_socket(T.core, MOS_SOCK_MONITOR_STREAM);
    cr_expect_eq(core_register(T.core, s, MOS_ON_CONN_NEW_DATA, MOS_HK_SND, 1, false), -EINVAL);
    cr_expect_eq(core_register(T.core, s, MOS_ON_ORPHAN, MOS_HK_RCV, 1, false), -EINVAL);
    cr_expect_eq(core_register(T.core, s, MOS_ON_PKT_IN, MOS_HK_NONE, 1, false), -EINVAL);
    cr_expect_eq(core_register(T.core, s, 999, MOS_HK_RCV, 1, false), -EINVAL);
    cr_expect_eq(core_register(T.core, s, MOS_ON_PKT_IN, 7, 1, false), -EINVAL);
    cr_expect_eq(core_register(T.core, s + 1, MOS_ON_PKT_IN, MOS_HK_SND, 1, false), -EBADF);
    int r = core_socket(T.core, MOS_SOCK_MONITOR_RAW);
    cr_expect_eq(core_register(T.core, r, MOS_ON_PKT_IN, MOS_HK_SND, 1, false), -EINVAL);
    cr_expect_eq(core_register(T.core, r, MOS_ON_PKT_IN, MOS_HK_NONE, 1, false), 0);
}

/* UDE A on NEW_DATA (filter 100), B on A (filter 101), C on B (filter 102),
 * D on A (filter 103). Handlers: 2 on A, 3 on B, 4 on C, 5 on D. */
Test(events, nested_udes_and_pruning)
{
    int a = core_define_event(T.core, MOS_ON_CONN_NEW_DATA, 100, 0);
    int b = core_define_event(T.core, a, 101, 0);
    int c = core_define_event(T.core, b, 102, 0);
    int d = core_define_event(T.core, a, 103, 0);
    cr_assert(a >= MOS_UDE_FIRST && b > a && c > b && d > c);
    int s = core_socket(T.core, MOS_SOCK_MONITOR_STREAM);
    cr_assert_eq(core_register(T.core, s, a, MOS_HK_RCV, 2, false), 0);
    cr_assert_eq(core_register(T.core, s, b, MOS_HK_RCV, 3, false), 0);
    cr_assert_eq(core_register(T.core, s, c, MOS_HK_RCV, 4, false), 0);
    cr_assert_eq(core_register(T.core, s, d, MOS_HK_RCV, 5, false), 0);
    T.verdict[0] = true;  /* A */
    T.verdict[1] = false; /* B: prunes C */
    T.verdict[2] = true;  /* C */
    T.verdict[3] = true;  /* D */
    c2s(1000, 0, PKT_SYN, NULL);
    s2c(5000, 1001, PKT_SYN | PKT_ACK, NULL);
    c2s(1001, 5001, PKT_ACK, NULL);
    c2s(1001, 5001, PKT_ACK, "x");
    cr_assert_eq(T.n, 2);
    cr_expect_eq(T.recs[0].handler, 2);
    cr_expect_eq(T.recs[1].handler, 5);
    cr_expect_eq(T.ran[0], 1);
    cr_expect_eq(T.ran[1], 1);
    cr_expect_eq(T.ran[2], 0, "C's filter must not run when B's is false");
    cr_expect_eq(T.ran[3], 1);
    /* now B passes: B's and C's handlers run too (depth first), each filter once more */
    T.verdict[1] = true;
    c2s(1002, 5001, PKT_ACK, "y");
    cr_assert_eq(T.n, 6, "got %d records", T.n);
    cr_expect_eq(T.recs[2].handler, 2);
    cr_expect_eq(T.recs[3].handler, 3);
    cr_expect_eq(T.recs[4].handler, 4);
    cr_expect_eq(T.recs[5].handler, 5);
    cr_expect_eq(T.ran[0], 2);
    cr_expect_eq(T.ran[2], 1);
}

Test(events, filter_reading_peek)
{
    int get = core_define_event(T.core, MOS_ON_CONN_NEW_DATA, 100, 7);
    int s = core_socket(T.core, MOS_SOCK_MONITOR_STREAM);
    cr_assert_eq(core_register(T.core, s, get, MOS_HK_RCV, 2, false), 0);
    c2s(1000, 0, PKT_SYN, NULL);
    s2c(5000, 1001, PKT_SYN | PKT_ACK, NULL);
    c2s(1001, 5001, PKT_ACK, NULL);
    c2s(1001, 5001, PKT_ACK, "GET / HTTP/1.1\r\n");
    s2c(5001, 1017, PKT_ACK, "HTTP/1.1 200 OK\r\n");
    cr_assert_eq(T.n, 1);
    cr_expect_eq(T.recs[0].side, MOS_SIDE_SVR);
}

Test(events, raise_ude_explicitly)
{
    int u = core_define_event(T.core, MOS_ON_CONN_START, 100, 0);
    int s = core_socket(T.core, MOS_SOCK_MONITOR_STREAM);
    cr_assert_eq(core_register(T.core, s, u, MOS_HK_SND, 2, false), 0);
    T.verdict[0] = false; /* never raised by its base */
    c2s(1000, 0, PKT_SYN, NULL);
    cr_assert_eq(T.n, 0);
    struct mos_flow *f = core_flow_by_slot(T.core, 0);
    cr_assert_not_null(f);
    cr_assert_eq(core_raise_event(T.core, f, MOS_SIDE_CLI, u), 0);
    cr_expect_eq(core_raise_event(T.core, f, MOS_SIDE_CLI, MOS_ON_CONN_START), -EINVAL);
    /* the raised event is dispatched by the next step */
    const struct mos_event *evs;
    int n = core_step(T.core, &evs);
    cr_assert_eq(n, 1);
    cr_expect_eq(evs[0].event, u);
    cr_expect_eq(evs[0].hook, MOS_HK_SND);
}

/* 100,000 flows registering nothing of their own share one tree per hook. */
Test(events, many_flows_share_trees, .timeout = 120)
{
    core_destroy(T.core);
    struct mos_config cfg;
    config_defaults(&cfg);
    cfg.max_concurrency = 200000;
    cfg.timeout_syn = 3600ull * 1000000000ull; /* 100,000 SYNs 1 ms apart must all stay */
    cr_assert_eq(core_create(&cfg, 0, &T.core), 0);
    int s = core_socket(T.core, MOS_SOCK_MONITOR_STREAM);
    cr_assert_eq(core_register(T.core, s, MOS_ON_CONN_START, MOS_HK_SND, 1, false), 0);
    cr_assert_eq(core_register(T.core, s, MOS_ON_PKT_IN, MOS_HK_RCV, 1, false), 0);
    char src[32];
    for (int i = 0; i < 100000; i++) {
        snprintf(src, sizeof(src), "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        feed(src, S, 1024 + (uint16_t)(i % 50000), SP, 1000, 0, PKT_SYN, NULL);
    }
    struct mos_counters *ctr = core_counters(T.core);
    cr_assert_eq(ctr->flows_active, 100000, "flows_active %lu created %lu full %lu", (unsigned long)ctr->flows_active,
                 (unsigned long)ctr->flows_created, (unsigned long)ctr->drop_flow_table_full);
    /* one tree per hook with pairs (SND, RCV) plus the empty tree (NONE) */
    cr_expect_leq(ctr->trees_alive, 3, "trees_alive = %lu", (unsigned long)ctr->trees_alive);
    const struct mos_tree *t = core_socket_tree(T.core, s, MOS_HK_SND);
    cr_expect_geq(t->refs, 100001);
}

Test(events, add_then_remove_returns_to_the_same_tree)
{
    int s = core_socket(T.core, MOS_SOCK_MONITOR_STREAM);
    cr_assert_eq(core_register(T.core, s, MOS_ON_PKT_IN, MOS_HK_SND, 1, false), 0);
    c2s(1000, 0, PKT_SYN, NULL);
    struct mos_flow *f = core_flow_by_slot(T.core, 0);
    cr_assert_not_null(f);
    const struct mos_tree *orig = f->tree[MOS_HK_SND];
    uint64_t id = orig->id;
    cr_assert_eq(core_flow_register(T.core, f, MOS_ON_CONN_END, MOS_HK_SND, 42), 0);
    cr_expect_neq(f->tree[MOS_HK_SND]->id, id);
    cr_expect_eq(f->tree[MOS_HK_SND]->id, id ^ etree_pair_hash(MOS_ON_CONN_END, 42));
    cr_assert_eq(core_flow_unregister(T.core, f, MOS_ON_CONN_END, MOS_HK_SND, 42), 0);
    cr_expect_eq(f->tree[MOS_HK_SND]->id, id);
    cr_expect_eq(f->tree[MOS_HK_SND], orig, "the flow must be back on the shared tree");
}

Test(events, handler_changes_its_flow_set)
{
    int s = core_socket(T.core, MOS_SOCK_MONITOR_STREAM);
    cr_assert_eq(core_register(T.core, s, MOS_ON_PKT_IN, MOS_HK_SND, 9, false), 0);
    T.self_modify_handler = 9;
    c2s(1000, 0, PKT_SYN, NULL);               /* handler 9 runs, then switches to 10 */
    s2c(5000, 1001, PKT_SYN | PKT_ACK, NULL);  /* handler 10 */
    cr_assert_eq(T.n, 2);
    cr_expect_eq(T.recs[0].handler, 9);
    cr_expect_eq(T.recs[1].handler, 10);
    /* a new flow still starts from the socket's tree (handler 9) */
    feed("10.0.0.9", S, 41000, SP, 77, 0, PKT_SYN, NULL);
    cr_assert_eq(T.n, 3);
    cr_expect_eq(T.recs[2].handler, 9);
}

Test(events, conn_end_once_after_reset)
{
    const int pairs[][2] = {{MOS_ON_CONN_END, MOS_HK_SND}, {MOS_ON_CONN_END, MOS_HK_RCV}, {MOS_ON_PKT_IN, MOS_HK_RCV}};
    sock_with(pairs, 3, 1);
    c2s(1000, 0, PKT_SYN, NULL);
    s2c(5000, 1001, PKT_SYN | PKT_ACK, NULL);
    c2s(1001, 5001, PKT_ACK, NULL);
    s2c(5001, 0, PKT_RST, NULL);
    c2s(1001, 5001, PKT_ACK, "late"); /* still in flight: same flow, not a new one */
    cr_expect_eq(core_counters(T.core)->flows_created, 1);
    cr_expect_eq(core_counters(T.core)->flows_reset, 1);
    core_shutdown(T.core, &HOST);
    /* 5 PKT_IN at HK_RCV, then the end once per hook: SND names the last
     * sender (the client), RCV the last receiver (the server) */
    const struct want w[] = {
        {MOS_ON_PKT_IN, MOS_SIDE_SVR, MOS_HK_RCV}, {MOS_ON_PKT_IN, MOS_SIDE_CLI, MOS_HK_RCV},
        {MOS_ON_PKT_IN, MOS_SIDE_SVR, MOS_HK_RCV}, {MOS_ON_PKT_IN, MOS_SIDE_CLI, MOS_HK_RCV},
        {MOS_ON_PKT_IN, MOS_SIDE_SVR, MOS_HK_RCV},
        {MOS_ON_CONN_END, MOS_SIDE_CLI, MOS_HK_SND}, {MOS_ON_CONN_END, MOS_SIDE_SVR, MOS_HK_RCV},
    };
    expect(w, 7);
}

Test(events, reset_flow_ends_after_time_wait_timeout)
{
    const int pairs[][2] = {{MOS_ON_CONN_END, MOS_HK_RCV}};
    sock_with(pairs, 1, 1);
    c2s(1000, 0, PKT_SYN, NULL);
    s2c(5000, 1001, PKT_SYN | PKT_ACK, NULL);
    s2c(5001, 0, PKT_RST, NULL);
    cr_assert_eq(T.n, 0);
    g_ts += 2ull * 1000000000ull; /* past the 1 s default */
    c2s(2000, 0, PKT_SYN, NULL);   /* the clock moves: the old flow expires, port reuse */
    cr_assert_geq(T.n, 1);
    cr_expect_eq(T.recs[0].event, MOS_ON_CONN_END);
    cr_expect_eq(T.recs[0].arg, FLOW_END_RESET);
}

/* Issue 10 defect 6: ppeek of bytes the buffer no longer holds answers
 * MOS_E_OVERWRITTEN (it used to share -ENODATA with the end of input), and
 * services on an ended flow answer MOS_E_FLOW_ENDED. rcvbuf 1024: 1500 bytes
 * read as they arrive, so offsets below 1500 - 1024 = 476 are gone. */
static struct mos_flow *g_flow;
static void grab_handler(void *ctx, uint64_t handler, const struct mos_event *ev)
{
    uint8_t buf[2048];
    g_flow = (struct mos_flow *)ev->flow;
    if (ev->event == MOS_ON_CONN_NEW_DATA)
        cr_assert_gt(core_peek(T.core, g_flow, ev->side, buf, sizeof buf), 0);
    if (ev->event == MOS_ON_CONN_END) {
        cr_expect_eq(core_ppeek(T.core, g_flow, MOS_SIDE_SVR, 0, buf, 10), MOS_E_OVERWRITTEN);
        cr_expect_eq(core_ppeek(T.core, g_flow, MOS_SIDE_SVR, 475, buf, 10), MOS_E_OVERWRITTEN);
        cr_expect_eq(core_ppeek(T.core, g_flow, MOS_SIDE_SVR, 476, buf, 10), 10);
        cr_expect_eq(core_ppeek(T.core, g_flow, MOS_SIDE_SVR, 1500, buf, 10), 0, "end of data: 0 bytes");
        cr_expect_eq(core_flow_reset(T.core, g_flow), MOS_E_FLOW_ENDED);
        cr_expect_eq(core_raise_event(T.core, g_flow, MOS_SIDE_CLI, MOS_UDE_FIRST), MOS_E_FLOW_ENDED);
        T.n++;
    }
}

Test(events, error_codes_of_stream_services)
{
    core_destroy(T.core);
    struct mos_config cfg;
    config_defaults(&cfg);
    cfg.rcvbuf = 1024;
    cr_assert_eq(core_create(&cfg, 0, &T.core), 0);
    const int pairs[][2] = {{MOS_ON_CONN_NEW_DATA, MOS_HK_RCV}, {MOS_ON_CONN_END, MOS_HK_NONE}};
    sock_with(pairs, 2, 1);
    static char data[1501];
    memset(data, 'd', 1500);
    const struct etree_host host = {.ctx = &T, .filter = t_filter, .handler = grab_handler};
    uint8_t buf[PKT_MAX];
    const struct {
        const char *src, *dst;
        uint16_t sp, dp;
        uint32_t seq, ack;
        uint8_t fl;
        const char *pl;
    } pk[] = {
        {C, S, CP, SP, 1000, 0, PKT_SYN, NULL},
        {S, C, SP, CP, 5000, 1001, PKT_SYN | PKT_ACK, NULL},
        {C, S, CP, SP, 1001, 5001, PKT_ACK, NULL},
        {C, S, CP, SP, 1001, 5001, PKT_ACK | PKT_PSH, data},
    };
    for (size_t i = 0; i < sizeof(pk) / sizeof(pk[0]); i++) {
        struct pkt_spec s = {.src = pk[i].src, .dst = pk[i].dst, .sport = pk[i].sp, .dport = pk[i].dp,
                             .seq = pk[i].seq, .ack = pk[i].ack, .flags = pk[i].fl, .payload = pk[i].pl,
                             .payload_len = pk[i].pl ? (uint32_t)strlen(pk[i].pl) : 0};
        size_t n = pkt_build(buf, &s);
        g_ts += 1000000;
        struct mos_frame fr = {.data = buf, .caplen = (uint32_t)n, .wirelen = (uint32_t)n, .ts_ns = g_ts, .linktype = 1};
        cr_assert_geq(core_process_frame(T.core, &fr, &host), 0);
    }
    core_shutdown(T.core, &host);
    cr_assert_eq(T.n, 1, "CONN_END handler ran %d times", T.n);
}

/* Issue 10 defect 7: a handler that ends many flows in one dispatch (a
 * firewall resetting every flow it blocks, from one packet's event) queues
 * more events than a batch holds: 300 flows x CONN_END at three hooks. None
 * may be lost, each flow's CONN_END comes once per hook and last, and every
 * ended flow is released (a later SYN on the same ports starts a new flow
 * instead of waiting forever for the old one to be freed). */
#define MANY 300
static struct {
    struct mos_flow *flows[MANY + 2];
    int nflows;
    int ends[MANY + 2][MOS_HK_COUNT];
    int after_end[MANY + 2]; /* events of a flow after its first CONN_END */
    bool reset_done;
} M;

/* The latest flow at that address: a freed flow's slot is reused. */
static int many_index(const struct mos_flow *f)
{
    for (int i = M.nflows - 1; i >= 0; i--)
        if (M.flows[i] == f)
            return i;
    return -1;
}

static void many_handler(void *ctx, uint64_t handler, const struct mos_event *ev)
{
    struct mos_flow *f = (struct mos_flow *)ev->flow;
    if (ev->event == MOS_ON_CONN_START && ev->hook == MOS_HK_SND) {
        cr_assert_lt(M.nflows, MANY + 2);
        M.flows[M.nflows++] = f;
        return;
    }
    int i = many_index(f);
    if (i < 0)
        return;
    bool ended_before = M.ends[i][0] + M.ends[i][1] + M.ends[i][2] > 0;
    if (ev->event == MOS_ON_CONN_END) {
        M.ends[i][ev->hook]++;
        return;
    }
    if (ended_before)
        M.after_end[i]++;
    if (ev->event == MOS_ON_PKT_IN && i == MANY && !M.reset_done) {
        M.reset_done = true;
        for (int k = 0; k < MANY; k++)
            cr_assert_eq(core_flow_reset(T.core, M.flows[k]), 0, "reset of flow %d", k);
    }
}

Test(events, many_flows_ended_by_one_handler, .timeout = 60)
{
    memset(&M, 0, sizeof(M));
    const int pairs[][2] = {{MOS_ON_CONN_START, MOS_HK_SND}, {MOS_ON_PKT_IN, MOS_HK_SND},
                            {MOS_ON_CONN_END, MOS_HK_SND}, {MOS_ON_CONN_END, MOS_HK_RCV},
                            {MOS_ON_CONN_END, MOS_HK_NONE}};
    sock_with(pairs, 5, 1);
    const struct etree_host host = {.ctx = &T, .filter = t_filter, .handler = many_handler};
    uint8_t buf[PKT_MAX];
    for (int i = 0; i <= MANY + 1; i++) {
        /* flows 0..MANY-1, then flow MANY whose packet triggers the resets,
         * then a new SYN on flow 0's ports */
        int port = i <= MANY ? 20000 + i : 20000;
        struct pkt_spec s = {.src = C, .dst = S, .sport = (uint16_t)port, .dport = SP,
                             .seq = (uint32_t)(1000 + i * 7919), .flags = PKT_SYN};
        size_t n = pkt_build(buf, &s);
        g_ts += 1000000;
        struct mos_frame fr = {.data = buf, .caplen = (uint32_t)n, .wirelen = (uint32_t)n, .ts_ns = g_ts, .linktype = 1};
        cr_assert_geq(core_process_frame(T.core, &fr, &host), 0);
    }
    cr_assert(M.reset_done);
    cr_expect_eq(core_counters(T.core)->flows_created, MANY + 2, "the SYN after the resets starts a new flow");
    for (int i = 0; i < MANY; i++) {
        cr_expect(M.ends[i][MOS_HK_SND] == 1 && M.ends[i][MOS_HK_RCV] == 1 && M.ends[i][MOS_HK_NONE] == 1,
                  "flow %d: CONN_END at SND/RCV/NONE %d/%d/%d times, want once each", i, M.ends[i][0],
                  M.ends[i][1], M.ends[i][2]);
        cr_expect_eq(M.after_end[i], 0, "flow %d: events after its CONN_END", i);
    }
    cr_expect_eq(core_counters(T.core)->flows_ended, MANY);
    cr_expect_eq(core_counters(T.core)->ev_conn_end, MANY);
    cr_expect_eq(core_counters(T.core)->ev_queue_lost, 0);
    core_shutdown(T.core, &host);
    cr_expect_eq(core_counters(T.core)->flows_ended, MANY + 2);
}
