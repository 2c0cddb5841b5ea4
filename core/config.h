/*
 * config.h - run-time configuration of the core and the host.
 *
 * The file format is deliberately small: "key = value" lines, "#" comments,
 * optional "[section]" headers that prefix keys ("[tcp]" + "timeout_established"
 * is "tcp.timeout_established"). Every key is known in advance: an unknown key
 * or a value of the wrong type is an error naming the file, the line and the
 * key (mOS silently ignored them). Durations take "s"/"ms" suffixes, sizes
 * "K"/"M"/"G" (powers of 1024).
 */
#ifndef MOS_CONFIG_H
#define MOS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum mos_checksum_policy { MOS_CSUM_AUTO = 0, MOS_CSUM_VERIFY = 1, MOS_CSUM_IGNORE = 2 };
enum mos_overlap_policy { MOS_OVERLAP_FIRST = 0, MOS_OVERLAP_LAST = 1 };

#define MOS_CONFIG_MAX_INPUTS 8
#define MOS_CONFIG_MAX_PAIRS 4
#define MOS_CONFIG_STR 256

struct mos_config {
    /* [core] */
    uint32_t cores;               /* worker cores; default 1 */
    uint32_t max_concurrency;     /* flows per core; default 262144 */
    bool midstream;               /* pick up flows without a handshake; default true */
    bool vlan_tracking;           /* VLAN ids in the flow key (Suricata's vlan.use-for-tracking); default true */
    int checksum;                 /* enum mos_checksum_policy; default auto */
    int overlap;                  /* enum mos_overlap_policy; default first */
    uint32_t instance_id;         /* in flow uids (flow_uid.h); default 0 */
    uint32_t community_id_seed;   /* Community ID seed (community_id.h); default 0 */
    uint64_t run_ms;              /* not a key: run start, ms since the epoch, for uids;
                                     0 = taken by core_create */
    /* [tcp] timeouts in ns */
    uint64_t timeout_syn;         /* half-open; default 30 s */
    uint64_t timeout_established; /* default 300 s */
    uint64_t timeout_closing;     /* FIN seen one way; default 60 s */
    uint64_t timeout_time_wait;   /* both closed / reset; default 1 s */
    /* [reassembly] sizes in bytes */
    uint32_t rcvbuf;              /* max per-side stream ring; default 256 KiB */
    uint32_t ooo_window;          /* max out-of-order bytes held per side; default 1 MiB */
    uint64_t memcap;              /* all out-of-order bytes of a core; default 256 MiB */
    uint64_t buffer_memcap;       /* all stream rings of a core; default 2 GiB */
    bool reassembly_client;       /* default true: buffer bytes the client receives */
    bool reassembly_server;       /* default true: buffer bytes the server receives */
    /* [ip] fragments */
    uint64_t frag_timeout;        /* default 30 s */
    uint64_t frag_memcap;         /* default 64 MiB */
    uint32_t frag_max_datagrams;  /* default 4096 in flight */
    /* [io] */
    char inputs[MOS_CONFIG_MAX_INPUTS][MOS_CONFIG_STR]; /* "file:PATH", "pcap:IFACE", "dpdk:PORT" */
    uint32_t ninputs;
    char inline_pairs[MOS_CONFIG_MAX_PAIRS][2][MOS_CONFIG_STR]; /* bridged port pairs */
    uint32_t npairs;
    char bpf[MOS_CONFIG_STR];     /* capture filter for live inputs */
    uint32_t snaplen;             /* default 65535 */
    char dpdk_eal[1024];          /* EAL arguments, space separated */
    uint32_t shard[2];            /* {I, N}: keep shard I of N (flow_hash_split); default 0/1 */
    /* [log] */
    int log_level;                /* 0 error, 1 warn, 2 info, 3 debug; default 1 */
    char log_file[MOS_CONFIG_STR];/* empty: stderr */
    char log_output[16];          /* file|stderr|unix-stream|unix-dgram|syslog|redis (host/log_sink.c) */
    char log_socket[MOS_CONFIG_STR]; /* unix-* and syslog socket path */
    char log_redis[MOS_CONFIG_STR];  /* HOST:PORT */
    char log_redis_key[MOS_CONFIG_STR];
    char log_redis_mode[16];      /* list|stream */
    uint64_t log_buffer;          /* bytes of records held before dropping */
    /* [lua] */
    uint32_t handler_timeout_ms;  /* a handler running longer is interrupted; default 2000 */
    char on_handler_error[16];    /* "pass" or "drop" (inline); default "pass" */
    uint32_t finish_timeout_ms;   /* whole-run hooks (on_exit, on_finish); default 600000 */
    bool strict;                  /* any handler error makes the exit status 1; default false */
};

void config_defaults(struct mos_config *c);

/* Parse a config file on top of the current values. On error returns a
 * negative errno-style code and writes "FILE:LINE: message" into err. */
int config_load_file(struct mos_config *c, const char *path, char *err, size_t errlen);
int config_load_string(struct mos_config *c, const char *text, const char *name, char *err, size_t errlen);
/* Set one key from a "key=value" string (command-line overrides). */
int config_set(struct mos_config *c, const char *key, const char *value, char *err, size_t errlen);
/* Range and consistency checks after loading. */
int config_validate(const struct mos_config *c, char *err, size_t errlen);
/* Same as config_set from one "key=value" argument (spaces around '=' ok). */
int config_set_arg(struct mos_config *c, const char *arg, char *err, size_t errlen);
/* Write c in the file syntax, one [section] per group; the output loads back
 * to the same values. */
void config_dump(const struct mos_config *c, FILE *out);
/* Every key with its type, default and a one-line explanation. */
void config_help(FILE *out);
/* The key table's names ("tcp.timeout_syn"), in table order; NULL past the end. */
unsigned config_key_count(void);
const char *config_key_name(unsigned i);

#endif
