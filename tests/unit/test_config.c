/*
 * test_config.c - defaults, value syntax, error messages, dump round trip
 * and the shipped example file.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static struct mos_config cfg;
static char err[512];

static void setup(void)
{
    config_defaults(&cfg);
    err[0] = '\0';
}

TestSuite(config, .init = setup);

static int load(const char *text)
{
    return config_load_string(&cfg, text, "t.conf", err, sizeof(err));
}

static void load_ok(const char *text)
{
    int rc = load(text);
    cr_assert_eq(rc, 0, "load failed (%d): %s", rc, err);
}

static void load_err(const char *text, int want_rc, const char *want_msg)
{
    int rc = load(text);
    cr_assert_eq(rc, want_rc, "rc %d, want %d (%s)", rc, want_rc, err);
    cr_assert_str_eq(err, want_msg);
}

#define NS_S 1000000000ull
#define NS_MS 1000000ull

Test(config, defaults_match_header)
{
    cr_assert_eq(cfg.cores, 1);
    cr_assert_eq(cfg.max_concurrency, 262144);
    cr_assert_eq(cfg.midstream, true);
    cr_assert_eq(cfg.checksum, MOS_CSUM_AUTO);
    cr_assert_eq(cfg.overlap, MOS_OVERLAP_FIRST);
    cr_assert_eq(cfg.timeout_syn, 30 * NS_S);
    cr_assert_eq(cfg.timeout_established, 300 * NS_S);
    cr_assert_eq(cfg.timeout_closing, 60 * NS_S);
    cr_assert_eq(cfg.timeout_time_wait, 1 * NS_S);
    cr_assert_eq(cfg.rcvbuf, 256 * 1024);
    cr_assert_eq(cfg.ooo_window, 1024 * 1024);
    cr_assert_eq(cfg.memcap, 256ull * 1024 * 1024);
    cr_assert_eq(cfg.reassembly_client, true);
    cr_assert_eq(cfg.reassembly_server, true);
    cr_assert_eq(cfg.frag_timeout, 30 * NS_S);
    cr_assert_eq(cfg.frag_memcap, 64ull * 1024 * 1024);
    cr_assert_eq(cfg.frag_max_datagrams, 4096);
    cr_assert_eq(cfg.ninputs, 0);
    cr_assert_eq(cfg.npairs, 0);
    cr_assert_str_empty(cfg.bpf);
    cr_assert_eq(cfg.snaplen, 65535);
    cr_assert_str_empty(cfg.dpdk_eal);
    cr_assert_eq(cfg.log_level, 1);
    cr_assert_str_empty(cfg.log_file);
    cr_assert_eq(cfg.handler_timeout_ms, 2000);
    cr_assert_str_eq(cfg.on_handler_error, "pass");
    cr_assert_eq(config_validate(&cfg, err, sizeof(err)), 0, "%s", err);
}

Test(config, durations)
{
    load_ok("[tcp]\ntimeout_syn = 45s\ntimeout_established = 500ms\ntimeout_closing = 2m\n"
            "timeout_time_wait = 7\n[ip]\nfrag_timeout = 1.5s\n[lua]\nhandler_timeout = 250ms\n");
    cr_assert_eq(cfg.timeout_syn, 45 * NS_S);
    cr_assert_eq(cfg.timeout_established, 500 * NS_MS);
    cr_assert_eq(cfg.timeout_closing, 120 * NS_S);
    cr_assert_eq(cfg.timeout_time_wait, 7 * NS_S, "bare number = seconds");
    cr_assert_eq(cfg.frag_timeout, 1500 * NS_MS);
    cr_assert_eq(cfg.handler_timeout_ms, 250);
    load_ok("lua.handler_timeout = 3\ntcp.timeout_syn = 1h\ntcp.timeout_closing = 2500us\n");
    cr_assert_eq(cfg.handler_timeout_ms, 3000);
    cr_assert_eq(cfg.timeout_syn, 3600 * NS_S);
    cr_assert_eq(cfg.timeout_closing, 2500000ull);
    load_ok("lua.handler_timeout = 0\n");
    cr_assert_eq(cfg.handler_timeout_ms, 0);
}

Test(config, sizes)
{
    load_ok("[reassembly]\nrcvbuf = 64K\nooo_window = 4096\nmemcap = 2G\n[ip]\nfrag_memcap = 3MiB\n");
    cr_assert_eq(cfg.rcvbuf, 65536);
    cr_assert_eq(cfg.ooo_window, 4096);
    cr_assert_eq(cfg.memcap, 2ull << 30);
    cr_assert_eq(cfg.frag_memcap, 3ull << 20);
    load_ok("reassembly.rcvbuf = 1k\nreassembly.memcap = 1T\n");
    cr_assert_eq(cfg.rcvbuf, 1024);
    cr_assert_eq(cfg.memcap, 1ull << 40);
}

Test(config, bools_enums_strings)
{
    const char *yes[] = {"true", "yes", "on", "1", "TRUE", "On"};
    const char *no[] = {"false", "no", "off", "0", "False", "OFF"};
    char buf[128];
    for (int i = 0; i < 6; i++) {
        snprintf(buf, sizeof(buf), "core.midstream = %s\n", no[i]);
        load_ok(buf);
        cr_assert_eq(cfg.midstream, false, "%s", no[i]);
        snprintf(buf, sizeof(buf), "core.midstream = %s\n", yes[i]);
        load_ok(buf);
        cr_assert_eq(cfg.midstream, true, "%s", yes[i]);
    }
    load_ok("[core]\nchecksum = verify\noverlap = last\n[log]\nlevel = debug\nfile = /tmp/x.log\n"
            "[lua]\non_handler_error = drop\n[io]\nbpf = tcp port 80\nsnaplen = 1500\n"
            "dpdk_eal = -l 0-1 -n 4\n[reassembly]\nclient = no\nserver = off\n");
    cr_assert_eq(cfg.checksum, MOS_CSUM_VERIFY);
    cr_assert_eq(cfg.overlap, MOS_OVERLAP_LAST);
    cr_assert_eq(cfg.log_level, 3);
    cr_assert_str_eq(cfg.log_file, "/tmp/x.log");
    cr_assert_str_eq(cfg.on_handler_error, "drop");
    cr_assert_str_eq(cfg.bpf, "tcp port 80");
    cr_assert_eq(cfg.snaplen, 1500);
    cr_assert_str_eq(cfg.dpdk_eal, "-l 0-1 -n 4");
    cr_assert_eq(cfg.reassembly_client, false);
    cr_assert_eq(cfg.reassembly_server, false);
    load_ok("core.checksum = ignore\nlog.level = error\n");
    cr_assert_eq(cfg.checksum, MOS_CSUM_IGNORE);
    cr_assert_eq(cfg.log_level, 0);
}

Test(config, comments_quotes_crlf_whitespace)
{
    load_ok("# header comment\r\n\r\n  [tcp]   # section comment\r\n"
            "\ttimeout_syn=10s   # trailing comment\r\n"
            "[io]\r\nbpf = \"port 80 # not a comment\"  # but this is\r\n"
            "dpdk_eal = \"  spaced  \"\r\n[log]\r\nfile = \"\"\r\n");
    cr_assert_eq(cfg.timeout_syn, 10 * NS_S);
    cr_assert_str_eq(cfg.bpf, "port 80 # not a comment");
    cr_assert_str_eq(cfg.dpdk_eal, "  spaced  ");
    cr_assert_str_empty(cfg.log_file);
}

Test(config, sections_and_full_keys)
{
    load_ok("core.cores = 2\n[tcp]\ntimeout_syn = 5s\n[core]\ncores = 3\n");
    cr_assert_eq(cfg.cores, 3, "duplicate key: last wins");
    cr_assert_eq(cfg.timeout_syn, 5 * NS_S);
    /* inside a section a dotted key is not re-rooted */
    load_err("[io]\nlog.file = x\n", -EINVAL, "t.conf:2: unknown key 'io.log.file'");
}

