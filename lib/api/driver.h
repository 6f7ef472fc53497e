/* The driver table and the core's handle structs. Internal: drivers include
 * this; applications never see it. */
#ifndef QV_API_DRIVER_H
#define QV_API_DRIVER_H

#include <glib.h>
#include <stdbool.h>

#include "../../include/qv/qv.h"
#include "../conf/domain.h"
#include "../conf/setting.h"

/* What a driver reports about a VM's state. */
struct qv_vm_status {
    enum vm_state state;
    enum vm_state_reason reason;
    int exit_status; /* -1 when the guest left none */
};

struct qv_conn {
    gint refs;
    const struct qv_driver *driver;
    char *uri_str; /* normalised */
    GUri *uri;
    char *state_dir; /* root=, $QV_STATE_DIR or the default; owned */
    /* Guards vms. A GRecMutex, which is a pthread mutex, because GMutex is
     * a bare futex that helgrind cannot see (CI runs the thread test
     * under helgrind). */
    GRecMutex lock;
    GHashTable *vms; /* name -> struct vm *, live handles (not owned) */
    void *priv;      /* the driver's */
};

struct vm {
    gint refs;
    struct qv_conn *conn; /* holds a reference */
    char *name;
    GRecMutex lock;  /* serialises operations on this VM within the process */
    gint destroyed;  /* atomic: vCPU calls read it without the lock */
    void *priv;      /* the driver's per-VM object */
};

/* Drivers embed this as the first member of their vCPU struct. */
struct vcpu {
    struct vm *vm; /* borrowed: a vCPU never outlives its VM */
    uint32_t id;
};

struct qv_driver {
    const char *name;
    const char *const *schemes;
    /* What the core asks of a driver besides its slots: the <domain type>
     * a VM made by vm_create gets, so nothing in lib/ names a driver. */
    enum qv_virt_type domain_type;

    /* Connection. open reads conn->uri and may set conn->priv. */
    int (*open)(struct qv_conn *conn);
    void (*close)(struct qv_conn *conn);

    /* VM objects. define gets a validated definition with defaults filled
     * in; it copies what it keeps (the core frees def). define, clone and
     * lookup set *priv to the driver's per-VM object, which release drops
     * when the last handle goes. */
    int (*vm_define)(struct qv_conn *conn, const struct qv_domain *def, void **priv);
    int (*vm_lookup)(struct qv_conn *conn, const char *name, void **priv);
    void (*vm_release)(struct vm *vm);
    int (*vm_list)(struct qv_conn *conn, GPtrArray *names); /* appends g_strdup'ed names */
    /* A fresh copy of the definition; the caller frees it. */
    struct qv_domain *(*vm_get_def)(struct vm *vm);
    int (*vm_get_status)(struct vm *vm, struct qv_vm_status *st);

    /* Lifecycle. The core has checked the transition table. */
    int (*vm_start)(struct vm *vm);
    int (*vm_stop)(struct vm *vm, unsigned flags, int timeout_ms);
    int (*vm_pause)(struct vm *vm);
    int (*vm_resume)(struct vm *vm);
    int (*vm_reset)(struct vm *vm);
    int (*vm_destroy)(struct vm *vm);
    /* Block until the VM is neither RUNNING nor PAUSED, or timeout_ms
     * (negative: forever) passes (QV_ERR_TIMEOUT). */
    int (*vm_wait)(struct vm *vm, int timeout_ms);
    /* newdef is the source's definition with the new name, UUID and MACs. */
    int (*vm_clone)(struct vm *src, const struct qv_domain *newdef, void **priv);
    /* A setting the core has range-checked. */
    int (*vm_set)(struct vm *vm, const struct qv_setting *set);

    /* Statistics of a RUNNING or PAUSED VM (lib/api/stats.h): stats holds
     * the state and the definition's sizes already; the driver adds or
     * replaces what it measures. Required for vm_get_stats() in any state. */
    int (*vm_get_stats)(struct vm *vm, const struct qv_domain *def, GArray *stats);

    /* vm_get_live_settings() of a RUNNING or PAUSED VM: the driver adds
     * what it reads back to the empty list stats. */
    int (*vm_get_live)(struct vm *vm, const struct qv_domain *def, GArray *stats);

    char *(*vm_console_endpoint)(struct vm *vm);
    /* vm_console_log(): both outputs set on success. */
    int (*vm_console_log)(struct vm *vm, char **path, uint64_t *start);
    int (*vm_guest_ip)(struct vm *vm, char **ip, int *port);

