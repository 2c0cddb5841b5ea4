/*
 * test_io_live.c - libpcap live input: error reporting, and real traffic
 * over veth pairs inside a throwaway network namespace.
 *
 * Traffic tests need root and ip(8); they create namespace mostest<pid>,
 * enter it with setns() (Criterion runs each test in its own process, so
 * the host's namespace is never touched) and delete it in .fini. Frames are
 * injected with plain libpcap handles opened by the test, independent of
 * the io under test. Every wait loop is bounded by an iteration count.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pcap/pcap.h>
#include <pthread.h>
#include <stdarg.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "io_live.h"

static char g_ns[64];

static int have_ip(void)
{
    return geteuid() == 0 && (access("/usr/sbin/ip", X_OK) == 0 || access("/sbin/ip", X_OK) == 0);
}

static void ns_teardown(void)
{
    if (g_ns[0]) {
        char cmd[160];
        snprintf(cmd, sizeof cmd, "ip netns del %s 2>/dev/null", g_ns);
        if (system(cmd) != 0) { /* already gone */ }
        g_ns[0] = '\0';
    }
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

/* Namespace with veth pairs va<->vb (and vc<->vd when two), entered by
 * this process. Skips the test when that is impossible here. */
static void ns_setup(int pairs)
{
    if (!have_ip())
        cr_skip_test("needs root and ip(8) for network namespaces");
    snprintf(g_ns, sizeof g_ns, "mostest%d", (int)getpid());
    sh("ip netns del %s 2>/dev/null", g_ns);
    if (sh("ip netns add %s", g_ns) != 0) {
        g_ns[0] = '\0';
        cr_skip_test("cannot create a network namespace here");
    }
    /* No IPv6 on the test links: no router solicitations or MLD noise. */
    cr_assert_eq(sh("ip netns exec %s sysctl -qw net.ipv6.conf.all.disable_ipv6=1 "
                    "net.ipv6.conf.default.disable_ipv6=1", g_ns), 0);
    const char *names[2][2] = { { "va", "vb" }, { "vc", "vd" } };
    for (int i = 0; i < pairs; i++) {
        cr_assert_eq(sh("ip -n %s link add name %s type veth peer name %s", g_ns, names[i][0],
                        names[i][1]), 0);
        cr_assert_eq(sh("ip -n %s link set %s up && ip -n %s link set %s up", g_ns, names[i][0],
                        g_ns, names[i][1]), 0);
    }
    char path[128];
    snprintf(path, sizeof path, "/var/run/netns/%s", g_ns);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
    cr_assert_eq(setns(fd, CLONE_NEWNET), 0, "setns: %s", strerror(errno));
    close(fd);
}

