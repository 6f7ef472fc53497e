/* Memory hot-plug: <maxMemory slots> is -m's slots= and maxmem=, and each
 * <devices><memory model='dimm'> a backend of its own (the kind guest RAM
 * has, see qemu_ram_template) plugged in as a pc-dimm at start. As in
 * libvirt, <memory> counts the DIMMs: QEMU's -m size= is what is left.
 * On pc and q35 QEMU gives a guest without <cpu><numa> one NUMA node for
 * them. Hot-plugging a DIMM into a running VM is not offered (vm API). */
#define _GNU_SOURCE
#include <sched.h>
#include <string.h>

#include "../../lib/conf/conf_check.h"
#include "../../lib/conf/xml_util.h"
#include "../../lib/util/error.h"
#include "qemu_argv_machine.h"

#define MEMDEV_MAX_SLOTS 256 /* QEMU's ACPI_MAX_RAM_SLOTS */
#define DIMM_ALIGN_KIB 2048  /* QEMU: "backend memory size must be multiple of 0x200000" */

/* The size of a <memory model='dimm'> device (its <target><size>), 0 when
 * it has none or it does not parse (its handler refuses it then). */
static uint64_t device_kib(const struct qv_kept *k)
{
    xmlDoc *doc = qv_conf_xml_read(k->xml, "kept XML");
    if (!doc) {
        qv_reset_error();
        return 0;
    }
    const xmlNode *t = qemu_xml_child(xmlDocGetRootElement(doc), "target");
    const xmlNode *size = t ? qemu_xml_child(t, "size") : NULL;
    uint64_t kib = 0;
    if (size && qv_conf_xml_text_kib(size, &kib) < 0) {
        qv_reset_error();
        kib = 0;
    }
    xmlFreeDoc(doc);
    return kib;
}

static uint64_t devices_kib(const struct qv_domain *def)
{
    uint64_t sum = 0;
    for (guint i = 0; i < def->kept->len; i++) {
        const struct qv_kept *k = g_ptr_array_index(def->kept, i);
        if (strcmp(k->parent, "devices") == 0 && strcmp(k->name, "memory") == 0)
            sum += device_kib(k);
    }
    return sum;
}

uint64_t qemu_initial_kib(const struct qv_domain *def)
{
    uint64_t dev = devices_kib(def);
    return dev < def->memory_kib ? def->memory_kib - dev : def->memory_kib;
}

int qemu_argv_max_memory(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    uint64_t slots = 0, kib = 0;
    if (qemu_machine_only(v, k, n, "slots unit", "") < 0 ||
        qemu_machine_uint(v, k, n, "slots", MEMDEV_MAX_SLOTS, &slots) < 0 ||
        qemu_machine_kib(v, k, n, &kib) < 0)
        return QV_ERR_UNSUPPORTED;
    uint64_t dev = devices_kib(v->def);
    if (dev >= v->def->memory_kib)
        return qemu_machine_refuse(v, k, n,
                                   "the memory devices (%" G_GUINT64_FORMAT
                                   " KiB) leave no memory of <memory> (%" G_GUINT64_FORMAT
                                   " KiB) to start with",
                                   dev, v->def->memory_kib);
    if (kib < v->def->memory_kib)
        return qemu_machine_refuse(
            v, k, n, "%" G_GUINT64_FORMAT " KiB is less than <memory> (%" G_GUINT64_FORMAT " KiB)",
            kib, v->def->memory_kib);
    if (kib % 4 != 0)
        return qemu_machine_refuse(v, k, n, "QEMU needs a whole number of 4 KiB pages");
    if (kib > v->def->memory_kib && slots == 0)
        return qemu_machine_refuse(v, k, n, "slots= (1-256) is needed to plug memory in");
    v->memdev.max_kib = kib;
    v->memdev.slots = (uint32_t)slots;
    for (guint i = 0; i + 1 < v->a->len; i++)
        if (strcmp(g_ptr_array_index(v->a, i), "-m") == 0) {
            char *old = g_ptr_array_index(v->a, i + 1);
            v->a->pdata[i + 1] = g_strdup_printf(
                "%s,slots=%" G_GUINT64_FORMAT ",maxmem=%" G_GUINT64_FORMAT "K", old, slots, kib);
            g_free(old);
        }
    return 0;
}

