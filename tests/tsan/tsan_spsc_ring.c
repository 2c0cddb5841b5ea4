/*
 * tsan_spsc_ring.c - the two-thread stress of host/spsc_ring.c
 * (tests/unit/spsc_stress.h) as a plain program, built with
 * -fsanitize=thread (ctest tsan.spsc_ring): ThreadSanitizer checks that the
 * ring's acquire/release pairs order every byte the consumer reads.
 * Exit 0 when every record arrived intact and in order, 1 otherwise;
 * ThreadSanitizer reports make it exit 66.
 */
#include <stdio.h>
#include <stdlib.h>

#include "spsc_ring.h"
#include "spsc_stress.h"

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 200000;
    uint32_t sizes[] = {256, 4096, 1u << 16};
    for (unsigned k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        struct spsc_ring b;
        if (spsc_ring_init(&b, sizes[k]) != 0)
            return 1;
        uint64_t bad = spsc_stress_run(&b, n);
        spsc_ring_free(&b);
        printf("ring %u bytes: %llu records, %llu wrong\n", sizes[k], (unsigned long long)n,
               (unsigned long long)bad);
        if (bad)
            return 1;
    }
    return 0;
}
