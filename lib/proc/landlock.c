/* Entering a Landlock domain from a ruleset (landlock.h): the ABI probe,
 * the mapping of qv's access words to the kernel's rights by ABI, and the
 * three system calls. */
#define _GNU_SOURCE
#include "landlock.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../util/error.h"

/* The kernel's UAPI beyond what Debian 12's header has (ABI 2). */
#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif
#define LL_FS_TRUNCATE (1ULL << 14)  /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#define LL_RULE_NET_PORT 2           /* ABI 4 */
#define LL_NET_BIND_TCP (1ULL << 0)
#define LL_NET_CONNECT_TCP (1ULL << 1)
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL (1ULL << 1)

/* struct landlock_ruleset_attr as of ABI 6; an older kernel takes the
 * larger struct as long as what it does not know is zero. */
struct ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

struct ll_net_port_attr {
    uint64_t allowed_access;
    uint64_t port;
};

/* Rights that mean something on a file that is not a directory (the
 * kernel refuses a rule on a file granting others). */
#define LL_FS_FILE_RIGHTS                                                                          \
    (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |   \
     LL_FS_TRUNCATE | LL_FS_IOCTL_DEV)

int proc_landlock_abi(void)
{
    long v = syscall(__NR_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return v > 0 ? (int)v : 0;
}

/* Every filesystem right the ABI knows: all are handled, so whatever a
 * rule does not grant is denied (executing, device nodes, symlinks ...). */
static uint64_t fs_handled(int abi)
{
    uint64_t fs = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1; /* ABI 1: bits 0-12 */
    if (abi >= 2)
        fs |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3)
        fs |= LL_FS_TRUNCATE;
    if (abi >= 5)
        fs |= LL_FS_IOCTL_DEV;
    return fs;
}

static uint64_t fs_rights(unsigned access)
{
    uint64_t fs = 0;
    if (access & PROC_LL_READ)
        fs |= LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
    if (access & PROC_LL_WRITE)
        fs |= LANDLOCK_ACCESS_FS_WRITE_FILE | LL_FS_TRUNCATE;
    if (access & PROC_LL_IOCTL)
        fs |= LL_FS_IOCTL_DEV;
    if (access & PROC_LL_MAKE_REG)
        fs |= LANDLOCK_ACCESS_FS_MAKE_REG;
    if (access & PROC_LL_MAKE_DIR)
        fs |= LANDLOCK_ACCESS_FS_MAKE_DIR;
    if (access & PROC_LL_MAKE_SOCK)
        fs |= LANDLOCK_ACCESS_FS_MAKE_SOCK;
    if (access & PROC_LL_REMOVE)
        fs |= LANDLOCK_ACCESS_FS_REMOVE_FILE;
    if (access & PROC_LL_REMOVE_DIR)
        fs |= LANDLOCK_ACCESS_FS_REMOVE_DIR;
    if (access & PROC_LL_REFER)
        fs |= LANDLOCK_ACCESS_FS_REFER;
    return fs;
}

struct proc_landlock_rules *proc_landlock_rules_new(const char *who)
{
    struct proc_landlock_rules *r = g_new0(struct proc_landlock_rules, 1);
    r->who = who;
    r->paths = g_array_new(FALSE, TRUE, sizeof(struct proc_landlock_path));
    r->bind_ports = g_array_new(FALSE, TRUE, sizeof(guint16));
    return r;
}

void proc_landlock_rules_free(struct proc_landlock_rules *r)
{
    if (!r)
        return;
    for (guint i = 0; i < r->paths->len; i++) {
        struct proc_landlock_path *p = &g_array_index(r->paths, struct proc_landlock_path, i);
        g_free(p->path);
        g_free(p->why);
    }
    g_array_free(r->paths, TRUE);
    g_array_free(r->bind_ports, TRUE);
    g_free(r);
}

void proc_landlock_allow(struct proc_landlock_rules *r, const char *path, unsigned access,
                         const char *why)
{
    struct proc_landlock_path p = {g_strdup(path), access, g_strdup(why)};
    g_array_append_val(r->paths, p);
}

void proc_landlock_allow_bind(struct proc_landlock_rules *r, guint16 port)
{
    g_array_append_val(r->bind_ports, port);
}

/* Threads running now would stay outside the domain (before ABI 8 the
 * kernel confines the calling thread only); those started later inherit
 * it. */
