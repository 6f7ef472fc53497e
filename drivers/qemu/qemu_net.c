/* Host side of tap and bridge NICs: the tap qv names, its bridge, and
 * <bandwidth> enforced with tc. QEMU (as root) makes the tap it is told
 * to name (-netdev tap,ifname=qvtMAC), so qv knows which host interface is
 * which NIC; qv then puts a bridge NIC's tap on its bridge. qemu-bridge-
 * helper, used without CAP_NET_ADMIN, picks a tap name QEMU never learns,
 * so such a NIC cannot be shaped.
 *
 * inbound (host to guest) is what leaves the host through the tap: a tbf
 * qdisc at the tap's root. outbound (guest to host) arrives on the tap's
 * ingress, where packets can only be dropped, not queued: they are
 * redirected (mirred) to an ifb device qvi<MAC> whose root tbf shapes
 * them. (act_police would drop instead, and not every kernel has it.)
 * tc and ip run as argv, never through a shell. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../../lib/api/stats.h"
#include "../../lib/host/host_net.h"
#include "../../lib/proc/proc.h"
#include "../../lib/util/error.h"
#include "../../lib/util/json.h"
#include "qemu_vm.h"

#define IFB_PREFIX "qvi"
/* Burst when <bandwidth> gives none: 100 ms at the average rate, at
 * least 32 KiB (a few full-size frames, so the rate can be reached). */
#define DEFAULT_BURST_MIN 32768
#define TBF_LATENCY "50ms"
#define PEAK_MTU "65536"

bool qemu_net_has_limit(const struct qv_net *n)
{
    return n->inbound_kbps || n->outbound_kbps;
}

int qemu_net_bridge_attach(struct qemu_vm *q, const char *tap, const char *bridge)
{
    int rc = host_bridge_attach(q->name, tap, bridge);
    if (rc == 0)
        proc_log(q->dir, "tap %s on bridge %s", tap, bridge);
    return rc;
}

/* The root qdisc of dev from `tc -j qdisc show`: its kind, and a tbf's
 * rate (bytes/s). NULL kind when dev has none of its own. */
static int qdiscs(const char *dev, char **root_kind, uint64_t *rate, bool *ingress)
{
    *root_kind = NULL;
    *rate = 0;
    *ingress = false;
    const char *argv[] = {"tc", "-j", "qdisc", "show", "dev", dev, NULL};
    g_autofree char *out = NULL;
    int rc = host_net_tool(argv, &out);
    if (rc < 0)
        return rc;
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) root = qv_json_parse_bounded(out, strlen(out), "tc -j qdisc show", &err);
    JsonArray *a = root && JSON_NODE_HOLDS_ARRAY(root) ? json_node_get_array(root) : NULL;
    if (!a)
        return qv_error_set(QV_ERR_PROTOCOL, "tc -j qdisc show dev %s printed no JSON array", dev);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
        const char *kind = qv_json_str(o, "kind");
        if (!kind)
            continue;
        if (strcmp(kind, "ingress") == 0)
            *ingress = true;
        JsonNode *r = o ? json_object_get_member(o, "root") : NULL;
        if (r && JSON_NODE_HOLDS_VALUE(r) && json_node_get_boolean(r)) {
            g_free(*root_kind);
            *root_kind = g_strdup(kind);
            gint64 v = qv_json_int(qv_json_obj(o, "options"), "rate", 0);
            *rate = v > 0 ? (uint64_t)v : 0;
        }
    }
    return 0;
}

/* A tbf at dev's root for avg/peak KiB/s and burst KiB, or none (avg 0). */
static int shape_egress(const char *dev, uint64_t avg, uint64_t peak, uint64_t burst)
{
    if (!avg) {
        g_autofree char *kind = NULL;
        uint64_t rate;
        bool ingress;
        int rc = qdiscs(dev, &kind, &rate, &ingress);
        if (rc < 0 || !kind || strcmp(kind, "tbf") != 0)
            return rc;
        const char *del[] = {"tc", "qdisc", "del", "dev", dev, "root", NULL};
        return host_net_tool(del, NULL);
    }
    /* tc's "bit" is bits per second; libvirt's units are KiB. */
    g_autofree char *rate = g_strdup_printf("%" G_GUINT64_FORMAT "bit", avg * 1024 * 8);
    uint64_t burst_bytes = burst ? burst * 1024 : MAX(avg * 1024 / 10, DEFAULT_BURST_MIN);
    g_autofree char *bursts = g_strdup_printf("%" G_GUINT64_FORMAT, burst_bytes);
    g_autofree char *peaks = g_strdup_printf("%" G_GUINT64_FORMAT "bit", peak * 1024 * 8);
    const char *argv[] = {"tc",    "qdisc",     "replace", "dev",   dev,   "root",   "tbf",
                          "rate",  rate,        "burst",   bursts,  "latency", TBF_LATENCY,
                          peak ? "peakrate" : NULL, peaks, "mtu", PEAK_MTU, NULL};
    return host_net_tool(argv, NULL);
}

