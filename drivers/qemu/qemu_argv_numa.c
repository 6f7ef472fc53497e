#define _GNU_SOURCE
/* <cpu><numa>: guest NUMA nodes. Each <cell> becomes a memory backend of
 * its own (-object ...,id=ram-nodeN) and a -numa node with its vCPUs; the
 * backend is of the kind guest RAM would have had in one piece (plain,
 * <memoryBacking> file, memfd or hugepages, <numatune>'s host node), with
 * the cell's memAccess= and discard= on top. <distances> become -numa dist
 * for every pair, libvirt's defaults (10 local, 20 remote, or the reverse
 * direction's value) for the pairs left out. It runs after every other
 * element outside <devices>, so the guest RAM object is there to split
 * whatever order the document has. */
#include <sched.h>
#include <string.h>

#include "../../lib/conf/conf_check.h"
#include "../../lib/conf/xml_util.h"
#include "../../lib/util/cpuset.h"
#include "../../lib/util/error.h"
#include "qemu_argv_machine.h"

#define NUMA_MAX_CELLS 128 /* QEMU's MAX_NODES */
#define DIST_LOCAL 10
#define DIST_REMOTE 20

int qemu_argv_numa(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    (void)n;
    v->numa = k; /* carried out by qemu_argv_add_numa(), once RAM is set up */
    return 0;
}

GPtrArray *qemu_ram_template(struct qemu_argv *v, char **kind, bool take)
{
    *kind = g_strdup("memory-backend-ram");
    GPtrArray *opts = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i + 1 < v->a->len; i++) {
        const char *val = g_ptr_array_index(v->a, i + 1);
        if (strcmp(g_ptr_array_index(v->a, i), "-object") != 0 || !strstr(val, ",id=ram0"))
            continue;
        GString *cur = g_string_new(NULL);
        bool first = true;
        for (const char *p = val;; p++) {
            if (*p == ',' && p[1] == ',') {
                g_string_append(cur, ",,");
                p++;
                continue;
            }
            if (*p && *p != ',') {
                g_string_append_c(cur, *p);
                continue;
            }
            if (first) {
                g_free(*kind);
                *kind = g_strdup(cur->str);
            } else if (!g_str_has_prefix(cur->str, "id=") && !g_str_has_prefix(cur->str, "size=")) {
                g_ptr_array_add(opts, g_strdup(cur->str));
            }
            first = false;
            g_string_truncate(cur, 0);
            if (!*p)
                break;
        }
        g_string_free(cur, TRUE);
        if (take)
            g_ptr_array_remove_range(v->a, i, 2);
        break;
    }
    if (!take)
        return opts;
    /* -numa node,memdev= gives the RAM; QEMU refuses both. */
    for (guint i = 0; i + 1 < v->a->len; i++) {
        if (strcmp(g_ptr_array_index(v->a, i), "-machine") != 0)
            continue;
        char *m = g_ptr_array_index(v->a, i + 1);
        char *at = strstr(m, ",memory-backend=ram0");
        if (at)
            memmove(at, at + strlen(",memory-backend=ram0"),
                    strlen(at + strlen(",memory-backend=ram0")) + 1);
    }
    return opts;
}

static void set_opt(GPtrArray *opts, const char *key, const char *value)
{
    g_autofree char *prefix = g_strdup_printf("%s=", key);
    for (guint i = 0; i < opts->len; i++)
        if (g_str_has_prefix(g_ptr_array_index(opts, i), prefix)) {
            g_ptr_array_remove_index(opts, i);
            break;
        }
    if (value)
        g_ptr_array_add(opts, g_strdup_printf("%s=%s", key, value));
}

/* A size attribute with libvirt's unit= beside it, in KiB. */
static int attr_kib(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n,
                    const char *attr, uint64_t *kib)
{
    g_autofree char *unit = qv_conf_xml_attr(n, "unit");
    uint64_t scale = unit ? qv_conf_unit_bytes(unit) : 1024, x = 0;
    if (!scale)
        return qemu_machine_refuse(v, k, n, "unit='%s' is not a unit of size", unit);
    int has = qemu_machine_uint(v, k, n, attr, UINT64_MAX, &x);
    if (has < 0)
        return QV_ERR_UNSUPPORTED;
    if (!has)
        return qemu_machine_refuse(v, k, n, "%s= is required", attr);
    if (!qv_conf_scale_kib(x, scale, kib) || *kib == 0)
        return qemu_machine_refuse(v, k, n, "%s= must be more than 0 and fit in 64 bits", attr);
    return 0;
}

