/*
 * io_pcap.c - offline capture input (pcap or pcapng) through libpcap.
 *
 * Design: libpcap reads from a FILE* that we open ourselves so we can give
 * stdio a 1 MiB buffer (measured in shared/bench/RESULTS.md: about 3x the
 * read speed of the default buffer; setvbuf with a NULL buffer is a no-op in
 * glibc, so the buffer is ours and freed after pcap_close closes the FILE).
 * The file is opened with nanosecond precision, so libpcap scales
 * microsecond files and ts_ns is exact for both resolutions.
 *
 * Invariants:
 *   - pcap_next_ex reuses its buffer, so rx_burst copies each frame into an
 *     arena that lives until the next rx_burst; pointers into the arena are
 *     fixed up only after the whole burst is copied, because the arena may
 *     be reallocated while it grows.
 *   - frames read before an error or EOF are returned first; the error or
 *     MOS_IO_EOF comes with the next call.
 *   - a file cut short ends with MOS_IO_EOF after its last complete record,
 *     with io->err saying it was truncated (the caller decides to report).
 */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"

#define STDIO_BUF (1u << 20)

struct pcap_io {
    struct mos_io io;          /* first: the public handle */
    pcap_t *p;
    char *vbuf;
    uint8_t *arena;
    size_t arena_cap;
    int linktype;
    int pending;               /* 0, or the code to return on the next call */
    uint64_t npkts;            /* records read so far */
    char path[256];
    char name[272];
};

static int arena_reserve(struct pcap_io *pi, size_t need)
{
    if (need <= pi->arena_cap)
        return 0;
    size_t ncap = pi->arena_cap ? pi->arena_cap : 65536;
    while (ncap < need)
        ncap *= 2;
    uint8_t *n = realloc(pi->arena, ncap);
    if (n == NULL)
        return -ENOMEM;
    pi->arena = n;
    pi->arena_cap = ncap;
    return 0;
}

static int pcap_rx_burst(struct mos_io *io, struct mos_frame *frames, int max)
{
    struct pcap_io *pi = (struct pcap_io *)io;
    if (pi->pending) /* EOF and errors are sticky */
        return pi->pending;
    size_t used = 0;
    int n = 0;
    while (n < max) {
        struct pcap_pkthdr *h;
        const u_char *data;
        int rc = pcap_next_ex(pi->p, &h, &data);
        if (rc == 1) {
            if (arena_reserve(pi, used + h->caplen) < 0) {
                snprintf(io->err, sizeof(io->err), "%.120s: out of memory reading packet %llu",
                         pi->path, (unsigned long long)pi->npkts + 1);
                pi->pending = -ENOMEM;
                break;
            }
            memcpy(pi->arena + used, data, h->caplen);
            struct mos_frame *fr = &frames[n++];
            fr->data = (const uint8_t *)(uintptr_t)used; /* offset; fixed up below */
            fr->caplen = h->caplen;
            fr->wirelen = h->len;
            /* PCAP_TSTAMP_PRECISION_NANO: tv_usec holds nanoseconds */
            fr->ts_ns = (uint64_t)h->ts.tv_sec * 1000000000ull + (uint64_t)h->ts.tv_usec;
            fr->linktype = pi->linktype;
            fr->port = 0;
            fr->pad = 0;
            used += h->caplen;
            pi->npkts++;
            continue;
        }
        if (rc == 0) /* offline reads never time out; treat as "nothing now" */
            break;
        if (rc == PCAP_ERROR_BREAK) {
            pi->pending = MOS_IO_EOF;
            break;
        }
        const char *msg = pcap_geterr(pi->p);
        if (strstr(msg, "truncated") != NULL) {
            snprintf(io->err, sizeof(io->err), "%.120s: capture file truncated after %llu packets (%.80s)",
                     pi->path, (unsigned long long)pi->npkts, msg);
            pi->pending = MOS_IO_EOF;
        } else {
            snprintf(io->err, sizeof(io->err), "%.120s: read error after %llu packets: %.80s", pi->path,
                     (unsigned long long)pi->npkts, msg);
            pi->pending = -EPROTO;
        }
        break;
    }
    for (int i = 0; i < n; i++)
        frames[i].data = pi->arena + (uintptr_t)frames[i].data;
    if (n > 0)
        return n;
    return pi->pending ? pi->pending : 0;
}

static void pcap_io_close(struct mos_io *io)
{
    struct pcap_io *pi = (struct pcap_io *)io;
    if (pi == NULL)
        return;
    if (pi->p)
        pcap_close(pi->p); /* also fcloses the FILE, so vbuf is free after */
    free(pi->vbuf);
    free(pi->arena);
    free(pi);
}

int io_pcap_open_offline(const char *path, struct mos_io **out, char *err, size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE];
    if (err && errlen)
        err[0] = '\0';
    struct pcap_io *pi = calloc(1, sizeof(*pi));
    if (pi == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -ENOMEM;
    }
    snprintf(pi->path, sizeof(pi->path), "%s", path);
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        int e = errno;
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(e));
        free(pi);
        return -e;
    }
    pi->vbuf = malloc(STDIO_BUF);
    if (pi->vbuf == NULL || setvbuf(fp, pi->vbuf, _IOFBF, STDIO_BUF) != 0) {
        snprintf(err, errlen, "%s: cannot set up the read buffer", path);
        fclose(fp);
        free(pi->vbuf);
        free(pi);
        return -ENOMEM;
    }
    ebuf[0] = '\0';
    pi->p = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_NANO, ebuf);
    if (pi->p == NULL) {
        /* libpcap leaves the FILE to us when it refuses it */
        snprintf(err, errlen, "%s: not a readable pcap/pcapng capture: %s", path, ebuf);
        fclose(fp);
        free(pi->vbuf);
        free(pi);
        return -EPROTO;
    }
    pi->linktype = pcap_datalink(pi->p);
    snprintf(pi->name, sizeof(pi->name), "file:%s", path);
    pi->io.rx_burst = pcap_rx_burst;
    pi->io.tx = NULL;
    pi->io.close = pcap_io_close;
    pi->io.name = pi->name;
    *out = &pi->io;
    return 0;
}
