/*
 * gen_workload.c - deterministic synthetic TCP workload writer (classic pcap).
 *
 * Design: a table of `concurrency` active flows; each step picks one active
 * flow at random (seeded PRNG) and emits that flow's next packet, so the
 * packets of concurrent flows interleave like a busy link. A flow is a small
 * state machine: SYN(MSS) -> SYN/ACK(MSS) -> ACK -> HTTP GET -> download in
 * MSS-sized segments with a client ACK after every 2 segments -> server
 * FIN/ACK -> client FIN/ACK -> server ACK. When a flow ends, a new one takes
 * its slot at once, until the flow total is reached; then the table drains.
 *
 * Invariants that the benchmark's correctness checks rely on:
 *  - payload bytes are a pure function of (seed, flow id, segment index), so
 *    a retransmission carries identical bytes and reruns give identical files;
 *  - the needle is planted at most once per flow, in the server->client
 *    stream, at a random offset (it may straddle segments);
 *  - "needles" in the sidecar counts needles whose bytes all lie inside the
 *    in-order prefix of the download that was written before any cut, i.e.
 *    what an exact reassembler must find; "needles_planted" counts all;
 *  - every 5-tuple is unique over the file (flow id -> address/port), so
 *    no tool can confuse a new flow with an old one;
 *  - IP and TCP checksums are correct; timestamps pace a 10 Gbit/s link.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MSS4 1460u            /* 1500 - 20 (IPv4) - 20 (TCP) */
#define MSS6 1440u            /* 1500 - 40 (IPv6) - 20 (TCP) */
#define OUTBUF (4u << 20)     /* big writes: the generator must outrun the disk */
#define MAXFRAME 1600u
#define LINK_BPS 10000000000ull

struct opts {
    const char *out;
    const char *sidecar;
    uint64_t seed;
    uint32_t concurrency;
    uint64_t flow_bytes;
    uint64_t total_flows;
    uint64_t max_packets;     /* 0: no limit */
    uint64_t max_file_bytes;  /* 0: no limit */
    const char *needle;
    double needle_share, rexmit_share, ooo_share, v6_share;
    bool warm;
};

enum phase { PH_SYN, PH_SYNACK, PH_ACK, PH_GET, PH_DATA, PH_FIN_S, PH_FIN_C, PH_LAST_ACK, PH_DONE };

struct flow {
    uint64_t id;
    uint64_t size;            /* download bytes */
    uint64_t needle_off;      /* UINT64_MAX: no needle */
    uint32_t cisn, sisn;
    uint32_t nseg, next_seg;  /* next new segment to send */
    int32_t held;             /* OOO: segment to send after the one just sent, or -1 */
    int32_t rexmit;           /* segment to repeat next, or -1 */
    uint32_t since_ack;
    uint32_t get_len;
    uint8_t phase;
    uint8_t v6;
    bool needle_counted;
};

struct gen {
    struct opts o;
    uint64_t rng;
    int fd;
    uint8_t *buf;
    size_t used;
    uint64_t ts_ns;
    bool stop;
    /* counters for the sidecar */
    uint64_t packets, file_bytes, frame_bytes;
    uint64_t next_id;         /* flows created; a flow counts as started once its SYN is written */
    uint64_t flows_started, flows_completed, flows_v6;
    uint64_t payload_c2s, payload_s2c, rexmit_bytes, rexmit_pkts, ooo_swaps;
    uint64_t needles_planted, needles_found, needles_found_v6;
    size_t needle_len;
};

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rnd(struct gen *g) { return splitmix(&g->rng); }
/* Uniform in [0, n) without modulo bias worth caring about for n << 2^64. */
static uint64_t rnd_below(struct gen *g, uint64_t n) { return n ? (uint64_t)(((unsigned __int128)rnd(g) * n) >> 64) : 0; }
static bool chance(struct gen *g, double p) { return p > 0 && (double)(rnd(g) >> 11) * (1.0 / 9007199254740992.0) < p; }

static uint32_t mss_of(const struct flow *f) { return f->v6 ? MSS6 : MSS4; }

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
    while (n > 1) {
        sum += (uint32_t)p[0] << 8 | p[1];
        p += 2;
        n -= 2;
        if (sum & 0x80000000u)
            sum = (sum & 0xffff) + (sum >> 16);
    }
    if (n)
        sum += (uint32_t)p[0] << 8;
    return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }
