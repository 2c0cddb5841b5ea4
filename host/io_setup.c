/*
 * io_setup.c - turn -r/-i and the [io] config into one struct mos_io per
 * worker (see io_setup.h for the policy).
 *
 * Offline distribution: the distributor thread is the only producer and
 * each worker the only consumer of its ring, so a ring is two monotonic
 * byte counters (head: published by the producer; tail: released by the
 * consumer) over a power-of-two buffer of variable-sized records. A record
 * never wraps: when it does not fit before the end of the buffer, the
 * producer writes a skip marker (or nothing, when not even a header fits)
 * and starts at offset 0; the consumer applies the same rule. Frames handed
 * out by rx_burst are released only at the next rx_burst, which is the
 * lifetime io.h promises. A full ring makes the producer wait (offline,
 * backpressure instead of drops); a worker that ends early marks its ring
 * closed so the producer discards its frames instead of waiting forever.
 * The end of input (or a read error, with its text) is posted to every ring
 * after the last frame, so each worker sees it only after draining.
 */
#define _GNU_SOURCE
#include "io_setup.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "flow_hash.h"
#include "host.h"
#include "io.h"
#include "io_live.h"
#ifdef MOS_HAVE_DPDK
#include "io_dpdk.h"
#endif

#define RING_BYTES (8u << 20)  /* per worker: > 2 records of the largest snaplen */
#define RING_MASK (RING_BYTES - 1)
#define REC_SKIP UINT32_MAX    /* caplen of a "skip to the buffer end" marker */
#define READ_BURST 64
#define IDLE_RETURN_NS 10000000ull /* rx_burst returns 0 after this long idle */
#define MAX_DPDK_PORTS 8

struct rec {
    uint32_t size;              /* whole record, header included, 8-aligned */
    uint32_t caplen, wirelen;
    int32_t linktype;
    uint64_t ts_ns;
    uint64_t index;             /* frame number in the capture, from 0 */
};

struct ring {
    struct mos_io io;           /* the worker's view; first member */
    alignas(64) _Atomic uint64_t head;
    alignas(64) _Atomic uint64_t tail;
    alignas(64) uint64_t rd;    /* consumer: read position (>= tail) */
    uint64_t wr;                /* producer: write position (>= head) */
    _Atomic int done;           /* producer posted final_rc */
    _Atomic int closed;         /* consumer gone: producer discards */
    int final_rc;
    char final_err[256];
    uint8_t *buf;
};

enum plan { PLAN_NONE, PLAN_OFFLINE, PLAN_DISTRIB, PLAN_LIVE, PLAN_DPDK };

struct io_setup {
    enum plan plan;
    struct mos_io *src;         /* the distributor's capture */
    struct ring *rings[HOST_MAX_CORES];
    unsigned nworkers;
    pthread_t reader;
    bool reader_started;
    _Atomic int stop;
    uint64_t frames_read;
    bool dpdk_up;
    uint16_t dpdk_ports[MAX_DPDK_PORTS];
    int ndpdk;
};

/* ------------------------------------------------------------------ rings */

