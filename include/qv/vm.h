/* libqv — virtual machines.
 *
 * A struct vm is a reference-counted handle on one VM of one connection.
 * Handles are thread-safe; operations on one VM are serialised by libqv.
 *
 * States and the operations each allows (checked in one table, before any
 * driver runs; a refused call returns QV_ERR_INVALID_STATE):
 *
 *   CREATED   start, destroy, snapshots, clone, settings
 *   RUNNING   stop, pause, reset, destroy, snapshots, clone, settings
 *   PAUSED    resume, stop, reset, destroy, snapshots, clone, settings
 *   STOPPED   start, destroy, snapshots, clone, settings
 *   MIGRATING destroy
 *   DESTROYED nothing
 */
#ifndef QV_VM_H
#define QV_VM_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

struct vm;
struct vcpu;

enum vm_state {
    VM_STATE_CREATED,
    VM_STATE_RUNNING,
    VM_STATE_PAUSED,
    VM_STATE_STOPPED,
    VM_STATE_MIGRATING,
    VM_STATE_DESTROYED,
};

/* Why a VM is in its state; meaningful mostly for STOPPED. */
enum vm_state_reason {
    VM_REASON_NONE,
    VM_REASON_USER,      /* a caller asked for it */
    VM_REASON_SHUTDOWN,  /* the guest powered off or asked to exit */
    VM_REASON_CRASHED,   /* the VM's process or vCPU died */
    VM_REASON_FAILED,    /* the backend reported a failure */
    VM_REASON_RESET,     /* the guest asked for a reset and was stopped */
};

/* Flags for vm_add_memory_region(). A region without VM_MEM_WRITE is
 * read-only to the guest. */
#define VM_MEM_READ 0x1u
#define VM_MEM_WRITE 0x2u
#define VM_MEM_EXEC 0x4u

/* Flags for vm_stop_flags(). */
#define VM_STOP_FORCE 0x1u /* do not ask the guest; stop it now */

struct vm_info {
    enum vm_state state;
    enum vm_state_reason reason;
    uint32_t vcpus;      /* vCPUs the definition gives the guest */
    uint32_t max_vcpus;  /* upper bound for vm_set_vcpus() */
    uint64_t memory;     /* current memory, bytes */
    uint64_t max_memory; /* bytes */
    int exit_status;     /* the guest's exit status once stopped, else -1 */
    char uuid[37];       /* canonical text form */
};

/* ---- The seed API (QuantaVirt) ---- */

/* Create and define a VM on the process default connection
 * ($QV_DEFAULT_URI, else "kvm:///embed"). ram_size is in bytes. The VM is
 * CREATED. Errors: QV_ERR_INVALID_ARG (bad name, zero vCPUs or RAM),
 * QV_ERR_EXISTS, the driver's errors. */
struct vm *vm_create(const char *name, uint32_t max_vcpus, uint64_t ram_size);

/* Destroy the VM: stop it if it runs, then remove it and everything it owns
 * (definition, snapshots, state directory). Allowed in every state but
 * DESTROYED. The handle is released whether or not it succeeds; other
 * handles on the VM then report VM_STATE_DESTROYED. On failure
 * qv_last_error() says why. NULL is ignored. */
void vm_destroy(struct vm *vm);

/* CREATED or STOPPED -> RUNNING. */
int vm_start(struct vm *vm);
/* RUNNING or PAUSED -> STOPPED, gracefully: the guest is asked to power off
 * and, after the driver's default timeout, forced. */
int vm_stop(struct vm *vm);
/* RUNNING -> PAUSED: no vCPU executes guest code until vm_resume(). */
int vm_pause(struct vm *vm);
/* PAUSED -> RUNNING. */
int vm_resume(struct vm *vm);
/* RUNNING or PAUSED: a hardware reset; the state is kept. */
int vm_reset(struct vm *vm);

/* Add vCPU vcpu_id (0 <= id < max_vcpus). Errors: QV_ERR_INVALID_ARG,
 * QV_ERR_EXISTS, QV_ERR_UNSUPPORTED on drivers without register access. */
int vm_add_vcpu(struct vm *vm, uint32_t vcpu_id);
/* The vCPU with that id, or NULL (QV_ERR_NOT_FOUND). Owned by the VM. */
struct vcpu *vm_get_vcpu(struct vm *vm, uint32_t vcpu_id);

