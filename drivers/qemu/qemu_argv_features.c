/* <features> children beyond acpi/apic/pae, as QEMU 7.2 machine, CPU and
 * accelerator options. Under TCG (<domain type='qemu'>) QEMU accepts the
 * Hyper-V and KVM paravirtual CPU flags but gives the guest none of them
 * (a Linux guest finds no hypervisor), so turning one on needs
 * type='kvm'; turning it off is what TCG does anyway and is honoured. */
#include <string.h>

#include "../../lib/conf/xml_util.h"
#include "qemu_argv_machine.h"

#define NEEDS_KVM "QEMU's TCG gives the guest none of them: this needs <domain type='kvm'>"

static int smm(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    int on;
    if (qemu_machine_only(v, k, n, "state", "tseg") < 0 ||
        (on = qemu_machine_onoff(v, k, n, "state", 1)) < 0)
        return QV_ERR_UNSUPPORTED;
    qemu_argv_machine_opt(v, ",smm=%s", on ? "on" : "off");
    const xmlNode *tseg = qemu_xml_child(n, "tseg");
    if (!tseg)
        return 0;
    uint64_t kib = 0;
    if (qemu_machine_only(v, k, tseg, "unit", "") < 0 || qemu_machine_kib(v, k, tseg, &kib) < 0)
        return QV_ERR_UNSUPPORTED;
    if (!qemu_is_q35(v->def) || !on)
        return qemu_machine_refuse(v, k, tseg, "an extended TSEG is q35's, with SMM on");
    if (kib % 1024 || kib / 1024 > 0xfff)
        return qemu_machine_refuse(v, k, tseg, "the TSEG size is whole MiB, at most 4095");
    qemu_argv_add(v, "-global");
    qemu_argv_addf(v, "mch.extended-tseg-mbytes=%" G_GUINT64_FORMAT, kib / 1024);
    return 0;
}

static int vmport(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    int on;
    if (qemu_machine_only(v, k, n, "state", "") < 0 ||
        (on = qemu_machine_onoff(v, k, n, "state", 1)) < 0)
        return QV_ERR_UNSUPPORTED;
    qemu_argv_machine_opt(v, ",vmport=%s", on ? "on" : "off");
    return 0;
}

static int ioapic(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    if (qemu_machine_only(v, k, n, "driver", "") < 0)
        return QV_ERR_UNSUPPORTED;
    g_autofree char *driver = qv_conf_xml_attr(n, "driver");
    bool kvm_chip = driver && strcmp(driver, "kvm") == 0;
    if (!driver || (!kvm_chip && strcmp(driver, "qemu") != 0))
        return qemu_machine_refuse(v, k, n, "driver= must be kvm or qemu");
    /* TCG has QEMU's IOAPIC only. */
    if (qemu_is_tcg(v->def))
        return kvm_chip ? qemu_machine_refuse(v, k, n,
                                              "KVM's in-kernel IOAPIC needs <domain type='kvm'>")
                        : 0;
    qemu_argv_machine_opt(v, ",kernel-irqchip=%s", kvm_chip ? "on" : "split");
    return 0;
}

/* A paravirtual CPU flag: on needs KVM, off is honoured everywhere. */
static int pv_flag(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n, const char *flag)
{
    int on = qemu_machine_onoff(v, k, n, "state", -1);
    if (on < -1 || (on == -1 && qemu_machine_refuse(v, k, n, "state= is required") < 0))
        return QV_ERR_UNSUPPORTED;
    if (on && qemu_is_tcg(v->def))
        return qemu_machine_refuse(v, k, n, "a paravirtual feature; %s", NEEDS_KVM);
    if (!qemu_is_tcg(v->def))
        qemu_argv_cpu_opt(v, ",%s=%s", flag, on ? "on" : "off");
    return 0;
}

