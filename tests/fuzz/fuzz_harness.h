/*
 * fuzz_harness.h - the bodies of the fuzz targets, shared by the libFuzzer
 * entry points (fuzz_engine.c, fuzz_pcap.c, built with clang) and by the
 * Criterion replay of tests/fuzz/regressions/ (test_fuzz_regressions.c,
 * built with gcc), so a crash found by the fuzzer is replayed through
 * exactly the same code in the normal test suite.
 *
 * Engine input format (everything is optional; a short input just ends):
 *   byte 0       mode: bits 0-3 pick the link type (index into LINKTYPES,
 *                modulo its size), bit 4 overlap policy "last", bit 5
 *                checksum policy "auto" (default "ignore", so mutated
 *                packets are not all dropped at the checksum), bit 6 lets
 *                handlers reset a flow, bit 7 lets handlers raise a UDE.
 *   then frames: u16 little-endian length, u8 clock step, `length` bytes
 *                (clipped to what is left). Clock steps below 200 advance
 *                the packet clock by that many ms, above by (step-200) s,
 *                so every timeout (set small below) can be reached.
 * The limits are tiny (64 flows, 4 KiB ring, 8 KiB out-of-order window,
 * 64 KiB memcap, 8 fragment datagrams in 16 KiB) so short inputs reach
 * eviction, overflow and memcap paths.
 *
 * Pcap input: the bytes are a capture file, read through io_pcap from a
 * memfd (no file on disk) and every frame decoded.
 *
 * Everything is static: each including translation unit gets its own copy.
 */
#ifndef MOS_FUZZ_HARNESS_H
#define MOS_FUZZ_HARNESS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "counters.h"
#include "decode.h"
#include "engine.h"
#include "event_tree.h"
#include "io.h"
#include "ip_frag.h"

static const int FUZZ_LINKTYPES[] = {1, 113, 276, 12, 14, 101, 228, 229, 0, 108};
#define FUZZ_NLINKTYPES ((int)(sizeof(FUZZ_LINKTYPES) / sizeof(FUZZ_LINKTYPES[0])))
#define FUZZ_MS 1000000ull
#define FUZZ_S 1000000000ull

struct fuzz_ctx {
    struct mos_core *core;
    uint8_t mode;
    int ude;            /* UDE id defined on CONN_NEW_DATA, or < 0 */
    uint64_t sink;      /* keeps the peeked bytes "used" */
    unsigned resets, raises;
};

static void fuzz_touch_sides(struct fuzz_ctx *x, struct mos_flow *f)
{
    uint8_t buf[512];
    for (int side = 0; side < 2; side++) {
        int64_t n = core_peek(x->core, f, side, buf, sizeof(buf));
        for (int64_t i = 0; i < n && i < (int64_t)sizeof(buf); i++)
            x->sink += buf[i];
        /* from the oldest byte still in the ring, and from far behind it */
        n = core_ppeek(x->core, f, side, 0, buf, sizeof(buf));
        for (int64_t i = 0; i < n && i < (int64_t)sizeof(buf); i++)
            x->sink += buf[i];
        uint64_t d = tcp_reasm_delivered(&f->ep[side].rcv);
        n = core_ppeek(x->core, f, side, d > 100 ? d - 100 : 0, buf, 37);
        for (int64_t i = 0; i < n && i < 37; i++)
            x->sink += buf[i];
        n = core_ppeek(x->core, f, side, d + 5000, buf, 16);
        (void)n;
    }
}

static bool fuzz_filter(void *ctx, uint64_t filter, uint64_t arg, const struct mos_event *ev)
{
    struct fuzz_ctx *x = ctx;
    (void)filter;
    (void)arg;
    if (ev->flow == NULL)
        return false;
    uint8_t b[1];
    return core_peek(x->core, ev->flow, ev->side < 2 ? ev->side : 0, b, 1) == 1 && (b[0] & 1);
}

static void fuzz_handler(void *ctx, uint64_t handler, const struct mos_event *ev)
{
    struct fuzz_ctx *x = ctx;
    (void)handler;
    const struct mos_pkt *p = core_current_pkt(x->core);
    if (p != NULL && p->payload != NULL && p->payload_len > 0)
        x->sink += p->payload[p->payload_len - 1];
    if (ev->flow == NULL)
        return;
    fuzz_touch_sides(x, ev->flow);
    if (ev->event == MOS_ON_CONN_END)
        return;
    uint8_t b[2];
    int64_t n = core_peek(x->core, ev->flow, ev->side < 2 ? ev->side : 0, b, 2);
    if ((x->mode & 0x40) && n == 2 && b[0] == 'R' && b[1] == 'S' && x->resets < 16) {
        x->resets++;
        core_flow_reset(x->core, ev->flow);
    }
    if ((x->mode & 0x80) && x->ude >= 0 && ev->event == MOS_ON_CONN_NEW_DATA && x->raises < 64) {
        x->raises++;
        core_raise_event(x->core, ev->flow, ev->side, x->ude);
    }
}