/* Map size bytes of new guest memory at gpa_base. Both must be 4 KiB
 * aligned and must not overlap an existing region. flags: VM_MEM_*. */
int vm_add_memory_region(struct vm *vm, uint64_t gpa_base, uint64_t size, uint32_t flags);
/* The host address backing gpa, or NULL (QV_ERR_OUT_OF_RANGE). On
 * kvm:///embed, writes through it reach no dirty log: once a VM handed one
 * out, its incremental snapshots are refused (QV_ERR_UNSUPPORTED), and a
 * snapshot_restore replaces the memory, so the pointer is stale after it. */
void *vm_gpa_to_hva(struct vm *vm, uint64_t gpa);
/* Copy len bytes from/to guest memory at gpa. The range may span adjacent
 * regions; any byte outside guest memory fails the whole call with
 * QV_ERR_OUT_OF_RANGE and nothing is copied. */
int vm_read_memory(struct vm *vm, uint64_t gpa, void *buf, size_t len);
int vm_write_memory(struct vm *vm, uint64_t gpa, const void *buf, size_t len);

/* ---- Management ---- */

/* Create a VM on conn like vm_create(). */
struct vm *vm_create_on(struct qv_conn *conn, const char *name, uint32_t max_vcpus,
                        uint64_t ram_size);
/* vm_define_xml(), vm_define_json() and vm_attach_device() refuse longer
 * documents (QV_ERR_XML / QV_ERR_JSON) before parsing them. */
#define QV_DEFINITION_MAX_BYTES (4u * 1024 * 1024)

/* Define a VM from libvirt domain XML. The VM is CREATED. Errors:
 * QV_ERR_XML naming line and element, QV_ERR_EXISTS, QV_ERR_INVALID_ARG
 * for a bad name. A UUID and NIC MAC addresses are generated when absent. */
struct vm *vm_define_xml(struct qv_conn *conn, const char *xml);
/* Define a VM from a QuantaVirt JSON config. Errors: QV_ERR_JSON naming the
 * JSON path, otherwise as vm_define_xml(). */
struct vm *vm_define_json(struct qv_conn *conn, const char *json);
/* A new handle on the VM called name, or NULL with QV_ERR_NOT_FOUND. */
struct vm *vm_lookup(struct qv_conn *conn, const char *name);
/* The names of all VMs on conn, sorted, as a NULL-terminated vector
 * (free with qv_strv_free()). count may be NULL. */
int vm_list(struct qv_conn *conn, char ***names, size_t *count);
/* Drop a handle; the VM itself lives on. NULL is ignored. */
void vm_free(struct vm *vm);
/* Take one more reference on a handle. */
struct vm *vm_ref(struct vm *vm);

/* The VM's name (owned by the handle) and connection. */
const char *vm_get_name(struct vm *vm);
struct qv_conn *vm_get_conn(struct vm *vm);
/* The VM's definition as libvirt domain XML; free with qv_free(). */
char *vm_get_xml(struct vm *vm);
/* The VM's definition as QuantaVirt JSON; free with qv_free(). */
char *vm_get_json(struct vm *vm);
/* The current state. A destroyed VM, or one the driver cannot reach, reports
 * VM_STATE_DESTROYED (and sets the error in the second case). */
enum vm_state vm_get_state(struct vm *vm);
/* State, reason, sizes and UUID. */
int vm_get_info(struct vm *vm, struct vm_info *info);
/* Constant lower-case names: "running", "crashed", ... */
const char *vm_state_name(enum vm_state state);
const char *vm_state_reason_name(enum vm_state_reason reason);

/* Stop with flags (VM_STOP_FORCE). timeout_ms bounds the graceful phase;
 * negative means the driver's default (30 s), 0 means force at once. */
int vm_stop_flags(struct vm *vm, unsigned flags, int timeout_ms);

/* Wait until the VM is neither RUNNING nor PAUSED (it stopped, or the guest
 * powered off or exited), or timeout_ms passes (negative: no limit).
 * Returns 0, QV_ERR_TIMEOUT, or QV_ERR_UNSUPPORTED. vm_get_info() then gives
 * the reason and the guest's exit status. The VM is not locked while waiting. */
