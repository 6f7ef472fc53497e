/* The debug trace of public entry points, as libvirt's VIR_DOMAIN_DEBUG:
 * with G_MESSAGES_DEBUG=qv (or all) every public call logs, under the log
 * domain "qv", one line when it starts (the call and its VM) and one when it
 * returns (ok, or the code, origin and message of the error it left).
 *
 * A public function opens its trace first thing with one of the QV_API_*
 * macros; they also clear this thread's error slot (the start of every
 * public call), and the trace ends by itself when the function returns,
 * whatever path it returns by: the result is read from the error slot,
 * which a public call leaves empty exactly when it succeeds. */
#ifndef QV_API_TRACE_H
#define QV_API_TRACE_H

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct vcpu;

struct qv_trace {
    const char *func;
    bool on;                /* the debug log is enabled: format and log */
    char subject[96];       /* "VM 'web01'", "VM 'web01' vCPU 0", "URI 'noop:///'" */
    struct qv_trace *outer; /* the enclosing traced call on this thread */
};

void qv_trace_begin(struct qv_trace *t, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void qv_trace_end(struct qv_trace *t);
/* Name the VM of the innermost traced call on this thread, for calls that
 * learn it on the way (vm_define_xml). */
void qv_trace_set_vm(const char *name);
/* vm's name, "(NULL)" for no handle. */
const char *qv_trace_vm_name(const struct vm *vm);

#define QV_TRACE_DECL_ __attribute__((cleanup(qv_trace_end))) struct qv_trace qv_trace_
/* A call on a VM handle (which may be NULL). */
#define QV_API_VM(vm)                                                                              \
    QV_TRACE_DECL_;                                                                                \
    qv_trace_begin(&qv_trace_, __func__, "VM '%s'", qv_trace_vm_name(vm))
/* A call on a vCPU handle (which may be NULL). */
#define QV_API_VCPU(vcpu)                                                                          \
    QV_TRACE_DECL_;                                                                                \
    qv_trace_begin(&qv_trace_, __func__, "VM '%s' vCPU %d",                                        \
                   qv_trace_vm_name((vcpu) ? (vcpu)->vm : NULL), (vcpu) ? (int)(vcpu)->id : -1)
/* Any other call, with a printf-style subject ("" for none). */
#define QV_API(...)                                                                                \
    QV_TRACE_DECL_;                                                                                \
    qv_trace_begin(&qv_trace_, __func__, __VA_ARGS__)

#endif
