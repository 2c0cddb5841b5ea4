/*
 * fuzz_script.c - libFuzzer target: frames through the whole engine with a
 * Lua script in the loop (tests/fuzz/fuzz_script.lua, every event, reads,
 * peeks, ppeeks and rewrites). The body is in fuzz_script.h (also replayed
 * by tests/unit/test_fuzz_regressions.c); see tests/fuzz/README.md.
 */
#include "fuzz_script.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_script_one(data, size);
}
