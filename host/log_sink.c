/*
 * log_sink.c - the log output (see log_sink.h).
 *
 * Design: every core's Lua state encodes its records itself and hands each
 * line to mos_log_write(), which only copies it into a FIFO under a mutex
 * and returns: the packet path never waits for a disk, a socket or a
 * server. One writer thread owns the output and drains the FIFO in
 * batches. So records keep the order in which the cores handed them over
 * (one core's records in its own order).
 *
 * Bound: the FIFO holds at most log.buffer bytes of records, counting the
 * ones sent but not yet confirmed. A record that does not fit is dropped at
 * once and counted (log_records_dropped): an output that is away costs a
 * bounded amount of memory and never stops packet processing.
 *
 * Confirmation, per output, decides when a record leaves the FIFO:
 *   - file, stderr: write(2) returned;
 *   - syslog (a datagram to /dev/log or log.socket, RFC 3164 header) and
 *     unix-dgram: send(2) returned (the kernel gives no way to know whether
 *     a datagram reader read a datagram before it died);
 *   - unix-stream: the reader has read every byte written so far: SIOCOUTQ
 *     (bytes the peer has not consumed) reads 0 while the peer is still
 *     connected. The writer sends a batch, then waits for that, so a reader
 *     that dies takes at most one unconfirmed batch with it;
 *   - redis: the server's reply to the RPUSH or XADD (pipelined per batch).
 * When the output fails (EPIPE, ECONNRESET, a redis I/O error...) the
 * records sent but not confirmed are dropped and counted, never sent again:
 * a record is written at most once, so whatever the reader got, it got
 * once, in order; the records not yet sent wait in the FIFO and go out on
 * the next connection. The writer reconnects with a backoff from 100 ms to
 * 2 s and says on stderr when the output goes away and comes back.
 *
 * A file is reopened on SIGHUP (logrotate's "move, then HUP"): the writer
 * polls the signal count every 100 ms at most.
 *
 * At exit, log_sink_close() gives the writer ~2 s to get the held records
 * out (an output that is away gets that long to come back), then counts
 * whatever is left as dropped, so --stats adds up: every record handed
 * over is written or dropped.
 */
#define _GNU_SOURCE
#include "log_sink.h"

#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <linux/sockios.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "host.h"
#include "mos_host.h"

#define BATCH_RECS 256               /* records per write round */
#define BATCH_BYTES (256u << 10)     /* and bytes: what one stream socket buffer holds, roughly */
#define BACKOFF_MIN_NS 100000000ull  /* first reconnect delay */
#define BACKOFF_MAX_NS 2000000000ull
#define CLOSE_GRACE_NS 2000000000ull /* at exit: time left to get held records out */
#define IO_TIMEOUT_MS 1000           /* one blocked write or redis round trip, at most */

enum out_kind { OUT_FILE, OUT_STDERR, OUT_USTREAM, OUT_UDGRAM, OUT_SYSLOG, OUT_REDIS };

struct rec {
    struct rec *next;
    uint32_t len;   /* bytes of data, the final '\n' included */
    char data[];
};

struct log_sink {
    struct mos_host *h;
    enum out_kind kind;
    pthread_t thread;
    bool started;
    /* shared with producers, under lock */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct rec *head, *tail;   /* every record held: sent-unconfirmed, then unsent */
    struct rec *unsent;        /* first record not yet sent (NULL: none) */
    uint64_t held_bytes, cap;
    uint64_t written, dropped, reconnects;
    bool stop;
    uint64_t stop_deadline;
    /* writer thread only */
    int fd;
    redisContext *redis;
    bool connected, ever_connected, said_down;
    uint64_t next_try, backoff;
    unsigned hup_seen;
    char err[256];
};

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static const char *target(const struct log_sink *s)
{
    const struct mos_config *c = &s->h->cfg;
    switch (s->kind) {
    case OUT_FILE: return c->log_file;
    case OUT_STDERR: return "stderr";
    case OUT_SYSLOG: return c->log_socket[0] ? c->log_socket : "/dev/log";
    case OUT_REDIS: return c->log_redis;
    default: return c->log_socket;
    }
}

/* ------------------------------------------------------------ producers */

