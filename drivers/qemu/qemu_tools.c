/* Helpers around the VM: qemu-img, free ports, guest addresses. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../lib/proc/proc.h"
#include "../../lib/util/error.h"
#include "../../lib/util/fileio.h"
#include "../../lib/util/json.h"
#include "qemu.h"

int qemu_run_tool(const char *const *argv, char **out)
{
    return proc_run_tool(argv, out);
}

JsonNode *qemu_image_info(const char *path, bool shared)
{
    const char *own[] = {"qemu-img", "info", "--output=json", "--", path, NULL};
    /* -U: a running QEMU may hold the image's lock */
    const char *held[] = {"qemu-img", "info", "-U", "--output=json", "--", path, NULL};
    g_autofree char *out = NULL;
    if (qemu_run_tool(shared ? held : own, &out) < 0)
        return NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) root = qv_json_parse_bounded(out, strlen(out), "qemu-img info", &err);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        qv_error_set(QV_ERR_PROTOCOL, "qemu-img info on '%s' printed no JSON object%s%s", path,
                     err ? ": " : "", err ? err->message : "");
        return NULL;
    }
    return g_steal_pointer(&root);
}

int qemu_image_format(const char *path, char **format)
{
    g_autoptr(JsonNode) root = qemu_image_info(path, false);
    if (!root)
        return qv_error_code();
    const char *f = qv_json_str(json_node_get_object(root), "format");
    if (!f)
        return qv_error_set(QV_ERR_PROTOCOL, "qemu-img info on '%s' gave no format", path);
    *format = g_strdup(f);
    return 0;
}

/* qemu-img create argv[] (ending in the output file, then NULL) into a
 * temporary beside overlay, renamed into place when done: a start takes
 * any file at `overlay` for a finished overlay, so an interrupted creation
 * must not leave a partial one there. */
static int create_in_place(const char *overlay, const char **argv, int out_index)
{
    g_autofree char *dir = g_path_get_dirname(overlay);
    g_autofree char *name = g_path_get_basename(overlay);
    g_autofree char *tmp = g_strdup_printf("%s/.%s.XXXXXX", dir, name);
    int fd = g_mkstemp_full(tmp, O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0)
        return qv_error_set_errno(QV_ERR_IO, errno, "cannot create overlay '%s'", overlay);
    close(fd);
    argv[out_index] = tmp;
    int rc = qemu_run_tool(argv, NULL);
    if (rc == 0 && rename(tmp, overlay) < 0)
        rc = qv_error_set_errno(QV_ERR_IO, errno, "cannot rename '%s' to '%s'", tmp, overlay);
    if (rc < 0)
        unlink(tmp);
    return rc;
}

int qemu_overlay_create(const char *overlay, const char *base, const char *declared_format)
{
    g_autofree char *format = NULL;
    int rc = qemu_image_format(base, &format);
    if (rc < 0) {
        qv_error_prefix("cannot create overlay '%s' on '%s'", overlay, base);
        return rc;
    }
    if (declared_format && strcmp(declared_format, format) != 0)
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "base image '%s' is declared %s but qemu-img reports %s", base,
                            declared_format, format);
    /* An absolute backing path, so the overlay works from any directory. */
    g_autofree char *abs = g_canonicalize_filename(base, NULL);
    const char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", "-F",
                          format,     "-b",     abs,  "--", NULL,    NULL};
    rc = create_in_place(overlay, argv, 10);
    if (rc < 0)
        qv_error_prefix("cannot create overlay '%s' on '%s'", overlay, base);
    return rc;
}

int qemu_overlay_create_sized(const char *overlay, const char *base, const char *format,
                              guint64 size)
{
    /* -u: base is not opened (a running QEMU may hold its write lock). */
    g_autofree char *abs = g_canonicalize_filename(base, NULL);
    g_autofree char *sz = g_strdup_printf("%" G_GUINT64_FORMAT, size);
    const char *argv[] = {"qemu-img", "create", "-q", "-u", "-f", "qcow2", "-F",
                          format,     "-b",     abs,  "--", NULL, sz,      NULL};
    int rc = create_in_place(overlay, argv, 11);
    if (rc < 0)
        qv_error_prefix("cannot create overlay '%s' on '%s'", overlay, base);
    return rc;
}

