/* Process identity from /proc: pid, start time and command line. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../util/error.h"
#include "../util/fileio.h"
#include "proc.h"

/* Field 3 (state) and field 22 (starttime) of /proc/PID/stat. The command
 * name in field 2 may hold spaces and parentheses, so fields are counted
 * from the last ')'. */
static int read_stat(pid_t pid, char *state, uint64_t *start)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *text = NULL;
    if (!g_file_get_contents(path, &text, NULL, NULL))
        return QV_ERR_NOT_FOUND;
    char *p = strrchr(text, ')');
    if (!p || p[1] != ' ')
        return QV_ERR_PROTOCOL;
    p += 2;
    *state = *p;
    /* p is at field 3; skip to field 22. */
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p)
            return QV_ERR_PROTOCOL;
        p++;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p, &end, 10);
    if (errno || end == p)
        return QV_ERR_PROTOCOL;
    *start = v;
    return 0;
}

int proc_identity_read(pid_t pid, struct proc_identity *id)
{
    memset(id, 0, sizeof(*id));
    if (pid <= 0)
        return qv_error_set(QV_ERR_INVALID_ARG, "pid %d is not a process id", (int)pid);
    /* An exiting process loses its command line before it turns zombie, and
     * one just spawned may not show it yet: look again briefly. */
    for (int tries = 0;; tries++) {
        /* Never reaped here: the pid could be a child of the application
         * using libqv whose exit status is not ours to take. A zombie counts
         * as gone. */
        char state = 0;
        uint64_t start = 0;
        int rc = read_stat(pid, &state, &start);
        if (rc == QV_ERR_NOT_FOUND || state == 'Z' || state == 'X')
            return qv_error_set(QV_ERR_NOT_FOUND, "process %d is gone", (int)pid);
        if (rc < 0)
            return qv_error_set(rc, "cannot parse /proc/%d/stat", (int)pid);
        g_autofree char *path = g_strdup_printf("/proc/%d/cmdline", (int)pid);
        char *cmd = NULL;
        gsize len = 0;
        if (!g_file_get_contents(path, &cmd, &len, NULL))
            return qv_error_set(QV_ERR_NOT_FOUND, "process %d is gone", (int)pid);
        for (gsize i = 0; i < len; i++)
            if (cmd[i] == '\0')
                cmd[i] = ' ';
        while (len > 0 && cmd[len - 1] == ' ')
            cmd[--len] = '\0';
        if (len == 0) {
            g_free(cmd);
            if (tries >= 50)
                return qv_error_set(QV_ERR_NOT_FOUND, "process %d is exiting", (int)pid);
            g_usleep(1000);
            continue;
        }
        id->pid = pid;
        id->start_time = start;
        id->cmdline = cmd;
        return 0;
    }
}

void proc_identity_clear(struct proc_identity *id)
{
    g_clear_pointer(&id->cmdline, g_free);
    id->pid = 0;
    id->start_time = 0;
}

bool proc_identity_alive(const struct proc_identity *id)
{
    if (!id || id->pid <= 0)
        return false;
    struct proc_identity now;
    if (proc_identity_read(id->pid, &now) < 0) {
        qv_reset_error();
        return false;
    }
    bool same = now.start_time == id->start_time &&
                g_strcmp0(now.cmdline, id->cmdline ? id->cmdline : "") == 0;
    proc_identity_clear(&now);
    return same;
}

bool proc_identity_running(const struct proc_identity *id)
{
    if (!id || id->pid <= 0)
        return false;
    char state = 0;
    uint64_t start = 0;
    return read_stat(id->pid, &state, &start) == 0 && state != 'Z' && state != 'X' &&
           start == id->start_time;
}

char *proc_exe_read(pid_t pid)
{
    g_autofree char *link = g_strdup_printf("/proc/%d/exe", (int)pid);
    return g_file_read_link(link, NULL);
}

#define DELETED " (deleted)"

/* The length of path without a trailing " (deleted)". */
static size_t undeleted_len(const char *path)
{
    size_t n = strlen(path);
    return g_str_has_suffix(path, DELETED) ? n - strlen(DELETED) : n;
}

bool proc_exe_same(const char *exe, const char *path)
{
    if (!exe || !path)
        return false;
    size_t n = undeleted_len(exe);
    return n > 0 && n == undeleted_len(path) && strncmp(exe, path, n) == 0;
}

int proc_kill(const struct proc_identity *id, int sig)
{
    if (!proc_identity_running(id))
        return qv_error_set(QV_ERR_NOT_FOUND, "process %d is gone", (int)id->pid);
    if (kill(id->pid, sig) < 0)
        return qv_error_set_errno(QV_ERR_SYSTEM, errno, "cannot send signal %d to process %d", sig,
                                  (int)id->pid);
    return 0;
}

int proc_wait_gone(const struct proc_identity *id, int timeout_ms)
{
    gint64 deadline = timeout_ms < 0 ? -1 : g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    gulong sleep_us = 500;
    while (proc_identity_running(id)) {
        if (deadline >= 0 && g_get_monotonic_time() >= deadline)
            return qv_error_set(QV_ERR_TIMEOUT, "process %d did not exit within %d ms",
                                (int)id->pid, timeout_ms);
        g_usleep(sleep_us);
        if (sleep_us < 4000)
            sleep_us *= 2;
    }
    return 0;
}

int proc_find_by_cmdline_suffix(const char *suffix, struct proc_identity *id)
{
    memset(id, 0, sizeof(*id));
    g_autoptr(GDir) d = g_dir_open("/proc", 0, NULL);
    const char *e;
    size_t slen = strlen(suffix);
    while (d && (e = g_dir_read_name(d))) {
        if (strspn(e, "0123456789") != strlen(e))
            continue;
        /* A cheap look at the raw command line first: only a match pays
         * for the full identity (which waits on processes without one). */
        g_autofree char *path = g_strdup_printf("/proc/%s/cmdline", e);
        g_autofree char *cmd = NULL;
        gsize len = 0;
        if (!g_file_get_contents(path, &cmd, &len, NULL))
            continue;
        for (gsize i = 0; i < len; i++)
            if (cmd[i] == '\0')
                cmd[i] = ' ';
        while (len > 0 && cmd[len - 1] == ' ')
            len--;
        if (len < slen || memcmp(cmd + len - slen, suffix, slen) != 0)
            continue;
        gint64 pid = g_ascii_strtoll(e, NULL, 10);
        if (pid <= 0 || pid > G_MAXINT32 || proc_identity_read((pid_t)pid, id) < 0) {
            qv_reset_error();
            continue;
        }
        if (g_str_has_suffix(id->cmdline, suffix))
            return 0;
        proc_identity_clear(id);
    }
    return qv_error_set(QV_ERR_NOT_FOUND, "no process whose command line ends with '%s'", suffix);
}
