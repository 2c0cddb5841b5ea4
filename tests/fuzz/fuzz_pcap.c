/*
 * fuzz_pcap.c - libFuzzer target: arbitrary bytes as a capture file (pcap
 * or pcapng) through io_pcap and decode_frame. The body is in
 * fuzz_harness.h (also replayed by tests/unit/test_fuzz_regressions.c); see
 * tests/fuzz/README.md.
 */
#include "fuzz_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_pcap_one(data, size);
}
