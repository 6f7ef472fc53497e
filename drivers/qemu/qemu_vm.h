/* The qemu driver's per-VM object and the helpers its files share. */
#ifndef QV_QEMU_VM_H
#define QV_QEMU_VM_H

#include "../../lib/qmp/qmp.h"
#include "qemu.h"

struct qemu_vm {
    char *name;
    char *dir;
    char *state_dir; /* the connection's, for the lock */
    int lock_fd;     /* the per-VM flock while held */
    int lock_depth;
};

static inline struct qemu_vm *qemu_vm_of(struct vm *vm)
{
    return vm->priv;
}

/* Take the per-VM flock (re-entrant within one handle; the core's VM mutex
 * already serialises threads). */
int qemu_vm_lock(struct qemu_vm *q, int timeout_ms);
void qemu_vm_unlock(struct qemu_vm *q);

struct qemu_vm *qemu_vm_new(struct qv_conn *conn, const char *name);
void qemu_vm_free(struct qemu_vm *q);
/* The definition stored in the VM directory. */
struct qv_domain *qemu_vm_load_def(struct qemu_vm *q);

/* Connect to the VM's monitor: qmp.sock for operations, status.sock for
 * read-only queries. */
struct qmp *qemu_vm_qmp(struct qemu_vm *q, bool status_monitor);

/* Whether the QEMU recorded in runtime.json still runs (full identity). */
bool qemu_vm_running(struct qemu_vm *q);
struct proc_runtime;
/* Whether rt's process runs (full identity) and is this VM's QEMU by its
 * executable (qemu_identity.c); a record naming another process is logged
 * and never adopted, signalled or waited for. */
bool qemu_runtime_alive(struct qemu_vm *q, const struct proc_runtime *rt);
/* Keep the executable of rt's (just verified) QEMU in rt->extra "exe". */
int qemu_runtime_record_exe(struct proc_runtime *rt);
/* The VM's live QEMU process, from its pidfile, proven by the -pidfile path
 * that ends its command line; with scan, failing that, by looking for that
 * path in every process's command line (for when runtime.json and the
 * pidfile are both lost). QV_ERR_NOT_FOUND when none runs. */
struct proc_identity;
/* The pid of the VM's running QEMU (and its recorded cgroup, NULL for
 * none, when cgroup is not NULL); QV_ERR_INVALID_STATE naming what was
 * being read when QEMU no longer runs. */
int qemu_vm_running_pid(struct qemu_vm *q, const char *reading, pid_t *pid, char **cgroup);
int qemu_vm_pidfile_process(struct qemu_vm *q, bool scan, struct proc_identity *id);

/* STOPPED reasons survive in state.json; a VM without one is CREATED. */
int qemu_vm_write_stopped(struct qemu_vm *q, enum vm_state_reason reason);

/* <emulator>, else $QV_QEMU_BINARY, else qemu-system-x86_64 from PATH. */
const char *qemu_emulator_of(const struct qv_domain *def);

/* The files a start needs besides the definition. */
struct qemu_prepared {
    GPtrArray *disk_files;   /* char *, may hold NULL */
    GPtrArray *disk_formats; /* char *, may hold NULL */
    uint16_t *ssh_ports;
    GPtrArray *tap_names; /* char *, per NIC, may hold NULL */
    char *nvram;
    char *seed_iso;
    char *hugepage_dir;
};
void qemu_prepared_clear(struct qemu_prepared *p);
int qemu_prepare(struct qemu_vm *q, const struct qv_domain *def, struct qemu_prepared *p);

#define QEMU_LOCK_WAIT_MS 60000

/* VM directories (qemu_store.c). The caller holds q's lock throughout. */
/* A new, empty .tmp-NAME-XXXXXX beside the VM directories. */
char *qemu_tmp_dir(const struct qemu_vm *q);
/* Rename tmp to q's directory (a stale directory without a definition
 * there is discarded first). */
int qemu_dir_publish(const struct qemu_vm *q, const char *tmp);
/* Rename dir (q's or a temporary of q's) away, then remove it. */
int qemu_dir_discard(const struct qemu_vm *q, const char *dir);
/* The driver-wide lock around "is this UUID free" and the publish that
 * takes it. */
int qemu_uuid_lock(const char *state_dir);
void qemu_uuid_unlock(int fd);
/* QV_ERR_EXISTS when a VM other than name holds uuid. */
int qemu_uuid_check(const char *state_dir, const char *uuid, const char *name);
/* Remove what interrupted operations left (temporary directories and
 * files, directories without a definition), each under its VM's lock. */
