/* <interface type='network'> on the qemu driver. A libvirt network is
 * something libvirtd runs (a bridge, dnsmasq, NAT rules); qv has no daemon,
 * so at each start it maps the NIC onto what the host has:
 * 1. a network libvirt has active here, whose record libvirtd keeps in
 *    /run/libvirt/network/NAME.xml while it runs, is joined through its
 *    bridge, as libvirt does (a bridge NIC on that bridge);
 * 2. otherwise the network named "default" becomes user-mode networking,
 *    which gives the guest what libvirt's default network does (DHCP and
 *    outbound NAT, nothing inbound);
 * 3. any other network is refused at start, naming it.
 * The definition keeps type='network'; only this start's copy changes. */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../lib/conf/xml_util.h"
#include "../../lib/proc/proc.h"
#include "../../lib/util/error.h"
#include "qemu_vm.h"

#define LIBVIRT_NETWORK_STATUS_MAX (256 * 1024)

static const char *status_dir(void)
{
    /* Tests point this at a directory of their own. */
    const char *d = g_getenv("QV_LIBVIRT_NETWORK_DIR");
    return d && *d ? d : "/run/libvirt/network";
}

static const xmlNode *find_bridge(const xmlNode *n)
{
    for (; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (xmlStrEqual(n->name, (const xmlChar *)"bridge") && xmlHasProp(n, (const xmlChar *)"name"))
            return n;
        const xmlNode *in = find_bridge(n->children);
        if (in)
            return in;
    }
    return NULL;
}

/* The bridge libvirt's active network `name` runs on: 0 with *out NULL
 * when the network is not active here. The record is opened without
 * following a link and without waiting on a FIFO, and must be a regular
 * file: anything else there is refused, naming it. */
static int active_bridge(const char *vm, const char *name, char **out)
{
    *out = NULL;
    g_autofree char *path = g_strdup_printf("%s/%s.xml", status_dir(), name);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 && errno == ELOOP)
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "VM '%s': libvirt network status file %s is a symbolic link", vm, path);
    if (fd < 0)
        return 0;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "VM '%s': libvirt network status file %s is not a regular file", vm,
                            path);
    }
    g_autofree char *text = g_malloc(LIBVIRT_NETWORK_STATUS_MAX + 1);
    ssize_t len = 0, r;
    while (len < LIBVIRT_NETWORK_STATUS_MAX &&
           (r = read(fd, text + len, LIBVIRT_NETWORK_STATUS_MAX - len)) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        len += r;
    }
    close(fd);
    text[len] = '\0';
    xmlDoc *doc = qv_conf_xml_read(text, path);
    if (!doc) {
        qv_reset_error(); /* not a record qv can read: as if inactive */
        return 0;
    }
    const xmlNode *b = find_bridge(xmlDocGetRootElement(doc));
    char *bridge = b ? qv_conf_xml_attr(b, "name") : NULL;
    xmlFreeDoc(doc);
    if (bridge && (strlen(bridge) >= IFNAMSIZ || if_nametoindex(bridge) == 0)) {
        g_free(bridge); /* the record outlived its bridge */
        return 0;
    }
    *out = bridge;
    return 0;
}

/* A network's name becomes a file name (NAME.xml): letters, digits, '_',
 * '.', '-', and not "." or "..". */
bool qemu_network_name_ok(const char *s)
{
    if (!s || !*s || strcmp(s, ".") == 0 || strcmp(s, "..") == 0 || strlen(s) > 255)
        return false;
    for (const char *p = s; *p; p++)
        if (!g_ascii_isalnum(*p) && !strchr("_.-", *p))
            return false;
    return true;
}

int qemu_networks_resolve(struct qemu_vm *q, struct qv_domain *def)
{
    for (guint i = 0; i < def->nets->len; i++) {
        struct qv_net *n = g_ptr_array_index(def->nets, i);
        if (n->type != QV_NET_NETWORK)
            continue;
        if (!qemu_network_name_ok(n->source))
            return qv_error_set(QV_ERR_INVALID_ARG,
                                "VM '%s': NIC %s: network name '%s' is not one qv can look up "
                                "(letters, digits, '_', '.', '-'; not '.' or '..')",
                                q->name, n->mac, n->source ? n->source : "");
        char *bridge = NULL;
        if (active_bridge(q->name, n->source, &bridge) < 0)
            return qv_error_code();
        if (bridge) {
            proc_log(q->dir, "NIC %s: libvirt network '%s' is active: joining its bridge %s",
                     n->mac, n->source, bridge);
            n->type = QV_NET_BRIDGE;
            g_free(n->source);
            n->source = bridge;
        } else if (g_strcmp0(n->source, "default") == 0) {
            proc_log(q->dir, "NIC %s: network 'default' is not an active libvirt network here: "
                     "user-mode networking", n->mac);
            n->type = QV_NET_USER;
            g_clear_pointer(&n->source, g_free);
        } else {
            return qv_error_set(QV_ERR_UNSUPPORTED,
                                "VM '%s': NIC %s is on libvirt network '%s', which is not active "
                                "on this host (no bridge recorded in %s/%s.xml); qv joins an "
                                "active libvirt network's bridge and maps 'default' to user-mode "
                                "networking",
                                q->name, n->mac, n->source ? n->source : "", status_dir(),
                                n->source ? n->source : "");
        }
    }
    return 0;
}
