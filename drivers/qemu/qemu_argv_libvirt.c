/* What `virsh dumpxml` always writes, as QEMU 7.2 arguments: <clock> and
 * its timers, <pm>, <features><pae/>, and the devices qv keeps as libvirt
 * wrote them (def->kept): controllers, inputs, memballoon, audio, video.
 * Without a <memballoon> the VM gets a virtio balloon all the same, as
 * libvirt gives one (qemu_argv_add_balloon); model='none' leaves it out.
 * Devices QEMU creates by itself on pc and q35 (the PCI root, the i8042's
 * PS/2 mouse and keyboard, the IDE or SATA controller) are honoured by
 * being there; the rest become -device arguments at the PCI address the
 * definition gives. What has no QEMU equivalent here is refused, naming
 * the element and its line. Runs before qv's own devices, so explicit
 * addresses are taken before QEMU hands out free slots. */
#include <libxml/tree.h>
#include <string.h>

#include "../../lib/conf/conf_check.h"
#include "../../lib/conf/xml_util.h"
#include "../../lib/util/error.h"
#include "qemu_argv.h"
#include "qemu_argv_machine.h"

static bool bit_take(uint32_t *bits, uint64_t i)
{
    if (i >= 256 || (bits[i / 32] & (1u << (i % 32))))
        return false;
    bits[i / 32] |= 1u << (i % 32);
    return true;
}

/* libvirt numbers a PCI controller written without index= (virt-install
 * writes them so) with the smallest index no other one has. */
static uint64_t next_pci_index(struct qemu_argv *v)
{
    uint64_t i = 1;
    while (i < 256 && (v->pci_index_used[i / 32] & (1u << (i % 32))))
        i++;
    return i;
}

/* ich9-uhci1..3 share the ich9-ehci1's bus: QEMU's companion controllers. */
static const char *usb_companion(const char *model)
{
    static const char *const models[][2] = {{"ich9-uhci1", "ich9-usb-uhci1"},
                                            {"ich9-uhci2", "ich9-usb-uhci2"},
                                            {"ich9-uhci3", "ich9-usb-uhci3"}};
    for (size_t i = 0; model && i < G_N_ELEMENTS(models); i++)
        if (strcmp(model, models[i][0]) == 0)
            return models[i][1];
    return NULL;
}

static int usb_controller(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n,
                          const char *model)
{
    if (model && strcmp(model, "none") == 0)
        return 0;
    const char *companion = usb_companion(model);
    if (companion) {
        const xmlNode *m = qemu_xml_child(n, "master");
        uint64_t first = 0;
        if (!m || !qemu_xml_hex(m, "startport", 14, &first))
            return qemu_kept_refuse(v, k, "a companion USB controller needs <master startport=>");
        g_autofree char *dev = g_strdup_printf("%s,masterbus=usb.0,firstport=%" G_GUINT64_FORMAT,
                                               companion, first);
        return qemu_kept_add_placed(v, k, n, dev);
    }
    const char *dev = !model                             ? NULL
                      : strcmp(model, "piix3-uhci") == 0 ? "piix3-usb-uhci,id=usb"
                      : strcmp(model, "qemu-xhci") == 0  ? "qemu-xhci,id=usb"
                      : strcmp(model, "ich9-ehci1") == 0 ? "ich9-usb-ehci1,id=usb"
                                                         : NULL;
    if (!dev)
        return qemu_kept_refuse(v, k,
                           "USB controller models supported: piix3-uhci, qemu-xhci, "
                           "ich9-ehci1 with ich9-uhci1..3, none");
    uint64_t ports = 0;
    if (qemu_xml_has_prop(n, "ports")) {
        /* qemu-xhci has p2 USB 2 and p3 USB 3 ports, 15 at most each. */
        if (strcmp(model, "qemu-xhci") != 0 || !qemu_xml_hex(n, "ports", 15, &ports) || !ports)
            return qemu_kept_refuse(v, k, "ports= (1-15) is supported on qemu-xhci only");
        g_autofree char *with = g_strdup_printf("%s,p2=%" G_GUINT64_FORMAT ",p3=%" G_GUINT64_FORMAT,
                                                dev, ports, ports);
        return qemu_kept_add_placed(v, k, n, with);
    }
    return qemu_kept_add_placed(v, k, n, dev);
}

