/* <sysinfo> as QEMU's -smbios tables (type='smbios': BIOS, system, base
 * board, chassis, OEM strings) and -fw_cfg entries (type='fwcfg'). As in
 * libvirt, the SMBIOS values reach the guest through <os><smbios
 * mode='sysinfo'/>; without it QEMU would use its own tables, so the
 * element is refused rather than left unused. */
#include <string.h>

#include "../../lib/conf/conf_check.h"
#include "../../lib/conf/xml_util.h"
#include "../../lib/util/error.h"
#include "qemu_argv_machine.h"

/* The mode= of the definition's <os><smbios>, or NULL. */
static char *smbios_mode(const struct qv_domain *def)
{
    for (guint i = 0; i < def->kept->len; i++) {
        const struct qv_kept *k = g_ptr_array_index(def->kept, i);
        if (strcmp(k->parent, "os") != 0 || strcmp(k->name, "smbios") != 0)
            continue;
        xmlDoc *doc = qv_conf_xml_read(k->xml, "kept XML");
        if (!doc) {
            qv_reset_error();
            return NULL;
        }
        char *mode = qv_conf_xml_attr(xmlDocGetRootElement(doc), "mode");
        xmlFreeDoc(doc);
        return mode;
    }
    return NULL;
}

static bool has_sysinfo(const struct qv_domain *def, const char *type)
{
    g_autofree char *needle = g_strdup_printf("type=\"%s\"", type);
    for (guint i = 0; i < def->kept->len; i++) {
        const struct qv_kept *k = g_ptr_array_index(def->kept, i);
        if (!*k->parent && strcmp(k->name, "sysinfo") == 0 && strstr(k->xml, needle))
            return true;
    }
    return false;
}

/* One SMBIOS structure: -smbios type=N,key=value,... from its <entry>s. */
static int table(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n, int type,
                 const char *names)
{
    GString *s = g_string_new(NULL);
    g_string_printf(s, "type=%d", type);
    int rc = qemu_machine_only(v, k, n, "", "entry");
    for (const xmlNode *e = n->children; rc == 0 && e; e = e->next) {
        if (e->type != XML_ELEMENT_NODE)
            continue;
        g_autofree char *name = qv_conf_xml_attr(e, "name");
        g_autofree char *value = qv_conf_xml_text(e);
        rc = qemu_machine_only(v, k, e, "name", "");
        if (rc == 0 && (!name || !qemu_machine_listed(names, name)))
            rc = qemu_machine_refuse(v, k, e, "name= must be one of: %s", names);
        if (rc < 0)
            break;
        g_strstrip(value);
        if (strcmp(name, "uuid") == 0) {
            char uuid[37];
            if (!qv_conf_norm_uuid(value, uuid) || strcmp(uuid, v->def->uuid) != 0) {
                rc = qemu_machine_refuse(v, k, e, "the system UUID must be the domain's <uuid>");
                break;
            }
        }
        if (!*value)
            continue;
        g_autofree char *esc = qemu_opt_escape(value);
        g_string_append_printf(s, ",%s=%s", name, esc);
    }
    if (rc == 0) {
        qemu_argv_add(v, "-smbios");
        qemu_argv_add(v, s->str);
    }
    g_string_free(s, TRUE);
    return rc;
}

static int oem_strings(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    if (qemu_machine_only(v, k, n, "", "entry") < 0)
        return QV_ERR_UNSUPPORTED;
    GString *s = g_string_new("type=11");
    for (const xmlNode *e = n->children; e; e = e->next) {
        if (e->type != XML_ELEMENT_NODE)
            continue;
        if (qemu_machine_only(v, k, e, "", "") < 0) {
            g_string_free(s, TRUE);
            return QV_ERR_UNSUPPORTED;
        }
        g_autofree char *value = qv_conf_xml_text(e);
        g_autofree char *esc = qemu_opt_escape(value);
        g_string_append_printf(s, ",value=%s", esc);
    }
    qemu_argv_add(v, "-smbios");
    g_ptr_array_add(v->a, g_string_free(s, FALSE));
    return 0;
}

