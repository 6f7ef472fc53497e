/* DRIVER+ssh://[USER@]HOST[:PORT]/PATH?PARAMS and DRIVER+pipe:///PATH into
 * where the helper runs and which local URI it opens there. */
#include <string.h>

#include "lib/util/error.h"
#include "remote.h"

#define DEFAULT_TIMEOUT_S 30

/* sshd hands the command to the remote user's shell: only characters no
 * shell treats specially may be in it. */
static bool shell_safe(const char *s)
{
    if (!*s || strlen(s) > 255)
        return false;
    for (const char *p = s; *p; p++)
        if (!g_ascii_isalnum(*p) && !strchr("/._+-", *p))
            return false;
    return true;
}

static int parse_timeout(const char *v, const char *uri, int *ms)
{
    char *end = NULL;
    gint64 s = g_ascii_strtoll(v, &end, 10);
    if (!*v || *end || s < 1 || s > 86400)
        return qv_error_set(QV_ERR_URI,
                            "URI '%s': timeout='%s' is not a whole number of seconds (1-86400)",
                            uri, v);
    *ms = (int)(s * 1000);
    return 0;
}

/* /system and /session of a process-backed driver (qemu, kvm): its
 * DRIVER:///session on the remote host, with the host's system-wide state
 * root (/var/lib/qv, the root default) for /system rather than the SSH
 * user's, which is what libvirt users type. NULL with the error set for
 * any other path. */
static char *session_uri(const char *driver, const char *path, const char *uri, bool *add_root)
{
    if (g_strcmp0(path, "/system") == 0)
        *add_root = true;
    else if (g_strcmp0(path, "/session") != 0) {
        qv_error_set(QV_ERR_URI,
                     "URI '%s': the path must be /system (the remote host's system-wide VMs) or "
                     "/session (the remote user's), not '%s'",
                     uri, path && *path ? path : "(empty)");
        return NULL;
    }
    return g_strconcat(driver, ":///session", NULL);
}

/* The local URI the helper opens for DRIVER and PATH. */
static char *local_uri(const char *driver, const char *path, const char *uri, bool *add_root)
{
    *add_root = false;
    if (strcmp(driver, "noop") == 0)
        return g_strconcat("noop://", path && *path ? path : "/", NULL);
    if (strcmp(driver, "qemu") == 0)
        return session_uri(driver, path, uri, add_root);
    if (strcmp(driver, "kvm") == 0) {
        /* kvm:///embed's VMs live inside the process that opened it, which
         * here would be the helper: they would die when the connection
         * closes. kvm:///session runs each in its own qv-vmm instead. */
        if (g_strcmp0(path, "/embed") == 0) {
            qv_error_set(QV_ERR_UNSUPPORTED,
                         "URI '%s': kvm:///embed is not available over a remote connection: its "
                         "VMs live inside the process that runs them, here the remote helper, "
                         "and would die with the connection; use /session (the remote user's "
                         "kvm:///session, each VM in its own qv-vmm) or /system",
                         uri);
            return NULL;
        }
        return session_uri(driver, path, uri, add_root);
    }
    qv_error_set(QV_ERR_URI, "URI '%s': no remote driver for '%s'", uri, driver);
    return NULL;
}

int remote_target_parse(struct qv_conn *conn, struct remote_target *t)
{
    const char *uri = conn->uri_str;
    const char *scheme = g_uri_get_scheme(conn->uri);
    const char *plus = strchr(scheme, '+');
    if (!plus)
        return qv_error_set(QV_ERR_URI, "URI '%s' names no transport", uri);
    g_autofree char *driver = g_ascii_strdown(scheme, plus - scheme);
    t->scheme = g_ascii_strdown(scheme, -1);
    t->ssh = g_ascii_strcasecmp(plus + 1, "ssh") == 0;
    const char *host = g_uri_get_host(conn->uri);
    if (t->ssh) {
        if (!host || !*host)
            return qv_error_set(QV_ERR_URI, "URI '%s' names no host (%s://[USER@]HOST/PATH)", uri,
                                t->scheme);
        t->host = g_strdup(host);
        t->user = g_strdup(g_uri_get_user(conn->uri));
        t->port = MAX(g_uri_get_port(conn->uri), 0);
        t->peer = g_strdup(host);
    } else {
        if (host && *host)
            return qv_error_set(QV_ERR_URI,
                                "URI '%s': %s:// runs the helper on this host and takes no host "
                                "name",
                                uri, t->scheme);
        t->peer = g_strdup("the local helper");
    }
    t->timeout_ms = DEFAULT_TIMEOUT_S * 1000;
    t->qv = g_strdup("qv");

    GString *rest = g_string_new(NULL);
    bool has_root = false;
    const char *query = g_uri_get_query(conn->uri);
    if (query && *query) {
        g_autoptr(GError) gerr = NULL;
        g_autoptr(GHashTable) params = g_uri_parse_params(query, -1, "&", G_URI_PARAMS_NONE, &gerr);
        if (!params) {
            g_string_free(rest, TRUE);
            return qv_error_set(QV_ERR_URI, "URI '%s': %s", uri, gerr->message);
        }
        GHashTableIter it;
        gpointer k, v;
        g_hash_table_iter_init(&it, params);
        while (g_hash_table_iter_next(&it, &k, &v)) {
            const char *key = k, *val = v;
            int rc = 0;
            if (strcmp(key, "keyfile") == 0)
                t->keyfile = g_strdup(val);
            else if (strcmp(key, "known_hosts") == 0)
                t->known_hosts = g_strdup(val);
            else if (strcmp(key, "qv") == 0) {
                if (!shell_safe(val))
                    rc = qv_error_set(QV_ERR_URI,
                                      "URI '%s': qv='%s' may hold only letters, digits and "
                                      "/._+- (the remote shell runs it)",
                                      uri, val);
                g_free(t->qv);
                t->qv = g_strdup(val);
            } else if (strcmp(key, "timeout") == 0)
                rc = parse_timeout(val, uri, &t->timeout_ms);
            else if (strcmp(key, "no_verify") == 0) {
                if (strcmp(val, "1") && strcmp(val, "0"))
                    rc = qv_error_set(QV_ERR_URI, "URI '%s': no_verify must be 0 or 1, not '%s'",
                                      uri, val);
                t->no_verify = strcmp(val, "1") == 0;
            } else {
                if (strcmp(key, "root") == 0)
                    has_root = true;
                g_autofree char *ek = g_uri_escape_string(key, NULL, FALSE);
                g_autofree char *ev = g_uri_escape_string(val, NULL, FALSE);
                g_string_append_printf(rest, "%s%s=%s", rest->len ? "&" : "", ek, ev);
            }
            if (rc < 0) {
                g_string_free(rest, TRUE);
                return rc;
            }
        }
        if (!t->ssh && (t->keyfile || t->known_hosts || t->no_verify)) {
            g_string_free(rest, TRUE);
            return qv_error_set(QV_ERR_URI,
                                "URI '%s': keyfile=, known_hosts= and no_verify= "
                                "are for ssh, not %s",
                                uri, t->scheme);
        }
    }
    bool add_root = false;
    g_autofree char *base = local_uri(driver, g_uri_get_path(conn->uri), uri, &add_root);
    if (!base) {
        g_string_free(rest, TRUE);
        return qv_error_code();
    }
    if (add_root && !has_root)
        g_string_append_printf(rest, "%sroot=%%2Fvar%%2Flib%%2Fqv", rest->len ? "&" : "");
    t->remote_uri = rest->len ? g_strconcat(base, "?", rest->str, NULL) : g_strdup(base);
    g_string_free(rest, TRUE);
    return 0;
}
