/* libvirt domain XML -> struct qv_domain. The walk is strict: each element
 * lists the attributes and children it understands and anything else is an
 * error naming its line, so nothing a user wrote is silently lost. */
#include <libxml/parser.h>
#include <string.h>

#include "../util/error.h"
#include "conf_check.h"
#include "domain.h"
#include "xml_devices.h"
#include "xml_metadata.h"
#include "xml_schema.h"
#include "xml_util.h"

/* A text element whose value is checked by `check`, appearing at most once. */
static int text_once(const xmlNode *c, const xmlNode **slot, const char *(*check)(const char *),
                     char **out)
{
    TRY(qv_conf_xml_once(c, slot));
    TRY(qv_conf_xml_check(c, QV_XML_TEXT, ""));
    return qv_conf_xml_text_str(c, check, out);
}

static int enum_text(const xmlNode *c, const xmlNode **slot, const char *const *list, char **out)
{
    TRY(qv_conf_xml_once(c, slot));
    TRY(qv_conf_xml_check(c, QV_XML_TEXT, ""));
    g_autofree char *v = qv_conf_xml_text(c);
    g_strstrip(v);
    int i = qv_conf_lookup(list, v);
    if (i < 0) {
        g_autofree char *all = qv_conf_list_join(list);
        return qv_conf_xml_unmodelled(c, "unsupported <%s> value '%s' (expected %s)", c->name, v,
                                      all);
    }
    *out = g_strdup(list[i]);
    return 0;
}

/* Keep element c whole in def->kept, for an optional element qv's model
 * cannot hold; the reason is the message the strict walk left. The copy
 * into a document of its own declares the namespaces it uses. */
static void keep(struct qv_domain *def, const xmlNode *c, const char *parent)
{
    struct qv_kept *k = g_new0(struct qv_kept, 1);
    k->parent = g_strdup(parent);
    k->name = c->ns && c->ns->prefix
                  ? g_strdup_printf("%s:%s", (const char *)c->ns->prefix, (const char *)c->name)
                  : g_strdup((const char *)c->name);
    k->line = xmlGetLineNo(c);
    const char *msg = qv_last_error()->message;
    const char *strip = msg ? strstr(msg, ": ") : NULL;
    k->reason = g_strdup(strip && g_str_has_prefix(msg, "domain XML line") ? strip + 2
                         : msg && *msg                                     ? msg
                                                                           : "not modelled");
    xmlDoc *doc = xmlNewDoc((const xmlChar *)"1.0");
    xmlNode *copy = xmlDocCopyNode((xmlNode *)c, doc, 1);
    xmlBuffer *buf = xmlBufferCreate();
    if (copy && buf) {
        xmlDocSetRootElement(doc, copy);
        xmlNodeDump(buf, doc, copy, 0, 0);
        k->xml = g_strdup((const char *)xmlBufferContent(buf));
    }
    if (buf)
        xmlBufferFree(buf);
    xmlFreeDoc(doc);
    if (!k->xml)
        k->xml = g_strdup_printf("<%s/>", k->name);
    g_ptr_array_add(def->kept, k);
    qv_reset_error();
}

static int cpu_attr(const xmlNode *n, const char *name, const char *const *list, char **out)
{
    int v, rc = qv_conf_xml_attr_enum(n, name, list, &v);
    if (rc == 1)
        *out = g_strdup(list[v]);
    return rc;
}

static int parse_cpu_feature(const xmlNode *c, GPtrArray *features)
{
    int p;
    TRY(qv_conf_xml_check(c, QV_XML_EMPTY, "policy name"));
    TRY(qv_conf_xml_need_enum(c, "policy", qv_conf_feature_policies, &p));
    g_autofree char *name = NULL;
    TRY(qv_conf_xml_need_str(c, "name", qv_conf_check_token, &name));
    g_ptr_array_add(features, g_strdup_printf("%s:%s", qv_conf_feature_policies[p], name));
    return 0;
}

