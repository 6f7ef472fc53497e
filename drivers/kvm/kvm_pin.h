/* The host CPUs a vCPU of the kvm driver is pinned to (<vcpupin cpuset>:
 * one CPU, a range or a list), as a CPU mask. Pure: unit-tested without
 * /dev/kvm. cpu_set_t users need _GNU_SOURCE before the first system
 * header. */
#ifndef QV_KVM_PIN_H
#define QV_KVM_PIN_H

#include <sched.h>
#include <stdint.h>

#include "../../lib/conf/domain.h"
#include "../../lib/util/cpuset.h"

/* vCPU vcpu's pin in def: 1 with *set its CPUs, 0 when it has none. Every
 * CPU of the pin must be in allowed (the CPUs the VMM's process may run
 * on): QV_ERR_INVALID_ARG "VM 'N': vCPU V: host CPU C (of cpuset 'S')
 * does not exist or is not allowed here" otherwise. */
int kvm_pin_mask(const struct qv_domain *def, uint32_t vcpu, const cpu_set_t *allowed,
                 cpu_set_t *set);

#endif
