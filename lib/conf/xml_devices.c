/* Parsing of the devices a domain XML may hold. Everything the struct cannot
 * represent is refused with its line rather than dropped, so formatting a
 * parsed definition never loses what the user wrote. */
#include <string.h>

#include "../util/error.h"
#include "address.h"
#include "conf_check.h"
#include "xml_devices.h"
#include "xml_util.h"

/* <boot order='N'/> */
static int parse_boot(const xmlNode *n, uint32_t *order)
{
    uint64_t v = 0;
    TRY(qv_conf_xml_check(n, QV_XML_EMPTY, "order"));
    if (qv_conf_xml_attr_uint(n, "order", UINT16_MAX, &v) <= 0 || v == 0)
        return qv_conf_xml_err(n, "<boot> needs order= from 1 to 65535");
    *order = (uint32_t)v;
    return 0;
}

/* ---- disk ---- */

/* Read an enum attribute into a string field (NULL when absent). */
static int enum_str(const xmlNode *n, const char *attr, const char *const *list, char **out)
{
    int i;
    int rc = qv_conf_xml_attr_enum(n, attr, list, &i);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        g_free(*out);
        *out = g_strdup(list[i]);
    }
    return 0;
}

static int disk_driver_attrs(const xmlNode *n, struct qv_disk *d)
{
    static const char *const names[] = {"qemu", NULL};
    int i;
    TRY(qv_conf_xml_check(n, QV_XML_EMPTY, "name type cache io discard iothread"));
    TRY(qv_conf_xml_attr_enum(n, "name", names, &i));
    TRY(enum_str(n, "type", qv_conf_disk_formats, &d->driver_type));
    TRY(enum_str(n, "cache", qv_conf_disk_caches, &d->cache));
    TRY(enum_str(n, "io", qv_conf_disk_ios, &d->io));
    TRY(enum_str(n, "discard", qv_conf_disk_discards, &d->discard));
    uint64_t t = 0;
    int rc = qv_conf_xml_attr_uint(n, "iothread", UINT32_MAX, &t);
    TRY(rc);
    if (rc == 1 && t == 0)
        return qv_conf_xml_err(n, "<driver iothread='0'>: IOThread ids start at 1");
    d->iothread = (uint32_t)t;
    return 0;
}

static int disk_source(const xmlNode *n, enum qv_disk_type type, char **path)
{
    const char *attr = type == QV_DISK_TYPE_BLOCK ? "dev" : "file";
    TRY(qv_conf_xml_check(n, QV_XML_EMPTY, attr));
    if (qv_conf_xml_need_str(n, attr, qv_conf_check_path, path) < 0)
        return QV_ERR_XML;
    return 0;
}

static int disk_backing(const xmlNode *n, struct qv_disk *d)
{
    TRY(qv_conf_xml_check(n, QV_XML_ELEMS, "type index"));
    if (!n->children || !xmlFirstElementChild((xmlNode *)n)) {
        d->backing_end = true; /* <backingStore/>: the chain ends here */
        return 0;
    }
    static const char *const types[] = {"file", NULL};
    int t;
    TRY(qv_conf_xml_need_enum(n, "type", types, &t));
    const xmlNode *fmt = NULL, *src = NULL, *next = NULL;
    FOR_EACH_ELEMENT(n, c)
    {
        if (qv_conf_xml_is(c, "format")) {
            TRY(qv_conf_xml_once(c, &fmt));
            TRY(qv_conf_xml_check(c, QV_XML_EMPTY, "type"));
            int i;
            TRY(qv_conf_xml_need_enum(c, "type", qv_conf_disk_formats, &i));
            d->backing_format = g_strdup(qv_conf_disk_formats[i]);
        } else if (qv_conf_xml_is(c, "source")) {
            TRY(qv_conf_xml_once(c, &src));
            TRY(disk_source(c, QV_DISK_TYPE_FILE, &d->backing));
        } else if (qv_conf_xml_is(c, "backingStore")) {
            TRY(qv_conf_xml_once(c, &next));
            TRY(qv_conf_xml_check(c, QV_XML_EMPTY, ""));
            if (xmlHasProp((xmlNode *)c, (const xmlChar *)"type"))
                return qv_conf_xml_unmodelled(c, "only one level of <backingStore> is supported");
        } else {
            return qv_conf_xml_unknown(c);
        }
    }
    if (!src)
        return qv_conf_xml_unmodelled(n, "<backingStore> needs a <source file=...>");
    if (!fmt)
        return qv_conf_xml_unmodelled(n, "<backingStore> needs a <format type=...>");
    return 0;
}