static int parse_cpu(const xmlNode *n, struct qv_domain *def)
{
    int v;
    TRY(qv_conf_xml_check(n, QV_XML_ELEMS, "mode match check migratable"));
    int rc = qv_conf_xml_attr_enum(n, "mode", qv_conf_cpu_modes, &v);
    TRY(rc);
    def->cpu.mode = rc == 1 ? (enum qv_cpu_mode)v : QV_CPU_MODE_NONE;
    TRY(cpu_attr(n, "match", qv_conf_cpu_matches, &def->cpu.match));
    TRY(cpu_attr(n, "check", qv_conf_cpu_checks, &def->cpu.check));
    TRY(cpu_attr(n, "migratable", qv_conf_onoff, &def->cpu.migratable));
    const xmlNode *model = NULL, *topo = NULL, *numa = NULL;
    /* <vendor>, <cache> and <maxphysaddr>: kept as written inside a <cpu>
     * qv models, as <numa> is, for the drivers to honour or refuse. */
    g_autoptr(GPtrArray) extra = g_ptr_array_new();
    g_autoptr(GPtrArray) features = g_ptr_array_new_with_free_func(g_free);
    FOR_EACH_ELEMENT(n, c)
    {
        if (qv_conf_xml_is(c, "numa")) {
            TRY(qv_conf_xml_once(c, &numa));
        } else if (qv_conf_xml_is(c, "vendor") || qv_conf_xml_is(c, "cache") ||
                   qv_conf_xml_is(c, "maxphysaddr")) {
            g_ptr_array_add(extra, (gpointer)c);
        } else if (qv_conf_xml_is(c, "model")) {
            TRY(qv_conf_xml_once(c, &model));
            TRY(qv_conf_xml_check(c, QV_XML_TEXT, "fallback vendor_id"));
            TRY(qv_conf_xml_text_str(c, qv_conf_check_token, &def->cpu.model));
            TRY(cpu_attr(c, "fallback", qv_conf_cpu_fallbacks, &def->cpu.fallback));
            TRY(qv_conf_xml_attr_str(c, "vendor_id", qv_conf_check_vendor_id, &def->cpu.vendor_id));
            if (def->cpu.mode != QV_CPU_MODE_CUSTOM && def->cpu.mode != QV_CPU_MODE_NONE)
                return qv_conf_xml_unmodelled(c, "<model> needs <cpu mode='custom'>");
        } else if (qv_conf_xml_is(c, "feature")) {
            TRY(parse_cpu_feature(c, features));
        } else if (qv_conf_xml_is(c, "topology")) {
            TRY(qv_conf_xml_once(c, &topo));
            TRY(qv_conf_xml_check(c, QV_XML_EMPTY, "sockets dies cores threads"));
            static const char *const names[] = {"sockets", "dies", "cores", "threads"};
            uint32_t *slots[] = {&def->cpu.sockets, &def->cpu.dies, &def->cpu.cores,
                                 &def->cpu.threads};
            for (int i = 0; i < 4; i++) {
                uint64_t x = 0;
                rc = qv_conf_xml_attr_uint(c, names[i], 65535, &x);
                TRY(rc);
                if ((rc == 0 && i != 1) || (rc == 1 && x == 0))
                    return qv_conf_xml_unmodelled(c, "<topology> needs %s= from 1 to 65535",
                                                  names[i]);
                *slots[i] = (uint32_t)x;
            }
        } else {
            return qv_conf_xml_unknown(c);
        }
    }
    /* libvirt: a <model> without mode= is mode='custom'. */
    if (def->cpu.mode == QV_CPU_MODE_NONE && model)
        def->cpu.mode = QV_CPU_MODE_CUSTOM;
    if (def->cpu.mode == QV_CPU_MODE_CUSTOM && !def->cpu.model)
        return qv_conf_xml_unmodelled(n, "<cpu mode='custom'> needs a <model>");
    if (features->len) {
        g_ptr_array_add(features, NULL);
        def->cpu.features = (char **)g_ptr_array_free(g_steal_pointer(&features), FALSE);
    }
    /* Guest NUMA cells: kept as written inside a <cpu> qv models, for the
     * drivers to honour or refuse; kept only once the rest of <cpu> is
     * read, so a <cpu> kept whole does not hold it twice. */
    if (numa)
        g_ptr_array_add(extra, (gpointer)numa);
    for (guint i = 0; i < extra->len; i++) {
        const xmlNode *e = g_ptr_array_index(extra, i);
        qv_conf_xml_unmodelled(e, "<%s> in <cpu> is not modelled", e->name);
        keep(def, e, "cpu");
        qv_reset_error();
        qv_conf_xml_unmodelled_reset();
    }
    return 0;
}

static int parse_clock(const xmlNode *n, struct qv_domain *def)
{
    int v;
    TRY(qv_conf_xml_check(n, QV_XML_ELEMS, "offset adjustment basis timezone start"));
    TRY(qv_conf_xml_need_enum(n, "offset", qv_conf_clock_offsets, &v));
    def->clock_offset = g_strdup(qv_conf_clock_offsets[v]);
    TRY(qv_conf_xml_attr_str(n, "adjustment", qv_conf_check_line, &def->clock_adjustment));
    TRY(cpu_attr(n, "basis", qv_conf_clock_bases, &def->clock_basis));
    TRY(qv_conf_xml_attr_str(n, "timezone", qv_conf_check_line, &def->clock_timezone));
    int has_start = qv_conf_xml_attr_uint(n, "start", G_MAXINT64, &def->clock_start);
    TRY(has_start);
    if (strcmp(def->clock_offset, "absolute") == 0 && !has_start)
        return qv_conf_xml_err(n, "<clock offset='absolute'> needs start=");
    const char *why = qv_conf_rule_clock(def);
    if (why)
        return qv_conf_xml_err(n, "<clock offset='%s'>: %s", def->clock_offset, why);
    FOR_EACH_ELEMENT(n, c)
    {
        if (!qv_conf_xml_is(c, "timer"))
            return qv_conf_xml_unknown(c);
        TRY(qv_conf_xml_check(c, QV_XML_EMPTY, "name tickpolicy present track frequency mode"));
        if (def->ntimers == G_N_ELEMENTS(def->timers))
            return qv_conf_xml_unmodelled(c, "more than %zu <timer>s", G_N_ELEMENTS(def->timers));
        struct qv_timer t = {.present = -1};
        bool present = false;
        TRY(qv_conf_xml_need_enum(c, "name", qv_conf_timer_names, &v));
        t.name = (uint8_t)v;
        /* libvirt refuses a timer named twice: which one would count? */
        for (uint8_t i = 0; i < def->ntimers; i++)
            if (def->timers[i].name == t.name)
                return qv_conf_xml_err(c, "duplicate <timer name='%s'> in <clock>",
                                       qv_conf_timer_names[t.name]);
        int rc = qv_conf_xml_attr_enum(c, "tickpolicy", qv_conf_tickpolicies, &v);
        TRY(rc);
        t.tickpolicy = rc == 1 ? (uint8_t)v : 0;
        rc = qv_conf_xml_attr_yesno(c, "present", &present);
        TRY(rc);
        if (rc == 1)
            t.present = present;
        rc = qv_conf_xml_attr_enum(c, "track", qv_conf_timer_tracks, &v);
        TRY(rc);
        t.track = rc == 1 ? (uint8_t)v : 0;
        rc = qv_conf_xml_attr_enum(c, "mode", qv_conf_tsc_modes, &v);
        TRY(rc);
        t.mode = rc == 1 ? (uint8_t)v : 0;
        TRY(qv_conf_xml_attr_uint(c, "frequency", G_MAXINT64, &t.frequency));
        if ((why = qv_conf_rule_timer(&t)))
            return qv_conf_xml_err(c, "<timer name='%s'>: %s", qv_conf_timer_names[t.name], why);
        def->timers[def->ntimers++] = t;
    }
    return 0;
}