static int kvm(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    if (qemu_machine_only(v, k, n, "", "hidden hint-dedicated poll-control pv-ipi dirty-ring") < 0)
        return QV_ERR_UNSUPPORTED;
    for (const xmlNode *c = n->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        const char *name = (const char *)c->name;
        if (strcmp(name, "hidden") == 0) {
            int on;
            if (qemu_machine_only(v, k, c, "state", "") < 0 ||
                (on = qemu_machine_onoff(v, k, c, "state", 0)) < 0)
                return QV_ERR_UNSUPPORTED;
            /* TCG shows no KVM signature either; QEMU takes kvm=off there. */
            if (on)
                qemu_argv_cpu_opt(v, ",kvm=off");
        } else if (strcmp(name, "dirty-ring") == 0) {
            int on;
            uint64_t size = 0;
            if (qemu_machine_only(v, k, c, "state size", "") < 0 ||
                (on = qemu_machine_onoff(v, k, c, "state", 0)) < 0 ||
                qemu_machine_uint(v, k, c, "size", 65536, &size) < 0)
                return QV_ERR_UNSUPPORTED;
            if (!on)
                continue;
            if (qemu_is_tcg(v->def))
                return qemu_machine_refuse(v, k, c, "a KVM dirty ring needs <domain type='kvm'>");
            if (size < 1024 || (size & (size - 1)))
                return qemu_machine_refuse(v, k, c,
                                           "size= must be a power of two from 1024 to 65536");
            qemu_argv_accel_opt(v, ",dirty-ring-size=%" G_GUINT64_FORMAT, size);
        } else {
            g_autofree char *flag = g_strdup_printf("kvm-%s", name);
            if (qemu_machine_only(v, k, c, "state", "") < 0 || pv_flag(v, k, c, flag) < 0)
                return QV_ERR_UNSUPPORTED;
        }
    }
    return 0;
}

/* libvirt's Hyper-V enlightenment names and QEMU's -cpu flags. */
static const char *hv_flag(const char *name)
{
    static const char *const map[][2] = {{"relaxed", "hv-relaxed"},
                                         {"vapic", "hv-vapic"},
                                         {"spinlocks", "hv-spinlocks"},
                                         {"vpindex", "hv-vpindex"},
                                         {"runtime", "hv-runtime"},
                                         {"synic", "hv-synic"},
                                         {"stimer", "hv-stimer"},
                                         {"reset", "hv-reset"},
                                         {"vendor_id", "hv-vendor-id"},
                                         {"frequencies", "hv-frequencies"},
                                         {"reenlightenment", "hv-reenlightenment"},
                                         {"tlbflush", "hv-tlbflush"},
                                         {"ipi", "hv-ipi"},
                                         {"evmcs", "hv-evmcs"},
                                         {"avic", "hv-avic"}};
    for (size_t i = 0; i < G_N_ELEMENTS(map); i++)
        if (strcmp(map[i][0], name) == 0)
            return map[i][1];
    return NULL;
}

