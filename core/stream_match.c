/*
 * stream_match.c - multi-pattern matching over reassembled streams.
 *
 * Design: a matcher is one Hyperscan streaming-mode database (literals are
 * compiled as regexes of \xHH escapes, so one database holds both kinds)
 * plus a scratch area, owned by one core. Scanning is pull: the caller asks
 * for "what is new on this flow side" (a handler of CONN_NEW_DATA, usually)
 * and the matcher reads the side's stream ring in place (at most two
 * contiguous chunks, no copy, no Lua string), feeding Hyperscan's stream
 * state so a match may span any number of segments and scans.
 *
 * Per-flow state lives in the matcher, not in the flow (the flow struct is
 * sized for the cache): an array indexed by the flow's slot in the core's
 * flow table (core_flow_slot), each entry tagged with the flow's id, which
 * is never reused. An entry whose id differs from the flow's is stale or
 * empty, so a flow reusing a slot never inherits state. The array grows on
 * demand to the highest slot scanned. The core keeps a list of its matchers
 * (core_matchers) and, when it releases a flow (after its CONN_END was
 * dispatched), calls stream_match_flow_end, which closes and clears that
 * slot's entry in each matcher: state is freed exactly at the flow's end.
 * Destroying a matcher closes all its entries; destroying the core first
 * detaches its matchers (stream_match_core_gone), so their later
 * destruction touches no freed memory.
 *
 * Positions: each side remembers `pos`, the delivered offset (stream_buf.h:
 * gap bytes excluded) up to which it has scanned. Bytes are only ever
 * delivered once, in order, so retransmitted bytes are never scanned twice.
 * Stream offsets reported to the user are delivered offsets plus the gap
 * bytes before them.
 *
 * Gaps: Hyperscan's state must not carry a partial match over a hole, so
 * the stream state is reset (no end-of-data matches reported) at every gap.
 * When the side's gap count changed since the last scan, the new gaps are
 * located in the delivered range from the reassembly's gap list (stream
 * offsets, ascending): walking it backwards from the total gap bytes gives
 * each gap's delivered position. If that list was truncated
 * (REASM_MAX_GAPS), gaps past it cannot be located: the state is then reset
 * at the start of the scan only (documented limitation). Unscanned bytes
 * overwritten in the ring (the buffer wrapped before the scan) count as
 * bytes_unscanned and also reset the state.
 *
 * Scanning counts as reading: after a scan the side's read position (what
 * flow:peek / mtcp_peek return next) is past the bytes scanned. Without
 * that, a script that only matches would leave every byte unread and each
 * ring would grow to its cap (reassembly.rcvbuf) and then overflow: memory
 * and page faults the matcher does not need. Bytes stay in the ring as
 * history (ppeek) like any read bytes.
 *
 * A matcher created while flows exist (a reload) starts those flows at
 * their current end: it scans what is delivered after its creation, so the
 * new script neither repeats the old one's matches nor misses later ones.
 *
 * Invariants: node->side[s].pos <= the side's buf.head; the results array
 * holds at most STREAM_MATCH_MAX_RESULTS entries; every hs_stream_t opened
 * is closed exactly once (flow end or matcher destruction).
 */
#include "stream_match.h"

#include <errno.h>
#include <hs/hs.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "flow.h"
#include "stream_buf.h"
#include "tcp_reasm.h"

struct sm_side {
    hs_stream_t *hs;       /* opened on the first bytes; NULL until then */
    uint64_t pos;          /* delivered offset scanned up to */
    uint64_t hs_start;     /* delivered offset of Hyperscan offset 0 of hs */
    uint64_t gb;           /* gap bytes before hs_start (stream = delivered + gb) */
    uint32_t gaps_seen;    /* the reassembly's ngaps_total at the last scan */
};

struct sm_entry {          /* one flow slot */
    uint64_t flow_id;      /* 0: empty (flow ids start at 1) */
    struct sm_side side[2];
};

