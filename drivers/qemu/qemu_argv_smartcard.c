/* <smartcard mode='passthrough'>: a USB CCID reader (usb-ccid) holding a
 * ccid-card-passthru whose card is elsewhere, reached over a chardev: a
 * tcp or unix socket (a vscclient or similar on the other end) or the
 * SPICE client's reader (spicevmc, name smartcard). mode='host' and
 * mode='host-certificates' are QEMU's ccid-card-emulated on the host's
 * NSS: with QEMU 7.2 here it fails to start ("failed to initialize
 * vcard"), so mode='host' is refused with that reason, and
 * host-certificates where its NSS database is missing. */
#include <string.h>

#include "../../lib/conf/xml_util.h"
#include "../../lib/util/error.h"
#include "qemu_argv_machine.h"

#define NSS_DB_DEFAULT "/etc/pki/nssdb"

static int source(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n, const char *type,
                  guint index)
{
    const xmlNode *s = qemu_xml_child(n, "source"), *p = qemu_xml_child(n, "protocol");
    if (p && (qemu_machine_only(v, k, p, "type", "") < 0))
        return QV_ERR_UNSUPPORTED;
    if (p && !qemu_xml_prop_is(p, "type", "raw"))
        return qemu_machine_refuse(v, k, p, "only the raw protocol is passed on");
    if (strcmp(type, "spicevmc") == 0) {
        if (s)
            return qemu_machine_refuse(v, k, s, "a spicevmc smartcard has no <source>");
        if (!qemu_has_spice(v->def))
            return qemu_kept_refuse(v, k, "type='spicevmc' needs <graphics type='spice'>");
        qemu_argv_add(v, "-chardev");
        qemu_argv_addf(v, "spicevmc,id=charsmartcard%u,name=smartcard", index);
        return 0;
    }
    if (!s)
        return qemu_kept_refuse(v, k, "type='%s' needs a <source>", type);
    g_autofree char *mode = qemu_xml_prop(s, "mode");
    if (mode && strcmp(mode, "connect") != 0 && strcmp(mode, "bind") != 0)
        return qemu_machine_refuse(v, k, s, "mode='%s' is neither connect nor bind", mode);
    const char *server = mode && strcmp(mode, "bind") == 0 ? "on,wait=off" : "off";
    if (strcmp(type, "unix") == 0) {
        g_autofree char *path = qemu_xml_prop(s, "path");
        if (qemu_machine_only(v, k, s, "mode path", "") < 0)
            return QV_ERR_UNSUPPORTED;
        if (!path || path[0] != '/')
            return qemu_machine_refuse(v, k, s, "it needs an absolute path=");
        g_autofree char *esc = qemu_opt_escape(path);
        qemu_argv_add(v, "-chardev");
        qemu_argv_addf(v, "socket,id=charsmartcard%u,path=%s,server=%s", index, esc, server);
        return 0;
    }
    if (strcmp(type, "tcp") == 0) {
        g_autofree char *host = qemu_xml_prop(s, "host");
        uint64_t port = 0;
        if (qemu_machine_only(v, k, s, "mode host service", "") < 0)
            return QV_ERR_UNSUPPORTED;
        if (!host || !qemu_plain_word(host) || !qemu_xml_hex(s, "service", 65535, &port) || !port)
            return qemu_machine_refuse(v, k, s, "it needs host= and service= (a port 1-65535)");
        qemu_argv_add(v, "-chardev");
        qemu_argv_addf(v, "socket,id=charsmartcard%u,host=%s,port=%" G_GUINT64_FORMAT ",server=%s",
                       index, host, port, server);
        return 0;
    }
    return qemu_kept_refuse(v, k,
                            "type='%s': the qemu driver passes a card through over tcp, "
                            "unix or spicevmc",
                            type);
}

/* Whether the definition has <controller type='ccid' index=idx>. */
static bool has_ccid(const struct qv_domain *def, uint64_t idx)
{
    for (guint i = 0; i < def->kept->len; i++) {
        const struct qv_kept *k = g_ptr_array_index(def->kept, i);
        if (strcmp(k->name, "controller") != 0 || strcmp(k->parent, "devices") != 0 ||
            !strstr(k->xml, "type=\"ccid\""))
            continue;
        xmlDoc *doc = qv_conf_xml_read(k->xml, "kept XML");
        if (!doc) {
            qv_reset_error(); /* the argv refuses it, naming its line */
            continue;
        }
        uint64_t i2 = 0;
        const xmlNode *n = xmlDocGetRootElement(doc);
        bool match =
            (!qemu_xml_has_prop(n, "index") || qemu_xml_hex(n, "index", 255, &i2)) && i2 == idx;
        xmlFreeDoc(doc);
        if (match)
            return true;
    }
    return false;
}

