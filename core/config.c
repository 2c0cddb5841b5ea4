/*
 * config.c - the key table and the "key = value" parser.
 *
 * Every key is described once, in `keys[]` below: its name, type, field
 * offset, range, default (as text, in the file syntax) and help line. The
 * defaults, the parser, config_set, config_validate, config_dump and
 * config_help are all driven by that table, so a key cannot be parsed one
 * way and dumped or documented another.
 *
 * File syntax (see examples/mos-lua.conf):
 * - "#" starts a comment anywhere outside a double-quoted value; blank lines
 *   and CR before LF are ignored.
 * - "[section]" prefixes following keys: under [tcp], "timeout_syn" is
 *   "tcp.timeout_syn". Before any section header keys must be written in
 *   full ("tcp.timeout_syn = 30s").
 * - A value may be double-quoted (no escapes) to keep "#" or surrounding
 *   spaces; the quotes are not part of it.
 * - A key given twice: the last value wins (like a later -c override),
 *   except io.input and io.inline_pair, which append.
 *
 * - Lines are applied in order; on an error the lines before it stay
 *   applied (callers treat any error as fatal, so no rollback copy is kept).
 *
 * Return codes: -EINVAL for syntax, unknown section/key or a malformed value;
 * -ERANGE for a value out of range; -ENOSPC for too many inputs or pairs;
 * -errno when the file cannot be read. Messages name "FILE:LINE" and the key.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum ktype {
    T_U32,      /* plain decimal integer */
    T_BOOL,     /* true/false/yes/no/on/off/1/0 */
    T_ENUM,     /* int field: index into choices */
    T_DUR_NS,   /* uint64_t ns; "30s", "500ms", "2m", bare = seconds */
    T_DUR_MS,   /* uint32_t ms; same syntax */
    T_SIZE32,   /* uint32_t bytes; "256K", "1M", bare = bytes */
    T_SIZE64,   /* uint64_t bytes */
    T_STR,      /* char[size] */
    T_STRENUM,  /* char[size] restricted to choices */
    T_INPUT,    /* repeatable: appends to inputs[] */
    T_PAIR,     /* repeatable: "A,B" appends to inline_pairs[] */
    T_SHARD,    /* "I/N": uint32_t[2] {I, N}, 0 <= I < N <= max */
};

struct key {
    const char *name;
    enum ktype type;
    size_t off, size;         /* size: string buffer size */
    uint64_t min, max;        /* numeric range, in stored units */
    const char *const *choices;
    const char *def;          /* default in file syntax; NULL: empty */
    const char *help;
};

static const char *const csum_names[] = {"auto", "verify", "ignore", NULL};
static const char *const overlap_names[] = {"first", "last", NULL};
static const char *const level_names[] = {"error", "warn", "info", "debug", NULL};
static const char *const herr_names[] = {"pass", "drop", NULL};
static const char *const output_names[] = {"file", "stderr", "unix-stream", "unix-dgram", "syslog", "redis", NULL};
static const char *const redis_mode_names[] = {"list", "stream", NULL};

#define OFF(f) offsetof(struct mos_config, f)
#define SZ(f) sizeof(((struct mos_config *)0)->f)
#define NS_MS 1000000ull
#define NS_S 1000000000ull
#define KIB 1024ull
#define MIB (1024ull * KIB)
#define GIB (1024ull * MIB)