static int disk_iotune(const xmlNode *n, struct qv_disk *d)
{
    const xmlNode *bytes = NULL, *iops = NULL;
    TRY(qv_conf_xml_check(n, QV_XML_ELEMS, ""));
    FOR_EACH_ELEMENT(n, c)
    {
        if (qv_conf_xml_is(c, "total_bytes_sec")) {
            TRY(qv_conf_xml_once(c, &bytes));
            TRY(qv_conf_xml_check(c, QV_XML_TEXT, ""));
            TRY(qv_conf_xml_text_uint(c, INT64_MAX, &d->total_bytes_sec));
        } else if (qv_conf_xml_is(c, "total_iops_sec")) {
            TRY(qv_conf_xml_once(c, &iops));
            TRY(qv_conf_xml_check(c, QV_XML_TEXT, ""));
            TRY(qv_conf_xml_text_uint(c, INT64_MAX, &d->total_iops_sec));
        } else {
            return qv_conf_xml_unknown(c);
        }
    }
    return 0;
}

static int disk_parse(const xmlNode *n, struct qv_disk *d)
{
    int v;
    TRY(qv_conf_xml_check(n, QV_XML_ELEMS, "type device"));
    int rc = qv_conf_xml_attr_enum(n, "type", qv_conf_disk_types, &v);
    TRY(rc);
    d->type = rc == 1 ? (enum qv_disk_type)v : QV_DISK_TYPE_FILE;
    rc = qv_conf_xml_attr_enum(n, "device", qv_conf_disk_devices, &v);
    TRY(rc);
    d->device = rc == 1 ? (enum qv_disk_device)v : QV_DISK_DISK;
    const xmlNode *drv = NULL, *src = NULL, *back = NULL, *tgt = NULL, *ro = NULL, *bio = NULL,
                  *boot = NULL, *iot = NULL, *addr = NULL, *alias = NULL, *serial = NULL;
    bool bus_given = false;
    FOR_EACH_ELEMENT(n, c)
    {
        if (qv_conf_xml_is(c, "driver")) {
            TRY(qv_conf_xml_once(c, &drv));
            TRY(disk_driver_attrs(c, d));
            d->driver_written = true;
        } else if (qv_conf_xml_is(c, "source")) {
            TRY(qv_conf_xml_once(c, &src));
            TRY(disk_source(c, d->type, &d->source));
        } else if (qv_conf_xml_is(c, "backingStore")) {
            TRY(qv_conf_xml_once(c, &back));
            TRY(disk_backing(c, d));
        } else if (qv_conf_xml_is(c, "target")) {
            TRY(qv_conf_xml_once(c, &tgt));
            TRY(qv_conf_xml_check(c, QV_XML_EMPTY, "dev bus"));
            TRY(qv_conf_xml_need_str(c, "dev", qv_conf_check_disk_target, &d->target));
            rc = qv_conf_xml_attr_enum(c, "bus", qv_conf_disk_buses, &v);
            TRY(rc);
            if (rc == 1) {
                d->bus = (enum qv_disk_bus)v;
                bus_given = true;
            }
        } else if (qv_conf_xml_is(c, "readonly")) {
            TRY(qv_conf_xml_once(c, &ro));
            TRY(qv_conf_xml_check(c, QV_XML_EMPTY, ""));
            d->readonly = true;
        } else if (qv_conf_xml_is(c, "blockio")) {
            uint64_t sz = 0;
            TRY(qv_conf_xml_once(c, &bio));
            TRY(qv_conf_xml_check(c, QV_XML_EMPTY, "logical_block_size"));
            TRY(qv_conf_xml_attr_uint(c, "logical_block_size", UINT32_MAX, &sz));
            const char *why = qv_conf_rule_block_size(sz);
            if (why)
                return qv_conf_xml_err(c, "logical_block_size %" G_GUINT64_FORMAT " %s", sz, why);
            d->logical_block_size = (uint32_t)sz;
        } else if (qv_conf_xml_is(c, "boot")) {
            TRY(qv_conf_xml_once(c, &boot));
            TRY(parse_boot(c, &d->boot_order));
        } else if (qv_conf_xml_is(c, "iotune")) {
            TRY(qv_conf_xml_once(c, &iot));
            TRY(disk_iotune(c, d));
        } else if (qv_conf_xml_is(c, "serial")) {
            TRY(qv_conf_xml_once(c, &serial));
            TRY(qv_conf_xml_check(c, QV_XML_TEXT, ""));
            TRY(qv_conf_xml_text_str(c, qv_conf_check_disk_serial, &d->serial));
        } else if (qv_conf_xml_is(c, "address")) {
            TRY(qv_conf_xml_once(c, &addr));
            TRY(qv_conf_xml_address(c, &d->addr));
        } else if (qv_conf_xml_is(c, "alias")) {
            TRY(qv_conf_xml_once(c, &alias));
            TRY(qv_conf_xml_alias(c, &d->alias));
        } else {
            return qv_conf_xml_unknown(c);
        }
    }
    if (!tgt && d->alias && !src)
        return 0; /* a disk to remove, named by its alias alone */
    if (!tgt)
        return qv_conf_xml_err(n, "<disk> needs a <target dev=...>");
    if (!bus_given)
        d->bus = (enum qv_disk_bus)qv_conf_rule_bus_for_target(d->target);
    if (!d->source && d->device == QV_DISK_DISK)
        return qv_conf_xml_unmodelled(n,
                                      "<disk device='disk'> needs a <source> (only a cdrom may be "
                                      "empty)");
    if (d->backing && !d->source)
        return qv_conf_xml_unmodelled(n, "<disk> with a <backingStore> needs a <source>");
    return 0;
}