static void backoff(unsigned *spins)
{
    if (++*spins < 32) {
        sched_yield();
        return;
    }
    struct timespec ts = {0, 50000};
    nanosleep(&ts, NULL);
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int ring_rx_burst(struct mos_io *io, struct mos_frame *frames, int max)
{
    struct ring *r = (struct ring *)io;
    atomic_store_explicit(&r->tail, r->rd, memory_order_release); /* previous burst is done */
    uint64_t start = 0;
    unsigned spins = 0;
    for (;;) {
        uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
        int n = 0;
        while (n < max && r->rd < head) {
            uint32_t pos = (uint32_t)(r->rd & RING_MASK);
            uint32_t room = RING_BYTES - pos;
            if (room < sizeof(struct rec)) {
                r->rd += room;
                continue;
            }
            const struct rec *h = (const struct rec *)(r->buf + pos);
            if (h->caplen == REC_SKIP) {
                r->rd += room;
                continue;
            }
            struct mos_frame *f = &frames[n++];
            f->data = r->buf + pos + sizeof(*h);
            f->caplen = h->caplen;
            f->wirelen = h->wirelen;
            f->ts_ns = h->ts_ns;
            f->linktype = h->linktype;
            f->port = 0;
            f->pad = 0;
            r->rd += h->size;
        }
        if (n > 0)
            return n;
        if (atomic_load_explicit(&r->done, memory_order_acquire)) {
            /* done is stored after the last head update: recheck head */
            if (r->rd == atomic_load_explicit(&r->head, memory_order_acquire)) {
                if (r->final_err[0])
                    snprintf(io->err, sizeof(io->err), "%s", r->final_err);
                return r->final_rc;
            }
            continue;
        }
        uint64_t now = mono_ns();
        if (!start)
            start = now;
        else if (now - start > IDLE_RETURN_NS)
            return 0; /* lets the loop poll signals */
        backoff(&spins);
    }
}

static void ring_close(struct mos_io *io)
{
    /* io_setup_close owns the memory; the worker only says it is gone */
    atomic_store(&((struct ring *)io)->closed, 1);
}

static struct ring *ring_new(unsigned id)
{
    struct ring *r = aligned_alloc(64, sizeof(*r));
    if (!r)
        return NULL;
    memset(r, 0, sizeof(*r));
    r->buf = malloc(RING_BYTES);
    if (!r->buf) {
        free(r);
        return NULL;
    }
    r->io.rx_burst = ring_rx_burst;
    r->io.close = ring_close;
    r->io.name = "distributor";
    (void)id;
    return r;
}

/* Copy one frame in; waits while the ring is full. -ECANCELED when the
 * worker is gone or the run is stopping (the frame is discarded). */
static int ring_push(struct io_setup *s, struct ring *r, const struct mos_frame *f, uint64_t index)
{
    uint32_t caplen = f->caplen;
    if (caplen > RING_BYTES / 4)
        caplen = RING_BYTES / 4; /* never happens with libpcap's snaplen cap */
    uint32_t size = (uint32_t)((sizeof(struct rec) + caplen + 7u) & ~7u);
    uint32_t pos = (uint32_t)(r->wr & RING_MASK);
    uint32_t room = RING_BYTES - pos;
    uint64_t need = room < size ? (uint64_t)room + size : size;
    unsigned spins = 0;
    while (RING_BYTES - (r->wr - atomic_load_explicit(&r->tail, memory_order_acquire)) < need) {
        if (atomic_load_explicit(&r->closed, memory_order_relaxed) ||
            atomic_load_explicit(&s->stop, memory_order_relaxed))
            return -ECANCELED;
        backoff(&spins);
    }
    if (room < size) {
        if (room >= sizeof(struct rec)) {
            struct rec *m = (struct rec *)(r->buf + pos);
            m->size = room;
            m->caplen = REC_SKIP;
        }
        r->wr += room;
        pos = 0;
    }
    struct rec *h = (struct rec *)(r->buf + pos);
    h->size = size;
    h->caplen = caplen;
    h->wirelen = f->wirelen;
    h->linktype = f->linktype;
    h->ts_ns = f->ts_ns;
    h->index = index;
    memcpy(r->buf + pos + sizeof(*h), f->data, caplen);
    r->wr += size;
    atomic_store_explicit(&r->head, r->wr, memory_order_release);
    return 0;
}

static void *reader_main(void *arg)
{
    struct io_setup *s = arg;
    struct mos_frame frames[READ_BURST];
    int rc;
    for (;;) {
        if (atomic_load_explicit(&s->stop, memory_order_relaxed)) {
            rc = MOS_IO_EOF;
            break;
        }
        rc = s->src->rx_burst(s->src, frames, READ_BURST);
        if (rc < 0)
            break;
        for (int i = 0; i < rc; i++) {
            const struct mos_frame *f = &frames[i];
            unsigned w = flow_hash_worker(flow_hash_frame(f->linktype, f->data, f->caplen, 0), s->nworkers);
            ring_push(s, s->rings[w], f, s->frames_read++);
        }
    }
    for (unsigned w = 0; w < s->nworkers; w++) {
        struct ring *r = s->rings[w];
        r->final_rc = rc;
        snprintf(r->final_err, sizeof(r->final_err), "%s", s->src->err);
        atomic_store_explicit(&r->done, 1, memory_order_release);
    }
    return NULL;
}

/* ------------------------------------------------------------ input specs */

enum src_kind { SRC_FILE, SRC_LIVE, SRC_DPDK };

static enum src_kind classify(const char *spec, const char **name)
{
    if (strncmp(spec, "file:", 5) == 0) {
        *name = spec + 5;
        return SRC_FILE;
    }
    if (strncmp(spec, "dpdk:", 5) == 0) {
        *name = spec + 5;
        return SRC_DPDK;
    }
    *name = strncmp(spec, "pcap:", 5) == 0 ? spec + 5 : spec;
    return SRC_LIVE;
}

static int open_offline(struct mos_host *h, struct io_setup *s, const char *path)
{
    char err[512] = "";
    struct mos_io *io = NULL;
    int rc = io_pcap_open_offline(path, &io, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "mos-lua: %s: %s\n", path, err[0] ? err : strerror(-rc));
        return HOST_EXIT_RUNTIME;
    }
    if (h->ncores == 1) {
        s->plan = PLAN_OFFLINE;
        h->workers[0].io = io;
        return HOST_EXIT_OK;
    }
    s->plan = PLAN_DISTRIB;
    s->src = io;
    for (unsigned w = 0; w < h->ncores; w++) {
        s->rings[w] = ring_new(w);
        if (!s->rings[w]) {
            fprintf(stderr, "mos-lua: out of memory for the distributor rings\n");
            return HOST_EXIT_RUNTIME;
        }
        h->workers[w].io = &s->rings[w]->io;
    }
    return HOST_EXIT_OK;
}