Test(config, repeatable_keys)
{
    load_ok("[io]\ninput = file:/a.pcap\ninput = pcap:eth0\ninline_pair = pcap:eth0, pcap:eth1\n");
    load_ok("io.input = dpdk:0\nio.inline_pair = a,b\n");
    cr_assert_eq(cfg.ninputs, 3);
    cr_assert_str_eq(cfg.inputs[0], "file:/a.pcap");
    cr_assert_str_eq(cfg.inputs[1], "pcap:eth0");
    cr_assert_str_eq(cfg.inputs[2], "dpdk:0");
    cr_assert_eq(cfg.npairs, 2);
    cr_assert_str_eq(cfg.inline_pairs[0][0], "pcap:eth0");
    cr_assert_str_eq(cfg.inline_pairs[0][1], "pcap:eth1");
    cr_assert_str_eq(cfg.inline_pairs[1][0], "a");
    cr_assert_str_eq(cfg.inline_pairs[1][1], "b");
}

Test(config, too_many_inputs)
{
    char text[2048] = "[io]\n";
    for (int i = 0; i < MOS_CONFIG_MAX_INPUTS + 1; i++) {
        char line[64];
        snprintf(line, sizeof(line), "input = file:/t%d.pcap\n", i);
        strcat(text, line);
    }
    load_err(text, -ENOSPC, "t.conf:10: io.input: too many inputs (max 8)");
    cr_assert_eq(cfg.ninputs, MOS_CONFIG_MAX_INPUTS);
    load_err("io.inline_pair=a,b\nio.inline_pair=a,b\nio.inline_pair=a,b\nio.inline_pair=a,b\n"
             "io.inline_pair=a,b\n",
             -ENOSPC, "t.conf:5: io.inline_pair: too many inline pairs (max 4)");
}