/* <controller type='ccid' index=N>: libvirt's USB CCID reader, ccidN. */
int qemu_kept_ccid_controller(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    uint64_t idx = 0, port = 0;
    if (qemu_machine_only(v, k, n, "type index", "address alias") < 0)
        return QV_ERR_UNSUPPORTED;
    if (qemu_xml_has_prop(n, "index") && !qemu_xml_hex(n, "index", 255, &idx))
        return qemu_machine_refuse(v, k, n, "index= out of range");
    if (!qemu_has_usb_bus(v->def))
        return qemu_kept_refuse(v, k, "it needs a <controller type='usb'> other than model='none'");
    const xmlNode *a = qemu_xml_child(n, "address");
    if (a && !(qemu_xml_prop_is(a, "type", "usb") && qemu_xml_prop_is(a, "bus", "0") &&
               qemu_xml_hex(a, "port", 15, &port) && port > 0))
        return qemu_kept_refuse(v, k, "an <address> must be type='usb' bus='0' with port= 1-15");
    qemu_argv_add(v, "-device");
    if (port)
        qemu_argv_addf(v, "usb-ccid,id=ccid%" G_GUINT64_FORMAT ",bus=usb.0,port=%" G_GUINT64_FORMAT,
                       idx, port);
    else
        qemu_argv_addf(v, "usb-ccid,id=ccid%" G_GUINT64_FORMAT ",bus=usb.0", idx);
    return 0;
}

int qemu_kept_smartcard(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    g_autofree char *mode = qemu_xml_prop(n, "mode"), *type = qemu_xml_prop(n, "type");
    if (mode && strcmp(mode, "host") == 0)
        return qemu_kept_refuse(v, k,
                                "mode='host': QEMU 7.2's ccid-card-emulated fails to start here "
                                "(\"failed to initialize vcard\": its NSS backend finds no card "
                                "reader); mode='passthrough' passes a card through");
    if (mode && strcmp(mode, "host-certificates") == 0) {
        const xmlNode *db = qemu_xml_child(n, "database");
        g_autofree char *dir = db ? qv_conf_xml_text(db) : g_strdup(NSS_DB_DEFAULT);
        if (dir)
            g_strstrip(dir);
        if (!dir || !g_file_test(dir, G_FILE_TEST_IS_DIR))
            return qemu_kept_refuse(v, k,
                                    "mode='host-certificates': the NSS database %s does not "
                                    "exist (QEMU's ccid-card-emulated fails to initialise without "
                                    "it)",
                                    dir ? dir : "");
        return qemu_kept_refuse(v, k,
                                "mode='host-certificates': qv does not start QEMU's "
                                "ccid-card-emulated (its NSS backend is untested here); "
                                "mode='passthrough' passes a card through");
    }
    if (qemu_machine_only(v, k, n, "mode type", "source protocol address alias") < 0)
        return QV_ERR_UNSUPPORTED;
    if (!qemu_has_usb_bus(v->def))
        return qemu_kept_refuse(v, k, "it needs a <controller type='usb'> other than model='none'");
    const xmlNode *a = qemu_xml_child(n, "address");
    uint64_t ctl = 0;
    if (a && (qemu_machine_only(v, k, a, "type controller slot", "") < 0))
        return QV_ERR_UNSUPPORTED;
    if (a && (!qemu_xml_prop_is(a, "type", "ccid") || !qemu_xml_prop_is(a, "slot", "0") ||
              (qemu_xml_has_prop(a, "controller") && !qemu_xml_hex(a, "controller", 255, &ctl))))
        return qemu_machine_refuse(v, k, a, "a smartcard sits in slot 0 of a CCID reader");
    /* On the <controller type='ccid'> libvirt writes, else a reader of its own. */
    bool reader = has_ccid(v->def, ctl);
    guint index = 0;
    while (index < v->def->kept->len && g_ptr_array_index(v->def->kept, index) != k)
        index++;
    int rc = source(v, k, n, type ? type : "", index);
    if (rc < 0)
        return rc;
    g_autofree char *bus = reader ? g_strdup_printf("ccid%" G_GUINT64_FORMAT, ctl)
                                  : g_strdup_printf("ccid-sc%u", index);
    if (!reader) {
        qemu_argv_add(v, "-device");
        qemu_argv_addf(v, "usb-ccid,id=%s,bus=usb.0", bus);
    }
    qemu_argv_add(v, "-device");
    qemu_argv_addf(v, "ccid-card-passthru,chardev=charsmartcard%u,id=smartcard%u,bus=%s.0", index,
                   index, bus);
    return 0;
}
