/* <resource><partition>: the cgroup libvirt puts a VM's own group under
 * (libvirt writes /machine for every running domain). Other children
 * (<fibrechannel appid=>) are not modelled: the element is kept whole. */
#include <string.h>

#include "../util/error.h"
#include "conf_check.h"
#include "xml_devices.h"
#include "xml_util.h"

const char *qv_conf_check_partition(const char *s)
{
    if (s[0] != '/' || strlen(s) > 200)
        return "must be an absolute cgroup path of at most 200 characters";
    g_auto(GStrv) parts = g_strsplit(s + 1, "/", -1);
    for (char **p = parts; *p; p++) {
        if (!**p || strcmp(*p, ".") == 0 || strcmp(*p, "..") == 0)
            return "must not have empty, '.' or '..' components";
        for (const char *c = *p; *c; c++)
            if (!g_ascii_isalnum(*c) && !strchr("_.-@:", *c))
                return "may hold letters, digits and _ . - @ : in its components";
    }
    return NULL;
}

int qv_conf_xml_resource(const xmlNode *n, char **partition)
{
    const xmlNode *part = NULL;
    TRY(qv_conf_xml_check(n, QV_XML_ELEMS, ""));
    FOR_EACH_ELEMENT(n, c)
    {
        if (!qv_conf_xml_is(c, "partition"))
            return qv_conf_xml_unmodelled(c,
                                          "<resource> child <%s> (only <partition> is "
                                          "modelled)",
                                          (const char *)c->name);
        TRY(qv_conf_xml_once(c, &part));
        TRY(qv_conf_xml_check(c, QV_XML_TEXT, ""));
    }
    if (!part)
        return qv_conf_xml_unmodelled(n, "<resource> without <partition>");
    g_autofree char *text = qv_conf_xml_text(part);
    const char *why = qv_conf_check_partition(text);
    if (why)
        return qv_conf_xml_err(part, "<partition> '%s' %s", text, why);
    g_free(*partition);
    *partition = g_steal_pointer(&text);
    return 0;
}