Test(config, error_messages)
{
    load_err("[tcp]\ntimeout_syn = 5s\ntimout_syn = 30s\n", -EINVAL,
             "t.conf:3: unknown key 'tcp.timout_syn' (did you mean 'tcp.timeout_syn'?)");
    load_err("cores = 4\n", -EINVAL, "t.conf:1: unknown key 'cores' (did you mean 'core.cores'?)");
    load_err("[tcp]\ncores = 1\n", -EINVAL, "t.conf:2: unknown key 'tcp.cores' (did you mean 'core.cores'?)");
    load_err("[tcp]\nwhatever_this_is = 1\n", -EINVAL, "t.conf:2: unknown key 'tcp.whatever_this_is'");
    load_err("\n[tpc]\n", -EINVAL, "t.conf:2: unknown section 'tpc' (did you mean 'tcp'?)");
    load_err("[nonsense]\n", -EINVAL, "t.conf:1: unknown section 'nonsense'");
    load_err("[tcp\n", -EINVAL, "t.conf:1: expected '[section]'");
    load_err("[tcp]\ntimeout_syn = abc\n", -EINVAL,
             "t.conf:2: tcp.timeout_syn: expected a duration like 30s, got 'abc'");
    load_err("tcp.timeout_syn = 30 parsecs\n", -EINVAL,
             "t.conf:1: tcp.timeout_syn: expected a duration like 30s, got '30 parsecs'");
    load_err("reassembly.rcvbuf = 12Q\n", -EINVAL,
             "t.conf:1: reassembly.rcvbuf: expected a size like 256K, got '12Q'");
    load_err("core.cores = two\n", -EINVAL, "t.conf:1: core.cores: expected an integer, got 'two'");
    load_err("core.cores = -1\n", -EINVAL, "t.conf:1: core.cores: expected an integer, got '-1'");
    load_err("core.midstream = maybe\n", -EINVAL,
             "t.conf:1: core.midstream: expected true/false/yes/no/on/off/1/0, got 'maybe'");
    load_err("core.checksum = sometimes\n", -EINVAL,
             "t.conf:1: core.checksum: expected one of auto|verify|ignore, got 'sometimes'");
    load_err("lua.on_handler_error = panic\n", -EINVAL,
             "t.conf:1: lua.on_handler_error: expected one of pass|drop, got 'panic'");
    load_err("# c\ncore.cores = 100\n", -ERANGE, "t.conf:2: core.cores: 100 is out of range (1..64)");
    load_err("core.cores = 0\n", -ERANGE, "t.conf:1: core.cores: 0 is out of range (1..64)");
    load_err("core.max_concurrency = 8\n", -ERANGE,
             "t.conf:1: core.max_concurrency: 8 is out of range (16..268435456)");
    load_err("reassembly.rcvbuf = 512\n", -ERANGE, "t.conf:1: reassembly.rcvbuf: 512 is out of range (1K..1G)");
    load_err("reassembly.rcvbuf = 8G\n", -ERANGE, "t.conf:1: reassembly.rcvbuf: 8G is out of range (1K..1G)");
    load_err("tcp.timeout_syn = 0\n", -ERANGE, "t.conf:1: tcp.timeout_syn: 0s is out of range (1ms..24h)");
}