static int parse_pm(const xmlNode *n, struct qv_domain *def)
{
    TRY(qv_conf_xml_check(n, QV_XML_ELEMS, ""));
    FOR_EACH_ELEMENT(n, c)
    {
        int8_t *slot = qv_conf_xml_is(c, "suspend-to-mem")    ? &def->pm_s3
                       : qv_conf_xml_is(c, "suspend-to-disk") ? &def->pm_s4
                                                              : NULL;
        if (!slot)
            return qv_conf_xml_unknown(c);
        TRY(qv_conf_xml_check(c, QV_XML_EMPTY, "enabled"));
        bool on = false;
        int rc = qv_conf_xml_attr_yesno(c, "enabled", &on);
        TRY(rc);
        if (rc == 0)
            return qv_conf_xml_unmodelled(c, "<%s> without enabled=", c->name);
        *slot = on;
    }
    return 0;
}

static int parse_numatune(const xmlNode *n, struct qv_domain *def)
{
    static const char *const modes[] = {"strict", NULL};
    const xmlNode *mem = NULL;
    int v;
    TRY(qv_conf_xml_check(n, QV_XML_ELEMS, ""));
    FOR_EACH_ELEMENT(n, c)
    {
        if (!qv_conf_xml_is(c, "memory"))
            return qv_conf_xml_unknown(c);
        TRY(qv_conf_xml_once(c, &mem));
        TRY(qv_conf_xml_check(c, QV_XML_EMPTY, "mode nodeset"));
        TRY(qv_conf_xml_attr_enum(c, "mode", modes, &v));
        g_autofree char *set = qv_conf_xml_attr(c, "nodeset");
        if (!set || (def->numa_node = qv_conf_cpuset_single(set)) < 0)
            return qv_conf_xml_unmodelled(c,
                                          "<memory> needs nodeset= naming one NUMA node (0-4095)");
    }
    return 0;
}

