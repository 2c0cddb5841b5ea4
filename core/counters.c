/*
 * counters.c - counter names, generated from the X-macro list in counters.h
 * so the struct layout, the names and their order can never disagree.
 */
#include "counters.h"

#include <stddef.h>

static const char *const counter_names[] = {
#define MOS_CTR_NAME(name) #name,
    MOS_COUNTER_LIST(MOS_CTR_NAME)
#undef MOS_CTR_NAME
};

const char *mos_counter_name(unsigned i)
{
    if (i >= sizeof(counter_names) / sizeof(counter_names[0]))
        return NULL;
    return counter_names[i];
}

unsigned mos_counter_count(void)
{
    return (unsigned)(sizeof(counter_names) / sizeof(counter_names[0]));
}