static const struct key keys[] = {
    {"core.cores", T_U32, OFF(cores), SZ(cores), 1, 64, NULL, "1",
     "worker cores, one flow table and Lua state each"},
    /* 16: below that eviction would thrash on any real capture; 2^28 flows
     * is far beyond what one core can hold in memory anyway. */
    {"core.max_concurrency", T_U32, OFF(max_concurrency), SZ(max_concurrency), 16, 1u << 28, NULL, "262144",
     "flows tracked per core before eviction"},
    {"core.midstream", T_BOOL, OFF(midstream), SZ(midstream), 0, 1, NULL, "true",
     "pick up flows whose handshake was not seen"},
    {"core.checksum", T_ENUM, OFF(checksum), SZ(checksum), 0, 2, csum_names, "auto",
     "IP/TCP checksums: auto (verify, tolerate offload), verify, ignore"},
    {"core.vlan_tracking", T_BOOL, OFF(vlan_tracking), SZ(vlan_tracking), 0, 1, NULL, "true",
     "VLAN ids are part of the flow key (false: a connection tagged on one direction only is one flow)"},
    {"core.overlap", T_ENUM, OFF(overlap), SZ(overlap), 0, 1, overlap_names, "first",
     "overlapping retransmitted bytes: keep the first or the last copy"},
    {"core.instance_id", T_U32, OFF(instance_id), SZ(instance_id), 0, 65535, NULL, "0",
     "this instance's number inside flow uids: give instances running at once distinct ones"},
    {"core.community_id_seed", T_U32, OFF(community_id_seed), SZ(community_id_seed), 0, 65535, NULL, "0",
     "seed of the Community ID flow hash (every tool that joins on it must use the same)"},

    {"tcp.timeout_syn", T_DUR_NS, OFF(timeout_syn), SZ(timeout_syn), NS_MS, 86400 * NS_S, NULL, "30s",
     "idle timeout of a half-open connection"},
    {"tcp.timeout_established", T_DUR_NS, OFF(timeout_established), SZ(timeout_established), NS_MS,
     7 * 86400 * NS_S, NULL, "300s", "idle timeout of an established connection"},
    {"tcp.timeout_closing", T_DUR_NS, OFF(timeout_closing), SZ(timeout_closing), NS_MS, 86400 * NS_S, NULL,
     "60s", "idle timeout once a FIN was seen in one direction"},
    {"tcp.timeout_time_wait", T_DUR_NS, OFF(timeout_time_wait), SZ(timeout_time_wait), NS_MS, 86400 * NS_S,
     NULL, "1s", "lifetime after both sides closed or a reset"},

    {"reassembly.rcvbuf", T_SIZE32, OFF(rcvbuf), SZ(rcvbuf), 1024, GIB, NULL, "256K",
     "stream buffer per side; unread bytes beyond it are lost (ERROR event)"},
    {"reassembly.ooo_window", T_SIZE32, OFF(ooo_window), SZ(ooo_window), 0, GIB, NULL, "1M",
     "out-of-order bytes held per side before a gap is forced"},
    {"reassembly.memcap", T_SIZE64, OFF(memcap), SZ(memcap), 64 * KIB, 1024 * GIB, NULL, "256M",
     "out-of-order bytes held by a whole core before gaps are forced"},
    {"reassembly.buffer_memcap", T_SIZE64, OFF(buffer_memcap), SZ(buffer_memcap), 64 * KIB, 1024 * GIB, NULL, "2G",
     "stream ring bytes of a whole core; bytes that find no room become a gap (ERROR event)"},
    {"reassembly.client", T_BOOL, OFF(reassembly_client), SZ(reassembly_client), 0, 1, NULL, "true",
     "buffer the bytes the client receives"},
    {"reassembly.server", T_BOOL, OFF(reassembly_server), SZ(reassembly_server), 0, 1, NULL, "true",
     "buffer the bytes the server receives"},

    {"ip.frag_timeout", T_DUR_NS, OFF(frag_timeout), SZ(frag_timeout), NS_MS, 3600 * NS_S, NULL, "30s",
     "drop an incomplete fragmented datagram after this long"},
    {"ip.frag_memcap", T_SIZE64, OFF(frag_memcap), SZ(frag_memcap), 64 * KIB, 1024 * GIB, NULL, "64M",
     "bytes of fragments held per core"},
    {"ip.frag_max_datagrams", T_U32, OFF(frag_max_datagrams), SZ(frag_max_datagrams), 1, 1u << 24, NULL,
     "4096", "fragmented datagrams in reassembly at once per core"},

    {"io.input", T_INPUT, OFF(inputs), SZ(inputs[0]), 0, MOS_CONFIG_MAX_INPUTS, NULL, NULL,
     "repeatable: file:PATH (pcap file), pcap:IFACE (live), dpdk:PORTSPEC"},
    {"io.inline_pair", T_PAIR, OFF(inline_pairs), SZ(inline_pairs[0][0]), 0, MOS_CONFIG_MAX_PAIRS, NULL, NULL,
     "repeatable: \"A,B\" bridges two inputs; packets are forwarded unless dropped"},
    {"io.bpf", T_STR, OFF(bpf), SZ(bpf), 0, 0, NULL, NULL, "capture filter for live inputs (empty: all)"},
    /* 64: an Ethernet + IPv6 + TCP header must fit; 262144 is libpcap's maximum. */
    {"io.snaplen", T_U32, OFF(snaplen), SZ(snaplen), 64, 262144, NULL, "65535", "bytes captured per frame"},
    {"io.dpdk_eal", T_STR, OFF(dpdk_eal), SZ(dpdk_eal), 0, 0, NULL, NULL,
     "DPDK EAL arguments, space separated"},
    /* 1024 shards: far more machines than one mirrored link can feed */
    {"io.shard", T_SHARD, OFF(shard), SZ(shard), 1, 1024, NULL, "0/1",
     "I/N: keep only the flows whose symmetric hash falls in shard I of N (0-based)"},

    {"log.level", T_ENUM, OFF(log_level), SZ(log_level), 0, 3, level_names, "warn",
     "error, warn, info or debug"},
    {"log.file", T_STR, OFF(log_file), SZ(log_file), 0, 0, NULL, NULL,
     "log file for output = file (empty: stderr); reopened on SIGHUP"},
    {"log.output", T_STRENUM, OFF(log_output), SZ(log_output), 0, 0, output_names, "file",
     "where JSON log lines go: file, stderr, unix-stream, unix-dgram, syslog or redis"},
    {"log.socket", T_STR, OFF(log_socket), SZ(log_socket), 0, 0, NULL, NULL,
     "Unix socket path for unix-stream, unix-dgram and syslog (empty for syslog: /dev/log)"},
    {"log.redis", T_STR, OFF(log_redis), SZ(log_redis), 0, 0, NULL, "127.0.0.1:6379",
     "redis server as HOST:PORT"},
    {"log.redis_key", T_STR, OFF(log_redis_key), SZ(log_redis_key), 0, 0, NULL, "mos-lua",
     "redis key the records are appended to"},
    {"log.redis_mode", T_STRENUM, OFF(log_redis_mode), SZ(log_redis_mode), 0, 0, redis_mode_names, "list",
     "list (RPUSH) or stream (XADD, field \"event\")"},
    /* 64K: a few hundred records; 1G: beyond that an absent sink is better
     * told by drops than hidden by memory growth */
    {"log.buffer", T_SIZE64, OFF(log_buffer), SZ(log_buffer), 64 * KIB, GIB, NULL, "8M",
     "record bytes held while the output is slow or away; beyond, records are dropped and counted"},

    {"lua.handler_timeout", T_DUR_MS, OFF(handler_timeout_ms), SZ(handler_timeout_ms), 0, 3600 * 1000, NULL,
     "2s", "interrupt a handler running longer than this (0: never)"},
    {"lua.on_handler_error", T_STRENUM, OFF(on_handler_error), SZ(on_handler_error), 0, 0, herr_names, "pass",
     "verdict for a packet whose handler raised an error (inline): pass or drop"},
    {"lua.finish_timeout", T_DUR_MS, OFF(finish_timeout_ms), SZ(finish_timeout_ms), 0, 24 * 3600 * 1000, NULL,
     "10m", "interrupt an on_exit or on_finish function running longer than this (0: never)"},
    {"lua.strict", T_BOOL, OFF(strict), SZ(strict), 0, 1, NULL, "false",
     "exit with status 1 when any handler, filter, timer or on_exit function raised an error"},
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

unsigned config_key_count(void)
{
    return NKEYS;
}

const char *config_key_name(unsigned i)
{
    return i < NKEYS ? keys[i].name : NULL;
}

/* ---- small helpers -------------------------------------------------------- */

static void seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

static const struct key *find_key(const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

static bool known_section(const char *sec, size_t n)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strncmp(keys[i].name, sec, n) == 0 && keys[i].name[n] == '.')
            return true;
    return false;
}