static int parse_os(const xmlNode *n, struct qv_domain *def)
{
    static const char *const archs[] = {"x86_64", "i686", NULL};
    static const char *const loader_types[] = {"rom", "pflash", NULL};
    const xmlNode *type = NULL, *kernel = NULL, *initrd = NULL, *cmdline = NULL, *loader = NULL,
                  *nvram = NULL;
    GPtrArray *boots = g_ptr_array_new();
    bool loader_kept = false;
    int rc = 0, v;
    if (qv_conf_xml_check(n, QV_XML_ELEMS, "firmware") < 0 ||
        (rc = qv_conf_xml_attr_enum(n, "firmware", qv_conf_firmwares, &v)) < 0) {
        g_ptr_array_free(boots, TRUE);
        return QV_ERR_XML;
    }
    if (rc == 1)
        def->os.firmware = g_strdup(qv_conf_firmwares[v]);
    rc = 0;
    for (const xmlNode *c = n->children; c && rc == 0; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        qv_conf_xml_unmodelled_reset();
        if (qv_conf_xml_is(c, "type")) {
            if ((rc = qv_conf_xml_once(c, &type)) < 0 ||
                (rc = qv_conf_xml_check(c, QV_XML_TEXT, "arch machine")) < 0)
                break;
            g_autofree char *t = qv_conf_xml_text(c);
            g_strstrip(t);
            /* A foreign domain type (noop stores it, the other drivers
             * refuse it) may run what its hypervisor runs: LXC's exe, Xen
             * PV's linux. */
            if (def->type >= QV_VIRT_FOREIGN && g_strv_contains(qv_conf_foreign_os_types, t)) {
                def->os.type = g_strdup(t);
            } else if (strcmp(t, "hvm") != 0) {
                rc =
                    qv_conf_xml_err(c,
                                    "unsupported OS type '%s' on <domain type='%s'> (expected "
                                    "hvm%s)",
                                    t, qv_conf_virt_types[def->type],
                                    def->type >= QV_VIRT_FOREIGN ? ", exe, linux, xen or uml" : "");
                break;
            }
            if ((rc = qv_conf_xml_attr_enum(c, "arch", archs, &v)) == 1)
                def->os.arch = g_strdup(archs[v]);
            if (rc < 0 || (rc = qv_conf_xml_attr_str(c, "machine", qv_conf_check_token,
                                                     &def->os.machine)) < 0)
                break;
            rc = 0;
        } else if (qv_conf_xml_is(c, "kernel")) {
            rc = text_once(c, &kernel, qv_conf_check_path, &def->os.kernel);
        } else if (qv_conf_xml_is(c, "initrd")) {
            rc = text_once(c, &initrd, qv_conf_check_path, &def->os.initrd);
        } else if (qv_conf_xml_is(c, "cmdline")) {
            rc = text_once(c, &cmdline, qv_conf_check_text, &def->os.cmdline);
        } else if (qv_conf_xml_is(c, "loader")) {
            /* No break on failure: an attribute qv does not model (e.g.
             * stateless=) keeps the element below rather than refuse it. */
            if ((rc = qv_conf_xml_once(c, &loader)) == 0 &&
                (rc = qv_conf_xml_check(c, QV_XML_TEXT, "readonly type secure")) == 0 &&
                (rc = qv_conf_xml_text_str(c, qv_conf_check_path, &def->os.loader)) >= 0 &&
                (rc = qv_conf_xml_attr_yesno(c, "readonly", &def->os.loader_readonly)) >= 0 &&
                (rc = qv_conf_xml_attr_yesno(c, "secure", &def->os.loader_secure)) >= 0 &&
                (rc = qv_conf_xml_attr_enum(c, "type", loader_types, &v)) >= 0) {
                def->os.loader_pflash = rc == 1 && v == 1;
                rc = 0;
            }
        } else if (qv_conf_xml_is(c, "nvram")) {
            if ((rc = qv_conf_xml_once(c, &nvram)) == 0 &&
                (rc = qv_conf_xml_check(c, QV_XML_TEXT, "template")) == 0 &&
                (rc = qv_conf_xml_text_str(c, qv_conf_check_path, &def->os.nvram)) >= 0) {
                rc = qv_conf_xml_attr_str(c, "template", qv_conf_check_path,
                                          &def->os.nvram_template);
                rc = rc < 0 ? rc : 0;
            }
        } else if (qv_conf_xml_is(c, "boot")) {
            if ((rc = qv_conf_xml_check(c, QV_XML_EMPTY, "dev")) < 0 ||
                (rc = qv_conf_xml_need_enum(c, "dev", qv_conf_boot_devs, &v)) < 0)
                break;
            for (guint i = 0; i < boots->len; i++)
                if (strcmp(g_ptr_array_index(boots, i), qv_conf_boot_devs[v]) == 0)
                    rc = qv_conf_xml_err(c, "boot device '%s' is listed twice",
                                         qv_conf_boot_devs[v]);
            if (boots->len >= 4)
                rc = qv_conf_xml_err(c, "at most 4 <boot> devices");
            g_ptr_array_add(boots, (gpointer)qv_conf_boot_devs[v]);
            rc = rc < 0 ? rc : 0;
        } else {
            rc = qv_conf_xml_unknown(c);
        }
        if (rc < 0 && qv_conf_xml_was_unmodelled() && !qv_conf_xml_is(c, "type") &&
            !qv_conf_xml_is(c, "boot")) {
            if (qv_conf_xml_is(c, "loader")) { /* it may have failed half-way */
                g_clear_pointer(&def->os.loader, g_free);
                def->os.loader_readonly = def->os.loader_pflash = def->os.loader_secure = false;
                loader_kept = true;
            } else if (qv_conf_xml_is(c, "nvram")) {
                g_clear_pointer(&def->os.nvram, g_free);
                g_clear_pointer(&def->os.nvram_template, g_free);
            }
            keep(def, c, "os");
            rc = 0;
        }
    }
    if (rc == 0 && !type)
        rc = qv_conf_xml_err(n, "<os> needs a <type> (hvm)");
    /* The variables of a loader kept as written stay with it. */
    if (rc == 0 && loader_kept && def->os.nvram) {
        g_clear_pointer(&def->os.nvram, g_free);
        g_clear_pointer(&def->os.nvram_template, g_free);
        qv_conf_xml_unmodelled(nvram, "<nvram> of a <loader> qv keeps as written");
        keep(def, nvram, "os");
    }
    if (rc == 0 && def->os.nvram && !def->os.loader)
        rc = qv_conf_xml_err(nvram, "<nvram> needs a <loader>");
    if (rc == 0 && boots->len) {
        def->os.boot_devs = g_new0(char *, boots->len + 1);
        for (guint i = 0; i < boots->len; i++)
            def->os.boot_devs[i] = g_strdup(g_ptr_array_index(boots, i));
    }
    g_ptr_array_free(boots, TRUE);
    return rc < 0 ? QV_ERR_XML : 0;
}