struct mos_matcher {
    struct mos_core *core;             /* NULL once the core is destroyed */
    struct mos_matcher *next;          /* the core's list (core_matchers) */
    hs_database_t *db;
    hs_scratch_t *scratch;
    struct sm_entry *slots;            /* indexed by flow slot */
    uint32_t nslots;
    uint32_t *ids;                     /* reported id of each pattern (Hyperscan reports the index) */
    struct mos_match *res;
    uint32_t nres, res_cap;
    uint64_t base;                     /* stream offset of hs offset 0, during a scan */
    struct mos_matcher_stats st;
};

/* ------------------------------------------------------------ compiling */

static void put_err(char *err, size_t errlen, const char *fmt, const char *a, const char *b)
{
    if (err && errlen)
        snprintf(err, errlen, fmt, a, b);
}

/* A short, printable rendering of a pattern for messages. */
static void describe(const struct mos_pattern *p, uint32_t idx, char *out, size_t n)
{
    char shown[64];
    size_t len = p->kind == MOS_PAT_REGEX ? strlen(p->expr) : p->len;
    size_t k = 0, i = 0;
    for (; i < len && k + 5 < sizeof(shown); i++) {
        unsigned char ch = (unsigned char)p->expr[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '"')
            shown[k++] = (char)ch;
        else
            k += (size_t)snprintf(shown + k, sizeof(shown) - k, "\\x%02x", ch);
    }
    shown[k] = 0;
    const char *more = i < len ? "..." : "";
    if (p->line)
        snprintf(out, n, "%u: %s \"%s%s\"", p->line, p->kind == MOS_PAT_REGEX ? "regex" : "literal",
                 shown, more);
    else
        snprintf(out, n, "pattern %u (%s \"%s%s\")", idx + 1, p->kind == MOS_PAT_REGEX ? "regex" : "literal",
                 shown, more);
}

static char *escape_literal(const char *s, uint32_t len)
{
    char *e = malloc((size_t)len * 4 + 1);
    if (!e)
        return NULL;
    static const char hex[] = "0123456789abcdef";
    char *w = e;
    for (uint32_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')) {
            *w++ = (char)ch;
        } else {
            *w++ = '\\', *w++ = 'x', *w++ = hex[ch >> 4], *w++ = hex[ch & 15];
        }
    }
    *w = 0;
    return e;
}

static void entry_clear(struct mos_matcher *m, struct sm_entry *e)
{
    for (int k = 0; k < 2; k++)
        if (e->side[k].hs)
            hs_close_stream(e->side[k].hs, NULL, NULL, NULL); /* no end-of-data matches */
    memset(e, 0, sizeof(*e));
    m->st.states--;
}

/* The entry of slot `slot`, growing the array to hold it; NULL: no memory. */
static struct sm_entry *entry_at(struct mos_matcher *m, uint32_t slot)
{
    if (slot >= m->nslots) {
        uint64_t n = m->nslots ? m->nslots : 1024;
        while (n <= slot)
            n *= 2;
        struct sm_entry *a = realloc(m->slots, n * sizeof(*a));
        if (!a)
            return NULL;
        memset(a + m->nslots, 0, (n - m->nslots) * sizeof(*a));
        m->slots = a;
        m->nslots = (uint32_t)n;
    }
    return &m->slots[slot];
}

/* Start (or restart: a stale entry of an earlier flow in the slot) f's
 * entry; sides start at their current end for flows older than m, else 0. */
static void entry_start(struct mos_matcher *m, struct sm_entry *e, const struct mos_flow *f, bool at_end)
{
    if (e->flow_id)
        entry_clear(m, e); /* defensive: flow ends clear their slot */
    e->flow_id = f->id;
    for (int k = 0; k < 2; k++) {
        const struct tcp_reasm *r = &f->ep[k].rcv;
        struct sm_side *d = &e->side[k];
        d->pos = d->hs_start = at_end ? r->buf.head : 0;
        d->gb = at_end ? r->gap_bytes : 0;
        d->gaps_seen = at_end ? r->ngaps_total : 0;
    }
    m->st.states++;
}

