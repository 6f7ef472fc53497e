/* <blkiotune>: I/O weights and per-device limits through the VM's cgroup
 * (qemu_cgroup.c), the blkio (v1) or io (v2) controller's files
 * (lib/proc/cgroup.h). A <device> is named by path; its block device
 * number is read with stat() at start. Read from the element kept as
 * written. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "../../lib/conf/conf_check.h"
#include "../../lib/conf/xml_util.h"
#include "../../lib/proc/cgroup.h"
#include "../../lib/util/error.h"
#include "qemu_argv_machine.h"
#include "qemu_vm.h"

#define WEIGHT_MAX 10000 /* v2's io.weight; libvirt's schema allows 100-1000 */

static const char *const dev_children[] = {"weight", "read_bytes_sec", "write_bytes_sec",
                                           "read_iops_sec", "write_iops_sec"};

/* The number in a child element's text; -1 with the error set. */
static int text_u64(const xmlNode *c, uint64_t max, uint64_t *out)
{
    g_autofree char *t = qv_conf_xml_text(c);
    if (!qv_conf_parse_uint(g_strstrip(t), max, out))
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "<%s> '%s' is not a number from 0 to %" G_GUINT64_FORMAT, c->name, t,
                            max);
    return 0;
}

/* At define: c's number, or c refused (with its line) saying why. */
static int check_number(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *c,
                        uint64_t max)
{
    uint64_t x;
    if (qemu_machine_only(v, k, c, "", "") < 0)
        return QV_ERR_UNSUPPORTED;
    if (text_u64(c, max, &x) < 0) {
        g_autofree char *why = g_strdup(qv_last_error()->message);
        qv_reset_error();
        return qemu_machine_refuse(v, k, c, "%s", why);
    }
    return 0;
}

static int check_device(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *d)
{
    if (qemu_machine_only(v, k, d, "",
                          "path weight read_bytes_sec write_bytes_sec read_iops_sec "
                          "write_iops_sec") < 0)
        return QV_ERR_UNSUPPORTED;
    const xmlNode *path = qemu_xml_child(d, "path");
    g_autofree char *p = path ? qv_conf_xml_text(path) : NULL;
    if (!p || p[0] != '/')
        return qemu_machine_refuse(v, k, d, "<path> naming a block device is required");
    for (const xmlNode *c = d->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || strcmp((const char *)c->name, "path") == 0)
            continue;
        if (check_number(v, k, c,
                         strcmp((const char *)c->name, "weight") == 0 ? WEIGHT_MAX : UINT64_MAX) <
            0)
            return QV_ERR_UNSUPPORTED;
    }
    return 0;
}

int qemu_argv_blkiotune(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    if (qemu_machine_only(v, k, n, "", "weight device") < 0)
        return QV_ERR_UNSUPPORTED;
    for (const xmlNode *c = n->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (strcmp((const char *)c->name, "device") == 0) {
            if (check_device(v, k, c) < 0)
                return QV_ERR_UNSUPPORTED;
            continue;
        }
        if (check_number(v, k, c, WEIGHT_MAX) < 0)
            return QV_ERR_UNSUPPORTED;
    }
    return 0;
}

/* One <device>, its path resolved to the block device's number. */
static int read_device(const xmlNode *d, struct proc_cgroup_blkio_dev *out)
{
    memset(out, 0, sizeof(*out));
    uint64_t *slots[] = {NULL, &out->read_bps, &out->write_bps, &out->read_iops, &out->write_iops};
    for (const xmlNode *c = d->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (strcmp((const char *)c->name, "path") == 0) {
            g_autofree char *p = qv_conf_xml_text(c);
            struct stat st;
            if (stat(g_strstrip(p), &st) < 0)
                return qv_error_set_errno(QV_ERR_NOT_FOUND, errno, "<blkiotune><device><path> '%s'",
                                          p);
            if (!S_ISBLK(st.st_mode))
                return qv_error_set(QV_ERR_INVALID_ARG,
                                    "<blkiotune><device><path> '%s' is not a block device", p);
            out->major = major(st.st_rdev);
            out->minor = minor(st.st_rdev);
            continue;
        }
        for (size_t j = 0; j < G_N_ELEMENTS(dev_children); j++) {
            if (strcmp((const char *)c->name, dev_children[j]) != 0)
                continue;
            uint64_t x;
            if (text_u64(c, j == 0 ? WEIGHT_MAX : UINT64_MAX, &x) < 0)
                return qv_error_code();
            if (j == 0)
                out->weight = (uint32_t)x;
            else
                *slots[j] = x;
        }
    }
    return 0;
}

int qemu_blkiotune_of(const struct qv_domain *def, struct proc_cgroup_blkio *b, GArray *devs)
{
    memset(b, 0, sizeof(*b));
    for (guint i = 0; i < def->kept->len; i++) {
        const struct qv_kept *k = g_ptr_array_index(def->kept, i);
        if (*k->parent || strcmp(k->name, "blkiotune") != 0)
            continue;
        xmlDoc *doc = qv_conf_xml_read(k->xml, "kept XML");
        if (!doc)
            return qv_error_code();
        int rc = 1;
        for (const xmlNode *c = xmlDocGetRootElement(doc)->children; c && rc == 1; c = c->next) {
            if (c->type != XML_ELEMENT_NODE)
                continue;
            uint64_t w;
            if (strcmp((const char *)c->name, "weight") == 0) {
                if (text_u64(c, WEIGHT_MAX, &w) < 0)
                    rc = qv_error_code();
                else
                    b->weight = (uint32_t)w;
            } else if (strcmp((const char *)c->name, "device") == 0) {
                struct proc_cgroup_blkio_dev d;
                if (read_device(c, &d) < 0)
                    rc = qv_error_code();
                else
                    g_array_append_val(devs, d);
            }
        }
        xmlFreeDoc(doc);
        b->devs = (const struct proc_cgroup_blkio_dev *)(void *)devs->data;
        b->ndevs = devs->len;
        return rc;
    }
    return 0;
}