static int parse_features(const xmlNode *n, struct qv_domain *def)
{
    const xmlNode *acpi = NULL, *apic = NULL, *pae = NULL;
    TRY(qv_conf_xml_check(n, QV_XML_ELEMS, ""));
    FOR_EACH_ELEMENT(n, c)
    {
        bool *flag = NULL;
        int rc;
        qv_conf_xml_unmodelled_reset();
        if (qv_conf_xml_is(c, "acpi")) {
            rc = qv_conf_xml_once(c, &acpi);
            flag = &def->acpi;
        } else if (qv_conf_xml_is(c, "apic")) {
            rc = qv_conf_xml_once(c, &apic);
            flag = &def->apic;
        } else if (qv_conf_xml_is(c, "pae")) {
            rc = qv_conf_xml_once(c, &pae);
            flag = &def->pae;
        } else {
            rc = qv_conf_xml_unknown(c);
        }
        if (rc == 0)
            rc = qv_conf_xml_check(c, QV_XML_EMPTY, "");
        if (rc < 0 && !qv_conf_xml_was_unmodelled())
            return rc;
        if (rc < 0)
            keep(def, c, "features");
        else
            *flag = true;
    }
    return 0;
}

#define QV_CFS_PERIOD 100000

static int parse_cputune(const xmlNode *n, struct qv_domain *def)
{
    const xmlNode *shares = NULL, *period = NULL, *quota = NULL;
    uint64_t per = QV_CFS_PERIOD, quo = 0;
    bool unlimited = false;
    TRY(qv_conf_xml_check(n, QV_XML_ELEMS, ""));
    FOR_EACH_ELEMENT(n, c)
    {
        if (qv_conf_xml_is(c, "shares")) {
            uint64_t v;
            TRY(qv_conf_xml_once(c, &shares));
            TRY(qv_conf_xml_check(c, QV_XML_TEXT, ""));
            TRY(qv_conf_xml_text_uint(c, UINT32_MAX, &v));
            const char *why = qv_conf_rule_cpu_weight(v);
            if (why)
                return qv_conf_xml_err(c, "<shares> %" G_GUINT64_FORMAT " %s", v, why);
            def->cputune.shares = (uint32_t)v;
        } else if (qv_conf_xml_is(c, "period")) {
            TRY(qv_conf_xml_once(c, &period));
            TRY(qv_conf_xml_check(c, QV_XML_TEXT, ""));
            TRY(qv_conf_xml_text_uint(c, 1000000, &per));
            if (per < 1000)
                return qv_conf_xml_err(c, "<period> must be from 1000 to 1000000");
        } else if (qv_conf_xml_is(c, "quota")) {
            TRY(qv_conf_xml_once(c, &quota));
            TRY(qv_conf_xml_check(c, QV_XML_TEXT, ""));
            g_autofree char *t = qv_conf_xml_text(c);
            if (strcmp(g_strstrip(t), "-1") == 0)
                unlimited = true;
            else
                TRY(qv_conf_xml_text_uint(c, 17592186044415ULL, &quo));
        } else if (qv_conf_xml_is(c, "vcpupin")) {
            uint64_t vcpu;
            TRY(qv_conf_xml_check(c, QV_XML_EMPTY, "vcpu cpuset"));
            if (qv_conf_xml_attr_uint(c, "vcpu", 65535, &vcpu) <= 0)
                return qv_conf_xml_err(c, "<vcpupin> needs vcpu= from 0 to 65535");
            struct qv_vcpupin pin = {.vcpu = (uint32_t)vcpu};
            TRY(qv_conf_xml_need_str(c, "cpuset", qv_conf_check_cpuset, &pin.cpuset));
            pin.pcpu = qv_conf_cpuset_single(pin.cpuset);
            if (pin.pcpu >= 0) { /* one CPU: spell it canonically ("007" -> "7") */
                g_free(pin.cpuset);
                pin.cpuset = g_strdup_printf("%d", pin.pcpu);
            }
            g_array_append_val(def->cputune.pins, pin);
        } else {
            return qv_conf_xml_unknown(c);
        }
    }
    if (period && !quota)
        return qv_conf_xml_unmodelled(period,
                                      "<period> without <quota> is not supported: the CPU cap "
                                      "is quota/period");
    if (quota && !unlimited) {
        /* The cap is a whole percentage of one host CPU. */
        if (quo == 0 || (quo * 100) % per != 0)
            return qv_conf_xml_unmodelled(quota,
                                          "<quota> %" G_GUINT64_FORMAT
                                          " over <period> %" G_GUINT64_FORMAT
                                          " is not a whole percentage from 1 to 100",
                                          quo, per);
        uint64_t cap = quo * 100 / per;
        if (qv_conf_rule_cpu_cap(cap))
            return qv_conf_xml_err(quota,
                                   "<quota> %" G_GUINT64_FORMAT
                                   " is more than <period> %" G_GUINT64_FORMAT
                                   " (a cap above 100%%)",
                                   quo, per);
        def->cputune.cap = (uint32_t)cap;
    }
    return 0;
}

