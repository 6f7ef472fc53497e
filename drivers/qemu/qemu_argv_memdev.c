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
#include "../../lib/util/cpuset.h"
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
    if (qv_cpuset_parse(g_strstrip(text), &set) < 0) {
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

/* What every model has: <target><size> (and <node>), access=, discard=. */
struct memdev {
    const xmlNode *t, *src, *size, *node;
    uint64_t kib, nodeid;
    char *access, *discard;
};

static void memdev_clear(struct memdev *m)
{
    g_free(m->access);
    g_free(m->discard);
}

static int memdev_read(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n,
                       const char *target_children, const char *source_children, uint64_t align,
                       struct memdev *m)
{
    memset(m, 0, sizeof(*m));
    if (qemu_machine_only(v, k, n, "model access discard", "source target address alias") < 0)
        return QV_ERR_UNSUPPORTED;
    if (!v->memdev.max_kib)
        return qemu_machine_refuse(v, k, n,
                                   "a memory device needs <maxMemory> (QEMU's room for memory "
                                   "devices)");
    m->t = qemu_xml_child(n, "target");
    m->src = qemu_xml_child(n, "source");
    m->size = m->t ? qemu_xml_child(m->t, "size") : NULL;
    m->node = m->t ? qemu_xml_child(m->t, "node") : NULL;
    if ((m->t && qemu_machine_only(v, k, m->t, "", target_children) < 0) ||
        (m->src && qemu_machine_only(v, k, m->src, "", source_children) < 0))
        return QV_ERR_UNSUPPORTED;
    if (!m->size)
        return qemu_machine_refuse(v, k, n, "<target><size> is required");
    if (qemu_machine_kib(v, k, m->size, &m->kib) < 0)
        return QV_ERR_UNSUPPORTED;
    if (m->kib == 0 || m->kib % align)
        return qemu_machine_refuse(
            v, k, m->size, "QEMU needs this device's size in whole %" G_GUINT64_FORMAT " KiB",
            align);
    unsigned cells = numa_cells(v);
    if (m->node) {
        g_autofree char *text = qv_conf_xml_text(m->node);
        char *end = NULL;
        m->nodeid = g_ascii_strtoull(g_strstrip(text), &end, 10);
        if (!*text || *end || m->nodeid >= MAX(cells, 1))
            return qemu_machine_refuse(v, k, m->node,
                                       "the guest NUMA node must be one of its %u (<cpu><numa>)",
                                       MAX(cells, 1));
    }
    m->access = qv_conf_xml_attr(n, "access");
    m->discard = qv_conf_xml_attr(n, "discard");
    if (m->access && strcmp(m->access, "shared") && strcmp(m->access, "private"))
        return qemu_machine_refuse(v, k, n, "access= must be shared or private");
    if (m->discard && strcmp(m->discard, "yes") && strcmp(m->discard, "no"))
        return qemu_machine_refuse(v, k, n, "discard= must be yes or no");
    return 0;
}

/* A size child of <target> (<block>, <requested>, <label><size>) in KiB;
 * 0 when absent. */
static int target_kib(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *c, uint64_t *kib)
{
    *kib = 0;
    return c ? qemu_machine_kib(v, k, c, kib) : 0;
}

/* Guest RAM's kind of backend, with the device's binding and access. */
static GString *ram_backend(struct qemu_argv *v, const struct qv_kept *k, const struct memdev *m,
                            const char *id)
{
    g_autofree char *kind = NULL;
    g_autoptr(GPtrArray) tmpl = qemu_ram_template(v, &kind, false);
    if (m->discard && strcmp(m->discard, "yes") == 0 && strcmp(kind, "memory-backend-file") != 0) {
        qemu_machine_refuse(v, k, m->size,
                            "QEMU discards only file-backed memory (<memoryBacking>"
                            "<source type='file'/>)");
        return NULL;
    }
    const xmlNode *page = m->src ? qemu_xml_child(m->src, "pagesize") : NULL;
    const xmlNode *mask = m->src ? qemu_xml_child(m->src, "nodemask") : NULL;
    if (page) {
        uint64_t page_kib = 0, guest_page = 0;
        if (qemu_machine_kib(v, k, page, &page_kib) < 0)
            return NULL;
        bool huge = qemu_memory_hugepages(v->def, &guest_page);
        if (!huge || (guest_page && guest_page != page_kib) || !v->l->hugepage_dir ||
            strcmp(kind, "memory-backend-ram") == 0) {
            qemu_machine_refuse(v, k, page,
                                "a memory device's page size is the one of guest RAM: "
                                "<memoryBacking><hugepages> of %" G_GUINT64_FORMAT " KiB",
                                page_kib);
            return NULL;
        }
        if (m->kib % page_kib) {
            qemu_machine_refuse(v, k, m->size, "the size is not a whole number of pages");
            return NULL;
        }
    }
    GString *o = g_string_new(NULL);
    g_string_printf(o, "%s,id=%s,size=%" G_GUINT64_FORMAT "K", kind, id, m->kib);
    for (guint i = 0; i < tmpl->len; i++) {
        const char *opt = g_ptr_array_index(tmpl, i);
        /* The device's own binding and access replace guest RAM's. */
        if ((mask && (g_str_has_prefix(opt, "host-nodes=") || g_str_has_prefix(opt, "policy="))) ||
            (m->access && g_str_has_prefix(opt, "share=")) ||
            (m->discard && g_str_has_prefix(opt, "discard-data=")))
            continue;
        g_string_append_printf(o, ",%s", opt);
    }
    if (m->access)
        g_string_append_printf(o, ",share=%s", strcmp(m->access, "shared") == 0 ? "on" : "off");
    if (m->discard && strcmp(m->discard, "yes") == 0)
        g_string_append(o, ",discard-data=on");
    if (mask && host_nodes(v, k, mask, o) < 0) {
        g_string_free(o, TRUE);
        return NULL;
    }
    return o;
}

/* A file the user names (<source><path>) as the backend: nvdimm and
 * virtio-pmem. QEMU creates it when it is missing. */
static GString *file_backend(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n,
                             const struct memdev *m, const char *id)
{
    const xmlNode *path = m->src ? qemu_xml_child(m->src, "path") : NULL;
    g_autofree char *p = path ? qv_conf_xml_text(path) : NULL;
    if (!p || g_strstrip(p)[0] != '/') {
        qemu_machine_refuse(v, k, n, "<source><path> naming the backing file is required");
        return NULL;
    }
    if (m->discard && strcmp(m->discard, "yes") == 0) {
        qemu_machine_refuse(v, k, n, "discard= is for DIMMs: this device keeps its file");
        return NULL;
    }
    g_autofree char *esc = qemu_opt_escape(p);
    GString *o = g_string_new(NULL);
    g_string_printf(o, "memory-backend-file,id=%s,mem-path=%s,size=%" G_GUINT64_FORMAT "K,share=%s",
                    id, esc, m->kib, m->access && strcmp(m->access, "shared") == 0 ? "on" : "off");
    return o;
}

static int slot_take(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    if (!v->def->acpi)
        return qemu_machine_refuse(v, k, n,
                                   "QEMU plugs a DIMM in through ACPI: it needs <features><acpi/>");
    if (!v->memdev.slots)
        return qemu_machine_refuse(v, k, n, "a DIMM needs <maxMemory slots=> to plug into");
    if (v->memdev.dimms >= v->memdev.slots)
        return qemu_machine_refuse(v, k, n, "more DIMMs than <maxMemory>'s %u slots",
                                   v->memdev.slots);
    v->memdev.dimms++;
    return 0;
}

static int add_pair(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n, GString *o,
                    GString *dev, bool pci)
{
    const xmlNode *a = qemu_xml_child(n, "address");
    int rc = 0;
    if (!pci && a)
        rc = dimm_address(v, k, a, dev);
    if (rc == 0) {
        qemu_argv_add(v, "-object");
        g_ptr_array_add(v->a, g_string_free(o, FALSE));
        o = NULL;
        rc = pci ? qemu_kept_add_placed(v, k, n, dev->str)
                 : (qemu_argv_add2(v, "-device", dev->str), 0);
    }
    if (o)
        g_string_free(o, TRUE);
    g_string_free(dev, TRUE);
    return rc < 0 ? QV_ERR_UNSUPPORTED : 0;
}

static int dimm(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n, struct memdev *m,
                unsigned id)
{
    if (slot_take(v, k, n) < 0)
        return QV_ERR_UNSUPPORTED;
    g_autofree char *mem = g_strdup_printf("memdimm%u", id);
    GString *o = ram_backend(v, k, m, mem);
    if (!o)
        return QV_ERR_UNSUPPORTED;
    GString *dev = g_string_new(NULL);
    g_string_printf(dev, "pc-dimm,memdev=%s,id=dimm%u", mem, id);
    if (m->node)
        g_string_append_printf(dev, ",node=%" G_GUINT64_FORMAT, m->nodeid);
    return add_pair(v, k, n, o, dev, false);
}

static int nvdimm(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n, struct memdev *m,
                  unsigned id)
{
    if (slot_take(v, k, n) < 0)
        return QV_ERR_UNSUPPORTED;
    const xmlNode *label = qemu_xml_child(m->t, "label");
    const xmlNode *lsize = label ? qemu_xml_child(label, "size") : NULL;
    uint64_t label_kib = 0, align_kib = 0;
    if ((label && qemu_machine_only(v, k, label, "", "size") < 0) ||
        target_kib(v, k, lsize, &label_kib) < 0 ||
        target_kib(v, k, m->src ? qemu_xml_child(m->src, "alignsize") : NULL, &align_kib) < 0)
        return QV_ERR_UNSUPPORTED;
    if (label && (label_kib < 128 || label_kib >= m->kib))
        return qemu_machine_refuse(v, k, label,
                                   "QEMU's label area is at least 128 KiB and smaller than the "
                                   "device");
    g_autofree char *mem = g_strdup_printf("memnvdimm%u", id);
    GString *o = file_backend(v, k, n, m, mem);
    if (!o)
        return QV_ERR_UNSUPPORTED;
    if (align_kib)
        g_string_append_printf(o, ",align=%" G_GUINT64_FORMAT "K", align_kib);
    if (m->src && qemu_xml_child(m->src, "pmem"))
        g_string_append(o, ",pmem=on");
    if (!v->memdev.nvdimm) {
        qemu_argv_machine_opt(v, ",nvdimm=on");
        v->memdev.nvdimm = true;
    }
    GString *dev = g_string_new(NULL);
    g_string_printf(dev, "nvdimm,memdev=%s,id=nvdimm%u", mem, id);
    if (m->node)
        g_string_append_printf(dev, ",node=%" G_GUINT64_FORMAT, m->nodeid);
    if (label)
        g_string_append_printf(dev, ",label-size=%" G_GUINT64_FORMAT "K", label_kib);
    if (qemu_xml_child(m->t, "readonly"))
        g_string_append(dev, ",unarmed=on");
    return add_pair(v, k, n, o, dev, false);
}

static int virtio_pmem(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n,
                       struct memdev *m, unsigned id)
{
    g_autofree char *mem = g_strdup_printf("memvirtiopmem%u", id);
    GString *o = file_backend(v, k, n, m, mem);
    if (!o)
        return QV_ERR_UNSUPPORTED;
    GString *dev = g_string_new(NULL);
    g_string_printf(dev, "virtio-pmem-pci,memdev=%s,id=virtiopmem%u", mem, id);
    return add_pair(v, k, n, o, dev, true);
}

static int virtio_mem(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n,
                      struct memdev *m, unsigned id)
{
    uint64_t block = 0, requested = 0;
    if (target_kib(v, k, qemu_xml_child(m->t, "block"), &block) < 0 ||
        target_kib(v, k, qemu_xml_child(m->t, "requested"), &requested) < 0)
        return QV_ERR_UNSUPPORTED;
    if (!block || (block & (block - 1)) || block < DIMM_ALIGN_KIB || m->kib % block)
        return qemu_machine_refuse(v, k, m->t,
                                   "<block> is required: a power of two from 2 MiB that divides "
                                   "<size>");
    if (requested > m->kib || requested % block)
        return qemu_machine_refuse(v, k, m->t,
                                   "<requested> is at most <size> and a whole number of blocks");
    g_autofree char *mem = g_strdup_printf("memvirtiomem%u", id);
    GString *o = ram_backend(v, k, m, mem);
    if (!o)
        return QV_ERR_UNSUPPORTED;
    GString *dev = g_string_new(NULL);
    g_string_printf(dev,
                    "virtio-mem-pci,memdev=%s,id=virtiomem%u,block-size=%" G_GUINT64_FORMAT
                    "K,requested-size=%" G_GUINT64_FORMAT "K",
                    mem, id, block, requested);
    if (m->node)
        g_string_append_printf(dev, ",node=%" G_GUINT64_FORMAT, m->nodeid);
    return add_pair(v, k, n, o, dev, true);
}

int qemu_kept_memory(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    static const struct {
        const char *model, *target, *source;
        uint64_t align;
        int (*fn)(struct qemu_argv *, const struct qv_kept *, const xmlNode *, struct memdev *,
                  unsigned);
    } models[] = {
        {"dimm", "size node", "pagesize nodemask", DIMM_ALIGN_KIB, dimm},
        {"nvdimm", "size node label readonly", "path alignsize pmem", 4, nvdimm},
        {"virtio-pmem", "size", "path", DIMM_ALIGN_KIB, virtio_pmem},
        {"virtio-mem", "size node block requested", "pagesize nodemask", DIMM_ALIGN_KIB,
         virtio_mem},
    };
    g_autofree char *model = qv_conf_xml_attr(n, "model");
    for (size_t i = 0; model && i < G_N_ELEMENTS(models); i++) {
        if (strcmp(model, models[i].model) != 0)
            continue;
        struct memdev m;
        int rc = memdev_read(v, k, n, models[i].target, models[i].source, models[i].align, &m);
        if (rc == 0)
            rc = models[i].fn(v, k, n, &m, v->memdev.n++);
        memdev_clear(&m);
        return rc;
    }
    return qemu_machine_refuse(v, k, n,
                               "model='%s' is not supported by qv's qemu driver (sgx-epc needs "
                               "SGX under KVM); dimm, nvdimm, virtio-pmem and virtio-mem are",
                               model ? model : "");
}
