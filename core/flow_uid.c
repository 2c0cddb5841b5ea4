/*
 * flow_uid.c - flow uids (see flow_uid.h).
 *
 * Design: a uid is a 128-bit number written as 22 base62 digits after a
 * "C" (Zeek's conn uid letter; fixed width, so uids of one run sort by flow
 * id). The number is, from the top:
 *   - 48 bits: the run's start time in ms since the epoch (core.run_ms,
 *     taken once by the host before any core starts): two runs of one
 *     instance differ here, as a restart takes far more than a millisecond;
 *   - 16 bits: the instance id (core.instance_id), which instances running
 *     at the same time are given distinct values of (a shard index, a host
 *     number);
 *   - 64 bits: the flow id, which already holds the core number (bits
 *     46..51, engine.c) and a per-core counter that is never reused.
 * So two flows share a uid only if one instance id was given to two
 * instances started in the same millisecond. The uid carries no secret and
 * is not a hash: it can be parsed back (flow_uid_parse) to find the
 * instance, run and core of a logged flow.
 */
#include "flow_uid.h"

#include <errno.h>
#include <string.h>

#define DIGITS 22 /* 62^22 > 2^128 */

static const char B62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

int flow_uid_format(uint64_t run_ms, uint16_t instance, uint64_t flow_id, char *out, size_t outlen)
{
    if (!out || outlen < FLOW_UID_LEN)
        return -EINVAL;
    /* hi:lo as four 32-bit limbs, divided by 62 digit by digit */
    uint64_t hi = (run_ms << 16) | instance;
    uint32_t limb[4] = {(uint32_t)(hi >> 32), (uint32_t)hi, (uint32_t)(flow_id >> 32), (uint32_t)flow_id};
    out[0] = 'C';
    for (int d = DIGITS; d >= 1; d--) {
        uint64_t rem = 0;
        for (int i = 0; i < 4; i++) {
            uint64_t cur = (rem << 32) | limb[i];
            limb[i] = (uint32_t)(cur / 62);
            rem = cur % 62;
        }
        out[d] = B62[rem];
    }
    out[DIGITS + 1] = '\0';
    return DIGITS + 1;
}

int flow_uid_parse(const char *uid, uint64_t *run_ms, uint16_t *instance, uint64_t *flow_id)
{
    if (!uid || uid[0] != 'C' || strlen(uid) != DIGITS + 1)
        return -EINVAL;
    uint32_t limb[4] = {0, 0, 0, 0};
    for (int d = 1; d <= DIGITS; d++) {
        const char *p = strchr(B62, uid[d]);
        if (!p || !*p)
            return -EINVAL;
        uint64_t carry = (uint64_t)(p - B62);
        for (int i = 3; i >= 0; i--) {
            uint64_t cur = (uint64_t)limb[i] * 62 + carry;
            limb[i] = (uint32_t)cur;
            carry = cur >> 32;
        }
        if (carry)
            return -EINVAL; /* beyond 128 bits */
    }
    uint64_t hi = (uint64_t)limb[0] << 32 | limb[1];
    *run_ms = hi >> 16;
    *instance = (uint16_t)hi;
    *flow_id = (uint64_t)limb[2] << 32 | limb[3];
    return 0;
}
