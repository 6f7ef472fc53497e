/* NICs, rng, VNC, PCI passthrough and the cloud-init seed on the QEMU
 * command line. */
#include <string.h>

#include "../../lib/util/error.h"
#include "qemu_argv.h"

int qemu_argv_add_net(struct qemu_argv *v, guint i)
{
    const struct qv_domain *def = v->def;
    const struct qv_net *n = g_ptr_array_index(def->nets, i);
    if (n->type == QV_NET_USER && (n->inbound_kbps || n->outbound_kbps))
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "VM '%s': NIC %s is user-mode (type='user'): it has no host tap for "
                            "<bandwidth> to shape; use a bridge or tap NIC",
                            def->name, n->mac);
    const char *tap = v->l->tap_names ? v->l->tap_names[i] : NULL;
    GString *nd = g_string_new(NULL);
    switch (n->type) {
    case QV_NET_USER: {
        g_string_printf(nd, "user,id=net%u", i);
        uint16_t port = v->l->ssh_ports ? v->l->ssh_ports[i] : n->host_port;
        if (port)
            g_string_append_printf(nd, ",hostfwd=tcp:127.0.0.1:%u-:22", port);
        break;
    }
    case QV_NET_BRIDGE:
        if (!qemu_plain_word(n->source) || strlen(n->source) > 15) {
            g_string_free(nd, TRUE);
            return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': '%s' is not a bridge name", def->name,
                                n->source ? n->source : "");
        }
        /* A tap QEMU makes under the name qv gives it; qv puts it on the
         * bridge (qemu_net.c). Without one, qemu-bridge-helper. */
        if (tap)
            g_string_printf(nd, "tap,id=net%u,ifname=%s,script=no,downscript=no", i, tap);
        else
            g_string_printf(nd, "bridge,id=net%u,br=%s", i, n->source);
        break;
    case QV_NET_NETWORK:
        if (!qemu_network_name_ok(n->source)) {
            g_string_free(nd, TRUE);
            return qv_error_set(QV_ERR_INVALID_ARG,
                                "VM '%s': <interface type='network'> <source network='%s'>: not "
                                "a network name qv can look up (letters, digits, '_', '.', '-'; "
                                "not '.' or '..')",
                                def->name, n->source ? n->source : "");
        }
        /* A start maps it first (qemu_network.c); at define, with no
         * launch yet, it is checked with the shape of the usual outcome. */
        if (v->l->ssh_ports || v->l->tap_names) {
            g_string_free(nd, TRUE);
            return qemu_argv_unsupported(v, "an unresolved <interface type='network'>");
        }
        g_string_printf(nd, "user,id=net%u", i);
        break;
    case QV_NET_ETHERNET:
        g_string_printf(nd, "tap,id=net%u,script=no,downscript=no", i);
        if (n->source) {
            if (!qemu_plain_word(n->source) || strlen(n->source) > 15) {
                g_string_free(nd, TRUE);
                return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': '%s' is not a tap device name",
                                    def->name, n->source);
            }
            g_string_append_printf(nd, ",ifname=%s", n->source);
        } else if (tap) {
            g_string_append_printf(nd, ",ifname=%s", tap);
        }
        break;
    default:
        g_string_free(nd, TRUE);
        return qemu_argv_unsupported(
            v, "<interface type='direct'> (macvtap)");
    }
    const char *model = "virtio-net-pci";
    if (n->model && strcmp(n->model, "virtio") != 0) {
        if (strcmp(n->model, "e1000") && strcmp(n->model, "e1000e") &&
            strcmp(n->model, "rtl8139")) {
            g_string_free(nd, TRUE);
            return qv_error_set(QV_ERR_UNSUPPORTED,
                                "VM '%s': NIC model '%s' is not supported (virtio, e1000, e1000e, "
                                "rtl8139)",
                                def->name, n->model);
        }
        model = n->model;
    }
    g_autofree char *bus = NULL;
    g_autofree char *what = g_strdup_printf("<interface> %s", n->mac);
    int rc = qemu_argv_device_at(v, &n->addr, what, &bus);
    if (rc < 0) {
        g_string_free(nd, TRUE);
        return rc;
    }
    GString *dev = g_string_new(NULL);
    g_string_printf(dev, "%s,netdev=net%u,id=nic%u,mac=%s%s", model, i, i, n->mac, bus);
    if ((rc = qemu_argv_net_driver(v, n, nd, dev)) < 0) {
        g_string_free(nd, TRUE);
        g_string_free(dev, TRUE);
        return rc;
    }
    qemu_argv_add(v, "-netdev");
    g_ptr_array_add(v->a, g_string_free(nd, FALSE));
    if (n->boot_order)
        g_string_append_printf(dev, ",bootindex=%u", n->boot_order);
    qemu_argv_add(v, "-device");
    g_ptr_array_add(v->a, g_string_free(dev, FALSE));
    return 0;
}