int qv_conf_xml_disk(const xmlNode *n, struct qv_disk **out)
{
    struct qv_disk *d = g_new0(struct qv_disk, 1);
    if (disk_parse(n, d) < 0) {
        qv_disk_free(d);
        return QV_ERR_XML;
    }
    *out = d;
    return 0;
}

/* ---- interface ---- */

static int net_bandwidth(const xmlNode *n, struct qv_net *net)
{
    const xmlNode *in = NULL, *outb = NULL;
    TRY(qv_conf_xml_check(n, QV_XML_ELEMS, ""));
    FOR_EACH_ELEMENT(n, c)
    {
        uint64_t *slot, *peak, *burst;
        if (qv_conf_xml_is(c, "inbound")) {
            TRY(qv_conf_xml_once(c, &in));
            slot = &net->inbound_kbps;
            peak = &net->inbound_peak_kbps;
            burst = &net->inbound_burst_kib;
        } else if (qv_conf_xml_is(c, "outbound")) {
            TRY(qv_conf_xml_once(c, &outb));
            slot = &net->outbound_kbps;
            peak = &net->outbound_peak_kbps;
            burst = &net->outbound_burst_kib;
        } else {
            return qv_conf_xml_unknown(c);
        }
        TRY(qv_conf_xml_check(c, QV_XML_EMPTY, "average peak burst"));
        if (qv_conf_xml_attr_uint(c, "average", UINT32_MAX, slot) <= 0 || *slot == 0)
            return qv_conf_xml_err(c, "<%s> needs average= from 1 to %u (KiB/s)", c->name,
                                   UINT32_MAX);
        if (qv_conf_xml_attr_uint(c, "peak", UINT32_MAX, peak) < 0 ||
            qv_conf_xml_attr_uint(c, "burst", UINT32_MAX, burst) < 0)
            return qv_conf_xml_err(c, "<%s> peak= (KiB/s) and burst= (KiB) go from 0 to %u",
                                   c->name, UINT32_MAX);
        if (*peak && *peak < *slot)
            return qv_conf_xml_err(
                c, "<%s> peak=%" G_GUINT64_FORMAT " is below average=%" G_GUINT64_FORMAT, c->name,
                *peak, *slot);
    }
    return 0;
}

/* User networking forwards one host port to the guest's ssh port, written
 * the way libvirt writes port forwarding. */
static int net_port_forward(const xmlNode *n, struct qv_net *net)
{
    static const char *const protos[] = {"tcp", NULL};
    int p;
    TRY(qv_conf_xml_check(n, QV_XML_ELEMS, "proto"));
    TRY(qv_conf_xml_need_enum(n, "proto", protos, &p));
    const xmlNode *range = NULL;
    FOR_EACH_ELEMENT(n, c)
    {
        if (!qv_conf_xml_is(c, "range"))
            return qv_conf_xml_unknown(c);
        TRY(qv_conf_xml_once(c, &range));
        TRY(qv_conf_xml_check(c, QV_XML_EMPTY, "start to"));
        uint64_t start = 0, to = 0;
        if (qv_conf_xml_attr_uint(c, "start", 65535, &start) <= 0 || start == 0)
            return qv_conf_xml_err(c, "<range> needs start= from 1 to 65535");
        if (qv_conf_xml_attr_uint(c, "to", 65535, &to) <= 0 || to != 22)
            return qv_conf_xml_unmodelled(c,
                                          "<range> must forward to guest port 22 (to='22'): only "
                                          "the ssh port forward is supported");
        net->host_port = (uint16_t)start;
    }
    if (!range)
        return qv_conf_xml_unmodelled(n, "<portForward> needs a <range start=... to='22'/>");
    return 0;
}

