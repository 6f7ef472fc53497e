/* qv-vmm's sandbox: the system calls it makes once its VM is built, each
 * with the reason it is allowed. Derived from reading drivers/kvm (the run
 * loop, devices, reset's rebuild, snapshot state), lib/qmp and qv-vmm's QMP
 * server, GLib's main loop and libslirp's imports, and from tracing
 * qv-vmm on noop:/// under strace -f; docs/architecture.md has the same
 * list for readers. Anything not here kills the process.
 *
 * Reset and restore rebuild the machine from its definition in place
 * (kvm_machine_rebuild: a new KVM VM, RAM, vCPUs, devices, the kernel
 * loaded again), so the calls that build a VM stay allowed; what never
 * happens after start-up (exec, new processes, ptrace, namespaces, mounts,
 * module loading, BPF, keyrings, raw or netlink sockets, executable
 * memory) does not. */
#define _GNU_SOURCE
#include <linux/fs.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>

#include "sandbox.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct proc_sandbox_call vmm_calls[] = {
    /* Memory. */
    {"brk", PROC_SANDBOX_ANY, "malloc grows the heap"},
    {"mmap", PROC_SANDBOX_NO_EXEC,
     "malloc's large blocks, thread stacks, guest RAM (a memfd) and vCPU run areas on reset and "
     "restore, snapshot memory files; never executable"},
    {"munmap", PROC_SANDBOX_ANY, "freeing those mappings"},
    {"mprotect", PROC_SANDBOX_NO_EXEC,
     "glibc opens thread stacks and malloc arenas read-write; never executable"},
    {"mremap", PROC_SANDBOX_ANY, "realloc of large blocks (GLib arrays, snapshot buffers)"},
    {"madvise", PROC_SANDBOX_ANY, "glibc returns freed thread stacks and arena pages"},
    {"memfd_create", PROC_SANDBOX_ANY, "guest RAM is a memfd, made again on reset and restore"},
    {"ftruncate", PROC_SANDBOX_ANY, "sizes the RAM memfd and snapshot files"},

    /* Threads and waiting. */
    {"clone", PROC_SANDBOX_THREAD,
     "vCPU, device I/O, console and QMP helper threads; only with CLONE_THREAD, never a process"},
    {"clone3", PROC_SANDBOX_ENOSYS,
     "glibc tries it first for threads; its flags are out of a filter's reach, so it fails with "
     "ENOSYS and glibc uses clone"},
    {"set_robust_list", PROC_SANDBOX_ANY, "glibc registers every new thread's robust futexes"},
    {"rseq", PROC_SANDBOX_ANY, "glibc registers every new thread's restartable sequences"},
    {"futex", PROC_SANDBOX_ANY, "mutexes, condition variables and joins between threads"},
    {"exit", PROC_SANDBOX_ANY, "a thread ends"},
    {"exit_group", PROC_SANDBOX_ANY, "the process ends"},
    {"sched_getaffinity", PROC_SANDBOX_ANY,
     "GLib counts CPUs; unpinning a vCPU restores the process's CPU set"},
    {"sched_setaffinity", PROC_SANDBOX_ANY, "vCPU pinning (cputune, vm_set_cpu_pin)"},
    {"prctl", PROC_SANDBOX_NAME, "thread names (qv-vcpuN, qv-blk); only PR_SET_NAME/PR_GET_NAME"},
    {"getpid", PROC_SANDBOX_ANY, "glibc and GLib ask who they are"},
    {"gettid", PROC_SANDBOX_ANY, "vCPU thread ids for query-cpus-fast and pinning"},
    {"geteuid", PROC_SANDBOX_ANY,
     "files and state directories are checked to be this user's (qv_file_open_private, "
     "qv_dir_check_owner: snapshot files, noop:///DIR's store)"},
    {"nanosleep", PROC_SANDBOX_ANY, "g_usleep in retry back-offs"},
    {"clock_nanosleep", PROC_SANDBOX_ANY, "the same through newer glibc"},
    {"clock_gettime", PROC_SANDBOX_ANY,
     "timers, QMP event timestamps, I/O throttling: the vDSO answers unless the host's clock "
     "source cannot be read from user space"},
    {"gettimeofday", PROC_SANDBOX_ANY, "wall-clock time, as clock_gettime"},
    {"time", PROC_SANDBOX_ANY, "the CMOS RTC reads the host's time, as clock_gettime"},
    {"getrandom", PROC_SANDBOX_ANY, "virtio-rng's entropy; GLib's hash table seeds"},
    {"sysinfo", PROC_SANDBOX_ANY, "glibc's qsort sizes its buffer from physical memory (libslirp)"},

    /* Signals. */
    {"rt_sigaction", PROC_SANDBOX_ANY,
     "the vCPU kick handler is (re)installed when vCPUs are made on reset"},
    {"rt_sigprocmask", PROC_SANDBOX_ANY, "glibc and GLib block signals around thread start"},
    {"rt_sigreturn", PROC_SANDBOX_ANY, "returning from the kick and GLib's signal handlers"},
    {"restart_syscall", PROC_SANDBOX_ANY, "the kernel resumes a call a kick interrupted"},
    {"tgkill", PROC_SANDBOX_SELF,
     "kicking a vCPU thread out of KVM_RUN (pthread_kill), abort(); only to this process"},

    /* File descriptors. */
    {"read", PROC_SANDBOX_ANY, "sockets, eventfds, the console, images and snapshot files"},
    {"write", PROC_SANDBOX_ANY, "the same, console.log, the log on stderr"},
    {"pread64", PROC_SANDBOX_ANY, "snapshot files, disk images"},
    {"pwrite64", PROC_SANDBOX_ANY, "snapshot files, disk images"},
    {"preadv", PROC_SANDBOX_ANY, "virtio-blk reads into guest buffers"},
    {"pwritev", PROC_SANDBOX_ANY, "virtio-blk writes from guest buffers"},
    {"lseek", PROC_SANDBOX_ANY,
     "image sizes; SEEK_DATA/SEEK_HOLE when folding snapshot memory files; libslirp"},
    {"close", PROC_SANDBOX_ANY, "every descriptor above"},
    {"fcntl", PROC_SANDBOX_ANY,
     "O_NONBLOCK switches, F_DUPFD_CLOEXEC, the OFD lock on a disk image reopened on reset"},
    {"flock", PROC_SANDBOX_ANY,
     "the lock on a snapshot being written, and the store's over a restore's disk copies"},
    {"fsync", PROC_SANDBOX_ANY, "snapshot files and directories are made durable"},
    {"fdatasync", PROC_SANDBOX_ANY, "the guest's flush requests (virtio-blk), console.log"},
    {"fallocate", PROC_SANDBOX_ANY, "virtio-blk discard and write-zeroes punch holes"},
    {"eventfd2", PROC_SANDBOX_ANY,
     "virtio notify and interrupt eventfds (ioeventfd, irqfd), device wake-ups, GLib contexts"},
    {"poll", PROC_SANDBOX_ANY, "GLib's main loop, device and network threads"},
    {"ioctl", PROC_SANDBOX_IOCTL, "only the requests listed in vmm_ioctls"},

    /* Files: see openat. */
    {"openat", PROC_SANDBOX_ANY,
     "reset and restore reopen what the definition names (kernel, initrd, disk images, /dev/ptmx, "
     "/dev/net/tun); snapshots create and read files in the VM's directory"},
    {"newfstatat", PROC_SANDBOX_ANY,
     "stat and fstat (glibc uses it for both): image, kernel and snapshot sizes and types"},
    {"getdents64", PROC_SANDBOX_ANY, "listing snapshot directories"},
    {"access", PROC_SANDBOX_ANY,
     "g_file_test (F_OK): snapshot jobs on noop:///DIR check whether a snapshot exists; no more "
     "than newfstatat already tells"},
    {"mkdir", PROC_SANDBOX_ANY, "a snapshot's staging directory (g_mkdtemp_full)"},
    {"fchmod", PROC_SANDBOX_ANY, "a staging directory is made 0700"},
    {"rmdir", PROC_SANDBOX_ANY,
     "qv_dir_remove_tree (remove()) as noop:///DIR's store removes a VM; no more than "
     "unlinkat(AT_REMOVEDIR) can already"},
    {"fchmodat", PROC_SANDBOX_ANY,
     "a console or QMP socket bound after the filter (the console's at each power-on) is made "
     "0600 before it is renamed into place; no more than chmod already can"},
    {"chmod", PROC_SANDBOX_ANY,
     "qv_dir_ensure gives a new directory its exact mode whatever the umask (a snapshot "
     "directory; noop:///DIR's store); no more than open + fchmod already can"},
    {"rename", PROC_SANDBOX_ANY,
     "a snapshot memory file goes into place (temporary file, fsync, rename)"},
    {"renameat", PROC_SANDBOX_ANY, "where the file system lacks RENAME_NOREPLACE"},
    {"renameat2", PROC_SANDBOX_ANY, "a finished snapshot is renamed in without replacing"},
    {"link", PROC_SANDBOX_ANY,
     "a disk copy is put in place without replacing where the file system lacks "
     "RENAME_NOREPLACE (qv_file_clone)"},
    {"unlink", PROC_SANDBOX_ANY,
     "a console socket replaced on reset and removed; a failed memory file's temporary"},
    {"unlinkat", PROC_SANDBOX_ANY,
     "snapshot deletion and failed stages (files and directories), QMP sockets removed at exit"},

    /* Sockets: QMP, the console, libslirp's NAT. */
    {"socket", PROC_SANDBOX_FAMILY, "only the families listed in vmm_families"},
    {"bind", PROC_SANDBOX_ANY, "console sockets on reset; libslirp's forwarded ports"},
    {"listen", PROC_SANDBOX_ANY, "the same"},
    {"accept", PROC_SANDBOX_ANY, "libslirp accepts forwarded connections"},
    {"accept4", PROC_SANDBOX_ANY, "QMP clients, console clients"},
    {"connect", PROC_SANDBOX_ANY, "libslirp connects out for the guest; client-mode consoles"},
    {"getsockname", PROC_SANDBOX_ANY, "libslirp"},
    {"getpeername", PROC_SANDBOX_ANY, "libslirp"},
    {"getsockopt", PROC_SANDBOX_ANY, "libslirp (SO_ERROR after a connect), GLib sockets"},
    {"setsockopt", PROC_SANDBOX_ANY, "libslirp (SO_REUSEADDR, TCP_NODELAY, buffer sizes)"},
    {"shutdown", PROC_SANDBOX_ANY, "libslirp half-closes guest connections"},
    {"sendto", PROC_SANDBOX_ANY,
     "send(): QMP replies and events, console output, UDP for the guest"},
    {"recvfrom", PROC_SANDBOX_ANY, "recv(): QMP commands, console input, UDP for the guest"},
    {"recvmsg", PROC_SANDBOX_ANY, "libslirp"},
};

