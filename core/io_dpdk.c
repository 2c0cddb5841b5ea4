/*
 * io_dpdk.c - DPDK ethdev ports as a struct mos_io (see io_dpdk.h).
 *
 * Each worker owns one queue on every port of its io, and each (port,
 * queue) has its own mbuf pool, so workers share nothing at run time.
 * Process-wide DPDK state (EAL, port configuration) is DPDK's own; this
 * file keeps none: EAL reports a second rte_eal_init with EALREADY, which
 * is what makes io_dpdk_init idempotent.
 *
 * Mbuf lifetime: rx_burst holds the mbufs of the current burst and frees
 * them at the start of the next one, which is the lifetime io.h promises
 * for frames. tx of a frame of the current burst moves that mbuf to the tx
 * batch (the slot is cleared so it is not freed twice); tx of other bytes
 * copies into a fresh mbuf. Batches go out at the next rx_burst or close;
 * what the device does not accept is freed and counted in io.dropped
 * (the engine's pkts_dropped_io).
 *
 * Symmetric RSS: a Toeplitz key made of the 16-bit pattern 0x6d5a repeated
 * hashes (a,b,pa,pb) and (b,a,pb,pa) identically, because every 16-bit
 * window of the key is the same, so swapping equally sized fields that sit
 * at 16-bit aligned offsets leaves the XOR of selected key windows
 * unchanged. Vdevs (ring, pcap, null, af_packet) have no timestamps, so
 * frames are stamped from CLOCK_REALTIME once per burst.
 */
#include "io_dpdk.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#define MAX_BURST 256          /* frames per rx_burst; bigger asks are clipped */
#define MAX_PORTS 8
#define NB_MBUF 8191           /* 2^13-1: the mempool's optimal size; fits --no-huge -m 512 */
#define MBUF_CACHE 256
#define NB_RXD 1024
#define NB_TXD 1024
#define MAX_EAL_ARGS 64