static int net_source(const xmlNode *n, struct qv_net *net)
{
    switch (net->type) {
    case QV_NET_BRIDGE:
        TRY(qv_conf_xml_check(n, QV_XML_EMPTY, "bridge"));
        return qv_conf_xml_need_str(n, "bridge", qv_conf_check_devname, &net->source) < 0
                   ? QV_ERR_XML
                   : 0;
    case QV_NET_NETWORK:
        TRY(qv_conf_xml_check(n, QV_XML_EMPTY, "network"));
        return qv_conf_xml_need_str(n, "network", qv_conf_check_devname, &net->source) < 0
                   ? QV_ERR_XML
                   : 0;
    case QV_NET_DIRECT: {
        const char *const *modes = qv_conf_direct_modes;
        int m;
        TRY(qv_conf_xml_check(n, QV_XML_EMPTY, "dev mode"));
        int has = qv_conf_xml_attr_enum(n, "mode", modes, &m);
        if (has < 0)
            return QV_ERR_XML;
        if (has)
            net->source_mode = g_strdup(modes[m]);
        return qv_conf_xml_need_str(n, "dev", qv_conf_check_devname, &net->source) < 0 ? QV_ERR_XML
                                                                                       : 0;
    }
    case QV_NET_USER:
        TRY(qv_conf_xml_check(n, QV_XML_EMPTY, "dev"));
        return qv_conf_xml_need_str(n, "dev", qv_conf_check_devname, &net->source) < 0 ? QV_ERR_XML
                                                                                       : 0;
    case QV_NET_ETHERNET: break;
    }
    return qv_conf_xml_unmodelled(n, "<source> is not supported on an ethernet <interface>");
}

/* <driver name= queues= rx_queue_size=>; its other attributes and
 * children (offloads, txmode, ...) are not modelled. */
static int net_driver(const xmlNode *d, struct qv_net *net)
{
    TRY(qv_conf_xml_check(d, QV_XML_EMPTY, "name queues rx_queue_size"));
    TRY(enum_str(d, "name", qv_conf_net_drivers, &net->driver_name));
    uint64_t x = 0;
    const char *why;
    int rc = qv_conf_xml_attr_uint(d, "queues", UINT32_MAX, &x);
    TRY(rc);
    if (rc == 1 && (why = qv_conf_rule_net_queues(x)))
        return qv_conf_xml_err(d, "<driver queues='%" G_GUINT64_FORMAT "'> %s", x, why);
    net->queues = (uint32_t)x;
    rc = qv_conf_xml_attr_uint(d, "rx_queue_size", UINT32_MAX, &x);
    TRY(rc);
    if (rc == 1 && (why = qv_conf_rule_net_ring(x)))
        return qv_conf_xml_err(d, "<driver rx_queue_size='%" G_GUINT64_FORMAT "'> %s", x, why);
    if (rc == 1)
        net->rx_queue_size = (uint32_t)x;
    return 0;
}