static const struct proc_sandbox_ioctl vmm_ioctls[] = {
    /* /dev/kvm: building a VM on reset and restore. The API version, the
     * run area's size and the supported CPUID are probed once by
     * qv_connect, before the sandbox, and not allowed after. */
    {KVM_CREATE_VM, "KVM_CREATE_VM", "reset and restore build a new VM"},
    {KVM_CHECK_EXTENSION, "KVM_CHECK_EXTENSION", "capabilities checked while building and saving"},
    {KVM_GET_MSR_INDEX_LIST, "KVM_GET_MSR_INDEX_LIST", "which MSRs a snapshot saves"},
    /* VM. */
    {KVM_SET_TSS_ADDR, "KVM_SET_TSS_ADDR", "building a VM"},
    {KVM_SET_IDENTITY_MAP_ADDR, "KVM_SET_IDENTITY_MAP_ADDR", "building a VM"},
    {KVM_SET_USER_MEMORY_REGION, "KVM_SET_USER_MEMORY_REGION", "guest RAM, dirty logging"},
    {KVM_CREATE_IRQCHIP, "KVM_CREATE_IRQCHIP", "building a VM"},
    {KVM_CREATE_PIT2, "KVM_CREATE_PIT2", "building a VM"},
    {KVM_CREATE_VCPU, "KVM_CREATE_VCPU", "building a VM"},
    {KVM_REGISTER_COALESCED_MMIO, "KVM_REGISTER_COALESCED_MMIO", "port 0x80 writes buffered"},
    {KVM_IRQ_LINE, "KVM_IRQ_LINE", "legacy devices raise and lower interrupts"},
    {KVM_IOEVENTFD, "KVM_IOEVENTFD", "virtio queue notifications as eventfds"},
    {KVM_IRQFD, "KVM_IRQFD", "virtio interrupts as eventfds"},
    {KVM_GET_IRQCHIP, "KVM_GET_IRQCHIP", "snapshot: PIC and IOAPIC state"},
    {KVM_SET_IRQCHIP, "KVM_SET_IRQCHIP", "restore: PIC and IOAPIC state"},
    {KVM_GET_PIT2, "KVM_GET_PIT2", "snapshot: PIT state"},
    {KVM_SET_PIT2, "KVM_SET_PIT2", "restore: PIT state"},
    {KVM_GET_CLOCK, "KVM_GET_CLOCK", "snapshot: kvmclock"},
    {KVM_SET_CLOCK, "KVM_SET_CLOCK", "restore: kvmclock"},
    {KVM_GET_DIRTY_LOG, "KVM_GET_DIRTY_LOG", "incremental snapshots: pages written since the last"},
    /* vCPU. */
    {KVM_RUN, "KVM_RUN", "the run loop"},
    {KVM_SET_CPUID2, "KVM_SET_CPUID2", "a new vCPU's CPUID"},
    {KVM_GET_REGS, "KVM_GET_REGS", "snapshot; the run loop's crash report"},
    {KVM_SET_REGS, "KVM_SET_REGS", "power-on entry state; restore"},
    {KVM_GET_SREGS, "KVM_GET_SREGS", "power-on entry state; snapshot"},
    {KVM_SET_SREGS, "KVM_SET_SREGS", "power-on entry state; restore"},
    {KVM_GET_FPU, "KVM_GET_FPU", "snapshot without XSAVE"},
    {KVM_SET_FPU, "KVM_SET_FPU", "power-on entry state; restore without XSAVE"},
    {KVM_GET_MSRS, "KVM_GET_MSRS", "snapshot"},
    {KVM_SET_MSRS, "KVM_SET_MSRS", "power-on entry state; restore"},
    {KVM_GET_XSAVE, "KVM_GET_XSAVE", "snapshot: FPU and vector state"},
    {KVM_GET_XSAVE2, "KVM_GET_XSAVE2", "snapshot: FPU and vector state beyond 4 KiB (AMX)"},
    {KVM_SET_XSAVE, "KVM_SET_XSAVE", "restore: FPU and vector state"},
    {KVM_GET_XCRS, "KVM_GET_XCRS", "snapshot"},
    {KVM_SET_XCRS, "KVM_SET_XCRS", "restore"},
    {KVM_GET_LAPIC, "KVM_GET_LAPIC", "snapshot"},
    {KVM_SET_LAPIC, "KVM_SET_LAPIC", "restore"},
    {KVM_GET_MP_STATE, "KVM_GET_MP_STATE", "snapshot"},
    {KVM_SET_MP_STATE, "KVM_SET_MP_STATE", "restore"},
    {KVM_GET_VCPU_EVENTS, "KVM_GET_VCPU_EVENTS", "snapshot: pending exceptions and interrupts"},
    {KVM_SET_VCPU_EVENTS, "KVM_SET_VCPU_EVENTS", "power-on entry state; restore"},
    {KVM_GET_DEBUGREGS, "KVM_GET_DEBUGREGS", "snapshot"},
    {KVM_SET_DEBUGREGS, "KVM_SET_DEBUGREGS", "restore"},
    {KVM_GET_TSC_KHZ, "KVM_GET_TSC_KHZ", "snapshot: the guest's TSC rate"},
    {KVM_SET_TSC_KHZ, "KVM_SET_TSC_KHZ", "restore on a host with another TSC rate"},
    /* The console's pseudo-terminal, made again on reset (posix_openpt,
     * grantpt, unlockpt, ptsname_r, raw mode) and opened by qv-vmm. */
    {TCGETS, "TCGETS", "tcgetattr, isatty"},
    {TCSETS, "TCSETS", "tcsetattr(TCSANOW): raw mode"},
    {TIOCGPTN, "TIOCGPTN", "ptsname_r, grantpt"},
    {TIOCSPTLCK, "TIOCSPTLCK", "unlockpt"},
    /* Devices and libslirp. */
    {TUNSETIFF, "TUNSETIFF", "a tap NIC attaches to its interface again on reset"},
    {BLKGETSIZE64, "BLKGETSIZE64", "the size of a disk that is a block device, on reset"},
    {FIONREAD, "FIONREAD", "libslirp asks how much a UDP socket holds"},
    {FICLONE, "FICLONE",
     "a snapshot's disk copy shares the image's blocks (qv_file_clone), and a restore shares "
     "them back over the image (qv_file_overwrite)"},
};

static const struct proc_sandbox_family vmm_families[] = {
    {AF_UNIX, "AF_UNIX", "console sockets (made again on reset)"},
    {AF_INET, "AF_INET", "libslirp's NAT opens host sockets for the guest's connections"},
    {AF_INET6, "AF_INET6", "the same for IPv6"},
};

static const struct proc_sandbox_rules vmm_rules = {
    .who = "qv-vmm",
    .calls = vmm_calls,
    .ncalls = N(vmm_calls),
    .ioctls = vmm_ioctls,
    .nioctls = N(vmm_ioctls),
    .families = vmm_families,
    .nfamilies = N(vmm_families),
};

const struct proc_sandbox_rules *proc_sandbox_vmm_rules(void)
{
    return &vmm_rules;
}
