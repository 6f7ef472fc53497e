/* The noop driver's objects, shared by its files. Internal.
 *
 * A noop VM is a struct noop_vm. In memory mode (noop:///) the connection's
 * table owns one per VM; in directory mode (noop:///ABS/DIR) every handle
 * gets its own, and the truth lives in DIR/<name>/, reloaded under the
 * per-VM flock at the start of each operation so that separate processes
 * see one world.
 *
 * Locks are pthread's, not GMutex/GCond: those are futex-based on Linux
 * and invisible to helgrind, which CI runs on the thread test.
 *
 * Locking order: the core's handle lock, then noop_vm.lock (and the flock
 * in directory mode), then noop_vcpu.lock, then noop_conn.lock. */
#ifndef QV_NOOP_H
#define QV_NOOP_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/api/driver.h"

struct noop_conn {
    char *dir;            /* directory mode; NULL in memory */
    pthread_mutex_t lock; /* guards vms */
    GHashTable *vms;      /* memory mode: name -> struct noop_vm * (a reference) */
};

/* Guest memory: always a file descriptor (a memfd in memory mode, a sparse
 * file in directory mode) so that holes, copies and snapshots work alike;
 * mapped on first use. */
struct noop_region {
    uint64_t gpa, size;
    uint32_t flags; /* VM_MEM_* */
    char *path;     /* directory mode: the backing file; NULL: a memfd */
    int fd;         /* -1 until first used */
    uint8_t *hva;   /* NULL until mapped */
};

struct noop_msr {
    uint32_t index;
    uint64_t value;
};

/* A vCPU's architectural state: what snapshots capture. */
struct noop_cpu_state {
    struct vcpu_regs regs;
    struct vcpu_sregs sregs;
    GArray *msrs; /* struct noop_msr */
};

enum noop_event_kind { NOOP_EVENT_INTERRUPT = 1, NOOP_EVENT_EXCEPTION = 2, NOOP_EVENT_NMI = 3 };

struct noop_event {
    enum noop_event_kind kind;
    uint8_t vector;
    bool has_error_code;
    uint32_t error_code;
};

struct noop_vcpu {
    struct vcpu base;     /* first: the core casts */
    pthread_mutex_t lock; /* guards everything below */
    struct noop_cpu_state cpu;
    GArray *events; /* struct noop_event, queued, oldest first */
    gint kicked;    /* atomic: the next vcpu_run returns VCPU_EXIT_INTR */
    struct vcpu_exit_info exit;
};

struct noop_snap; /* memory mode only: noop_snapshot.c */

struct noop_vm {
    int refs;             /* under noop_vm.c's refs_lock */
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t cond;  /* broadcast on every state change */
    struct noop_conn *nc;
    char *name;
    char *dir; /* DIR/<name>, directory mode only */
    char *lock_path;
    /* Directory mode: the random id state.json carries for this VM's whole
     * life, so a VM destroyed and re-created under the same name elsewhere
     * (inode numbers get reused) is told apart. "" until first read. */
    char instance[37];
    char uuid[37]; /* memory mode: the definition's UUID, fixed for the VM's life */
    /* Directory mode: state.json's memory generation. A restore writes the
     * memory files of generation N+1 beside those of N and commits by
     * renaming state.json, so a kill leaves one whole generation; other
     * processes see the number change and remap. */
    uint64_t memgen;
    int lock_fd; /* the flock, held between begin and end */
    struct qv_domain *def;
    char *def_stamp; /* directory mode: identity of the domain.xml def came from */
    struct qv_vm_status st;
    bool removed;
    GPtrArray *regions; /* struct noop_region *, sorted by gpa; [0] is RAM */
    GHashTable *vcpus;  /* id -> struct noop_vcpu * (owned) */
    GPtrArray *snaps;   /* memory mode: struct noop_snap *, oldest first */
};

#define NOOP_VM(vm) ((struct noop_vm *)(vm)->priv)
#define NOOP_CONN(conn) ((struct noop_conn *)(conn)->priv)

/* noop_vm.c */
struct noop_vm *noop_vm_new(struct noop_conn *nc, const char *name);
struct noop_vm *noop_vm_ref(struct noop_vm *v);
void noop_vm_unref(struct noop_vm *v);
/* Lock v for one operation. In directory mode also take the per-VM flock
 * and reload what another process may have changed. QV_ERR_NOT_FOUND when
 * the VM no longer exists. */
int noop_vm_begin(struct noop_vm *v);
/* As noop_vm_begin, but only the state is reloaded: enough for status and
 * destroy, which must work even when domain.xml is damaged. */
