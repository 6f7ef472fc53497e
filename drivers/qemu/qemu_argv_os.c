/* <os> children beyond type, loader, nvram, kernel and boot: the boot
 * menu, SeaBIOS's serial output and reboot timeout, extra ACPI tables,
 * the <firmware> features a secure-boot OVMF has; and <loader
 * secure='yes'>: OVMF's variable store only code running in SMM may
 * write, which is what makes its secure boot tamper-proof. */
#include <string.h>

#include "../../lib/conf/xml_util.h"
#include "../../lib/util/error.h"
#include "qemu_argv_machine.h"

/* Options added to the one -boot argument (add_firmware's order=...). */
static void boot_opt(struct qemu_argv *v, const char *opt)
{
    for (guint i = 0; i + 1 < v->a->len; i++)
        if (strcmp(g_ptr_array_index(v->a, i), "-boot") == 0) {
            char *old = g_ptr_array_index(v->a, i + 1);
            v->a->pdata[i + 1] = g_strconcat(old, ",", opt, NULL);
            g_free(old);
            return;
        }
    qemu_argv_add2(v, "-boot", opt);
}

static int bootmenu(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    int on;
    uint64_t ms = 0;
    int has_timeout;
    if (qemu_machine_only(v, k, n, "enable timeout", "") < 0 ||
        (on = qemu_machine_onoff(v, k, n, "enable", -1)) < -1 ||
        (has_timeout = qemu_machine_uint(v, k, n, "timeout", 65535, &ms)) < 0)
        return QV_ERR_UNSUPPORTED;
    if (on == -1)
        return qemu_machine_refuse(v, k, n, "enable= is required");
    g_autofree char *opt = has_timeout && on
                               ? g_strdup_printf("menu=on,splash-time=%" G_GUINT64_FORMAT, ms)
                               : g_strdup(on ? "menu=on" : "menu=off");
    boot_opt(v, opt);
    return 0;
}

static int bios(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    int serial;
    if (qemu_machine_only(v, k, n, "useserial rebootTimeout", "") < 0 ||
        (serial = qemu_machine_onoff(v, k, n, "useserial", 0)) < 0)
        return QV_ERR_UNSUPPORTED;
    g_autofree char *t = qv_conf_xml_attr(n, "rebootTimeout");
    if (t) {
        char *end = NULL;
        gint64 ms = g_ascii_strtoll(t, &end, 10);
        if (!*t || *end || ms < -1 || ms > 65535)
            return qemu_machine_refuse(v, k, n, "rebootTimeout='%s' must be -1 to 65535", t);
        g_autofree char *opt = g_strdup_printf("reboot-timeout=%" G_GINT64_FORMAT, ms);
        boot_opt(v, opt);
    }
    if (serial) {
        if (v->def->os.loader || v->def->os.firmware)
            return qemu_machine_refuse(v, k, n, "useserial= is SeaBIOS's (the default BIOS)");
        /* The serial graphics adapter ROM mirrors the BIOS screen. */
        qemu_argv_add2(v, "-device", "sga");
    }
    return 0;
}

/* <acpi><table type='slic'>PATH</table>: an extra table from a file. */
static int acpi_tables(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    if (qemu_machine_only(v, k, n, "", "table") < 0)
        return QV_ERR_UNSUPPORTED;
    for (const xmlNode *t = n->children; t; t = t->next) {
        if (t->type != XML_ELEMENT_NODE)
            continue;
        g_autofree char *type = qv_conf_xml_attr(t, "type");
        g_autofree char *path = qv_conf_xml_text(t);
        g_strstrip(path);
        if (qemu_machine_only(v, k, t, "type", "") < 0)
            return QV_ERR_UNSUPPORTED;
        if (!type || strcmp(type, "slic") != 0 || !g_path_is_absolute(path))
            return qemu_machine_refuse(v, k, t, "a type='slic' table with an absolute path");
        g_autofree char *esc = qemu_opt_escape(path);
        qemu_argv_add(v, "-acpitable");
        qemu_argv_addf(v, "sig=SLIC,file=%s", esc);
    }
    return 0;
}