static void live_opts(const struct mos_host *h, struct io_live_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->snaplen = h->cfg.snaplen;
    o->promisc = true;
    o->bpf = h->cfg.bpf[0] ? h->cfg.bpf : NULL;
    o->timeout_ms = 10;
    /* libpcap's immediate mode uses TPACKET_V2, one snaplen-sized slot per
     * frame: 8 MiB would hold only ~128 frames of 64 KiB, less than one TCP
     * window burst. Give the ring room for a few thousand. */
    o->buffer_bytes = 64u << 20;
}

/* Fanout group ids are per network namespace and global to it: derive one
 * from the pid, leaving room for the +1 of a pair's B side. */
static uint16_t fanout_group(void)
{
    return (uint16_t)(((unsigned)getpid() * 2u) & 0xfffeu);
}

static int open_live(struct mos_host *h, struct io_setup *s, const char *a, const char *b)
{
    struct io_live_opts o;
    live_opts(h, &o);
    s->plan = PLAN_LIVE;
    uint16_t group = fanout_group();
    for (unsigned w = 0; w < h->ncores; w++) {
        char err[512] = "";
        int rc;
        if (h->ncores > 1) {
            o.fanout = true;
            o.fanout_group = group;
        }
        if (b)
            rc = io_live_open_pair(a, b, &o, &h->workers[w].io, err, sizeof(err));
        else if (h->ncores > 1)
            rc = io_live_open_fanout(a, group, &o, &h->workers[w].io, err, sizeof(err));
        else
            rc = io_live_open(a, &o, &h->workers[w].io, err, sizeof(err));
        if (rc < 0) {
            fprintf(stderr, "mos-lua: %s\n", err[0] ? err : strerror(-rc));
            return rc == -EINVAL ? HOST_EXIT_USAGE : HOST_EXIT_RUNTIME;
        }
    }
    return HOST_EXIT_OK;
}