int noop_vm_begin_status(struct noop_vm *v);
void noop_vm_end(struct noop_vm *v);
/* Change the state, persist it and wake waiters. Called between begin/end. */
int noop_vm_set_state(struct noop_vm *v, enum vm_state state, enum vm_state_reason reason);

/* noop_store.c: directory mode persistence. Every write is atomic. */
char *noop_store_vm_dir(struct noop_conn *nc, const char *name);
int noop_store_open(struct noop_conn *nc);
int noop_store_lock(struct noop_vm *v);
void noop_store_unlock(struct noop_vm *v);
/* Reload def, state and the region list if they changed on disk. */
int noop_store_load(struct noop_vm *v, bool full);
int noop_store_save_def(struct noop_vm *v);
int noop_store_read_status(struct noop_vm *v, struct qv_vm_status *st);
int noop_store_save_state(struct noop_vm *v);
int noop_store_write_def(const char *dir, const struct qv_domain *def);
/* A restore's definition waits in domain.gN.xml (N its memory generation)
 * until state.json commits generation N; then it replaces domain.xml. The
 * next full load finishes that step if a kill interrupted it. */
char *noop_store_pending_def(const char *dir, uint64_t memgen);
int noop_store_write_pending_def(const char *dir, uint64_t memgen, const struct qv_domain *def);
int noop_store_roll_forward(const char *dir, uint64_t memgen);
int noop_store_write_state(const char *dir, const char *instance, uint64_t memgen,
                           const struct qv_vm_status *st, GPtrArray *regions);
int noop_store_read_memgen(const char *dir, uint64_t *memgen);
/* The lock that makes a check of names and UUIDs and the publication of a
 * new VM one step across processes. Returns the fd for qv_lock_release. */
int noop_store_names_lock(struct noop_conn *nc, const char *why, const char *name);
/* noop_sweep.c: remove temporaries no live process is writing. */
void noop_store_sweep(struct noop_conn *nc);
/* Read state.json's instance id into v->instance. */
int noop_store_adopt(struct noop_vm *v);
/* Move a fully written temporary directory to dir; QV_ERR_EXISTS if taken. */
int noop_store_publish(const char *tmp, const char *dir, const char *what, const char *name);
char *noop_store_mkdtemp(const char *parent, const char *name);
int noop_store_list(struct noop_conn *nc, GPtrArray *names);
/* The name of the VM in the directory whose definition has this UUID, or NULL. */
char *noop_store_uuid_owner(struct noop_conn *nc, const char *uuid);

bool noop_json_int(JsonObject *o, const char *member, gint64 *out);
int noop_parse_hex64(JsonObject *o, const char *member, uint64_t *out);
/* $.regions of state.json or meta.json into struct noop_region (no fd). */
int noop_json_regions(JsonObject *o, const char *path, GArray *regions);
void noop_json_add_regions(JsonBuilder *b, GPtrArray *regions, guint from);
const char *noop_reason_name(enum vm_state_reason reason);
int noop_state_from_name(const char *s, enum vm_state *out);
int noop_reason_from_name(const char *s, enum vm_state_reason *out);

/* noop_memory.c */
struct noop_region *noop_region_new(uint64_t gpa, uint64_t size, uint32_t flags, const char *path);
void noop_region_free(struct noop_region *r);
int noop_region_map(struct noop_region *r);
/* dst := src byte for byte (same size), copying only pages that hold data.
 * dst must be new (all zero); a full file system gives an error, no signal. */
int noop_region_copy(struct noop_region *dst, struct noop_region *src);
/* Give r fresh's backing (fresh is left empty): a mapping of r is replaced
 * in place, so addresses handed out stay valid. */
int noop_region_swap(struct noop_region *r, struct noop_region *fresh);
/* Bytes the region's backing occupies (allocated blocks). */
uint64_t noop_region_bytes(struct noop_region *r);
/* The file of the region at gpa in memory generation gen (see noop_vm.memgen). */
char *noop_region_file(const char *dir, uint64_t gpa, uint64_t gen);
/* Make v->regions[0] the RAM region for v->def. */
int noop_memory_init(struct noop_vm *v);
int noop_memory_add(struct noop_vm *v, uint64_t gpa, uint64_t size, uint32_t flags);
struct noop_region *noop_memory_find(struct noop_vm *v, uint64_t gpa, uint64_t size);
/* Directory mode: open any region state.json lists that v lacks. */
int noop_memory_sync(struct noop_vm *v, GArray *regions /* struct noop_region */);
void noop_memory_clear(struct noop_vm *v);
/* Directory mode: another process moved the memory to generation gen. */
int noop_memory_regen(struct noop_vm *v, uint64_t gen);
int noop_vm_add_memory_region(struct vm *vm, uint64_t gpa, uint64_t size, uint32_t flags);
void *noop_vm_gpa_to_hva(struct vm *vm, uint64_t gpa);
int noop_vm_read_memory(struct vm *vm, uint64_t gpa, void *buf, size_t len);
int noop_vm_write_memory(struct vm *vm, uint64_t gpa, const void *buf, size_t len);