static void le32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); } /* pcap headers in host order (x86: LE) */

/* Addresses: client 198.18.0.0/15 + port 10000..59999, server 198.19.x.y:80.
 * 50,000 ports per client address keeps 5-tuples unique for 2^32 flows. */
static void addrs(const struct flow *f, uint8_t *cli, uint8_t *srv, uint16_t *cport)
{
    uint64_t host = f->id / 50000;
    *cport = (uint16_t)(10000 + f->id % 50000);
    if (!f->v6) {
        uint32_t c = 0xc6120000u + (uint32_t)(host & 0xffff);   /* 198.18.0.0/16 */
        uint32_t s = 0xc6130000u + 1 + (uint32_t)(f->id % 250); /* 198.19.0.1-250 */
        put32(cli, c);
        put32(srv, s);
    } else {
        static const uint8_t cp[8] = {0x20, 0x01, 0x0d, 0xb8, 0, 0x0c, 0, 0};
        static const uint8_t sp[8] = {0x20, 0x01, 0x0d, 0xb8, 0, 0x05, 0, 0};
        memcpy(cli, cp, 8);
        memset(cli + 8, 0, 8);
        put32(cli + 12, (uint32_t)host + 1);
        memcpy(srv, sp, 8);
        memset(srv + 8, 0, 8);
        put32(srv + 12, 1 + (uint32_t)(f->id % 250));
    }
}

static int flush_out(struct gen *g)
{
    size_t off = 0;
    while (off < g->used) {
        ssize_t w = write(g->fd, g->buf + off, g->used - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        off += (size_t)w;
    }
    g->used = 0;
    return 0;
}

/* Payload of segment `seg` of the download (or the GET when seg == UINT32_MAX).
 * The needle overlays whatever part of it falls inside this segment. */
static void fill_payload(const struct gen *g, const struct flow *f, uint64_t off, uint8_t *p, uint32_t len)
{
    uint64_t s = g->o.seed ^ (f->id * 0x9e3779b97f4a7c15ull) ^ (off * 0xd1b54a32d192ed03ull);
    uint32_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v = splitmix(&s);
        memcpy(p + i, &v, 8);
    }
    if (i < len) {
        uint64_t v = splitmix(&s);
        memcpy(p + i, &v, len - i);
    }
    if (f->needle_off != UINT64_MAX) {
        uint64_t a = f->needle_off, b = a + g->needle_len;
        uint64_t lo = a > off ? a : off, hi = b < off + len ? b : off + len;
        for (uint64_t k = lo; k < hi; k++)
            p[k - off] = (uint8_t)g->o.needle[k - a];
    }
}

