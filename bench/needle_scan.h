/*
 * needle_scan.h - count a needle in a byte stream delivered in pieces.
 *
 * Shared by the libnids driver and the C-API search app so that both count
 * exactly the same way. Invariant: `carry` holds the last min(len-1, seen)
 * bytes of the stream, so a match straddling two pieces is found when the
 * second piece arrives, and a match is never counted twice (the carry is
 * shorter than the needle, so no match lies wholly inside it).
 */
#ifndef MOS_BENCH_NEEDLE_SCAN_H
#define MOS_BENCH_NEEDLE_SCAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define NEEDLE_MAX 64

struct needle_dir {
    uint8_t carry[NEEDLE_MAX];
    uint8_t ncarry;
};

static inline uint64_t needle_scan(struct needle_dir *d, const uint8_t *nd, size_t nlen, const uint8_t *p, size_t n)
{
    uint64_t hits = 0;
    if (nlen == 0 || nlen > NEEDLE_MAX || n == 0)
        return 0;
    /* matches that start in the carry: search carry + the first nlen-1 new bytes */
    if (d->ncarry) {
        uint8_t tmp[2 * NEEDLE_MAX];
        size_t take = n < nlen - 1 ? n : nlen - 1;
        memcpy(tmp, d->carry, d->ncarry);
        memcpy(tmp + d->ncarry, p, take);
        for (size_t i = 0; i < d->ncarry && i + nlen <= d->ncarry + take; i++)
            hits += memcmp(tmp + i, nd, nlen) == 0;
    }
    for (const uint8_t *q = p, *end = p + n; (size_t)(end - q) >= nlen;) {
        const uint8_t *m = memmem(q, (size_t)(end - q), nd, nlen);
        if (!m)
            break;
        hits++;
        q = m + 1;
    }
    /* new carry: the last nlen-1 bytes of carry + p */
    size_t keep = nlen - 1;
    if (n >= keep) {
        memcpy(d->carry, p + n - keep, keep);
        d->ncarry = (uint8_t)keep;
    } else {
        size_t old = d->ncarry + n > keep ? keep - n : d->ncarry;
        memmove(d->carry, d->carry + d->ncarry - old, old);
        memcpy(d->carry + old, p, n);
        d->ncarry = (uint8_t)(old + n);
    }
    return hits;
}

#endif
