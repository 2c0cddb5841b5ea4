/*
 * main.c - the mos-lua program: options, config, inputs, one worker per core.
 *
 * Exit codes (also in --help): 0 ok; 1 runtime error (input unreadable, a
 * core failed, an on_finish function failed, or under lua.strict / --strict
 * any handler error); 2 usage, config or script error; 3 a handler stuck past
 * lua.handler_timeout that the watchdog could not interrupt (watchdog.c).
 * Every error message names the file (and line, when there is one) it is
 * about.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "host.h"
#include "log_sink.h"
#include "io_setup.h"

#ifndef MOS_VERSION
#define MOS_VERSION "0.0.0"
#endif

static void usage(FILE *out)
{
    fputs("usage: mos-lua [options] SCRIPT [CONFIG]\n"
          "\n"
          "Run the middlebox logic in the Lua SCRIPT over packets. CONFIG is a\n"
          "\"key = value\" file (see docs); -c overrides single keys.\n"
          "\n"
          "  -r, --read FILE       read packets from a capture (pcap or pcapng)\n"
          "  -i, --interface IF    live input: IF (libpcap) or dpdk:PORT\n"
          "  -n, --cores N         worker cores (default: config core.cores, 1)\n"
          "  -s KEY=VALUE          script parameter, in mos.param (repeatable)\n"
          "  -c KEY=VALUE          config override (repeatable)\n"
          "      --check           load config and script, process nothing\n"
          "      --stats FILE      write counters as JSON at exit and on SIGUSR1\n"
          "      --watch           reload the script when its file changes\n"
          "      --pace SPEED      replay -r captures at SPEED times their own rate\n"
          "                        (1: as captured; timers and reloads as live)\n"
          "      --strict          exit with status 1 if any handler raised an error\n"
          "                        (config lua.strict)\n"
          "  -v, --verbose         more log output\n"
          "  -q, --quiet           errors only\n"
          "  -h, --help            this text\n"
          "  -V, --version         print the version\n"
          "\n"
          "Signals: SIGHUP reloads the script (a failing script keeps the old one)\n"
          "and reopens the log file,\n"
          "SIGUSR1 writes the --stats file, SIGINT/SIGTERM stop after the current\n"
          "packet and end every flow.\n"
          "\n"
          "Exit status: 0 ok, 1 runtime error (input unreadable, core failure, an\n"
          "on_finish error, or any handler error under --strict), 2 usage, config or script error, 3 a handler ran past\n"
          "lua.handler_timeout and could not be interrupted (the watchdog reports\n"
          "it on stderr after the timeout, tries to stop it, and exits after 3x).\n",
          out);
}

static int split_kv(const char *arg, char *key, size_t keylen, const char **value)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || (size_t)(eq - arg) >= keylen)
        return -EINVAL;
    memcpy(key, arg, (size_t)(eq - arg));
    key[eq - arg] = '\0';
    *value = eq + 1;
    return 0;
}

/* -c overrides are applied after the config file, in command-line order. */
struct override { const char *arg; };

