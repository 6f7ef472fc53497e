/* A cloud-init NoCloud seed: meta-data, user-data and network-config on an
 * ISO 9660 volume labelled "cidata". The documents are written as JSON,
 * which is YAML too, so no value ever needs YAML quoting by hand. */
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../lib/util/error.h"
#include "../../lib/util/fileio.h"
#include "../../lib/util/json.h"
#include "qemu.h"

static void user_free(gpointer p)
{
    struct qemu_cloudinit_user *u = p;
    g_free(u->name);
    g_strfreev(u->ssh_keys);
    g_free(u);
}

static void net_free(gpointer p)
{
    struct qemu_cloudinit_net *n = p;
    g_free(n->mac);
    g_free(n->address);
    g_free(n->gateway);
    g_strfreev(n->dns);
    g_free(n);
}

void qemu_cloudinit_free(struct qemu_cloudinit *ci)
{
    if (!ci)
        return;
    g_free(ci->instance_id);
    g_free(ci->hostname);
    g_ptr_array_free(ci->users, TRUE);
    g_ptr_array_free(ci->nets, TRUE);
    g_free(ci);
}

struct ctx {
    const char *origin;
};

static int bad(const struct ctx *c, const char *path, const char *what)
{
    return qv_error_set(QV_ERR_JSON, "%s: %s %s", c->origin, path, what);
}

/* An optional string member; *out stays NULL when absent. */
static int get_str(const struct ctx *c, JsonObject *o, const char *key, const char *path,
                   bool (*ok)(const char *), char **out)
{
    JsonNode *n = json_object_get_member(o, key);
    if (!n)
        return 0;
    g_autofree char *p = g_strdup_printf("%s.%s", path, key);
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
        return bad(c, p, "must be a string");
    const char *s = json_node_get_string(n);
    if (!*s || strchr(s, '\n') || (ok && !ok(s)))
        return bad(c, p, "is not valid here");
    *out = g_strdup(s);
    return 0;
}

static int get_strv(const struct ctx *c, JsonObject *o, const char *key, const char *path,
                    bool (*ok)(const char *), char ***out)
{
    JsonNode *n = json_object_get_member(o, key);
    if (!n)
        return 0;
    g_autofree char *p = g_strdup_printf("%s.%s", path, key);
    if (!JSON_NODE_HOLDS_ARRAY(n))
        return bad(c, p, "must be an array of strings");
    JsonArray *a = json_node_get_array(n);
    GPtrArray *v = g_ptr_array_new();
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        const char *s = JSON_NODE_HOLDS_VALUE(e) && json_node_get_value_type(e) == G_TYPE_STRING
                            ? json_node_get_string(e)
                            : NULL;
        if (!s || !*s || strchr(s, '\n') || (ok && !ok(s))) {
            g_ptr_array_add(v, NULL);
            g_strfreev((char **)g_ptr_array_free(v, FALSE));
            g_autofree char *ep = g_strdup_printf("%s[%u]", p, i);
            return bad(c, ep, "is not a valid entry");
        }
        g_ptr_array_add(v, g_strdup(s));
    }
    g_ptr_array_add(v, NULL);
    *out = (char **)g_ptr_array_free(v, FALSE);
    return 0;
}

static bool ok_user(const char *s)
{
    if (!(g_ascii_islower(*s) || *s == '_'))
        return false;
    for (; *s; s++)
        if (!g_ascii_islower(*s) && !g_ascii_isdigit(*s) && *s != '_' && *s != '-')
            return false;
    return true;
}

static bool ok_mac(const char *s)
{
    if (strlen(s) != 17)
        return false;
    for (int i = 0; i < 17; i++)
        if (i % 3 == 2 ? s[i] != ':' : !g_ascii_isxdigit(s[i]))
            return false;
    return true;
}

/* An interface address with its prefix: 192.168.122.10/24, fd00::5/64. */
static bool ok_cidr(const char *s)
{
    const char *slash = strchr(s, '/');
    if (!slash || !slash[1] || strlen(slash + 1) > 3)
        return false;
    g_autofree char *addr = g_strndup(s, (gsize)(slash - s));
    g_autoptr(GInetAddress) a = g_inet_address_new_from_string(addr);
    if (!a)
        return false;
    char *end;
    long prefix = strtol(slash + 1, &end, 10);
    long max = g_inet_address_get_family(a) == G_SOCKET_FAMILY_IPV4 ? 32 : 128;
    return *end == '\0' && g_ascii_isdigit(slash[1]) && prefix >= 0 && prefix <= max;
}

static bool ok_ip(const char *s)
{
    g_autoptr(GInetAddress) a = g_inet_address_new_from_string(s);
    return a != NULL;
}

static bool ok_hostname(const char *s)
{
    for (const char *p = s; *p; p++)
        if (!g_ascii_isalnum(*p) && *p != '-' && *p != '.')
            return false;
    return strlen(s) <= 253;
}