Test(config, error_messages_more)
{
    load_err("[tcp]\n\ntimeout_syn 30s\n", -EINVAL, "t.conf:3: expected 'key = value', missing '='");
    load_err("= 3\n", -EINVAL, "t.conf:1: missing key before '='");
    load_err("core.cores = 99999999999999999999999\n", -EINVAL,
             "t.conf:1: core.cores: expected an integer, got '99999999999999999999999'");
    load_err("core.cores = 4294967296\n", -ERANGE, "t.conf:1: core.cores: '4294967296' is out of range");
    load_err("lua.handler_timeout = 1500us\n", -EINVAL,
             "t.conf:1: lua.handler_timeout: expected whole milliseconds, got '1500us'");
    load_err("io.input = /tmp/x.pcap\n", -EINVAL,
             "t.conf:1: io.input: expected file:PATH, pcap:IFACE or dpdk:PORTSPEC, got '/tmp/x.pcap'");
    load_err("io.input = file:\n", -EINVAL,
             "t.conf:1: io.input: expected file:PATH, pcap:IFACE or dpdk:PORTSPEC, got 'file:'");
    load_err("io.inline_pair = a\n", -EINVAL, "t.conf:1: io.inline_pair: expected \"A,B\", got 'a'");
    load_err("io.inline_pair = a,\n", -EINVAL, "t.conf:1: io.inline_pair: expected \"A,B\", got 'a,'");
    load_err("io.bpf = \"unterminated\n", -EINVAL, "t.conf:1: io.bpf: unterminated quoted value");
    char big[400] = "log.file = ";
    memset(big + strlen(big), 'x', 300);
    load_err(big, -EINVAL, "t.conf:1: log.file: value too long (max 255 characters)");
}

Test(config, error_leaves_earlier_lines_applied)
{
    /* documented: the file is applied line by line up to the error */
    cr_assert_neq(load("core.cores = 5\ncore.cores = x\ncore.cores = 6\n"), 0);
    cr_assert_eq(cfg.cores, 5);
}

Test(config, empty_and_comment_only)
{
    struct mos_config d;
    config_defaults(&d);
    load_ok("");
    load_ok("\n\n   \n# only a comment\r\n\t# another\n");
    cr_assert_eq(memcmp(&d, &cfg, sizeof(d)), 0);
}

Test(config, set_and_set_arg)
{
    cr_assert_eq(config_set(&cfg, "tcp.timeout_syn", "12s", err, sizeof(err)), 0);
    cr_assert_eq(cfg.timeout_syn, 12 * NS_S);
    cr_assert_eq(config_set_arg(&cfg, "core.cores = 4", err, sizeof(err)), 0);
    cr_assert_eq(cfg.cores, 4);
    cr_assert_eq(config_set_arg(&cfg, "io.input=file:/x.pcap", err, sizeof(err)), 0);
    cr_assert_eq(config_set_arg(&cfg, "io.input=file:/y.pcap", err, sizeof(err)), 0);
    cr_assert_eq(cfg.ninputs, 2);
    cr_assert_eq(config_set(&cfg, "core.core", "2", err, sizeof(err)), -EINVAL);
    cr_assert_str_eq(err, "command line: unknown key 'core.core' (did you mean 'core.cores'?)");
    cr_assert_eq(config_set(&cfg, "snaplen", "2", err, sizeof(err)), -EINVAL);
    cr_assert_str_eq(err, "command line: unknown key 'snaplen' (did you mean 'io.snaplen'?)");
    cr_assert_eq(config_set(&cfg, "io.snaplen", "2", err, sizeof(err)), -ERANGE);
    cr_assert_str_eq(err, "command line: io.snaplen: 2 is out of range (64..262144)");
    cr_assert_eq(config_set_arg(&cfg, "core.cores", err, sizeof(err)), -EINVAL);
    cr_assert_str_eq(err, "command line: expected key=value, got 'core.cores'");
}

Test(config, validate)
{
    cr_assert_eq(config_validate(&cfg, err, sizeof(err)), 0);
    struct mos_config c = cfg;
    c.cores = 65;
    cr_assert_eq(config_validate(&c, err, sizeof(err)), -ERANGE);
    cr_assert_str_eq(err, "config: core.cores: 65 is out of range (1..64)");
    c = cfg;
    c.max_concurrency = 15;
    cr_assert_eq(config_validate(&c, err, sizeof(err)), -ERANGE);
    c = cfg;
    c.rcvbuf = 1023;
    cr_assert_eq(config_validate(&c, err, sizeof(err)), -ERANGE);
    c = cfg;
    c.rcvbuf = 1000 * 1000; /* not a power of two: fine */
    cr_assert_eq(config_validate(&c, err, sizeof(err)), 0);
    c = cfg;
    c.log_level = 4;
    cr_assert_eq(config_validate(&c, err, sizeof(err)), -EINVAL);
    c = cfg;
    strcpy(c.on_handler_error, "explode");
    cr_assert_eq(config_validate(&c, err, sizeof(err)), -EINVAL);
    c = cfg;
    c.ooo_window = 1u << 29;
    c.memcap = 1u << 20;
    cr_assert_eq(config_validate(&c, err, sizeof(err)), -EINVAL);
    cr_assert_str_eq(err, "config: reassembly.ooo_window (512M) exceeds reassembly.memcap (1M)");
}

