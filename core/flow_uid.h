/*
 * flow_uid.h - a flow's uid: unique across cores, instances and restarts,
 * printed in Zeek's style ("C" + base62).
 */
#ifndef MOS_FLOW_UID_H
#define MOS_FLOW_UID_H

#include <stddef.h>
#include <stdint.h>

/* "C" + 22 base62 digits + NUL */
#define FLOW_UID_LEN 24

/* The uid of flow `flow_id` (unique per core, core number inside) of the
 * run that started at `run_ms` (ms since the epoch) on instance `instance`.
 * Writes a NUL-terminated string into out (>= FLOW_UID_LEN bytes); returns
 * its length or -EINVAL. */
int flow_uid_format(uint64_t run_ms, uint16_t instance, uint64_t flow_id, char *out, size_t outlen);

/* Inverse of flow_uid_format (tests, tools): 0 or -EINVAL. */
int flow_uid_parse(const char *uid, uint64_t *run_ms, uint16_t *instance, uint64_t *flow_id);

#endif
