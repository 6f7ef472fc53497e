/* <memoryBacking> beyond a bare <hugepages/>: guest RAM as one QEMU memory
 * backend object (-machine memory-backend=ram0) whose kind and options
 * follow the element: hugepages of a given size, a file under the VM's
 * directory, anonymous memory or a memfd; shared or private; allocated at
 * start (with N threads) or on demand; discard on file backends. <locked/>
 * and <nosharepages/> are QEMU-wide switches. */
#include <string.h>

#include "../../lib/conf/xml_util.h"
#include "../../lib/util/error.h"
#include "qemu_argv_machine.h"

/* The kept <memoryBacking>, parsed; NULL when there is none. */
static xmlDoc *kept_backing(const struct qv_domain *def)
{
    for (guint i = 0; i < def->kept->len; i++) {
        const struct qv_kept *k = g_ptr_array_index(def->kept, i);
        if (!*k->parent && strcmp(k->name, "memoryBacking") == 0) {
            xmlDoc *doc = qv_conf_xml_read(k->xml, "kept XML");
            if (!doc)
                qv_reset_error(); /* the argv refuses it, naming its line */
            return doc;
        }
    }
    return NULL;
}

bool qemu_memory_hugepages(const struct qv_domain *def, uint64_t *page_kib)
{
    *page_kib = 0;
    if (def->hugepages)
        return true;
    xmlDoc *doc = kept_backing(def);
    if (!doc)
        return false;
    const xmlNode *huge = qemu_xml_child(xmlDocGetRootElement(doc), "hugepages");
    const xmlNode *page = huge ? qemu_xml_child(huge, "page") : NULL;
    if (page) {
        /* <page size unit>: the same units as everywhere in libvirt. */
        xmlNode *tmp = xmlNewNode(NULL, (const xmlChar *)"page");
        g_autofree char *size = qv_conf_xml_attr(page, "size");
        g_autofree char *unit = qv_conf_xml_attr(page, "unit");
        xmlNodeSetContent(tmp, (const xmlChar *)(size ? size : ""));
        if (unit)
            xmlNewProp(tmp, (const xmlChar *)"unit", (const xmlChar *)unit);
        if (qv_conf_xml_text_kib(tmp, page_kib) < 0) {
            qv_reset_error();
            *page_kib = 0;
        }
        xmlFreeNode(tmp);
    }
    xmlFreeDoc(doc);
    return huge != NULL;
}

bool qemu_memory_shared(const struct qv_domain *def)
{
    if (def->hugepages)
        return true; /* qv's <hugepages/> is shared */
    xmlDoc *doc = kept_backing(def);
    if (!doc)
        return false;
    const xmlNode *n = xmlDocGetRootElement(doc), *acc = qemu_xml_child(n, "access");
    /* The same default as qemu_argv_memory_backing(): hugepages share. */
    bool shared =
        acc ? qemu_xml_prop_is(acc, "mode", "shared") : qemu_xml_child(n, "hugepages") != NULL;
    xmlFreeDoc(doc);
    return shared;
}

/* Drop a ram0 object add_memory made for <numatune>: this one replaces it. */
static void drop_ram0(struct qemu_argv *v)
{
    for (guint i = 0; i + 1 < v->a->len; i++)
        if (strcmp(g_ptr_array_index(v->a, i), "-object") == 0 &&
            strstr(g_ptr_array_index(v->a, i + 1), ",id=ram0,")) {
            g_ptr_array_remove_range(v->a, i, 2);
            return;
        }
}

static int page_size(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *huge)
{
    int pages = 0;
    if (qemu_machine_only(v, k, huge, "", "page") < 0)
        return QV_ERR_UNSUPPORTED;
    for (const xmlNode *p = huge->children; p; p = p->next) {
        if (p->type != XML_ELEMENT_NODE)
            continue;
        if (qemu_machine_only(v, k, p, "size unit nodeset", "") < 0)
            return QV_ERR_UNSUPPORTED;
        if (xmlHasProp(p, (const xmlChar *)"nodeset") || ++pages > 1)
            return qemu_machine_refuse(v, k, p,
                                       "one page size for all guest RAM (no guest NUMA "
                                       "nodeset=)");
    }
    return 0;
}