#ifdef MOS_HAVE_DPDK
static int open_dpdk(struct mos_host *h, struct io_setup *s, const char *const *names, int n)
{
    char err[512] = "";
    /* EAL pins the calling thread; workers created later would inherit it */
    cpu_set_t saved;
    bool have_aff = pthread_getaffinity_np(pthread_self(), sizeof(saved), &saved) == 0;
    int rc = io_dpdk_init(h->cfg.dpdk_eal, err, sizeof(err));
    if (have_aff)
        pthread_setaffinity_np(pthread_self(), sizeof(saved), &saved);
    if (rc < 0) {
        fprintf(stderr, "mos-lua: dpdk: %s\n", err[0] ? err : strerror(-rc));
        return HOST_EXIT_RUNTIME;
    }
    s->dpdk_up = true;
    s->plan = PLAN_DPDK;
    if (n > MAX_DPDK_PORTS) {
        fprintf(stderr, "mos-lua: dpdk: at most %d ports\n", MAX_DPDK_PORTS);
        return HOST_EXIT_USAGE;
    }
    for (int i = 0; i < n; i++) {
        uint16_t pid;
        if (io_dpdk_port_by_name(names[i], &pid) < 0) {
            fprintf(stderr, "mos-lua: dpdk:%s: no such port (io.dpdk_eal needs --vdev or a PCI device; %d ports known)\n",
                    names[i], io_dpdk_port_count());
            return HOST_EXIT_USAGE;
        }
        rc = io_dpdk_port_setup(pid, (uint16_t)h->ncores, err, sizeof(err));
        if (rc < 0) {
            fprintf(stderr, "mos-lua: dpdk:%s: %s\n", names[i], err[0] ? err : strerror(-rc));
            return HOST_EXIT_RUNTIME;
        }
        s->dpdk_ports[s->ndpdk++] = pid;
        if ((unsigned)rc < h->ncores) {
            fprintf(stderr, "mos-lua: dpdk:%s: the device has %d queue(s), fewer than the %u cores asked for\n",
                    names[i], rc, h->ncores);
            return HOST_EXIT_USAGE;
        }
    }
    for (unsigned w = 0; w < h->ncores; w++) {
        rc = io_dpdk_open(s->dpdk_ports, s->ndpdk, (uint16_t)w, &h->workers[w].io, err, sizeof(err));
        if (rc < 0) {
            fprintf(stderr, "mos-lua: dpdk: worker %u: %s\n", w, err[0] ? err : strerror(-rc));
            return HOST_EXIT_RUNTIME;
        }
    }
    return HOST_EXIT_OK;
}
#else
static int open_dpdk(struct mos_host *h, struct io_setup *s, const char *const *names, int n)
{
    (void)h, (void)s, (void)n;
    fprintf(stderr, "mos-lua: dpdk:%s: DPDK input not built (libdpdk was not found at build time)\n",
            names[0]);
    return HOST_EXIT_USAGE;
}
#endif

static int open_pairs(struct mos_host *h, struct io_setup *s)
{
    const char *names[2 * MOS_CONFIG_MAX_PAIRS];
    enum src_kind kind = SRC_LIVE;
    int n = 0;
    for (uint32_t p = 0; p < h->cfg.npairs; p++) {
        for (int e = 0; e < 2; e++) {
            enum src_kind k = classify(h->cfg.inline_pairs[p][e], &names[n]);
            if (k == SRC_FILE || (n > 0 && k != kind)) {
                fprintf(stderr, "mos-lua: io.inline_pair %s,%s: both ends must be interfaces (pcap:IF) "
                        "or DPDK ports (dpdk:NAME)\n", h->cfg.inline_pairs[p][0], h->cfg.inline_pairs[p][1]);
                return HOST_EXIT_USAGE;
            }
            kind = k;
            n++;
        }
    }
    if (kind == SRC_DPDK)
        return open_dpdk(h, s, names, n);
    if (h->cfg.npairs > 1) {
        fprintf(stderr, "mos-lua: io.inline_pair: one interface pair at most with libpcap (DPDK takes %d)\n",
                MOS_CONFIG_MAX_PAIRS);
        return HOST_EXIT_USAGE;
    }
    return open_live(h, s, names[0], names[1]);
}

