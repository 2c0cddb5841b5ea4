/*
 * messages.c - worker messages said once per process.
 *
 * Every worker of an offline run reads the same capture, so each meets its
 * end, and a truncated file would be reported N times. mos_host_once keeps
 * the hashes of the messages already passed (the last HOST_ONCE_SLOTS; a
 * message older than that may be said again, which is harmless).
 */
#include <pthread.h>
#include <string.h>

#include <xxhash.h>

#include "host.h"

int mos_host_once(struct mos_host *h, const char *msg)
{
    if (!h || !msg)
        return 1;
    uint64_t k = XXH3_64bits(msg, strlen(msg));
    int fresh = 1;
    pthread_mutex_lock(&h->once_lock);
    unsigned n = h->once_n < HOST_ONCE_SLOTS ? h->once_n : HOST_ONCE_SLOTS;
    for (unsigned i = 0; i < n && fresh; i++)
        if (h->once_seen[i] == k)
            fresh = 0;
    if (fresh)
        h->once_seen[h->once_n++ % HOST_ONCE_SLOTS] = k;
    pthread_mutex_unlock(&h->once_lock);
    return fresh;
}
