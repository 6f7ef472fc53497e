/* <iothreads>, <iothreadids> and <defaultiothread> as QEMU iothread and
 * main-loop objects: -object iothread,id=iothreadN for each of the N
 * threads (the ids <iothreadids> names, else 1..N), with the thread pool
 * bounds libvirt allows. */
#include <string.h>

#include "../../lib/conf/xml_util.h"
#include "../../lib/util/error.h"
#include "qemu_argv_machine.h"

/* ",thread-pool-min=A,thread-pool-max=B" from libvirt's attributes. */
static int pool(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n, GString *o)
{
    uint64_t min = 0, max = 0;
    int has_min, has_max;
    if ((has_min = qemu_machine_uint(v, k, n, "thread_pool_min", INT32_MAX, &min)) < 0 ||
        (has_max = qemu_machine_uint(v, k, n, "thread_pool_max", INT32_MAX, &max)) < 0)
        return QV_ERR_UNSUPPORTED;
    if (has_max && (max == 0 || (has_min && min > max)))
        return qemu_machine_refuse(v, k, n,
                                   "thread_pool_max= must be at least 1 and "
                                   "thread_pool_min=");
    if (has_min)
        g_string_append_printf(o, ",thread-pool-min=%" G_GUINT64_FORMAT, min);
    if (has_max)
        g_string_append_printf(o, ",thread-pool-max=%" G_GUINT64_FORMAT, max);
    return 0;
}

int qemu_argv_iothreads(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    if (qemu_machine_only(v, k, n, "", "") < 0)
        return QV_ERR_UNSUPPORTED;
    uint64_t count = 0;
    g_autofree char *text = qv_conf_xml_text(n);
    char *end = NULL;
    count = g_ascii_strtoull(g_strstrip(text), &end, 10);
    if (!*text || *end || count > 1024)
        return qemu_machine_refuse(v, k, n, "a number of threads from 0 to 1024");
    if (qv_domain_kept_find(v->def, "", "iothreadids"))
        return 0; /* the ids are listed there */
    for (uint64_t i = 1; i <= count; i++) {
        qemu_argv_add(v, "-object");
        qemu_argv_addf(v, "iothread,id=iothread%" G_GUINT64_FORMAT, i);
    }
    return 0;
}

int qemu_argv_iothreadids(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    if (qemu_machine_only(v, k, n, "", "iothread") < 0)
        return QV_ERR_UNSUPPORTED;
    if (!qv_domain_kept_find(v->def, "", "iothreads"))
        return qemu_machine_refuse(v, k, n, "needs <iothreads> giving their number");
    for (const xmlNode *t = n->children; t; t = t->next) {
        if (t->type != XML_ELEMENT_NODE)
            continue;
        uint64_t id = 0;
        if (qemu_machine_only(v, k, t, "id thread_pool_min thread_pool_max", "") < 0 ||
            qemu_machine_uint(v, k, t, "id", UINT32_MAX, &id) < 0)
            return QV_ERR_UNSUPPORTED;
        if (id == 0)
            return qemu_machine_refuse(v, k, t, "id= from 1 is required");
        GString *o = g_string_new(NULL);
        g_string_printf(o, "iothread,id=iothread%" G_GUINT64_FORMAT, id);
        if (pool(v, k, t, o) < 0) {
            g_string_free(o, TRUE);
            return QV_ERR_UNSUPPORTED;
        }
        qemu_argv_add(v, "-object");
        g_ptr_array_add(v->a, g_string_free(o, FALSE));
    }
    return 0;
}

int qemu_argv_default_iothread(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    if (qemu_machine_only(v, k, n, "thread_pool_min thread_pool_max", "") < 0)
        return QV_ERR_UNSUPPORTED;
    GString *o = g_string_new("main-loop,id=main-loop");
    if (pool(v, k, n, o) < 0) {
        g_string_free(o, TRUE);
        return QV_ERR_UNSUPPORTED;
    }
    qemu_argv_add(v, "-object");
    g_ptr_array_add(v->a, g_string_free(o, FALSE));
    return 0;
}

bool qemu_iothread_exists(const struct qv_domain *def, uint32_t id)
{
    bool listed = qv_domain_kept_find(def, "", "iothreadids") != NULL;
    for (guint i = 0; i < def->kept->len; i++) {
        const struct qv_kept *k = g_ptr_array_index(def->kept, i);
        if (*k->parent || strcmp(k->name, listed ? "iothreadids" : "iothreads") != 0)
            continue;
        xmlDoc *doc = qv_conf_xml_read(k->xml, "kept XML");
        if (!doc) {
            qv_reset_error(); /* its handler refuses it */
            return false;
        }
        const xmlNode *n = xmlDocGetRootElement(doc);
        bool found = false;
        if (listed) {
            /* The ids <iothreadids> gives are the threads there are. */
            for (const xmlNode *t = n->children; t && !found; t = t->next) {
                g_autofree char *s = t->type == XML_ELEMENT_NODE ? qv_conf_xml_attr(t, "id") : NULL;
                found = s && g_ascii_strtoull(s, NULL, 10) == id;
            }
        } else {
            g_autofree char *text = qv_conf_xml_text(n);
            found = g_ascii_strtoull(g_strstrip(text), NULL, 10) >= id;
        }
        xmlFreeDoc(doc);
        return found;
    }
    return false;
}