static uint16_t csum16(const uint8_t *p, size_t n)
{
    uint32_t s = 0;
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (n & 1)
        s += (uint32_t)p[n - 1] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

/* Ethernet/IPv4/UDP frame carrying `payload`; returns its length. */
static size_t udp_frame(uint8_t *f, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                        const char *payload)
{
    size_t pl = strlen(payload), n = 14 + 20 + 8 + pl;
    memset(f, 0, n);
    memcpy(f, "\x02\x00\x00\x00\x00\xbb\x02\x00\x00\x00\x00\xaa\x08\x00", 14);
    uint8_t *ip = f + 14, *udp = ip + 20;
    ip[0] = 0x45;
    ip[2] = (uint8_t)((20 + 8 + pl) >> 8);
    ip[3] = (uint8_t)(20 + 8 + pl);
    ip[8] = 64;
    ip[9] = 17;
    for (int i = 0; i < 4; i++) {
        ip[12 + i] = (uint8_t)(src >> (24 - 8 * i));
        ip[16 + i] = (uint8_t)(dst >> (24 - 8 * i));
    }
    uint16_t c = csum16(ip, 20);
    ip[10] = (uint8_t)(c >> 8);
    ip[11] = (uint8_t)c;
    udp[0] = (uint8_t)(sport >> 8);
    udp[1] = (uint8_t)sport;
    udp[2] = (uint8_t)(dport >> 8);
    udp[3] = (uint8_t)dport;
    udp[4] = (uint8_t)((8 + pl) >> 8);
    udp[5] = (uint8_t)(8 + pl);
    memcpy(udp + 8, payload, pl);
    return n;
}

static pcap_t *raw_handle(const char *iface)
{
    char eb[PCAP_ERRBUF_SIZE];
    pcap_t *h = pcap_open_live(iface, 65535, 0, 10, eb);
    cr_assert_not_null(h, "pcap_open_live %s: %s", iface, eb);
    cr_assert_eq(pcap_setnonblock(h, 1, eb), 0);
    return h;
}

static void inject(pcap_t *h, const uint8_t *f, size_t n)
{
    cr_assert_eq(pcap_inject(h, f, n), (int)n, "inject: %s", pcap_geterr(h));
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#define UDP_PAYLOAD_OFF (14 + 20 + 8)

/* ---------------------------------------------------------------- errors */

Test(io_live, nonexistent_interface_is_a_clear_error)
{
    struct mos_io *io = (struct mos_io *)0x1;
    char err[256] = "";
    int r = io_live_open("mos-nosuch0", NULL, &io, err, sizeof err);
    cr_assert_lt(r, 0);
    cr_assert_null(io);
    cr_assert_not_null(strstr(err, "mos-nosuch0"), "err: %s", err);
    r = io_live_open("", NULL, &io, err, sizeof err);
    cr_assert_eq(r, -EINVAL);
    /* Without root, opening lo fails first and the pair's error names lo. */
    if (geteuid() != 0)
        cr_skip_test("ENODEV and pair parts not run: opening interfaces needs root");
    r = io_live_open("mos-nosuch0", NULL, &io, err, sizeof err);
    cr_assert_eq(r, -ENODEV, "r=%d err=%s", r, err);
    r = io_live_open_pair("lo", "mos-nosuch1", NULL, &io, err, sizeof err);
    cr_assert_lt(r, 0);
    cr_assert_not_null(strstr(err, "mos-nosuch1"), "err: %s", err);
}

Test(io_live, bpf_syntax_error_carries_libpcap_message)
{
    if (geteuid() != 0)
        cr_skip_test("opening lo needs root");
    const char *bad = "tcp port ((";
    /* libpcap's own message for this filter, from a dead handle. */
    pcap_t *dead = pcap_open_dead(DLT_EN10MB, 65535);
    struct bpf_program prog;
    cr_assert_lt(pcap_compile(dead, &prog, bad, 1, PCAP_NETMASK_UNKNOWN), 0);
    char want[PCAP_ERRBUF_SIZE];
    snprintf(want, sizeof want, "%s", pcap_geterr(dead));
    pcap_close(dead);
    cr_assert_neq(want[0], '\0');

    struct io_live_opts o = { .bpf = bad };
    struct mos_io *io = NULL;
    char err[256] = "";
    int r = io_live_open("lo", &o, &io, err, sizeof err);
    cr_assert_eq(r, -EINVAL, "r=%d err=%s", r, err);
    cr_assert_null(io);
    cr_assert_not_null(strstr(err, want), "err '%s' lacks '%s'", err, want);
    cr_assert_not_null(strstr(err, "lo"));
}

Test(io_live, wake_on_foreign_io_is_rejected)
{
    struct mos_io other = { 0 };
    cr_assert_eq(io_live_wake(&other), -EINVAL);
    cr_assert_eq(io_live_wake(NULL), -EINVAL);
}

/* --------------------------------------------------------------- traffic */

Test(io_live, receives_injected_frames, .fini = ns_teardown, .timeout = 30)
{
    ns_setup(1);
    struct io_live_opts o = { .bpf = "udp dst port 9999", .snaplen = 2048 };
    struct mos_io *io = NULL;
    char err[256];
    cr_assert_eq(io_live_open("vb", &o, &io, err, sizeof err), 0, "%s", err);
    cr_assert_null(io->tx, "a single interface is not inline");
    cr_assert_str_eq(io->name, "pcap:vb");

    pcap_t *tx = raw_handle("va");
    uint8_t f[128];
    uint64_t t0 = now_ns();
    for (int i = 0; i < 5; i++) {
        char pl[16];
        snprintf(pl, sizeof pl, "mos-%d", i);
        inject(tx, f, udp_frame(f, 0x0ac70001, 0x0ac70002, 4000, 9999, pl));
    }
    /* A frame the filter must drop. */
    inject(tx, f, udp_frame(f, 0x0ac70001, 0x0ac70002, 4000, 9998, "other"));

    int got = 0;
    struct mos_frame fr[8];
    for (int iter = 0; iter < 500 && got < 5; iter++) {
        int n = io->rx_burst(io, fr, 8);
        cr_assert_geq(n, 0, "%s", io->err);
        for (int i = 0; i < n; i++) {
            char want[16];
            snprintf(want, sizeof want, "mos-%d", got);
            cr_assert_eq(fr[i].caplen, UDP_PAYLOAD_OFF + strlen(want));
            cr_assert_eq(fr[i].wirelen, fr[i].caplen);
            cr_assert_eq(memcmp(fr[i].data + UDP_PAYLOAD_OFF, want, strlen(want)), 0);
            cr_assert_eq(fr[i].linktype, DLT_EN10MB);
            cr_assert_eq(fr[i].port, 0);
            /* Units check: ns since the epoch, not us. */
            cr_assert_geq(fr[i].ts_ns + 1000000000ull, t0);
            cr_assert_leq(fr[i].ts_ns, now_ns() + 1000000000ull);
            got++;
        }
    }
    cr_assert_eq(got, 5);
    /* The port-9998 frame was filtered out: nothing else arrives. */
    for (int iter = 0; iter < 5; iter++)
        cr_assert_eq(io->rx_burst(io, fr, 8), 0);
    uint64_t rx = 0, drop = 0;
    cr_assert_eq(io_live_stats(io, &rx, &drop), 0);
    cr_assert_geq(rx, 5);
    pcap_close(tx);
    io->close(io);
}

/* Collect up to `want` frames whose UDP payload starts with "mos" from any
 * of the ios; returns the count; port tells which io/port got each. */
struct seen {
    char payload[32];
    int who;
    uint16_t port;
};

static int collect(struct mos_io **ios, int nio, struct seen *s, int want)
{
    int got = 0;
    struct mos_frame fr[16];
    for (int iter = 0; iter < 1000 && got < want; iter++) {
        for (int k = 0; k < nio; k++) {
            int n = ios[k]->rx_burst(ios[k], fr, 16);
            cr_assert_geq(n, 0, "%s", ios[k]->err);
            for (int i = 0; i < n && got < want + 8; i++) {
                if (fr[i].caplen <= UDP_PAYLOAD_OFF)
                    continue;
                size_t pl = fr[i].caplen - UDP_PAYLOAD_OFF;
                if (pl >= sizeof s[0].payload)
                    pl = sizeof s[0].payload - 1;
                memcpy(s[got].payload, fr[i].data + UDP_PAYLOAD_OFF, pl);
                s[got].payload[pl] = '\0';
                s[got].who = k;
                s[got].port = fr[i].port;
                got++;
            }
        }
    }
    return got;
}

Test(io_live, pair_bridges_both_ways_without_recapture, .fini = ns_teardown, .timeout = 30)
{
    ns_setup(2);
    /* Topology: va -> [vb  io  vc] -> vd */
    struct io_live_opts o = { .bpf = "udp" };
    struct mos_io *io = NULL;
    char err[256];
    cr_assert_eq(io_live_open_pair("vb", "vc", &o, &io, err, sizeof err), 0, "%s", err);
    cr_assert_not_null(io->tx);
    pcap_t *ha = raw_handle("va"), *hd = raw_handle("vd");
    uint8_t f[128];

    inject(ha, f, udp_frame(f, 0x0ac70101, 0x0ac70202, 1111, 2222, "mos-a2d"));
    inject(hd, f, udp_frame(f, 0x0ac70202, 0x0ac70101, 2222, 1111, "mos-d2a"));
    int fwd = 0;
    struct mos_frame fr[8];
    for (int iter = 0; iter < 500 && fwd < 2; iter++) {
        int n = io->rx_burst(io, fr, 8);
        cr_assert_geq(n, 0, "%s", io->err);
        for (int i = 0; i < n; i++) {
            const char *pl = (const char *)fr[i].data + UDP_PAYLOAD_OFF;
            if (fr[i].port == 0)
                cr_assert_eq(memcmp(pl, "mos-a2d", 7), 0, "port 0 got %.7s", pl);
            else
                cr_assert_eq(memcmp(pl, "mos-d2a", 7), 0, "port 1 got %.7s", pl);
            /* Forward out of the other port: the frame's own bytes. */
            cr_assert_eq(io->tx(io, (uint16_t)(1 - fr[i].port), fr[i].data, fr[i].caplen), 0, "%s",
                         io->err);
            fwd++;
        }
    }
    cr_assert_eq(fwd, 2);
    /* Our own transmissions are never input (PCAP_D_IN). */
    for (int iter = 0; iter < 5; iter++)
        cr_assert_eq(io->rx_burst(io, fr, 8), 0);

    /* And they came out at the far ends. */
    int got_d = 0, got_a = 0;
    for (int iter = 0; iter < 500 && (!got_d || !got_a); iter++) {
        struct pcap_pkthdr *h;
        const u_char *b;
        if (pcap_next_ex(hd, &h, &b) == 1 && h->caplen > UDP_PAYLOAD_OFF &&
            memcmp(b + UDP_PAYLOAD_OFF, "mos-a2d", 7) == 0)
            got_d++;
        if (pcap_next_ex(ha, &h, &b) == 1 && h->caplen > UDP_PAYLOAD_OFF &&
            memcmp(b + UDP_PAYLOAD_OFF, "mos-d2a", 7) == 0)
            got_a++;
        usleep(2000);
    }
    cr_assert_eq(got_d, 1);
    cr_assert_eq(got_a, 1);
    cr_assert_eq(io->tx(io, 2, f, 60), -EINVAL);
    pcap_close(ha);
    pcap_close(hd);
    io->close(io);
}

Test(io_live, fanout_keeps_both_directions_on_one_worker, .fini = ns_teardown, .timeout = 60)
{
    enum { FLOWS = 32, PER_DIR = 2, TOTAL = FLOWS * PER_DIR * 2 };
    ns_setup(1);
    struct io_live_opts o = { .bpf = "udp" };
    struct mos_io *w[2] = { NULL, NULL };
    char err[256];
    uint16_t group = (uint16_t)(getpid() & 0xffff);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(io_live_open_fanout("vb", group, &o, &w[i], err, sizeof err), 0, "%s", err);

    pcap_t *tx = raw_handle("va");
    uint8_t f[128];
    for (int fl = 0; fl < FLOWS; fl++) {
        uint32_t c = 0x0ac70000u + (uint32_t)fl + 1, s = 0x0ac7ff01u;
        uint16_t cp = (uint16_t)(30000 + fl * 7), sp = 53;
        for (int k = 0; k < PER_DIR; k++) {
            char pl[32];
            snprintf(pl, sizeof pl, "mos-%02d-c%d", fl, k);
            inject(tx, f, udp_frame(f, c, s, cp, sp, pl));
            snprintf(pl, sizeof pl, "mos-%02d-s%d", fl, k);
            inject(tx, f, udp_frame(f, s, c, sp, cp, pl));
        }
    }
    static struct seen s[TOTAL + 8];
    int got = collect(w, 2, s, TOTAL);
    cr_assert_eq(got, TOTAL, "each frame exactly once to one worker");

    int owner[FLOWS], count[FLOWS] = { 0 }, per_worker[2] = { 0 };
    for (int i = 0; i < FLOWS; i++)
        owner[i] = -1;
    for (int i = 0; i < got; i++) {
        int fl = atoi(s[i].payload + 4);
        cr_assert(fl >= 0 && fl < FLOWS, "payload %s", s[i].payload);
        if (owner[fl] < 0)
            owner[fl] = s[i].who;
        cr_assert_eq(owner[fl], s[i].who, "flow %d split over workers (%s)", fl, s[i].payload);
        count[fl]++;
        per_worker[s[i].who]++;
    }
    for (int i = 0; i < FLOWS; i++)
        cr_assert_eq(count[i], PER_DIR * 2, "flow %d", i);
    /* 32 flows all on one worker would be a 2^-31 accident: spread is real. */
    cr_assert_gt(per_worker[0], 0);
    cr_assert_gt(per_worker[1], 0);
    pcap_close(tx);
    for (int i = 0; i < 2; i++)
        w[i]->close(w[i]);
}

static void *waker(void *arg)
{
    usleep(50000);
    io_live_wake((struct mos_io *)arg);
    return NULL;
}

Test(io_live, wake_interrupts_an_unbounded_wait, .fini = ns_teardown, .timeout = 20)
{
    ns_setup(1);
    struct io_live_opts o = { .timeout_ms = -1, .bpf = "udp port 1" };
    struct mos_io *io = NULL;
    char err[256];
    cr_assert_eq(io_live_open("vb", &o, &io, err, sizeof err), 0, "%s", err);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, waker, io), 0);
    struct mos_frame fr[4];
    /* Without the wake this would wait forever; the test timeout catches it. */
    cr_assert_eq(io->rx_burst(io, fr, 4), 0);
    pthread_join(t, NULL);
    io->close(io);
}