static int hv_child(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *c)
{
    const char *name = (const char *)c->name;
    const char *flag = hv_flag(name);
    const char *attrs = strcmp(name, "spinlocks") == 0   ? "state retries"
                        : strcmp(name, "vendor_id") == 0 ? "state value"
                                                         : "state";
    if (!flag || c->ns)
        return qemu_machine_refuse(v, k, c, "not a Hyper-V enlightenment QEMU 7.2 has");
    int on;
    if (qemu_machine_only(v, k, c, attrs, strcmp(name, "stimer") == 0 ? "direct" : "") < 0 ||
        (on = qemu_machine_onoff(v, k, c, "state", -1)) < -1)
        return QV_ERR_UNSUPPORTED;
    if (on == -1 && strcmp(name, "stimer") != 0)
        return qemu_machine_refuse(v, k, c, "state= is required");
    if (on == 1 && qemu_is_tcg(v->def))
        return qemu_machine_refuse(v, k, c, "a Hyper-V enlightenment; %s", NEEDS_KVM);
    if (strcmp(name, "spinlocks") == 0 && on == 1) {
        uint64_t retries = 0;
        if (qemu_machine_uint(v, k, c, "retries", UINT32_MAX, &retries) <= 0 || retries < 4095)
            return qemu_machine_refuse(v, k, c, "retries= from 4095 is required with state='on'");
        if (!qemu_is_tcg(v->def))
            qemu_argv_cpu_opt(v, ",hv-spinlocks=0x%" G_GINT64_MODIFIER "x", retries);
        return 0;
    }
    if (strcmp(name, "vendor_id") == 0 && on == 1) {
        g_autofree char *id = qv_conf_xml_attr(c, "value");
        if (!id || !*id || strlen(id) > 12 || !qemu_plain_word(id))
            return qemu_machine_refuse(v, k, c, "value= must be 1 to 12 letters, digits or '._-+'");
        if (!qemu_is_tcg(v->def))
            qemu_argv_cpu_opt(v, ",hv-vendor-id=%s", id);
        return 0;
    }
    const xmlNode *direct = strcmp(name, "stimer") == 0 ? qemu_xml_child(c, "direct") : NULL;
    int direct_on = 0;
    if (direct && ((direct_on = qemu_machine_onoff(v, k, direct, "state", -1)) < -1 ||
                   qemu_machine_only(v, k, direct, "state", "") < 0))
        return QV_ERR_UNSUPPORTED;
    if (direct_on == 1 && (on != 1 || qemu_is_tcg(v->def)))
        return qemu_machine_refuse(v, k, direct,
                                   on != 1 ? "direct stimers need <stimer state='on'>"
                                           : "a Hyper-V enlightenment; " NEEDS_KVM);
    if (qemu_is_tcg(v->def) || on == -1)
        return 0;
    if (strcmp(name, "spinlocks") == 0 || strcmp(name, "vendor_id") == 0)
        return 0; /* off: QEMU's default has neither */
    qemu_argv_cpu_opt(v, ",%s=%s", flag, on ? "on" : "off");
    if (direct && direct_on >= 0)
        qemu_argv_cpu_opt(v, ",hv-stimer-direct=%s", direct_on ? "on" : "off");
    return 0;
}

static int hyperv(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    if (qemu_machine_only(v, k, n, "mode",
                          "relaxed vapic spinlocks vpindex runtime synic stimer reset vendor_id "
                          "frequencies reenlightenment tlbflush ipi evmcs avic") < 0)
        return QV_ERR_UNSUPPORTED;
    g_autofree char *mode = qv_conf_xml_attr(n, "mode");
    if (mode && strcmp(mode, "custom") != 0 && strcmp(mode, "passthrough") != 0)
        return qemu_machine_refuse(v, k, n, "mode= must be custom or passthrough");
    if (mode && strcmp(mode, "passthrough") == 0) {
        if (qemu_is_tcg(v->def))
            return qemu_machine_refuse(v, k, n, "Hyper-V enlightenments: %s", NEEDS_KVM);
        qemu_argv_cpu_opt(v, ",hv-passthrough=on");
    }
    for (const xmlNode *c = n->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && hv_child(v, k, c) < 0)
            return QV_ERR_UNSUPPORTED;
    return 0;
}

static int pmu(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    int on;
    if (qemu_machine_only(v, k, n, "state", "") < 0 ||
        (on = qemu_machine_onoff(v, k, n, "state", -1)) < -1)
        return QV_ERR_UNSUPPORTED;
    if (on == -1)
        return qemu_machine_refuse(v, k, n, "state= is required");
    if (on && qemu_is_tcg(v->def))
        return qemu_machine_refuse(v, k, n,
                                   "QEMU's TCG emulates no performance counters: a PMU needs "
                                   "<domain type='kvm'>");
    qemu_argv_cpu_opt(v, ",pmu=%s", on ? "on" : "off");
    return 0;
}