/* Levenshtein distance, capped: names are short, so a row on the stack does. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 99;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            if (up + 1 < best)
                best = up + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* Closest known key to `name` (or a key whose short name is exactly `bare`),
 * NULL when nothing is close enough to be a plausible typo. */
static const char *suggest_key(const char *name, const char *bare)
{
    const char *best = NULL;
    size_t bestd = 3; /* up to 2 edits: transpositions count 2 */
    for (size_t i = 0; i < NKEYS; i++) {
        const char *dot = strchr(keys[i].name, '.');
        if (bare && strcmp(dot + 1, bare) == 0)
            return keys[i].name;
        size_t d = edit_distance(name, keys[i].name);
        if (d < bestd) {
            bestd = d;
            best = keys[i].name;
        }
    }
    return best;
}

static const char *suggest_section(const char *sec)
{
    static const char *const secs[] = {"core", "tcp", "reassembly", "ip", "io", "log", "lua"};
    for (size_t i = 0; i < sizeof(secs) / sizeof(secs[0]); i++)
        if (edit_distance(sec, secs[i]) <= 2 && strlen(sec) > 1)
            return secs[i];
    return NULL;
}

/* ---- value parsers ---------------------------------------------------------- */

static bool parse_u64(const char **p, uint64_t *out)
{
    const char *s = *p;
    if (!isdigit((unsigned char)*s))
        return false;
    uint64_t v = 0;
    while (isdigit((unsigned char)*s)) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
        s++;
    }
    *p = s;
    *out = v;
    return true;
}

