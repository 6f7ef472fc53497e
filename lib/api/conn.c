/* Connections: URI parsing, driver choice, the process default connection. */
#include <glib.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../util/error.h"
#include "driver.h"
#include "internal.h"
#include "trace.h"

#define QV_FALLBACK_URI "kvm:///embed"

int qv_list_drivers(char ***names, size_t *count)
{
    QV_API("%s", "");
    if (!names)
        return qv_error_set(QV_ERR_INVALID_ARG, "qv_list_drivers: names is NULL");
    GPtrArray *out = g_ptr_array_new();
    for (const struct qv_driver *const *d = qv_registry_drivers(); *d; d++)
        g_ptr_array_add(out, g_strdup((*d)->name));
    if (count)
        *count = out->len;
    g_ptr_array_add(out, NULL);
    *names = (char **)g_ptr_array_free(out, FALSE);
    return 0;
}

char *qv_conn_default_state_dir(void)
{
    const char *env = g_getenv("QV_STATE_DIR");
    if (env && *env)
        return g_strdup(env);
    if (geteuid() == 0)
        return g_strdup("/var/lib/qv");
    return g_build_filename(g_get_user_data_dir(), "qv", NULL);
}

char *qv_conn_get_param(struct qv_conn *conn, const char *key)
{
    const char *query = g_uri_get_query(conn->uri);
    if (!query)
        return NULL;
    g_autoptr(GHashTable) params = g_uri_parse_params(query, -1, "&", G_URI_PARAMS_NONE, NULL);
    if (!params)
        return NULL;
    const char *v = g_hash_table_lookup(params, key);
    return v ? g_strdup(v) : NULL;
}

struct qv_conn *qv_connect(const char *uri)
{
    QV_API("URI '%s'", uri ? uri : "(default)");
    if (!uri) {
        uri = g_getenv("QV_DEFAULT_URI");
        if (!uri || !*uri)
            uri = QV_FALLBACK_URI;
    }
    g_autoptr(GError) gerr = NULL;
    g_autoptr(GUri) parsed = g_uri_parse(uri, G_URI_FLAGS_ENCODED_QUERY, &gerr);
    if (!parsed) {
        qv_error_set(QV_ERR_URI, "cannot parse connection URI '%s': %s", uri, gerr->message);
        return NULL;
    }
    const struct qv_driver *drv = qv_registry_for_scheme(g_uri_get_scheme(parsed), uri);
    if (!drv)
        return NULL;

    struct qv_conn *conn = g_new0(struct qv_conn, 1);
    conn->refs = 1;
    conn->driver = drv;
    conn->uri = g_steal_pointer(&parsed);
    conn->uri_str = g_uri_to_string(conn->uri);
    g_rec_mutex_init(&conn->lock);
    conn->vms = g_hash_table_new(g_str_hash, g_str_equal);
    conn->state_dir = qv_conn_get_param(conn, "root");
    if (!conn->state_dir)
        conn->state_dir = qv_conn_default_state_dir();
    if (conn->state_dir[0] != '/') {
        qv_error_set(QV_ERR_URI, "state directory '%s' (from %s) must be an absolute path",
                     conn->state_dir, uri);
        qv_conn_unref(conn);
        return NULL;
    }
    if (drv->open && drv->open(conn) < 0) {
        if (qv_error_code() == QV_OK)
            qv_error_set(QV_ERR_CONNECT, "the %s driver could not open '%s'", drv->name, uri);
        conn->driver = NULL; /* nothing to close */
        qv_conn_unref(conn);
        return NULL;
    }
    return conn;
}

void qv_conn_ref(struct qv_conn *conn)
{
    g_atomic_int_inc(&conn->refs);
}

void qv_conn_unref(struct qv_conn *conn)
{
    if (!conn || !g_atomic_int_dec_and_test(&conn->refs))
        return;
    if (conn->driver && conn->driver->close)
        conn->driver->close(conn);
    g_hash_table_destroy(conn->vms);
    g_rec_mutex_clear(&conn->lock);
    g_uri_unref(conn->uri);
    g_free(conn->uri_str);
    g_free(conn->state_dir);
    g_free(conn);
}

void qv_close(struct qv_conn *conn)
{
    QV_API("URI '%s'", conn ? conn->uri_str : "(NULL)");
    qv_conn_unref(conn);
}

const char *qv_conn_get_uri(struct qv_conn *conn)
{
    return conn ? conn->uri_str : NULL;
}

const char *qv_conn_get_driver(struct qv_conn *conn)
{
    return conn ? conn->driver->name : NULL;
}

const char *qv_conn_get_state_dir(struct qv_conn *conn)
{
    return conn ? conn->state_dir : NULL;
}

struct qv_conn *qv_default_conn(void)
{
    /* Opened on first use and kept for the life of the process, as the seed
     * API has no connection argument. A failed open is retried next time. */
    static GMutex lock;
    static struct qv_conn *conn;
    g_mutex_lock(&lock);
    if (!conn)
        conn = qv_connect(NULL);
    struct qv_conn *c = conn;
    g_mutex_unlock(&lock);
    return c;
}

void qv_strv_free(char **strv)
{
    g_strfreev(strv);
}

void qv_free(void *ptr)
{
    g_free(ptr);
}

const char *qv_version(void)
{
    return QV_VERSION_STRING;
}