/* The number of <cell>s of <cpu><numa>, 0 without one. */
static unsigned numa_cells(const struct qemu_argv *v)
{
    if (!v->numa)
        return 0;
    xmlDoc *doc = qv_conf_xml_read(v->numa->xml, "kept XML");
    if (!doc) {
        qv_reset_error();
        return 0;
    }
    unsigned n = 0;
    for (const xmlNode *c = xmlDocGetRootElement(doc)->children; c; c = c->next)
        n += c->type == XML_ELEMENT_NODE && !c->ns && strcmp((const char *)c->name, "cell") == 0;
    xmlFreeDoc(doc);
    return n;
}

/* "0-1,3" as QEMU's host-nodes=0-1,host-nodes=3. */
static int host_nodes(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *mask, GString *o)
{
    g_autofree char *text = qv_conf_xml_text(mask);
    cpu_set_t set;
    if (qemu_parse_cpuset(g_strstrip(text), &set) < 0) {
        g_autofree char *why = g_strdup(qv_last_error()->message);
        qv_reset_error();
        return qemu_machine_refuse(v, k, mask, "%s", why);
    }
    for (int c = 0; c < CPU_SETSIZE; c++) {
        if (!CPU_ISSET(c, &set))
            continue;
        int last = c;
        while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, &set))
            last++;
        if (last == c)
            g_string_append_printf(o, ",host-nodes=%d", c);
        else
            g_string_append_printf(o, ",host-nodes=%d-%d", c, last);
        c = last;
    }
    g_string_append(o, ",policy=bind");
    return 0;
}

static int dimm_address(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *a,
                        GString *dev)
{
    uint64_t slot = 0, base = 0;
    int has_slot;
    if (qemu_machine_only(v, k, a, "type slot base", "") < 0)
        return QV_ERR_UNSUPPORTED;
    if (!qemu_xml_prop_is(a, "type", "dimm"))
        return qemu_machine_refuse(v, k, a, "a DIMM's address is type='dimm'");
    if ((has_slot = qemu_machine_uint(v, k, a, "slot", UINT32_MAX, &slot)) < 0)
        return QV_ERR_UNSUPPORTED;
    if (has_slot) {
        if (slot >= v->memdev.slots)
            return qemu_machine_refuse(v, k, a,
                                       "slot %" G_GUINT64_FORMAT " is not one of <maxMemory>'s %u",
                                       slot, v->memdev.slots);
        if (v->memdev.used[slot / 32] & (1u << (slot % 32)))
            return qemu_machine_refuse(v, k, a, "slot %" G_GUINT64_FORMAT " is another DIMM's",
                                       slot);
        v->memdev.used[slot / 32] |= 1u << (slot % 32);
        g_string_append_printf(dev, ",slot=%" G_GUINT64_FORMAT, slot);
    }
    if (qemu_xml_has_prop(a, "base")) {
        if (!qemu_xml_hex(a, "base", UINT64_MAX, &base) || base % (DIMM_ALIGN_KIB * 1024))
            return qemu_machine_refuse(v, k, a, "base= must be a 2 MiB aligned address");
        g_string_append_printf(dev, ",addr=0x%" G_GINT64_MODIFIER "x", base);
    }
    return 0;
}