int qemu_net_shape(struct qemu_vm *q, const struct qv_net *n, const char *tap)
{
    int rc = shape_egress(tap, n->inbound_kbps, n->inbound_peak_kbps, n->inbound_burst_kib);
    g_autofree char *ifb = host_net_mac_name(IFB_PREFIX, n->mac);
    if (rc == 0 && n->outbound_kbps) {
        const char *add[] = {"ip", "link", "add", "name", ifb, "type", "ifb", NULL};
        const char *up[] = {"ip", "link", "set", "dev", ifb, "up", NULL};
        const char *del[] = {"tc", "qdisc", "del", "dev", tap, "ingress", NULL};
        const char *ingress[] = {"tc", "qdisc", "add", "dev", tap, "handle", "ffff:", "ingress",
                                 NULL};
        const char *redirect[] = {"tc",     "filter", "add",     "dev",    tap,      "parent",
                                  "ffff:",  "protocol", "all",   "prio",   "1",      "u32",
                                  "match",  "u32",    "0",       "0",      "action", "mirred",
                                  "egress", "redirect", "dev",   ifb,      NULL};
        if (!host_link_exists(ifb))
            rc = host_net_tool(add, NULL);
        if (rc == 0)
            rc = host_net_tool(up, NULL);
        if (rc == 0)
            rc = shape_egress(ifb, n->outbound_kbps, n->outbound_peak_kbps,
                              n->outbound_burst_kib);
        g_autofree char *kind = NULL;
        uint64_t rate;
        bool has_ingress = false;
        if (rc == 0)
            rc = qdiscs(tap, &kind, &rate, &has_ingress);
        /* Always a fresh filter: one left by an earlier run may point
         * elsewhere. */
        if (rc == 0 && has_ingress)
            rc = host_net_tool(del, NULL);
        if (rc == 0)
            rc = host_net_tool(ingress, NULL);
        if (rc == 0)
            rc = host_net_tool(redirect, NULL);
    } else if (rc == 0) {
        g_autofree char *kind = NULL;
        uint64_t rate;
        bool has_ingress = false;
        const char *del[] = {"tc", "qdisc", "del", "dev", tap, "ingress", NULL};
        const char *gone[] = {"ip", "link", "del", "dev", ifb, NULL};
        rc = qdiscs(tap, &kind, &rate, &has_ingress);
        if (rc == 0 && has_ingress)
            rc = host_net_tool(del, NULL);
        if (rc == 0 && host_link_exists(ifb))
            rc = host_net_tool(gone, NULL);
    }
    if (rc < 0) {
        qv_error_prefix("VM '%s': cannot limit NIC %s (tap %s) with tc", q->name, n->mac, tap);
        return rc;
    }
    proc_log(q->dir,
             "NIC %s (tap %s): inbound %" G_GUINT64_FORMAT " KiB/s, outbound %" G_GUINT64_FORMAT
             " KiB/s (0: none)",
             n->mac, tap, n->inbound_kbps, n->outbound_kbps);
    return 0;
}

void qemu_net_release(struct qemu_vm *q, const char *mac)
{
    g_autofree char *ifb = host_net_mac_name(IFB_PREFIX, mac);
    if (!host_link_exists(ifb))
        return;
    const char *gone[] = {"ip", "link", "del", "dev", ifb, NULL};
    if (host_net_tool(gone, NULL) < 0) {
        proc_log(q->dir, "cannot remove %s: %s", ifb, qv_last_error()->message);
        qv_reset_error();
    }
}

void qemu_net_release_all(struct qemu_vm *q)
{
    g_autoptr(qv_domain) def = qemu_vm_load_def(q);
    for (guint i = 0; def && i < def->nets->len; i++)
        qemu_net_release(q, ((const struct qv_net *)g_ptr_array_index(def->nets, i))->mac);
    qv_reset_error();
}

/* Whether process pid holds tun device name open: the kernel shows it as
 * "iff:\tNAME" in the descriptor's fdinfo. */