int qemu_argv_memory_backing(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    if (qemu_machine_only(v, k, n, "",
                          "hugepages nosharepages locked source access allocation discard") < 0)
        return QV_ERR_UNSUPPORTED;
    const xmlNode *huge = qemu_xml_child(n, "hugepages"), *src = qemu_xml_child(n, "source"),
                  *acc = qemu_xml_child(n, "access"), *alloc = qemu_xml_child(n, "allocation"),
                  *discard = qemu_xml_child(n, "discard");
    g_autofree char *type = src ? qv_conf_xml_attr(src, "type") : NULL;
    g_autofree char *mode = acc ? qv_conf_xml_attr(acc, "mode") : NULL;
    g_autofree char *amode = alloc ? qv_conf_xml_attr(alloc, "mode") : NULL;
    uint64_t threads = 0;
    if ((src && qemu_machine_only(v, k, src, "type", "") < 0) ||
        (acc && qemu_machine_only(v, k, acc, "mode", "") < 0) ||
        (alloc && (qemu_machine_only(v, k, alloc, "mode threads", "") < 0 ||
                   qemu_machine_uint(v, k, alloc, "threads", 1024, &threads) < 0)) ||
        (discard && qemu_machine_only(v, k, discard, "", "") < 0) ||
        (huge && page_size(v, k, huge) < 0))
        return QV_ERR_UNSUPPORTED;
    if (type && strcmp(type, "file") && strcmp(type, "anonymous") && strcmp(type, "memfd"))
        return qemu_machine_refuse(v, k, src, "type= must be file, anonymous or memfd");
    if (mode && strcmp(mode, "shared") && strcmp(mode, "private"))
        return qemu_machine_refuse(v, k, acc, "mode= must be shared or private");
    if (amode && strcmp(amode, "immediate") && strcmp(amode, "ondemand"))
        return qemu_machine_refuse(v, k, alloc, "mode= must be immediate or ondemand");
    if (huge && type && strcmp(type, "memfd") != 0)
        return qemu_machine_refuse(v, k, src, "hugepages come from hugetlbfs or a memfd");
    if (threads && amode && strcmp(amode, "ondemand") == 0)
        return qemu_machine_refuse(v, k, alloc, "threads= allocate at start, not on demand");

    GString *o = g_string_new(NULL);
    bool file = (huge && !type) || (type && strcmp(type, "file") == 0);
    bool memfd = type && strcmp(type, "memfd") == 0;
    /* qv's <hugepages/> shares and preallocates; so does this, unless told. */
    bool share = mode ? strcmp(mode, "shared") == 0 : huge != NULL;
    bool prealloc = amode ? strcmp(amode, "immediate") == 0 : huge != NULL || threads;
    if (discard && !file) {
        g_string_free(o, TRUE);
        return qemu_machine_refuse(v, k, discard, "QEMU discards only file-backed memory");
    }
    if (file) {
        const char *dir = huge ? v->l->hugepage_dir : v->l->dir;
        if (!dir) {
            g_string_free(o, TRUE);
            uint64_t kib = 0;
            qemu_memory_hugepages(v->def, &kib);
            return kib ? qemu_machine_refuse(v, k, huge,
                                             "no hugetlbfs of %" G_GUINT64_FORMAT
                                             " KiB pages is mounted on this host",
                                             kib)
                       : qemu_machine_refuse(v, k, huge, "no hugetlbfs is mounted on this host");
        }
        g_autofree char *path = qemu_opt_escape(dir);
        g_string_append_printf(o, "memory-backend-file,id=ram0,mem-path=%s", path);
    } else if (memfd) {
        g_string_append(o, "memory-backend-memfd,id=ram0");
        if (huge) {
            uint64_t kib = 0;
            qemu_memory_hugepages(v->def, &kib);
            g_string_append(o, ",hugetlb=on");
            if (kib)
                g_string_append_printf(o, ",hugetlbsize=%" G_GUINT64_FORMAT "K", kib);
        }
    } else {
        g_string_append(o, "memory-backend-ram,id=ram0");
    }
    g_string_append_printf(o, ",size=%" G_GUINT64_FORMAT "K,share=%s,prealloc=%s",
                           qemu_initial_kib(v->def), share ? "on" : "off", prealloc ? "on" : "off");
    if (threads)
        g_string_append_printf(o, ",prealloc-threads=%" G_GUINT64_FORMAT, threads);
    if (discard)
        g_string_append(o, ",discard-data=on");
    if (v->def->numa_node >= 0)
        g_string_append_printf(o, ",host-nodes=%d,policy=bind", v->def->numa_node);
    drop_ram0(v);
    qemu_argv_add(v, "-object");
    g_ptr_array_add(v->a, g_string_free(o, FALSE));
    if (v->def->numa_node < 0) /* add_machine named it for <numatune> */
        qemu_argv_machine_opt(v, ",memory-backend=ram0");
    if (qemu_xml_child(n, "nosharepages"))
        qemu_argv_machine_opt(v, ",mem-merge=off");
    if (qemu_xml_child(n, "locked"))
        qemu_argv_add2(v, "-overcommit", "mem-lock=on");
    return 0;
}