void qemu_sweep(struct qv_conn *conn);

int qemu_vm_status(struct vm *vm, struct qv_vm_status *st);
int qemu_vm_start(struct vm *vm);
int qemu_vm_stop(struct vm *vm, unsigned flags, int timeout_ms);
int qemu_vm_pause(struct vm *vm);
int qemu_vm_resume(struct vm *vm);
int qemu_vm_reset(struct vm *vm);
int qemu_vm_destroy(struct vm *vm);
int qemu_vm_wait(struct vm *vm, int timeout_ms);
int qemu_vm_guest_ip(struct vm *vm, char **ip, int *port);

/* vm_get_stats() of a running or paused VM (qemu_stats.c). */
int qemu_vm_stats(struct vm *vm, const struct qv_domain *def, GArray *stats);
/* vm_get_live_settings() of a running or paused VM (qemu_live.c). */
int qemu_vm_live(struct vm *vm, const struct qv_domain *def, GArray *out);

/* Pin the vCPU threads as <cputune> says (QEMU must be running, paused or
 * not). */
int qemu_apply_pins(struct qemu_vm *q, struct qmp *m, const struct qv_domain *def);
/* <numatune>: refuse a node this host does not have (before start), and
 * bind the unpinned vCPU threads to the node's CPUs (QEMU running). */
int qemu_check_numa(const struct qv_domain *def);
int qemu_apply_numa(struct qemu_vm *q, struct qmp *m, const struct qv_domain *def);
/* "qdev" or the inserted "node-name" of disk target in query-block. */
char *qemu_block_lookup(struct qmp *m, const char *target, const char *member);
/* One disk's <iotune> limits, on the running QEMU. */
int qemu_io_throttle(struct qemu_vm *q, struct qmp *m, const struct qv_disk *d);
/* Apply the disks' <iotune> limits (QEMU running). */
int qemu_apply_iotune(struct qemu_vm *q, struct qmp *m, const struct qv_domain *def);
int qemu_vm_set(struct vm *vm, const struct qv_setting *set);
/* Host side of tap and bridge NICs (qemu_net.c). host_tap_name
 * (lib/host/host_net.h) is the tap qv has QEMU make for a NIC; with
 * CAP_NET_ADMIN (host_net_admin) bridge NICs get one and qv puts it on the
 * bridge, else they go through qemu-bridge-helper. shape applies n's
 * <bandwidth> (or lifts it) on tap with tc; release removes what shaping
 * left beside the tap (its ifb device), release_all for every NIC of the
 * stored definition. at_start puts each named tap (taps[i], per NIC, may
 * be NULL) on its bridge and shapes it; live reshapes the running VM's NIC
 * mac (NULL: all); running_tap is the tap of a running NIC, proven to be
 * held by QEMU (pid), or NULL with QV_ERR_UNSUPPORTED saying why there is
 * none to shape; read adds net.N.{mac,tap,inbound_bytes_sec,
 * outbound_bytes_sec} as tc reports them. */
bool qemu_net_has_limit(const struct qv_net *n);
int qemu_net_bridge_attach(struct qemu_vm *q, const char *tap, const char *bridge);
int qemu_net_shape(struct qemu_vm *q, const struct qv_net *n, const char *tap);
void qemu_net_release(struct qemu_vm *q, const char *mac);
void qemu_net_release_all(struct qemu_vm *q);
int qemu_net_at_start(struct qemu_vm *q, const struct qv_domain *def, const char *const *taps);
int qemu_net_live(struct qemu_vm *q, const struct qv_domain *def, const char *mac);
char *qemu_net_running_tap(struct qemu_vm *q, pid_t pid, const struct qv_net *n);
int qemu_net_read(struct qemu_vm *q, pid_t pid, const struct qv_domain *def, GArray *out);

/* The balloon (qemu_balloon.c): at start, inflate it to <currentMemory>
 * when that is below <memory>; live, move it to def's current memory
 * (refused when the VM has no balloon). */
int qemu_balloon_apply(struct qemu_vm *q, struct qmp *m, const struct qv_domain *def);
int qemu_balloon_live(struct qemu_vm *q, const struct qv_domain *def);
/* The CPU weight and cap (<cputune> shares/quota) through the VM's own
 * cgroup: at start, into rt->cgroup, before the guest runs; live, creating
 * the group if the VM started without one. */
struct proc_runtime;
int qemu_cgroup_at_start(struct qemu_vm *q, const struct qv_domain *def, struct proc_runtime *rt);
int qemu_cgroup_live(struct qemu_vm *q, const struct qv_domain *def);
/* <memtune>'s limits from the kept element (qemu_memtune.c): 1 with *m
 * filled, 0 when there is none, <0 with the error set. */
