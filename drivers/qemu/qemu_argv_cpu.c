/* The <cpu> children qv keeps as written inside a modelled <cpu>:
 * <vendor>, <cache> and <maxphysaddr>. They become flags of the one -cpu
 * option, so add_cpu() asks for them here; the kept-element walk only
 * notes that they are handled. */
#include <string.h>

#include "../../lib/conf/xml_util.h"
#include "qemu_argv_machine.h"

int qemu_argv_cpu_noted(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    (void)v, (void)k, (void)n;
    return 0; /* carried out by qemu_argv_cpu_kept(), called from add_cpu() */
}

static bool is_cpu_flag(const struct qv_kept *k)
{
    return strcmp(k->parent, "cpu") == 0 &&
           (strcmp(k->name, "vendor") == 0 || strcmp(k->name, "cache") == 0 ||
            strcmp(k->name, "maxphysaddr") == 0);
}

bool qemu_cpu_has_kept(const struct qv_domain *def)
{
    for (guint i = 0; i < def->kept->len; i++)
        if (is_cpu_flag(g_ptr_array_index(def->kept, i)))
            return true;
    return false;
}

/* The host's own CPU reaches the guest only through KVM's host model. */
static bool host_cpu(const struct qv_domain *def)
{
    return def->type == QV_VIRT_KVM &&
           (def->cpu.mode == QV_CPU_MODE_HOST_PASSTHROUGH || def->cpu.mode == QV_CPU_MODE_MAXIMUM);
}

/* libvirt's vendor names, as the 12 characters CPUID leaf 0 gives. */
static int vendor(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n, GString *c)
{
    static const char *const ids[][2] = {
        {"Intel", "GenuineIntel"}, {"AMD", "AuthenticAMD"}, {"Hygon", "HygonGenuine"}};
    if (v->def->cpu.mode == QV_CPU_MODE_HOST_PASSTHROUGH)
        return qemu_machine_refuse(v, k, n,
                                   "with host-passthrough the guest sees the host's "
                                   "vendor");
    g_autofree char *name = (char *)xmlNodeGetContent(n);
    for (size_t i = 0; name && i < G_N_ELEMENTS(ids); i++)
        if (strcmp(g_strstrip(name), ids[i][0]) == 0) {
            if (v->def->cpu.vendor_id && strcmp(v->def->cpu.vendor_id, ids[i][1]) != 0)
                return qemu_machine_refuse(v, k, n, "<model vendor_id='%s'> says otherwise",
                                           v->def->cpu.vendor_id);
            g_string_append_printf(c, ",vendor=%s", ids[i][1]);
            return 0;
        }
    return qemu_machine_refuse(v, k, n,
                               "vendor '%s' is not one qv can give the guest (Intel, "
                               "AMD or Hygon)",
                               name ? name : "");
}

static int cache(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n, GString *c)
{
    int rc = qemu_machine_only(v, k, n, "level mode", "");
    if (rc < 0)
        return rc;
    g_autofree char *level = qemu_xml_prop(n, "level");
    if (qemu_xml_prop_is(n, "mode", "emulate") && level && strcmp(level, "3") == 0) {
        g_string_append(c, ",l3-cache=on");
        return 0;
    }
    if (level)
        return qemu_machine_refuse(v, k, n,
                                   "QEMU describes only an emulated level 3 cache "
                                   "(level='3' mode='emulate')");
    if (qemu_xml_prop_is(n, "mode", "disable")) {
        g_string_append(c,
                        host_cpu(v->def) ? ",l3-cache=off,host-cache-info=off" : ",l3-cache=off");
        return 0;
    }
    if (qemu_xml_prop_is(n, "mode", "passthrough")) {
        if (!host_cpu(v->def))
            return qemu_machine_refuse(v, k, n,
                                       "the host's cache information reaches the guest "
                                       "only with KVM and mode='host-passthrough' or "
                                       "'maximum'");
        g_string_append(c, ",l3-cache=off,host-cache-info=on");
        return 0;
    }
    return qemu_machine_refuse(v, k, n, "unknown mode");
}

/* QEMU takes 32 to 52 bits of guest physical address. */
static int maxphysaddr(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n, GString *c)
{
    int rc = qemu_machine_only(v, k, n, "mode bits", "");
    uint64_t bits = 0;
    if (rc == 0)
        rc = qemu_machine_uint(v, k, n, "bits", 52, &bits);
    if (rc < 0)
        return rc;
    if (rc == 1 && bits < 32)
        return qemu_machine_refuse(v, k, n, "bits='%u': QEMU takes 32 to 52", (unsigned)bits);
    if (qemu_xml_prop_is(n, "mode", "emulate")) {
        if (rc == 0)
            return qemu_machine_refuse(v, k, n, "mode='emulate' needs bits=");
        g_string_append_printf(c, ",phys-bits=%u", (unsigned)bits);
        return 0;
    }
    if (!host_cpu(v->def))
        return qemu_machine_refuse(v, k, n,
                                   "the host's address width reaches the guest only "
                                   "with KVM and mode='host-passthrough' or 'maximum'");
    g_string_append(c, ",host-phys-bits=on");
    if (rc == 1)
        g_string_append_printf(c, ",host-phys-bits-limit=%u", (unsigned)bits);
    return 0;
}

int qemu_argv_cpu_kept(struct qemu_argv *v, GString *c)
{
    const struct qv_domain *def = v->def;
    for (guint i = 0; i < def->kept->len; i++) {
        const struct qv_kept *k = g_ptr_array_index(def->kept, i);
        if (!is_cpu_flag(k))
            continue;
        xmlDoc *doc = qv_conf_xml_read(k->xml, "kept XML");
        if (!doc)
            return qemu_kept_refuse(v, k, "its stored XML does not parse");
        const xmlNode *n = xmlDocGetRootElement(doc);
        int rc = strcmp(k->name, "vendor") == 0  ? vendor(v, k, n, c)
                 : strcmp(k->name, "cache") == 0 ? cache(v, k, n, c)
                                                 : maxphysaddr(v, k, n, c);
        xmlFreeDoc(doc);
        if (rc < 0)
            return rc;
    }
    return 0;
}