int qemu_kept_memory(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    g_autofree char *model = qv_conf_xml_attr(n, "model");
    if (!model || strcmp(model, "dimm") != 0)
        return qemu_machine_refuse(v, k, n,
                                   "model='%s' is not supported by qv's qemu driver: memory "
                                   "devices are DIMMs (model='dimm')",
                                   model ? model : "");
    if (qemu_machine_only(v, k, n, "model access discard", "source target address alias") < 0)
        return QV_ERR_UNSUPPORTED;
    if (!v->def->acpi)
        return qemu_machine_refuse(v, k, n,
                                   "QEMU plugs a DIMM in through ACPI: it needs <features><acpi/>");
    if (!v->memdev.max_kib || !v->memdev.slots)
        return qemu_machine_refuse(v, k, n, "a DIMM needs <maxMemory slots=> to plug into");
    if (v->memdev.n >= v->memdev.slots)
        return qemu_machine_refuse(v, k, n, "more memory devices than <maxMemory>'s %u slots",
                                   v->memdev.slots);
    const xmlNode *t = qemu_xml_child(n, "target"), *src = qemu_xml_child(n, "source");
    const xmlNode *size = t ? qemu_xml_child(t, "size") : NULL,
                  *node = t ? qemu_xml_child(t, "node") : NULL;
    uint64_t kib = 0, nodeid = 0;
    if ((t && qemu_machine_only(v, k, t, "", "size node") < 0) ||
        (src && qemu_machine_only(v, k, src, "", "pagesize nodemask") < 0))
        return QV_ERR_UNSUPPORTED;
    if (!size)
        return qemu_machine_refuse(v, k, n, "<target><size> is required");
    if (qemu_machine_kib(v, k, size, &kib) < 0)
        return QV_ERR_UNSUPPORTED;
    if (kib == 0 || kib % DIMM_ALIGN_KIB)
        return qemu_machine_refuse(v, k, size, "QEMU needs a DIMM's size in whole 2 MiB");
    unsigned cells = numa_cells(v);
    if (node) {
        g_autofree char *text = qv_conf_xml_text(node);
        char *end = NULL;
        nodeid = g_ascii_strtoull(g_strstrip(text), &end, 10);
        if (!*text || *end || nodeid >= MAX(cells, 1))
            return qemu_machine_refuse(v, k, node,
                                       "the guest NUMA node must be one of its %u (<cpu><numa>)",
                                       MAX(cells, 1));
    }
    g_autofree char *access = qv_conf_xml_attr(n, "access");
    g_autofree char *discard = qv_conf_xml_attr(n, "discard");
    if (access && strcmp(access, "shared") && strcmp(access, "private"))
        return qemu_machine_refuse(v, k, n, "access= must be shared or private");
    if (discard && strcmp(discard, "yes") && strcmp(discard, "no"))
        return qemu_machine_refuse(v, k, n, "discard= must be yes or no");

    g_autofree char *kind = NULL;
    g_autoptr(GPtrArray) tmpl = qemu_ram_template(v, &kind, false);
    if (discard && strcmp(discard, "yes") == 0 && strcmp(kind, "memory-backend-file") != 0)
        return qemu_machine_refuse(v, k, n,
                                   "QEMU discards only file-backed memory (<memoryBacking>"
                                   "<source type='file'/>)");
    const xmlNode *page = src ? qemu_xml_child(src, "pagesize") : NULL;
    const xmlNode *mask = src ? qemu_xml_child(src, "nodemask") : NULL;
    if (page) {
        uint64_t page_kib = 0, guest_page = 0;
        if (qemu_machine_kib(v, k, page, &page_kib) < 0)
            return QV_ERR_UNSUPPORTED;
        bool huge = qemu_memory_hugepages(v->def, &guest_page);
        if (!huge || (guest_page && guest_page != page_kib) || !v->l->hugepage_dir ||
            strcmp(kind, "memory-backend-ram") == 0)
            return qemu_machine_refuse(v, k, page,
                                       "a DIMM's page size is the one of guest RAM: "
                                       "<memoryBacking><hugepages> of %" G_GUINT64_FORMAT " KiB",
                                       page_kib);
        if (kib % page_kib)
            return qemu_machine_refuse(v, k, size, "the size is not a whole number of pages");
    }
    unsigned id = v->memdev.n++;
    GString *o = g_string_new(NULL);
    g_string_printf(o, "%s,id=memdimm%u,size=%" G_GUINT64_FORMAT "K", kind, id, kib);
    for (guint i = 0; i < tmpl->len; i++) {
        const char *opt = g_ptr_array_index(tmpl, i);
        /* The DIMM's own binding and access replace guest RAM's. */
        if ((mask && (g_str_has_prefix(opt, "host-nodes=") || g_str_has_prefix(opt, "policy="))) ||
            (access && g_str_has_prefix(opt, "share=")) ||
            (discard && g_str_has_prefix(opt, "discard-data=")))
            continue;
        g_string_append_printf(o, ",%s", opt);
    }
    if (access)
        g_string_append_printf(o, ",share=%s", strcmp(access, "shared") == 0 ? "on" : "off");
    if (discard && strcmp(discard, "yes") == 0)
        g_string_append(o, ",discard-data=on");
    if (mask && host_nodes(v, k, mask, o) < 0) {
        g_string_free(o, TRUE);
        return QV_ERR_UNSUPPORTED;
    }
    g_autoptr(GString) dev = g_string_new(NULL);
    g_string_printf(dev, "pc-dimm,memdev=memdimm%u,id=dimm%u", id, id);
    if (node)
        g_string_append_printf(dev, ",node=%" G_GUINT64_FORMAT, nodeid);
    const xmlNode *a = qemu_xml_child(n, "address");
    if (a && dimm_address(v, k, a, dev) < 0) {
        g_string_free(o, TRUE);
        return QV_ERR_UNSUPPORTED;
    }
    qemu_argv_add(v, "-object");
    g_ptr_array_add(v->a, g_string_free(o, FALSE));
    qemu_argv_add2(v, "-device", dev->str);
    return 0;
}