static int open_spec(struct mos_host *h, struct io_setup *s, const char *spec)
{
    const char *name;
    switch (classify(spec, &name)) {
    case SRC_FILE:
        return open_offline(h, s, name);
    case SRC_DPDK:
        return open_dpdk(h, s, &name, 1);
    default:
        return open_live(h, s, name, NULL);
    }
}

int io_setup_open(struct mos_host *h)
{
    struct io_setup *s = calloc(1, sizeof(*s));
    if (!s) {
        fprintf(stderr, "mos-lua: out of memory\n");
        return HOST_EXIT_RUNTIME;
    }
    h->ios = s;
    s->nworkers = h->ncores;
    const char *spec = NULL;
    bool pairs = false;
    if (h->capture) {
        /* -r wins over everything in the config */
    } else if (h->iface) {
        if (h->cfg.npairs > 0) {
            fprintf(stderr, "mos-lua: -i %s: give either -i or io.inline_pair, not both\n", h->iface);
            return HOST_EXIT_USAGE;
        }
        spec = h->iface;
    } else if (h->cfg.npairs > 0) {
        pairs = true;
    } else if (h->cfg.ninputs == 1) {
        spec = h->cfg.inputs[0];
    } else if (h->cfg.ninputs > 1) {
        fprintf(stderr, "mos-lua: io.input: one input at most (got %u); use io.inline_pair to bridge\n",
                h->cfg.ninputs);
        return HOST_EXIT_USAGE;
    }
    if (!h->capture && !spec && !pairs) {
        if (h->check)
            return HOST_EXIT_OK;
        fprintf(stderr, "mos-lua: no input: give -r FILE, -i IFACE, io.input or io.inline_pair\n");
        return HOST_EXIT_USAGE;
    }
    if (h->check)
        return HOST_EXIT_OK; /* --check runs nothing, not even the input */
    if (h->capture)
        return open_offline(h, s, h->capture);
    if (pairs)
        return open_pairs(h, s);
    return open_spec(h, s, spec);
}

int io_setup_start(struct mos_host *h)
{
    struct io_setup *s = h->ios;
    if (!s || s->plan != PLAN_DISTRIB)
        return HOST_EXIT_OK;
    int e = pthread_create(&s->reader, NULL, reader_main, s);
    if (e != 0) {
        fprintf(stderr, "mos-lua: cannot start the distributor: %s\n", strerror(e));
        return HOST_EXIT_RUNTIME;
    }
    s->reader_started = true;
    return HOST_EXIT_OK;
}

void io_setup_worker_done(struct mos_host *h, unsigned worker)
{
    struct io_setup *s = h->ios;
    if (s && s->plan == PLAN_DISTRIB && worker < s->nworkers && s->rings[worker])
        atomic_store(&s->rings[worker]->closed, 1);
}

int io_setup_close(struct mos_host *h)
{
    struct io_setup *s = h->ios;
    if (!s)
        return 0;
    atomic_store(&s->stop, 1);
    if (s->reader_started)
        pthread_join(s->reader, NULL);
    for (unsigned w = 0; w < h->ncores; w++) {
        struct mos_io *io = h->workers[w].io;
        if (io && io->close)
            io->close(io);
        h->workers[w].io = NULL;
        if (s->rings[w]) {
            free(s->rings[w]->buf);
            free(s->rings[w]);
        }
    }
    if (s->src && s->src->close)
        s->src->close(s->src);
#ifdef MOS_HAVE_DPDK
    for (int i = 0; i < s->ndpdk; i++)
        io_dpdk_port_close(s->dpdk_ports[i]);
    if (s->dpdk_up)
        io_dpdk_fini();
#endif
    free(s);
    h->ios = NULL;
    return 0;
}
