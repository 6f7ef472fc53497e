#include "lifecycle_cycle.h"

#include <glib.h>

double bench_lifecycle_mean_ms(struct qv_conn *c, const char *xml, int n, const char **failed)
{
    gint64 total = 0;
    for (int i = 0; i <= n; i++) {
        gint64 t0 = g_get_monotonic_time();
        struct vm *vm = vm_define_xml(c, xml);
        if (!vm)
            return *failed = "define", -1;
        if (vm_start(vm) < 0)
            return *failed = "start", -1;
        if (vm_get_state(vm) != VM_STATE_RUNNING)
            return *failed = "state", -1;
        if (vm_stop_flags(vm, VM_STOP_FORCE, 0) < 0)
            return *failed = "stop", -1;
        vm_destroy(vm);
        if (qv_last_error()->code)
            return *failed = "destroy", -1;
        if (i > 0)
            total += g_get_monotonic_time() - t0;
    }
    return total / 1000.0 / n;
}
