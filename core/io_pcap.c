/*
 * io_pcap.c - offline capture input (pcap or pcapng): libpcap, with a
 * pcapng block reader of our own as the fallback.
 *
 * Design: libpcap reads from a FILE* that we open ourselves so we can give
 * stdio a 1 MiB buffer (measured in shared/bench/RESULTS.md: about 3x the
 * read speed of the default buffer; setvbuf with a NULL buffer is a no-op in
 * glibc, so the buffer is ours and freed after the FILE is closed).
 * The file is opened with nanosecond precision, so libpcap scales
 * microsecond files and ts_ns is exact for both resolutions.
 *
 * libpcap 1.10 gives a pcap_t one link type, so it refuses a pcapng file
 * whose interfaces differ ("an interface has a type 0 different from the
 * type of the first interface"), at open or only when it meets the second
 * interface. When a file starts with the pcapng Section Header Block magic
 * and libpcap fails to open it, or fails to read it for any reason but a
 * truncation, the file is reopened with the small reader below (ng_*),
 * which skips the records libpcap already returned (both count the same
 * three packet blocks, EPB, SPB and the obsolete PB, in file order). Every
 * frame then carries its own interface's LINKTYPE_ value (the decoder takes
 * LINKTYPE_ and DLT_ numbers alike) and an exact ns timestamp from that
 * interface's if_tsresol (powers of 10 and of 2) and if_tsoffset.
 *
 * Classic pcap files that can be reopened (regular files) are read by a
 * record walker of our own instead: read(2) in 4 MiB chunks, frames handed
 * out in place, no copy (measured on the benchmark capture: libpcap with the
 * 1 MiB buffer reads 12 Mpkt/s, the walker ~19: stdio's copy and libpcap's
 * per-record fread are gone). It takes only the plain format (the four
 * magics of version 2.4, no FCS bits in the link type field); anything else
 * stays with libpcap. A burst ends early rather than refill the chunk under
 * frames already handed out; the refill happens at the next call, when
 * io.h says those frames are dead.
 *
 * Pipes and FIFOs (`tcpdump -U -w - | mos-lua -r -`) are read by libpcap
 * from the same buffered FILE, but a burst ends as soon as no further byte
 * is waiting (nothing left in the stdio buffer, and poll(2) says the pipe
 * has nothing either): what has arrived is handed over at once instead of
 * waiting for a full burst. A read still blocks for the first frame of a
 * burst, so the host reads pipes from a thread of their own (host/io_setup.c)
 * and the worker never waits on one.
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
 *   - ng_*: every length read from the file is checked against the block
 *     that holds it before it is used; a block is at most NG_MAX_BLOCK.
 */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"

#define STDIO_BUF (1u << 20)
#define CL_CHUNK (4u << 20)        /* read(2) size of the classic walker */
#define CL_MAX_CAPLEN 262144u      /* libpcap's MAXIMUM_SNAPLEN: larger is garbage */

#define NG_SHB 0x0A0D0D0Au         /* Section Header Block type, also the file magic */
#define NG_BOM 0x1A2B3C4Du         /* byte-order magic inside the SHB */
#define NG_IDB 1u
#define NG_PB 2u                   /* obsolete Packet Block */
#define NG_SPB 3u
#define NG_EPB 6u
/* libpcap's own limit on a block is 16 MiB; 64 MiB leaves room for jumbo
 * captures while a garbage length cannot make us allocate gigabytes. */
#define NG_MAX_BLOCK (64u << 20)
#define NG_MAX_IFS 65536u          /* more interfaces than this is garbage */

struct ng_if {
    int linktype;
    uint32_t snaplen;
    bool pow2;                     /* if_tsresol is 2^-res, else 10^-res */
    uint8_t res;                   /* resolution exponent (default 6: microseconds) */
    int64_t tsoffset;              /* if_tsoffset, seconds */
};