static int controller(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    static const char *const simple[] = {"address", "alias", NULL};
    static const char *const usb[] = {"address", "alias", "master", NULL};
    static const char *const rootport[] = {"address", "alias", "model", "target", NULL};
    static const char *const attrs[] = {"type", "index", "model", "ports", NULL};
    g_autofree char *type = qemu_xml_prop(n, "type"), *model = qemu_xml_prop(n, "model"), *index = qemu_xml_prop(n, "index");
    if (type && (strcmp(type, "virtio-serial") == 0 || strcmp(type, "scsi") == 0 || strcmp(type, "sata") == 0))
        return qemu_kept_bus_controller(v, k, n);
    if (type && strcmp(type, "ccid") == 0)
        return qemu_kept_ccid_controller(v, k, n);
    for (const xmlAttr *a = n->properties; a; a = a->next)
        if (a->ns || !g_strv_contains(attrs, (const char *)a->name))
            return qemu_kept_refuse(v, k, "an attribute the qemu driver does not pass on");
    if (qemu_xml_has_prop(n, "ports") && strcmp(type, "usb") != 0)
        return qemu_kept_refuse(v, k, "ports= is supported on qemu-xhci only");
    uint64_t idx = 0;
    if (index && !qemu_xml_hex(n, "index", 255, &idx))
        return qemu_kept_refuse(v, k, "index= out of range");
    bool q35 = qemu_is_q35(v->def);
    bool is_rootport = model && strcmp(model, "pcie-root-port") == 0;
    const char *extra = qemu_xml_other_child(n, is_rootport               ? rootport
                                       : strcmp(type, "usb") == 0 ? usb
                                                                  : simple);
    if (extra)
        return qemu_kept_refuse(v, k, "a child element the qemu driver does not pass on");
    if (strcmp(type, "pci") == 0) {
        bool root = model && strcmp(model, q35 ? "pcie-root" : "pci-root") == 0;
        if (!index && !root) {
            idx = next_pci_index(v);
            bit_take(v->pci_index_used, idx); /* the document's own were taken first */
        }
        if (idx == 0 && root)
            return 0; /* the machine's own root bus */
        if (is_rootport && q35) {
            const xmlNode *t = qemu_xml_child(n, "target");
            uint64_t chassis = idx, port = (idx + 7) & 0xff;
            if (t && ((qemu_xml_has_prop(t, "chassis") && !qemu_xml_hex(t, "chassis", 255, &chassis)) ||
                      (qemu_xml_has_prop(t, "port") && !qemu_xml_hex(t, "port", 255, &port))))
                return qemu_kept_refuse(v, k, "<target> chassis= or port= out of range");
            if (!qemu_argv_chassis_take(v, (unsigned)chassis))
                return qemu_kept_refuse(v, k, "another root port has the same chassis number");
            const xmlNode *at = qemu_xml_child(n, "address");
            uint64_t on_bus = 0;
            if (at && qemu_xml_has_prop(at, "bus") && qemu_xml_hex(at, "bus", 255, &on_bus) &&
                on_bus != 0)
                return qemu_kept_refuse(v, k,
                                        "a pcie-root-port sits on the root complex, bus 0 "
                                        "(this one says bus 0x%02" G_GINT64_MODIFIER "x%s)",
                                        on_bus, on_bus == idx ? ", the bus it adds itself" : "");
            qemu_argv_pci_bus_add(v, (unsigned)idx, true);
            g_autofree char *dev =
                g_strdup_printf("pcie-root-port,port=0x%" G_GINT64_MODIFIER
                                "x,chassis=%" G_GUINT64_FORMAT ",id=pci.%" G_GUINT64_FORMAT,
                                port, chassis, idx);
            return qemu_kept_add_placed(v, k, n, dev);
        }
        return qemu_kept_refuse(v, k,
                           "only the machine's root bus and, on q35, pcie-root-port "
                           "PCI controllers are supported");
    }
    if (strcmp(type, "usb") == 0 && idx == 0)
        return usb_controller(v, k, n, model);
    /* The disk controller the machine has built in; qv's disks use it. */
    if (idx == 0 && ((q35 && strcmp(type, "sata") == 0) || (!q35 && strcmp(type, "ide") == 0)))
        return 0;
    if (strcmp(type, "ide") == 0)
        return qemu_kept_refuse(v, k,
                                q35 ? "q35 has no IDE controller: its bus='ide' and "
                                      "bus='sata' disks go on the built-in SATA (AHCI) "
                                      "controller, <controller type='sata' index='0'>"
                                    : "the pc machine has one IDE controller, index='0': "
                                      "PIIX IDE answers at the fixed legacy ports, which a "
                                      "second one would share (libvirt refuses it too)");
    return qemu_kept_refuse(v, k, "this controller is not one the machine has built in or qv adds");
}