static int net_parse(const xmlNode *n, struct qv_net *net)
{
    int v;
    TRY(qv_conf_xml_check(n, QV_XML_ELEMS, "type"));
    TRY(qv_conf_xml_need_enum(n, "type", qv_conf_net_types, &v));
    net->type = (enum qv_net_type)v;
    const xmlNode *src = NULL, *mac = NULL, *model = NULL, *bw = NULL, *boot = NULL, *pf = NULL,
                  *addr = NULL, *alias = NULL, *drv = NULL;
    FOR_EACH_ELEMENT(n, c)
    {
        if (qv_conf_xml_is(c, "source")) {
            TRY(qv_conf_xml_once(c, &src));
            TRY(net_source(c, net));
        } else if (qv_conf_xml_is(c, "mac")) {
            TRY(qv_conf_xml_once(c, &mac));
            TRY(qv_conf_xml_check(c, QV_XML_EMPTY, "address"));
            g_autofree char *a = qv_conf_xml_attr(c, "address");
            if (!a || !qv_conf_norm_mac(a, net->mac))
                return qv_conf_xml_err(c, "<mac> needs address= as a unicast MAC "
                                          "(xx:xx:xx:xx:xx:xx)");
        } else if (qv_conf_xml_is(c, "model")) {
            TRY(qv_conf_xml_once(c, &model));
            TRY(qv_conf_xml_check(c, QV_XML_EMPTY, "type"));
            TRY(qv_conf_xml_need_str(c, "type", qv_conf_check_model, &net->model));
        } else if (qv_conf_xml_is(c, "bandwidth")) {
            TRY(qv_conf_xml_once(c, &bw));
            TRY(net_bandwidth(c, net));
        } else if (qv_conf_xml_is(c, "boot")) {
            TRY(qv_conf_xml_once(c, &boot));
            TRY(parse_boot(c, &net->boot_order));
        } else if (qv_conf_xml_is(c, "address")) {
            TRY(qv_conf_xml_once(c, &addr));
            TRY(qv_conf_xml_address(c, &net->addr));
        } else if (qv_conf_xml_is(c, "alias")) {
            TRY(qv_conf_xml_once(c, &alias));
            TRY(qv_conf_xml_alias(c, &net->alias));
        } else if (qv_conf_xml_is(c, "driver")) {
            TRY(qv_conf_xml_once(c, &drv));
            TRY(net_driver(c, net));
        } else if (qv_conf_xml_is(c, "portForward")) {
            if (net->type != QV_NET_USER)
                return qv_conf_xml_unmodelled(c, "<portForward> is only supported on <interface "
                                                 "type='user'>");
            TRY(qv_conf_xml_once(c, &pf));
            TRY(net_port_forward(c, net));
        } else {
            return qv_conf_xml_unknown(c);
        }
    }
    if (!src &&
        (net->type == QV_NET_BRIDGE || net->type == QV_NET_NETWORK || net->type == QV_NET_DIRECT))
        return qv_conf_xml_unmodelled(n, "<interface type='%s'> needs a <source>",
                                      qv_conf_net_types[net->type]);
    return 0;
}

int qv_conf_xml_net(const xmlNode *n, struct qv_net **out)
{
    struct qv_net *net = g_new0(struct qv_net, 1);
    if (net_parse(n, net) < 0) {
        qv_net_free(net);
        return QV_ERR_XML;
    }
    *out = net;
    return 0;
}

/* ---- hostdev ---- */

static int pci_field(const xmlNode *n, const char *attr, uint64_t max, uint64_t *out)
{
    g_autofree char *v = qv_conf_xml_attr(n, attr);
    if (!v)
        return qv_conf_xml_err(n, "<address> needs %s=", attr);
    bool ok;
    if (g_str_has_prefix(v, "0x") || g_str_has_prefix(v, "0X")) {
        ok = v[2] && strlen(v) <= 10 && strspn(v + 2, "0123456789abcdefABCDEF") == strlen(v + 2);
        if (ok)
            *out = g_ascii_strtoull(v + 2, NULL, 16);
    } else {
        ok = qv_conf_parse_uint(v, UINT64_MAX, out);
    }
    if (!ok || *out > max)
        return qv_conf_xml_err(
            n, "<address> %s='%s' must be a number from 0 to %#" G_GINT64_MODIFIER "x", attr, v,
            max);
    return 0;
}

