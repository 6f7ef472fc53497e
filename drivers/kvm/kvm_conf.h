/* What of a domain definition the in-tree VMM carries out. Everything else
 * is refused when it is defined or set, naming the element, rather than
 * booted without it. Pure functions: no /dev/kvm needed, unit-tested. */
#ifndef QV_KVM_CONF_H
#define QV_KVM_CONF_H

#include "../../lib/conf/domain.h"
#include "../../lib/conf/setting.h"

/* 0, or QV_ERR_UNSUPPORTED "VM 'NAME': <ELEMENT> is not supported by the
 * kvm driver yet" for the first element the driver would not honour. */
int kvm_domain_check(const struct qv_domain *def);

/* def with the setting applied, if the result is still a definition the
 * driver honours; NULL with the error set otherwise (def is unchanged). */
struct qv_domain *kvm_setting_apply(const struct qv_domain *def, const struct qv_setting *set,
                                    const char *vm_name);

/* kvm_virtio_devices.c: whether the <disk>, <interface> and <rng> elements
 * are ones the VMM's virtio devices honour, and that its board has a slot
 * for each. Nothing is opened. */
int kvm_virtio_devices_check(const struct qv_domain *def);

#endif
