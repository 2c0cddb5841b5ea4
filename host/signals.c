/*
 * signals.c - SIGHUP (reload), SIGUSR1 (stats dump), SIGINT/SIGTERM (stop).
 *
 * Handlers only bump counters: the one kind of process-wide mutable state
 * the program has, because a signal handler has nowhere else to write. Each
 * worker remembers the counts it has acted on, so every core sees every
 * signal once, whichever thread the kernel delivered it to.
 */
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#include "host.h"

static volatile sig_atomic_t sig_hup, sig_usr1, sig_stop;

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        sig_hup++;
    else if (sig == SIGUSR1)
        sig_usr1++;
    else
        sig_stop++;
}

void host_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

unsigned host_signals_hup_count(void)
{
    return (unsigned)sig_hup;
}

int mos_host_signals(struct mos_host *h, int core)
{
    if (!h || core < 0 || (unsigned)core >= h->ncores)
        return 0;
    struct host_worker *w = &h->workers[core];
    int bits = 0;
    unsigned v = (unsigned)sig_hup;
    if (v != w->seen_hup) {
        w->seen_hup = v;
        bits |= MOS_HOST_SIG_HUP;
    }
    v = __atomic_load_n(&h->reload_requests, __ATOMIC_ACQUIRE); /* --watch, watchdog.c */
    if (v != w->seen_reload) {
        w->seen_reload = v;
        bits |= MOS_HOST_SIG_HUP;
    }
    v = (unsigned)sig_usr1;
    if (v != w->seen_usr1) {
        w->seen_usr1 = v;
        bits |= MOS_HOST_SIG_USR1;
    }
    v = (unsigned)sig_stop;
    if (v != w->seen_stop) {
        w->seen_stop = v;
        bits |= MOS_HOST_SIG_STOP;
    }
    return bits;
}

int64_t mos_host_mtime_ns(const char *path)
{
    struct stat st;
    if (!path || stat(path, &st) != 0)
        return -1;
    return (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
}