int mos_log_write(struct mos_host *h, const char *line, uint32_t len)
{
    struct log_sink *s = h ? h->log : NULL;
    if (!line)
        return -EINVAL;
    if (!s) { /* before the sink exists (or without the host): stderr */
        fwrite(line, 1, len, stderr);
        fputc('\n', stderr);
        return 0;
    }
    size_t need = sizeof(struct rec) + (size_t)len + 1;
    pthread_mutex_lock(&s->lock);
    if (s->stop || s->held_bytes + need > s->cap) {
        s->dropped++;
        pthread_mutex_unlock(&s->lock);
        return -ENOBUFS;
    }
    s->held_bytes += need; /* reserved: the copy happens outside the lock */
    pthread_mutex_unlock(&s->lock);
    struct rec *r = malloc(need);
    if (!r) {
        pthread_mutex_lock(&s->lock);
        s->held_bytes -= need;
        s->dropped++;
        pthread_mutex_unlock(&s->lock);
        return -ENOMEM;
    }
    r->next = NULL;
    r->len = len + 1;
    memcpy(r->data, line, len);
    r->data[len] = '\n';
    pthread_mutex_lock(&s->lock);
    if (s->tail)
        s->tail->next = r;
    else
        s->head = r;
    s->tail = r;
    if (!s->unsent)
        s->unsent = r;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

/* ------------------------------------------------------------ the FIFO (writer side) */

static size_t rec_bytes(const struct rec *r) { return sizeof(*r) + r->len; }

/* Records head..upto (exclusive) leave: confirmed (written) or given up. */
static void release_upto(struct log_sink *s, const struct rec *upto, bool confirmed)
{
    pthread_mutex_lock(&s->lock);
    while (s->head && s->head != upto && s->head != s->unsent) {
        struct rec *r = s->head;
        s->head = r->next;
        if (!s->head)
            s->tail = NULL;
        s->held_bytes -= rec_bytes(r);
        if (confirmed)
            s->written++;
        else
            s->dropped++;
        free(r);
    }
    pthread_mutex_unlock(&s->lock);
}

/* Up to BATCH_RECS unsent records, marked sent; returns how many, *first. */
static int take_batch(struct log_sink *s, struct rec **first)
{
    pthread_mutex_lock(&s->lock);
    struct rec *r = s->unsent;
    *first = r;
    int n = 0;
    size_t bytes = 0;
    while (r && n < BATCH_RECS && (n == 0 || bytes + r->len <= BATCH_BYTES)) {
        bytes += r->len;
        n++;
        r = r->next;
    }
    s->unsent = r;
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* ------------------------------------------------------------ outputs */

static void disconnect(struct log_sink *s, const char *why)
{
    if (s->redis) {
        redisFree(s->redis);
        s->redis = NULL;
    }
    if (s->fd >= 0 && s->kind != OUT_STDERR)
        close(s->fd);
    s->fd = -1;
    bool was = s->connected;
    s->connected = false;
    /* sent, unconfirmed: given up (written at most once) */
    release_upto(s, NULL, false);
    if (was && why) {
        fprintf(stderr, "mos-lua: log output %s went away (%s); records are held (log.buffer) and it is retried\n",
                target(s), why);
        s->said_down = true;
    }
    s->next_try = mono_ns() + s->backoff;
}

static int open_unix(struct log_sink *s, int type)
{
    const char *path = target(s);
    struct sockaddr_un a;
    memset(&a, 0, sizeof(a));
    a.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(a.sun_path)) {
        snprintf(s->err, sizeof(s->err), "socket path too long");
        return -ENAMETOOLONG;
    }
    memcpy(a.sun_path, path, strlen(path));
    int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        int e = errno;
        close(fd);
        snprintf(s->err, sizeof(s->err), "%s", strerror(e));
        return -e;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    s->fd = fd;
    return 0;
}

static int open_redis(struct log_sink *s)
{
    char host[MOS_CONFIG_STR];
    snprintf(host, sizeof(host), "%s", s->h->cfg.log_redis);
    char *colon = strrchr(host, ':');
    int port = 6379;
    if (colon) {
        *colon = '\0';
        port = atoi(colon + 1);
    }
    struct timeval tv = {.tv_sec = IO_TIMEOUT_MS / 1000, .tv_usec = (IO_TIMEOUT_MS % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    if (!c || c->err) {
        snprintf(s->err, sizeof(s->err), "%s", c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        return -ECONNREFUSED;
    }
    redisSetTimeout(c, tv);
    s->redis = c;
    return 0;
}

static int connect_out(struct log_sink *s)
{
    int rc = 0;
    s->err[0] = '\0';
    switch (s->kind) {
    case OUT_STDERR: s->fd = STDERR_FILENO; break;
    case OUT_FILE:
        s->fd = open(target(s), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (s->fd < 0) {
            rc = -errno;
            snprintf(s->err, sizeof(s->err), "%s", strerror(errno));
        }
        break;
    case OUT_USTREAM: rc = open_unix(s, SOCK_STREAM); break;
    case OUT_UDGRAM:
    case OUT_SYSLOG: rc = open_unix(s, SOCK_DGRAM); break;
    case OUT_REDIS: rc = open_redis(s); break;
    }
    if (rc < 0)
        return rc;
    if (s->ever_connected) {
        pthread_mutex_lock(&s->lock);
        s->reconnects++;
        pthread_mutex_unlock(&s->lock);
    }
    if (s->said_down) {
        fprintf(stderr, "mos-lua: log output %s is back\n", target(s));
        s->said_down = false;
    }
    s->ever_connected = s->connected = true;
    s->backoff = BACKOFF_MIN_NS;
    return 0;
}

/* Wait until fd is writable (or the peer hung up): 0, or -EPIPE / -ETIMEDOUT. */
static int wait_out(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int n = poll(&p, 1, ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    if (n == 0)
        return -ETIMEDOUT;
    if (p.revents & (POLLHUP | POLLERR))
        return -EPIPE;
    return 0;
}

/* The whole of buf on a byte stream (file, stderr, stream socket). */
static int write_all(struct log_sink *s, const char *buf, size_t len)
{
    uint64_t until = mono_ns() + IO_TIMEOUT_MS * 1000000ull;
    while (len > 0) {
        ssize_t n = s->kind == OUT_USTREAM ? send(s->fd, buf, len, MSG_NOSIGNAL) : write(s->fd, buf, len);
        if (n > 0) {
            buf += n, len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && mono_ns() < until) {
            int w = wait_out(s->fd, 50);
            if (w == -EPIPE)
                return -EPIPE;
            continue;
        }
        return n < 0 ? -errno : -EIO;
    }
    return 0;
}

/* Stream socket: every byte written so far read by a live peer? 1 yes,
 * 0 not yet, < 0 the peer is gone. outq first, liveness second: a peer
 * that closes is marked hung up before its unread bytes are purged (which
 * also brings outq to 0), so 0 followed by "still connected" is a read. */
static int stream_all_read(int fd)
{
    int outq = 0;
    if (ioctl(fd, SIOCOUTQ, &outq) != 0)
        return -errno;
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
    if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR)))
        return -EPIPE;
    return outq == 0;
}

static int send_stream(struct log_sink *s, struct rec *first, int n)
{
    /* one buffer per batch: records are small and a batch is bounded */
    size_t total = 0;
    struct rec *r = first;
    for (int i = 0; i < n; i++) {
        total += r->len;
        r = i + 1 < n ? r->next : NULL; /* never past the batch: producers link there */
    }
    char *buf = malloc(total);
    if (!buf)
        return -ENOMEM;
    size_t off = 0;
    r = first;
    for (int i = 0; i < n; i++) {
        memcpy(buf + off, r->data, r->len);
        off += r->len;
        r = i + 1 < n ? r->next : NULL;
    }
    int rc = write_all(s, buf, total);
    free(buf);
    if (rc < 0 || s->kind != OUT_USTREAM)
        return rc;
    /* confirmation: wait for the reader to take it all */
    uint64_t until = mono_ns() + 10 * IO_TIMEOUT_MS * 1000000ull;
    for (unsigned spin = 0;; spin++) {
        int a = stream_all_read(s->fd);
        if (a < 0)
            return a;
        if (a == 1)
            return 0;
        if (mono_ns() > until)
            return -ETIMEDOUT; /* a reader that stopped reading: treated as gone */
        struct timespec ts = {0, spin < 100 ? 20000 : 1000000};
        nanosleep(&ts, NULL);
    }
}

static int send_dgrams(struct log_sink *s, struct rec *first, int n)
{
    char hdr[128];
    size_t hlen = 0;
    if (s->kind == OUT_SYSLOG) {
        /* RFC 3164: <PRI>Mmm dd hh:mm:ss TAG[pid]: ; facility user (1), severity info (6) */
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        char ts[32];
        strftime(ts, sizeof(ts), "%b %e %H:%M:%S", &tm);
        hlen = (size_t)snprintf(hdr, sizeof(hdr), "<14>%s mos-lua[%d]: ", ts, (int)getpid());
    }
    struct rec *r = first;
    for (int i = 0; i < n; i++, r = i < n ? r->next : NULL) {
        struct iovec iov[2] = {{hdr, hlen}, {r->data, r->len - 1}}; /* no '\n' in a datagram */
        struct msghdr m = {.msg_iov = hlen ? iov : iov + 1, .msg_iovlen = hlen ? 2 : 1};
        uint64_t until = mono_ns() + IO_TIMEOUT_MS * 1000000ull;
        for (;;) {
            if (sendmsg(s->fd, &m, MSG_NOSIGNAL) >= 0)
                break;
            if (errno == EINTR)
                continue;
            if ((errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) && mono_ns() < until) {
                wait_out(s->fd, 50);
                continue;
            }
            int e = errno;
            /* the ones before this went out; this one and the rest did not */
            release_upto(s, r, true);
            pthread_mutex_lock(&s->lock);
            s->unsent = r;
            pthread_mutex_unlock(&s->lock);
            if (e == EMSGSIZE) { /* this record can never go: drop it alone */
                pthread_mutex_lock(&s->lock);
                struct rec *after = r->next;
                s->unsent = after;
                pthread_mutex_unlock(&s->lock);
                release_upto(s, after, false);
                return 0;
            }
            return -e;
        }
    }
    return 0;
}

static int send_redis(struct log_sink *s, struct rec *first, int n)
{
    const struct mos_config *c = &s->h->cfg;
    bool stream = strcmp(c->log_redis_mode, "stream") == 0;
    struct rec *r = first;
    for (int i = 0; i < n; i++, r = i < n ? r->next : NULL) {
        int rc = stream ? redisAppendCommand(s->redis, "XADD %s * event %b", c->log_redis_key, r->data,
                                             (size_t)(r->len - 1))
                        : redisAppendCommand(s->redis, "RPUSH %s %b", c->log_redis_key, r->data,
                                             (size_t)(r->len - 1));
        if (rc != REDIS_OK)
            return -EIO;
    }
    r = first;
    for (int i = 0; i < n; i++) {
        struct rec *next = i + 1 < n ? r->next : NULL; /* r is freed once confirmed; NULL: up to unsent */
        redisReply *rep = NULL;
        if (redisGetReply(s->redis, (void **)&rep) != REDIS_OK || !rep) {
            snprintf(s->err, sizeof(s->err), "%s", s->redis->errstr);
            release_upto(s, r, true); /* the replies that came were confirmations */
            return -EIO;
        }
        bool refused = rep->type == REDIS_REPLY_ERROR;
        if (refused && !s->said_down) /* e.g. WRONGTYPE: the server took it and said no */
            fprintf(stderr, "mos-lua: log output redis %s: %s\n", c->log_redis_key, rep->str);
        freeReplyObject(rep);
        release_upto(s, next, !refused);
        r = next;
    }
    return 0;
}

static void on_hup(struct log_sink *s)
{
    unsigned hup = host_signals_hup_count();
    if (hup == s->hup_seen)
        return;
    s->hup_seen = hup;
    if (s->kind == OUT_FILE && s->connected) {
        /* logrotate moved the file: the next record opens a new one */
        close(s->fd);
        s->fd = -1;
        s->connected = false;
        s->next_try = 0;
    }
}

static void *writer_main(void *arg)
{
    struct log_sink *s = arg;
    /* A write to a peer that went away (hiredis writes with write(2)) must
     * fail with EPIPE here, not kill the process: SIGPIPE is a per-thread
     * signal, blocked in this thread only. */
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, NULL);
    for (;;) {
        pthread_mutex_lock(&s->lock);
        while (!s->stop && !(s->unsent && (s->connected || mono_ns() >= s->next_try))) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            uint64_t wait_ns = 100000000ull; /* SIGHUP is polled at this pace */
            if (s->unsent && !s->connected) {
                uint64_t now = mono_ns();
                if (s->next_try > now && s->next_try - now < wait_ns)
                    wait_ns = s->next_try - now;
            }
            ts.tv_nsec += (long)wait_ns;
            ts.tv_sec += ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&s->cond, &s->lock, &ts);
            pthread_mutex_unlock(&s->lock);
            on_hup(s);
            pthread_mutex_lock(&s->lock);
        }
        bool stopping = s->stop;
        bool empty = !s->unsent;
        uint64_t deadline = s->stop_deadline;
        pthread_mutex_unlock(&s->lock);
        if (stopping && (empty || mono_ns() >= deadline))
            break;
        on_hup(s);
        if (!s->connected) {
            if (mono_ns() < s->next_try) {
                struct timespec ts = {0, 10000000};
                nanosleep(&ts, NULL);
                continue;
            }
            if (connect_out(s) < 0) {
                if (!s->said_down) {
                    fprintf(stderr, "mos-lua: log output %s: %s; records are held (log.buffer) and it is retried\n",
                            target(s), s->err[0] ? s->err : "cannot open");
                    s->said_down = true;
                }
                s->next_try = mono_ns() + s->backoff;
                s->backoff = s->backoff * 2 > BACKOFF_MAX_NS ? BACKOFF_MAX_NS : s->backoff * 2;
                continue;
            }
        }
        struct rec *first;
        int n = take_batch(s, &first);
        if (n == 0)
            continue;
        int rc;
        switch (s->kind) {
        case OUT_REDIS: rc = send_redis(s, first, n); break;
        case OUT_UDGRAM:
        case OUT_SYSLOG: rc = send_dgrams(s, first, n); break;
        default: rc = send_stream(s, first, n); break;
        }
        if (rc < 0) {
            disconnect(s, s->err[0] && s->kind == OUT_REDIS ? s->err : strerror(-rc));
            continue;
        }
        release_upto(s, NULL, true);
    }
    return NULL;
}