/* ",cpus=A-B" for each run of CPUs in set. */
static void append_cpus(GString *o, const cpu_set_t *set)
{
    for (int c = 0; c < CPU_SETSIZE; c++) {
        if (!CPU_ISSET(c, set))
            continue;
        int last = c;
        while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, set))
            last++;
        if (last == c)
            g_string_append_printf(o, ",cpus=%d", c);
        else
            g_string_append_printf(o, ",cpus=%d-%d", c, last);
        c = last;
    }
}

struct numa_state {
    guint ncells;
    uint8_t dist[NUMA_MAX_CELLS][NUMA_MAX_CELLS]; /* 0: not given */
    cpu_set_t covered;
    uint64_t total_kib;
};

static int cell_distances(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *d, guint id,
                          struct numa_state *s)
{
    if (qemu_machine_only(v, k, d, "", "sibling") < 0)
        return QV_ERR_UNSUPPORTED;
    for (const xmlNode *sib = d->children; sib; sib = sib->next) {
        if (sib->type != XML_ELEMENT_NODE)
            continue;
        uint64_t to = 0, val = 0;
        int has_to, has_val;
        if (qemu_machine_only(v, k, sib, "id value", "") < 0 ||
            (has_to = qemu_machine_uint(v, k, sib, "id", NUMA_MAX_CELLS - 1, &to)) < 0 ||
            (has_val = qemu_machine_uint(v, k, sib, "value", 255, &val)) < 0)
            return QV_ERR_UNSUPPORTED;
        if (!has_to || !has_val)
            return qemu_machine_refuse(v, k, sib, "id= and value= are required");
        if (val < DIST_LOCAL || (to == id) != (val == DIST_LOCAL))
            return qemu_machine_refuse(v, k, sib,
                                       "a cell's distance to itself is 10, to another cell "
                                       "from 11 to 255");
        if (s->dist[id][to])
            return qemu_machine_refuse(v, k, sib,
                                       "sibling id='%" G_GUINT64_FORMAT "' is given twice", to);
        s->dist[id][to] = (uint8_t)val;
    }
    return 0;
}

static int cell(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *c, const char *kind,
                const GPtrArray *tmpl, struct numa_state *s)
{
    uint64_t id = 0, kib = 0;
    if (qemu_machine_only(v, k, c, "id cpus memory unit memAccess discard", "distances") < 0)
        return QV_ERR_UNSUPPORTED;
    if (qemu_machine_uint(v, k, c, "id", NUMA_MAX_CELLS - 1, &id) < 0)
        return QV_ERR_UNSUPPORTED;
    /* libvirt numbers cells 0, 1, ... in document order (id= may be left out). */
    if (qemu_xml_has_prop(c, "id") && id != s->ncells)
        return qemu_machine_refuse(v, k, c, "cells are numbered from 0 in order: this one is %u",
                                   s->ncells);
    id = s->ncells;
    if (attr_kib(v, k, c, "memory", &kib) < 0)
        return QV_ERR_UNSUPPORTED;
    g_autoptr(GString) node = g_string_new(NULL);
    g_string_printf(node, "node,nodeid=%" G_GUINT64_FORMAT, id);
    g_autofree char *cpus = qv_conf_xml_attr(c, "cpus");
    if (cpus) {
        cpu_set_t set;
        if (qv_cpuset_parse(cpus, &set) < 0) {
            g_autofree char *why = g_strdup(qv_last_error()->message);
            qv_reset_error();
            return qemu_machine_refuse(v, k, c, "%s", why);
        }
        for (int i = 0; i < CPU_SETSIZE; i++) {
            if (!CPU_ISSET(i, &set))
                continue;
            if ((uint32_t)i >= v->def->max_vcpus)
                return qemu_machine_refuse(v, k, c, "vCPU %d is not one of the VM's %u (<vcpu>)", i,
                                           v->def->max_vcpus);
            if (CPU_ISSET(i, &s->covered))
                return qemu_machine_refuse(v, k, c, "vCPU %d is in another cell too", i);
            CPU_SET(i, &s->covered);
        }
        append_cpus(node, &set);
    }
    g_autofree char *access = qv_conf_xml_attr(c, "memAccess");
    g_autofree char *discard = qv_conf_xml_attr(c, "discard");
    if (access && strcmp(access, "shared") && strcmp(access, "private") &&
        strcmp(access, "default"))
        return qemu_machine_refuse(v, k, c, "memAccess= must be shared, private or default");
    if (discard && strcmp(discard, "yes") && strcmp(discard, "no"))
        return qemu_machine_refuse(v, k, c, "discard= must be yes or no");
    bool file = strcmp(kind, "memory-backend-file") == 0;
    if (discard && strcmp(discard, "yes") == 0 && !file)
        return qemu_machine_refuse(v, k, c,
                                   "QEMU discards only file-backed memory (<memoryBacking>"
                                   "<source type='file'/>)");

    g_autoptr(GPtrArray) opts = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < tmpl->len; i++)
        g_ptr_array_add(opts, g_strdup(g_ptr_array_index(tmpl, i)));
    if (access && strcmp(access, "default") != 0)
        set_opt(opts, "share", strcmp(access, "shared") == 0 ? "on" : "off");
    if (discard)
        set_opt(opts, "discard-data", strcmp(discard, "yes") == 0 ? "on" : NULL);
    g_autoptr(GString) o = g_string_new(NULL);
    g_string_printf(o, "%s,id=ram-node%" G_GUINT64_FORMAT ",size=%" G_GUINT64_FORMAT "K", kind, id,
                    kib);
    for (guint i = 0; i < opts->len; i++)
        g_string_append_printf(o, ",%s", (const char *)g_ptr_array_index(opts, i));
    qemu_argv_add2(v, "-object", o->str);
    g_string_append_printf(node, ",memdev=ram-node%" G_GUINT64_FORMAT, id);
    qemu_argv_add2(v, "-numa", node->str);
    s->total_kib += kib;
    s->ncells++;
    const xmlNode *d = qemu_xml_child(c, "distances");
    return d ? cell_distances(v, k, d, (guint)id, s) : 0;
}

