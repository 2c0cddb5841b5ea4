/*
 * stats.c - the --stats JSON file: every counter summed over cores (but
 * high-water marks, the *_peak counters, as the maximum over cores: the
 * cores peak at different times, so a sum would claim a peak that never
 * happened; each core's own value is in per_core), then per core, plus each core's Lua heap (lua_mem_kb: what the Lua loop last
 * published in its progress block, every few batches and on each dump, so
 * growth shows in SIGUSR1 dumps too; exact after the run).
 *
 * With live interfaces, the kernel's capture counters (pcap_stats over
 * every socket) are added to the totals as io_kernel_received and
 * io_kernel_dropped: frames lost before mos-lua ever saw them.
 *
 * Written to FILE.tmp and renamed, so a reader polling the file (or a test)
 * never sees half a document, even when SIGUSR1 dumps arrive mid-run.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "host.h"
#include "io_setup.h"
#include "log_sink.h"

static void write_counters(FILE *f, const uint64_t *v, unsigned n, const char *extra)
{
    fputc('{', f);
    for (unsigned i = 0; i < n; i++)
        fprintf(f, "%s\"%s\": %llu", i ? ", " : "", mos_counter_name(i), (unsigned long long)v[i]);
    fputs(extra, f);
    fputc('}', f);
}

static bool is_peak(const char *name)
{
    return strstr(name, "_peak") != NULL;
}

int host_stats_write(struct mos_host *h)
{
    if (!h->stats_file)
        return 0;
    unsigned n = mos_counter_count();
    uint64_t total[sizeof(struct mos_counters) / sizeof(uint64_t)];
    memset(total, 0, sizeof(total));
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", h->stats_file);
    pthread_mutex_lock(&h->stats_lock);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        int e = errno;
        pthread_mutex_unlock(&h->stats_lock);
        return -e;
    }
    double lua_kb = 0;
    for (unsigned c = 0; c < h->ncores; c++) {
        if (!h->workers[c].core)
            continue;
        const uint64_t *v = (const uint64_t *)core_counters(h->workers[c].core);
        for (unsigned i = 0; i < n; i++) {
            if (!is_peak(mos_counter_name(i)))
                total[i] += v[i];
            else if (v[i] > total[i])
                total[i] = v[i];
        }
        lua_kb += h->workers[c].progress.lua_kb;
    }
    fprintf(f, "{\"version\": \"%s\", \"cores\": %u, \"lua_mem_kb\": %.1f,\n \"counters\": ",
            MOS_VERSION, h->ncores, lua_kb);
    char extra[384] = "";
    uint64_t krx, kdrop;
    struct log_sink_stats ls;
    log_sink_stats(h, &ls);
    int k = snprintf(extra, sizeof(extra),
                     ", \"log_records_written\": %llu, \"log_records_dropped\": %llu, \"log_reconnects\": %llu",
                     (unsigned long long)ls.written, (unsigned long long)ls.dropped,
                     (unsigned long long)ls.reconnects);
    if (io_setup_kernel_stats(h, &krx, &kdrop) == 0)
        snprintf(extra + k, sizeof(extra) - (size_t)k, ", \"io_kernel_received\": %llu, \"io_kernel_dropped\": %llu",
                 (unsigned long long)krx, (unsigned long long)kdrop);
    write_counters(f, total, n, extra);
    fputs(",\n \"per_core\": [", f);
    for (unsigned c = 0; c < h->ncores; c++) {
        fprintf(f, "%s\n  {\"core\": %u, \"lua_mem_kb\": %.1f, \"counters\": ", c ? "," : "", c,
                h->workers[c].progress.lua_kb);
        if (h->workers[c].core)
            write_counters(f, (const uint64_t *)core_counters(h->workers[c].core), n, "");
        else
            fputs("{}", f);
        fputc('}', f);
    }
    fputs("]}\n", f);
    int rc = 0;
    if (fclose(f) != 0 || rename(tmp, h->stats_file) != 0)
        rc = -errno;
    pthread_mutex_unlock(&h->stats_lock);
    return rc;
}

int mos_host_write_stats(struct mos_host *h, int core, double lua_kb)
{
    if (!h || core < 0 || (unsigned)core >= h->ncores)
        return -EINVAL;
    h->workers[core].progress.lua_kb = lua_kb;
    return host_stats_write(h);
}