struct ng_reader {
    FILE *fp;
    bool swap;                     /* section written in the other byte order */
    bool have_section;
    uint32_t nif, ifcap;
    struct ng_if *ifs;
    uint8_t *blk;                  /* body of the current block */
    size_t blkcap;
    uint64_t off;                  /* file offset of the next block */
};

struct ng_rec {
    const uint8_t *data;
    uint32_t caplen, wirelen;
    uint64_t ts_ns;
    int linktype;
};

struct cl_reader {                 /* classic pcap, read(2) chunks, in place */
    int fd;
    bool swap, nano;
    int linktype;
    uint8_t *buf;
    size_t cap, len, pos;          /* buf[pos, len) not yet consumed */
    bool eof;
};

struct pcap_io {
    struct mos_io io;          /* first: the public handle */
    pcap_t *p;                 /* libpcap, or NULL when ng or cl is used */
    struct cl_reader *cl;
    struct ng_reader *ng;
    FILE *fp;                  /* the FILE of ng (libpcap owns its own) */
    FILE *pipe_fp;             /* the FILE libpcap reads, when it is not seekable */
    bool is_pcapng;
    char *vbuf;
    uint8_t *arena;
    size_t arena_cap;
    int linktype;
    int pending;               /* 0, or the code to return on the next call */
    uint64_t npkts;            /* records read so far */
    char path[256];
    char name[272];
};

/* ------------------------------------------------------------ pcapng reader */

/* Fields of a file written in either byte order (both readers). */
static uint16_t get16(bool swap, const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return swap ? __builtin_bswap16(v) : v;
}

static uint32_t get32(bool swap, const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return swap ? __builtin_bswap32(v) : v;
}

static uint32_t ng_u32(const struct ng_reader *ng, const uint8_t *p) { return get32(ng->swap, p); }
static uint16_t ng_u16(const struct ng_reader *ng, const uint8_t *p) { return get16(ng->swap, p); }

static uint64_t ng_u64(const struct ng_reader *ng, const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return ng->swap ? __builtin_bswap64(v) : v;
}

/* Timestamp units of one interface -> ns since the epoch. 128-bit products
 * keep every resolution exact up to the 64-bit range (larger values wrap,
 * as a garbage timestamp may). */
static uint64_t ng_ts_ns(const struct ng_if *i, uint64_t ts)
{
    unsigned __int128 v = ts;
    if (i->pow2) {
        v = i->res >= 128 ? 0 : (v * 1000000000u) >> i->res;
    } else if (i->res <= 9) {
        for (unsigned k = i->res; k < 9; k++)
            v *= 10;
    } else {
        for (unsigned k = 9; k < i->res && v != 0; k++)
            v /= 10;
    }
    return (uint64_t)v + (uint64_t)i->tsoffset * 1000000000u;
}

static void ng_free(struct ng_reader *ng)
{
    if (ng == NULL)
        return;
    free(ng->ifs);
    free(ng->blk);
    free(ng);
}

/* Read exactly n bytes: 1 done, 0 nothing at all (clean EOF), -1 partial. */
static int ng_read(struct ng_reader *ng, void *buf, size_t n)
{
    size_t got = fread(buf, 1, n, ng->fp);
    ng->off += got;
    if (got == n)
        return 1;
    return got == 0 ? 0 : -1;
}

