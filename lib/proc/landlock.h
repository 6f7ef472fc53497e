/* Landlock (Linux 5.13+): a process limits, for itself and everything it
 * starts later, which files it may open, create, remove or rename, which
 * TCP ports it may bind or connect to (ABI 4), and whether it may reach
 * abstract unix sockets or signal processes outside its domain (ABI 6).
 * Raw system calls through syscall(2): Debian 12 has no liblandlock, and
 * its <linux/landlock.h> stops at ABI 2, so the later constants are
 * defined here from the kernel's UAPI.
 *
 * A ruleset is data: every path and port carries the one-line reason it is
 * there (docs/architecture.md lists qv-vmm's). What the running kernel's
 * ABI lacks is dropped from the request, as the kernel's documentation
 * recommends, so one ruleset serves every kernel from ABI 1 on; a kernel
 * without Landlock is reported, not an error (the caller decides).
 *
 * Landlock before ABI 8 confines only the calling thread and the threads
 * it starts afterwards: proc_landlock_enter refuses to run while the
 * process has other threads, rather than leave them unconfined. */
#ifndef QV_PROC_LANDLOCK_H
#define QV_PROC_LANDLOCK_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/* What a path rule grants, independent of the ABI (landlock.c maps each
 * to the kernel's rights, dropping those the ABI lacks). */
enum {
    PROC_LL_READ = 1u << 0,       /* open files for reading; list directories */
    PROC_LL_WRITE = 1u << 1,      /* open files for writing (and truncate them) */
    PROC_LL_IOCTL = 1u << 2,      /* ioctl on device files (ABI 5) */
    PROC_LL_MAKE_REG = 1u << 3,   /* create, link or rename in regular files (directories only) */
    PROC_LL_MAKE_DIR = 1u << 4,   /* create directories */
    PROC_LL_MAKE_SOCK = 1u << 5,  /* bind unix sockets, rename them in */
    PROC_LL_REMOVE = 1u << 6,     /* unlink and rename away files (and sockets) */
    PROC_LL_REMOVE_DIR = 1u << 7, /* remove directories */
    PROC_LL_REFER = 1u << 8,      /* rename or link between directories (ABI 2) */
};
/* A directory qv owns whole: anything but executing, special files and
 * symlinks. */
#define PROC_LL_TREE                                                                               \
    (PROC_LL_READ | PROC_LL_WRITE | PROC_LL_MAKE_REG | PROC_LL_MAKE_DIR | PROC_LL_MAKE_SOCK |      \
     PROC_LL_REMOVE | PROC_LL_REMOVE_DIR | PROC_LL_REFER)

struct proc_landlock_path {
    char *path;      /* followed when it is a symlink: the rule is for what gets opened */
    unsigned access; /* PROC_LL_*; on a file only READ, WRITE and IOCTL count */
    char *why;
};

struct proc_landlock_rules {
    const char *who;    /* names the process in errors: "qv-vmm" */
    GArray *paths;      /* struct proc_landlock_path; a path that does not exist is skipped */
    GArray *bind_ports; /* guint16: TCP ports it may bind (ABI 4); none: no TCP bind at all */
    bool connect_any;   /* leave TCP connect unrestricted (user networking connects anywhere);
                         * otherwise no TCP connect at all (ABI 4) */
};

struct proc_landlock_rules *proc_landlock_rules_new(const char *who);
void proc_landlock_rules_free(struct proc_landlock_rules *r);
/* Add a path rule (path and why are copied). */
void proc_landlock_allow(struct proc_landlock_rules *r, const char *path, unsigned access,
                         const char *why);
void proc_landlock_allow_bind(struct proc_landlock_rules *r, guint16 port);

/* The Landlock ABI version the kernel offers: 1.., or 0 when it has none
 * (not built in, or disabled at boot: lsm= without landlock). */
int proc_landlock_abi(void);

/* Confine this process (it must have one thread) to r, with the highest
 * ABI the kernel has: every filesystem right that ABI knows is handled (so
 * what r does not grant is denied), TCP bind and connect as r says
 * (ABI 4), abstract unix sockets and signals scoped to the domain
 * (ABI 6). Sets PR_SET_NO_NEW_PRIVS. Returns the ABI used (> 0), 0 when
 * the kernel has no Landlock (nothing done), or a negative QV_ERR_* with
 * the error naming r->who and what failed (nothing enforced). */
int proc_landlock_enter(const struct proc_landlock_rules *r);

#endif