static int parse_memory_backing(const xmlNode *n, struct qv_domain *def)
{
    const xmlNode *huge = NULL;
    TRY(qv_conf_xml_check(n, QV_XML_ELEMS, ""));
    FOR_EACH_ELEMENT(n, c)
    {
        if (!qv_conf_xml_is(c, "hugepages"))
            return qv_conf_xml_unknown(c);
        TRY(qv_conf_xml_once(c, &huge));
        TRY(qv_conf_xml_check(c, QV_XML_EMPTY, ""));
        def->hugepages = true;
    }
    return 0;
}

/* libvirt numbers a <serial> without <target port=> one past the highest
 * port of the serials before it (0, 1, ...), and writes that back. */
static int number_serial(const xmlNode *n, struct qv_domain *def, struct qv_chardev *c)
{
    FOR_EACH_ELEMENT(n, t)
    if (qv_conf_xml_is(t, "target") && xmlHasProp(t, (const xmlChar *)"port"))
        return 0;
    int64_t max = -1;
    for (guint i = 0; i < def->serials->len; i++)
        max = MAX(max, (int64_t)((struct qv_chardev *)g_ptr_array_index(def->serials, i))->port);
    if (max >= 255)
        return qv_conf_xml_err(n,
                               "<serial> without <target port=> after port 255 (ports are 0-255)");
    c->port = (uint32_t)(max + 1);
    return 0;
}

static int parse_devices(const xmlNode *n, struct qv_domain *def)
{
    const xmlNode *emu = NULL;
    TRY(qv_conf_xml_check(n, QV_XML_ELEMS, ""));
    FOR_EACH_ELEMENT(n, c)
    {
        void *dev = NULL;
        GPtrArray *into = NULL;
        int rc;
        qv_conf_xml_unmodelled_reset();
        if (qv_conf_xml_is(c, "emulator")) {
            TRY(text_once(c, &emu, qv_conf_check_path, &def->emulator));
            continue;
        } else if (qv_conf_xml_is(c, "disk")) {
            rc = qv_conf_xml_disk(c, (struct qv_disk **)&dev);
            into = def->disks;
        } else if (qv_conf_xml_is(c, "interface")) {
            rc = qv_conf_xml_net(c, (struct qv_net **)&dev);
            into = def->nets;
        } else if (qv_conf_xml_is(c, "serial")) {
            rc = qv_conf_xml_chardev(c, (struct qv_chardev **)&dev);
            into = def->serials;
        } else if (qv_conf_xml_is(c, "console")) {
            rc = qv_conf_xml_chardev(c, (struct qv_chardev **)&dev);
            into = def->consoles;
        } else if (qv_conf_xml_is(c, "channel")) {
            rc = qv_conf_xml_channel(c, (struct qv_channel **)&dev);
            into = def->channels;
        } else if (qv_conf_xml_is(c, "hostdev")) {
            rc = qv_conf_xml_hostdev(c, (struct qv_hostdev **)&dev);
            into = def->hostdevs;
        } else if (qv_conf_xml_is(c, "graphics")) {
            rc = qv_conf_xml_graphics(c, (struct qv_graphics **)&dev);
            into = def->graphics;
        } else if (qv_conf_xml_is(c, "rng")) {
            rc = qv_conf_xml_rng(c, (struct qv_rng **)&dev);
            into = def->rngs;
        } else {
            rc = qv_conf_xml_unknown(c);
        }
        if (rc < 0 && !qv_conf_xml_was_unmodelled())
            return rc;
        if (rc < 0) {
            keep(def, c, "devices");
            continue;
        }
        if (into == def->serials && number_serial(c, def, dev) < 0) {
            qv_chardev_free(dev);
            return QV_ERR_XML;
        }
        g_ptr_array_add(into, dev);
    }
    return 0;
}

struct seen {
    const xmlNode *name, *uuid, *title, *description, *memory, *current, *vcpu, *cpu, *numatune,
        *os, *features, *cputune, *backing, *poweroff, *reboot, *crash, *devices, *clock, *pm,
        *metadata, *resource;
};

