/*
 * io_setup.c - turn -r/-i and the [io] config into one struct mos_io per
 * worker (see io_setup.h for the policy).
 *
 * Offline captures that are regular files are shared-nothing: every worker
 * opens the file itself and an io_share wrapper (io_share.c) drops, before
 * the engine sees them, the frames whose symmetric flow hash names another
 * worker. No frame is copied between threads and no third thread competes
 * with the workers for the CPUs (on 2 cores the distributor below made
 * -n 2 only ~1.35x faster than -n 1); the price is that every worker reads
 * and hashes every frame header of the file, which costs far less than the
 * engine work it skips. Skipped frames are not received anywhere, so the
 * counters add up exactly as with one worker. Timers follow each worker's
 * own frames, as with the distributor.
 *
 * Software distribution: one distributor thread reads the input (an
 * offline capture that cannot be read twice: stdin, a FIFO, with any number
 * of workers, one included; a single-queue
 * DPDK port or pair; or a live interface whose kernel cannot fan out) and
 * copies each frame into the ring of the worker its symmetric flow hash
 * names (the same io_share_worker()). A thread rather than worker 0's rx path,
 * because a worker runs Lua handlers of unbounded cost (and may be parked by
 * the watchdog): the other workers' input must not wait for them, and a
 * thread lets the same ring code serve offline and live inputs.
 *
 * Rings (spsc_ring.c): the distributor is the only producer and each
 * worker the only consumer of its rx ring, a ring of variable-sized frame
 * records. Frames handed out by rx_burst are released only at the next
 * rx_burst, which is the lifetime io.h promises.
 *
 * Full rings: offline, the producer waits (backpressure, nothing lost). Live
 * and DPDK, it waits at most DROP_WAIT_NS for a worker to catch up, then
 * drops and counts the frame (pkts_dropped_io of that worker), and keeps
 * dropping without waiting while the ring stays full, so one stuck worker
 * never stalls the NIC for the others. The count travels through an atomic
 * in the ring; the worker copies it into its io's `dropped` (io.h), which
 * the engine folds into pkts_dropped_io like any io's losses.
 *
 * Inline transmit: DPDK tx queues are per thread and a single-queue device
 * has one, so workers never touch the port. Each worker has a second SPSC
 * ring (worker produces, distributor consumes) and the distributor sends
 * its records out before every receive (and while it waits on a full rx
 * ring, so the two can never wait for each other forever). A flow lives on
 * one worker, whose tx ring is FIFO, so per-flow order is kept end to end.
 *
 * Pipes: a read from a pipe or FIFO blocks until its writer writes, and
 * opening a FIFO blocks until a writer opens it. Only the distributor ever
 * blocks on them: it opens the input itself (a failure comes to the workers
 * as an input error), and the workers' rx_burst returns empty every
 * IDLE_RETURN_NS, so their loops serve signals and timers whatever the
 * writer does. At the end a distributor still blocked on a silent pipe is
 * left behind (the process is exiting) rather than waited for.
 *
 * The end of input (or a read error, with its text) is posted to every ring
 * after the last frame, so each worker sees it only after draining; a
 * worker that ends early marks its ring closed and its frames are
 * discarded instead of waited for.
 */
#define _GNU_SOURCE
#include "io_setup.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "host.h"
#include "io.h"
#include "io_pace.h"
#include "io_share.h"
#include "spsc_ring.h"
#include "io_live.h"
#ifdef MOS_HAVE_DPDK
#include "io_dpdk.h"
#endif

#define RING_BYTES (8u << 20)  /* per worker and direction: > 2 records of the largest snaplen */
#define READ_BURST 64
#define IDLE_RETURN_NS 10000000ull /* rx_burst returns 0 after this long idle */
#define DROP_WAIT_NS 10000000ull   /* live: longest wait on a full ring before dropping: a few scheduler slices */
#define MAX_DPDK_PORTS 8
#define MAX_SRCS 64                /* inputs the distributor polls (DPDK queues) */