/* "30s", "500ms", "2m", "1.5s", bare number = seconds. */
static int parse_duration_ns(const char *s, uint64_t *out)
{
    uint64_t whole, frac = 0, fscale = 1;
    if (!parse_u64(&s, &whole))
        return -EINVAL;
    if (*s == '.') {
        s++;
        if (!isdigit((unsigned char)*s))
            return -EINVAL;
        while (isdigit((unsigned char)*s)) {
            if (fscale < 1000000000000ull) { /* more digits than ns can hold are ignored */
                frac = frac * 10 + (uint64_t)(*s - '0');
                fscale *= 10;
            }
            s++;
        }
    }
    while (*s == ' ')
        s++;
    uint64_t unit;
    if (*s == '\0' || strcmp(s, "s") == 0)
        unit = NS_S;
    else if (strcmp(s, "ms") == 0)
        unit = NS_MS;
    else if (strcmp(s, "us") == 0)
        unit = 1000;
    else if (strcmp(s, "ns") == 0)
        unit = 1;
    else if (strcmp(s, "m") == 0 || strcmp(s, "min") == 0)
        unit = 60 * NS_S;
    else if (strcmp(s, "h") == 0)
        unit = 3600 * NS_S;
    else
        return -EINVAL;
    if (whole > UINT64_MAX / unit)
        return -ERANGE;
    /* unit <= 3.6e12 and frac < fscale <= 1e12: split to avoid overflow */
    uint64_t f = (unit / fscale) * frac + (unit % fscale) * frac / fscale;
    if (whole * unit > UINT64_MAX - f)
        return -ERANGE;
    *out = whole * unit + f;
    return 0;
}

/* "256K", "1M", "2G", "512", optional trailing "B"/"iB"; powers of 1024. */
static int parse_size(const char *s, uint64_t *out)
{
    uint64_t v;
    if (!parse_u64(&s, &v))
        return -EINVAL;
    while (*s == ' ')
        s++;
    uint64_t mul = 1;
    switch (toupper((unsigned char)*s)) {
    case '\0': break;
    case 'K': mul = KIB; s++; break;
    case 'M': mul = MIB; s++; break;
    case 'G': mul = GIB; s++; break;
    case 'T': mul = 1024 * GIB; s++; break;
    case 'B': break;
    default: return -EINVAL;
    }
    if (mul > 1 && *s == 'i')
        s++;
    if (*s == 'B' || *s == 'b')
        s++;
    if (*s != '\0')
        return -EINVAL;
    if (v > UINT64_MAX / mul)
        return -ERANGE;
    *out = v * mul;
    return 0;
}

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -EINVAL;
}

static int choice_index(const char *const *choices, const char *s)
{
    for (int i = 0; choices[i]; i++)
        if (strcasecmp(choices[i], s) == 0)
            return i;
    return -1;
}

static void choices_text(const char *const *choices, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; choices[i] && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%s", i ? "|" : "", choices[i]);
}

/* ---- formatting (dump, range messages) -------------------------------------- */

static void fmt_duration_ns(uint64_t ns, char *buf, size_t n)
{
    static const struct {
        uint64_t mul;
        const char *suf;
    } u[] = {{3600 * NS_S, "h"}, {60 * NS_S, "m"}, {NS_S, "s"}, {NS_MS, "ms"}, {1000, "us"}, {1, "ns"}};
    if (ns == 0) {
        snprintf(buf, n, "0s");
        return;
    }
    for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
        if (ns % u[i].mul == 0) {
            snprintf(buf, n, "%" PRIu64 "%s", ns / u[i].mul, u[i].suf);
            return;
        }
    }
}

static void fmt_size(uint64_t b, char *buf, size_t n)
{
    static const struct {
        uint64_t mul;
        const char *suf;
    } u[] = {{1024 * GIB, "T"}, {GIB, "G"}, {MIB, "M"}, {KIB, "K"}};
    for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
        if (b != 0 && b % u[i].mul == 0) {
            snprintf(buf, n, "%" PRIu64 "%s", b / u[i].mul, u[i].suf);
            return;
        }
    }
    snprintf(buf, n, "%" PRIu64, b);
}

/* A stored numeric value in the key's file syntax. */
static void fmt_num(const struct key *k, uint64_t v, char *buf, size_t n)
{
    switch (k->type) {
    case T_DUR_NS: fmt_duration_ns(v, buf, n); break;
    case T_DUR_MS: fmt_duration_ns(v * NS_MS, buf, n); break;
    case T_SIZE32:
    case T_SIZE64: fmt_size(v, buf, n); break;
    default: snprintf(buf, n, "%" PRIu64, v); break;
    }
}