static bool ok_key(const char *s)
{
    return g_str_has_prefix(s, "ssh-") || g_str_has_prefix(s, "ecdsa-") ||
           g_str_has_prefix(s, "sk-");
}

static int parse_doc(const struct ctx *c, JsonObject *o, struct qemu_cloudinit *ci)
{
    static const char *const known[] = {"hostname", "instance_id", "users", "networks", NULL};
    GList *members = json_object_get_members(o);
    for (GList *l = members; l; l = l->next)
        if (!g_strv_contains(known, l->data)) {
            g_autofree char *p = g_strdup_printf("$.%s", (char *)l->data);
            g_list_free(members);
            return bad(c, p, "is not a known member (hostname, instance_id, users, networks)");
        }
    g_list_free(members);
    int rc = get_str(c, o, "hostname", "$", ok_hostname, &ci->hostname);
    if (rc == 0)
        rc = get_str(c, o, "instance_id", "$", NULL, &ci->instance_id);
    if (rc < 0)
        return rc;
    const char *lists[] = {"users", "networks"};
    for (int k = 0; k < 2; k++) {
        JsonNode *n = json_object_get_member(o, lists[k]);
        if (!n)
            continue;
        g_autofree char *lp = g_strdup_printf("$.%s", lists[k]);
        if (!JSON_NODE_HOLDS_ARRAY(n))
            return bad(c, lp, "must be an array of objects");
        JsonArray *a = json_node_get_array(n);
        for (guint i = 0; i < json_array_get_length(a); i++) {
            JsonNode *e = json_array_get_element(a, i);
            g_autofree char *ep = g_strdup_printf("%s[%u]", lp, i);
            if (!JSON_NODE_HOLDS_OBJECT(e))
                return bad(c, ep, "must be an object");
            JsonObject *eo = json_node_get_object(e);
            if (k == 0) {
                struct qemu_cloudinit_user *u = g_new0(struct qemu_cloudinit_user, 1);
                g_ptr_array_add(ci->users, u);
                rc = get_str(c, eo, "name", ep, ok_user, &u->name);
                if (rc == 0)
                    rc = get_strv(c, eo, "ssh_authorized_keys", ep, ok_key, &u->ssh_keys);
                if (rc == 0 && !u->name)
                    rc = bad(c, ep, "needs a \"name\"");
            } else {
                struct qemu_cloudinit_net *nt = g_new0(struct qemu_cloudinit_net, 1);
                g_ptr_array_add(ci->nets, nt);
                rc = get_str(c, eo, "mac", ep, ok_mac, &nt->mac);
                if (rc == 0)
                    rc = get_str(c, eo, "address", ep, ok_cidr, &nt->address);
                if (rc == 0)
                    rc = get_str(c, eo, "gateway", ep, ok_ip, &nt->gateway);
                if (rc == 0)
                    rc = get_strv(c, eo, "dns", ep, ok_ip, &nt->dns);
                if (rc == 0 && (!nt->mac || !nt->address))
                    rc = bad(c, ep, "needs \"mac\" and \"address\" (CIDR)");
            }
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

struct qemu_cloudinit *qemu_cloudinit_parse(const char *json, const char *origin)
{
    struct ctx c = {.origin = origin ? origin : "cloud-init config"};
    g_autoptr(GError) err = NULL;
    size_t len = strnlen(json, QV_JSON_MAX_BYTES + 1);
    g_autoptr(JsonNode) root = qv_json_parse_bounded(json, len, c.origin, &err);
    if (!root) {
        qv_error_set(QV_ERR_JSON, "%s", err->message);
        return NULL;
    }
    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        qv_error_set(QV_ERR_JSON, "%s: not a JSON object", c.origin);
        return NULL;
    }
    struct qemu_cloudinit *ci = g_new0(struct qemu_cloudinit, 1);
    ci->users = g_ptr_array_new_with_free_func(user_free);
    ci->nets = g_ptr_array_new_with_free_func(net_free);
    if (parse_doc(&c, json_node_get_object(root), ci) < 0) {
        qemu_cloudinit_free(ci);
        return NULL;
    }
    return ci;
}

static char *finish(JsonBuilder *b, const char *header)
{
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autofree char *text = json_to_string(root, TRUE);
    return g_strconcat(header, text, "\n", NULL);
}

static void set_str(JsonBuilder *b, const char *k, const char *v)
{
    json_builder_set_member_name(b, k);
    json_builder_add_string_value(b, v);
}

static void set_strv(JsonBuilder *b, const char *k, char **v)
{
    json_builder_set_member_name(b, k);
    json_builder_begin_array(b);
    for (; v && *v; v++)
        json_builder_add_string_value(b, *v);
    json_builder_end_array(b);
}

char *qemu_cloudinit_meta_data(const struct qemu_cloudinit *ci)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    set_str(b, "instance-id", ci->instance_id ? ci->instance_id : "qv");
    if (ci->hostname)
        set_str(b, "local-hostname", ci->hostname);
    json_builder_end_object(b);
    return finish(b, "");
}

char *qemu_cloudinit_user_data(const struct qemu_cloudinit *ci)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "users");
    json_builder_begin_array(b);
    json_builder_add_string_value(b, "default");
    for (guint i = 0; i < ci->users->len; i++) {
        const struct qemu_cloudinit_user *u = g_ptr_array_index(ci->users, i);
        json_builder_begin_object(b);
        set_str(b, "name", u->name);
        set_str(b, "shell", "/bin/bash");
        set_str(b, "sudo", "ALL=(ALL) NOPASSWD:ALL");
        set_strv(b, "ssh_authorized_keys", u->ssh_keys);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    return finish(b, "#cloud-config\n");
}