static int hostdev_parse(const xmlNode *n, struct qv_hostdev *h)
{
    static const char *const modes[] = {"subsystem", NULL};
    static const char *const types[] = {"pci", NULL};
    static const char *const drivers[] = {"vfio", NULL};
    int v;
    TRY(qv_conf_xml_check(n, QV_XML_ELEMS, "mode type managed"));
    TRY(qv_conf_xml_need_enum(n, "mode", modes, &v));
    TRY(qv_conf_xml_need_enum(n, "type", types, &v));
    TRY(qv_conf_xml_attr_yesno(n, "managed", &h->managed));
    const xmlNode *src = NULL, *drv = NULL, *addr = NULL;
    FOR_EACH_ELEMENT(n, c)
    {
        if (qv_conf_xml_is(c, "source")) {
            TRY(qv_conf_xml_once(c, &src));
            TRY(qv_conf_xml_check(c, QV_XML_ELEMS, ""));
            FOR_EACH_ELEMENT(c, a)
            {
                if (!qv_conf_xml_is(a, "address"))
                    return qv_conf_xml_unknown(a);
                TRY(qv_conf_xml_once(a, &addr));
                TRY(qv_conf_xml_check(a, QV_XML_EMPTY, "domain bus slot function"));
                uint64_t dom, bus, slot, fn;
                TRY(pci_field(a, "domain", 0xffff, &dom));
                TRY(pci_field(a, "bus", 0xff, &bus));
                TRY(pci_field(a, "slot", 0x1f, &slot));
                TRY(pci_field(a, "function", 0x7, &fn));
                h->domain = (uint16_t)dom;
                h->bus = (uint8_t)bus;
                h->slot = (uint8_t)slot;
                h->function = (uint8_t)fn;
            }
        } else if (qv_conf_xml_is(c, "driver")) {
            TRY(qv_conf_xml_once(c, &drv));
            TRY(qv_conf_xml_check(c, QV_XML_EMPTY, "name"));
            TRY(qv_conf_xml_need_enum(c, "name", drivers, &v));
            h->driver = g_strdup(drivers[v]);
        } else {
            return qv_conf_xml_unknown(c);
        }
    }
    if (!addr)
        return qv_conf_xml_unmodelled(n, "<hostdev> needs <source><address domain= bus= slot= "
                                         "function=/></source>");
    return 0;
}

int qv_conf_xml_hostdev(const xmlNode *n, struct qv_hostdev **out)
{
    struct qv_hostdev *h = g_new0(struct qv_hostdev, 1);
    if (hostdev_parse(n, h) < 0) {
        qv_hostdev_free(h);
        return QV_ERR_XML;
    }
    *out = h;
    return 0;
}

/* ---- serial, console ---- */

static int chr_mode(const xmlNode *n, bool *listen)
{
    static const char *const modes[] = {"connect", "bind", NULL};
    int m;
    int rc = qv_conf_xml_attr_enum(n, "mode", modes, &m);
    if (rc == 1)
        *listen = m == 1;
    return rc < 0 ? rc : 0;
}

static int chr_source(const xmlNode *n, struct qv_chardev *c)
{
    switch (c->type) {
    case QV_CHR_PTY:
    case QV_CHR_FILE:
        TRY(qv_conf_xml_check(n, QV_XML_EMPTY, "path"));
        TRY(qv_conf_xml_attr_str(n, "path", qv_conf_check_path, &c->path));
        break;
    case QV_CHR_UNIX:
        TRY(qv_conf_xml_check(n, QV_XML_EMPTY, "path mode"));
        TRY(qv_conf_xml_attr_str(n, "path", qv_conf_check_path, &c->path));
        TRY(chr_mode(n, &c->listen));
        break;
    case QV_CHR_TCP:
        TRY(qv_conf_xml_check(n, QV_XML_EMPTY, "host service mode"));
        TRY(qv_conf_xml_attr_str(n, "host", qv_conf_check_host, &c->host));
        uint64_t port = 0;
        int rc = qv_conf_xml_attr_uint(n, "service", 65535, &port);
        TRY(rc);
        if (rc == 1) {
            if (port == 0)
                return qv_conf_xml_err(n, "service= must be a TCP port from 1 to 65535");
            c->service = g_strdup_printf("%" G_GUINT64_FORMAT, port);
        }
        TRY(chr_mode(n, &c->listen));
        break;
    case QV_CHR_STDIO:
    case QV_CHR_NULL:
        return qv_conf_xml_unmodelled(n, "<source> is not supported for a %s character device",
                                      qv_conf_chr_types[c->type]);
    }
    return 0;
}

/* A serial <target>'s <model name=>: the device behind the port. */
static int serial_target_model(const xmlNode *t, struct qv_chardev *c)
{
    const xmlNode *model = NULL;
    FOR_EACH_ELEMENT(t, m)
    {
        if (!qv_conf_xml_is(m, "model"))
            return qv_conf_xml_unknown(m);
        TRY(qv_conf_xml_once(m, &model));
        TRY(qv_conf_xml_check(m, QV_XML_EMPTY, "name"));
        int v;
        TRY(qv_conf_xml_need_enum(m, "name", qv_conf_serial_models, &v));
        c->target_model = g_strdup(qv_conf_serial_models[v]);
    }
    return 0;
}