static const char *type_hint(const struct key *k)
{
    switch (k->type) {
    case T_U32: return "an integer";
    case T_BOOL: return "true or false";
    case T_DUR_NS:
    case T_DUR_MS: return "a duration like 30s";
    case T_SIZE32:
    case T_SIZE64: return "a size like 256K";
    case T_SHARD: return "I/N with 0 <= I < N";
    default: return "a value";
    }
}

/* ---- setting one key ---------------------------------------------------------- */

static void set_str(char *dst, size_t size, const char *v)
{
    /* zero the tail so configs compare equal with memcmp after a round trip */
    memset(dst, 0, size);
    memcpy(dst, v, strlen(v));
}

static int check_range(const struct key *k, uint64_t v, const char *loc, char *err, size_t errlen)
{
    if (v >= k->min && v <= k->max)
        return 0;
    char a[32], lo[32], hi[32];
    fmt_num(k, v, a, sizeof(a));
    fmt_num(k, k->min, lo, sizeof(lo));
    fmt_num(k, k->max, hi, sizeof(hi));
    seterr(err, errlen, "%s: %s: %s is out of range (%s..%s)", loc, k->name, a, lo, hi);
    return -ERANGE;
}

static int set_key(struct mos_config *c, const struct key *k, const char *v, const char *loc, char *err,
                   size_t errlen)
{
    char *field = (char *)c + k->off;
    uint64_t n = 0;
    int rc = 0;
    char buf[64];

    switch (k->type) {
    case T_U32: {
        const char *p = v;
        if (!parse_u64(&p, &n) || *p != '\0')
            rc = -EINVAL;
        else if (n > UINT32_MAX)
            rc = -ERANGE;
        break;
    }
    case T_BOOL: {
        bool b;
        if (parse_bool(v, &b) < 0) {
            seterr(err, errlen, "%s: %s: expected true/false/yes/no/on/off/1/0, got '%s'", loc, k->name, v);
            return -EINVAL;
        }
        *(bool *)field = b;
        return 0;
    }
    case T_ENUM:
    case T_STRENUM: {
        int i = choice_index(k->choices, v);
        if (i < 0) {
            choices_text(k->choices, buf, sizeof(buf));
            seterr(err, errlen, "%s: %s: expected one of %s, got '%s'", loc, k->name, buf, v);
            return -EINVAL;
        }
        if (k->type == T_ENUM)
            *(int *)field = i;
        else
            set_str(field, k->size, k->choices[i]);
        return 0;
    }
    case T_DUR_NS:
    case T_DUR_MS:
        rc = parse_duration_ns(v, &n);
        if (rc == 0 && k->type == T_DUR_MS) {
            if (n % NS_MS != 0) {
                seterr(err, errlen, "%s: %s: expected whole milliseconds, got '%s'", loc, k->name, v);
                return -EINVAL;
            }
            n /= NS_MS;
        }
        break;
    case T_SIZE32:
    case T_SIZE64:
        rc = parse_size(v, &n);
        break;
    case T_SHARD: {
        const char *p = v;
        uint64_t i = 0, cnt = 0;
        if (!parse_u64(&p, &i) || *p++ != '/' || !parse_u64(&p, &cnt) || *p != '\0' || i >= cnt) {
            seterr(err, errlen, "%s: %s: expected %s, got '%s'", loc, k->name, type_hint(k), v);
            return -EINVAL;
        }
        if ((rc = check_range(k, cnt, loc, err, errlen)) < 0)
            return rc;
        ((uint32_t *)field)[0] = (uint32_t)i;
        ((uint32_t *)field)[1] = (uint32_t)cnt;
        return 0;
    }
    case T_STR:
        if (strlen(v) >= k->size) {
            seterr(err, errlen, "%s: %s: value too long (max %zu characters)", loc, k->name, k->size - 1);
            return -EINVAL;
        }
        set_str(field, k->size, v);
        return 0;
    case T_INPUT: {
        if (c->ninputs >= MOS_CONFIG_MAX_INPUTS) {
            seterr(err, errlen, "%s: %s: too many inputs (max %d)", loc, k->name, MOS_CONFIG_MAX_INPUTS);
            return -ENOSPC;
        }
        const char *colon = strchr(v, ':');
        size_t plen = colon ? (size_t)(colon - v) : 0;
        if (!colon || colon[1] == '\0' ||
            !((plen == 4 && strncmp(v, "file", 4) == 0) || (plen == 4 && strncmp(v, "pcap", 4) == 0) ||
              (plen == 4 && strncmp(v, "dpdk", 4) == 0))) {
            seterr(err, errlen, "%s: %s: expected file:PATH, pcap:IFACE or dpdk:PORTSPEC, got '%s'", loc,
                   k->name, v);
            return -EINVAL;
        }
        if (strlen(v) >= k->size) {
            seterr(err, errlen, "%s: %s: value too long (max %zu characters)", loc, k->name, k->size - 1);
            return -EINVAL;
        }
        set_str(c->inputs[c->ninputs++], k->size, v);
        return 0;
    }
    case T_PAIR: {
        if (c->npairs >= MOS_CONFIG_MAX_PAIRS) {
            seterr(err, errlen, "%s: %s: too many inline pairs (max %d)", loc, k->name, MOS_CONFIG_MAX_PAIRS);
            return -ENOSPC;
        }
        char tmp[2 * MOS_CONFIG_STR + 2];
        const char *comma = strchr(v, ',');
        if (!comma || strlen(v) >= sizeof(tmp)) {
            seterr(err, errlen, "%s: %s: expected \"A,B\", got '%s'", loc, k->name, v);
            return -EINVAL;
        }
        memcpy(tmp, v, strlen(v) + 1);
        tmp[comma - v] = '\0';
        char *a = trim(tmp), *b = trim(tmp + (comma - v) + 1);
        if (!*a || !*b || strchr(b, ',') || strlen(a) >= k->size || strlen(b) >= k->size) {
            seterr(err, errlen, "%s: %s: expected \"A,B\", got '%s'", loc, k->name, v);
            return -EINVAL;
        }
        set_str(c->inline_pairs[c->npairs][0], k->size, a);
        set_str(c->inline_pairs[c->npairs][1], k->size, b);
        c->npairs++;
        return 0;
    }
    }

    /* numeric types land here */
    if (rc == -EINVAL) {
        seterr(err, errlen, "%s: %s: expected %s, got '%s'", loc, k->name, type_hint(k), v);
        return rc;
    }
    if (rc == -ERANGE) {
        seterr(err, errlen, "%s: %s: '%s' is out of range", loc, k->name, v);
        return rc;
    }
    if ((rc = check_range(k, n, loc, err, errlen)) < 0)
        return rc;
    switch (k->type) {
    case T_U32:
    case T_SIZE32:
    case T_DUR_MS: *(uint32_t *)field = (uint32_t)n; break;
    default: *(uint64_t *)field = n; break;
    }
    return 0;
}

