/*
 * fuzz_engine.c - libFuzzer target: arbitrary bytes as a sequence of frames
 * through core_process_frame of a small-limit core whose sockets listen to
 * every event. The body is in fuzz_harness.h (also replayed by
 * tests/unit/test_fuzz_regressions.c); see tests/fuzz/README.md.
 */
#include "fuzz_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_engine_one(data, size);
}