static int add_distances(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n,
                         struct numa_state *s)
{
    bool any = false;
    for (guint a = 0; a < s->ncells; a++)
        for (guint b = 0; b < NUMA_MAX_CELLS; b++) {
            if (s->dist[a][b] && b >= s->ncells)
                return qemu_machine_refuse(v, k, n, "a <sibling id='%u'> names no cell", b);
            any = any || s->dist[a][b];
        }
    if (!any)
        return 0;
    for (guint a = 0; a < s->ncells; a++)
        for (guint b = 0; b < s->ncells; b++) {
            unsigned d = s->dist[a][b]   ? s->dist[a][b]
                         : s->dist[b][a] ? s->dist[b][a]
                         : a == b        ? DIST_LOCAL
                                         : DIST_REMOTE;
            qemu_argv_add(v, "-numa");
            qemu_argv_addf(v, "dist,src=%u,dst=%u,val=%u", a, b, d);
        }
    return 0;
}

int qemu_argv_add_numa(struct qemu_argv *v)
{
    const struct qv_kept *k = v->numa;
    if (!k)
        return 0;
    xmlDoc *doc = qv_conf_xml_read(k->xml, "kept XML");
    if (!doc)
        return qemu_kept_refuse(v, k, "its stored XML does not parse");
    const xmlNode *n = xmlDocGetRootElement(doc);
    g_autofree char *kind = NULL;
    g_autoptr(GPtrArray) tmpl = NULL;
    struct numa_state *s = g_new0(struct numa_state, 1);
    int rc = qemu_machine_only(v, k, n, "", "cell");
    if (rc == 0)
        tmpl = qemu_ram_template(v, &kind, true);
    for (const xmlNode *c = n->children; rc == 0 && c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (s->ncells == NUMA_MAX_CELLS)
            rc = qemu_machine_refuse(v, k, c, "QEMU has at most %d NUMA nodes", NUMA_MAX_CELLS);
        else
            rc = cell(v, k, c, kind, tmpl, s);
    }
    if (rc == 0 && s->ncells == 0)
        rc = qemu_machine_refuse(v, k, n, "needs a <cell>");
    if (rc == 0 && (uint32_t)CPU_COUNT(&s->covered) != v->def->max_vcpus)
        rc = qemu_machine_refuse(v, k, n,
                                 "the cells' cpus= hold %d of the VM's %u vCPUs: each must be "
                                 "in exactly one cell",
                                 CPU_COUNT(&s->covered), v->def->max_vcpus);
    /* <memory> less the memory devices, which are plugged into nodes. */
    uint64_t want = qemu_initial_kib(v->def);
    if (rc == 0 && s->total_kib != want)
        rc = want == v->def->memory_kib
                 ? qemu_machine_refuse(v, k, n,
                                       "the cells' memory adds up to %" G_GUINT64_FORMAT
                                       " KiB, <memory> is %" G_GUINT64_FORMAT " KiB",
                                       s->total_kib, want)
                 : qemu_machine_refuse(
                       v, k, n,
                       "the cells' memory adds up to %" G_GUINT64_FORMAT
                       " KiB, <memory> less the memory devices is %" G_GUINT64_FORMAT " KiB",
                       s->total_kib, want);
    if (rc == 0)
        rc = add_distances(v, k, n, s);
    g_free(s);
    xmlFreeDoc(doc);
    return rc < 0 ? QV_ERR_UNSUPPORTED : 0;
}