/* Config for the engine target. */
static void fuzz_engine_config(struct mos_config *cfg, uint8_t mode)
{
    config_defaults(cfg);
    cfg->max_concurrency = 64;
    cfg->rcvbuf = 4096;
    cfg->ooo_window = 8192;
    cfg->memcap = 65536;
    cfg->frag_memcap = 16384;
    cfg->frag_max_datagrams = 8;
    cfg->frag_timeout = 2 * FUZZ_S;
    cfg->timeout_syn = 3 * FUZZ_S;
    cfg->timeout_established = 10 * FUZZ_S;
    cfg->timeout_closing = 5 * FUZZ_S;
    cfg->timeout_time_wait = 1 * FUZZ_S;
    cfg->overlap = (mode & 0x10) ? MOS_OVERLAP_LAST : MOS_OVERLAP_FIRST;
    cfg->checksum = (mode & 0x20) ? MOS_CSUM_AUTO : MOS_CSUM_IGNORE;
}

/* Returns 0; anything wrong shows up as a sanitizer report or a crash. */
__attribute__((unused)) static int fuzz_engine_one(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct fuzz_ctx x;
    memset(&x, 0, sizeof(x));
    x.mode = data[0];
    x.ude = -1;
    struct mos_config cfg;
    fuzz_engine_config(&cfg, x.mode);
    if (core_create(&cfg, 0, &x.core) != 0)
        return 0;
    const struct etree_host host = {.ctx = &x, .filter = fuzz_filter, .handler = fuzz_handler};
    int s = core_socket(x.core, MOS_SOCK_MONITOR_STREAM);
    int r = core_socket(x.core, MOS_SOCK_MONITOR_RAW);
    uint64_t handler = 1;
    for (int ev = 0; ev < MOS_BUILTIN_EVENTS; ev++)
        for (int hk = 0; hk < MOS_HK_COUNT; hk++) {
            if (s >= 0 && core_check_hook(x.core, MOS_SOCK_MONITOR_STREAM, ev, hk) == 0)
                core_register(x.core, s, ev, hk, handler++, false);
            if (r >= 0 && core_check_hook(x.core, MOS_SOCK_MONITOR_RAW, ev, hk) == 0)
                core_register(x.core, r, ev, hk, handler++, false);
        }
    x.ude = core_define_event(x.core, MOS_ON_CONN_NEW_DATA, 1000, 0);
    if (x.ude >= 0 && s >= 0)
        core_register(x.core, s, x.ude, MOS_HK_RCV, handler++, false);

    int linktype = FUZZ_LINKTYPES[(data[0] & 0x0f) % FUZZ_NLINKTYPES];
    uint64_t ts = 1700000000ull * FUZZ_S;
    size_t pos = 1;
    while (pos + 3 <= size) {
        uint32_t len = (uint32_t)data[pos] | (uint32_t)data[pos + 1] << 8;
        uint8_t step = data[pos + 2];
        pos += 3;
        if (len > size - pos)
            len = (uint32_t)(size - pos);
        ts += step < 200 ? step * FUZZ_MS : (uint64_t)(step - 200) * FUZZ_S;
        struct mos_frame fr = {.data = data + pos, .caplen = len, .wirelen = len,
                               .ts_ns = ts, .linktype = linktype};
        core_process_frame(x.core, &fr, &host);
        pos += len;
    }
    core_shutdown(x.core, &host);
    core_destroy(x.core);
    return 0;
}

/* The pcap target: bytes -> memfd -> io_pcap -> decode_frame. */
__attribute__((unused)) static int fuzz_pcap_one(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz.pcap", 0);
    if (fd < 0)
        return 0;
    size_t done = 0;
    while (done < size) {
        ssize_t w = write(fd, data + done, size - done);
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    struct mos_io *io = NULL;
    char err[256];
    if (io_pcap_open_offline(path, &io, err, sizeof(err)) == 0) {
        struct mos_counters ctr;
        memset(&ctr, 0, sizeof(ctr));
        struct ip_frag *frag = NULL;
        ip_frag_create(2 * FUZZ_S, 16384, 8, &ctr, &frag);
        struct decoder d = {.checksum = MOS_CSUM_AUTO, .frag = frag, .ctr = &ctr};
        struct mos_frame fr[8];
        uint64_t sink = 0;
        int n, rounds = 0;
        while ((n = io->rx_burst(io, fr, 8)) > 0 && rounds++ < 100000) {
            for (int i = 0; i < n; i++) {
                if (fr[i].caplen > 0)
                    sink += fr[i].data[0] + fr[i].data[fr[i].caplen - 1];
                struct mos_pkt pkt;
                decode_frame(&d, fr[i].linktype, fr[i].data, fr[i].caplen, fr[i].wirelen,
                             fr[i].ts_ns, &pkt);
            }
        }
        /* EOF and errors are sticky */
        if (n <= 0 && n != 0 && io->rx_burst(io, fr, 8) != n)
            __builtin_trap();
        (void)sink;
        io->close(io);
        if (frag)
            ip_frag_destroy(frag);
    } else if (err[0] == '\0') {
        __builtin_trap(); /* a refusal always says why */
    }
    close(fd);
    return 0;
}

#endif