int qemu_argv_add_devices(struct qemu_argv *v)
{
    const struct qv_domain *def = v->def;
    for (guint i = 0; i < def->rngs->len; i++) {
        const struct qv_rng *r = g_ptr_array_index(def->rngs, i);
        if (r->model && strcmp(r->model, "virtio"))
            return qemu_argv_unsupported(v, "an <rng> model other than virtio");
        g_autofree char *file = qemu_opt_escape(r->backend ? r->backend : "/dev/urandom");
        qemu_argv_add(v, "-object");
        qemu_argv_addf(v, "rng-random,id=rng%u,filename=%s", i, file);
        g_autofree char *at = NULL;
        g_autofree char *what = g_strdup_printf("<rng> %u", i + 1);
        if (r->addr.type != QV_ADDR_NONE && qemu_argv_pci_at(v, &r->addr, what, &at) < 0)
            return qv_error_code();
        qemu_argv_add(v, "-device");
        qemu_argv_addf(v, "virtio-rng-pci,rng=rng%u,id=rngdev%u%s", i, i, at ? at : "");
    }
    bool vnc = false;
    for (guint i = 0; i < def->graphics->len; i++) {
        const struct qv_graphics *g = g_ptr_array_index(def->graphics, i);
        if (g->type == QV_GRAPHICS_SPICE) {
            int rc = qemu_argv_spice_graphics(v, g);
            if (rc < 0)
                return rc;
            continue;
        }
        if (vnc)
            return qemu_argv_unsupported(v, "more than one <graphics>");
        vnc = true;
        const char *listen = g->listen ? g->listen : "127.0.0.1";
        if (!qemu_plain_word(listen) && !strchr(listen, ':'))
            return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': '%s' is not a VNC listen address",
                                def->name, listen);
        bool v6 = strchr(listen, ':') != NULL;
        qemu_argv_add2(v, "-device", "VGA");
        qemu_argv_add(v, "-vnc");
        if (g->port >= 5900 && g->port <= 5900 + 65535 - 5900)
            qemu_argv_addf(v, v6 ? "[%s]:%d" : "%s:%d", listen, g->port - 5900);
        else if (g->port < 0)
            qemu_argv_addf(v, v6 ? "[%s]:0,to=99" : "%s:0,to=99", listen);
        else
            return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': VNC port %d is below 5900", def->name,
                                g->port);
    }
    if (!vnc)
        qemu_argv_add2(v, "-display", "none");
    for (guint i = 0; i < def->hostdevs->len; i++) {
        const struct qv_hostdev *h = g_ptr_array_index(def->hostdevs, i);
        if (h->driver && strcmp(h->driver, "vfio"))
            return qemu_argv_unsupported(v, "a <hostdev> driver other than vfio");
        qemu_argv_add(v, "-device");
        qemu_argv_addf(v, "vfio-pci,host=%04x:%02x:%02x.%x,id=hostdev%u", h->domain, h->bus,
                       h->slot, h->function, i);
    }
    if (v->l->seed_iso) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        qemu_blockdev_begin(b, "file", "seed-file", TRUE, FALSE, FALSE, NULL);
        qemu_json_member_str(b, "filename", v->l->seed_iso);
        json_builder_end_object(b);
        qemu_argv_add(v, "-blockdev");
        g_ptr_array_add(v->a, qemu_json_text(b));
        qemu_argv_add2(
            v, "-blockdev",
            "{\"driver\":\"raw\",\"node-name\":\"seed\",\"read-only\":true,\"file\":\"seed-"
            "file\"}");
        /* cloud-init finds the volume by its label on any block device. */
        qemu_argv_add2(v, "-device", "virtio-blk-pci,drive=seed,id=seed");
    }
    return 0;
}