/* Build and append one frame; `from_client` picks the direction. */
static int emit(struct gen *g, const struct flow *f, bool from_client, uint8_t flags, uint32_t seq, uint32_t ack,
                bool mss_opt, const uint8_t *payload, uint32_t plen)
{
    uint8_t fr[MAXFRAME];
    uint8_t cli[16], srv[16];
    uint16_t cport;
    addrs(f, cli, srv, &cport);
    const uint8_t *src = from_client ? cli : srv, *dst = from_client ? srv : cli;
    uint16_t sport = from_client ? cport : 80, dport = from_client ? 80 : cport;
    uint32_t thl = mss_opt ? 24 : 20;
    uint32_t ihl = f->v6 ? 40 : 20;
    uint32_t flen = 14 + ihl + thl + plen;

    if (g->o.max_packets && g->packets >= g->o.max_packets) {
        g->stop = true;
        return 0;
    }
    if (g->o.max_file_bytes && g->file_bytes + 16 + flen > g->o.max_file_bytes) {
        g->stop = true;
        return 0;
    }

    /* Ethernet: locally administered MACs that encode the direction. */
    static const uint8_t mc[6] = {0x02, 0, 0, 0, 0, 0x01}, ms[6] = {0x02, 0, 0, 0, 0, 0x02};
    memcpy(fr, from_client ? ms : mc, 6);
    memcpy(fr + 6, from_client ? mc : ms, 6);
    put16(fr + 12, f->v6 ? 0x86dd : 0x0800);
    uint8_t *ip = fr + 14, *th = ip + ihl;
    uint32_t sum;
    if (!f->v6) {
        ip[0] = 0x45;
        ip[1] = 0;
        put16(ip + 2, (uint16_t)(20 + thl + plen));
        put16(ip + 4, (uint16_t)(g->packets & 0xffff));
        put16(ip + 6, 0x4000); /* DF */
        ip[8] = 64;
        ip[9] = 6;
        put16(ip + 10, 0);
        memcpy(ip + 12, src, 4);
        memcpy(ip + 16, dst, 4);
        put16(ip + 10, csum_fold(csum_add(0, ip, 20)));
        sum = csum_add(0, ip + 12, 8);
    } else {
        put32(ip, 0x60000000u);
        put16(ip + 4, (uint16_t)(thl + plen));
        ip[6] = 6;
        ip[7] = 64;
        memcpy(ip + 8, src, 16);
        memcpy(ip + 24, dst, 16);
        sum = csum_add(0, ip + 8, 32);
    }
    sum += 6 + thl + plen; /* pseudo header: protocol + TCP length */
    put16(th, sport);
    put16(th + 2, dport);
    put32(th + 4, seq);
    put32(th + 8, ack);
    th[12] = (uint8_t)((thl / 4) << 4);
    th[13] = flags;
    put16(th + 14, 65535);
    put16(th + 16, 0);
    put16(th + 18, 0);
    if (mss_opt) {
        th[20] = 2;
        th[21] = 4;
        put16(th + 22, (uint16_t)mss_of(f));
    }
    if (plen)
        memcpy(th + thl, payload, plen);
    sum = csum_add(sum, th, thl + plen);
    put16(th + 16, csum_fold(sum));

    if (g->used + 16 + flen > OUTBUF) {
        int rc = flush_out(g);
        if (rc < 0)
            return rc;
    }
    uint8_t *rec = g->buf + g->used;
    le32(rec, (uint32_t)(g->ts_ns / 1000000000ull));
    le32(rec + 4, (uint32_t)(g->ts_ns % 1000000000ull / 1000));
    le32(rec + 8, flen);
    le32(rec + 12, flen);
    memcpy(rec + 16, fr, flen);
    g->used += 16 + flen;
    /* 10 GbE pacing: frame + FCS (4) + preamble/SFD (8) + IFG (12). */
    g->ts_ns += (uint64_t)(flen + 24) * 8 * 1000000000ull / LINK_BPS;
    g->packets++;
    g->file_bytes += 16 + flen;
    g->frame_bytes += flen;
    if (from_client)
        g->payload_c2s += plen;
    else
        g->payload_s2c += plen;
    return 1;
}

static void flow_init(struct gen *g, struct flow *f, bool first_gen)
{
    memset(f, 0, sizeof(*f));
    f->id = g->next_id++;
    f->v6 = chance(g, g->o.v6_share);
    f->size = g->o.flow_bytes;
    if (first_gen && g->o.warm)
        f->size = 1 + rnd_below(g, g->o.flow_bytes);
    f->cisn = (uint32_t)rnd(g);
    f->sisn = (uint32_t)rnd(g);
    f->nseg = (uint32_t)((f->size + mss_of(f) - 1) / mss_of(f));
    f->held = -1;
    f->rexmit = -1;
    f->needle_off = UINT64_MAX;
    if (g->needle_len && f->size >= g->needle_len && chance(g, g->o.needle_share)) {
        f->needle_off = rnd_below(g, f->size - g->needle_len + 1);
        g->needles_planted++;
    }
    f->phase = PH_SYN;
}

static uint32_t seg_len(const struct flow *f, uint32_t seg)
{
    uint64_t off = (uint64_t)seg * mss_of(f);
    uint64_t rest = f->size - off;
    return rest < mss_of(f) ? (uint32_t)rest : mss_of(f);
}

/* In-order download bytes the client has after the segments sent so far. */
static uint64_t contig_bytes(const struct flow *f)
{
    uint32_t segs = f->held >= 0 ? (uint32_t)f->held : f->next_seg;
    uint64_t b = (uint64_t)segs * mss_of(f);
    return b < f->size ? b : f->size;
}

static int send_seg(struct gen *g, struct flow *f, uint32_t seg)
{
    uint8_t pl[MAXFRAME];
    uint64_t off = (uint64_t)seg * mss_of(f);
    uint32_t len = seg_len(f, seg);
    fill_payload(g, f, off, pl, len);
    return emit(g, f, false, 0x18 /* PSH|ACK */, f->sisn + 1 + (uint32_t)off, f->cisn + 1 + f->get_len, false, pl, len);
}