/* ------------------------------------------------ real TCP through a pair */

struct fwd_ctx {
    struct mos_io *io;
    volatile int stop;
    long forwarded, errors;
};

static void *forwarder(void *arg)
{
    struct fwd_ctx *c = arg;
    struct mos_frame fr[32];
    while (!c->stop) {
        int n = c->io->rx_burst(c->io, fr, 32);
        if (n < 0) {
            c->errors++;
            break;
        }
        for (int i = 0; i < n; i++) {
            if (c->io->tx(c->io, (uint16_t)(1 - fr[i].port), fr[i].data, fr[i].caplen) == 0)
                c->forwarded++;
            else
                c->errors++;
        }
    }
    return NULL;
}

static void tcp_teardown(void)
{
    sh("N=mostest%1$d; for s in cli mb srv; do ip netns del $N$s 2>/dev/null; done; "
       "rm -rf /tmp/mos-io-live.%1$d", (int)getpid());
    g_ns[0] = '\0';
}

/* client-ns <-> [mb0  io_live pair  mb1] <-> server-ns: an HTTP download
 * must arrive intact with this process as the only path between them. */
Test(io_live, pair_carries_a_tcp_transfer, .fini = tcp_teardown, .timeout = 90)
{
    if (!have_ip() || access("/usr/sbin/ethtool", X_OK) != 0 || system("command -v python3 >/dev/null && command -v curl >/dev/null") != 0)
        cr_skip_test("needs root, ip, ethtool, python3 and curl");
    int pid = (int)getpid();
    snprintf(g_ns, sizeof g_ns, "mostest%dmb", pid);
    char dir[96];
    snprintf(dir, sizeof dir, "/tmp/mos-io-live.%d", pid);
    /* Offloads off: packet sockets must see wire-sized frames, not GSO
     * super-frames that could not be re-injected. */
    int r = sh("set -e; N=mostest%1$d; mkdir -p %2$s; head -c 1048576 /dev/urandom > %2$s/blob;"
               "for s in cli mb srv; do ip netns add $N$s; ip netns exec $N$s sysctl -qw "
               "net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1; "
               "ip -n $N$s link set lo up; done;"
               "ip -n ${N}cli link add name cli0 type veth peer name mb0 netns ${N}mb;"
               "ip -n ${N}srv link add name srv0 type veth peer name mb1 netns ${N}mb;"
               "ip -n ${N}cli addr add 10.199.1.1/24 dev cli0; ip -n ${N}srv addr add 10.199.1.2/24 dev srv0;"
               "for p in ${N}cli:cli0 ${N}srv:srv0 ${N}mb:mb0 ${N}mb:mb1; do "
               "ip netns exec ${p%%:*} ethtool -K ${p#*:} tso off gso off gro off tx off rx off >/dev/null 2>&1 || true; "
               "ip -n ${p%%:*} link set ${p#*:} up; done",
               pid, dir);
    cr_assert_eq(r, 0, "topology setup failed");

    char path[128];
    snprintf(path, sizeof path, "/var/run/netns/%s", g_ns);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    cr_assert_geq(fd, 0);
    cr_assert_eq(setns(fd, CLONE_NEWNET), 0);
    close(fd);

    struct io_live_opts o = { .snaplen = 65535 };
    struct fwd_ctx c = { 0 };
    char err[256];
    cr_assert_eq(io_live_open_pair("mb0", "mb1", &o, &c.io, err, sizeof err), 0, "%s", err);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, forwarder, &c), 0);

    r = sh("N=mostest%1$d; timeout 40 ip netns exec ${N}srv python3 -m http.server 8080 --bind 10.199.1.2 "
           "--directory %2$s >/dev/null 2>&1 & srv=$!;"
           "ok=1; for i in $(seq 100); do timeout 2 ip netns exec ${N}cli bash -c "
           "'exec 3<>/dev/tcp/10.199.1.2/8080' 2>/dev/null && { ok=0; break; }; sleep 0.1; done;"
           "[ $ok = 0 ] && timeout 30 ip netns exec ${N}cli curl -sS --fail --max-time 25 "
           "-o %2$s/got http://10.199.1.2:8080/blob; rc=$?; kill $srv; wait $srv 2>/dev/null;"
           "[ $ok = 0 ] && [ $rc = 0 ] && cmp -s %2$s/blob %2$s/got",
           pid, dir);
    c.stop = 1;
    io_live_wake(c.io);
    pthread_join(t, NULL);
    c.io->close(c.io);
    cr_assert_eq(r, 0, "download through the pair failed or differs (forwarded %ld, errors %ld)",
                 c.forwarded, c.errors);
    cr_assert_eq(c.errors, 0);
    /* 1 MiB needs at least ~700 full segments one way. */
    cr_assert_gt(c.forwarded, 700);
}
