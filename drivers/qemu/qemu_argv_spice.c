/* <graphics type='spice'> as QEMU 7.2's -spice: a plaintext server on an
 * address and port (autoport: the first free one from 5900, as libvirt
 * picks it), on a unix socket, or none, with the options libvirt's
 * children give (<image>, <jpeg>, <zlib>, <playback>, <streaming>,
 * <clipboard>, <mouse>, <filetransfer>, <gl enable='no'>, <channel
 * mode='insecure'>). TLS needs certificates qv does not manage, so
 * tlsPort=, defaultMode='secure' and secure channels are refused; so are a
 * password (it would sit in the definition and on QEMU's command line)
 * and OpenGL (no render node here). The SPICE agent's <channel
 * type='spicevmc'> is a virtserialport on the virtio-serial bus. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../lib/conf/xml_util.h"
#include "../../lib/util/error.h"
#include "qemu_argv_machine.h"

#define SPICE_FIRST_PORT 5900

static const struct qv_kept *kept_spice(const struct qv_domain *def)
{
    for (guint i = 0; i < def->kept->len; i++) {
        const struct qv_kept *k = g_ptr_array_index(def->kept, i);
        if (strcmp(k->name, "graphics") == 0 && strcmp(k->parent, "devices") == 0 &&
            (strstr(k->xml, "type=\"spice\"") || strstr(k->xml, "type='spice'")))
            return k;
    }
    return NULL;
}

bool qemu_has_spice(const struct qv_domain *def)
{
    for (guint i = 0; i < def->graphics->len; i++)
        if (((const struct qv_graphics *)g_ptr_array_index(def->graphics, i))->type ==
            QV_GRAPHICS_SPICE)
            return true;
    return kept_spice(def) != NULL;
}

/* The first port from 5900 nothing listens on at addr; 0 if none is. */
static int free_port(const char *addr)
{
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_PASSIVE, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    if (getaddrinfo(addr, NULL, &hints, &ai) != 0 || !ai)
        return 0;
    int found = 0;
    for (int port = SPICE_FIRST_PORT; port <= 65535 && !found; port++) {
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            break;
        if (ai->ai_family == AF_INET6)
            ((struct sockaddr_in6 *)ai->ai_addr)->sin6_port = htons((uint16_t)port);
        else
            ((struct sockaddr_in *)ai->ai_addr)->sin_port = htons((uint16_t)port);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            found = port;
        close(fd);
    }
    freeaddrinfo(ai);
    return found;
}

/* Where it listens: "port=P,addr=A", "unix=on,addr=PATH" or "port=0". */
static int listen_opts(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n, GString *o)
{
    const xmlNode *l = qemu_xml_child(n, "listen");
    g_autofree char *ltype = l ? qemu_xml_prop(l, "type") : NULL;
    if (l && qemu_machine_only(v, k, l, "type address socket", "") < 0)
        return QV_ERR_UNSUPPORTED;
    if (ltype && strcmp(ltype, "none") == 0) {
        g_string_append(o, "port=0");
        return 0;
    }
    if (ltype && strcmp(ltype, "socket") == 0) {
        g_autofree char *sock = qemu_xml_prop(l, "socket");
        if (sock && sock[0] != '/')
            return qemu_machine_refuse(v, k, l, "socket= must be an absolute path");
        g_autofree char *path = sock ? qemu_opt_escape(sock) : NULL;
        g_autofree char *dir = qemu_opt_escape(v->l->dir);
        if (path)
            g_string_append_printf(o, "unix=on,addr=%s", path);
        else
            g_string_append_printf(o, "unix=on,addr=%s/spice.sock", dir);
        return 0;
    }
    if (ltype && strcmp(ltype, "address") != 0)
        return qemu_machine_refuse(v, k, l, "type='%s': qv runs no libvirt networks", ltype);
    g_autofree char *addr = l ? qemu_xml_prop(l, "address") : NULL;
    g_autofree char *attr = qemu_xml_prop(n, "listen");
    const char *listen = addr ? addr : attr ? attr : "127.0.0.1";
    if (!g_hostname_is_ip_address(listen))
        return qemu_machine_refuse(v, k, l ? l : n, "'%s' is not an IP address to listen on",
                                   listen);
    g_autofree char *port = qemu_xml_prop(n, "port");
    g_autofree char *autoport = qemu_xml_prop(n, "autoport");
    uint64_t p = 0;
    bool automatic = (autoport && strcmp(autoport, "yes") == 0) || !port || strcmp(port, "-1") == 0;
    if (!automatic && (!qemu_xml_hex(n, "port", 65535, &p) || p == 0))
        return qemu_machine_refuse(v, k, n, "port='%s' is not a TCP port", port);
    /* The port is picked when the VM starts, not when it is defined. */
    if (automatic && v->l->check_only)
        p = SPICE_FIRST_PORT;
    else if (automatic && !(p = (uint64_t)free_port(listen)))
        return qemu_machine_refuse(v, k, n, "no free TCP port from %d on %s", SPICE_FIRST_PORT,
                                   listen);
    g_string_append_printf(o, "port=%" G_GUINT64_FORMAT ",addr=%s", p, listen);
    return 0;
}