static void check_needle(struct gen *g, struct flow *f)
{
    if (f->needle_off != UINT64_MAX && !f->needle_counted && contig_bytes(f) >= f->needle_off + g->needle_len) {
        f->needle_counted = true;
        g->needles_found++;
        g->needles_found_v6 += f->v6;
    }
}

/* Emit the flow's next packet. Returns <0 on error, else 0. */
static int step(struct gen *g, struct flow *f)
{
    int rc = 0;
    uint32_t sdata_end = f->sisn + 1 + (uint32_t)f->size;
    switch (f->phase) {
    case PH_SYN:
        rc = emit(g, f, true, 0x02, f->cisn, 0, true, NULL, 0);
        if (rc > 0) {
            g->flows_started++;
            g->flows_v6 += f->v6;
        }
        f->phase = PH_SYNACK;
        break;
    case PH_SYNACK:
        rc = emit(g, f, false, 0x12, f->sisn, f->cisn + 1, true, NULL, 0);
        f->phase = PH_ACK;
        break;
    case PH_ACK:
        rc = emit(g, f, true, 0x10, f->cisn + 1, f->sisn + 1, false, NULL, 0);
        f->phase = PH_GET;
        break;
    case PH_GET: {
        char req[160];
        int n = snprintf(req, sizeof(req), "GET /obj/%016" PRIx64 " HTTP/1.1\r\nHost: bench.example\r\nAccept: */*\r\n\r\n",
                         f->id);
        rc = emit(g, f, true, 0x18, f->cisn + 1, f->sisn + 1, false, (const uint8_t *)req, (uint32_t)n);
        if (rc > 0)
            f->get_len = (uint32_t)n;
        f->phase = f->nseg ? PH_DATA : PH_FIN_S;
        break;
    }
    case PH_DATA:
        if (f->since_ack >= 2 || (f->since_ack && f->next_seg >= f->nseg && f->held < 0 && f->rexmit < 0)) {
            /* client ACK of the in-order prefix (a dup ACK while a segment is held back) */
            rc = emit(g, f, true, 0x10, f->cisn + 1 + f->get_len, f->sisn + 1 + (uint32_t)contig_bytes(f), false, NULL,
                      0);
            if (rc > 0)
                f->since_ack = 0;
        } else if (f->rexmit >= 0) {
            rc = send_seg(g, f, (uint32_t)f->rexmit);
            if (rc > 0) {
                g->rexmit_pkts++;
                g->rexmit_bytes += seg_len(f, (uint32_t)f->rexmit);
                g->payload_s2c -= seg_len(f, (uint32_t)f->rexmit); /* payload_* count unique bytes */
                f->rexmit = -1;
            }
        } else if (f->held >= 0) {
            uint32_t s = (uint32_t)f->held;
            rc = send_seg(g, f, s);
            if (rc > 0) {
                f->held = -1;
                f->since_ack++;
                if (chance(g, g->o.rexmit_share))
                    f->rexmit = (int32_t)s;
            }
        } else if (f->next_seg < f->nseg) {
            uint32_t s = f->next_seg;
            bool swap = f->next_seg + 1 < f->nseg && chance(g, g->o.ooo_share);
            if (swap)
                s++;
            rc = send_seg(g, f, s);
            if (rc > 0) {
                if (swap) {
                    f->held = (int32_t)f->next_seg;
                    g->ooo_swaps++;
                }
                f->next_seg += swap ? 2 : 1;
                f->since_ack++;
                if (chance(g, g->o.rexmit_share))
                    f->rexmit = (int32_t)s;
            }
        } else {
            f->phase = PH_FIN_S;
            return step(g, f);
        }
        if (rc > 0)
            check_needle(g, f);
        break;
    case PH_FIN_S:
        rc = emit(g, f, false, 0x11, sdata_end, f->cisn + 1 + f->get_len, false, NULL, 0);
        f->phase = PH_FIN_C;
        break;
    case PH_FIN_C:
        rc = emit(g, f, true, 0x11, f->cisn + 1 + f->get_len, sdata_end + 1, false, NULL, 0);
        f->phase = PH_LAST_ACK;
        break;
    case PH_LAST_ACK:
        rc = emit(g, f, false, 0x10, sdata_end + 1, f->cisn + 2 + f->get_len, false, NULL, 0);
        if (rc > 0)
            g->flows_completed++;
        f->phase = PH_DONE;
        break;
    default:
        break;
    }
    return rc < 0 ? rc : 0;
}