static int input(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    static const char *const known[] = {"address", "alias", NULL};
    g_autofree char *type = qemu_xml_prop(n, "type"), *bus = qemu_xml_prop(n, "bus");
    if (qemu_xml_other_child(n, known))
        return qemu_kept_refuse(v, k, "a child element the qemu driver does not pass on");
    if (bus && strcmp(bus, "ps2") == 0 &&
        (strcmp(type, "mouse") == 0 || strcmp(type, "keyboard") == 0))
        return 0; /* the i8042 of pc and q35 */
    if (bus && strcmp(bus, "usb") == 0 && !qemu_has_usb_bus(v->def))
        return qemu_kept_refuse(v, k,
                                "a USB input needs a <controller type='usb'> other than "
                                "model='none'");
    if (bus && strcmp(bus, "usb") == 0 && qemu_xml_child(n, "address") == NULL) {
        const char *dev = strcmp(type, "tablet") == 0     ? "usb-tablet"
                          : strcmp(type, "mouse") == 0    ? "usb-mouse"
                          : strcmp(type, "keyboard") == 0 ? "usb-kbd"
                                                          : NULL;
        if (dev) {
            qemu_argv_add(v, "-device");
            qemu_argv_addf(v, "%s,bus=usb.0", dev);
            return 0;
        }
    }
    if (bus && strcmp(bus, "usb") == 0 && qemu_xml_child(n, "address")) {
        const xmlNode *a = qemu_xml_child(n, "address");
        uint64_t port = 0;
        const char *dev = strcmp(type, "tablet") == 0     ? "usb-tablet"
                          : strcmp(type, "mouse") == 0    ? "usb-mouse"
                          : strcmp(type, "keyboard") == 0 ? "usb-kbd"
                                                          : NULL;
        if (dev && qemu_xml_prop_is(a, "type", "usb") && qemu_xml_prop_is(a, "bus", "0") &&
            qemu_xml_hex(a, "port", 255, &port)) {
            g_autofree char *what = g_strdup_printf("<input type='%s'>", type);
            if (qemu_argv_usb_at(v, (unsigned)port, what, k->line + (int)xmlGetLineNo(a) - 1) < 0)
                return qv_error_code();
            qemu_argv_add(v, "-device");
            qemu_argv_addf(v, "%s,bus=usb.0,port=%" G_GUINT64_FORMAT, dev, port);
            return 0;
        }
    }
    return qemu_kept_refuse(v, k,
                       "inputs supported: PS/2 mouse and keyboard, USB tablet, mouse, "
                       "keyboard");
}

/* The one balloon device: a kept <memballoon> (with its address) here, or
 * the default one qemu_argv_add_balloon() adds. */
