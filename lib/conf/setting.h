/* A change to a VM's settings, as the core hands it to a driver. */
#ifndef QV_CONF_SETTING_H
#define QV_CONF_SETTING_H

#include <stdint.h>

#include "domain.h"

enum qv_setting_kind {
    QV_SET_CPU_PIN,     /* vcpu, pcpu (-1 unpins) */
    QV_SET_CPU_WEIGHT,  /* value: 1..65535 */
    QV_SET_CPU_CAP,     /* value: 0..100 */
    QV_SET_VCPUS,       /* value */
    QV_SET_MEMORY,      /* value: bytes */
    QV_SET_IO_LIMIT,    /* target (NULL: all), value: bytes/s, value2: iops */
    QV_SET_NET_LIMIT,   /* target MAC (NULL: all), value: bits/s */
    QV_SET_ATTACH_DISK, /* disk */
    QV_SET_DETACH_DISK, /* disk (matched by target and/or alias) */
    QV_SET_ATTACH_NET,  /* net */
    QV_SET_DETACH_NET,  /* net (matched by MAC and/or alias) */
    QV_SET_ATTACH_HOSTDEV,
    QV_SET_DETACH_HOSTDEV,
    QV_SET_CLOUD_INIT, /* cloud_init (NULL: remove) */
};

struct qv_setting {
    enum qv_setting_kind kind;
    uint32_t vcpu;
    int pcpu;
    uint64_t value, value2;
    const char *target;
    const struct qv_disk *disk;
    const struct qv_net *net;
    const struct qv_hostdev *hostdev;
    const struct qv_cloud_init *cloud_init;
};

/* Apply a setting to a definition, so every driver persists settings the
 * same way. Fails (leaving def unchanged) with QV_ERR_NOT_FOUND for an
 * unknown disk/NIC/vCPU, QV_ERR_EXISTS for a duplicate device,
 * QV_ERR_INVALID_ARG for a value the definition cannot take. */
/* The disk or NIC a removal names (by target or MAC, and/or by alias):
 * its index, or -1. */
int qv_setting_find_disk(const struct qv_domain *def, const struct qv_disk *key);
int qv_setting_find_net(const struct qv_domain *def, const struct qv_net *key);

int qv_setting_apply(struct qv_domain *def, const struct qv_setting *set, const char *vm_name);

#endif
