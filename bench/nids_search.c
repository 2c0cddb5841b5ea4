/*
 * nids_search.c - the libnids peer: reassemble both directions of every TCP
 * connection in a pcap file and count a needle in each byte stream.
 *
 * libnids hands us only new in-order bytes (we never call nids_discard, so it
 * drops them after each callback); a per-connection struct keeps the last
 * len-1 bytes of each direction so needles straddling deliveries are found
 * (needle_scan.h). Port-scan detection is off (it is not what we measure);
 * -C switches libnids' checksum verification off for a second data point.
 * Output: one "key value" per line; run.sh compares "needles" with the
 * generator's sidecar.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <nids.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "needle_scan.h"

struct conn {
    struct needle_dir to_srv, to_cli;
};

/* libnids' callback has no user argument, so the run's totals live in one
 * file-scope struct; this tool is single-threaded and runs one file. */
static struct {
    const uint8_t *needle;
    size_t nlen;
    uint64_t flows, closed, bytes_c2s, bytes_s2c, needles;
} run;

static void on_tcp(struct tcp_stream *a, void **param)
{
    (void)param;
    struct conn *c = a->user;
    switch (a->nids_state) {
    case NIDS_JUST_EST:
        a->client.collect++;
        a->server.collect++;
        c = calloc(1, sizeof(*c));
        if (!c) {
            fprintf(stderr, "nids_search: out of memory\n");
            exit(1);
        }
        a->user = c;
        run.flows++;
        return;
    case NIDS_DATA: {
        /* server half: bytes the server receives (client -> server) */
        struct half_stream *h = a->server.count_new ? &a->server : &a->client;
        const uint8_t *p = (const uint8_t *)h->data + (h->count - h->offset - h->count_new);
        size_t n = (size_t)h->count_new;
        if (h == &a->server) {
            run.bytes_c2s += n;
            run.needles += needle_scan(&c->to_srv, run.needle, run.nlen, p, n);
        } else {
            run.bytes_s2c += n;
            run.needles += needle_scan(&c->to_cli, run.needle, run.nlen, p, n);
        }
        return;
    }
    default: /* NIDS_CLOSE, NIDS_RESET, NIDS_TIMED_OUT, NIDS_EXITING */
        free(c);
        a->user = NULL;
        run.closed++;
        return;
    }
}

static void quiet_syslog(int type, int err, void *iph, void *data)
{
    (void)type; (void)err; (void)iph; (void)data;
}

int main(int argc, char **argv)
{
    int c, streams = 1 << 18, nocsum = 0;
    const char *needle = "MOSBENCH-NEEDLE-5e1d";
    while ((c = getopt(argc, argv, "n:s:C")) != -1) {
        switch (c) {
        case 'n': streams = atoi(optarg); break;
        case 's': needle = optarg; break;
        case 'C': nocsum = 1; break;
        default:
            fprintf(stderr, "usage: nids_search [-n MAX_STREAMS] [-s NEEDLE] [-C] FILE.pcap\n");
            return 2;
        }
    }
    if (optind + 1 != argc || streams <= 0 || strlen(needle) > NEEDLE_MAX) {
        fprintf(stderr, "usage: nids_search [-n MAX_STREAMS] [-s NEEDLE(<=%d bytes)] [-C] FILE.pcap\n", NEEDLE_MAX);
        return 2;
    }
    run.needle = (const uint8_t *)needle;
    run.nlen = strlen(needle);
    nids_params.filename = argv[optind];
    nids_params.device = NULL;
    nids_params.n_tcp_streams = streams;
    nids_params.scan_num_hosts = 0;
    nids_params.syslog = (void (*)())quiet_syslog;
    if (!nids_init()) {
        fprintf(stderr, "nids_search: %s\n", nids_errbuf);
        return 1;
    }
    if (nocsum) {
        static struct nids_chksum_ctl all = {0, 0, NIDS_DONT_CHKSUM, 0};
        nids_register_chksum_ctl(&all, 1);
    }
    nids_register_tcp((void *)on_tcp);
    nids_run();
    nids_exit();
    printf("flows %" PRIu64 "\nclosed %" PRIu64 "\nbytes_c2s %" PRIu64 "\nbytes_s2c %" PRIu64 "\nneedles %" PRIu64 "\n",
           run.flows, run.closed, run.bytes_c2s, run.bytes_s2c, run.needles);
    return 0;
}