struct dpdk_io {
    struct mos_io io;
    uint16_t port[MAX_PORTS];
    int nports;
    uint16_t queue;
    struct rte_mempool *pool;              /* for tx copies: queue's pool on port 0 */
    struct rte_mbuf *held[MAX_BURST];      /* current burst, NULL once moved to tx */
    uint16_t held_port[MAX_BURST];
    int nheld;
    struct rte_mbuf *txq[MAX_PORTS][MAX_BURST];
    int ntx[MAX_PORTS];
    unsigned rr;
    unsigned bursts;                       /* rx_burst calls, for the stats poll */
    uint64_t missed_base;                  /* device misses before we opened */
    char namebuf[64];
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int io_dpdk_init(const char *eal_args, char *err, size_t errlen)
{
    /* EAL counts at least its main lcore once initialised; asking first
     * avoids EAL's "FATAL: already called initialization" log line. */
    if (rte_lcore_count() > 0)
        return 0;
    char *copy = strdup(eal_args ? eal_args : "");
    char *argv[MAX_EAL_ARGS + 2];
    int argc = 0;
    if (!copy) {
        set_err(err, errlen, "dpdk: out of memory");
        return -ENOMEM;
    }
    argv[argc++] = (char *)"mos-lua";
    for (char *save = NULL, *t = strtok_r(copy, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
        if (argc > MAX_EAL_ARGS) {
            free(copy);
            set_err(err, errlen, "dpdk: more than %d EAL arguments", MAX_EAL_ARGS);
            return -E2BIG;
        }
        argv[argc++] = t;
    }
    argv[argc] = NULL;
    int r = rte_eal_init(argc, argv);
    int e = rte_errno;
    /* EAL copies what it keeps (devargs are strdup'ed), so argv can go. */
    free(copy);
    if (r < 0) {
        if (e == EALREADY)
            return 0;
        set_err(err, errlen, "dpdk: rte_eal_init(\"%s\") failed: %s", eal_args ? eal_args : "",
                rte_strerror(e));
        return e > 0 ? -e : -EIO;
    }
    return 0;
}

int io_dpdk_port_count(void)
{
    return (int)rte_eth_dev_count_avail();
}

int io_dpdk_port_by_name(const char *name, uint16_t *port_id)
{
    uint16_t p;
    if (rte_eth_dev_get_port_by_name(name, &p) != 0)
        return -ENODEV;
    *port_id = p;
    return 0;
}

static struct rte_mempool *queue_pool(uint16_t port, uint16_t q, int socket)
{
    char name[RTE_MEMPOOL_NAMESIZE];
    snprintf(name, sizeof name, "mos_p%u_q%u", port, q);
    struct rte_mempool *mp = rte_mempool_lookup(name);
    if (mp)
        return mp;
    return rte_pktmbuf_pool_create(name, NB_MBUF, MBUF_CACHE, 0, RTE_MBUF_DEFAULT_BUF_SIZE, socket);
}

int io_dpdk_port_setup(uint16_t port_id, uint16_t nqueues, char *err, size_t errlen)
{
    struct rte_eth_dev_info info;
    struct rte_eth_conf conf;
    /* 52 bytes covers every key size in use (40 for most NICs, 52 for i40e). */
    static const uint8_t sym_key[52] = {
        0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d,
        0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
        0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d,
        0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
    };
    uint8_t key[sizeof sym_key];
    int r;

    if (!rte_eth_dev_is_valid_port(port_id)) {
        set_err(err, errlen, "dpdk: no port %u", port_id);
        return -ENODEV;
    }
    r = rte_eth_dev_info_get(port_id, &info);
    if (r != 0) {
        set_err(err, errlen, "dpdk: port %u info: %s", port_id, rte_strerror(-r));
        return r;
    }
    memset(&conf, 0, sizeof conf);
    uint16_t nq = nqueues ? nqueues : 1;
    if (nq > info.max_rx_queues)
        nq = info.max_rx_queues;
    if (nq > info.max_tx_queues)
        nq = info.max_tx_queues;
    uint64_t hf = (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP) & info.flow_type_rss_offloads;
    if (nq > 1 && hf) {
        memcpy(key, sym_key, sizeof key);
        conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
        conf.rx_adv_conf.rss_conf.rss_key = key;
        conf.rx_adv_conf.rss_conf.rss_key_len =
            info.hash_key_size && info.hash_key_size <= sizeof key ? info.hash_key_size : 40;
        conf.rx_adv_conf.rss_conf.rss_hf = hf;
    } else {
        nq = 1; /* without RSS extra queues would just sit idle */
    }
    r = rte_eth_dev_configure(port_id, nq, nq, &conf);
    if (r != 0) {
        set_err(err, errlen, "dpdk: port %u configure (%u queues): %s", port_id, nq, rte_strerror(-r));
        return r;
    }
    uint16_t nrx = NB_RXD, ntx = NB_TXD;
    r = rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &nrx, &ntx);
    if (r != 0) {
        set_err(err, errlen, "dpdk: port %u descriptors: %s", port_id, rte_strerror(-r));
        return r;
    }
    int sock = rte_eth_dev_socket_id(port_id);
    if (sock < 0)
        sock = (int)SOCKET_ID_ANY;
    for (uint16_t q = 0; q < nq; q++) {
        struct rte_mempool *mp = queue_pool(port_id, q, sock);
        if (!mp) {
            set_err(err, errlen, "dpdk: port %u queue %u mbuf pool: %s", port_id, q,
                    rte_strerror(rte_errno));
            return -ENOMEM;
        }
        r = rte_eth_rx_queue_setup(port_id, q, nrx, (unsigned)sock, NULL, mp);
        if (r == 0)
            r = rte_eth_tx_queue_setup(port_id, q, ntx, (unsigned)sock, NULL);
        if (r != 0) {
            set_err(err, errlen, "dpdk: port %u queue %u setup: %s", port_id, q, rte_strerror(-r));
            return r;
        }
    }
    r = rte_eth_dev_start(port_id);
    if (r != 0) {
        set_err(err, errlen, "dpdk: port %u start: %s", port_id, rte_strerror(-r));
        return r;
    }
    /* A middlebox sees traffic not addressed to it; vdevs may not support
     * the call, which is harmless. */
    (void)rte_eth_promiscuous_enable(port_id);
    return nq;
}

static void flush_tx(struct dpdk_io *d)
{
    for (int p = 0; p < d->nports; p++) {
        int n = d->ntx[p], sent = 0;
        /* A few retries absorb a momentarily full ring; beyond that, drop
         * rather than stall the core. */
        for (int tries = 0; sent < n && tries < 4; tries++)
            sent += rte_eth_tx_burst(d->port[p], d->queue, d->txq[p] + sent, (uint16_t)(n - sent));
        for (int i = sent; i < n; i++)
            rte_pktmbuf_free(d->txq[p][i]);
        d->io.dropped += (uint64_t)(n - sent);
        d->ntx[p] = 0;
    }
}

static void release_held(struct dpdk_io *d)
{
    for (int i = 0; i < d->nheld; i++)
        if (d->held[i])
            rte_pktmbuf_free(d->held[i]);
    d->nheld = 0;
}

/* Frames the ports dropped on receive (rx ring full: imissed; no mbuf:
 * rx_nombuf). The device counts per port, not per queue, so only the io of
 * queue 0 reports them. */
static uint64_t port_misses(const struct dpdk_io *d)
{
    uint64_t m = 0;
    for (int p = 0; p < d->nports; p++) {
        struct rte_eth_stats st;
        if (rte_eth_stats_get(d->port[p], &st) == 0)
            m += st.imissed + st.rx_nombuf;
    }
    return m;
}

#define STATS_EVERY 1024 /* rx_burst calls between two device stats reads */

static int dpdk_rx_burst(struct mos_io *io, struct mos_frame *frames, int max)
{
    struct dpdk_io *d = (struct dpdk_io *)io;
    flush_tx(d);
    release_held(d);
    if (d->queue == 0 && ++d->bursts % STATS_EVERY == 0) {
        uint64_t m = port_misses(d);
        if (m >= d->missed_base)
            io->rx_missed = m - d->missed_base;
    }
    if (max <= 0)
        return 0;
    if (max > MAX_BURST)
        max = MAX_BURST;

    int n = 0;
    for (int k = 0; k < d->nports && n < max; k++) {
        int p = (int)((d->rr + (unsigned)k) % (unsigned)d->nports);
        uint16_t got = rte_eth_rx_burst(d->port[p], d->queue, d->held + n, (uint16_t)(max - n));
        for (uint16_t i = 0; i < got; i++)
            d->held_port[n + i] = (uint16_t)p;
        n += got;
    }
    d->rr++;
    d->nheld = n;
    if (n == 0)
        return 0;

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    for (int i = 0; i < n; i++) {
        struct rte_mbuf *m = d->held[i];
        /* Frames must be contiguous; a chained mbuf that cannot be made so
         * is presented truncated to its first segment (caplen < wirelen),
         * which the decoder treats like a snaplen cut. */
        if (m->nb_segs > 1)
            (void)rte_pktmbuf_linearize(m);
        frames[i] = (struct mos_frame){
            .data = rte_pktmbuf_mtod(m, const uint8_t *),
            .caplen = m->data_len,
            .wirelen = m->pkt_len,
            .ts_ns = now,
            .linktype = 1, /* DLT_EN10MB: ethdev ports carry Ethernet */
            .port = d->held_port[i],
        };
    }
    return n;
}

static int dpdk_tx(struct mos_io *io, uint16_t port, const uint8_t *data, uint32_t len)
{
    struct dpdk_io *d = (struct dpdk_io *)io;
    if (port >= d->nports)
        return -EINVAL;
    if (d->ntx[port] == MAX_BURST)
        flush_tx(d);

    struct rte_mbuf *m = NULL;
    for (int i = 0; i < d->nheld; i++) {
        struct rte_mbuf *h = d->held[i];
        if (h && rte_pktmbuf_mtod(h, const uint8_t *) == data && len <= h->data_len &&
            h->nb_segs == 1) {
            m = h;
            d->held[i] = NULL;
            /* The caller may send fewer bytes than it got (e.g. trimmed). */
            m->data_len = (uint16_t)len;
            m->pkt_len = len;
            break;
        }
    }
    if (!m) {
        m = rte_pktmbuf_alloc(d->pool);
        if (!m) {
            snprintf(io->err, sizeof io->err, "dpdk: mbuf pool exhausted");
            return -ENOBUFS;
        }
        char *dst = rte_pktmbuf_append(m, (uint16_t)(len > UINT16_MAX ? 0 : len));
        if (!dst || len > UINT16_MAX) {
            rte_pktmbuf_free(m);
            snprintf(io->err, sizeof io->err, "dpdk: frame of %u bytes does not fit an mbuf", len);
            return -EMSGSIZE;
        }
        memcpy(dst, data, len);
    }
    d->txq[port][d->ntx[port]++] = m;
    return 0;
}

static void dpdk_close(struct mos_io *io)
{
    struct dpdk_io *d = (struct dpdk_io *)io;
    if (!d)
        return;
    flush_tx(d);
    release_held(d);
    free(d);
}

int io_dpdk_open(const uint16_t *port_ids, int nports, uint16_t queue, struct mos_io **out,
                 char *err, size_t errlen)
{
    *out = NULL;
    if (nports < 1 || nports > MAX_PORTS) {
        set_err(err, errlen, "dpdk: %d ports (1..%d supported)", nports, MAX_PORTS);
        return -EINVAL;
    }
    for (int i = 0; i < nports; i++) {
        struct rte_eth_dev_info info;
        if (!rte_eth_dev_is_valid_port(port_ids[i]) || rte_eth_dev_info_get(port_ids[i], &info) != 0) {
            set_err(err, errlen, "dpdk: no port %u", port_ids[i]);
            return -ENODEV;
        }
        if (queue >= info.nb_rx_queues) {
            set_err(err, errlen, "dpdk: port %u has %u rx queues, not %u (run io_dpdk_port_setup)",
                    port_ids[i], info.nb_rx_queues, queue + 1);
            return -EINVAL;
        }
    }
    char name[RTE_MEMPOOL_NAMESIZE];
    snprintf(name, sizeof name, "mos_p%u_q%u", port_ids[0], queue);
    struct rte_mempool *mp = rte_mempool_lookup(name);
    if (!mp) {
        set_err(err, errlen, "dpdk: port %u queue %u has no pool (run io_dpdk_port_setup)",
                port_ids[0], queue);
        return -EINVAL;
    }
    struct dpdk_io *d = calloc(1, sizeof *d);
    if (!d) {
        set_err(err, errlen, "dpdk: out of memory");
        return -ENOMEM;
    }
    d->nports = nports;
    memcpy(d->port, port_ids, sizeof port_ids[0] * (size_t)nports);
    d->queue = queue;
    d->pool = mp;
    if (queue == 0)
        d->missed_base = port_misses(d);
    d->io.rx_burst = dpdk_rx_burst;
    d->io.tx = dpdk_tx;
    d->io.close = dpdk_close;
    int off = snprintf(d->namebuf, sizeof d->namebuf, "dpdk:%u", port_ids[0]);
    for (int i = 1; i < nports && off > 0 && (size_t)off < sizeof d->namebuf; i++)
        off += snprintf(d->namebuf + off, sizeof d->namebuf - (size_t)off, ",%u", port_ids[i]);
    d->io.name = d->namebuf;
    *out = &d->io;
    return 0;
}

void io_dpdk_port_close(uint16_t port_id)
{
    if (!rte_eth_dev_is_valid_port(port_id))
        return;
    (void)rte_eth_dev_stop(port_id);
    (void)rte_eth_dev_close(port_id);
}

void io_dpdk_fini(void)
{
    (void)rte_eal_cleanup();
}
