/*
 * spsc_stress.h - the two-thread stress of host/spsc_ring.c, shared by the
 * Criterion test (test_spsc_ring.c, normal and ASan+UBSan builds) and the
 * ThreadSanitizer program (tests/tsan/tsan_spsc_ring.c).
 *
 * A producer thread pushes `n` records of varied length (0 to the ring's
 * maximum, so skips, the no-marker wrap and full rings all happen in a small
 * ring) whose header fields and bytes are functions of the record number;
 * the consumer (the calling thread) takes bursts of up to 64 records,
 * checks every field and byte and the order, and releases the burst only
 * after checking it, as a worker does. Returns the number of records that
 * were wrong, missing or out of order (0 is a pass).
 */
#ifndef MOS_SPSC_STRESS_H
#define MOS_SPSC_STRESS_H

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "spsc_ring.h"

struct spsc_stress {
    struct spsc_ring *ring;
    uint64_t n;
};

static uint32_t spsc_stress_len(uint64_t i, uint32_t max)
{
    uint64_t x = i * 0x9E3779B97F4A7C15ull;
    return (uint32_t)((x >> 33) % (max + 1u));
}

static uint8_t spsc_stress_byte(uint64_t i, uint32_t j)
{
    return (uint8_t)(i * 31u + j * 7u + (i >> 8));
}

static void *spsc_stress_producer(void *arg)
{
    struct spsc_stress *st = arg;
    uint32_t max = spsc_ring_max_caplen(st->ring);
    for (uint64_t i = 0; i < st->n; i++) {
        uint32_t len = spsc_stress_len(i, max);
        struct spsc_rec *h;
        while ((h = spsc_ring_reserve(st->ring, len)) == NULL)
            sched_yield();
        h->wirelen = len + 1;
        h->linktype = (int32_t)(i & 0xff);
        h->ts_ns = i;
        h->port = (uint16_t)(i & 1);
        uint8_t *d = (uint8_t *)(h + 1);
        for (uint32_t j = 0; j < len; j++)
            d[j] = spsc_stress_byte(i, j);
        spsc_ring_publish(st->ring, h);
    }
    return NULL;
}

/* Runs the stress on an initialised, empty ring. */
static uint64_t spsc_stress_run(struct spsc_ring *ring, uint64_t n)
{
    struct spsc_stress st = {.ring = ring, .n = n};
    pthread_t t;
    if (pthread_create(&t, NULL, spsc_stress_producer, &st) != 0)
        return n;
    uint32_t max = spsc_ring_max_caplen(ring);
    uint64_t want = 0, bad = 0;
    while (want < n) {
        uint64_t head = spsc_ring_head(ring);
        const struct spsc_rec *h;
        int k = 0;
        while (k < 64 && (h = spsc_ring_next(ring, head)) != NULL) {
            k++;
            uint32_t len = spsc_stress_len(want, max);
            bool ok = h->ts_ns == want && h->caplen == len && h->wirelen == len + 1 &&
                      h->linktype == (int32_t)(want & 0xff) && h->port == (uint16_t)(want & 1);
            const uint8_t *d = (const uint8_t *)(h + 1);
            for (uint32_t j = 0; ok && j < len; j++)
                ok = d[j] == spsc_stress_byte(want, j);
            if (!ok && bad++ < 5)
                fprintf(stderr, "spsc stress: record %llu wrong (ts %llu caplen %u)\n",
                        (unsigned long long)want, (unsigned long long)h->ts_ns, h->caplen);
            if (h->ts_ns >= want)
                want = h->ts_ns + 1;
            else
                want++;
        }
        if (k > 0)
            spsc_ring_release(ring);
        else
            sched_yield();
    }
    pthread_join(t, NULL);
    return bad;
}

#endif