static int smbios_sysinfo(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    g_autofree char *mode = smbios_mode(v->def);
    if (!mode || strcmp(mode, "sysinfo") != 0)
        return qemu_machine_refuse(v, k, n,
                                   "its SMBIOS values reach the guest only with <os><smbios "
                                   "mode='sysinfo'/> (QEMU's own tables otherwise)");
    if (qemu_machine_only(v, k, n, "type", "bios system baseBoard chassis oemStrings") < 0)
        return QV_ERR_UNSUPPORTED;
    bool board = false;
    for (const xmlNode *c = n->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        const char *name = (const char *)c->name;
        int rc;
        if (strcmp(name, "bios") == 0)
            rc = table(v, k, c, 0, "vendor version date release");
        else if (strcmp(name, "system") == 0)
            rc = table(v, k, c, 1, "manufacturer product version serial uuid sku family");
        else if (strcmp(name, "baseBoard") == 0 && board)
            rc = qemu_machine_refuse(v, k, c, "QEMU builds one base board table");
        else if (strcmp(name, "baseBoard") == 0)
            board = true,
            rc = table(v, k, c, 2, "manufacturer product version serial asset location");
        else if (strcmp(name, "chassis") == 0)
            rc = table(v, k, c, 3, "manufacturer version serial asset sku");
        else
            rc = oem_strings(v, k, c);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* fw_cfg files the guest reads under /sys/firmware/qemu_fw_cfg. */
static int fwcfg_sysinfo(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    if (qemu_machine_only(v, k, n, "type", "entry") < 0)
        return QV_ERR_UNSUPPORTED;
    for (const xmlNode *e = n->children; e; e = e->next) {
        if (e->type != XML_ELEMENT_NODE)
            continue;
        if (qemu_machine_only(v, k, e, "name file", "") < 0)
            return QV_ERR_UNSUPPORTED;
        g_autofree char *name = qv_conf_xml_attr(e, "name");
        g_autofree char *file = qv_conf_xml_attr(e, "file");
        g_autofree char *value = qv_conf_xml_text(e);
        if (!name || !g_str_has_prefix(name, "opt/") || strlen(name) > 55)
            return qemu_machine_refuse(v, k, e,
                                       "name= must start with opt/ and fit fw_cfg's 55 "
                                       "characters");
        if (file && (!g_path_is_absolute(file) || *g_strstrip(value)))
            return qemu_machine_refuse(v, k, e,
                                       "file= must be an absolute path, with no text beside it");
        g_autofree char *esc = qemu_opt_escape(file ? file : value);
        g_autofree char *esc_name = qemu_opt_escape(name);
        qemu_argv_add(v, "-fw_cfg");
        qemu_argv_addf(v, "name=%s,%s=%s", esc_name, file ? "file" : "string", esc);
    }
    return 0;
}

int qemu_argv_sysinfo(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    g_autofree char *type = qv_conf_xml_attr(n, "type");
    if (type && strcmp(type, "smbios") == 0)
        return smbios_sysinfo(v, k, n);
    if (type && strcmp(type, "fwcfg") == 0)
        return fwcfg_sysinfo(v, k, n);
    return qemu_machine_refuse(v, k, n, "type= must be smbios or fwcfg");
}

int qemu_argv_os_smbios(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    if (qemu_machine_only(v, k, n, "mode", "") < 0)
        return QV_ERR_UNSUPPORTED;
    g_autofree char *mode = qv_conf_xml_attr(n, "mode");
    if (mode && strcmp(mode, "emulate") == 0)
        return 0; /* QEMU's own tables */
    if (mode && strcmp(mode, "sysinfo") == 0)
        return has_sysinfo(v->def, "smbios")
                   ? 0
                   : qemu_machine_refuse(v, k, n, "mode='sysinfo' needs a <sysinfo type='smbios'>");
    return qemu_machine_refuse(v, k, n,
                               "mode='%s': qv does not copy the host's SMBIOS tables (use "
                               "sysinfo or emulate)",
                               mode ? mode : "");
}