struct proc_cgroup_memory;
int qemu_memtune_of(const struct qv_domain *def, struct proc_cgroup_memory *m);
/* <blkiotune> (qemu_blkiotune.c): 1 with *b filled (its devices, their
 * paths resolved with stat(), kept in devs), 0 when there is none, <0
 * with the error set (a path that is no block device). */
struct proc_cgroup_blkio;
int qemu_blkiotune_of(const struct qv_domain *def, struct proc_cgroup_blkio *b, GArray *devs);
/* Add or remove the disk or NIC of set on the running VM (before and
 * after are its definition without and with the change). */
int qemu_hotplug(struct qemu_vm *q, const struct qv_domain *before, const struct qv_domain *after,
                 const struct qv_setting *set);
/* Add vCPUs (device_add into free slots) or remove hot-added ones (the
 * guest must release each) until want are present. */
int qemu_set_vcpus_live(struct qemu_vm *q, uint32_t want);

/* PCI passthrough (qemu_vfio.c). The caller holds q's lock. prepare moves
 * the <hostdev> IOMMU groups to vfio-pci, recording the drivers they had;
 * release gives them back once QEMU no longer runs. settle does release
 * for a caller without the lock, if the lock is free and QEMU is gone
 * (after a crash or a killed caller). */
int qemu_vfio_prepare(struct qemu_vm *q, const struct qv_domain *def);
/* Apply what a gpu or nic <hostdev> needs to def (this start's copy): the
 * class check, a GPU's audio function (qemu_pci_roles.c). */
int qemu_pci_roles_apply(struct qemu_vm *q, struct qv_domain *def);
/* Map each <interface type='network'> of def (this start's copy) onto an
 * active libvirt network's bridge or, for 'default', user networking
 * (qemu_network.c); other networks are refused. */
int qemu_networks_resolve(struct qemu_vm *q, struct qv_domain *def);
/* The unix sockets QEMU binds at paths the definition gives: refused when
 * in qv's state (state_dir and qv's defaults), on something other than a
 * socket, or twice (qemu_sockpath.c). */
int qemu_check_bind_paths(const struct qv_domain *def, const char *state_dir);
/* After QEMU bound them (under its own umask 027): each such socket 0600,
 * without following a link put there since. */
void qemu_chmod_bind_paths(const struct qv_domain *def);
int qemu_vfio_release(struct qemu_vm *q);
/* The VFs of def's <interface type='hostdev'>s (qemu_argv_hostdev_net.c). */
struct qemu_hostdev_net {
    char *bdf; /* DDDD:BB:SS.F */
    bool managed;
    char *mac; /* NULL: leave the VF's */
    int vlan;  /* -1: none */
};
void qemu_hostdev_net_free(struct qemu_hostdev_net *h);
int qemu_hostdev_nets(const struct qv_domain *def, GPtrArray *out);
void qemu_vfio_settle(struct qemu_vm *q);

int qemu_snapshot_create(struct vm *vm, const char *name, unsigned flags);
int qemu_snapshot_restore(struct vm *vm, const char *name);
int qemu_snapshot_delete(struct vm *vm, const char *name);
int qemu_snapshot_list(struct vm *vm, struct snapshot_info **list, size_t *count);

/* swtpm for an emulator <tpm> (qemu_tpm.c): started before QEMU (nothing
 * without one), stopped if the start fails (QEMU's exit ends it otherwise);
 * check reports one that died while the VM runs. */
int qemu_tpm_start(struct qemu_vm *q, const struct qv_domain *def);
void qemu_tpm_stop(struct qemu_vm *q);
int qemu_tpm_check(struct qemu_vm *q, const struct qv_domain *def);
/* virtiofsd for each virtiofs <filesystem> (qemu_virtiofs.c): started
 * before QEMU, its processes our children (pids in children) until QEMU
 * has connected; started() reaps them then, abort() kills them when QEMU
 * did not start; stop() kills daemons a failed start leaves. live() adds
 * virtiofs.N.tag and virtiofs.N.virtiofsd (running/exited) to out. */
int qemu_virtiofs_start(struct qemu_vm *q, const struct qv_domain *def, GArray *children);
void qemu_virtiofs_started(struct qemu_vm *q, GArray *children);
void qemu_virtiofs_abort(GArray *children);
void qemu_virtiofs_stop(struct qemu_vm *q, const struct qv_domain *def);
void qemu_virtiofs_live(struct qemu_vm *q, const struct qv_domain *def, GArray *out);

#endif