static int write_sidecar(const struct gen *g)
{
    FILE *fp = fopen(g->o.sidecar, "w");
    if (!fp)
        return -errno;
    fprintf(fp,
            "{\n"
            "  \"file\": \"%s\",\n  \"seed\": %" PRIu64 ",\n  \"concurrency\": %u,\n  \"flow_bytes\": %" PRIu64 ",\n"
            "  \"total_flows\": %" PRIu64 ",\n  \"warm_start\": %s,\n  \"needle\": \"%s\",\n"
            "  \"needle_share\": %g,\n  \"rexmit_share\": %g,\n  \"ooo_share\": %g,\n  \"v6_share\": %g,\n"
            "  \"packets\": %" PRIu64 ",\n  \"file_bytes\": %" PRIu64 ",\n  \"frame_bytes\": %" PRIu64 ",\n"
            "  \"flows_started\": %" PRIu64 ",\n  \"flows_completed\": %" PRIu64 ",\n  \"flows_v6\": %" PRIu64 ",\n"
            "  \"payload_c2s\": %" PRIu64 ",\n  \"payload_s2c\": %" PRIu64 ",\n"
            "  \"payload_bytes\": %" PRIu64 ",\n  \"payload_bytes_with_rexmit\": %" PRIu64 ",\n"
            "  \"rexmit_packets\": %" PRIu64 ",\n  \"rexmit_bytes\": %" PRIu64 ",\n  \"ooo_swaps\": %" PRIu64 ",\n"
            "  \"needles_planted\": %" PRIu64 ",\n  \"needles\": %" PRIu64 ",\n  \"needles_v4\": %" PRIu64 ",\n  \"truncated\": %s\n}\n",
            g->o.out, g->o.seed, g->o.concurrency, g->o.flow_bytes, g->o.total_flows, g->o.warm ? "true" : "false",
            g->o.needle ? g->o.needle : "", g->o.needle_share, g->o.rexmit_share, g->o.ooo_share, g->o.v6_share,
            g->packets, g->file_bytes, g->frame_bytes, g->flows_started, g->flows_completed, g->flows_v6,
            g->payload_c2s, g->payload_s2c, g->payload_c2s + g->payload_s2c,
            g->payload_c2s + g->payload_s2c + g->rexmit_bytes, g->rexmit_pkts, g->rexmit_bytes, g->ooo_swaps,
            g->needles_planted, g->needles_found, g->needles_found - g->needles_found_v6, g->stop ? "true" : "false");
    return fclose(fp) ? -errno : 0;
}

static void usage(FILE *to)
{
    fprintf(to,
            "usage: gen_workload -o OUT.pcap [options]\n"
            "  -s SEED        PRNG seed (default 1)\n"
            "  -c N           concurrent flows (default 1000)\n"
            "  -b BYTES       download bytes per flow (default 4096; K/M/G suffixes)\n"
            "  -f N           total flows (default 1000)\n"
            "  -P N           stop after N packets\n"
            "  -B BYTES       stop before the file exceeds BYTES (K/M/G suffixes)\n"
            "  -n NEEDLE      needle string (default MOSBENCH-NEEDLE-5e1d)\n"
            "  -p SHARE       share of flows with the needle planted (default 0.05)\n"
            "  -r SHARE       share of data segments retransmitted (identical bytes)\n"
            "  -R SHARE       share of data segments swapped with the next one\n"
            "  -6 SHARE       share of IPv6 flows\n"
            "  -w             warm start: first-generation sizes uniform in [1, BYTES]\n"
            "  -j PATH        sidecar JSON (default OUT.pcap.json)\n");
}

static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0)
        return -EINVAL;
    switch (*end) {
    case 'k': case 'K': v *= 1024; end++; break;
    case 'm': case 'M': v *= 1024.0 * 1024; end++; break;
    case 'g': case 'G': v *= 1024.0 * 1024 * 1024; end++; break;
    default: break;
    }
    if (*end)
        return -EINVAL;
    *out = (uint64_t)v;
    return 0;
}