/* IDB body (after type and length, before the trailing length). */
static int ng_idb(struct ng_reader *ng, const uint8_t *b, uint32_t n, char *err, size_t errlen)
{
    if (n < 8) {
        snprintf(err, errlen, "interface block too short (%u bytes)", n);
        return -EPROTO;
    }
    if (ng->nif >= NG_MAX_IFS) {
        snprintf(err, errlen, "more than %u interfaces", NG_MAX_IFS);
        return -EPROTO;
    }
    if (ng->nif == ng->ifcap) {
        uint32_t cap = ng->ifcap ? ng->ifcap * 2 : 8;
        struct ng_if *ni = realloc(ng->ifs, cap * sizeof(*ni));
        if (ni == NULL) {
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
        ng->ifs = ni;
        ng->ifcap = cap;
    }
    struct ng_if *i = &ng->ifs[ng->nif];
    i->linktype = ng_u16(ng, b);
    i->snaplen = ng_u32(ng, b + 4);
    i->pow2 = false;
    i->res = 6;
    i->tsoffset = 0;
    for (uint32_t o = 8; o + 4 <= n;) {
        uint16_t code = ng_u16(ng, b + o), len = ng_u16(ng, b + o + 2);
        o += 4;
        if (code == 0) /* opt_endofopt */
            break;
        if (len > n - o) {
            snprintf(err, errlen, "interface option %u overruns its block", code);
            return -EPROTO;
        }
        if (code == 9 && len == 1) { /* if_tsresol */
            i->pow2 = (b[o] & 0x80) != 0;
            i->res = b[o] & 0x7f;
        } else if (code == 14 && len == 8) { /* if_tsoffset */
            i->tsoffset = (int64_t)ng_u64(ng, b + o);
        }
        uint32_t padded = (len + 3u) & ~3u;
        if (padded > n - o)
            break; /* the last option's padding may be missing: tolerated */
        o += padded;
    }
    ng->nif++;
    return 0;
}

/* The SHB after its 4-byte type: length, byte-order magic and the rest.
 * Returns 1, 0 on EOF before any byte, -1 truncated, < -1 garbage. */
static int ng_shb(struct ng_reader *ng, char *err, size_t errlen)
{
    uint8_t h[8];
    int r = ng_read(ng, h, 8);
    if (r != 1)
        return r == 0 ? -1 : r;
    uint32_t bom;
    memcpy(&bom, h + 4, 4);
    if (bom == NG_BOM)
        ng->swap = false;
    else if (bom == __builtin_bswap32(NG_BOM))
        ng->swap = true;
    else {
        snprintf(err, errlen, "bad byte-order magic 0x%08x in the section header", bom);
        return -EPROTO;
    }
    uint32_t len = ng_u32(ng, h);
    /* type, length, magic, version, section length, trailing length */
    if (len < 28 || len % 4 != 0 || len > NG_MAX_BLOCK) {
        snprintf(err, errlen, "bad section header length %u", len);
        return -EPROTO;
    }
    size_t rest = len - 12;
    if (rest > ng->blkcap) {
        uint8_t *nb = realloc(ng->blk, rest);
        if (nb == NULL) {
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
        ng->blk = nb;
        ng->blkcap = rest;
    }
    r = ng_read(ng, ng->blk, rest);
    if (r != 1)
        return -1;
    if (ng_u16(ng, ng->blk) != 1) {
        snprintf(err, errlen, "unsupported pcapng version %u.%u", ng_u16(ng, ng->blk),
                 ng_u16(ng, ng->blk + 2));
        return -EPROTO;
    }
    if (ng_u32(ng, ng->blk + rest - 4) != len) {
        snprintf(err, errlen, "section header lengths disagree");
        return -EPROTO;
    }
    ng->nif = 0; /* interface ids are per section */
    ng->have_section = true;
    return 1;
}

/* Next packet record. 1 record in *rec (valid until the next call), 0 clean
 * EOF, -1 truncated (err says where), other < 0 garbage (err says what). */
static int ng_next(struct ng_reader *ng, struct ng_rec *rec, char *err, size_t errlen)
{
    for (;;) {
        uint64_t at = ng->off;
        uint8_t h[8];
        int r = ng_read(ng, h, 4);
        if (r == 0)
            return 0;
        if (r < 0)
            goto truncated;
        uint32_t type;
        memcpy(&type, h, 4); /* NG_SHB reads the same in both byte orders */
        if (type == NG_SHB) {
            r = ng_shb(ng, err, errlen);
            if (r == -1)
                goto truncated;
            if (r < 0)
                goto garbage;
            continue;
        }
        if (!ng->have_section) {
            snprintf(err, errlen, "no section header");
            goto garbage;
        }
        if (ng_read(ng, h + 4, 4) != 1)
            goto truncated;
        type = ng_u32(ng, h);
        uint32_t len = ng_u32(ng, h + 4);
        if (len < 12 || len % 4 != 0 || len > NG_MAX_BLOCK) {
            snprintf(err, errlen, "bad length %u of block type 0x%x", len, type);
            goto garbage;
        }
        uint32_t n = len - 12; /* body without type, length and trailing length */
        if ((size_t)n + 4 > ng->blkcap) {
            uint8_t *nb = realloc(ng->blk, (size_t)n + 4);
            if (nb == NULL) {
                snprintf(err, errlen, "out of memory");
                return -ENOMEM;
            }
            ng->blk = nb;
            ng->blkcap = (size_t)n + 4;
        }
        if (ng_read(ng, ng->blk, (size_t)n + 4) != 1)
            goto truncated;
        const uint8_t *b = ng->blk;
        if (ng_u32(ng, b + n) != len) {
            snprintf(err, errlen, "block type 0x%x: leading and trailing lengths disagree", type);
            goto garbage;
        }
        uint32_t ifid, caplen, wirelen, hdr;
        uint64_t ts;
        if (type == NG_IDB) {
            r = ng_idb(ng, b, n, err, errlen);
            if (r == -ENOMEM)
                return r;
            if (r < 0)
                goto garbage;
            continue;
        } else if (type == NG_EPB || type == NG_PB) {
            if (n < 20) {
                snprintf(err, errlen, "packet block too short (%u bytes)", n);
                goto garbage;
            }
            ifid = type == NG_EPB ? ng_u32(ng, b) : ng_u16(ng, b);
            ts = (uint64_t)ng_u32(ng, b + 4) << 32 | ng_u32(ng, b + 8);
            caplen = ng_u32(ng, b + 12);
            wirelen = ng_u32(ng, b + 16);
            hdr = 20;
        } else if (type == NG_SPB) {
            if (n < 4) {
                snprintf(err, errlen, "simple packet block too short (%u bytes)", n);
                goto garbage;
            }
            ifid = 0;
            ts = 0; /* an SPB has no timestamp */
            wirelen = ng_u32(ng, b);
            caplen = wirelen;
            hdr = 4;
        } else {
            continue; /* statistics, name resolution, custom...: not ours */
        }
        if (ifid >= ng->nif) {
            snprintf(err, errlen, "packet on undeclared interface %u", ifid);
            goto garbage;
        }
        const struct ng_if *i = &ng->ifs[ifid];
        if (type == NG_SPB) {
            /* its captured length is implicit: the snaplen or the block */
            if (i->snaplen != 0 && caplen > i->snaplen)
                caplen = i->snaplen;
            if (caplen > n - hdr)
                caplen = n - hdr;
        } else if (caplen > n - hdr) {
            snprintf(err, errlen, "captured length %u overruns its block", caplen);
            goto garbage;
        }
        rec->data = b + hdr;
        rec->caplen = caplen;
        rec->wirelen = wirelen < caplen ? caplen : wirelen;
        rec->ts_ns = type == NG_SPB ? 0 : ng_ts_ns(i, ts);
        rec->linktype = i->linktype;
        return 1;
    truncated:
        snprintf(err, errlen, "truncated block at offset %llu", (unsigned long long)at);
        return -1;
    garbage: {
        char tmp[128];
        snprintf(tmp, sizeof(tmp), "%s", err);
        snprintf(err, errlen, "bad pcapng block at offset %llu: %s", (unsigned long long)at, tmp);
        return -EPROTO;
    }
    }
}

/* ---------------------------------------------------- classic pcap walker */

static void cl_free(struct cl_reader *cl)
{
    if (!cl)
        return;
    if (cl->fd >= 0)
        close(cl->fd);
    free(cl->buf);
    free(cl);
}

/* Move the unconsumed tail to the front and read until `need` bytes are
 * there or the file ends. 0, or -errno. */
static int cl_fill(struct cl_reader *cl, size_t need)
{
    if (cl->pos > 0) {
        memmove(cl->buf, cl->buf + cl->pos, cl->len - cl->pos);
        cl->len -= cl->pos;
        cl->pos = 0;
    }
    while (cl->len < need && !cl->eof) {
        ssize_t r = read(cl->fd, cl->buf + cl->len, cl->cap - cl->len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            cl->eof = true;
        cl->len += (size_t)r;
    }
    return 0;
}

/* Open `path` for the walker when it is a regular file in plain classic
 * pcap: 1 and *out set; 0 otherwise (libpcap or the pcapng reader takes
 * it; a pipe is not even opened here, so no byte of it is lost); < 0 on
 * errors. */
static int cl_open(const char *path, struct cl_reader **out)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return 0; /* a missing file is reported by the usual open */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    uint8_t h[24];
    struct cl_reader tmp = {.fd = fd};
    if (read(fd, h, sizeof(h)) != (ssize_t)sizeof(h))
        goto not_ours;
    uint32_t magic;
    memcpy(&magic, h, 4);
    if (magic == 0xa1b2c3d4u || magic == 0xa1b23c4du) {
        tmp.nano = magic == 0xa1b23c4du;
    } else if (magic == 0xd4c3b2a1u || magic == 0x4d3cb2a1u) {
        tmp.swap = true;
        tmp.nano = magic == 0x4d3cb2a1u;
    } else {
        goto not_ours;
    }
    uint16_t vmaj = get16(tmp.swap, h + 4), vmin = get16(tmp.swap, h + 6);
    uint32_t network = get32(tmp.swap, h + 20);
    if (vmaj != 2 || vmin != 4 || (network & 0xffff0000u) != 0)
        goto not_ours; /* old versions, FCS bits: libpcap knows them */
    struct cl_reader *cl = calloc(1, sizeof(*cl));
    uint8_t *buf = malloc(CL_CHUNK);
    if (!cl || !buf) {
        free(cl);
        free(buf);
        close(fd);
        return -ENOMEM;
    }
    *cl = tmp;
    cl->linktype = (int)network;
    cl->buf = buf;
    cl->cap = CL_CHUNK;
    *out = cl;
    return 1;
not_ours:
    close(fd);
    return 0;
}

/* The next record, in place: 1; 0 when it is not all in the buffer and
 * refilling is not allowed now; MOS_IO_EOF (err set when the file was cut
 * inside a record); -EPROTO on a record no capture tool writes (err set). */
static int cl_next(struct cl_reader *cl, bool may_fill, struct ng_rec *rec, char *err, size_t errlen)
{
    for (int pass = 0; pass < 2; pass++) {
        size_t avail = cl->len - cl->pos;
        if (avail >= 16) {
            const uint8_t *h = cl->buf + cl->pos;
            uint32_t caplen = get32(cl->swap, h + 8);
            if (caplen > CL_MAX_CAPLEN) {
                snprintf(err, errlen, "bad record: captured length %u is more than %u", caplen, CL_MAX_CAPLEN);
                return -EPROTO;
            }
            if (avail >= 16 + (size_t)caplen) {
                uint64_t sec = get32(cl->swap, h), frac = get32(cl->swap, h + 4);
                rec->data = h + 16;
                rec->caplen = caplen;
                rec->wirelen = get32(cl->swap, h + 12);
                rec->ts_ns = sec * 1000000000ull + (cl->nano ? frac : frac * 1000ull);
                rec->linktype = cl->linktype;
                cl->pos += 16 + (size_t)caplen;
                return 1;
            }
            if (cl->eof) {
                snprintf(err, errlen, "record of %u bytes cut after %zu", caplen, avail - 16);
                return MOS_IO_EOF;
            }
        } else if (cl->eof) {
            if (avail)
                snprintf(err, errlen, "record header cut after %zu bytes", avail);
            return MOS_IO_EOF;
        }
        if (!may_fill)
            return 0;
        int rc = cl_fill(cl, 16 + CL_MAX_CAPLEN);
        if (rc < 0) {
            snprintf(err, errlen, "%s", strerror(-rc));
            return -EIO;
        }
    }
    return MOS_IO_EOF; /* not reached: a fill either completes a record or ends the file */
}

/* ------------------------------------------------------------------- input */

/* A non-seekable input has another byte waiting right now: in the stdio
 * buffer, or in the pipe. A closed pipe polls readable (its EOF is news). */
static bool pipe_has_more(FILE *fp)
{
#ifdef __GLIBC__
    if (fp->_IO_read_ptr < fp->_IO_read_end)
        return true;
#else
    (void)fp;
    return true; /* stdio's buffer cannot be seen: fill whole bursts as before */
#endif
    struct pollfd p = {.fd = fileno(fp), .events = POLLIN};
    return poll(&p, 1, 0) > 0;
}

static int arena_reserve(struct pcap_io *pi, size_t need)
{
    /* allocated even for zero-length frames: frame pointers are arena-based */
    if (need <= pi->arena_cap && pi->arena != NULL)
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

static FILE *open_buffered(struct pcap_io *pi, char *err, size_t errlen, int *code)
{
    FILE *fp = fopen(pi->path, "rb");
    if (fp == NULL) {
        *code = -errno;
        snprintf(err, errlen, "%s: cannot open: %s", pi->path, strerror(errno));
        return NULL;
    }
    if (pi->vbuf == NULL)
        pi->vbuf = malloc(STDIO_BUF);
    if (pi->vbuf == NULL || setvbuf(fp, pi->vbuf, _IOFBF, STDIO_BUF) != 0) {
        snprintf(err, errlen, "%s: cannot set up the read buffer", pi->path);
        fclose(fp);
        *code = -ENOMEM;
        return NULL;
    }
    return fp;
}

/* Switch to the pcapng reader on `fp` (at offset 0), skipping the first
 * `skip` records. 0, or a negative code with err set. */
static int ng_start(struct pcap_io *pi, FILE *fp, uint64_t skip, char *err, size_t errlen)
{
    struct ng_reader *ng = calloc(1, sizeof(*ng));
    if (ng == NULL) {
        snprintf(err, errlen, "%.120s: out of memory", pi->path);
        return -ENOMEM;
    }
    ng->fp = fp;
    char msg[200] = "";
    struct ng_rec rec;
    for (uint64_t k = 0; k < skip; k++) {
        int r = ng_next(ng, &rec, msg, sizeof(msg));
        if (r != 1) {
            snprintf(err, errlen, "%.120s: pcapng reader lost its place at packet %llu: %s", pi->path,
                     (unsigned long long)k + 1, r == 0 ? "end of file" : msg);
            ng_free(ng);
            return -EPROTO;
        }
    }
    pi->ng = ng;
    pi->fp = fp;
    return 0;
}

/* libpcap failed while reading a pcapng file: continue with our reader. */
static int fallback_mid_read(struct pcap_io *pi)
{
    char err[256];
    int code = 0;
    pcap_close(pi->p); /* closes its FILE: vbuf is free for the new one */
    pi->p = NULL;
    FILE *fp = open_buffered(pi, err, sizeof(err), &code);
    if (fp == NULL) {
        snprintf(pi->io.err, sizeof(pi->io.err), "%s", err);
        return code;
    }
    code = ng_start(pi, fp, pi->npkts, err, sizeof(err));
    if (code < 0) {
        fclose(fp);
        snprintf(pi->io.err, sizeof(pi->io.err), "%s", err);
        return code;
    }
    return 0;
}

/* One record from whichever reader is active: 1, MOS_IO_EOF (io->err set
 * when truncated) or another negative code with io->err set. */
static int next_record(struct pcap_io *pi, struct ng_rec *rec, bool may_fill)
{
    struct mos_io *io = &pi->io;
    if (pi->cl) {
        char msg[160] = "";
        int r = cl_next(pi->cl, may_fill, rec, msg, sizeof(msg));
        if (r == MOS_IO_EOF && msg[0])
            snprintf(io->err, sizeof(io->err), "%.120s: capture file truncated after %llu packets (%.80s)",
                     pi->path, (unsigned long long)pi->npkts, msg);
        else if (r < 0 && r != MOS_IO_EOF)
            snprintf(io->err, sizeof(io->err), "%.100s: read error after %llu packets: %.120s", pi->path,
                     (unsigned long long)pi->npkts, msg);
        return r;
    }
    if (pi->ng) {
        char msg[200] = "";
        int r = ng_next(pi->ng, rec, msg, sizeof(msg));
        if (r == 1)
            return 1;
        if (r == 0)
            return MOS_IO_EOF;
        if (r == -1) {
            snprintf(io->err, sizeof(io->err), "%.120s: capture file truncated after %llu packets (%.80s)",
                     pi->path, (unsigned long long)pi->npkts, msg);
            return MOS_IO_EOF;
        }
        snprintf(io->err, sizeof(io->err), "%.100s: read error after %llu packets: %.120s", pi->path,
                 (unsigned long long)pi->npkts, msg);
        return r == -ENOMEM ? r : -EPROTO;
    }
    struct pcap_pkthdr *h;
    const u_char *data;
    int rc = pcap_next_ex(pi->p, &h, &data);
    if (rc == 1) {
        rec->data = data;
        rec->caplen = h->caplen;
        rec->wirelen = h->len;
        /* PCAP_TSTAMP_PRECISION_NANO: tv_usec holds nanoseconds */
        rec->ts_ns = (uint64_t)h->ts.tv_sec * 1000000000ull + (uint64_t)h->ts.tv_usec;
        rec->linktype = pi->linktype;
        return 1;
    }
    if (rc == PCAP_ERROR_BREAK || rc == 0) /* offline reads never time out */
        return MOS_IO_EOF;
    const char *msg = pcap_geterr(pi->p);
    if (strstr(msg, "truncated") != NULL) {
        snprintf(io->err, sizeof(io->err), "%.120s: capture file truncated after %llu packets (%.80s)",
                 pi->path, (unsigned long long)pi->npkts, msg);
        return MOS_IO_EOF;
    }
    if (pi->is_pcapng) {
        int r = fallback_mid_read(pi);
        return r < 0 ? r : next_record(pi, rec, may_fill);
    }
    snprintf(io->err, sizeof(io->err), "%.120s: read error after %llu packets: %.80s", pi->path,
             (unsigned long long)pi->npkts, msg);
    return -EPROTO;
}

/* The walker's frames stay in its chunk: no copy. */
static int cl_rx_burst(struct pcap_io *pi, struct mos_frame *frames, int max)
{
    int n = 0;
    while (n < max) {
        struct ng_rec rec;
        int rc = next_record(pi, &rec, n == 0); /* refill only before the first frame */
        if (rc == 0)
            break;
        if (rc != 1) {
            pi->pending = rc;
            break;
        }
        frames[n++] = (struct mos_frame){.data = rec.data, .caplen = rec.caplen, .wirelen = rec.wirelen,
                                         .ts_ns = rec.ts_ns, .linktype = rec.linktype};
        pi->npkts++;
    }
    return n > 0 ? n : pi->pending;
}

static int pcap_rx_burst(struct mos_io *io, struct mos_frame *frames, int max)
{
    struct pcap_io *pi = (struct pcap_io *)io;
    if (pi->pending) /* EOF and errors are sticky */
        return pi->pending;
    if (pi->cl)
        return cl_rx_burst(pi, frames, max);
    size_t used = 0;
    int n = 0;
    while (n < max) {
        struct ng_rec rec;
        int rc = next_record(pi, &rec, true);
        if (rc != 1) {
            pi->pending = rc;
            break;
        }
        if (arena_reserve(pi, used + rec.caplen) < 0) {
            snprintf(io->err, sizeof(io->err), "%.120s: out of memory reading packet %llu", pi->path,
                     (unsigned long long)pi->npkts + 1);
            pi->pending = -ENOMEM;
            break;
        }
        if (rec.caplen)
            memcpy(pi->arena + used, rec.data, rec.caplen);
        struct mos_frame *fr = &frames[n++];
        fr->data = (const uint8_t *)(uintptr_t)used; /* offset; fixed up below */
        fr->caplen = rec.caplen;
        fr->wirelen = rec.wirelen;
        fr->ts_ns = rec.ts_ns;
        fr->linktype = rec.linktype;
        fr->port = 0;
        fr->pad = 0;
        used += rec.caplen;
        pi->npkts++;
        if (pi->pipe_fp && !pipe_has_more(pi->pipe_fp))
            break; /* hand over what has arrived (see the note at the top) */
    }
    for (int i = 0; i < n; i++)
        frames[i].data = pi->arena + (uintptr_t)frames[i].data;
    if (n > 0)
        return n;
    return pi->pending;
}

static void pcap_io_close(struct mos_io *io)
{
    struct pcap_io *pi = (struct pcap_io *)io;
    if (pi == NULL)
        return;
    if (pi->p)
        pcap_close(pi->p); /* also fcloses the FILE, so vbuf is free after */
    if (pi->fp)
        fclose(pi->fp);
    ng_free(pi->ng);
    cl_free(pi->cl);
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
    int code = cl_open(path, &pi->cl);
    if (code < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(-code));
        free(pi);
        return code;
    }
    if (code == 1) {
        pi->linktype = pi->cl->linktype;
        goto ready;
    }
    FILE *fp = open_buffered(pi, err, errlen, &code);
    if (fp == NULL) {
        free(pi->vbuf);
        free(pi);
        return code;
    }
    uint32_t magic = 0;
    /* A pipe (mkfifo, stdin) cannot be rewound after a peek, nor reopened
     * for the fallback: there libpcap alone reads, from the first byte. */
    bool seekable = fseek(fp, 0, SEEK_CUR) == 0;
    pi->is_pcapng = seekable && fread(&magic, 1, 4, fp) == 4 && magic == NG_SHB;
    if (seekable)
        rewind(fp);
    ebuf[0] = '\0';
    pi->p = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_NANO, ebuf);
    if (pi->p == NULL) {
        /* libpcap leaves the FILE to us when it refuses it */
        if (!pi->is_pcapng) {
            snprintf(err, errlen, "%s: not a readable pcap/pcapng capture: %s", path, ebuf);
            code = -EPROTO;
            goto fail;
        }
        rewind(fp);
        char msg[200] = "";
        code = ng_start(pi, fp, 0, msg, sizeof(msg));
        if (code < 0) {
            snprintf(err, errlen, "%s", msg);
            goto fail;
        }
        /* read the section header now, so garbage is refused at open */
        uint8_t t[4];
        code = ng_read(pi->ng, t, 4) == 1 ? ng_shb(pi->ng, msg, sizeof(msg)) : -1;
        if (code != 1) {
            if (code == -1 || code == 0)
                snprintf(msg, sizeof(msg), "truncated section header");
            snprintf(err, errlen, "%s: not a readable pcapng capture: %s (libpcap: %s)", path, msg, ebuf);
            code = code == -ENOMEM ? code : -EPROTO;
            goto fail;
        }
        pi->fp = fp;
    } else {
        pi->linktype = pcap_datalink(pi->p);
        if (!seekable)
            pi->pipe_fp = fp;
    }
ready:
    snprintf(pi->name, sizeof(pi->name), "file:%s", path);
    pi->io.rx_burst = pcap_rx_burst;
    pi->io.tx = NULL;
    pi->io.close = pcap_io_close;
    pi->io.name = pi->name;
    *out = &pi->io;
    return 0;
fail:
    ng_free(pi->ng);
    fclose(fp);
    free(pi->vbuf);
    free(pi);
    return code;
}
