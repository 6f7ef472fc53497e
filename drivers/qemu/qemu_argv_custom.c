/* libvirt's QEMU namespace (xmlns:qemu='http://libvirt.org/schemas/domain/
 * qemu/1.0'): <qemu:commandline> is honoured as libvirt does it, each
 * <qemu:arg value=> appended to QEMU's argv as one argument and each
 * <qemu:env name= value=> set in QEMU's environment, with no shell in
 * between. Such a VM is "tainted: custom-argv" (libvirt's word for it):
 * what QEMU runs is no longer only what qv made of the definition. The
 * other elements of the namespace (<qemu:capabilities>, <qemu:override>,
 * <qemu:deprecation>) change what libvirt itself does and are refused. */
#include <libxml/tree.h>
#include <string.h>

#include "../../lib/conf/xml_util.h"
#include "../../lib/util/error.h"
#include "qemu_argv.h"

#define QEMU_NS "http://libvirt.org/schemas/domain/qemu/1.0"

static bool in_ns(const xmlNode *n)
{
    return n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
           strcmp((const char *)n->ns->href, QEMU_NS) == 0;
}

bool qemu_kept_is_custom(const struct qv_kept *k)
{
    return !*k->parent && strchr(k->name, ':') != NULL && strstr(k->xml, QEMU_NS) != NULL;
}

static int refuse(const struct qv_domain *def, const struct qv_kept *k, int line, const char *why)
{
    return qv_error_set(QV_ERR_UNSUPPORTED,
                        "VM '%s': the qemu driver cannot honour <%s> (line %d): %s", def->name,
                        k->name, line, why);
}

/* An environment variable's name as a shell would take it. */
static bool env_name(const char *s)
{
    if (!s || !(g_ascii_isalpha(*s) || *s == '_'))
        return false;
    for (; *s; s++)
        if (!g_ascii_isalnum(*s) && *s != '_')
            return false;
    return true;
}

static int one(const struct qv_domain *def, const struct qv_kept *k, GPtrArray *args,
               GPtrArray *env)
{
    xmlDoc *doc = qv_conf_xml_read(k->xml, "kept XML");
    if (!doc)
        return refuse(def, k, k->line, "its stored XML does not parse");
    const xmlNode *root = xmlDocGetRootElement(doc);
    int rc = 0;
    if (!in_ns(root) || strcmp((const char *)root->name, "commandline") != 0)
        rc = refuse(def, k, k->line,
                    "of libvirt's QEMU namespace the qemu driver honours <qemu:commandline> "
                    "only (this one changes what libvirt itself does)");
    for (const xmlNode *c = root->children; rc == 0 && c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        int line = k->line + (int)xmlGetLineNo(c) - 1;
        g_autofree char *name = qv_conf_xml_attr(c, "name");
        g_autofree char *value = qv_conf_xml_attr(c, "value");
        if (in_ns(c) && strcmp((const char *)c->name, "arg") == 0 && value) {
            if (args)
                g_ptr_array_add(args, g_steal_pointer(&value));
        } else if (in_ns(c) && strcmp((const char *)c->name, "env") == 0 && env_name(name)) {
            if (env)
                g_ptr_array_add(env, g_strdup_printf("%s=%s", name, value ? value : ""));
        } else {
            rc = refuse(def, k, line,
                        "its children are <qemu:arg value=...> and <qemu:env name=...> with a "
                        "name of letters, digits and '_'");
        }
    }
    xmlFreeDoc(doc);
    return rc;
}

int qemu_custom_argv(const struct qv_domain *def, GPtrArray *args, GPtrArray *env)
{
    for (guint i = 0; i < def->kept->len; i++) {
        const struct qv_kept *k = g_ptr_array_index(def->kept, i);
        if (qemu_kept_is_custom(k) && one(def, k, args, env) < 0)
            return qv_error_code();
    }
    return 0;
}

bool qemu_tainted_custom_argv(const struct qv_domain *def)
{
    for (guint i = 0; i < def->kept->len; i++)
        if (qemu_kept_is_custom(g_ptr_array_index(def->kept, i)))
            return true;
    return false;
}
