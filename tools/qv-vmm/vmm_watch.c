/* Two helper threads, each with its own VM handle so the main loop's
 * handle is never held while they wait:
 *  - the waiter notices the guest stopping by itself (power-off, crash)
 *    with vm_wait, in short rounds so that it can be told to end;
 *  - the power-off of system_powerdown runs vm_stop, libqv's graceful
 *    stop (the guest is asked, and forced off after the driver's graceful
 *    period), which can take that whole period.
 * Their results reach the main loop through g_main_context_invoke. */
#include <stdio.h>

#include "vmm.h"

#define VMM_WAIT_ROUND_MS 200

struct vmm_watch {
    struct vmm *v;
    struct vm *wait_vm, *stop_vm;
    GThread *waiter, *stopper;
    gint quit; /* atomic: the waiter ends */
};

static gboolean report_stopped(gpointer data)
{
    vmm_guest_stopped(data);
    return G_SOURCE_REMOVE;
}

static gpointer waiter(gpointer data)
{
    struct vmm_watch *w = data;
    while (!g_atomic_int_get(&w->quit)) {
        int rc = vm_wait(w->wait_vm, VMM_WAIT_ROUND_MS);
        if (rc == 0) {
            g_main_context_invoke(NULL, report_stopped, w->v);
            return NULL;
        }
        if (rc == QV_ERR_TIMEOUT)
            continue;
        /* A driver without vm_wait: ask for the state instead. */
        enum vm_state s = vm_get_state(w->wait_vm);
        if (s != VM_STATE_RUNNING && s != VM_STATE_PAUSED) {
            g_main_context_invoke(NULL, report_stopped, w->v);
            return NULL;
        }
        g_usleep(VMM_WAIT_ROUND_MS * 1000);
    }
    return NULL;
}

struct vmm_watch *vmm_watch_start(struct vmm *v)
{
    struct vmm_watch *w = g_new0(struct vmm_watch, 1);
    w->v = v;
    w->wait_vm = vm_lookup(v->conn, vm_get_name(v->vm));
    if (!w->wait_vm) {
        g_free(w);
        return NULL;
    }
    w->waiter = g_thread_new("vmm-wait", waiter, w);
    return w;
}

/* On the loop, once the power-off is over (the guest is off, or vm_stop
 * failed): the next system_powerdown presses the button again. A stop
 * that ended the guest is reported by the waiter. */
static gboolean stopper_done(gpointer data)
{
    struct vmm *v = data;
    struct vmm_watch *w = v->watch;
    if (!w || !w->stopper)
        return G_SOURCE_REMOVE; /* vmm_watch_stop joined it already */
    g_thread_join(w->stopper);
    w->stopper = NULL;
    vm_free(w->stop_vm);
    w->stop_vm = NULL;
    v->powerdown_pending = false;
    return G_SOURCE_REMOVE;
}

static gpointer stopper(gpointer data)
{
    struct vmm_watch *w = data;
    if (vm_stop(w->stop_vm) < 0)
        fprintf(stderr, "qv-vmm: system_powerdown: %s\n", qv_last_error()->message);
    g_main_context_invoke(NULL, stopper_done, w->v);
    return NULL;
}

void vmm_watch_rearm(struct vmm_watch *w)
{
    if (!w)
        return;
    /* The waiter returned after reporting; a fresh one watches on. */
    g_thread_join(w->waiter);
    w->waiter = g_thread_new("vmm-wait", waiter, w);
}

int vmm_watch_powerdown(struct vmm_watch *w)
{
    if (!w)
        return QV_ERR_INVALID_STATE;
    if (w->stopper)
        return 0;
    w->stop_vm = vm_lookup(w->v->conn, vm_get_name(w->v->vm));
    if (!w->stop_vm)
        return qv_last_error()->code;
    w->stopper = g_thread_new("vmm-powerdown", stopper, w);
    return 0;
}

void vmm_watch_stop(struct vmm_watch *w)
{
    if (!w)
        return;
    g_atomic_int_set(&w->quit, 1);
    g_thread_join(w->waiter);
    if (w->stopper)
        g_thread_join(w->stopper);
    vm_free(w->wait_vm);
    vm_free(w->stop_vm);
    g_free(w);
}