static int chardev_parse(const xmlNode *n, struct qv_chardev *c)
{
    bool console = xmlStrEqual(n->name, (const xmlChar *)"console");
    int v;
    TRY(qv_conf_xml_check(n, QV_XML_ELEMS, "type"));
    TRY(qv_conf_xml_need_enum(n, "type", qv_conf_chr_types, &v));
    c->type = (enum qv_chardev_type)v;
    const xmlNode *src = NULL, *tgt = NULL;
    FOR_EACH_ELEMENT(n, k)
    {
        if (qv_conf_xml_is(k, "source")) {
            TRY(qv_conf_xml_once(k, &src));
            TRY(chr_source(k, c));
        } else if (qv_conf_xml_is(k, "target")) {
            TRY(qv_conf_xml_once(k, &tgt));
            TRY(qv_conf_xml_check(k, console ? QV_XML_EMPTY : QV_XML_ELEMS, "type port"));
            uint64_t port = 0;
            TRY(qv_conf_xml_attr_uint(k, "port", 255, &port));
            c->port = (uint32_t)port;
            const char *const *types = console ? qv_conf_console_targets : qv_conf_serial_targets;
            TRY(enum_str(k, "type", types, &c->target_type));
            TRY(serial_target_model(k, c));
        } else if (qv_conf_xml_is(k, "address") && c->addr.type == QV_ADDR_NONE) {
            /* A serial's ISA I/O port or PCI slot, a virtio console's port. */
            unsigned types = console ? QV_ADDR_MASK(QV_ADDR_VIRTIO_SERIAL)
                                     : QV_ADDR_MASK(QV_ADDR_ISA) | QV_ADDR_MASK(QV_ADDR_PCI);
            TRY(qv_conf_xml_address_of(k, types, &c->addr));
        } else {
            return qv_conf_xml_unknown(k);
        }
    }
    if ((c->type == QV_CHR_FILE || c->type == QV_CHR_UNIX) && !c->path)
        return qv_conf_xml_unmodelled(n, "<%s type='%s'> needs <source path=...>", n->name,
                                      qv_conf_chr_types[c->type]);
    if (c->type == QV_CHR_TCP && (!c->host || !c->service))
        return qv_conf_xml_unmodelled(n, "<%s type='tcp'> needs <source host=... service=...>",
                                      n->name);
    return 0;
}

int qv_conf_xml_chardev(const xmlNode *n, struct qv_chardev **out)
{
    struct qv_chardev *c = g_new0(struct qv_chardev, 1);
    if (chardev_parse(n, c) < 0) {
        qv_chardev_free(c);
        return QV_ERR_XML;
    }
    *out = c;
    return 0;
}

/* ---- channel ---- */

static int channel_parse(const xmlNode *n, struct qv_channel *ch)
{
    static const char *const types[] = {"pty", "unix", NULL};
    static const char *const targets[] = {"virtio", NULL};
    static const char *const binds[] = {"bind", NULL};
    int v;
    TRY(qv_conf_xml_check(n, QV_XML_ELEMS, "type"));
    TRY(qv_conf_xml_need_enum(n, "type", types, &v));
    ch->type = v == 0 ? QV_CHR_PTY : QV_CHR_UNIX;
    const xmlNode *src = NULL, *tgt = NULL;
    FOR_EACH_ELEMENT(n, c)
    {
        if (qv_conf_xml_is(c, "source")) {
            TRY(qv_conf_xml_once(c, &src));
            TRY(qv_conf_xml_check(c, QV_XML_EMPTY, ch->type == QV_CHR_UNIX ? "path mode" : "path"));
            TRY(qv_conf_xml_attr_str(c, "path", qv_conf_check_path, &ch->path));
            TRY(qv_conf_xml_attr_enum(c, "mode", binds, &v));
        } else if (qv_conf_xml_is(c, "target")) {
            TRY(qv_conf_xml_once(c, &tgt));
            TRY(qv_conf_xml_check(c, QV_XML_EMPTY, "type name"));
            TRY(qv_conf_xml_need_enum(c, "type", targets, &v));
            ch->target_type = g_strdup(targets[v]);
            TRY(qv_conf_xml_attr_str(c, "name", qv_conf_check_token, &ch->target_name));
        } else if (qv_conf_xml_is(c, "address") && ch->addr.type == QV_ADDR_NONE) {
            TRY(qv_conf_xml_address_of(c, QV_ADDR_MASK(QV_ADDR_VIRTIO_SERIAL), &ch->addr));
        } else {
            return qv_conf_xml_unknown(c);
        }
    }
    if (!tgt)
        return qv_conf_xml_unmodelled(n, "<channel> needs a <target type='virtio' name=...>");
    return 0;
}