int vm_wait(struct vm *vm, int timeout_ms);

/* Define a copy of the VM called new_name: a new UUID, new NIC MACs, and
 * copy-on-write copies of its disks where the driver has disks. The source
 * may be in any state but MIGRATING and DESTROYED; the clone is CREATED. */
struct vm *vm_clone(struct vm *vm, const char *new_name);

/* ---- Settings and hot-plug ----
 * Each changes the definition; on a running VM the driver applies it live
 * or returns QV_ERR_UNSUPPORTED (and changes nothing). */

/* Pin vCPU vcpu to host CPU pcpu; pcpu < 0 removes the pin. */
int vm_set_cpu_pin(struct vm *vm, uint32_t vcpu, int pcpu);
/* Remove every vCPU's pin: the host scheduler places the vCPUs again. On
 * a running VM each vCPU thread gets back every CPU the VM's process may
 * use (for qemu, the QEMU process's CPU set; for kvm:///embed, the calling
 * thread's). */
int vm_set_cpu_pin_auto(struct vm *vm);
/* Pin vCPU i to the i-th CPU the calling process may run on (its
 * sched_getaffinity set), wrapping when there are more vCPUs than CPUs. */
int vm_set_cpu_pin_spread(struct vm *vm);
/* The host CPU vCPU vcpu is pinned to, or -1. */
int vm_get_cpu_pin(struct vm *vm, uint32_t vcpu, int *pcpu);
/* CPU weight, 1..65535 (default 256). */
int vm_set_cpu_weight(struct vm *vm, uint32_t weight);
/* CPU cap in percent of one host CPU per vCPU, 0..100; 0 removes the cap. */
int vm_set_cpu_cap(struct vm *vm, uint32_t percent);
/* Number of vCPUs, 1..max_vcpus. */
int vm_set_vcpus(struct vm *vm, uint32_t vcpus);
/* Current memory in bytes (balloon), at most the maximum memory. */
int vm_set_memory(struct vm *vm, uint64_t bytes);
/* Disk throttling for the disk with target dev (e.g. "vda"), or every disk
 * when disk is NULL; 0 removes a limit. */
int vm_set_io_limit(struct vm *vm, const char *disk, uint64_t bytes_per_sec, uint64_t iops);
/* NIC throttling for the NIC with that MAC, or every NIC when mac is NULL,
 * in bits per second; 0 removes the limit. */
int vm_set_net_limit(struct vm *vm, const char *mac, uint64_t bits_per_sec);
/* Add or remove a <disk>, <interface> or <hostdev> given as XML. Removal
 * matches a disk by target dev, a NIC by MAC, a hostdev by address; a disk
 * or NIC also by its user alias (<alias name='ua-...'/>, alone or with
 * them). */
int vm_attach_device(struct vm *vm, const char *device_xml);
int vm_detach_device(struct vm *vm, const char *device_xml);
/* Cloud-init (NoCloud) documents for the VM's next start, kept in its
 * definition as <metadata><qv:cloud-init> (docs/xml.md). user_data is
 * required (NULL removes all three); meta_data, if given, is a YAML block
 * mapping that does not set instance-id: qv sets that to the VM's UUID, so
 * a clone is a new instance. Each at most QV_CLOUD_INIT_MAX_BYTES. Drivers
 * that cannot attach a seed refuse it (QV_ERR_UNSUPPORTED), as does the
 * qemu driver while the VM runs (the seed is made at start). */
#define QV_CLOUD_INIT_MAX_BYTES (256u * 1024)
int vm_set_cloud_init(struct vm *vm, const char *user_data, const char *meta_data,
                      const char *network_config);

