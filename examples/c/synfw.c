/*
 * synfw.c - a SYN firewall on the mtcp_* API, in the spirit of mOS's simple
 * firewall sample (re-created from its described behaviour): connections
 * whose SYN matches a BPF rule are blocked (reset) as they start; the others
 * pass. In monitor mode "blocked" means reported and no longer tracked;
 * inline, the reset also reaches both ends.
 *
 * A flow picked up without a SYN (midstream) is not blocked even when its
 * first packet matches the rule: there was no SYN to judge. Packets of a
 * blocked connection that arrive after the reset would start new, midstream
 * flows; the sample remembers blocked connections and ignores those.
 *
 *   synfw -r CAPTURE -b 'tcp dst port 80' [-f CONFIG]
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtcp_api.h"

static unsigned long g_blocked, g_passed;

/* Blocked connections, as "a|b" with the two endpoints in sorted order so
 * either direction matches. A linear list: a sample, not a data structure. */
static char **g_block_keys;
static size_t g_nblock, g_capblock;

static void peer(mctx_t m, int sock, int side, char *out, size_t n)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (mtcp_getpeername(m, sock, (struct sockaddr *)&ss, &len, side) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *s = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &s->sin_addr, ip, sizeof(ip));
            port = ntohs(s->sin_port);
        } else {
            struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof(ip));
            port = ntohs(s->sin6_port);
        }
    }
    snprintf(out, n, ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, port);
}

static void conn_key(mctx_t m, int sock, char *out, size_t n)
{
    char a[80], b[80];
    peer(m, sock, MOS_SIDE_CLI, a, sizeof(a));
    peer(m, sock, MOS_SIDE_SVR, b, sizeof(b));
    if (strcmp(a, b) < 0)
        snprintf(out, n, "%s|%s", a, b);
    else
        snprintf(out, n, "%s|%s", b, a);
}

static bool was_blocked(const char *key)
{
    for (size_t i = 0; i < g_nblock; i++)
        if (strcmp(g_block_keys[i], key) == 0)
            return true;
    return false;
}

static void remember_blocked(const char *key)
{
    if (was_blocked(key))
        return;
    if (g_nblock == g_capblock) {
        size_t nc = g_capblock ? g_capblock * 2 : 64;
        char **nk = realloc(g_block_keys, nc * sizeof(*nk));
        if (!nk)
            return;
        g_block_keys = nk;
        g_capblock = nc;
    }
    char *k = strdup(key);
    if (k)
        g_block_keys[g_nblock++] = k;
}

/* The flow started with a client SYN (not a SYN/ACK, not midstream). */
static bool started_by_syn(mctx_t m, int sock)
{
    struct pkt_info pi;
    if (mtcp_getlastpkt(m, sock, MOS_SIDE_CLI, &pi) < 0)
        return false;
    return (pi.tcp_flags & (MOS_TCP_SYN | MOS_TCP_ACK)) == MOS_TCP_SYN;
}

/* A leftover of a blocked connection: stop watching it, count nothing. */
static bool ignore_leftover(mctx_t m, int sock)
{
    char key[170];
    conn_key(m, sock, key, sizeof(key));
    if (!was_blocked(key))
        return false;
    mtcp_close(m, sock);
    return true;
}

static void on_passed_start(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg);

static void on_blocked_start(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
    if (!started_by_syn(m, sock)) {
        on_passed_start(m, sock, side, ev, arg);
        return;
    }
    char c[80], s[80], key[170];
    peer(m, sock, MOS_SIDE_CLI, c, sizeof(c));
    peer(m, sock, MOS_SIDE_SVR, s, sizeof(s));
    printf("blocked %s -> %s\n", c, s);
    g_blocked++;
    conn_key(m, sock, key, sizeof(key));
    remember_blocked(key);
    mtcp_reset_conn(m, sock);
}

static void on_passed_start(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
    if (ignore_leftover(m, sock))
        return;
    g_passed++;
}

int main(int argc, char **argv)
{
    const char *capture = NULL, *conf = NULL, *rule = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "r:f:b:h")) != -1) {
        switch (opt) {
        case 'r': capture = optarg; break;
        case 'f': conf = optarg; break;
        case 'b': rule = optarg; break;
        default:
            fprintf(stderr, "usage: %s -r CAPTURE -b BPF [-f CONFIG]\n", argv[0]);
            return opt == 'h' ? 0 : 2;
        }
    }
    if (!capture || !rule) {
        fprintf(stderr, "usage: %s -r CAPTURE -b BPF [-f CONFIG]\n", argv[0]);
        return 2;
    }
    char in[4200];
    snprintf(in, sizeof(in), "file:%s", capture);
    if (mtcp_init(conf) < 0 || mtcp_config_set("io.input", in) < 0)
        return 2;
    mctx_t m = mtcp_create_context(0);
    if (!m) {
        perror("mtcp_create_context");
        return 1;
    }
    /* A flow belongs to the first stream socket whose SYN filter accepts it. */
    int blocked = mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0);
    struct monitor_filter ft = {.stream_syn_filter = rule};
    if (blocked < 0 || mtcp_bind_monitor_filter(m, blocked, &ft) < 0) {
        fprintf(stderr, "synfw: cannot use rule '%s'\n", rule);
        return 2;
    }
    int passed = mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0);
    if (passed < 0 || mtcp_register_callback(m, blocked, MOS_ON_CONN_START, MOS_HK_SND, on_blocked_start) < 0 ||
        mtcp_register_callback(m, passed, MOS_ON_CONN_START, MOS_HK_SND, on_passed_start) < 0) {
        perror("synfw: register");
        return 1;
    }
    int rc = mtcp_app_join(m);
    printf("synfw: %lu connections blocked, %lu passed\n", g_blocked, g_passed);
    mtcp_destroy_context(m);
    mtcp_destroy();
    for (size_t i = 0; i < g_nblock; i++)
        free(g_block_keys[i]);
    free(g_block_keys);
    return rc < 0 ? 1 : 0;
}