/* noop_vcpu.c */
void noop_cpu_state_reset(struct noop_cpu_state *c, uint32_t id, uint64_t boot_ip);
void noop_cpu_state_copy(struct noop_cpu_state *dst, const struct noop_cpu_state *src);
void noop_cpu_state_clear(struct noop_cpu_state *c);
struct noop_vcpu *noop_vcpu_new(struct vm *vm, uint32_t id);
void noop_vcpu_free(struct noop_vcpu *vc);
struct vcpu *noop_vcpu_create(struct vm *vm, uint32_t id);
struct vcpu *noop_vcpu_get(struct vm *vm, uint32_t id);
void noop_vcpu_destroy(struct vcpu *vcpu);
int noop_vcpu_reset(struct vcpu *vcpu, uint64_t boot_ip);
int noop_vcpu_run(struct vcpu *vcpu);
const struct vcpu_exit_info *noop_vcpu_exit_info(struct vcpu *vcpu);
void noop_vcpu_kick(struct vcpu *vcpu);
int noop_vcpu_step(struct vcpu *vcpu);
int noop_vcpu_get_regs(struct vcpu *vcpu, struct vcpu_regs *regs);
int noop_vcpu_set_regs(struct vcpu *vcpu, const struct vcpu_regs *regs);
int noop_vcpu_get_sregs(struct vcpu *vcpu, struct vcpu_sregs *sregs);
int noop_vcpu_set_sregs(struct vcpu *vcpu, const struct vcpu_sregs *sregs);
int noop_vcpu_get_msr(struct vcpu *vcpu, uint32_t index, uint64_t *value);
int noop_vcpu_set_msr(struct vcpu *vcpu, uint32_t index, uint64_t value);
int noop_vcpu_queue_interrupt(struct vcpu *vcpu, uint8_t vector);
int noop_vcpu_queue_exception(struct vcpu *vcpu, uint8_t vector, bool has_error_code,
                              uint32_t error_code);
int noop_vcpu_queue_nmi(struct vcpu *vcpu);

/* noop_regs_json.c: vCPU state <-> regs.json */
char *noop_regs_to_json(GArray *ids, GPtrArray *states);
/* regs.json grows with the vCPU count (a few KiB each), so it has its own
 * size limit, room for 65535 vCPUs. */
#define NOOP_REGS_JSON_MAX ((size_t)512 << 20)
int noop_regs_from_json(const char *json, size_t len, const char *path, GArray *ids,
                        GPtrArray *states);

/* noop_vm.c: lifecycle slots */
int noop_vm_define(struct qv_conn *conn, const struct qv_domain *def, void **priv);
int noop_vm_lookup(struct qv_conn *conn, const char *name, void **priv);
void noop_vm_release(struct vm *vm);
int noop_vm_list(struct qv_conn *conn, GPtrArray *names);
struct qv_domain *noop_vm_get_def(struct vm *vm);
int noop_vm_get_status(struct vm *vm, struct qv_vm_status *st);
int noop_vm_start(struct vm *vm);
int noop_vm_stop(struct vm *vm, unsigned flags, int timeout_ms);
int noop_vm_pause(struct vm *vm);
int noop_vm_resume(struct vm *vm);
int noop_vm_reset(struct vm *vm);
int noop_vm_destroy(struct vm *vm);
int noop_vm_wait(struct vm *vm, int timeout_ms);
int noop_vm_clone(struct vm *src, const struct qv_domain *newdef, void **priv);
int noop_vm_set(struct vm *vm, const struct qv_setting *set);

/* noop_snapshot.c */
void noop_snap_free(struct noop_snap *s);
int noop_snapshot_create(struct vm *vm, const char *name, unsigned flags);
int noop_snapshot_restore(struct vm *vm, const char *name);
int noop_snapshot_delete(struct vm *vm, const char *name);
int noop_snapshot_list(struct vm *vm, struct snapshot_info **list, size_t *count);

#endif
