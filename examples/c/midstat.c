/*
 * midstat.c - a connection table on the mtcp_* API, in the spirit of mOS's
 * midstat sample (re-created from its described behaviour): one line per
 * connection when it ends, with both endpoints' final inferred states and
 * the bytes each side sent, plus totals.
 *
 *   midstat -r CAPTURE [-f CONFIG]
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtcp_api.h"

struct totals {
    unsigned long conns;
    unsigned long long c2s, s2c;
};
static struct totals g_tot; /* one context, one thread: the sample's own state */

static void fmt_peer(mctx_t m, int sock, int side, char *out, size_t n)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (mtcp_getpeername(m, sock, (struct sockaddr *)&ss, &len, side) < 0) {
        snprintf(out, n, "?");
        return;
    }
    char ip[INET6_ADDRSTRLEN];
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *s = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &s->sin_addr, ip, sizeof(ip));
        snprintf(out, n, "%s:%u", ip, ntohs(s->sin_port));
    } else {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof(ip));
        snprintf(out, n, "[%s]:%u", ip, ntohs(s->sin6_port));
    }
}

static uint64_t drain(mctx_t m, int sock, int side)
{
    char buf[16384];
    uint64_t total = 0;
    ssize_t n;
    while ((n = mtcp_peek(m, sock, side, buf, sizeof(buf))) > 0)
        total += (uint64_t)n;
    return total;
}

/* Bytes each side sent, counted as they become readable (in order, gaps skipped). */
static void on_data(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
    uint64_t *count = mtcp_get_uctx(m, sock);
    if (!count) {
        count = calloc(2, sizeof(uint64_t));
        if (!count)
            return;
        mtcp_set_uctx(m, sock, count);
    }
    /* side is the receiving stack: the server receives what the client sent */
    count[side == MOS_SIDE_SVR ? 0 : 1] += drain(m, sock, side);
}

static void on_end(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
    uint64_t *count = mtcp_get_uctx(m, sock);
    uint64_t c2s = count ? count[0] : 0, s2c = count ? count[1] : 0;
    char cli[80], svr[80];
    fmt_peer(m, sock, MOS_SIDE_CLI, cli, sizeof(cli));
    fmt_peer(m, sock, MOS_SIDE_SVR, svr, sizeof(svr));
    int st_c = 0, st_s = 0;
    socklen_t l = sizeof(int);
    mtcp_getsockopt(m, sock, SOL_MONSOCKET, MOS_TCP_STATE_CLI, &st_c, &l);
    l = sizeof(int);
    mtcp_getsockopt(m, sock, SOL_MONSOCKET, MOS_TCP_STATE_SVR, &st_s, &l);
    printf("%-45s %-45s %-11s %-11s %10llu %10llu\n", cli, svr, mos_tcp_state_name(st_c), mos_tcp_state_name(st_s),
           (unsigned long long)c2s, (unsigned long long)s2c);
    g_tot.conns++;
    g_tot.c2s += c2s;
    g_tot.s2c += s2c;
    free(count);
    mtcp_set_uctx(m, sock, NULL);
}

int main(int argc, char **argv)
{
    const char *capture = NULL, *conf = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "r:f:h")) != -1) {
        switch (opt) {
        case 'r': capture = optarg; break;
        case 'f': conf = optarg; break;
        default:
            fprintf(stderr, "usage: %s -r CAPTURE [-f CONFIG]\n", argv[0]);
            return opt == 'h' ? 0 : 2;
        }
    }
    if (!capture) {
        fprintf(stderr, "usage: %s -r CAPTURE [-f CONFIG]\n", argv[0]);
        return 2;
    }
    if (mtcp_init(conf) < 0)
        return 2;
    char in[4200];
    snprintf(in, sizeof(in), "file:%s", capture);
    if (mtcp_config_set("io.input", in) < 0)
        return 2;
    mctx_t m = mtcp_create_context(0);
    if (!m) {
        perror("mtcp_create_context");
        return 1;
    }
    int s = mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0);
    if (s < 0 || mtcp_register_callback(m, s, MOS_ON_CONN_NEW_DATA, MOS_HK_RCV, on_data) < 0 ||
        mtcp_register_callback(m, s, MOS_ON_CONN_END, MOS_HK_RCV, on_end) < 0) {
        perror("midstat: register");
        return 1;
    }
    printf("%-45s %-45s %-11s %-11s %10s %10s\n", "client", "server", "cli_state", "svr_state", "c2s", "s2c");
    int rc = mtcp_app_join(m);
    printf("total: %lu connections, %llu bytes client->server, %llu bytes server->client\n", g_tot.conns,
           g_tot.c2s, g_tot.s2c);
    mtcp_destroy_context(m);
    mtcp_destroy();
    return rc < 0 ? 1 : 0;
}