/* A child <NAME ATTR=VALUE> as QEMU's OPT=value, VALUE one of values. */
static int mapped(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n, const char *name,
                  const char *attr, const char *values, const char *opt, GString *o)
{
    const xmlNode *c = qemu_xml_child(n, name);
    if (!c)
        return 0;
    g_autofree char *attrs = g_strdup(attr);
    if (qemu_machine_only(v, k, c, attrs, "") < 0)
        return QV_ERR_UNSUPPORTED;
    g_autofree char *val = qemu_xml_prop(c, attr);
    if (!val)
        return 0;
    if (!qemu_machine_listed(values, val))
        return qemu_machine_refuse(v, k, c, "%s='%s' is not one QEMU has", attr, val);
    g_string_append_printf(o, ",%s=%s", opt, val);
    return 0;
}

/* A yes/no child attribute as QEMU's on/off option; invert when QEMU's
 * option disables what the attribute enables. */
static int switched(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n,
                    const char *name, const char *attr, const char *opt, bool invert, GString *o)
{
    const xmlNode *c = qemu_xml_child(n, name);
    if (!c)
        return 0;
    if (qemu_machine_only(v, k, c, attr, "") < 0)
        return QV_ERR_UNSUPPORTED;
    int on = qemu_machine_onoff(v, k, c, attr, -1);
    if (on < -1)
        return on;
    if (on >= 0)
        g_string_append_printf(o, ",%s=%s", opt, (on != 0) != invert ? "on" : "off");
    return 0;
}

