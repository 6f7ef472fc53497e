#include "trace.h"

#include <glib.h>
#include <stdarg.h>

#include "../util/error.h"
#include "driver.h"

static __thread struct qv_trace *current;

const char *qv_trace_vm_name(const struct vm *vm)
{
    return vm ? vm->name : "(NULL)";
}

void qv_trace_begin(struct qv_trace *t, const char *func, const char *fmt, ...)
{
    qv_reset_error();
    t->func = func;
    t->outer = current;
    current = t;
    /* Asked per outermost call, not cached: G_MESSAGES_DEBUG may be set
     * after the library loads (qv --debug sets it), and the check keeps hot
     * calls (vcpu_run) from formatting lines nobody reads. A public call
     * made by another (vcpu_get_reg by way of vcpu_get_regs) follows the
     * outer one's answer. */
    t->on =
        t->outer ? t->outer->on : !g_log_writer_default_would_drop(G_LOG_LEVEL_DEBUG, G_LOG_DOMAIN);
    t->subject[0] = '\0';
    if (!t->on)
        return;
    va_list ap;
    va_start(ap, fmt);
    g_vsnprintf(t->subject, sizeof(t->subject), fmt, ap);
    va_end(ap);
    g_debug("%s: %s", func, t->subject);
}

void qv_trace_set_vm(const char *name)
{
    if (current && current->on && name)
        g_snprintf(current->subject, sizeof(current->subject), "VM '%s'", name);
}

void qv_trace_end(struct qv_trace *t)
{
    current = t->outer;
    if (!t->on)
        return;
    const struct qv_error *e = qv_last_error();
    if (e->code == QV_OK)
        g_debug("%s: %s: ok", t->func, t->subject);
    else
        g_debug("%s: %s: failed (%s, from %s): %s", t->func, t->subject, qv_strerror(e->code),
                e->origin, e->message);
}