static int memballoon(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    static const char *const known[] = {"address", "alias", NULL};
    if (qemu_xml_other_child(n, known))
        return qemu_kept_refuse(v, k, "a child element the qemu driver does not pass on");
    for (const xmlAttr *a = n->properties; a; a = a->next)
        if (a->ns || (strcmp((const char *)a->name, "model") != 0 &&
                      strcmp((const char *)a->name, "autodeflate") != 0 &&
                      strcmp((const char *)a->name, "freePageReporting") != 0))
            return qemu_kept_refuse(v, k, "an attribute the qemu driver does not pass on");
    if (qemu_xml_prop_is(n, "model", "none"))
        return 0;
    if (!qemu_xml_prop_is(n, "model", "virtio"))
        return qemu_kept_refuse(v, k, "memballoon models supported: virtio, none");
    GString *dev = g_string_new("virtio-balloon-pci,id=balloon0");
    static const char *const onoff[][2] = {{"autodeflate", "deflate-on-oom"},
                                           {"freePageReporting", "free-page-reporting"}};
    for (size_t i = 0; i < G_N_ELEMENTS(onoff); i++) {
        g_autofree char *val = qemu_xml_prop(n, onoff[i][0]);
        if (val && strcmp(val, "on") && strcmp(val, "off")) {
            g_string_free(dev, TRUE);
            return qemu_kept_refuse(v, k, "autodeflate= and freePageReporting= take on or off");
        }
        if (val)
            g_string_append_printf(dev, ",%s=%s", onoff[i][1], val);
    }
    int rc = qemu_kept_add_placed(v, k, n, dev->str);
    g_string_free(dev, TRUE);
    return rc;
}

/* The definition's <memballoon>, kept as libvirt wrote it, or NULL. */
static const struct qv_kept *kept_balloon(const struct qv_domain *def)
{
    for (guint i = 0; i < def->kept->len; i++) {
        const struct qv_kept *k = g_ptr_array_index(def->kept, i);
        if (strcmp(k->name, "memballoon") == 0 && strcmp(k->parent, "devices") == 0)
            return k;
    }
    return NULL;
}

bool qemu_has_balloon(const struct qv_domain *def)
{
    const struct qv_kept *k = kept_balloon(def);
    if (!k)
        return true;
    xmlDoc *doc = qv_conf_xml_read(k->xml, "kept XML");
    if (!doc) {
        qv_reset_error(); /* the argv refuses it, naming its line */
        return true;
    }
    bool none = qemu_xml_prop_is(xmlDocGetRootElement(doc), "model", "none");
    xmlFreeDoc(doc);
    return !none;
}

int qemu_argv_add_balloon(struct qemu_argv *v)
{
    /* A written one was placed with the other kept devices. */
    if (!kept_balloon(v->def))
        qemu_argv_add2(v, "-device", "virtio-balloon-pci,id=balloon0");
    return 0;
}

static int video(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    static const char *const known[] = {"address", "alias", "model", NULL};
    const xmlNode *m = qemu_xml_child(n, "model");
    if (m && qemu_xml_prop_is(m, "type", "qxl"))
        return qemu_kept_video_qxl(v, k, n, m);
    if (qemu_xml_other_child(n, known) || !m || qemu_xml_child(m, "acceleration") || qemu_xml_child(m, "resolution"))
        return qemu_kept_refuse(v, k, "a child element the qemu driver does not pass on");
    /* vgamem=, ram=, vram64= and blob= have no QEMU side qv sets: refused
     * rather than dropped. vram= sizes the VGA's memory only. */
    for (const xmlAttr *a = m->properties; a; a = a->next)
        if (a->ns || !qv_conf_word_listed((const char *)a->name, "type vram heads primary"))
            return qemu_kept_refuse(v, k, "<model %s=> is not passed on to QEMU", a->name);
    g_autofree char *type = qemu_xml_prop(m, "type");
    if (qemu_xml_has_prop(m, "vram") && !qemu_xml_prop_is(m, "type", "vga") &&
        !qemu_xml_prop_is(m, "vram", "16384"))
        return qemu_kept_refuse(v, k, "vram= other than 16384 is supported on model 'vga' only");
    uint64_t heads = 1, vram = 16384;
    if ((qemu_xml_has_prop(m, "heads") && !qemu_xml_hex(m, "heads", 16, &heads)) || heads != 1)
        return qemu_kept_refuse(v, k, "only heads='1' is supported");
    if (qemu_xml_has_prop(m, "vram") && !qemu_xml_hex(m, "vram", 1024 * 1024, &vram))
        return qemu_kept_refuse(v, k, "vram= out of range");
    g_autofree char *dev = NULL;
    if (type && strcmp(type, "vga") == 0)
        dev = g_strdup_printf("VGA,id=video0,vgamem_mb=%" G_GUINT64_FORMAT, MAX(vram / 1024, 1));
    else if (type && strcmp(type, "cirrus") == 0)
        dev = g_strdup("cirrus-vga,id=video0");
    else if (type && strcmp(type, "virtio") == 0)
        dev = g_strdup("virtio-vga,id=video0");
    else if (type && strcmp(type, "none") == 0)
        return 0;
    else
        return qemu_kept_refuse(v, k, "video models supported: vga, cirrus, virtio, none");
    return qemu_kept_add_placed(v, k, n, dev);
}

