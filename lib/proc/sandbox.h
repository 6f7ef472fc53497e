/* The seccomp sandbox a process enters once it has built what it hosts:
 * PR_SET_NO_NEW_PRIVS, then a filter (libseccomp) whose default action
 * kills the whole process and which allows an explicit list of system
 * calls, some only with the arguments that matter checked. The list is
 * data: every entry carries the one-line reason it is there, and
 * docs/architecture.md gives the same list for qv-vmm.
 *
 * This is a separate object library (qv_sandbox), not part of libqv.so:
 * only qv-vmm enters a sandbox, and applications that embed libqv should
 * not need libseccomp. */
#ifndef QV_PROC_SANDBOX_H
#define QV_PROC_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>

/* How a system call's arguments are checked. */
enum proc_sandbox_check {
    PROC_SANDBOX_ANY,     /* allowed with any arguments */
    PROC_SANDBOX_NO_EXEC, /* argument 2 (prot) without PROT_EXEC: mmap, mprotect */
    PROC_SANDBOX_THREAD,  /* clone: only with CLONE_THREAD, a thread and never a process */
    PROC_SANDBOX_SELF,    /* argument 0 is this process's pid: tgkill to its own threads */
    PROC_SANDBOX_IOCTL,   /* argument 1 (the request) is one of the rules' ioctls */
    PROC_SANDBOX_FAMILY,  /* socket: argument 0 (the domain) is one of the rules' families
                           * and the type is SOCK_STREAM or SOCK_DGRAM (never raw) */
    PROC_SANDBOX_NAME,    /* prctl: only PR_SET_NAME and PR_GET_NAME (thread names) */
    PROC_SANDBOX_ENOSYS,  /* refused with ENOSYS instead of killing: clone3, whose
                           * flags a filter cannot read, so glibc falls back to clone */
};

struct proc_sandbox_call {
    const char *name; /* the system call's name as libseccomp knows it */
    enum proc_sandbox_check check;
    const char *why;
};

struct proc_sandbox_ioctl {
    unsigned long request; /* compared on its low 32 bits, as the kernel reads it */
    const char *name;
    const char *why;
};

struct proc_sandbox_family {
    int family; /* AF_UNIX, AF_INET, ... */
    const char *name;
    const char *why;
};

struct proc_sandbox_rules {
    const char *who; /* names the process in errors: "qv-vmm" */
    const struct proc_sandbox_call *calls;
    size_t ncalls;
    const struct proc_sandbox_ioctl *ioctls;
    size_t nioctls;
    const struct proc_sandbox_family *families;
    size_t nfamilies;
};

/* Set PR_SET_NO_NEW_PRIVS and load the filter built from r into every
 * thread of the process (SECCOMP_FILTER_FLAG_TSYNC: threads started
 * before, such as vCPU and device threads, are filtered too). From then on
 * any system call r does not allow kills the process with SIGSYS
 * (SCMP_ACT_KILL_PROCESS), which its parent sees as WIFSIGNALED with
 * WTERMSIG == SIGSYS; the kernel logs the call's number (audit, dmesg).
 * There is no way back. A name libseccomp does not know, or a kernel
 * without seccomp filters, fails before anything is loaded: 0, or a
 * negative QV_ERR_* with the error set naming r->who and what failed. */
int proc_sandbox_enter(const struct proc_sandbox_rules *r);

/* Build r's filter without loading it: checks every name and argument
 * rule. 0 or a negative QV_ERR_*. */
int proc_sandbox_check_rules(const struct proc_sandbox_rules *r);

/* qv-vmm's list (sandbox_vmm.c): what its run loop, devices, snapshot code
 * and QMP server call once the VM is built. */
const struct proc_sandbox_rules *proc_sandbox_vmm_rules(void);

/* True when the build carries a sanitizer runtime (ASan, UBSan) whose own
 * system calls the rules then allow as well (see sandbox.c). */
bool proc_sandbox_sanitized(void);

#endif
