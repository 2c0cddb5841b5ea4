/*
 * test_mos_error.c - the project's error codes (core/mos_error.h): one
 * meaning and one message per code, a range apart from -errno, and the
 * errno each maps to for the mOS-compatible API. The expected messages are
 * written out by hand here, not taken from the code under test.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "mos_error.h"
#include "mos_ffi.h"

static const struct {
    int code;
    const char *msg;
} WANT[] = {
    {MOS_E_EOF, "end of input"},
    {MOS_E_OVERWRITTEN, "bytes no longer held: overwritten in the stream buffer"},
    {MOS_E_NO_PACKET, "no current packet"},
    {MOS_E_OTHER_FLOW, "the current packet belongs to another flow"},
    {MOS_E_FLOW_ENDED, "the flow has ended"},
    {MOS_E_REASSEMBLED, "packet rebuilt from IP fragments: cannot be edited"},
    {MOS_E_SNAPLEN, "payload cut by the snaplen: its length cannot change"},
    {MOS_E_PART_RANGE, "offset and length outside the packet part"},
    {MOS_E_READ_ONLY, "read-only option"},
};
#define NWANT (sizeof(WANT) / sizeof(WANT[0]))

Test(mos_error, every_code_has_its_own_message)
{
    cr_assert_eq(NWANT, (size_t)(MOS_E_EOF - MOS_E_LAST + 1), "a code without an expected message here");
    for (size_t i = 0; i < NWANT; i++) {
        cr_expect_str_eq(mos_error_str(WANT[i].code), WANT[i].msg, "code %d", WANT[i].code);
        /* the FFI's mos_strerror is the same function, not a copy */
        cr_expect_str_eq(mos_strerror(WANT[i].code), WANT[i].msg, "mos_strerror(%d)", WANT[i].code);
        for (size_t j = 0; j < i; j++)
            cr_expect_neq(WANT[i].code, WANT[j].code, "codes %zu and %zu collide", i, j);
    }
}

/* Issue 10 defect 6: end of input, bytes overwritten and no current packet
 * all used to be -ENODATA ("No data available"). */
Test(mos_error, former_enodata_meanings_differ)
{
    cr_expect_neq(MOS_E_EOF, MOS_E_OVERWRITTEN);
    cr_expect_neq(MOS_E_EOF, MOS_E_NO_PACKET);
    cr_expect_neq(MOS_E_OVERWRITTEN, MOS_E_NO_PACKET);
    cr_expect_neq(MOS_E_EOF, -ENODATA);
    cr_expect_str_neq(mos_strerror(MOS_E_OVERWRITTEN), mos_strerror(MOS_E_EOF));
    cr_expect_str_neq(mos_strerror(MOS_E_NO_PACKET), mos_strerror(MOS_E_EOF));
    cr_expect_str_eq(mos_strerror(-ENODATA), strerror(ENODATA));
}

Test(mos_error, errno_values_keep_their_meaning)
{
    /* the project range lies below every -errno Linux uses (< 4096) */
    cr_expect_lt(MOS_E_EOF, -4095);
    cr_expect_str_eq(mos_strerror(-EINVAL), strerror(EINVAL));
    cr_expect_str_eq(mos_strerror(-ENOMEM), strerror(ENOMEM));
    cr_expect_str_eq(mos_strerror(0), "success");
    cr_expect_str_eq(mos_strerror(5), "success");
    cr_expect_str_eq(mos_strerror(MOS_E_LAST - 1), "unknown mos-lua error");
    cr_expect_str_eq(mos_strerror(-100000), "unknown mos-lua error");
}

Test(mos_error, nearest_errno_for_the_mtcp_api)
{
    cr_expect_eq(mos_error_errno(MOS_E_NO_PACKET), ENODATA);
    cr_expect_eq(mos_error_errno(MOS_E_OVERWRITTEN), ERANGE);
    cr_expect_eq(mos_error_errno(MOS_E_FLOW_ENDED), EBADF);
    cr_expect_eq(mos_error_errno(MOS_E_READ_ONLY), EPERM);
    cr_expect_eq(mos_error_errno(-EINVAL), EINVAL);
    cr_expect_eq(mos_error_errno(-ENOSPC), ENOSPC);
    cr_expect_eq(mos_error_errno(0), 0);
}