static void roundtrip(const struct mos_config *c)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    config_dump(c, f);
    fclose(f);
    struct mos_config back;
    config_defaults(&back);
    int rc = config_load_string(&back, text, "dump", err, sizeof(err));
    cr_assert_eq(rc, 0, "dump does not load back: %s\n%s", err, text);
    cr_assert_eq(memcmp(&back, c, sizeof(back)), 0, "dump changed values:\n%s", text);
    free(text);
}

Test(config, dump_roundtrip)
{
    roundtrip(&cfg);
    load_ok("[core]\ncores=3\nmidstream=no\nchecksum=ignore\noverlap=last\n"
            "[tcp]\ntimeout_syn=1.5s\ntimeout_established=2h\ntimeout_closing=2500us\n"
            "[reassembly]\nrcvbuf=100000\nmemcap=3G\nserver=false\n"
            "[io]\ninput=file:/a b.pcap\ninput=pcap:eth0\ninline_pair=pcap:eth0,pcap:eth1\n"
            "bpf=\"port 80 # x\"\ndpdk_eal=\"  -l 0 \"\n[log]\nlevel=info\n[lua]\nhandler_timeout=1500ms\n"
            "on_handler_error=drop\n");
    cr_assert_str_eq(cfg.dpdk_eal, "  -l 0 ");
    roundtrip(&cfg);
}

Test(config, help_names_every_key)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    config_help(f);
    fclose(f);
    cr_assert_eq(config_key_count(), 39);
    cr_assert_null(config_key_name(config_key_count()));
    for (unsigned i = 0; i < config_key_count(); i++)
        cr_assert_not_null(strstr(text, config_key_name(i)), "help lacks %s", config_key_name(i));
    cr_assert_not_null(strstr(text, "tcp.timeout_syn"));
    free(text);
}

Test(config, missing_file)
{
    int rc = config_load_file(&cfg, "/nonexistent/mos.conf", err, sizeof(err));
    cr_assert_eq(rc, -ENOENT);
    cr_assert_str_eq(err, "/nonexistent/mos.conf: cannot open: No such file or directory");
}

Test(config, file_errors_name_the_file)
{
    char path[] = "/tmp/mos_cfg_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    const char *text = "[core]\r\ncores = 2\r\n[tcp]\r\ntimout_syn = 1s\r\n";
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    int rc = config_load_file(&cfg, path, err, sizeof(err));
    unlink(path);
    cr_assert_eq(rc, -EINVAL);
    char want[256];
    snprintf(want, sizeof(want), "%s:4: unknown key 'tcp.timout_syn' (did you mean 'tcp.timeout_syn'?)", path);
    cr_assert_str_eq(err, want);
    cr_assert_eq(cfg.cores, 2);
}

Test(config, example_file_parses_to_defaults)
{
    /* ctest sets MOS_SOURCE_DIR; otherwise derive it from this file's path */
    const char *src = getenv("MOS_SOURCE_DIR");
    char path[1024];
    if (src) {
        snprintf(path, sizeof(path), "%s/examples/mos-lua.conf", src);
    } else {
        const char *me = __FILE__, *cut = strstr(me, "tests/unit/test_config.c");
        snprintf(path, sizeof(path), "%.*sexamples/mos-lua.conf", (int)(cut ? cut - me : 0), me);
    }
    int rc = config_load_file(&cfg, path, err, sizeof(err));
    cr_assert_eq(rc, 0, "%s", err);
    struct mos_config d;
    config_defaults(&d);
    cr_assert_eq(memcmp(&d, &cfg, sizeof(d)), 0, "the example documents the defaults");

    /* every key is mentioned (repeatable ones in commented examples) */
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    static char text[65536];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    for (unsigned i = 0; i < config_key_count(); i++) {
        const char *bare = strchr(config_key_name(i), '.') + 1;
        char needle[96];
        snprintf(needle, sizeof(needle), "\n%s = ", bare);
        char needle2[96];
        snprintf(needle2, sizeof(needle2), "# %s = ", bare);
        cr_assert(strstr(text, needle) || strstr(text, needle2), "example lacks %s", config_key_name(i));
    }
}