    int (*vm_add_memory_region)(struct vm *vm, uint64_t gpa, uint64_t size, uint32_t flags);
    void *(*vm_gpa_to_hva)(struct vm *vm, uint64_t gpa);
    int (*vm_read_memory)(struct vm *vm, uint64_t gpa, void *buf, size_t len);
    int (*vm_write_memory)(struct vm *vm, uint64_t gpa, const void *buf, size_t len);

    int (*snapshot_create)(struct vm *vm, const char *name, unsigned flags);
    int (*snapshot_restore)(struct vm *vm, const char *name);
    int (*snapshot_delete)(struct vm *vm, const char *name);
    int (*snapshot_list)(struct vm *vm, struct snapshot_info **list, size_t *count);
    /* snapshot_create/restore/delete that run a job report it with
     * qv_snapshot_progress(); the caller's callback is not a slot argument
     * so drivers without jobs need nothing. */

    struct vcpu *(*vcpu_create)(struct vm *vm, uint32_t id);
    struct vcpu *(*vcpu_get)(struct vm *vm, uint32_t id);
    void (*vcpu_destroy)(struct vcpu *vcpu);
    int (*vcpu_reset)(struct vcpu *vcpu, uint64_t boot_ip);
    int (*vcpu_run)(struct vcpu *vcpu);
    const struct vcpu_exit_info *(*vcpu_exit_info)(struct vcpu *vcpu);
    void (*vcpu_kick)(struct vcpu *vcpu);
    int (*vcpu_step)(struct vcpu *vcpu);
    int (*vcpu_get_regs)(struct vcpu *vcpu, struct vcpu_regs *regs);
    int (*vcpu_set_regs)(struct vcpu *vcpu, const struct vcpu_regs *regs);
    int (*vcpu_get_sregs)(struct vcpu *vcpu, struct vcpu_sregs *sregs);
    int (*vcpu_set_sregs)(struct vcpu *vcpu, const struct vcpu_sregs *sregs);
    int (*vcpu_get_msr)(struct vcpu *vcpu, uint32_t index, uint64_t *value);
    int (*vcpu_set_msr)(struct vcpu *vcpu, uint32_t index, uint64_t value);
    int (*vcpu_queue_interrupt)(struct vcpu *vcpu, uint8_t vector);
    /* has_error_code false for vectors that push none (#UD). */
    int (*vcpu_queue_exception)(struct vcpu *vcpu, uint8_t vector, bool has_error_code,
                                uint32_t error_code);
    int (*vcpu_queue_nmi)(struct vcpu *vcpu);
};

/* Each driver's table. Only lib/api/registry.c refers to them, and only to
 * those of the drivers this build has (QV_WITH_<DRIVER>). */
extern const struct qv_driver qv_noop_driver;
extern const struct qv_driver qv_kvm_driver;
extern const struct qv_driver qv_qemu_driver;
extern const struct qv_driver qv_propolis_driver;
extern const struct qv_driver qv_remote_driver;

/* The drivers built into this libqv, NULL-terminated, in registry order. */
const struct qv_driver *const *qv_registry_drivers(void);
/* The built driver serving URI scheme `scheme` (of `uri`, for the message),
 * or NULL with QV_ERR_UNSUPPORTED when the driver that would serve it was
 * left out of the build, QV_ERR_URI when no driver would. */
const struct qv_driver *qv_registry_for_scheme(const char *scheme, const char *uri);
/* QV_ERR_UNSUPPORTED: driver `name` is not built into this libqv, naming
 * the CMake option that builds it. For the stand-ins of a left-out driver's
 * public calls. */
int qv_driver_not_built(const char *name);

/* Hand p to the progress callback of the snapshot_*_progress() call this
 * thread is in on vm, if it gave one (p->operation and p->snapshot are
 * filled in here). */
void qv_snapshot_progress(struct vm *vm, struct snapshot_progress *p);

/* vm_wait for a driver whose VM lives in another process: ask status every
 * 100 ms until the VM is neither RUNNING nor PAUSED, it is destroyed or
 * gone (QV_ERR_NOT_FOUND), or timeout_ms (negative: never) passes. */
int qv_driver_wait_polling(struct vm *vm, int timeout_ms,
                           int (*status)(struct vm *vm, struct qv_vm_status *st));

/* The state directory a connection without root= uses: $QV_STATE_DIR,
 * else /var/lib/qv for root, else ~/.local/share/qv. Owned by the caller. */
char *qv_conn_default_state_dir(void);

/* The value of a query parameter of conn's URI, or NULL. Owned by the caller. */
char *qv_conn_get_param(struct qv_conn *conn, const char *key);

#endif