static int parse_domain_child(const xmlNode *c, struct qv_domain *def, struct seen *s)
{
    if (qv_conf_xml_is(c, "name"))
        return text_once(c, &s->name, qv_conf_check_line, &def->name);
    if (qv_conf_xml_is(c, "uuid")) {
        TRY(qv_conf_xml_once(c, &s->uuid));
        TRY(qv_conf_xml_check(c, QV_XML_TEXT, ""));
        g_autofree char *u = qv_conf_xml_text(c);
        if (!qv_conf_norm_uuid(g_strstrip(u), def->uuid))
            return qv_conf_xml_err(c, "<uuid> '%s' is not a UUID", u);
        return 0;
    }
    if (qv_conf_xml_is(c, "title"))
        return text_once(c, &s->title, qv_conf_check_line, &def->title);
    if (qv_conf_xml_is(c, "description"))
        return text_once(c, &s->description, qv_conf_check_text, &def->description);
    if (qv_conf_xml_is(c, "metadata"))
        return qv_conf_xml_once(c, &s->metadata); /* read last: see xml_metadata.c */
    if (qv_conf_xml_is(c, "memory") || qv_conf_xml_is(c, "currentMemory")) {
        bool cur = c->name[0] == 'c';
        TRY(qv_conf_xml_once(c, cur ? &s->current : &s->memory));
        TRY(qv_conf_xml_check(c, QV_XML_TEXT, "unit"));
        return qv_conf_xml_text_kib(c, cur ? &def->current_memory_kib : &def->memory_kib);
    }
    if (qv_conf_xml_is(c, "vcpu")) {
        uint64_t max, cur;
        TRY(qv_conf_xml_once(c, &s->vcpu));
        int p;
        TRY(qv_conf_xml_check(c, QV_XML_TEXT, "current placement cpuset"));
        TRY(qv_conf_xml_text_uint(c, 65535, &max));
        int rc = qv_conf_xml_attr_uint(c, "current", 65535, &cur);
        TRY(rc);
        int has = qv_conf_xml_attr_enum(c, "placement", qv_conf_vcpu_placements, &p);
        TRY(has);
        if (has == 1)
            def->vcpu_placement = g_strdup(qv_conf_vcpu_placements[p]);
        TRY(qv_conf_xml_attr_str(c, "cpuset", qv_conf_check_cpuset, &def->vcpu_cpuset));
        def->max_vcpus = (uint32_t)max;
        def->vcpus = rc == 1 ? (uint32_t)cur : (uint32_t)max;
        return 0;
    }
    if (qv_conf_xml_is(c, "cpu")) {
        TRY(qv_conf_xml_once(c, &s->cpu));
        return parse_cpu(c, def);
    }
    if (qv_conf_xml_is(c, "clock")) {
        TRY(qv_conf_xml_once(c, &s->clock));
        return parse_clock(c, def);
    }
    if (qv_conf_xml_is(c, "pm")) {
        TRY(qv_conf_xml_once(c, &s->pm));
        return parse_pm(c, def);
    }
    if (qv_conf_xml_is(c, "resource")) {
        TRY(qv_conf_xml_once(c, &s->resource));
        return qv_conf_xml_resource(c, &def->partition);
    }
    if (qv_conf_xml_is(c, "numatune")) {
        TRY(qv_conf_xml_once(c, &s->numatune));
        return parse_numatune(c, def);
    }
    if (qv_conf_xml_is(c, "os")) {
        TRY(qv_conf_xml_once(c, &s->os));
        return parse_os(c, def);
    }
    if (qv_conf_xml_is(c, "features")) {
        TRY(qv_conf_xml_once(c, &s->features));
        return parse_features(c, def);
    }
    if (qv_conf_xml_is(c, "cputune")) {
        TRY(qv_conf_xml_once(c, &s->cputune));
        return parse_cputune(c, def);
    }
    if (qv_conf_xml_is(c, "memoryBacking")) {
        TRY(qv_conf_xml_once(c, &s->backing));
        return parse_memory_backing(c, def);
    }
    if (qv_conf_xml_is(c, "on_poweroff"))
        return enum_text(c, &s->poweroff, qv_conf_off_actions, &def->on_poweroff);
    if (qv_conf_xml_is(c, "on_reboot"))
        return enum_text(c, &s->reboot, qv_conf_off_actions, &def->on_reboot);
    if (qv_conf_xml_is(c, "on_crash"))
        return enum_text(c, &s->crash, qv_conf_crash_actions, &def->on_crash);
    if (qv_conf_xml_is(c, "devices")) {
        TRY(qv_conf_xml_once(c, &s->devices));
        return parse_devices(c, def);
    }
    return qv_conf_xml_unknown(c);
}

/* Elements that must be understood: what identifies and sizes the VM, and
 * <metadata>, whose only part qv reads is in qv's own namespace. */
static bool essential(const xmlNode *c)
{
    static const char *const names[] = {"name",   "uuid",          "title", "description",
                                        "memory", "currentMemory", "vcpu",  "os",
                                        "devices", "metadata",     NULL};
    if (c->ns)
        return false;
    for (int i = 0; names[i]; i++)
        if (qv_conf_xml_is(c, names[i]))
            return true;
    return false;
}

/* Undo what a failed optional element may have set before it failed. */
static void reset_partial(const xmlNode *c, struct qv_domain *def)
{
    if (qv_conf_xml_is(c, "cpu")) {
        g_clear_pointer(&def->cpu.model, g_free);
        g_clear_pointer(&def->cpu.match, g_free);
        g_clear_pointer(&def->cpu.check, g_free);
        g_clear_pointer(&def->cpu.migratable, g_free);
        g_clear_pointer(&def->cpu.fallback, g_free);
        g_clear_pointer(&def->cpu.features, g_strfreev);
        def->cpu.mode = QV_CPU_MODE_NONE;
        def->cpu.sockets = def->cpu.dies = def->cpu.cores = def->cpu.threads = 0;
    } else if (qv_conf_xml_is(c, "numatune")) {
        def->numa_node = -1;
    } else if (qv_conf_xml_is(c, "cputune")) {
        def->cputune.shares = def->cputune.cap = 0;
        g_array_set_size(def->cputune.pins, 0);
    } else if (qv_conf_xml_is(c, "memoryBacking")) {
        def->hugepages = false;
    } else if (qv_conf_xml_is(c, "clock")) {
        g_clear_pointer(&def->clock_offset, g_free);
        def->ntimers = 0;
    } else if (qv_conf_xml_is(c, "pm")) {
        def->pm_s3 = def->pm_s4 = -1;
    }
}