static int vmcoreinfo(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    int on;
    if (qemu_machine_only(v, k, n, "state", "") < 0 ||
        (on = qemu_machine_onoff(v, k, n, "state", 1)) < 0)
        return QV_ERR_UNSUPPORTED;
    if (on)
        qemu_argv_add2(v, "-device", "vmcoreinfo");
    return 0;
}

/* <apic eoi=>: KVM's paravirtual end-of-interrupt. */
static int apic_eoi(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    if (qemu_machine_only(v, k, n, "eoi", "") < 0)
        return QV_ERR_UNSUPPORTED;
    g_autofree char *eoi = qv_conf_xml_attr(n, "eoi");
    if (!eoi)
        return 0;
    if (strcmp(eoi, "on") && strcmp(eoi, "off"))
        return qemu_machine_refuse(v, k, n, "eoi= must be on or off");
    if (strcmp(eoi, "on") == 0 && qemu_is_tcg(v->def))
        return qemu_machine_refuse(v, k, n, "paravirtual EOI; %s", NEEDS_KVM);
    if (!qemu_is_tcg(v->def))
        qemu_argv_cpu_opt(v, ",kvm-pv-eoi=%s", eoi);
    return 0;
}

static int pvspinlock(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    if (qemu_machine_only(v, k, n, "state", "") < 0)
        return QV_ERR_UNSUPPORTED;
    if (xmlHasProp(n, (const xmlChar *)"state"))
        return pv_flag(v, k, n, "kvm-pv-unhalt");
    /* No state= is on, in libvirt. */
    if (qemu_is_tcg(v->def))
        return qemu_machine_refuse(v, k, n, "paravirtual spinlocks; %s", NEEDS_KVM);
    qemu_argv_cpu_opt(v, ",kvm-pv-unhalt=on");
    return 0;
}

/* <tcg><tb-cache>: the size of TCG's translation cache. */
static int tcg(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    const xmlNode *tb = qemu_xml_child(n, "tb-cache");
    uint64_t kib = 0;
    if (qemu_machine_only(v, k, n, "", "tb-cache") < 0 || !tb ||
        qemu_machine_only(v, k, tb, "unit", "") < 0 || qemu_machine_kib(v, k, tb, &kib) < 0)
        return QV_ERR_UNSUPPORTED;
    if (!qemu_is_tcg(v->def))
        return qemu_machine_refuse(v, k, tb, "the translation cache is TCG's, not KVM's");
    if (kib % 1024 || kib == 0)
        return qemu_machine_refuse(v, k, tb, "QEMU takes the translation cache in whole MiB");
    qemu_argv_accel_opt(v, ",tb-size=%" G_GUINT64_FORMAT, kib / 1024);
    return 0;
}

int qemu_argv_feature(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    static const struct {
        const char *name;
        qemu_machine_fn fn;
    } features[] = {{"smm", smm},
                    {"vmport", vmport},
                    {"ioapic", ioapic},
                    {"kvm", kvm},
                    {"hyperv", hyperv},
                    {"pmu", pmu},
                    {"vmcoreinfo", vmcoreinfo},
                    {"apic", apic_eoi},
                    {"pvspinlock", pvspinlock},
                    {"tcg", tcg}};
    for (size_t i = 0; i < G_N_ELEMENTS(features); i++)
        if (!n->ns && strcmp((const char *)n->name, features[i].name) == 0)
            return features[i].fn(v, k, n);
    /* gic, hpt, htm, nested-hv, ccf-assist, cfpc, sbbc, ibs: other
     * architectures'; hap, viridian, privnet, xen, capabilities: other
     * hypervisors'; msrs: KVM's ignore_msrs is a host-wide setting. */
    return qemu_machine_refuse(v, k, n, "not a feature of an x86 QEMU guest that qv can set");
}