static int spice(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    if (qemu_machine_only(v, k, n, "type port tlsPort autoport listen defaultMode",
                          "listen channel image jpeg zlib playback streaming clipboard mouse "
                          "filetransfer gl") < 0)
        return QV_ERR_UNSUPPORTED;
    if (v->spice)
        return qemu_machine_refuse(v, k, n, "a second SPICE server: QEMU has one");
    g_autofree char *tls = qemu_xml_prop(n, "tlsPort");
    /* -1 with autoport: "one if a channel needs TLS", and none does. */
    if (tls && strcmp(tls, "-1") != 0)
        return qemu_machine_refuse(v, k, n, "tlsPort='%s': qv sets up no SPICE TLS certificates",
                                   tls);
    g_autofree char *mode = qemu_xml_prop(n, "defaultMode");
    if (mode && strcmp(mode, "any") != 0 && strcmp(mode, "insecure") != 0)
        return qemu_machine_refuse(v, k, n,
                                   "defaultMode='%s': qv sets up no SPICE TLS certificates", mode);
    GString *o = g_string_new(NULL);
    int rc = listen_opts(v, k, n, o);
    if (rc == 0) {
        g_string_append(o, ",disable-ticketing=on");
        rc = mapped(v, k, n, "image", "compression", "auto_glz auto_lz quic glz lz off",
                    "image-compression", o);
    }
    if (rc == 0)
        rc = mapped(v, k, n, "jpeg", "compression", "auto never always", "jpeg-wan-compression", o);
    if (rc == 0)
        rc = mapped(v, k, n, "zlib", "compression", "auto never always", "zlib-glz-wan-compression",
                    o);
    if (rc == 0)
        rc = mapped(v, k, n, "streaming", "mode", "filter all off", "streaming-video", o);
    if (rc == 0)
        rc = switched(v, k, n, "playback", "compression", "playback-compression", false, o);
    if (rc == 0)
        rc = switched(v, k, n, "clipboard", "copypaste", "disable-copy-paste", true, o);
    if (rc == 0)
        rc = switched(v, k, n, "filetransfer", "enable", "disable-agent-file-xfer", true, o);
    const xmlNode *c;
    if (rc == 0 && (c = qemu_xml_child(n, "mouse"))) {
        g_autofree char *m = qemu_xml_prop(c, "mode");
        if ((rc = qemu_machine_only(v, k, c, "mode", "")) == 0 && m) {
            if (strcmp(m, "client") && strcmp(m, "server"))
                rc = qemu_machine_refuse(v, k, c, "mode='%s' is neither client nor server", m);
            else
                g_string_append_printf(o, ",agent-mouse=%s", strcmp(m, "client") ? "off" : "on");
        }
    }
    if (rc == 0 && (c = qemu_xml_child(n, "gl"))) {
        int on = qemu_machine_only(v, k, c, "enable rendernode", "") < 0
                     ? QV_ERR_UNSUPPORTED
                     : qemu_machine_onoff(v, k, c, "enable", 0);
        if (on < 0)
            rc = on;
        else if (on || qemu_xml_has_prop(c, "rendernode"))
            rc = qemu_machine_refuse(v, k, c,
                                     "SPICE OpenGL needs a render node and EGL, which "
                                     "qv's QEMU does not run with");
        else
            g_string_append(o, ",gl=off");
    }
    for (c = n->children; rc == 0 && c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || strcmp((const char *)c->name, "channel") != 0)
            continue;
        g_autofree char *name = qemu_xml_prop(c, "name"), *cmode = qemu_xml_prop(c, "mode");
        if ((rc = qemu_machine_only(v, k, c, "name mode", "")) < 0)
            break;
        if (!name || !qemu_machine_listed("main display inputs cursor playback record "
                                          "smartcard usbredir",
                                          name))
            rc = qemu_machine_refuse(v, k, c, "name='%s' is not a SPICE channel", name ? name : "");
        else if (cmode && strcmp(cmode, "secure") == 0)
            rc = qemu_machine_refuse(v, k, c,
                                     "mode='secure' needs TLS: qv sets up no SPICE TLS "
                                     "certificates");
        else if (cmode && strcmp(cmode, "insecure") == 0)
            g_string_append_printf(o, ",plaintext-channel=%s", name);
    }
    if (rc == 0) {
        qemu_argv_add(v, "-spice");
        g_ptr_array_add(v->a, g_string_free(o, FALSE));
        v->spice = true;
        /* libvirt gives a SPICE guest a QXL card when it has no <video>. */
        if (!qv_domain_kept_find(v->def, "devices", "video"))
            qemu_argv_add2(v, "-device", "qxl-vga,id=video0");
    } else {
        g_string_free(o, TRUE);
    }
    return rc;
}

int qemu_kept_graphics(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    if (!qemu_xml_prop_is(n, "type", "spice"))
        return qemu_kept_refuse(v, k, "%s", k->reason);
    return spice(v, k, n);
}

int qemu_argv_spice_graphics(struct qemu_argv *v, const struct qv_graphics *g)
{
    /* The definition's own model of it: the same attributes on a node. */
    xmlNode *n = xmlNewNode(NULL, (const xmlChar *)"graphics");
    xmlNewProp(n, (const xmlChar *)"type", (const xmlChar *)"spice");
    g_autofree char *port = g_strdup_printf("%d", g->port);
    xmlNewProp(n, (const xmlChar *)"port", (const xmlChar *)port);
    if (g->listen)
        xmlNewProp(n, (const xmlChar *)"listen", (const xmlChar *)g->listen);
    struct qv_kept k = {.name = (char *)"graphics", .parent = (char *)"devices", .line = 0};
    int rc = spice(v, &k, n);
    xmlFreeNode(n);
    return rc;
}