int qv_conf_xml_channel(const xmlNode *n, struct qv_channel **out)
{
    struct qv_channel *c = g_new0(struct qv_channel, 1);
    if (channel_parse(n, c) < 0) {
        qv_channel_free(c);
        return QV_ERR_XML;
    }
    *out = c;
    return 0;
}

/* ---- graphics ---- */

static int graphics_parse(const xmlNode *n, struct qv_graphics *g)
{
    static const char *const listen_types[] = {"address", NULL};
    int v;
    TRY(qv_conf_xml_check(n, QV_XML_ELEMS, "type port autoport listen"));
    TRY(qv_conf_xml_need_enum(n, "type", qv_conf_graphics_types, &v));
    g->type = (enum qv_graphics_type)v;
    g->port = -1;
    g_autofree char *port = qv_conf_xml_attr(n, "port");
    uint64_t p;
    if (port && strcmp(port, "-1") != 0) {
        if (!qv_conf_parse_uint(port, 65535, &p) || p == 0)
            return qv_conf_xml_err(n, "<graphics> port='%s' must be -1 or from 1 to 65535", port);
        g->port = (int)p;
    }
    bool autoport = g->port < 0;
    TRY(qv_conf_xml_attr_yesno(n, "autoport", &autoport));
    if (autoport)
        g->port = -1;
    else if (g->port < 0)
        return qv_conf_xml_unmodelled(n, "<graphics autoport='no'> needs a port=");
    TRY(qv_conf_xml_attr_str(n, "listen", qv_conf_check_host, &g->listen));
    const xmlNode *l = NULL;
    FOR_EACH_ELEMENT(n, c)
    {
        if (!qv_conf_xml_is(c, "listen"))
            return qv_conf_xml_unknown(c);
        TRY(qv_conf_xml_once(c, &l));
        TRY(qv_conf_xml_check(c, QV_XML_EMPTY, "type address"));
        TRY(qv_conf_xml_need_enum(c, "type", listen_types, &v));
        g_autofree char *addr = NULL;
        g->listen_elem = true;
        TRY(qv_conf_xml_attr_str(c, "address", qv_conf_check_host, &addr));
        if (!addr) /* libvirt's way of saying its default address */
            continue;
        if (g->listen && strcmp(g->listen, addr) != 0)
            return qv_conf_xml_unmodelled(c,
                                          "<listen address='%s'> differs from listen='%s' on "
                                          "<graphics>",
                                          addr, g->listen);
        g_free(g->listen);
        g->listen = g_steal_pointer(&addr);
    }
    return 0;
}

int qv_conf_xml_graphics(const xmlNode *n, struct qv_graphics **out)
{
    struct qv_graphics *g = g_new0(struct qv_graphics, 1);
    if (graphics_parse(n, g) < 0) {
        qv_graphics_free(g);
        return QV_ERR_XML;
    }
    *out = g;
    return 0;
}

/* ---- rng ---- */

static int rng_parse(const xmlNode *n, struct qv_rng *r)
{
    static const char *const backends[] = {"random", NULL};
    int v;
    TRY(qv_conf_xml_check(n, QV_XML_ELEMS, "model"));
    TRY(qv_conf_xml_need_enum(n, "model", qv_conf_rng_models, &v));
    r->model = g_strdup(qv_conf_rng_models[v]);
    const xmlNode *b = NULL;
    FOR_EACH_ELEMENT(n, c)
    {
        if (qv_conf_xml_is(c, "address") && r->addr.type == QV_ADDR_NONE) {
            TRY(qv_conf_xml_address_of(c, QV_ADDR_MASK(QV_ADDR_PCI), &r->addr));
            continue;
        }
        if (!qv_conf_xml_is(c, "backend"))
            return qv_conf_xml_unknown(c);
        TRY(qv_conf_xml_once(c, &b));
        TRY(qv_conf_xml_check(c, QV_XML_TEXT, "model"));
        TRY(qv_conf_xml_need_enum(c, "model", backends, &v));
        g_autofree char *text = qv_conf_xml_text(c);
        if (*g_strstrip(text))
            TRY(qv_conf_xml_text_str(c, qv_conf_check_path, &r->backend));
    }
    if (!b)
        return qv_conf_xml_unmodelled(n, "<rng> needs a <backend model='random'>");
    return 0;
}

int qv_conf_xml_rng(const xmlNode *n, struct qv_rng **out)
{
    struct qv_rng *r = g_new0(struct qv_rng, 1);
    if (rng_parse(n, r) < 0) {
        qv_rng_free(r);
        return QV_ERR_XML;
    }
    *out = r;
    return 0;
}