/* Whether port can be bound on 127.0.0.1 right now. */
static bool port_free(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    /* As QEMU's forwarder binds it: a port with connections in TIME_WAIT
     * is free for it, so it must be here too or the port would wander. */
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

static bool taken_by(const uint16_t *taken, guint ntaken, uint16_t p)
{
    for (guint i = 0; i < ntaken; i++)
        if (taken[i] == p)
            return true;
    return false;
}

int qemu_ssh_port(const char *vm_name, guint nic, const uint16_t *taken, guint ntaken,
                  uint16_t *port)
{
    /* djb2 (g_str_hash's documented algorithm), so a VM keeps its port
     * across restarts and qv versions while the port is free. */
    guint span = QEMU_SSH_PORT_LAST - QEMU_SSH_PORT_FIRST + 1;
    guint start = (g_str_hash(vm_name) + nic) % span;
    for (guint i = 0; i < span; i++) {
        uint16_t p = (uint16_t)(QEMU_SSH_PORT_FIRST + (start + i) % span);
        if (!taken_by(taken, ntaken, p) && port_free(p)) {
            *port = p;
            return 0;
        }
    }
    /* Every port of the range is taken: any free one still works. */
    for (int tries = 0; tries < 16; tries++) {
        int rc = qemu_free_port(port);
        if (rc < 0 || !taken_by(taken, ntaken, *port))
            return rc;
    }
    return qv_error_set(QV_ERR_SYSTEM, "cannot find a free TCP port for VM '%s'", vm_name);
}

bool qemu_hostfwd_lost(const char *log, const struct qv_domain *def, const uint16_t *ports)
{
    for (guint i = 0; log && ports && i < def->nets->len; i++) {
        const struct qv_net *n = g_ptr_array_index(def->nets, i);
        if (n->type != QV_NET_USER || n->host_port || !ports[i])
            continue;
        g_autofree char *rule = g_strdup_printf(
            "Could not set up host forwarding rule 'tcp:127.0.0.1:%u-:22'", ports[i]);
        if (strstr(log, rule))
            return true;
    }
    return false;
}

int qemu_free_port(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return qv_error_set_errno(QV_ERR_SYSTEM, errno, "cannot create a socket");
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
        int err = errno;
        close(fd);
        return qv_error_set_errno(QV_ERR_SYSTEM, err, "cannot find a free TCP port");
    }
    close(fd);
    *port = ntohs(sa.sin_port);
    return 0;
}

/* /proc/net/arp: "IP HWtype Flags HWaddress Mask Device". */
static char *ip_from_arp(const char *mac)
{
    g_autofree char *text = NULL;
    if (!g_file_get_contents("/proc/net/arp", &text, NULL, NULL))
        return NULL;
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        g_auto(GStrv) f = g_strsplit_set(*l, " \t", -1);
        const char *cols[6];
        int n = 0;
        for (char **c = f; *c && n < 6; c++)
            if (**c)
                cols[n++] = *c;
        /* Flags 0x0 is an incomplete entry. */
        if (n >= 4 && g_ascii_strcasecmp(cols[3], mac) == 0 && strcmp(cols[2], "0x0") != 0)
            return g_strdup(cols[0]);
    }
    return NULL;
}

/* dnsmasq leases: "expiry MAC IP hostname client-id". */
static char *ip_from_leases(const char *path, const char *mac)
{
    g_autofree char *text = NULL;
    if (!g_file_get_contents(path, &text, NULL, NULL))
        return NULL;
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    char *found = NULL;
    for (char **l = lines; *l; l++) {
        g_auto(GStrv) f = g_strsplit(*l, " ", 4);
        if (g_strv_length(f) >= 3 && g_ascii_strcasecmp(f[1], mac) == 0) {
            struct in_addr a;
            if (inet_pton(AF_INET, f[2], &a) == 1) {
                g_free(found); /* the last lease is the newest */
                found = g_strdup(f[2]);
            }
        }
    }
    return found;
}

int qemu_ip_for_mac(const char *mac, char **ip)
{
    char *found = ip_from_arp(mac);
    const char *env = g_getenv("QV_DNSMASQ_LEASES");
    const char *const lease_files[] = {env ? env : "/var/lib/misc/dnsmasq.leases",
                                       "/var/lib/libvirt/dnsmasq/default.leases", NULL};
    for (const char *const *p = lease_files; !found && *p; p++)
        found = ip_from_leases(*p, mac);
    if (!found)
        return qv_error_set(QV_ERR_NOT_FOUND,
                            "no IPv4 address is known for MAC %s yet (not in the ARP table nor in "
                            "dnsmasq's leases)",
                            mac);
    *ip = found;
    return 0;
}

int qemu_copy_small(const char *from, const char *to)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    g_autoptr(GError) err = NULL;
    if (!g_file_get_contents(from, &data, &len, &err))
        return qv_error_set(QV_ERR_IO, "cannot read '%s': %s", from, err->message);
    return qv_file_write_atomic(to, data, len, 0600);
}