static int kept_device(struct qemu_argv *v, const struct qv_kept *k)
{
    xmlDoc *doc = qv_conf_xml_read(k->xml, "kept XML");
    if (!doc)
        return qemu_kept_refuse(v, k, "its stored XML does not parse");
    const xmlNode *n = xmlDocGetRootElement(doc);
    int rc;
    if (strcmp(k->name, "controller") == 0)
        rc = controller(v, k, n);
    else if (strcmp(k->name, "input") == 0)
        rc = input(v, k, n);
    else if (strcmp(k->name, "memballoon") == 0)
        rc = memballoon(v, k, n);
    else if (strcmp(k->name, "video") == 0)
        rc = video(v, k, n);
    else if (strcmp(k->name, "watchdog") == 0)
        rc = qemu_kept_watchdog(v, k, n);
    else if (strcmp(k->name, "audio") == 0)
        rc = qemu_kept_audio(v, k, n);
    else if (strcmp(k->name, "sound") == 0)
        rc = qemu_kept_sound(v, k, n);
    else if (strcmp(k->name, "tpm") == 0)
        rc = qemu_kept_tpm(v, k, n);
    else if (strcmp(k->name, "filesystem") == 0)
        rc = qemu_kept_filesystem(v, k, n);
    else if (strcmp(k->name, "redirdev") == 0)
        rc = qemu_kept_redirdev(v, k, n);
    else if (strcmp(k->name, "graphics") == 0)
        rc = qemu_kept_graphics(v, k, n);
    else if (strcmp(k->name, "channel") == 0)
        rc = qemu_kept_channel(v, k, n);
    else if (strcmp(k->name, "smartcard") == 0)
        rc = qemu_kept_smartcard(v, k, n);
    else if (strcmp(k->name, "interface") == 0)
        rc = qemu_kept_interface(v, k, n);
    else if (strcmp(k->name, "memory") == 0)
        rc = qemu_kept_memory(v, k, n);
    else
        rc = qemu_kept_refuse(v, k, "%s", k->reason);
    xmlFreeDoc(doc);
    return rc;
}

static void add_pm(struct qemu_argv *v)
{
    const char *pm = qemu_is_q35(v->def) ? "ICH9-LPC" : "PIIX4_PM";
    if (v->def->pm_s3 >= 0) {
        qemu_argv_add(v, "-global");
        qemu_argv_addf(v, "%s.disable_s3=%d", pm, v->def->pm_s3 ? 0 : 1);
    }
    if (v->def->pm_s4 >= 0) {
        qemu_argv_add(v, "-global");
        qemu_argv_addf(v, "%s.disable_s4=%d", pm, v->def->pm_s4 ? 0 : 1);
    }
}

/* 0: a PCI controller (buses first), 2: a USB companion (after the EHCI
 * it joins), 1: the rest. Read from the element, whatever order its
 * attributes come in. */
static int kept_pass(const struct qv_kept *k)
{
    if (strcmp(k->name, "controller") != 0)
        return 1;
    xmlDoc *doc = qv_conf_xml_read(k->xml, "kept XML");
    if (!doc) {
        qv_reset_error(); /* kept_device() refuses it, naming its line */
        return 1;
    }
    const xmlNode *n = xmlDocGetRootElement(doc);
    int pass = qemu_xml_prop_is(n, "type", "pci")                                   ? 0
               : qemu_xml_prop_is(n, "type", "usb") && qemu_xml_child(n, "master") ? 2
                                                                                  : 1;
    xmlFreeDoc(doc);
    return pass;
}

/* The indexes the document gives, before any is handed out; two PCI
 * controllers with one index are refused (libvirt refuses them too). */