/* ---- Statistics ----
 * vm_get_stats() reports what `virsh domstats` reports, under the same
 * keys, as a list of key/value pairs. Times are in nanoseconds, memory in
 * KiB, I/O in requests and bytes; counters count from the VM's start.
 *
 *   state.state        enum vm_state            state.reason  enum vm_state_reason
 *   cpu.time           host CPU time of the VM's process (cpu.user + cpu.system)
 *   cpu.user, cpu.system
 *   balloon.current    memory the guest has now (the balloon's target when
 *                      the driver has a balloon, else the definition's)
 *   balloon.maximum    the definition's maximum memory
 *   balloon.rss        resident memory of the VM's process
 *   vcpu.current, vcpu.maximum
 *   vcpu.N.state       1: vCPU N runs on a host thread (0: offline)
 *   vcpu.N.time        host CPU time of vCPU N's thread
 *   block.count        disks; then per disk N = 0.. in definition order:
 *   block.N.name       target ("vda"), block.N.path  its source (string)
 *   block.N.rd.reqs, block.N.rd.bytes, block.N.wr.reqs, block.N.wr.bytes
 *   net.count          NICs; then per NIC N:
 *   net.N.name         the host side's name (tap device, else QEMU's netdev id)
 *   net.N.rx.bytes, net.N.rx.pkts, net.N.tx.bytes, net.N.tx.pkts
 *                      as the guest sees them (rx: received by the guest)
 *
 * A key is absent when the driver cannot know its value; a VM that does not
 * run reports state.*, balloon.current/maximum and vcpu.current/maximum
 * only. Which driver reports what is listed in docs/drivers.md. Strings
 * are the .name and .path keys; every other value is VM_STAT_UINT. */
enum vm_stat_type {
    VM_STAT_UINT,
    VM_STAT_STRING,
};

struct vm_stat {
    char *key;
    enum vm_stat_type type;
    uint64_t uint_value; /* VM_STAT_UINT */
    char *string_value;  /* VM_STAT_STRING */
};

/* The VM's statistics, in the order `virsh domstats` prints them. Free
 * with vm_stats_free(). QV_ERR_UNSUPPORTED on drivers that have none;
 * QV_ERR_PROTOCOL when the backend's reply lacks what it must carry. */
int vm_get_stats(struct vm *vm, struct vm_stat **stats, size_t *count);
void vm_stats_free(struct vm_stat *stats, size_t count);

/* What is in force on a running or paused VM, read back from the backend
 * (the threads, the hypervisor) rather than from the definition, as
 * key/value pairs; free with vm_stats_free():
 *
 *   vcpu.N.cpus             host CPUs vCPU N's thread may run on, in
 *                           libvirt's cpuset syntax ("0-3,6"; string)
 *   block.N.name            disk target ("vda"; string), per disk N
 *   block.N.bytes_sec       I/O limit in force, bytes/s (0: none)
 *   block.N.iops_sec        I/O limit in force, operations/s (0: none)
 *   vnc.address             where its VNC server listens ("127.0.0.1:5900"), when it has one
 *   net.N.mac, net.N.tap    NIC N's MAC and host tap (strings), for a NIC
 *                           whose tap the driver knows (qemu: bridge, tap)
 *   net.N.inbound_bytes_sec  host-to-guest limit in force, bytes/s (0: none)
 *   net.N.outbound_bytes_sec guest-to-host limit in force, bytes/s (0: none)
 *   balloon.current         memory the guest has now through its balloon,
 *                           KiB (absent without a balloon)
 *   cgroup.path             the VM's cgroup (string), when it has one
 *   cgroup.FILE             the text of each CPU limit file there
 *                           ("cpu.shares", "cpu.max", ...; string)
 *
 * QV_ERR_INVALID_STATE when the VM does not run, QV_ERR_UNSUPPORTED on
 * drivers that cannot read these back; a key is absent when the driver has
 * no such value. */
int vm_get_live_settings(struct vm *vm, struct vm_stat **settings, size_t *count);

/* ---- Guest access ---- */

/* Where the serial console can be reached: "unix:/path", "pty:/dev/pts/N",
 * "file:/path", "ws://host:port/..." or "stdio". Free with qv_free(). */
char *vm_console_endpoint(struct vm *vm);
/* The file in which the driver keeps a copy of everything the guest writes
 * to its serial console (*path, free with qv_free()), and the offset in it
 * at which the output of the VM's current run begins (*start; 0 when the VM
 * does not run). A reader that prints the file from *start and follows it
 * sees the console from the guest's first byte, also what the guest wrote
 * before anyone attached to the endpoint. QV_ERR_UNSUPPORTED on drivers
 * that keep no such copy. */
int vm_console_log(struct vm *vm, char **path, uint64_t *start);
/* An address at which the guest's SSH server can be reached: *ip is a
 * string (free with qv_free()), *port its TCP port. */
int vm_guest_ip(struct vm *vm, char **ip, int *port);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
