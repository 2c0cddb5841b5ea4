/*
 * mos_error.c - messages for the project's error codes (mos_error.h).
 *
 * The switch has no default over enum mos_error, so -Wswitch flags a code
 * added to the enum without a message; anything outside the range is a
 * -errno and goes to strerror.
 */
#include "mos_error.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

static const char *project_msg(enum mos_error e)
{
    switch (e) {
    case MOS_E_EOF: return "end of input";
    case MOS_E_OVERWRITTEN: return "bytes no longer held: overwritten in the stream buffer";
    case MOS_E_NO_PACKET: return "no current packet";
    case MOS_E_OTHER_FLOW: return "the current packet belongs to another flow";
    case MOS_E_FLOW_ENDED: return "the flow has ended";
    case MOS_E_REASSEMBLED: return "packet rebuilt from IP fragments: cannot be edited";
    case MOS_E_SNAPLEN: return "payload cut by the snaplen: its length cannot change";
    case MOS_E_PART_RANGE: return "offset and length outside the packet part";
    case MOS_E_READ_ONLY: return "read-only option";
    }
    return NULL;
}

static bool in_range(int err) { return err <= MOS_E_EOF && err >= MOS_E_LAST; }

const char *mos_error_str(int err)
{
    if (err >= 0)
        return "success";
    if (in_range(err)) {
        const char *m = project_msg((enum mos_error)err);
        if (m)
            return m;
    }
    if (err <= MOS_E_EOF)
        return "unknown mos-lua error";
    return strerror(-err);
}

int mos_error_errno(int err)
{
    if (err >= 0)
        return 0;
    switch (err) {
    case MOS_E_EOF: return ENODATA;
    case MOS_E_OVERWRITTEN: return ERANGE;
    case MOS_E_NO_PACKET: return ENODATA;
    case MOS_E_OTHER_FLOW: return EINVAL;
    case MOS_E_FLOW_ENDED: return EBADF;
    case MOS_E_REASSEMBLED: return ENOTSUP;
    case MOS_E_SNAPLEN: return ENOTSUP;
    case MOS_E_PART_RANGE: return ERANGE;
    case MOS_E_READ_ONLY: return EPERM;
    default: return err <= MOS_E_EOF ? EINVAL : -err;
    }
}