static bool holds_tap(pid_t pid, const char *name)
{
    g_autofree char *dir = g_strdup_printf("/proc/%d/fdinfo", (int)pid);
    DIR *d = opendir(dir);
    if (!d)
        return false;
    g_autofree char *want = g_strdup_printf("\niff:\t%s\n", name);
    bool found = false;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        g_autofree char *p = g_build_filename(dir, e->d_name, NULL);
        g_autofree char *text = NULL;
        gsize len = 0;
        if (g_file_get_contents(p, &text, &len, NULL) && len < 4096)
            found = strstr(text, want) != NULL;
    }
    closedir(d);
    return found;
}

char *qemu_net_running_tap(struct qemu_vm *q, pid_t pid, const struct qv_net *n)
{
    if (n->type == QV_NET_USER) {
        qv_error_set(QV_ERR_UNSUPPORTED,
                     "VM '%s': NIC %s is user-mode (type='user'): it has no host tap to limit; "
                     "use a bridge or tap NIC",
                     q->name, n->mac);
        return NULL;
    }
    if (n->type != QV_NET_BRIDGE && n->type != QV_NET_ETHERNET) {
        qv_error_set(QV_ERR_UNSUPPORTED, "VM '%s': NIC %s has no tap qv can limit", q->name,
                     n->mac);
        return NULL;
    }
    char *tap =
        n->type == QV_NET_ETHERNET && n->source ? g_strdup(n->source) : host_tap_name(n->mac);
    if (!holds_tap(pid, tap)) {
        qv_error_set(QV_ERR_UNSUPPORTED,
                     "VM '%s': NIC %s is not on a tap qv knows (%s): it was started without "
                     "CAP_NET_ADMIN (a bridge NIC then goes through qemu-bridge-helper, which "
                     "names its own tap); restart the VM as root to limit it",
                     q->name, n->mac, tap);
        g_free(tap);
        return NULL;
    }
    return tap;
}

int qemu_net_at_start(struct qemu_vm *q, const struct qv_domain *def, const char *const *taps)
{
    for (guint i = 0; i < def->nets->len; i++) {
        const struct qv_net *n = g_ptr_array_index(def->nets, i);
        const char *tap = taps ? taps[i] : NULL;
        if (n->type == QV_NET_ETHERNET && n->source)
            tap = n->source;
        int rc = 0;
        if (tap && n->type == QV_NET_BRIDGE)
            rc = qemu_net_bridge_attach(q, tap, n->source);
        if (rc == 0 && tap && qemu_net_has_limit(n))
            rc = qemu_net_shape(q, n, tap);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int qemu_net_live(struct qemu_vm *q, const struct qv_domain *def, const char *mac)
{
    struct proc_runtime rt;
    int rc = proc_runtime_read(q->dir, &rt);
    pid_t pid = 0;
    if (rc == 0) {
        pid = rt.id.pid;
        proc_runtime_clear(&rt);
    }
    for (guint i = 0; rc == 0 && i < def->nets->len; i++) {
        const struct qv_net *n = g_ptr_array_index(def->nets, i);
        if (mac && g_ascii_strcasecmp(mac, n->mac) != 0)
            continue;
        g_autofree char *tap = qemu_net_running_tap(q, pid, n);
        rc = tap ? qemu_net_shape(q, n, tap) : qv_error_code();
    }
    return rc;
}

int qemu_net_read(struct qemu_vm *q, pid_t pid, const struct qv_domain *def, GArray *out)
{
    for (guint i = 0; i < def->nets->len; i++) {
        const struct qv_net *n = g_ptr_array_index(def->nets, i);
        g_autofree char *tap = qemu_net_running_tap(q, pid, n);
        if (!tap) {
            qv_reset_error(); /* a NIC without a known tap has nothing in force */
            continue;
        }
        g_autofree char *kind = NULL, *ifb_kind = NULL;
        uint64_t in = 0, outb = 0;
        bool ingress = false, ifb_ingress;
        int rc = qdiscs(tap, &kind, &in, &ingress);
        g_autofree char *ifb = host_net_mac_name(IFB_PREFIX, n->mac);
        if (rc == 0 && ingress && host_link_exists(ifb))
            rc = qdiscs(ifb, &ifb_kind, &outb, &ifb_ingress);
        if (rc < 0) {
            qv_error_prefix("cannot read the limits of NIC %s of VM '%s'", n->mac, q->name);
            return rc;
        }
        qv_stats_str(out, n->mac, "net.%u.mac", i);
        qv_stats_str(out, tap, "net.%u.tap", i);
        qv_stats_uint(out, kind && strcmp(kind, "tbf") == 0 ? in : 0, "net.%u.inbound_bytes_sec", i);
        qv_stats_uint(out, ifb_kind && strcmp(ifb_kind, "tbf") == 0 ? outb : 0,
                      "net.%u.outbound_bytes_sec", i);
    }
    return 0;
}