static int unknown_key(const char *name, const char *bare, const char *loc, char *err, size_t errlen)
{
    const char *s = suggest_key(name, bare);
    if (s)
        seterr(err, errlen, "%s: unknown key '%s' (did you mean '%s'?)", loc, name, s);
    else
        seterr(err, errlen, "%s: unknown key '%s'", loc, name);
    return -EINVAL;
}

/* ---- public API ---------------------------------------------------------------- */

void config_defaults(struct mos_config *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < NKEYS; i++) {
        if (!keys[i].def)
            continue;
        char err[128];
        int rc = set_key(c, &keys[i], keys[i].def, "default", err, sizeof(err));
        /* The table is static data; a bad default is a programming error
         * that the unit tests catch, so there is nothing to report here. */
        (void)rc;
    }
}

int config_set(struct mos_config *c, const char *key, const char *value, char *err, size_t errlen)
{
    const struct key *k = find_key(key);
    if (!k)
        return unknown_key(key, strchr(key, '.') ? NULL : key, "command line", err, errlen);
    return set_key(c, k, value, "command line", err, errlen);
}

int config_set_arg(struct mos_config *c, const char *arg, char *err, size_t errlen)
{
    const char *eq = strchr(arg, '=');
    char key[128], val[1024 + 8];
    if (!eq) {
        seterr(err, errlen, "command line: expected key=value, got '%s'", arg);
        return -EINVAL;
    }
    size_t kl = (size_t)(eq - arg);
    if (kl >= sizeof(key) || strlen(eq + 1) >= sizeof(val)) {
        seterr(err, errlen, "command line: '%s' is too long", arg);
        return -EINVAL;
    }
    memcpy(key, arg, kl);
    key[kl] = '\0';
    memcpy(val, eq + 1, strlen(eq + 1) + 1);
    return config_set(c, trim(key), trim(val), err, errlen);
}

/* Cut a trailing comment and unquote. Returns NULL on an unterminated quote. */
static char *clean_value(char *v)
{
    v = trim(v);
    if (*v == '"') {
        char *end = strchr(v + 1, '"');
        if (!end)
            return NULL;
        *end = '\0';
        char *rest = trim(end + 1);
        if (*rest != '\0' && *rest != '#')
            return NULL;
        return v + 1;
    }
    char *hash = strchr(v, '#');
    if (hash)
        *hash = '\0';
    return trim(v);
}

