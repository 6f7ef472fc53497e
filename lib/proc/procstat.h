/* CPU time and resident memory of a process or one of its threads, from
 * /proc/PID/stat and /proc/PID/task/TID/stat (proc(5)). */
#ifndef QV_PROC_PROCSTAT_H
#define QV_PROC_PROCSTAT_H

#include <stdint.h>
#include <sys/types.h>

struct proc_usage {
    char state;         /* field 3: R, S, D, ... */
    uint64_t user_ns;   /* field 14, utime */
    uint64_t system_ns; /* field 15, stime */
    uint64_t rss_bytes; /* field 24, rss (meaningful for a process) */
};

/* tid 0 reads the process pid; otherwise thread tid, which must belong to
 * pid (a thread id from a peer is checked that way). QV_ERR_NOT_FOUND when
 * there is no such process or thread, QV_ERR_PROTOCOL when the file cannot
 * be parsed. */
int proc_usage_read(pid_t pid, pid_t tid, struct proc_usage *u);

/* The CPUs thread (or process) tid may run on, in libvirt's cpuset syntax
 * ("0-3,6"); NULL with QV_ERR_NOT_FOUND or QV_ERR_SYSTEM set. */
char *proc_affinity_text(pid_t tid);

#endif
