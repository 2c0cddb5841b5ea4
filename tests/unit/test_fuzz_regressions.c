#define _GNU_SOURCE /* memfd_create, for fuzz_harness.h */
/*
 * test_fuzz_regressions.c - replays every input in tests/fuzz/regressions/
 * through the fuzz targets' own bodies (tests/fuzz/fuzz_harness.h), built
 * with gcc like the rest of the suite; under the sanitizer build
 * (MOS_SANITIZE=ON) a regression shows up as the same report the fuzzer
 * gave. A file's name says its target: "engine-*", "pcap-*" or "script-*"
 * (fuzz_script.h: the engine with the Lua runtime and fuzz_script.lua).
 *
 * The only assertion is that each input runs to the end: every file here
 * once crashed, leaked or tripped a sanitizer.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdlib.h>

#include "../fuzz/fuzz_script.h"

static void regressions_dir(char *buf, size_t len)
{
    const char *src = getenv("MOS_SOURCE_DIR");
    if (src && *src) {
        snprintf(buf, len, "%s/tests/fuzz/regressions", src);
        return;
    }
    /* __FILE__ is <source>/tests/unit/test_fuzz_regressions.c */
    snprintf(buf, len, "%s", __FILE__);
    char *slash = strrchr(buf, '/');
    if (slash)
        *slash = '\0';
    strncat(buf, "/../fuzz/regressions", len - strlen(buf) - 1);
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    size_t cap = 4096, len = 0;
    uint8_t *b = malloc(cap);
    cr_assert_not_null(b);
    size_t r;
    while ((r = fread(b + len, 1, cap - len, f)) > 0) {
        len += r;
        if (len == cap) {
            cap *= 2;
            b = realloc(b, cap);
            cr_assert_not_null(b);
        }
    }
    fclose(f);
    *n = len;
    return b;
}

static int replay(const char *prefix, int (*one)(const uint8_t *, size_t))
{
    char dir[1024];
    regressions_dir(dir, sizeof(dir));
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "%s", dir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
            continue;
        char path[1400];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        size_t len;
        uint8_t *b = slurp(path, &len);
        cr_log_info("replaying %s (%zu bytes)", e->d_name, len);
        cr_assert_eq(one(b, len), 0, "%s", e->d_name);
        free(b);
        n++;
    }
    closedir(d);
    return n;
}

Test(fuzz_regressions, engine)
{
    replay("engine-", fuzz_engine_one);
}

Test(fuzz_regressions, script)
{
    replay("script-", fuzz_script_one);
}

Test(fuzz_regressions, pcap)
{
    cr_assert_gt(replay("pcap-", fuzz_pcap_one), 0);
}

/* The harness itself, on inputs worked out by hand: an empty input, a mode
 * byte alone, and a frame length running past the end, all end cleanly. */
Test(fuzz_regressions, harness_edge_inputs)
{
    static const uint8_t mode_only[] = {0xff};
    static const uint8_t short_len[] = {0x00, 0xff, 0xff, 0x01, 0x45, 0x00};
    cr_assert_eq(fuzz_engine_one(NULL, 0), 0);
    cr_assert_eq(fuzz_engine_one(mode_only, sizeof(mode_only)), 0);
    cr_assert_eq(fuzz_engine_one(short_len, sizeof(short_len)), 0);
    cr_assert_eq(fuzz_pcap_one(mode_only, sizeof(mode_only)), 0);
    cr_assert_eq(fuzz_script_one(NULL, 0), 0);
    cr_assert_eq(fuzz_script_one(mode_only, sizeof(mode_only)), 0);
    cr_assert_eq(fuzz_script_one(short_len, sizeof(short_len)), 0);
}
