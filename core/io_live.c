/*
 * io_live.c - libpcap live interfaces as a struct mos_io.
 *
 * Handles are activated in immediate mode (no batching latency) and made
 * non-blocking; rx_burst drains every handle round-robin and, only when
 * nothing was there, polls the handles' selectable fds plus an eventfd that
 * io_live_wake() writes, so shutdown never waits on a quiet link.
 *
 * Frames are copied into a per-io arena: libpcap hands a ring slot back to
 * the kernel as soon as the callback returns, so its pointers would not
 * survive until the next rx_burst as io.h promises. The arena is sized for
 * max * snaplen and reset at the start of every rx_burst, which is exactly
 * the lifetime io.h gives frames.
 *
 * Pairs capture with PCAP_D_IN so the frames we inject on one side are not
 * read back as input on that side. Fanout joins the AF_PACKET socket that
 * libpcap opened (pcap_fileno) to a PACKET_FANOUT_HASH group after
 * activation; the kernel hashes flows symmetrically for this mode.
 */
#include "io_live.h"

#include <errno.h>
#include <stdarg.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#ifdef __linux__
#include <linux/if_packet.h>
#include <sys/socket.h>
#endif

#define DEFAULT_SNAPLEN 65535
#define DEFAULT_BUFFER (8u << 20) /* absorbs ~6k full-size frames of burst */
#define DEFAULT_TIMEOUT_MS 10     /* keeps an idle core's timers at ~10 ms resolution */
#define MAX_PORTS 2

struct live_io {
    struct mos_io io;
    pcap_t *h[MAX_PORTS];
    int fd[MAX_PORTS];
    int linktype[MAX_PORTS];
    int nano[MAX_PORTS];     /* timestamps already in ns */
    int nh;
    int wakefd;
    int timeout_ms;
    uint32_t snaplen;
    unsigned rr;             /* first port drained next time, for fairness */
    unsigned bursts;         /* rx_burst calls, for the kernel stats poll */
    uint8_t *arena;
    size_t arena_cap;
    char namebuf[160];
};

/* Collection state for one rx_burst. */
struct rx_ctx {
    struct live_io *l;
    struct mos_frame *frames;
    int n, max;
    uint16_t port;
    size_t used;
};

static void set_err(char *err, size_t errlen, struct live_io *l, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_err(char *err, size_t errlen, struct live_io *l, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (err && errlen)
        snprintf(err, errlen, "%s", buf);
    if (l)
        snprintf(l->io.err, sizeof l->io.err, "%s", buf);
}

static void on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
    struct rx_ctx *c = (struct rx_ctx *)user;
    struct live_io *l = c->l;
    uint32_t cap = h->caplen;

    /* Defensive: the arena holds max * snaplen; never write past it even if
     * a driver reports a caplen above the snapshot length. */
    if (cap > l->snaplen)
        cap = l->snaplen;
    if (c->n >= c->max || c->used + cap > l->arena_cap)
        return;
    uint8_t *dst = l->arena + c->used;
    memcpy(dst, bytes, cap);
    c->used += cap;

    struct mos_frame *f = &c->frames[c->n++];
    f->data = dst;
    f->caplen = cap;
    f->wirelen = h->len;
    f->ts_ns = (uint64_t)h->ts.tv_sec * 1000000000ull +
               (uint64_t)h->ts.tv_usec * (l->nano[c->port] ? 1u : 1000u);
    f->linktype = l->linktype[c->port];
    f->port = c->port;
    f->pad = 0;
}

static int drain(struct live_io *l, struct rx_ctx *c)
{
    for (int k = 0; k < l->nh && c->n < c->max; k++) {
        int p = (int)((l->rr + (unsigned)k) % (unsigned)l->nh);
        c->port = (uint16_t)p;
        int r = pcap_dispatch(l->h[p], c->max - c->n, on_packet, (u_char *)c);
        if (r == PCAP_ERROR) {
            set_err(NULL, 0, l, "pcap read failed: %s", pcap_geterr(l->h[p]));
            return -EIO;
        }
    }
    l->rr++;
    return 0;
}

#define STATS_EVERY 256 /* rx_burst calls between two pcap_stats reads */