/* ------------------------------------------------------------ lifecycle */

int log_sink_open(struct mos_host *h)
{
    static const char *const names[] = {"file", "stderr", "unix-stream", "unix-dgram", "syslog", "redis"};
    struct log_sink *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->h = h;
    s->fd = -1;
    s->kind = OUT_FILE;
    for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++)
        if (strcmp(h->cfg.log_output, names[i]) == 0)
            s->kind = (enum out_kind)i;
    if (s->kind == OUT_FILE && !h->cfg.log_file[0])
        s->kind = OUT_STDERR;
    if ((s->kind == OUT_USTREAM || s->kind == OUT_UDGRAM) && !h->cfg.log_socket[0]) {
        fprintf(stderr, "mos-lua: log.output = %s needs log.socket (a Unix socket path)\n", h->cfg.log_output);
        free(s);
        return -EINVAL;
    }
    s->cap = h->cfg.log_buffer;
    s->backoff = BACKOFF_MIN_NS;
    s->hup_seen = host_signals_hup_count();
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    /* A file must open now (as before: a typo is a startup error); a
     * network output may come later. */
    if (s->kind == OUT_FILE || s->kind == OUT_STDERR) {
        if (connect_out(s) < 0) {
            fprintf(stderr, "mos-lua: cannot open log file %s: %s\n", target(s), s->err);
            free(s);
            return -EINVAL;
        }
    }
    int e = pthread_create(&s->thread, NULL, writer_main, s);
    if (e != 0) {
        if (s->fd >= 0 && s->kind != OUT_STDERR)
            close(s->fd);
        free(s);
        return -e;
    }
    s->started = true;
    h->log = s;
    return 0;
}

void log_sink_close(struct mos_host *h)
{
    struct log_sink *s = h->log;
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->stop = true;
    s->stop_deadline = mono_ns() + CLOSE_GRACE_NS;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    if (s->started)
        pthread_join(s->thread, NULL);
    s->unsent = NULL;
    release_upto(s, NULL, false); /* whatever could not go out in time */
    if (s->redis)
        redisFree(s->redis);
    if (s->fd >= 0 && s->kind != OUT_STDERR)
        close(s->fd);
    /* keep the figures for the final --stats; records are no longer taken */
    s->redis = NULL;
    s->fd = -1;
}

void log_sink_stats(struct mos_host *h, struct log_sink_stats *out)
{
    memset(out, 0, sizeof(*out));
    struct log_sink *s = h->log;
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    out->written = s->written;
    out->dropped = s->dropped;
    out->reconnects = s->reconnects;
    pthread_mutex_unlock(&s->lock);
}

void log_sink_free(struct mos_host *h)
{
    struct log_sink *s = h->log;
    if (!s)
        return;
    log_sink_close(h);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s);
    h->log = NULL;
}