static bool smm_on(const struct qv_domain *def)
{
    for (guint i = 0; i < def->kept->len; i++) {
        const struct qv_kept *k = g_ptr_array_index(def->kept, i);
        if (strcmp(k->parent, "features") == 0 && strcmp(k->name, "smm") == 0)
            return strstr(k->xml, "state=\"on\"") != NULL;
    }
    return false;
}

int qemu_argv_secure_boot(struct qemu_argv *v)
{
    const struct qv_domain *def = v->def;
    if (!def->os.loader_secure)
        return 0;
    const char *why = !def->os.loader_pflash ? "it needs type='pflash'"
                      : !qemu_is_q35(def)    ? "it needs machine='q35' (the SMM-protected flash)"
                      : !smm_on(def)         ? "it needs <features><smm state='on'/>"
                                             : NULL;
    if (why)
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "VM '%s': the qemu driver cannot honour <os><loader secure='yes'>: %s",
                            def->name, why);
    qemu_argv_add2(v, "-global", "driver=cfi.pflash01,property=secure,value=on");
    return 0;
}

/* <firmware><feature name='secure-boot|enrolled-keys' enabled=>: what the
 * firmware the definition names has. qv runs the <loader> and the
 * <nvram template> given, so these must agree with them. */
static int firmware_features(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    if (qemu_machine_only(v, k, n, "", "feature") < 0)
        return QV_ERR_UNSUPPORTED;
    for (const xmlNode *f = n->children; f; f = f->next) {
        if (f->type != XML_ELEMENT_NODE)
            continue;
        int on;
        g_autofree char *name = qv_conf_xml_attr(f, "name");
        if (qemu_machine_only(v, k, f, "enabled name", "") < 0 ||
            (on = qemu_machine_onoff(v, k, f, "enabled", -1)) < -1)
            return QV_ERR_UNSUPPORTED;
        if (!name || on < 0)
            return qemu_machine_refuse(v, k, f, "it needs name= and enabled=");
        if (strcmp(name, "secure-boot") == 0) {
            if (!v->def->os.loader)
                return qemu_machine_refuse(v, k, f,
                                           "qv does not choose firmware by its features: name "
                                           "the <loader> (e.g. /usr/share/OVMF/"
                                           "OVMF_CODE_4M.secboot.fd, secure='yes')");
            if (on != v->def->os.loader_secure)
                return qemu_machine_refuse(v, k, f, "enabled='%s' contradicts <loader secure='%s'>",
                                           on ? "yes" : "no",
                                           v->def->os.loader_secure ? "yes" : "no");
        } else if (strcmp(name, "enrolled-keys") == 0) {
            /* The keys are in the variable store the VM starts from. */
            if (on && !v->def->os.nvram_template)
                return qemu_machine_refuse(v, k, f,
                                           "enabled='yes' needs an <nvram template=> holding the "
                                           "keys (e.g. /usr/share/OVMF/OVMF_VARS_4M.ms.fd)");
        } else {
            return qemu_machine_refuse(v, k, f, "name='%s' is not a firmware feature", name);
        }
    }
    return 0;
}

int qemu_argv_os_extra(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    const char *name = (const char *)n->name;
    if (n->ns)
        return qemu_machine_refuse(v, k, n, "%s", k->reason);
    if (strcmp(name, "bootmenu") == 0)
        return bootmenu(v, k, n);
    if (strcmp(name, "bios") == 0)
        return bios(v, k, n);
    if (strcmp(name, "smbios") == 0)
        return qemu_argv_os_smbios(v, k, n);
    if (strcmp(name, "acpi") == 0)
        return acpi_tables(v, k, n);
    if (strcmp(name, "firmware") == 0)
        return firmware_features(v, k, n);
    return qemu_machine_refuse(v, k, n, "%s", k->reason);
}