int stream_match_create(struct mos_core *c, const struct mos_pattern *p, uint32_t n,
                        struct mos_matcher **out, char *err, size_t errlen)
{
    char what[160];
    *out = NULL;
    if (err && errlen)
        err[0] = 0;
    if (n == 0 || !p) {
        put_err(err, errlen, "%s%sno patterns", "", "");
        return -EINVAL;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (!p[i].expr || p[i].kind > MOS_PAT_REGEX) {
            snprintf(what, sizeof(what), "pattern %u", i + 1);
            put_err(err, errlen, "%s: %s", what, "no expression, or an unknown kind");
            return -EINVAL;
        }
        if (p[i].kind == MOS_PAT_LITERAL ? p[i].len == 0 : p[i].expr[0] == 0) {
            describe(&p[i], i, what, sizeof(what));
            put_err(err, errlen, "%s: %s", what, "empty pattern");
            return -EINVAL;
        }
    }
    int rc = -ENOMEM;
    char **exprs = calloc(n, sizeof(*exprs));
    unsigned *flags = calloc(n, sizeof(*flags));
    unsigned *idx = calloc(n, sizeof(*idx));
    struct mos_matcher *m = calloc(1, sizeof(*m));
    if (!exprs || !flags || !idx || !m)
        goto out;
    m->ids = malloc(n * sizeof(*m->ids));
    if (!m->ids)
        goto out;
    for (uint32_t i = 0; i < n; i++) {
        exprs[i] = p[i].kind == MOS_PAT_LITERAL ? escape_literal(p[i].expr, p[i].len) : strdup(p[i].expr);
        if (!exprs[i])
            goto out;
        idx[i] = i; /* Hyperscan reports the index; ids may repeat */
        m->ids[i] = p[i].has_id ? p[i].id : i + 1;
    }
    hs_compile_error_t *ce = NULL;
    if (hs_compile_multi((const char *const *)exprs, flags, idx, n, HS_MODE_STREAM, NULL, &m->db, &ce) !=
        HS_SUCCESS) {
        if (ce && ce->expression >= 0 && (uint32_t)ce->expression < n) {
            describe(&p[ce->expression], (uint32_t)ce->expression, what, sizeof(what));
            put_err(err, errlen, "%s: %s", what, ce->message);
        } else {
            put_err(err, errlen, "%s%s", "compiling the patterns failed: ", ce ? ce->message : "?");
        }
        hs_free_compile_error(ce);
        m->db = NULL;
        rc = -EINVAL;
        goto out;
    }
    if (hs_alloc_scratch(m->db, &m->scratch) != HS_SUCCESS) {
        m->scratch = NULL;
        goto out;
    }
    size_t ssz = 0;
    hs_stream_size(m->db, &ssz);
    m->st.stream_size = (uint32_t)ssz;
    m->st.npatterns = n;
    m->core = c;
    /* flows that exist now start at their current end (see the top) */
    uint32_t cursor = 0;
    struct mos_flow *f;
    while ((f = core_flow_next(c, &cursor))) {
        struct sm_entry *e = entry_at(m, core_flow_slot(c, f));
        if (!e)
            goto out;
        entry_start(m, e, f, true);
    }
    struct mos_matcher **head = core_matchers(c);
    m->next = *head;
    *head = m;
    rc = 0;
out:
    if (exprs)
        for (uint32_t i = 0; i < n; i++)
            free(exprs[i]);
    free(exprs);
    free(flags);
    free(idx);
    if (rc == 0) {
        *out = m;
        return 0;
    }
    if (m) {
        m->core = NULL;
        stream_match_destroy(m);
    }
    if (rc == -ENOMEM)
        put_err(err, errlen, "%s%sout of memory", "", "");
    return rc;
}

void stream_match_destroy(struct mos_matcher *m)
{
    if (!m)
        return;
    for (uint32_t i = 0; i < m->nslots; i++)
        if (m->slots[i].flow_id)
            entry_clear(m, &m->slots[i]);
    if (m->core) {
        struct mos_matcher **pp = core_matchers(m->core);
        while (*pp && *pp != m)
            pp = &(*pp)->next;
        if (*pp)
            *pp = m->next;
    }
    hs_free_scratch(m->scratch);
    hs_free_database(m->db);
    free(m->slots);
    free(m->ids);
    free(m->res);
    free(m);
}