int config_load_string(struct mos_config *c, const char *text, const char *name, char *err, size_t errlen)
{
    char *copy = strdup(text);
    if (!copy) {
        seterr(err, errlen, "%s: out of memory", name);
        return -ENOMEM;
    }
    char section[64] = "";
    char loc[512];
    unsigned lineno = 0;
    int rc = 0;
    for (char *line = copy, *next; line && rc == 0; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        lineno++;
        snprintf(loc, sizeof(loc), "%s:%u", name, lineno);
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        if (*s == '[') {
            char *close = strchr(s, ']');
            char *rest = close ? trim(close + 1) : NULL;
            if (!close || (*rest != '\0' && *rest != '#')) {
                seterr(err, errlen, "%s: expected '[section]'", loc);
                rc = -EINVAL;
                break;
            }
            *close = '\0';
            char *sec = trim(s + 1);
            if (!known_section(sec, strlen(sec)) || strlen(sec) >= sizeof(section)) {
                const char *sug = suggest_section(sec);
                if (sug)
                    seterr(err, errlen, "%s: unknown section '%s' (did you mean '%s'?)", loc, sec, sug);
                else
                    seterr(err, errlen, "%s: unknown section '%s'", loc, sec);
                rc = -EINVAL;
                break;
            }
            memcpy(section, sec, strlen(sec) + 1);
            continue;
        }
        char *eq = strchr(s, '=');
        char *hash = strchr(s, '#');
        if (!eq || (hash && hash < eq)) {
            seterr(err, errlen, "%s: expected 'key = value', missing '='", loc);
            rc = -EINVAL;
            break;
        }
        *eq = '\0';
        char *k = trim(s);
        char *v = clean_value(eq + 1);
        char full[256];
        if (*section)
            snprintf(full, sizeof(full), "%s.%s", section, k);
        else
            snprintf(full, sizeof(full), "%s", k);
        if (*k == '\0') {
            seterr(err, errlen, "%s: missing key before '='", loc);
            rc = -EINVAL;
            break;
        }
        const struct key *kd = find_key(full);
        if (!kd) {
            rc = unknown_key(full, k, loc, err, errlen);
            break;
        }
        if (!v) {
            seterr(err, errlen, "%s: %s: unterminated quoted value", loc, full);
            rc = -EINVAL;
            break;
        }
        rc = set_key(c, kd, v, loc, err, errlen);
    }
    free(copy);
    return rc;
}

int config_load_file(struct mos_config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        seterr(err, errlen, "%s: cannot open: %s", path, strerror(e));
        return -e;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 4096) {
            size_t nc = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, nc);
            if (!nb) {
                free(buf);
                fclose(f);
                seterr(err, errlen, "%s: out of memory", path);
                return -ENOMEM;
            }
            buf = nb;
            cap = nc;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0)
            break;
    }
    int rerr = ferror(f);
    fclose(f);
    if (rerr) {
        free(buf);
        seterr(err, errlen, "%s: read error", path);
        return -EIO;
    }
    buf[len] = '\0';
    if (memchr(buf, '\0', len)) {
        free(buf);
        seterr(err, errlen, "%s: not a text file (NUL byte)", path);
        return -EINVAL;
    }
    int rc = config_load_string(c, buf, path, err, errlen);
    free(buf);
    return rc;
}

int config_validate(const struct mos_config *c, char *err, size_t errlen)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key *k = &keys[i];
        const char *field = (const char *)c + k->off;
        uint64_t v;
        switch (k->type) {
        case T_U32:
        case T_SIZE32:
        case T_DUR_MS: v = *(const uint32_t *)field; break;
        case T_DUR_NS:
        case T_SIZE64: v = *(const uint64_t *)field; break;
        case T_ENUM: {
            int e = *(const int *)field;
            if (e < (int)k->min || e > (int)k->max) {
                seterr(err, errlen, "%s: invalid value %d", k->name, e);
                return -EINVAL;
            }
            continue;
        }
        case T_STRENUM:
            if (choice_index(k->choices, field) < 0) {
                seterr(err, errlen, "%s: invalid value '%s'", k->name, field);
                return -EINVAL;
            }
            continue;
        case T_SHARD: {
            const uint32_t *sh = (const uint32_t *)field;
            if (sh[1] < k->min || sh[1] > k->max || sh[0] >= sh[1]) {
                seterr(err, errlen, "%s: invalid value %u/%u", k->name, sh[0], sh[1]);
                return -EINVAL;
            }
            continue;
        }
        default: continue;
        }
        int rc = check_range(k, v, "config", err, errlen);
        if (rc < 0)
            return rc;
    }
    if (c->ninputs > MOS_CONFIG_MAX_INPUTS || c->npairs > MOS_CONFIG_MAX_PAIRS) {
        seterr(err, errlen, "config: io: too many inputs or inline pairs");
        return -ENOSPC;
    }
    if (c->ooo_window > c->memcap) {
        char a[32], b[32];
        fmt_size(c->ooo_window, a, sizeof(a));
        fmt_size(c->memcap, b, sizeof(b));
        seterr(err, errlen, "config: reassembly.ooo_window (%s) exceeds reassembly.memcap (%s)", a, b);
        return -EINVAL;
    }
    return 0;
}