/* ---- <channel type='spicevmc'>: the SPICE agent's port ---- */

static bool is_spicevmc(const struct qv_kept *k)
{
    return strcmp(k->name, "channel") == 0 && strcmp(k->parent, "devices") == 0 &&
           (strstr(k->xml, "type=\"spicevmc\"") || strstr(k->xml, "type='spicevmc'"));
}

guint qemu_spicevmc_channels(const struct qv_domain *def)
{
    guint n = 0;
    for (guint i = 0; i < def->kept->len; i++)
        n += is_spicevmc(g_ptr_array_index(def->kept, i));
    return n;
}

/* The port the <address type='virtio-serial'> gives, 0 when none. */
static int channel_port(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n,
                        uint64_t *port)
{
    const xmlNode *a = qemu_xml_child(n, "address");
    *port = 0;
    if (!a)
        return 0;
    uint64_t ctl = 0, bus = 0;
    if (qemu_machine_only(v, k, a, "type controller bus port", "") < 0)
        return QV_ERR_UNSUPPORTED;
    if (!qemu_xml_prop_is(a, "type", "virtio-serial") ||
        (qemu_xml_has_prop(a, "controller") &&
         (!qemu_xml_hex(a, "controller", 255, &ctl) || ctl)) ||
        (qemu_xml_has_prop(a, "bus") && (!qemu_xml_hex(a, "bus", 255, &bus) || bus)) ||
        (qemu_xml_has_prop(a, "port") && (!qemu_xml_hex(a, "port", 30, port) || !*port)))
        return qemu_machine_refuse(v, k, a,
                                   "a channel's address is type='virtio-serial' on controller 0, "
                                   "bus 0, port 1-30");
    return 0;
}

int qemu_kept_channel(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    if (!is_spicevmc(k))
        return qemu_kept_refuse(v, k, "%s", k->reason);
    if (qemu_machine_only(v, k, n, "type", "target address alias") < 0)
        return QV_ERR_UNSUPPORTED;
    const xmlNode *t = qemu_xml_child(n, "target");
    if (!t || !qemu_xml_prop_is(t, "type", "virtio"))
        return qemu_kept_refuse(v, k, "it needs a <target type='virtio'>");
    if (qemu_machine_only(v, k, t, "type name state", "") < 0)
        return QV_ERR_UNSUPPORTED;
    if (!qemu_has_spice(v->def))
        return qemu_kept_refuse(v, k, "type='spicevmc' needs <graphics type='spice'>");
    uint64_t port;
    /* Given with the other channels (qemu_argv_add_channels), on the bus. */
    return channel_port(v, k, n, &port);
}

int qemu_argv_spicevmc_add(struct qemu_argv *v, guint first)
{
    guint j = 0;
    for (guint i = 0; i < v->def->kept->len; i++) {
        const struct qv_kept *k = g_ptr_array_index(v->def->kept, i);
        if (!is_spicevmc(k))
            continue;
        xmlDoc *doc = qv_conf_xml_read(k->xml, "kept XML");
        if (!doc)
            return qemu_kept_refuse(v, k, "its stored XML does not parse");
        const xmlNode *n = xmlDocGetRootElement(doc), *t = qemu_xml_child(n, "target");
        uint64_t port = 0;
        int rc = channel_port(v, k, n, &port);
        g_autofree char *name = t ? qemu_xml_prop(t, "name") : NULL;
        xmlFreeDoc(doc);
        if (rc < 0)
            return rc;
        guint id = first + j++;
        g_autofree char *ename = qemu_opt_escape(name ? name : "com.redhat.spice.0");
        qemu_argv_add(v, "-chardev");
        qemu_argv_addf(v, "spicevmc,id=charchannel%u,name=vdagent", id);
        qemu_argv_add(v, "-device");
        /* The bus qemu_argv_channel.c gives the channels. */
        qemu_argv_addf(v,
                       "virtserialport,bus=virtio-serial0.0,nr=%" G_GUINT64_FORMAT
                       ",chardev=charchannel%u,id=channel%u,name=%s",
                       port ? port : (uint64_t)id + 1, id, id, ename);
    }
    return 0;
}