void stream_match_flow_end(struct mos_matcher *list, const struct mos_flow *f, uint32_t slot)
{
    for (struct mos_matcher *m = list; m; m = m->next)
        if (slot < m->nslots && m->slots[slot].flow_id == f->id)
            entry_clear(m, &m->slots[slot]);
}

void stream_match_core_gone(struct mos_matcher *list)
{
    for (struct mos_matcher *m = list, *n; m; m = n) {
        n = m->next;
        m->core = NULL;
        m->next = NULL;
    }
}

/* ------------------------------------------------------------- scanning */

static int on_match(unsigned int idx, unsigned long long from, unsigned long long to, unsigned int flags,
                    void *ctx)
{
    (void)from; (void)flags;
    struct mos_matcher *m = ctx;
    if (m->nres == m->res_cap) {
        if (m->res_cap >= STREAM_MATCH_MAX_RESULTS) {
            m->st.matches_dropped++;
            return 0;
        }
        uint32_t nc = m->res_cap ? m->res_cap * 2 : 64;
        struct mos_match *r = realloc(m->res, nc * sizeof(*r));
        if (!r) {
            m->st.matches_dropped++;
            return 0;
        }
        m->res = r;
        m->res_cap = nc;
    }
    struct mos_match *r = &m->res[m->nres++];
    r->off = m->base + to;
    r->id = m->ids[idx];
    r->reserved = 0;
    return 0;
}

/* Continue at delivered offset `at` (gb gap bytes before it) with a fresh
 * Hyperscan stream: reset only if the current one has seen bytes. */
static void restart(struct mos_matcher *m, struct sm_side *d, uint64_t at, uint64_t gb)
{
    if (d->hs && d->pos > d->hs_start) {
        hs_reset_stream(d->hs, 0, NULL, NULL, NULL); /* no end-of-data matches */
        m->st.restarts++;
    }
    d->hs_start = d->pos = at;
    d->gb = gb;
}

/* Scan delivered bytes [from, to) of the ring, which holds them. */
static int scan_range(struct mos_matcher *m, struct sm_side *d, const struct stream_buf *b, uint64_t from,
                      uint64_t to)
{
    if (from >= to)
        return 0;
    if (!d->hs && hs_open_stream(m->db, 0, &d->hs) != HS_SUCCESS) {
        d->hs = NULL;
        return -ENOMEM;
    }
    m->base = d->hs_start + d->gb;
    while (from < to) {
        uint32_t at = (uint32_t)(from % b->size);
        uint64_t n = to - from;
        if (n > b->size - at)
            n = b->size - at;
        hs_scan_stream(d->hs, (const char *)b->data + at, (unsigned)n, 0, m->scratch, on_match, m);
        from += n;
        m->st.bytes_scanned += n;
    }
    d->pos = to;
    return 0;
}

int stream_match_scan(struct mos_matcher *m, struct mos_flow *f, int side)
{
    m->nres = 0;
    if (side != MOS_SIDE_CLI && side != MOS_SIDE_SVR)
        return -EINVAL;
    struct tcp_reasm *r = &f->ep[side].rcv;
    if (!r->enabled)
        return -ENOTSUP;
    if (!m->core)
        return -ENODEV;
    struct sm_entry *e = entry_at(m, core_flow_slot(m->core, f));
    if (!e)
        return -ENOMEM;
    if (e->flow_id != f->id)
        entry_start(m, e, f, false);
    struct sm_side *d = &e->side[side];
    const struct stream_buf *b = &r->buf;
    uint64_t head = b->head;
    if (d->pos >= head)
        return 0;
    m->st.scans++;
    uint64_t held = stream_buf_held_from(b);
    if (d->pos < held) { /* the ring wrapped over bytes this matcher never saw */
        m->st.bytes_unscanned += held - d->pos;
        /* gap bytes at `held`: settled by the gap walk below, or none new */
        restart(m, d, held, r->gap_bytes); /* exact unless new gaps: then set below */
    }
    int rc = 0;
    if (r->ngaps_total != d->gaps_seen) {
        if (r->gaps_truncated) {
            /* gaps past the listed ones cannot be located: restart here */
            restart(m, d, d->pos, r->gap_bytes);
        } else {
            /* gaps at delivered positions >= pos, found walking backwards */
            uint64_t cum = r->gap_bytes;
            uint32_t k = r->ngaps;
            while (k > 0) {
                const struct reasm_gap *g = &r->gaps[k - 1];
                uint64_t len = g->end - g->start;
                uint64_t dpos = g->start - (cum - len);
                if (dpos < d->pos)
                    break;
                cum -= len;
                k--;
            }
            /* cum: gap bytes before pos; gaps[k..ngaps) lie at >= pos.
             * Bytes since hs_start had no gap in between: same cum. */
            d->gb = cum;
            for (; k < r->ngaps && rc == 0; k++) {
                const struct reasm_gap *g = &r->gaps[k];
                uint64_t len = g->end - g->start;
                uint64_t dpos = g->start - cum;
                if (dpos > head)
                    break; /* cannot happen: gaps are recorded at the head */
                rc = scan_range(m, d, b, d->pos, dpos);
                cum += len;
                restart(m, d, dpos, cum);
            }
        }
        d->gaps_seen = r->ngaps_total;
    }
    if (rc == 0)
        rc = scan_range(m, d, b, d->pos, head);
    if (rc < 0)
        return rc;
    /* scanning is reading: the bytes count as consumed (see the top) */
    if (r->buf.read < d->pos)
        r->buf.read = d->pos;
    m->st.matches += m->nres;
    return (int)m->nres;
}