static int count_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static int add_path(int ruleset, const struct proc_landlock_rules *r,
                    const struct proc_landlock_path *p, uint64_t handled)
{
    /* O_PATH follows a symlink: the rule is for the file a later open
     * reaches. A path that does not exist (yet) gets no rule: it cannot
     * be opened either. */
    int fd = open(p->path, O_PATH | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        return qv_error_set_errno(QV_ERR_SYSTEM, errno, "%s Landlock: rule for %s (%s)", r->who,
                                  p->path, p->why);
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return qv_error_set_errno(QV_ERR_SYSTEM, e, "%s Landlock: rule for %s", r->who, p->path);
    }
    uint64_t allowed = fs_rights(p->access) & handled;
    if (!S_ISDIR(st.st_mode))
        allowed &= LL_FS_FILE_RIGHTS;
    int rc = 0;
    if (allowed) {
        struct landlock_path_beneath_attr attr = {.allowed_access = allowed, .parent_fd = fd};
        if (syscall(__NR_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &attr, 0) < 0)
            rc = qv_error_set_errno(QV_ERR_SYSTEM, errno, "%s Landlock: rule for %s (%s)", r->who,
                                    p->path, p->why);
    }
    close(fd);
    return rc;
}

static int add_rules(int ruleset, const struct proc_landlock_rules *r, int abi, uint64_t handled)
{
    for (guint i = 0; i < r->paths->len; i++)
        if (add_path(ruleset, r, &g_array_index(r->paths, struct proc_landlock_path, i), handled) <
            0)
            return qv_error_code();
    if (abi < 4)
        return 0;
    for (guint i = 0; i < r->bind_ports->len; i++) {
        struct ll_net_port_attr net = {.allowed_access = LL_NET_BIND_TCP,
                                       .port = g_array_index(r->bind_ports, guint16, i)};
        if (syscall(__NR_landlock_add_rule, ruleset, LL_RULE_NET_PORT, &net, 0) < 0)
            return qv_error_set_errno(QV_ERR_SYSTEM, errno,
                                      "%s Landlock: rule for binding TCP port %u", r->who,
                                      (unsigned)net.port);
    }
    return 0;
}

int proc_landlock_enter(const struct proc_landlock_rules *r)
{
    int abi = proc_landlock_abi();
    if (abi == 0)
        return 0;
    int threads = count_threads();
    if (threads < 0)
        return qv_error_set_errno(QV_ERR_SYSTEM, errno,
                                  "%s Landlock: cannot count its threads in /proc/self/task",
                                  r->who);
    if (threads != 1)
        return qv_error_set(QV_ERR_INTERNAL,
                            "%s Landlock: cannot enter the domain: %d threads run already, and "
                            "Landlock would confine only the calling one",
                            r->who, threads);
    struct ll_ruleset_attr attr = {.handled_access_fs = fs_handled(abi)};
    if (abi >= 4)
        attr.handled_access_net = LL_NET_BIND_TCP | (r->connect_any ? 0 : LL_NET_CONNECT_TCP);
    if (abi >= 6)
        attr.scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL;
    /* A kernel older than the struct takes only the part it knows. */
    size_t size = abi >= 6   ? sizeof(attr)
                  : abi >= 4 ? offsetof(struct ll_ruleset_attr, scoped)
                             : offsetof(struct ll_ruleset_attr, handled_access_net);
    int ruleset = (int)syscall(__NR_landlock_create_ruleset, &attr, size, 0);
    if (ruleset < 0)
        return qv_error_set_errno(QV_ERR_SYSTEM, errno,
                                  "%s Landlock: cannot create a ruleset (ABI %d)", r->who, abi);
    int rc = add_rules(ruleset, r, abi, attr.handled_access_fs);
    if (rc == 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        rc = qv_error_set_errno(QV_ERR_SYSTEM, errno, "%s Landlock: cannot set PR_SET_NO_NEW_PRIVS",
                                r->who);
    if (rc == 0 && syscall(__NR_landlock_restrict_self, ruleset, 0) < 0)
        rc = qv_error_set_errno(QV_ERR_SYSTEM, errno, "%s Landlock: cannot enter the domain",
                                r->who);
    close(ruleset);
    return rc < 0 ? rc : abi;
}
