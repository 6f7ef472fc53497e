/* <vcpupin> as a CPU mask (kvm_pin.h). */
#define _GNU_SOURCE
#include "kvm_pin.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "../../lib/util/cpuset.h"
#include "../../lib/util/error.h"

int kvm_pin_mask(const struct qv_domain *def, uint32_t vcpu, const cpu_set_t *allowed,
                 cpu_set_t *set)
{
    const GArray *pins = def->cputune.pins;
    const struct qv_vcpupin *pin = NULL;
    for (guint i = 0; pins && i < pins->len; i++)
        if (g_array_index(pins, struct qv_vcpupin, i).vcpu == vcpu)
            pin = &g_array_index(pins, struct qv_vcpupin, i);
    if (!pin)
        return 0;
    g_autofree char *text = pin->cpuset ? g_strdup(pin->cpuset) : g_strdup_printf("%d", pin->pcpu);
    if (qv_cpuset_parse(text, set) < 0) {
        qv_error_prefix("VM '%s': vCPU %u", def->name ? def->name : "", vcpu);
        return qv_error_code();
    }
    /* sched_setaffinity takes a mask with CPUs the host lacks and quietly
     * drops them (or fails with EINVAL when none is left): the pin asked
     * for is checked CPU by CPU so that none is lost unseen. */
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, set) && !CPU_ISSET(c, allowed))
            return qv_error_set(QV_ERR_INVALID_ARG,
                                "VM '%s': vCPU %u: host CPU %d (of cpuset '%s') does not exist "
                                "or is not allowed here",
                                def->name ? def->name : "", vcpu, c, text);
    return 1;
}
