/* A cgroup per process-backed VM, for the CPU weight and cap: v2 where the
 * host delegates the cpu controller to us, v1 where it mounts the cpu
 * controller on its own, and a clear error naming what is missing
 * otherwise. Shared by the qemu driver and the kvm session mode. */
#ifndef QV_PROC_CGROUP_H
#define QV_PROC_CGROUP_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum proc_cgroup_version { PROC_CGROUP_NONE, PROC_CGROUP_V1, PROC_CGROUP_V2 };

/* Where the cpu controller can be reached from this process. */
struct proc_cgroup_host {
    char *v1_dir; /* the cpu hierarchy's directory of our own cgroup, or NULL */
    char *v2_dir; /* the unified hierarchy's directory of our own cgroup, or NULL */
    char *v1_mnt, *v2_mnt; /* where those hierarchies are mounted */
};

/* Pure: from the text of /proc/self/mountinfo and /proc/self/cgroup. */
void proc_cgroup_locate(const char *mountinfo, const char *self_cgroup, struct proc_cgroup_host *h);
/* The same for the hierarchy of another v1 controller ("memory"). */
void proc_cgroup_locate_ctl(const char *mountinfo, const char *self_cgroup, const char *ctl,
                            struct proc_cgroup_host *h);
void proc_cgroup_host_clear(struct proc_cgroup_host *h);

/* One file of a cgroup and the value it gets. */
struct proc_cgroup_file {
    const char *name;
    char value[64];
};

/* The files that carry weight (1..65535, 256 = the default; 0 = default)
 * and cap (percent of one host CPU per vCPU; 0 = none) for a VM with vcpus
 * vCPUs. Returns how many entries of files[3] it filled, or a negative
 * QV_ERR_* with the error set when the version cannot express them. */
int proc_cgroup_cpu_files(enum proc_cgroup_version v, uint32_t weight, uint32_t cap, uint32_t vcpus,
                          struct proc_cgroup_file files[3]);

/* libvirt's <memtune> in KiB; 0 = not set, 2^53-1 or more = no limit. */
struct proc_cgroup_memory {
    uint64_t hard_kib, soft_kib, swap_hard_kib;
};
/* The memory controller's files for m: v1 memory.limit_in_bytes,
 * memory.memsw.limit_in_bytes, memory.soft_limit_in_bytes; v2 memory.max,
 * memory.swap.max (swap alone: swap_hard less hard), memory.high.
 * has_swap_file: the host's group has the swap file (swap accounting on).
 * Returns how many of files[3] it filled, or a negative QV_ERR_* with the
 * error set (a swap limit below the memory limit, no swap accounting). */
int proc_cgroup_memory_files(enum proc_cgroup_version v, const struct proc_cgroup_memory *m,
                             bool has_swap_file, struct proc_cgroup_file files[3]);

/* libvirt's <blkiotune>: a weight for the group and, per block device
 * (by number), a weight and read/write limits; 0 = not set. */
struct proc_cgroup_blkio_dev {
    unsigned major, minor;
    uint32_t weight;
    uint64_t read_bps, write_bps, read_iops, write_iops;
};
struct proc_cgroup_blkio {
    uint32_t weight;
    const struct proc_cgroup_blkio_dev *devs;
    unsigned ndevs;
};
/* The I/O controller's files for b, appended to out (struct
 * proc_cgroup_file, one write each): the weights into weight_file (v1
 * blkio.weight or blkio.bfq.weight, v2 io.weight or io.bfq.weight: the one
 * the host's group has, NULL when it has none) and its _device file on v1,
 * limits into v1 blkio.throttle.{read,write}_{bps,iops}_device or v2
 * io.max. Returns how many it appended, or a negative QV_ERR_* with the
 * error set (a weight without a weight file names the files missing). */
int proc_cgroup_blkio_files(enum proc_cgroup_version v, const struct proc_cgroup_blkio *b,
                            const char *weight_file, GArray *out);

/* The cgroup <ours>/qv/<leaf> for one VM, created (with the cpu controller
 * enabled on the way on v2), its path in *path. Reads the host's own
 * /proc files. */
int proc_cgroup_create(const char *leaf, char **path);
/* The same for another controller ("memory", "blkio"/"io"): on v2 the
 * same group as proc_cgroup_create()'s, with ctl passed down to it; on v1
 * a group of that name in the hierarchy that mounts ctl. */
int proc_cgroup_create_ctl(const char *ctl, const char *leaf, char **path);
/* The cgroup PARTITION/<leaf> of the hierarchy proc_cgroup_create() would
 * use, PARTITION taken from that hierarchy's root (libvirt's
 * <resource><partition>, e.g. "/machine"); missing groups on the way are
 * made, and with cpu the cpu controller is passed down to the leaf on v2.
 * The leaf must end in ".qv" (what proc_cgroup_check_recorded() accepts
 * outside a qv/ directory). */
int proc_cgroup_create_in(const char *partition, const char *leaf, bool cpu, char **path);
/* v2: pass ctl ("memory", "io") down to the group at path from the
 * nearest ancestor that has it, for a group made without it (a
 * <resource><partition>'s). */
int proc_cgroup_v2_pass_down(const char *path, const char *ctl);
/* Write files into the cgroup at path. */
int proc_cgroup_write(const char *path, const struct proc_cgroup_file *files, int n);
/* Move every thread of pid into the cgroup at path. */
int proc_cgroup_attach(const char *path, pid_t pid);
/* The version of the hierarchy path is in, from its file system. */
enum proc_cgroup_version proc_cgroup_version_of(const char *path);
/* A path read back from a runtime record (which its owner can edit) is
 * used only if it is a group qv made: no symbolic link on the way, its
 * leaf starting with leaf_prefix right below a directory called qv (or,
 * in a partition, ending in ".qv"), in a cgroup file system.
 * QV_ERR_PERMISSION otherwise. */
int proc_cgroup_check_recorded(const char *path, const char *leaf_prefix);
/* Remove a VM's cgroup once its processes have gone; a missing one is
 * fine. Errors are logged into log_dir, never returned: this runs on
 * clean-up paths. */
void proc_cgroup_remove(const char *path, const char *log_dir);

#endif