static int live_rx_burst(struct mos_io *io, struct mos_frame *frames, int max)
{
    struct live_io *l = (struct live_io *)io;
    if (max <= 0)
        return 0;
    if (++l->bursts % STATS_EVERY == 0) {
        /* kernel drops since activation, for the engine's pkts_missed_io */
        uint64_t dropped;
        if (io_live_stats(io, NULL, &dropped) == 0)
            io->rx_missed = dropped;
    }

    size_t need = (size_t)max * l->snaplen;
    if (need > l->arena_cap) {
        /* Frames of the previous burst are dead by contract: safe to move. */
        uint8_t *a = realloc(l->arena, need);
        if (!a) {
            set_err(NULL, 0, l, "out of memory for %d frames", max);
            return -ENOMEM;
        }
        l->arena = a;
        l->arena_cap = need;
    }

    struct rx_ctx c = { .l = l, .frames = frames, .max = max };
    int r = drain(l, &c);
    if (r < 0)
        return r;
    if (c.n > 0)
        return c.n;

    struct pollfd pfd[MAX_PORTS + 1];
    for (int i = 0; i < l->nh; i++)
        pfd[i] = (struct pollfd){ .fd = l->fd[i], .events = POLLIN };
    pfd[l->nh] = (struct pollfd){ .fd = l->wakefd, .events = POLLIN };
    int pr = poll(pfd, (nfds_t)l->nh + 1, l->timeout_ms);
    if (pr < 0)
        return errno == EINTR ? 0 : -errno;
    if (pfd[l->nh].revents & POLLIN) {
        uint64_t v;
        /* Nonblocking eventfd: reading resets it so one wake = one return. */
        if (read(l->wakefd, &v, sizeof v) < 0 && errno != EAGAIN)
            return -errno;
        return 0;
    }
    for (int i = 0; i < l->nh; i++) {
        if (pfd[i].revents & (POLLERR | POLLNVAL)) {
            set_err(NULL, 0, l, "capture socket error on port %d", i);
            return -EIO;
        }
    }
    if (pr == 0)
        return 0;
    r = drain(l, &c);
    return r < 0 ? r : c.n;
}

static int live_tx(struct mos_io *io, uint16_t port, const uint8_t *data, uint32_t len)
{
    struct live_io *l = (struct live_io *)io;
    if (port >= l->nh)
        return -EINVAL;
    int r = pcap_inject(l->h[port], data, len);
    if (r < 0) {
        set_err(NULL, 0, l, "pcap_inject on port %u: %s", port, pcap_geterr(l->h[port]));
        return -EIO;
    }
    return (uint32_t)r == len ? 0 : -EIO;
}

static void live_close(struct mos_io *io)
{
    struct live_io *l = (struct live_io *)io;
    if (!l)
        return;
    for (int i = 0; i < l->nh; i++)
        if (l->h[i])
            pcap_close(l->h[i]);
    if (l->wakefd >= 0)
        close(l->wakefd);
    free(l->arena);
    free(l);
}

static int status_errno(int st)
{
    switch (st) {
    case PCAP_ERROR_NO_SUCH_DEVICE: return -ENODEV;
    case PCAP_ERROR_PERM_DENIED:
    case PCAP_ERROR_PROMISC_PERM_DENIED: return -EPERM;
    case PCAP_ERROR_IFACE_NOT_UP: return -ENETDOWN;
    default: return -EIO;
    }
}

/* Open, configure and activate one handle as port `port` of l. */
static int open_one(struct live_io *l, int port, const char *iface, const struct io_live_opts *o,
                    bool dir_in, char *err, size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    pcap_t *h = pcap_create(iface, ebuf);
    if (!h) {
        set_err(err, errlen, l, "pcap:%s: %s", iface, ebuf);
        return -EIO;
    }
    l->h[port] = h;
    l->nh = port + 1;

    pcap_set_snaplen(h, (int)l->snaplen);
    pcap_set_promisc(h, o->promisc ? 1 : 0);
    pcap_set_immediate_mode(h, 1);
    pcap_set_buffer_size(h, (int)(o->buffer_bytes ? o->buffer_bytes : DEFAULT_BUFFER));
    /* Nanosecond stamps where the platform has them; micro otherwise. */
    (void)pcap_set_tstamp_precision(h, PCAP_TSTAMP_PRECISION_NANO);

    int st = pcap_activate(h);
    if (st < 0) {
        const char *msg = pcap_geterr(h);
        /* For some statuses libpcap leaves the buffer empty; the status text
         * (e.g. "No such device exists") is the useful part then. */
        set_err(err, errlen, l, "pcap:%s: %s%s%s", iface, pcap_statustostr(st),
                msg && *msg ? ": " : "", msg && *msg ? msg : "");
        return status_errno(st);
    }
    l->nano[port] = pcap_get_tstamp_precision(h) == PCAP_TSTAMP_PRECISION_NANO;
    l->linktype[port] = pcap_datalink(h);
    int snap = pcap_snapshot(h);
    if (snap > 0 && (uint32_t)snap > l->snaplen)
        l->snaplen = (uint32_t)snap;

    if (dir_in && pcap_setdirection(h, PCAP_D_IN) < 0) {
        set_err(err, errlen, l, "pcap:%s: cannot capture inbound only: %s", iface, pcap_geterr(h));
        return -EIO;
    }
    if (o->bpf && *o->bpf) {
        struct bpf_program prog;
        if (pcap_compile(h, &prog, o->bpf, 1, PCAP_NETMASK_UNKNOWN) < 0) {
            set_err(err, errlen, l, "pcap:%s: bad filter \"%s\": %s", iface, o->bpf, pcap_geterr(h));
            return -EINVAL;
        }
        int fr = pcap_setfilter(h, &prog);
        pcap_freecode(&prog);
        if (fr < 0) {
            set_err(err, errlen, l, "pcap:%s: cannot set filter: %s", iface, pcap_geterr(h));
            return -EINVAL;
        }
    }
    if (pcap_setnonblock(h, 1, ebuf) < 0) {
        set_err(err, errlen, l, "pcap:%s: %s", iface, ebuf);
        return -EIO;
    }
    l->fd[port] = pcap_get_selectable_fd(h);
    if (l->fd[port] < 0) {
        set_err(err, errlen, l, "pcap:%s: no selectable descriptor", iface);
        return -EOPNOTSUPP;
    }
    if (o->fanout) {
#if defined(__linux__) && defined(PACKET_FANOUT)
        int group = (int)(uint16_t)(o->fanout_group + port);
        int val = group | (PACKET_FANOUT_HASH << 16);
        if (setsockopt(pcap_fileno(h), SOL_PACKET, PACKET_FANOUT, &val, sizeof val) < 0) {
            int e = errno;
            set_err(err, errlen, l, "pcap:%s: PACKET_FANOUT group %d: %s", iface, group, strerror(e));
            return e == EINVAL || e == ENOPROTOOPT ? -EOPNOTSUPP : -e;
        }
#else
        set_err(err, errlen, l, "pcap:%s: packet fanout is Linux-only", iface);
        return -EOPNOTSUPP;
#endif
    }
    return 0;
}