struct io_setup;

struct ring {
    struct mos_io io;           /* the worker's view; first member */
    struct io_setup *s;
    struct spsc_ring rx;            /* distributor -> worker */
    struct spsc_ring *tx;           /* worker -> distributor (inline only) */
    _Atomic int done;           /* producer posted final_rc */
    _Atomic int closed;         /* consumer gone: producer discards */
    _Atomic uint64_t drops;     /* frames lost for this worker (live); the worker
                                   copies it into io.dropped (io.h) */
    bool overflow;              /* producer: full at the last push, drop at once */
    int final_rc;
    char final_err[256];
};

enum plan { PLAN_NONE, PLAN_OFFLINE, PLAN_DISTRIB, PLAN_LIVE, PLAN_DPDK };

struct io_setup {
    enum plan plan;
    bool distrib;               /* a distributor thread feeds the workers' rings */
    bool live;                  /* distributor: drop on full rings instead of waiting */
    struct mos_io *srcs[MAX_SRCS]; /* what the distributor reads (owned) */
    int nsrc;
    const char *pipe_path;      /* a pipe or FIFO the distributor opens itself */
    _Atomic int reader_done;
    struct mos_io *txio;        /* inline: sends the workers' tx records (a src) */
    struct ring *rings[HOST_MAX_CORES];
    unsigned nworkers;
    unsigned nshards;           /* io.shard's N: workers split inside the shard */
    pthread_t reader;
    bool reader_started;
    _Atomic int stop;
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
    spsc_ring_release(&r->rx); /* the previous burst is done */
    io->dropped = atomic_load_explicit(&r->drops, memory_order_relaxed);
    uint64_t start = 0;
    unsigned spins = 0;
    for (;;) {
        uint64_t head = spsc_ring_head(&r->rx);
        int n = 0;
        const struct spsc_rec *h;
        while (n < max && (h = spsc_ring_next(&r->rx, head)) != NULL) {
            struct mos_frame *f = &frames[n++];
            f->data = (const uint8_t *)(h + 1);
            f->caplen = h->caplen;
            f->wirelen = h->wirelen;
            f->ts_ns = h->ts_ns;
            f->linktype = h->linktype;
            f->port = h->port;
            f->pad = 0;
        }
        if (n > 0)
            return n;
        if (atomic_load_explicit(&r->done, memory_order_acquire)) {
            /* done is stored after the last head update: recheck head */
            if (r->rx.rd == spsc_ring_head(&r->rx)) {
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

/* Inline transmit from a worker: queued for the distributor, which owns
 * the port. Waits briefly on a full ring, then reports the frame lost. */
static int ring_tx(struct mos_io *io, uint16_t port, const uint8_t *data, uint32_t len)
{
    struct ring *r = (struct ring *)io;
    if (len > spsc_ring_max_caplen(r->tx)) {
        snprintf(io->err, sizeof(io->err), "tx: frame of %u bytes too large", len);
        return -EMSGSIZE;
    }
    struct spsc_rec *h;
    uint64_t start = 0;
    unsigned spins = 0;
    while ((h = spsc_ring_reserve(r->tx, len)) == NULL) {
        if (atomic_load_explicit(&r->s->stop, memory_order_relaxed))
            return -ECANCELED;
        uint64_t now = mono_ns();
        if (!start) {
            start = now;
        } else if (now - start > DROP_WAIT_NS) {
            snprintf(io->err, sizeof(io->err), "tx: the distributor's queue stayed full");
            return -ENOBUFS;
        }
        backoff(&spins);
    }
    h->wirelen = len;
    h->linktype = 0;
    h->ts_ns = 0;
    h->port = port;
    memcpy(h + 1, data, len);
    spsc_ring_publish(r->tx, h);
    return 0;
}

static void ring_close(struct mos_io *io)
{
    /* io_setup_close owns the memory; the worker only says it is gone */
    atomic_store(&((struct ring *)io)->closed, 1);
}

static void ring_free(struct ring *r)
{
    if (!r)
        return;
    spsc_ring_free(&r->rx);
    if (r->tx)
        spsc_ring_free(r->tx);
    free(r->tx);
    free(r);
}

static struct ring *ring_new(struct io_setup *s, bool with_tx)
{
    struct ring *r = aligned_alloc(64, sizeof(*r));
    if (!r)
        return NULL;
    memset(r, 0, sizeof(*r));
    r->s = s;
    if (spsc_ring_init(&r->rx, RING_BYTES) < 0) {
        free(r);
        return NULL;
    }
    if (with_tx) {
        r->tx = aligned_alloc(64, sizeof(*r->tx));
        if (!r->tx || spsc_ring_init(r->tx, RING_BYTES) < 0) {
            ring_free(r);
            return NULL;
        }
        r->io.tx = ring_tx;
    }
    r->io.rx_burst = ring_rx_burst;
    r->io.close = ring_close;
    r->io.name = "distributor";
    return r;
}

/* Distributor: send every queued tx record. Returns how many. */
static int drain_tx(struct io_setup *s)
{
    if (!s->txio)
        return 0;
    int n = 0;
    for (unsigned w = 0; w < s->nworkers; w++) {
        struct ring *r = s->rings[w];
        if (!r || !r->tx)
            continue;
        uint64_t head = spsc_ring_head(r->tx);
        const struct spsc_rec *t;
        int k = 0;
        while ((t = spsc_ring_next(r->tx, head)) != NULL) {
            /* the io copies (DPDK: into a fresh mbuf; libpcap: inject) */
            if (s->txio->tx(s->txio, t->port, (const uint8_t *)(t + 1), t->caplen) < 0)
                atomic_fetch_add_explicit(&r->drops, 1, memory_order_relaxed);
            k++;
        }
        if (k)
            spsc_ring_release(r->tx);
        n += k;
    }
    return n;
}

/* Copy one frame into its worker's ring. Offline: waits while the ring is
 * full. Live: see the header comment. Frames for a worker that is gone, or
 * when the run is stopping, are discarded. */
static void ring_push(struct io_setup *s, struct ring *r, const struct mos_frame *f)
{
    uint32_t caplen = f->caplen;
    if (caplen > spsc_ring_max_caplen(&r->rx))
        caplen = spsc_ring_max_caplen(&r->rx); /* never happens with libpcap's snaplen cap */
    struct spsc_rec *h = spsc_ring_reserve(&r->rx, caplen);
    if (!h && s->live && r->overflow) {
        atomic_fetch_add_explicit(&r->drops, 1, memory_order_relaxed);
        return;
    }
    uint64_t start = 0;
    unsigned spins = 0;
    while (!h) {
        if (atomic_load_explicit(&r->closed, memory_order_relaxed) ||
            atomic_load_explicit(&s->stop, memory_order_relaxed))
            return;
        if (s->live) {
            uint64_t now = mono_ns();
            if (!start) {
                start = now;
            } else if (now - start > DROP_WAIT_NS) {
                r->overflow = true;
                atomic_fetch_add_explicit(&r->drops, 1, memory_order_relaxed);
                return;
            }
        }
        /* the worker may itself be waiting for its tx ring to drain */
        if (drain_tx(s) == 0)
            backoff(&spins);
        h = spsc_ring_reserve(&r->rx, caplen);
    }
    r->overflow = false;
    h->wirelen = f->wirelen;
    h->linktype = f->linktype;
    h->ts_ns = f->ts_ns;
    h->port = f->port;
    memcpy(h + 1, f->data, caplen);
    spsc_ring_publish(&r->rx, h);
}

static void *reader_main(void *arg)
{
    struct io_setup *s = arg;
    struct mos_frame frames[READ_BURST];
    int rc = MOS_IO_EOF;
    const char *err = "";
    char openerr[512] = "";
    unsigned spins = 0;
    if (s->pipe_path) { /* may block until a writer comes: see the header */
        struct mos_io *io = NULL;
        rc = io_pcap_open_offline(s->pipe_path, &io, openerr, sizeof(openerr));
        if (rc < 0) {
            if (!openerr[0])
                snprintf(openerr, sizeof(openerr), "%s: %s", s->pipe_path, strerror(-rc));
            err = openerr;
            goto out;
        }
        s->srcs[s->nsrc++] = io;
        rc = MOS_IO_EOF;
    }
    while (!atomic_load_explicit(&s->stop, memory_order_relaxed)) {
        int work = drain_tx(s);
        for (int k = 0; k < s->nsrc; k++) {
            struct mos_io *src = s->srcs[k];
            int n = src->rx_burst(src, frames, READ_BURST);
            if (n < 0) {
                rc = n;
                err = src->err;
                goto out;
            }
            for (int i = 0; i < n; i++) {
                const struct mos_frame *f = &frames[i];
                ring_push(s, s->rings[io_share_worker(f, s->nshards, s->nworkers)], f);
            }
            work += n;
        }
        if (work)
            spins = 0;
        else
            backoff(&spins);
    }
out:
    drain_tx(s);
    for (unsigned w = 0; w < s->nworkers; w++) {
        struct ring *r = s->rings[w];
        r->final_rc = rc;
        snprintf(r->final_err, sizeof(r->final_err), "%s", err);
        atomic_store_explicit(&r->done, 1, memory_order_release);
    }
    atomic_store(&s->reader_done, 1);
    return NULL;
}

/* Hand `nsrc` inputs (already in s->srcs) to a distributor feeding every
 * worker. live: drop on full rings; inline: workers can transmit, through
 * s->srcs[0]. */
static int distrib_setup(struct mos_host *h, struct io_setup *s, bool live, bool is_inline)
{
    s->plan = PLAN_DISTRIB;
    s->distrib = true;
    s->live = live;
    s->txio = is_inline ? s->srcs[0] : NULL;
    for (unsigned w = 0; w < h->ncores; w++) {
        s->rings[w] = ring_new(s, is_inline);
        if (!s->rings[w]) {
            fprintf(stderr, "mos-lua: out of memory for the distributor rings\n");
            return HOST_EXIT_RUNTIME;
        }
        h->workers[w].io = &s->rings[w]->io;
    }
    return HOST_EXIT_OK;
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

/* A capture every worker can open and read from its first byte on its
 * own: a regular file, reached by a path that is not a view of one of our
 * descriptors (/dev/stdin redirected from a file is a regular file too, but
 * reopening it would not follow the shell's offset). */
static bool rereadable(const char *path)
{
    struct stat st;
    if (strncmp(path, "/dev/", 5) == 0 || strncmp(path, "/proc/", 6) == 0)
        return false;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int open_offline(struct mos_host *h, struct io_setup *s, const char *path)
{
    if (strcmp(path, "-") == 0)
        path = "/dev/stdin";
    struct stat st;
    if (!rereadable(path) && stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        /* a pipe or FIFO: opened and read by the distributor, whatever N */
        s->pipe_path = path;
        if (h->verbosity >= 2)
            fprintf(stderr, "mos-lua: %s: not a regular file, %u worker(s) fed by a distributor thread\n", path,
                    h->ncores);
        return distrib_setup(h, s, false, false);
    }
    bool shared = h->ncores > 1 && rereadable(path);
    unsigned nios = shared ? h->ncores : 1;
    for (unsigned w = 0; w < nios; w++) {
        char err[512] = "";
        struct mos_io *io = NULL;
        int rc = io_pcap_open_offline(path, &io, err, sizeof(err));
        if (rc == 0 && shared)
            rc = io_share_wrap(io, w, h->cfg.shard[1], h->ncores, &io);
        if (rc < 0) {
            fprintf(stderr, "mos-lua: %s: %s\n", path, err[0] ? err : strerror(-rc));
            return HOST_EXIT_RUNTIME;
        }
        if (h->ncores == 1 || shared) {
            s->plan = PLAN_OFFLINE;
            h->workers[w].io = io; /* closed by io_setup_close, even after a later failure */
        } else {
            s->srcs[s->nsrc++] = io;
        }
    }
    if (s->plan == PLAN_OFFLINE) {
        if (shared && h->verbosity >= 2)
            fprintf(stderr, "mos-lua: %s: %u workers each read the capture and keep their own flows\n",
                    path, h->ncores);
        return HOST_EXIT_OK;
    }
    if (h->verbosity >= 2)
        fprintf(stderr, "mos-lua: %s: not a regular file, %u workers fed by a distributor thread\n", path,
                h->ncores);
    return distrib_setup(h, s, false, false);
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

/* One io reading everything (interface or pair), spread by the distributor:
 * for kernels or sockets without PACKET_FANOUT. */
static int open_live_distrib(struct mos_host *h, struct io_setup *s, const char *a, const char *b)
{
    struct io_live_opts o;
    live_opts(h, &o);
    o.timeout_ms = 1; /* the distributor also drains tx between reads */
    char err[512] = "";
    struct mos_io *io = NULL;
    int rc = b ? io_live_open_pair(a, b, &o, &io, err, sizeof(err)) : io_live_open(a, &o, &io, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "mos-lua: %s\n", err[0] ? err : strerror(-rc));
        return rc == -EINVAL ? HOST_EXIT_USAGE : HOST_EXIT_RUNTIME;
    }
    s->srcs[s->nsrc++] = io;
    if (h->verbosity >= 2)
        fprintf(stderr, "mos-lua: %s: no kernel fanout, %u workers fed by a distributor thread\n", a,
                h->ncores);
    return distrib_setup(h, s, true, b != NULL);
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
        if (rc == -EOPNOTSUPP && w == 0) {
            s->plan = PLAN_NONE;
            return open_live_distrib(h, s, a, b);
        }
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
    int qmin = 0, qmax = 0;
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
        qmin = i == 0 || rc < qmin ? rc : qmin;
        qmax = rc > qmax ? rc : qmax;
    }
    if ((unsigned)qmin >= h->ncores) {
        /* symmetric RSS: worker i owns queue i of every port */
        for (unsigned w = 0; w < h->ncores; w++) {
            rc = io_dpdk_open(s->dpdk_ports, s->ndpdk, (uint16_t)w, &h->workers[w].io, err, sizeof(err));
            if (rc < 0) {
                fprintf(stderr, "mos-lua: dpdk: worker %u: %s\n", w, err[0] ? err : strerror(-rc));
                return HOST_EXIT_RUNTIME;
            }
        }
        return HOST_EXIT_OK;
    }
    if (qmin != qmax) {
        /* RSS would send flows to queues that a common io cannot poll */
        fprintf(stderr, "mos-lua: dpdk: the ports got %d to %d queues for %u cores; with fewer queues "
                "than cores every port must have the same number\n", qmin, qmax, h->ncores);
        return HOST_EXIT_USAGE;
    }
    /* Fewer queues than workers (no RSS: net_pcap, net_ring, af_packet...):
     * the distributor polls every queue and spreads flows in software. */
    for (int q = 0; q < qmin; q++) {
        rc = io_dpdk_open(s->dpdk_ports, s->ndpdk, (uint16_t)q, &s->srcs[s->nsrc], err, sizeof(err));
        if (rc < 0) {
            fprintf(stderr, "mos-lua: dpdk: queue %d: %s\n", q, err[0] ? err : strerror(-rc));
            return HOST_EXIT_RUNTIME;
        }
        s->nsrc++;
    }
    if (h->verbosity >= 2)
        fprintf(stderr, "mos-lua: dpdk: %d queue(s) for %u workers: software distribution\n", qmin,
                h->ncores);
    rc = distrib_setup(h, s, true, h->cfg.npairs > 0);
    s->plan = PLAN_DPDK; /* the ports are closed at the end either way */
    return rc;
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
    s->nshards = h->cfg.shard[1];
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
    if (h->capture) {
        int rc = open_offline(h, s, h->capture);
        if (rc == HOST_EXIT_OK && h->pace > 0) {
            for (unsigned w = 0; w < h->ncores; w++) {
                if (h->workers[w].io && io_pace_wrap(h->workers[w].io, h->pace, &h->workers[w].io) < 0) {
                    h->workers[w].io = NULL;
                    fprintf(stderr, "mos-lua: out of memory\n");
                    return HOST_EXIT_RUNTIME;
                }
            }
        }
        return rc;
    }
    if (pairs)
        return open_pairs(h, s);
    return open_spec(h, s, spec);
}

int io_setup_start(struct mos_host *h)
{
    struct io_setup *s = h->ios;
    if (!s || !s->distrib)
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
    if (s && s->distrib && worker < s->nworkers && s->rings[worker]) {
        struct ring *r = s->rings[worker];
        atomic_store(&r->closed, 1);
        /* drops since its last rx_burst */
        r->io.dropped = atomic_load_explicit(&r->drops, memory_order_relaxed);
        if (h->workers[worker].core)
            core_account_io(h->workers[worker].core);
    }
}

int io_setup_kernel_stats(struct mos_host *h, uint64_t *received, uint64_t *dropped)
{
    struct io_setup *s = h->ios;
    uint64_t rx = 0, dr = 0;
    int found = 0;
    if (!s)
        return -ENOENT;
    for (unsigned w = 0; w < h->ncores; w++) {
        uint64_t a, b;
        if (s->plan == PLAN_LIVE && h->workers[w].io && io_live_stats(h->workers[w].io, &a, &b) == 0) {
            rx += a, dr += b;
            found++;
        }
    }
    for (int k = 0; !s->pipe_path && k < s->nsrc; k++) { /* a pipe's reader sets nsrc */
        uint64_t a, b;
        if (io_live_stats(s->srcs[k], &a, &b) == 0) {
            rx += a, dr += b;
            found++;
        }
    }
    if (!found)
        return -ENOENT;
    *received = rx;
    *dropped = dr;
    return 0;
}

int io_setup_close(struct mos_host *h)
{
    struct io_setup *s = h->ios;
    if (!s)
        return 0;
    atomic_store(&s->stop, 1);
    if (s->reader_started) {
        /* a reader blocked on a silent pipe never returns: give it a moment,
         * then leave it and everything it uses (still reachable from h) */
        for (int i = 0; i < 50 && !atomic_load(&s->reader_done); i++) {
            struct timespec ts = {0, 10000000};
            nanosleep(&ts, NULL);
        }
        if (!atomic_load(&s->reader_done))
            return 0;
        pthread_join(s->reader, NULL);
    }
    int rc = 0;
    for (unsigned w = 0; w < h->ncores; w++) {
        struct mos_io *io = h->workers[w].io;
        if (io && io->close)
            io->close(io);
        h->workers[w].io = NULL;
        if (s->rings[w] && s->rings[w]->final_rc < 0 && s->rings[w]->final_rc != MOS_IO_EOF)
            rc = HOST_EXIT_RUNTIME;
        ring_free(s->rings[w]);
    }
    for (int k = 0; k < s->nsrc; k++)
        if (s->srcs[k]->close)
            s->srcs[k]->close(s->srcs[k]);
#ifdef MOS_HAVE_DPDK
    for (int i = 0; i < s->ndpdk; i++)
        io_dpdk_port_close(s->dpdk_ports[i]);
    if (s->dpdk_up)
        io_dpdk_fini();
#endif
    free(s);
    h->ios = NULL;
    return rc;
}
