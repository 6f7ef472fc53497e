/* /proc/PID/stat fields for statistics; thread affinities. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "../util/error.h"
#include "procstat.h"

static uint64_t ticks_to_ns(unsigned long long ticks)
{
    long hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0)
        hz = 100;
    return (uint64_t)ticks * (1000000000ull / (uint64_t)hz);
}

int proc_usage_read(pid_t pid, pid_t tid, struct proc_usage *u)
{
    g_autofree char *path = tid > 0 ? g_strdup_printf("/proc/%d/task/%d/stat", (int)pid, (int)tid)
                                    : g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *text = NULL;
    if (pid <= 0 || tid < 0 || !g_file_get_contents(path, &text, NULL, NULL))
        return qv_error_set(QV_ERR_NOT_FOUND, "cannot read %s: no such %s", path,
                            tid > 0 ? "thread" : "process");
    /* The command name in field 2 may hold blanks and parentheses: count
     * fields from the last ')'. */
    char *p = strrchr(text, ')');
    if (!p || p[1] != ' ' || !p[2])
        return qv_error_set(QV_ERR_PROTOCOL, "cannot parse %s", path);
    p += 2;
    memset(u, 0, sizeof(*u));
    u->state = *p;
    unsigned long long f[25] = {0};
    for (int field = 3; field <= 24; field++) {
        if (field > 3) {
            char *end;
            errno = 0;
            f[field] = strtoull(p, &end, 10);
            if (errno || end == p || (*end != ' ' && *end != '\n' && *end))
                return qv_error_set(QV_ERR_PROTOCOL, "cannot parse field %d of %s", field, path);
            p = end;
        } else {
            p = strchr(p, ' ');
            if (!p)
                return qv_error_set(QV_ERR_PROTOCOL, "cannot parse %s", path);
        }
        while (*p == ' ')
            p++;
    }
    long page = sysconf(_SC_PAGESIZE);
    u->user_ns = ticks_to_ns(f[14]);
    u->system_ns = ticks_to_ns(f[15]);
    u->rss_bytes = f[24] * (uint64_t)(page > 0 ? page : 4096);
    return 0;
}

char *proc_affinity_text(pid_t tid)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(tid, sizeof(set), &set) < 0) {
        qv_error_set_errno(errno == ESRCH ? QV_ERR_NOT_FOUND : QV_ERR_SYSTEM, errno,
                           "cannot read the CPU set of thread %d", (int)tid);
        return NULL;
    }
    GString *out = g_string_new(NULL);
    for (int c = 0; c < CPU_SETSIZE; c++) {
        if (!CPU_ISSET(c, &set))
            continue;
        int end = c;
        while (end + 1 < CPU_SETSIZE && CPU_ISSET(end + 1, &set))
            end++;
        g_string_append_printf(out, out->len ? ",%d" : "%d", c);
        if (end > c)
            g_string_append_printf(out, "-%d", end);
        c = end;
    }
    return g_string_free(out, FALSE);
}
