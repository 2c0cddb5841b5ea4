/*
 * mos_error.h - the project's error codes: one meaning per code.
 *
 * Functions of the core and the bindings return >= 0, or a negative code:
 * either one of the codes below (the project's own range, named by
 * mos_error_str) or -errno with its usual system meaning (-EINVAL a bad
 * argument, -ENOMEM, -ENOSPC...). The project range starts at -4096, below
 * every -errno value (Linux keeps errno < 4096), so the two never collide
 * and a -errno passed through from libc, libpcap or DPDK keeps its meaning.
 *
 * lua/mos/abi.lua feeds this file to ffi.cdef with its '#' lines removed:
 * the codes are an enum (no macros), and scripts get the messages through
 * mos_strerror (bindings/mos_ffi.h), never copies.
 */
#ifndef MOS_ERROR_H
#define MOS_ERROR_H

enum mos_error {
    MOS_E_EOF = -4096,         /* the input is exhausted (and every flow ended) */
    MOS_E_OVERWRITTEN = -4097, /* stream bytes older than the buffer holds: overwritten */
    MOS_E_NO_PACKET = -4098,   /* no packet is being processed (outside a packet's events) */
    MOS_E_OTHER_FLOW = -4099,  /* the packet being processed belongs to another flow */
    MOS_E_FLOW_ENDED = -4100,  /* the flow has ended */
    MOS_E_REASSEMBLED = -4101, /* packet rebuilt from IP fragments: there is no one frame to edit */
    MOS_E_SNAPLEN = -4102,     /* payload not fully captured (snaplen): its size cannot change */
    MOS_E_PART_RANGE = -4103,  /* offset and length fall outside the packet part */
    MOS_E_READ_ONLY = -4104,   /* the option can be read, not set */
    MOS_E_LAST = -4104
};

/* Message for a return code: the project's for its range, strerror(-err)
 * for other negative values, "success" for >= 0. Never NULL. */
const char *mos_error_str(int err);
/* The nearest errno value, for interfaces that report through errno (the
 * mOS-compatible C API): the code itself negated for -errno codes. */
int mos_error_errno(int err);

#endif
