/* libvirt's cpuset syntax (cpuset.h). */
#define _GNU_SOURCE
#include "cpuset.h"

#include <errno.h>
#include <glib.h>
#include <stdbool.h>
#include <stdlib.h>

#include "error.h"

int qv_cpuset_parse(const char *s, cpu_set_t *set)
{
    CPU_ZERO(set);
    g_auto(GStrv) items = g_strsplit(s ? s : "", ",", -1);
    bool any = false;
    for (char **it = items; *it; it++) {
        const char *p = g_strstrip(*it);
        bool neg = *p == '^';
        if (neg)
            p++;
        char *end;
        errno = 0;
        long a = strtol(p, &end, 10), b = a;
        if (!g_ascii_isdigit(*p) || errno)
            return qv_error_set(QV_ERR_INVALID_ARG, "'%s' is not a CPU set", s);
        if (*end == '-' && !neg) {
            const char *q = end + 1;
            errno = 0;
            b = strtol(q, &end, 10);
            if (!g_ascii_isdigit(*q) || errno || b < a)
                return qv_error_set(QV_ERR_INVALID_ARG, "'%s' is not a CPU set", s);
        }
        if (*end || a < 0 || b >= CPU_SETSIZE)
            return qv_error_set(QV_ERR_INVALID_ARG, "'%s' is not a CPU set (CPUs 0-%d)", s,
                                CPU_SETSIZE - 1);
        for (long c = a; c <= b; c++) {
            if (neg)
                CPU_CLR(c, set);
            else
                CPU_SET(c, set);
        }
        any = any || !neg;
    }
    if (!any || CPU_COUNT(set) == 0)
        return qv_error_set(QV_ERR_INVALID_ARG, "CPU set '%s' names no CPU", s ? s : "");
    return 0;
}
