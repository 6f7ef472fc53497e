/* libvirt's cpuset syntax as a CPU mask: one parser for the qemu driver's
 * and the kvm driver's pins and NUMA cells. cpu_set_t users need
 * _GNU_SOURCE before the first system header. */
#ifndef QV_UTIL_CPUSET_H
#define QV_UTIL_CPUSET_H

#include <sched.h>

/* "4", "0-3,^2", "0,2,4-6" into set; QV_ERR_INVALID_ARG naming s when it
 * is not one or names no CPU. */
int qv_cpuset_parse(const char *s, cpu_set_t *set);

#endif