char *qemu_cloudinit_network_config(const struct qemu_cloudinit *ci)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "version");
    json_builder_add_int_value(b, 2);
    json_builder_set_member_name(b, "ethernets");
    json_builder_begin_object(b);
    for (guint i = 0; i < ci->nets->len; i++) {
        const struct qemu_cloudinit_net *n = g_ptr_array_index(ci->nets, i);
        g_autofree char *id = g_strdup_printf("nic%u", i);
        json_builder_set_member_name(b, id);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "match");
        json_builder_begin_object(b);
        set_str(b, "macaddress", n->mac);
        json_builder_end_object(b);
        char *addrs[] = {n->address, NULL};
        set_strv(b, "addresses", addrs);
        if (n->gateway) {
            json_builder_set_member_name(b, "routes");
            json_builder_begin_array(b);
            json_builder_begin_object(b);
            set_str(b, "to", strchr(n->gateway, ':') ? "::/0" : "0.0.0.0/0");
            set_str(b, "via", n->gateway);
            json_builder_end_object(b);
            json_builder_end_array(b);
        }
        if (n->dns) {
            json_builder_set_member_name(b, "nameservers");
            json_builder_begin_object(b);
            set_strv(b, "addresses", n->dns);
            json_builder_end_object(b);
        }
        json_builder_end_object(b);
    }
    json_builder_end_object(b);
    json_builder_end_object(b);
    return finish(b, "");
}

/* docs: meta-data, user-data, network-config (NULL: left out). The ISO is
 * built beside iso_path and renamed over it, so a VM never starts with a
 * half-written seed. */
int qemu_cloudinit_write_seed(const char *const docs[3], const char *iso_path)
{
    g_autofree char *parent = g_path_get_dirname(iso_path);
    g_autofree char *tmpl = g_build_filename(parent, ".seed-XXXXXX", NULL);
    if (!g_mkdtemp_full(tmpl, 0700))
        return qv_error_set(QV_ERR_IO, "cannot make a temporary directory in '%s'", parent);
    const char *names[3] = {"meta-data", "user-data", "network-config"};
    int rc = 0;
    GPtrArray *argv = g_ptr_array_new_with_free_func(g_free);
    /* Made here, 0600 and new (the seed holds the user's documents), for
     * genisoimage to write into: it opens the path it is given. */
    g_autofree char *tmp_iso = g_strconcat(iso_path, ".XXXXXX", NULL);
    int fd = g_mkstemp_full(tmp_iso, O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        qv_dir_remove_tree(tmpl);
        g_ptr_array_free(argv, TRUE);
        return qv_error_set_errno(QV_ERR_IO, e, "cannot create '%s'", tmp_iso);
    }
    close(fd);
    const char *head[] = {"genisoimage", "-quiet", "-output", tmp_iso,
                          "-volid",      "cidata", "-joliet", "-rock"};
    for (size_t i = 0; i < G_N_ELEMENTS(head); i++)
        g_ptr_array_add(argv, g_strdup(head[i]));
    for (int i = 0; i < 3 && rc == 0; i++) {
        if (!docs[i])
            continue;
        char *p = g_build_filename(tmpl, names[i], NULL);
        rc = qv_file_write_atomic(p, docs[i], strlen(docs[i]), 0600);
        g_ptr_array_add(argv, p);
    }
    g_ptr_array_add(argv, NULL);
    if (rc == 0)
        rc = qemu_run_tool((const char *const *)argv->pdata, NULL);
    if (rc == 0 && rename(tmp_iso, iso_path) < 0)
        rc = qv_error_set(QV_ERR_IO, "cannot rename '%s' to '%s'", tmp_iso, iso_path);
    if (rc < 0) {
        unlink(tmp_iso);
        qv_error_prefix("cannot build the cloud-init seed '%s'", iso_path);
    }
    g_ptr_array_free(argv, TRUE);
    qv_dir_remove_tree(tmpl);
    return rc;
}

int qemu_cloudinit_build_iso(const struct qemu_cloudinit *ci, const char *iso_path)
{
    char *docs[3] = {qemu_cloudinit_meta_data(ci), qemu_cloudinit_user_data(ci),
                     ci->nets->len ? qemu_cloudinit_network_config(ci) : NULL};
    int rc = qemu_cloudinit_write_seed((const char *const *)docs, iso_path);
    for (int i = 0; i < 3; i++)
        g_free(docs[i]);
    return rc;
}