static int parse_share(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || v < 0 || v > 1)
        return -EINVAL;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    struct gen g;
    memset(&g, 0, sizeof(g));
    g.o.seed = 1;
    g.o.concurrency = 1000;
    g.o.flow_bytes = 4096;
    g.o.total_flows = 1000;
    g.o.needle = "MOSBENCH-NEEDLE-5e1d";
    g.o.needle_share = 0.05;
    int c, bad = 0;
    uint64_t v;
    while ((c = getopt(argc, argv, "o:s:c:b:f:P:B:n:p:r:R:6:wj:h")) != -1) {
        switch (c) {
        case 'o': g.o.out = optarg; break;
        case 'j': g.o.sidecar = optarg; break;
        case 's': g.o.seed = strtoull(optarg, NULL, 0); break;
        case 'c': bad |= parse_size(optarg, &v) < 0 || v == 0 || v > (1u << 26); g.o.concurrency = (uint32_t)v; break;
        case 'b': bad |= parse_size(optarg, &g.o.flow_bytes) < 0 || g.o.flow_bytes > (1ull << 40); break;
        case 'f': bad |= parse_size(optarg, &g.o.total_flows) < 0; break;
        case 'P': bad |= parse_size(optarg, &g.o.max_packets) < 0; break;
        case 'B': bad |= parse_size(optarg, &g.o.max_file_bytes) < 0; break;
        case 'n': g.o.needle = optarg; break;
        case 'p': bad |= parse_share(optarg, &g.o.needle_share) < 0; break;
        case 'r': bad |= parse_share(optarg, &g.o.rexmit_share) < 0; break;
        case 'R': bad |= parse_share(optarg, &g.o.ooo_share) < 0; break;
        case '6': bad |= parse_share(optarg, &g.o.v6_share) < 0; break;
        case 'w': g.o.warm = true; break;
        case 'h': usage(stdout); return 0;
        default: bad = 1; break;
        }
    }
    if (bad || !g.o.out || optind != argc) {
        usage(stderr);
        return 2;
    }
    char sidecar[4096];
    if (!g.o.sidecar) {
        snprintf(sidecar, sizeof(sidecar), "%s.json", g.o.out);
        g.o.sidecar = sidecar;
    }
    g.needle_len = g.o.needle ? strlen(g.o.needle) : 0;
    g.rng = g.o.seed * 0x2545f4914f6cdd1dull + 0x1234567ull;
    g.ts_ns = 1700000000ull * 1000000000ull; /* fixed epoch: reruns are byte-identical */

    g.fd = open(g.o.out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    g.buf = malloc(OUTBUF);
    uint32_t nact = g.o.concurrency < g.o.total_flows ? g.o.concurrency : (uint32_t)g.o.total_flows;
    struct flow *act = calloc(nact ? nact : 1, sizeof(*act));
    if (g.fd < 0 || !g.buf || !act) {
        perror(g.o.out);
        return 1;
    }
    /* pcap global header: magic, v2.4, tz 0, sigfigs 0, snaplen, DLT_EN10MB */
    le32(g.buf, 0xa1b2c3d4u);
    g.buf[4] = 2; g.buf[5] = 0; g.buf[6] = 4; g.buf[7] = 0;
    memset(g.buf + 8, 0, 8);
    le32(g.buf + 16, 65535);
    le32(g.buf + 20, 1);
    g.used = 24;
    g.file_bytes = 24;

    for (uint32_t i = 0; i < nact; i++)
        flow_init(&g, &act[i], true);
    int rc = 0;
    while (nact && !g.stop) {
        uint32_t i = (uint32_t)rnd_below(&g, nact);
        rc = step(&g, &act[i]);
        if (rc < 0 || g.stop)
            break;
        if (act[i].phase == PH_DONE) {
            if (g.next_id < g.o.total_flows)
                flow_init(&g, &act[i], false);
            else
                act[i] = act[--nact];
        }
    }
    if (rc >= 0)
        rc = flush_out(&g);
    if (rc < 0 || close(g.fd) < 0) {
        fprintf(stderr, "gen_workload: write %s: %s\n", g.o.out, strerror(rc < 0 ? -rc : errno));
        return 1;
    }
    /* A cut file: flows still open were started but not all their packets were written. */
    rc = write_sidecar(&g);
    if (rc < 0) {
        fprintf(stderr, "gen_workload: %s: %s\n", g.o.sidecar, strerror(-rc));
        return 1;
    }
    fprintf(stderr, "gen_workload: %" PRIu64 " packets, %" PRIu64 " bytes, %" PRIu64 " flows (%" PRIu64
                    " complete), %" PRIu64 " needles\n",
            g.packets, g.file_bytes, g.flows_started, g.flows_completed, g.needles_found);
    free(act);
    free(g.buf);
    return 0;
}