static int mark_pci_index(struct qemu_argv *v, const struct qv_kept *k, int pass)
{
    if (pass != 0)
        return 0;
    xmlDoc *doc = qv_conf_xml_read(k->xml, "kept XML");
    if (!doc) {
        qv_reset_error(); /* kept_device() refuses it, naming its line */
        return 0;
    }
    uint64_t idx = 0;
    int rc = 0;
    if (qemu_xml_hex(xmlDocGetRootElement(doc), "index", 255, &idx) && idx > 0 &&
        !bit_take(v->pci_index_used, idx))
        rc = qemu_kept_refuse(v, k, "another PCI controller has the same index");
    xmlFreeDoc(doc);
    return rc;
}

/* Kept elements outside <devices>, by the element that holds them. */
static int kept_machine(struct qemu_argv *v, const struct qv_kept *k)
{
    static const struct {
        const char *parent, *name; /* name NULL: any child of parent */
        qemu_machine_fn fn;
    } handlers[] = {
        {"features", NULL, qemu_argv_feature},
        {"os", NULL, qemu_argv_os_extra},
        {"", "sysinfo", qemu_argv_sysinfo},
        {"", "memoryBacking", qemu_argv_memory_backing},
        {"", "iothreads", qemu_argv_iothreads},
        {"", "iothreadids", qemu_argv_iothreadids},
        {"", "defaultiothread", qemu_argv_default_iothread},
        {"", "seclabel", qemu_argv_seclabel},
        {"cpu", "numa", qemu_argv_numa},
        {"cpu", "vendor", qemu_argv_cpu_noted},
        {"cpu", "cache", qemu_argv_cpu_noted},
        {"cpu", "maxphysaddr", qemu_argv_cpu_noted},
        {"", "maxMemory", qemu_argv_max_memory},
        {"", "memtune", qemu_argv_memtune},
        {"", "blkiotune", qemu_argv_blkiotune},
        /* Last: the reasons for the rest of <domain>'s children. */
        {"", NULL, qemu_argv_unhonoured},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(handlers); i++) {
        if (strcmp(k->parent, handlers[i].parent) != 0 ||
            (handlers[i].name && strcmp(k->name, handlers[i].name) != 0))
            continue;
        xmlDoc *doc = qv_conf_xml_read(k->xml, "kept XML");
        if (!doc)
            return qemu_kept_refuse(v, k, "its stored XML does not parse");
        int rc = handlers[i].fn(v, k, xmlDocGetRootElement(doc));
        xmlFreeDoc(doc);
        return rc;
    }
    return qemu_kept_refuse(v, k, "%s", k->reason);
}

int qemu_argv_add_libvirt(struct qemu_argv *v)
{
    const struct qv_domain *def = v->def;
    for (guint i = 0; i < def->kept->len; i++) {
        const struct qv_kept *k = g_ptr_array_index(def->kept, i);
        if (strcmp(k->parent, "devices") != 0 && !qemu_kept_is_custom(k) && kept_machine(v, k) < 0)
            return QV_ERR_UNSUPPORTED;
    }
    int rc = qemu_argv_add_clock(v);
    if (rc < 0)
        return rc;
    add_pm(v);
    /* <pae/>: every CPU model QEMU gives an x86_64 or i686 guest has PAE. */
    /* PCI buses first: devices placed on them come after; USB companion
     * controllers last, once the EHCI bus they join exists. Indexes the
     * document gives are taken before any is handed out. */
    g_autofree int *passes = g_new0(int, def->kept->len + 1);
    for (guint i = 0; i < def->kept->len; i++) {
        passes[i] = kept_pass(g_ptr_array_index(def->kept, i));
        if ((rc = mark_pci_index(v, g_ptr_array_index(def->kept, i), passes[i])) < 0)
            return rc;
    }
    for (int pass = 0; pass < 3; pass++)
        for (guint i = 0; i < def->kept->len; i++) {
            const struct qv_kept *k = g_ptr_array_index(def->kept, i);
            if (passes[i] != pass || strcmp(k->parent, "devices") != 0)
                continue;
            if ((rc = kept_device(v, k)) < 0)
                return rc;
        }
    return 0;
}
