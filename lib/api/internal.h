/* Core helpers shared by the public entry points. */
#ifndef QV_API_INTERNAL_H
#define QV_API_INTERNAL_H

#include "driver.h"
#include "state.h"

void qv_conn_ref(struct qv_conn *conn);
void qv_conn_unref(struct qv_conn *conn);
struct qv_conn *qv_default_conn(void);

/* QV_ERR_UNSUPPORTED naming the operation and the driver. */
int qv_unsupported(const struct qv_conn *conn, const char *op);

/* Lock vm, check it is alive and that op is allowed in its state. On
 * success the VM stays locked and *st holds its status; on failure it is
 * unlocked and the error is set. */
int qv_vm_enter(struct vm *vm, enum qv_op op, struct qv_vm_status *st);
void qv_vm_leave(struct vm *vm);

/* vm_define_xml() of a definition libqv formatted itself from one that
 * vm_define_xml() had accepted (kvm:///session's vmm.xml, which qv-vmm
 * reads from a directory only qv writes): libvirt's schema is not checked
 * again, as compiling it costs each process about 15 ms of its start-up;
 * qv's own checks (parse, validate, the driver's define) all run. */
struct vm *qv_vm_define_own_xml(struct qv_conn *conn, const char *xml);

#endif