/* ---- dump and help ------------------------------------------------------------- */

static void dump_str(FILE *out, const char *key, const char *v)
{
    size_t n = strlen(v);
    bool quote = n == 0 || strchr(v, '#') || v[0] == ' ' || v[0] == '\t' || v[n - 1] == ' ' ||
                 v[n - 1] == '\t' || v[0] == '"';
    fprintf(out, quote ? "%s = \"%s\"\n" : "%s = %s\n", key, v);
}

static void key_value_text(const struct mos_config *c, const struct key *k, char *buf, size_t n)
{
    const char *field = (const char *)c + k->off;
    switch (k->type) {
    case T_BOOL: snprintf(buf, n, "%s", *(const bool *)field ? "true" : "false"); break;
    case T_ENUM: {
        int e = *(const int *)field;
        snprintf(buf, n, "%s", e >= (int)k->min && e <= (int)k->max ? k->choices[e] : "?");
        break;
    }
    case T_U32:
    case T_SIZE32:
    case T_DUR_MS: fmt_num(k, *(const uint32_t *)field, buf, n); break;
    case T_DUR_NS:
    case T_SIZE64: fmt_num(k, *(const uint64_t *)field, buf, n); break;
    case T_SHARD:
        snprintf(buf, n, "%u/%u", ((const uint32_t *)field)[0], ((const uint32_t *)field)[1]);
        break;
    default: snprintf(buf, n, "%s", field); break;
    }
}

void config_dump(const struct mos_config *c, FILE *out)
{
    const char *cur = NULL;
    size_t curlen = 0;
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key *k = &keys[i];
        const char *dot = strchr(k->name, '.');
        size_t slen = (size_t)(dot - k->name);
        if (!cur || slen != curlen || strncmp(cur, k->name, slen) != 0) {
            fprintf(out, "%s[%.*s]\n", cur ? "\n" : "", (int)slen, k->name);
            cur = k->name;
            curlen = slen;
        }
        const char *bare = dot + 1;
        if (k->type == T_INPUT) {
            for (uint32_t j = 0; j < c->ninputs && j < MOS_CONFIG_MAX_INPUTS; j++)
                dump_str(out, bare, c->inputs[j]);
        } else if (k->type == T_PAIR) {
            for (uint32_t j = 0; j < c->npairs && j < MOS_CONFIG_MAX_PAIRS; j++)
                fprintf(out, "%s = %s,%s\n", bare, c->inline_pairs[j][0], c->inline_pairs[j][1]);
        } else if (k->type == T_STR || k->type == T_STRENUM) {
            dump_str(out, bare, (const char *)c + k->off);
        } else {
            char buf[64];
            key_value_text(c, k, buf, sizeof(buf));
            fprintf(out, "%s = %s\n", bare, buf);
        }
    }
}

void config_help(FILE *out)
{
    static const char *const tname[] = {
        [T_U32] = "integer",   [T_BOOL] = "bool",      [T_ENUM] = "choice",     [T_DUR_NS] = "duration",
        [T_DUR_MS] = "duration", [T_SIZE32] = "size",  [T_SIZE64] = "size",     [T_STR] = "string",
        [T_STRENUM] = "choice", [T_INPUT] = "input",   [T_PAIR] = "pair",     [T_SHARD] = "I/N",
    };
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key *k = &keys[i];
        char ty[64];
        if (k->choices)
            choices_text(k->choices, ty, sizeof(ty));
        else
            snprintf(ty, sizeof(ty), "%s", tname[k->type]);
        if (k->type == T_INPUT || k->type == T_PAIR)
            fprintf(out, "%-26s %s, repeatable (max %" PRIu64 ")\n", k->name, ty, k->max);
        else
            fprintf(out, "%-26s %s, default %s\n", k->name, ty, k->def ? k->def : "\"\"");
        fprintf(out, "    %s\n", k->help);
    }
}