static int parse_domain_child_or_keep(const xmlNode *c, struct qv_domain *def, struct seen *s)
{
    struct seen before = *s;
    qv_conf_xml_unmodelled_reset();
    if (parse_domain_child(c, def, s) == 0)
        return 0;
    if (essential(c) || !qv_conf_xml_was_unmodelled())
        return QV_ERR_XML;
    *s = before;
    reset_partial(c, def);
    keep(def, c, "");
    return 0;
}

static int parse_domain(const xmlNode *root, struct qv_domain *def)
{
    int v;
    if (!qv_conf_xml_is(root, "domain"))
        return qv_conf_xml_err(root, "the root element must be <domain>, not <%s>", root->name);
    TRY(qv_conf_xml_check(root, QV_XML_ELEMS, "type"));
    TRY(qv_conf_xml_need_enum(root, "type", qv_conf_virt_types, &v));
    def->type = (enum qv_virt_type)v;
    /* libvirt's meaning: a feature is on only when its element is there. */
    def->acpi = false;
    def->apic = false;
    struct seen s = {0};
    FOR_EACH_ELEMENT(root, c)
    TRY(parse_domain_child_or_keep(c, def, &s));
    if (s.metadata)
        TRY(qv_conf_xml_parse_metadata(s.metadata, def));
    if (!s.name)
        return qv_conf_xml_err(root, "<domain> needs a <name>");
    if (!s.memory)
        return qv_conf_xml_err(root, "<domain> needs a <memory>");
    if (!s.vcpu)
        return qv_conf_xml_err(root, "<domain> needs a <vcpu>");
    if (!s.os)
        return qv_conf_xml_err(root, "<domain> needs an <os>");
    return 0;
}

struct qv_domain *qv_domain_parse_xml(const char *xml)
{
    if (!xml) {
        qv_error_set(QV_ERR_INVALID_ARG, "domain XML is NULL");
        return NULL;
    }
    xmlDoc *doc = qv_conf_xml_read(xml, "domain XML");
    if (!doc)
        return NULL;
    struct qv_domain *def = qv_domain_new();
    if (parse_domain(xmlDocGetRootElement(doc), def) < 0) {
        qv_domain_free(def);
        def = NULL;
    }
    xmlFreeDoc(doc);
    return def;
}

struct qv_domain *qv_domain_parse_user_xml(const char *xml)
{
    if (!xml) {
        qv_error_set(QV_ERR_INVALID_ARG, "domain XML is NULL");
        return NULL;
    }
    xmlDoc *doc = qv_conf_xml_read(xml, "domain XML");
    if (!doc)
        return NULL;
    /* qv's own refusals first: they name the value and the rule. What is
     * dropped is optional in the schema, so dropping it first changes no
     * verdict of the schema's. */
    qv_conf_xml_drop_live(doc);
    struct qv_domain *def = qv_domain_new();
    long where = 0;
    if (parse_domain(xmlDocGetRootElement(doc), def) < 0) {
        g_clear_pointer(&def, qv_domain_free);
    } else if (qv_conf_xml_schema_check(doc, "domain XML", &where) < 0) {
        /* What qv made of the same element says more than libxml2 can
         * from inside libvirt's <interleave>s. */
        for (guint i = 0; i < def->kept->len; i++) {
            const struct qv_kept *k = g_ptr_array_index(def->kept, i);
            if (k->line == where) {
                g_autofree char *schema_says = g_strdup(qv_last_error()->message);
                qv_error_set(QV_ERR_XML, "%s; qv: %s", schema_says, k->reason);
                break;
            }
        }
        g_clear_pointer(&def, qv_domain_free);
    }
    xmlFreeDoc(doc);
    return def;
}

int qv_domain_parse_device_xml(const char *xml, struct qv_disk **disk, struct qv_net **net,
                               struct qv_hostdev **hostdev)
{
    *disk = NULL;
    *net = NULL;
    *hostdev = NULL;
    if (!xml)
        return qv_error_set(QV_ERR_INVALID_ARG, "device XML is NULL");
    xmlDoc *doc = qv_conf_xml_read(xml, "device XML");
    if (!doc)
        return QV_ERR_XML;
    const xmlNode *root = xmlDocGetRootElement(doc);
    int rc;
    if (qv_conf_xml_is(root, "disk"))
        rc = qv_conf_xml_disk(root, disk);
    else if (qv_conf_xml_is(root, "interface"))
        rc = qv_conf_xml_net(root, net);
    else if (qv_conf_xml_is(root, "hostdev"))
        rc = qv_conf_xml_hostdev(root, hostdev);
    else
        rc = qv_conf_xml_err(root,
                             "unsupported device <%s> (expected <disk>, <interface> or "
                             "<hostdev>)",
                             root->name);
    xmlFreeDoc(doc);
    return rc < 0 ? QV_ERR_XML : 0;
}