static int parse_args(struct mos_host *h, int argc, char **argv, struct override *ov, int *nov)
{
    enum { OPT_CHECK = 256, OPT_STATS, OPT_WATCH, OPT_STRICT, OPT_PACE };
    static const struct option longopts[] = {
        {"read", required_argument, NULL, 'r'},    {"interface", required_argument, NULL, 'i'},
        {"cores", required_argument, NULL, 'n'},   {"check", no_argument, NULL, OPT_CHECK},
        {"stats", required_argument, NULL, OPT_STATS}, {"watch", no_argument, NULL, OPT_WATCH},
        {"strict", no_argument, NULL, OPT_STRICT}, {"pace", required_argument, NULL, OPT_PACE},
        {"verbose", no_argument, NULL, 'v'},       {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},          {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    int opt;
    char *end;
    while ((opt = getopt_long(argc, argv, "r:i:n:s:c:vqhV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'r':
            h->capture = optarg;
            break;
        case 'i':
            h->iface = optarg;
            break;
        case 'n': {
            errno = 0;
            long n = strtol(optarg, &end, 10);
            if (errno || *end || n < 1 || n > HOST_MAX_CORES) {
                fprintf(stderr, "mos-lua: -n: expected 1..%d, got '%s'\n", HOST_MAX_CORES, optarg);
                return -EINVAL;
            }
            h->ncores = (unsigned)n;
            break;
        }
        case 's': {
            char key[128];
            const char *v;
            if (h->nparams >= HOST_MAX_PARAMS || split_kv(optarg, key, sizeof(key), &v) != 0) {
                fprintf(stderr, "mos-lua: -s: expected KEY=VALUE, got '%s'\n", optarg);
                return -EINVAL;
            }
            h->params[h->nparams][0] = strndup(optarg, (size_t)(v - 1 - optarg));
            h->params[h->nparams][1] = v;
            h->nparams++;
            break;
        }
        case 'c':
            if (*nov >= 256) {
                fprintf(stderr, "mos-lua: too many -c options\n");
                return -EINVAL;
            }
            ov[(*nov)++].arg = optarg;
            break;
        case OPT_CHECK:
            h->check = true;
            break;
        case OPT_STATS:
            h->stats_file = optarg;
            break;
        case OPT_WATCH:
            h->watch = true;
            break;
        case OPT_STRICT:
            h->strict = true;
            break;
        case OPT_PACE: {
            errno = 0;
            double v = strtod(optarg, &end);
            if (errno || *end || !(v > 0 && v <= 1e6)) {
                fprintf(stderr, "mos-lua: --pace: expected a speed > 0 (1 = as captured), got '%s'\n", optarg);
                return -EINVAL;
            }
            h->pace = v;
            break;
        }
        case 'v':
            h->verbosity = 2;
            break;
        case 'q':
            h->verbosity = 0;
            break;
        case 'h':
            usage(stdout);
            exit(HOST_EXIT_OK);
        case 'V':
            printf("mos-lua %s\n", MOS_VERSION);
            exit(HOST_EXIT_OK);
        default:
            usage(stderr);
            return -EINVAL;
        }
    }
    if (optind >= argc || argc - optind > 2) {
        fprintf(stderr, "mos-lua: expected SCRIPT [CONFIG]\n");
        usage(stderr);
        return -EINVAL;
    }
    h->script = argv[optind];
    if (optind + 1 < argc)
        h->config_file = argv[optind + 1];
    return 0;
}

static int load_config(struct mos_host *h, struct override *ov, int nov)
{
    char err[512];
    config_defaults(&h->cfg);
    if (h->config_file && config_load_file(&h->cfg, h->config_file, err, sizeof(err)) < 0) {
        fprintf(stderr, "mos-lua: %s\n", err);
        return -EINVAL;
    }
    for (int i = 0; i < nov; i++) {
        char key[128];
        const char *v;
        if (split_kv(ov[i].arg, key, sizeof(key), &v) != 0) {
            fprintf(stderr, "mos-lua: -c: expected KEY=VALUE, got '%s'\n", ov[i].arg);
            return -EINVAL;
        }
        if (config_set(&h->cfg, key, v, err, sizeof(err)) < 0) {
            fprintf(stderr, "mos-lua: -c %s: %s\n", ov[i].arg, err);
            return -EINVAL;
        }
    }
    if (h->ncores)
        h->cfg.cores = h->ncores;
    if (h->strict)
        h->cfg.strict = true;
    if (config_validate(&h->cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "mos-lua: %s%s%s\n", h->config_file ? h->config_file : "config",
                h->config_file ? ": " : ": ", err);
        return -EINVAL;
    }
    h->ncores = h->cfg.cores ? h->cfg.cores : 1;
    if (h->ncores > HOST_MAX_CORES) {
        fprintf(stderr, "mos-lua: at most %d cores\n", HOST_MAX_CORES);
        return -EINVAL;
    }
    return 0;
}

/* A checksum policy can drop a whole capture (one recorded after its
 * checksums were broken): never silently. Said once, for all cores. */
static void note_checksum_drops(struct mos_host *h)
{
    uint64_t in = 0, ip = 0, tcp = 0;
    for (unsigned i = 0; i < h->ncores; i++) {
        const struct mos_counters *k = core_counters(h->workers[i].core);
        in += k->pkts_in;
        ip += k->drop_ip_bad_checksum;
        tcp += k->drop_tcp_bad_checksum;
    }
    if (ip + tcp == 0)
        return;
    static const char *const policy[] = {"auto", "verify", "ignore"};
    unsigned pol = h->cfg.checksum < 3 ? (unsigned)h->cfg.checksum : 0;
    fprintf(stderr,
            "mos-lua: warning: %llu of %llu packets (%.1f%%) were dropped for bad checksums (IP %llu, TCP %llu) "
            "under core.checksum = %s; -c core.checksum=ignore keeps them (ORPHAN handlers see them, "
            "arg = mos.ORPHAN_BAD_IP_CHECKSUM or mos.ORPHAN_BAD_TCP_CHECKSUM)\n",
            (unsigned long long)(ip + tcp), (unsigned long long)in, in ? 100.0 * (double)(ip + tcp) / (double)in : 0.0,
            (unsigned long long)ip, (unsigned long long)tcp, policy[pol]);
}

static void *worker_thread(void *arg)
{
    struct host_worker *w = arg;
    w->exit_code = host_worker_run(w->host, w);
    io_setup_worker_done(w->host, (unsigned)w->id);
    return NULL;
}

int main(int argc, char **argv)
{
    static struct mos_host host; /* large (config + workers): not on the stack */
    struct mos_host *h = &host;
    /* first: opening or reading an input may block (a FIFO without a
     * writer), and a SIGHUP or SIGUSR1 meanwhile must not kill us */
    host_signals_install();
    h->verbosity = 1;
    pthread_mutex_init(&h->stats_lock, NULL);
    pthread_mutex_init(&h->once_lock, NULL);
    struct override ov[256];
    int nov = 0;
    if (parse_args(h, argc, argv, ov, &nov) < 0)
        return HOST_EXIT_USAGE;
    if (load_config(h, ov, nov) < 0)
        return HOST_EXIT_USAGE;
    /* one run start for every core's flow uids (core/flow_uid.c) */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    h->cfg.run_ms = (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
    if (log_sink_open(h) < 0)
        return HOST_EXIT_USAGE;
    int rc = io_setup_open(h);
    if (rc != HOST_EXIT_OK) {
        io_setup_close(h);
        return rc;
    }

    for (unsigned i = 0; i < h->ncores; i++) {
        struct host_worker *w = &h->workers[i];
        w->id = (int)i;
        w->host = h;
        int e = core_create(&h->cfg, (int)i, &w->core);
        if (e < 0) {
            fprintf(stderr, "mos-lua: core %u: %s\n", i, strerror(-e));
            return HOST_EXIT_RUNTIME;
        }
        if (w->io)
            core_set_io(w->core, w->io);
    }
    if ((rc = io_setup_start(h)) != HOST_EXIT_OK) {
        io_setup_close(h);
        return rc;
    }

    if ((rc = host_watchdog_start(h)) < 0) {
        fprintf(stderr, "mos-lua: cannot start the watchdog thread: %s\n", strerror(-rc));
        io_setup_close(h);
        return HOST_EXIT_RUNTIME;
    }

    if (h->ncores == 1) {
        h->workers[0].exit_code = host_worker_run(h, &h->workers[0]);
    } else {
        for (unsigned i = 0; i < h->ncores; i++)
            pthread_create(&h->workers[i].thread, NULL, worker_thread, &h->workers[i]);
        for (unsigned i = 0; i < h->ncores; i++)
            pthread_join(h->workers[i].thread, NULL);
    }
    rc = HOST_EXIT_OK;
    for (unsigned i = 0; i < h->ncores; i++)
        if (h->workers[i].exit_code > rc)
            rc = h->workers[i].exit_code;
    if (!h->check) {
        int fr = host_worker_finish(&h->workers[0]); /* mos.on_finish, once */
        if (fr > rc)
            rc = fr;
    }
    if (!h->check && h->verbosity >= 1)
        note_checksum_drops(h);
    if (!h->check && h->cfg.strict) {
        uint64_t nerr = 0;
        for (unsigned i = 0; i < h->ncores; i++)
            nerr += core_counters(h->workers[i].core)->handler_errors;
        if (nerr > 0) {
            fprintf(stderr, "mos-lua: %llu handler error%s (strict mode: exit status 1)\n",
                    (unsigned long long)nerr, nerr == 1 ? "" : "s");
            if (rc == HOST_EXIT_OK)
                rc = HOST_EXIT_RUNTIME;
        }
    }
    log_sink_close(h); /* every record written or counted as dropped, for --stats */
    int se = h->check ? 0 : host_stats_write(h);
    if (se < 0) {
        fprintf(stderr, "mos-lua: --stats %s: %s\n", h->stats_file, strerror(-se));
        if (rc == HOST_EXIT_OK)
            rc = HOST_EXIT_RUNTIME;
    }
    host_watchdog_stop(h); /* before any Lua state goes away */
    for (unsigned i = 0; i < h->ncores; i++) {
        struct host_worker *w = &h->workers[i];
        host_worker_close_lua(w);
        core_destroy(w->core);
    }
    io_setup_close(h);
    log_sink_free(h);
    for (int i = 0; i < h->nparams; i++)
        free((void *)h->params[i][0]);
    return rc;
}