static int open_common(const char **ifaces, int n, const struct io_live_opts *opts, bool force_in,
                       struct mos_io **out, char *err, size_t errlen)
{
    static const struct io_live_opts defaults = { 0 };
    const struct io_live_opts *o = opts ? opts : &defaults;

    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (!ifaces[i] || !*ifaces[i]) {
            set_err(err, errlen, NULL, "pcap: empty interface name");
            return -EINVAL;
        }
    }
    struct live_io *l = calloc(1, sizeof *l);
    if (!l) {
        set_err(err, errlen, NULL, "pcap: out of memory");
        return -ENOMEM;
    }
    l->wakefd = -1;
    l->snaplen = o->snaplen ? o->snaplen : DEFAULT_SNAPLEN;
    l->timeout_ms = o->timeout_ms == 0 ? DEFAULT_TIMEOUT_MS : (o->timeout_ms < 0 ? -1 : o->timeout_ms);
    l->io.rx_burst = live_rx_burst;
    l->io.tx = n == 2 ? live_tx : NULL;
    l->io.close = live_close;
    if (n == 2)
        snprintf(l->namebuf, sizeof l->namebuf, "pcap:%s<->%s", ifaces[0], ifaces[1]);
    else
        snprintf(l->namebuf, sizeof l->namebuf, "pcap:%s", ifaces[0]);
    l->io.name = l->namebuf;

    l->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->wakefd < 0) {
        int e = errno;
        set_err(err, errlen, l, "%s: eventfd: %s", l->namebuf, strerror(e));
        live_close(&l->io);
        return -e;
    }
    for (int i = 0; i < n; i++) {
        int r = open_one(l, i, ifaces[i], o, force_in || o->dir_in, err, errlen);
        if (r < 0) {
            live_close(&l->io);
            return r;
        }
    }
    *out = &l->io;
    return 0;
}

int io_live_open(const char *iface, const struct io_live_opts *opts, struct mos_io **out,
                 char *err, size_t errlen)
{
    const char *v[1] = { iface };
    return open_common(v, 1, opts, false, out, err, errlen);
}

int io_live_open_pair(const char *iface_a, const char *iface_b, const struct io_live_opts *opts,
                      struct mos_io **out, char *err, size_t errlen)
{
    const char *v[2] = { iface_a, iface_b };
    return open_common(v, 2, opts, true, out, err, errlen);
}

int io_live_open_fanout(const char *iface, uint16_t group_id, const struct io_live_opts *opts,
                        struct mos_io **out, char *err, size_t errlen)
{
    struct io_live_opts o = opts ? *opts : (struct io_live_opts){ 0 };
    o.fanout = true;
    o.fanout_group = group_id;
    const char *v[1] = { iface };
    return open_common(v, 1, &o, false, out, err, errlen);
}

int io_live_wake(struct mos_io *io)
{
    if (!io || io->rx_burst != live_rx_burst)
        return -EINVAL;
    struct live_io *l = (struct live_io *)io;
    uint64_t one = 1;
    /* EAGAIN means the counter is saturated: a wake is already pending. */
    if (write(l->wakefd, &one, sizeof one) < 0 && errno != EAGAIN)
        return -errno;
    return 0;
}

int io_live_stats(struct mos_io *io, uint64_t *received, uint64_t *dropped)
{
    if (!io || io->rx_burst != live_rx_burst)
        return -EINVAL;
    struct live_io *l = (struct live_io *)io;
    uint64_t rx = 0, dr = 0;
    for (int i = 0; i < l->nh; i++) {
        struct pcap_stat s;
        if (pcap_stats(l->h[i], &s) < 0) {
            set_err(NULL, 0, l, "pcap_stats: %s", pcap_geterr(l->h[i]));
            return -EIO;
        }
        rx += s.ps_recv;
        dr += (uint64_t)s.ps_drop + s.ps_ifdrop;
    }
    if (received)
        *received = rx;
    if (dropped)
        *dropped = dr;
    return 0;
}