const struct mos_match *stream_match_results(const struct mos_matcher *m)
{
    return m->res;
}

void stream_match_stats(const struct mos_matcher *m, struct mos_matcher_stats *out)
{
    *out = m->st;
}

/* ---------------------------------------------------------- pattern files */
/*
 * Format (one pattern per line, documented in lua/README.md):
 *
 *     # a comment: lines whose first character is '#'; blank lines are skipped
 *     lit MOSLUA-NEEDLE          a literal: the bytes after the separator
 *     lit:12 User-Agent: sqlmap  an id after a colon (else its position)
 *     re GET /[a-z]+\.php        a Hyperscan (PCRE-syntax) regular expression
 *     re:7 (?i)select.+from
 *
 * The kind (`lit` or `re`, with an optional `:ID`, a decimal < 2^32) is
 * followed by exactly one space or tab; the pattern is the rest of the line
 * (a trailing CR removed), taken as it is, so it may start or end with
 * spaces. Literals understand \\ \t \r \n and \xHH for other bytes; any
 * other backslash is an error. Regexes go to Hyperscan unchanged.
 */
static int parse_id(const char *s, const char *end, uint32_t *out)
{
    if (s == end || end - s > 10)
        return -1;
    uint64_t v = 0;
    for (; s < end; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    if (v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Decode literal escapes in place; returns the length or -1 (bad escape). */
static int64_t unescape(char *s, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') {
            s[w++] = s[i];
            continue;
        }
        if (++i >= n)
            return -1;
        switch (s[i]) {
        case '\\': s[w++] = '\\'; break;
        case 't': s[w++] = '\t'; break;
        case 'r': s[w++] = '\r'; break;
        case 'n': s[w++] = '\n'; break;
        case 'x': {
            if (i + 2 >= n)
                return -1;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            s[w++] = (char)(hi << 4 | lo);
            i += 2;
            break;
        }
        default: return -1;
        }
    }
    return (int64_t)w;
}

struct pat_list {
    struct mos_pattern *p;
    uint32_t n, cap;
};

static void pat_list_free(struct pat_list *l)
{
    for (uint32_t i = 0; i < l->n; i++)
        free((char *)l->p[i].expr);
    free(l->p);
}

/* One non-blank, non-comment line (NUL-terminated, no newline). */
static int parse_line(char *line, size_t len, uint32_t lineno, struct mos_pattern *out, const char **why)
{
    char *sep = line;
    while (sep < line + len && *sep != ' ' && *sep != '\t')
        sep++;
    if (sep == line + len) {
        *why = "expected KIND[:ID] PATTERN (kind lit or re)";
        return -1;
    }
    char *colon = memchr(line, ':', (size_t)(sep - line));
    char *kend = colon ? colon : sep;
    memset(out, 0, sizeof(*out));
    if (kend - line == 3 && !memcmp(line, "lit", 3))
        out->kind = MOS_PAT_LITERAL;
    else if (kend - line == 2 && !memcmp(line, "re", 2))
        out->kind = MOS_PAT_REGEX;
    else {
        *why = "unknown kind (expected lit or re)";
        return -1;
    }
    if (colon) {
        if (parse_id(colon + 1, sep, &out->id) < 0) {
            *why = "bad id (expected a decimal number below 2^32)";
            return -1;
        }
        out->has_id = 1;
    }
    char *pat = sep + 1;
    size_t plen = (size_t)(line + len - pat);
    if (plen == 0) {
        *why = "empty pattern";
        return -1;
    }
    char *copy = malloc(plen + 1);
    if (!copy) {
        *why = "out of memory";
        return -1;
    }
    memcpy(copy, pat, plen);
    copy[plen] = 0;
    if (out->kind == MOS_PAT_LITERAL) {
        int64_t n = unescape(copy, plen);
        if (n <= 0) {
            free(copy);
            *why = n < 0 ? "bad escape in literal (use \\\\, \\t, \\r, \\n or \\xHH)" : "empty pattern";
            return -1;
        }
        out->len = (uint32_t)n;
    } else {
        if (strlen(copy) != plen) {
            free(copy);
            *why = "NUL byte in regex (write \\x00)";
            return -1;
        }
        out->len = (uint32_t)plen;
    }
    out->expr = copy;
    out->line = lineno;
    return 0;
}

int stream_match_load(struct mos_core *c, const char *path, struct mos_matcher **out, char *err,
                      size_t errlen)
{
    *out = NULL;
    FILE *fp = fopen(path, "r");
    if (!fp) {
        int e = errno;
        if (err && errlen)
            snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    struct pat_list l = {0};
    char *line = NULL;
    size_t lcap = 0;
    ssize_t got;
    uint32_t lineno = 0;
    int rc = 0;
    while ((got = getline(&line, &lcap, fp)) >= 0) {
        lineno++;
        size_t len = (size_t)got;
        if (len && line[len - 1] == '\n')
            line[--len] = 0;
        if (len && line[len - 1] == '\r')
            line[--len] = 0;
        if (len > STREAM_MATCH_MAX_LINE) {
            if (err && errlen)
                snprintf(err, errlen, "%s:%u: line longer than %u bytes", path, lineno, STREAM_MATCH_MAX_LINE);
            rc = -EINVAL;
            break;
        }
        if (strlen(line) != len && line[0] != '#') {
            if (err && errlen)
                snprintf(err, errlen, "%s:%u: NUL byte in line (write \\x00)", path, lineno);
            rc = -EINVAL;
            break;
        }
        size_t blank = strspn(line, " \t");
        if (blank == len || line[0] == '#')
            continue;
        if (l.n == l.cap) {
            uint32_t nc = l.cap ? l.cap * 2 : 64;
            struct mos_pattern *np = realloc(l.p, nc * sizeof(*np));
            if (!np) {
                rc = -ENOMEM;
                if (err && errlen)
                    snprintf(err, errlen, "%s: out of memory", path);
                break;
            }
            l.p = np;
            l.cap = nc;
        }
        const char *why = NULL;
        if (parse_line(line, len, lineno, &l.p[l.n], &why) < 0) {
            if (err && errlen)
                snprintf(err, errlen, "%s:%u: %s", path, lineno, why);
            rc = -EINVAL;
            break;
        }
        l.n++;
    }
    if (rc == 0 && ferror(fp)) {
        int e = errno ? errno : EIO;
        if (err && errlen)
            snprintf(err, errlen, "%s: %s", path, strerror(e));
        rc = -e;
    }
    free(line);
    fclose(fp);
    if (rc == 0 && l.n == 0) {
        if (err && errlen)
            snprintf(err, errlen, "%s: no patterns", path);
        rc = -EINVAL;
    }
    if (rc == 0) {
        char msg[256] = "";
        rc = stream_match_create(c, l.p, l.n, out, msg, sizeof(msg));
        if (rc < 0 && err && errlen)
            snprintf(err, errlen, "%s:%s", path, msg);
    }
    pat_list_free(&l);
    return rc;
}
