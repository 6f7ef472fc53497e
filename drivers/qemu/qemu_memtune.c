/* <memtune>: memory limits through the VM's cgroup (qemu_cgroup.c),
 * hard_limit, soft_limit and swap_hard_limit as the memory controller's
 * files (lib/proc/cgroup.h). min_guarantee is refused: libvirt gives it
 * to VMware ESX only; Linux has no knob that guarantees a QEMU process
 * memory. Read from the element kept as written. */
#include <string.h>

#include "../../lib/conf/xml_util.h"
#include "../../lib/proc/cgroup.h"
#include "../../lib/util/error.h"
#include "qemu_argv_machine.h"
#include "qemu_vm.h"

static const char *const limits[] = {"hard_limit", "soft_limit", "swap_hard_limit"};

int qemu_argv_memtune(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    if (qemu_machine_only(v, k, n, "", "hard_limit soft_limit swap_hard_limit min_guarantee") < 0)
        return QV_ERR_UNSUPPORTED;
    uint64_t kib[3] = {0};
    for (const xmlNode *c = n->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (strcmp((const char *)c->name, "min_guarantee") == 0)
            return qemu_machine_refuse(v, k, c,
                                       "Linux has no cgroup setting that guarantees a QEMU "
                                       "process memory (libvirt honours it on VMware ESX only)");
        if (qemu_machine_only(v, k, c, "unit", "") < 0)
            return QV_ERR_UNSUPPORTED;
        for (int i = 0; i < 3; i++)
            if (strcmp((const char *)c->name, limits[i]) == 0 &&
                qemu_machine_kib(v, k, c, &kib[i]) < 0)
                return QV_ERR_UNSUPPORTED;
    }
    if (kib[0] && kib[2] && kib[2] < kib[0])
        return qemu_machine_refuse(v, k, n, "swap_hard_limit is less than hard_limit");
    return 0;
}

int qemu_memtune_of(const struct qv_domain *def, struct proc_cgroup_memory *m)
{
    memset(m, 0, sizeof(*m));
    const struct qv_kept *k = qv_domain_kept_find(def, "", "memtune");
    if (!k)
        return 0;
    xmlDoc *doc = qv_conf_xml_read(k->xml, "kept XML");
    if (!doc)
        return qv_error_code();
    uint64_t *slots[] = {&m->hard_kib, &m->soft_kib, &m->swap_hard_kib};
    int rc = 1;
    for (const xmlNode *c = xmlDocGetRootElement(doc)->children; c && rc == 1; c = c->next)
        for (int j = 0; j < 3 && rc == 1; j++)
            if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, limits[j]) == 0 &&
                qv_conf_xml_text_kib(c, slots[j]) < 0)
                rc = qv_error_code();
    xmlFreeDoc(doc);
    return rc;
}
