/* The noop driver: a VM with no guest, for tests, demos and the CLI.
 * noop:/// keeps a fresh world in memory per connection (like libvirt's
 * test:///default); noop:///ABS/DIR keeps it in DIR so that separate
 * processes share it. */
#include <string.h>

#include "lib/util/error.h"
#include "noop.h"

static void noop_close(struct qv_conn *conn)
{
    struct noop_conn *nc = NOOP_CONN(conn);
    if (!nc)
        return;
    /* Handles hold a reference on the connection, so none is left here. */
    g_hash_table_destroy(nc->vms);
    pthread_mutex_destroy(&nc->lock);
    g_free(nc->dir);
    g_free(nc);
    conn->priv = NULL;
}

static int noop_open(struct qv_conn *conn)
{
    GUri *uri = conn->uri;
    const char *host = g_uri_get_host(uri);
    if (host && *host)
        return qv_error_set(QV_ERR_URI,
                            "noop URI '%s' names host '%s'; use noop:/// or noop:///ABS/DIR",
                            conn->uri_str, host);
    const char *query = g_uri_get_query(uri);
    if (query && *query) {
        /* Name the first parameter: none is known, so any is a typo. */
        g_autofree char *param = g_strndup(query, strcspn(query, "&="));
        return qv_error_set(QV_ERR_URI, "noop URI '%s': unknown query parameter '%s'",
                            conn->uri_str, param);
    }
    const char *path = g_uri_get_path(uri);
    if (path && *path && path[0] != '/')
        return qv_error_set(QV_ERR_URI,
                            "noop URI '%s': directory '%s' must be an absolute path "
                            "(noop:///ABS/DIR)",
                            conn->uri_str, path);

    struct noop_conn *nc = g_new0(struct noop_conn, 1);
    pthread_mutex_init(&nc->lock, NULL);
    nc->vms = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)noop_vm_unref);
    if (path && *path && strcmp(path, "/") != 0)
        nc->dir = g_canonicalize_filename(path, "/");
    conn->priv = nc;
    if (nc->dir && noop_store_open(nc) < 0) {
        /* The core does not call close after a failed open. */
        int rc = qv_error_code();
        noop_close(conn);
        return rc;
    }
    return 0;
}

/* A noop VM runs no guest code and has no process: the state, vCPU counts
 * and memory the core reports are all there is. */
static int noop_vm_get_stats(struct vm *vm, const struct qv_domain *def, GArray *stats)
{
    (void)vm, (void)def, (void)stats;
    return 0;
}

const struct qv_driver qv_noop_driver = {
    .name = "noop",
    .schemes = (const char *[]){"noop", NULL},
    .domain_type = QV_VIRT_TEST,
    .open = noop_open,
    .close = noop_close,

    .vm_define = noop_vm_define,
    .vm_lookup = noop_vm_lookup,
    .vm_release = noop_vm_release,
    .vm_list = noop_vm_list,
    .vm_get_def = noop_vm_get_def,
    .vm_get_status = noop_vm_get_status,

    .vm_start = noop_vm_start,
    .vm_stop = noop_vm_stop,
    .vm_pause = noop_vm_pause,
    .vm_resume = noop_vm_resume,
    .vm_reset = noop_vm_reset,
    .vm_destroy = noop_vm_destroy,
    .vm_wait = noop_vm_wait,
    .vm_clone = noop_vm_clone,
    .vm_set = noop_vm_set,
    .vm_get_stats = noop_vm_get_stats,

    .vm_add_memory_region = noop_vm_add_memory_region,
    .vm_gpa_to_hva = noop_vm_gpa_to_hva,
    .vm_read_memory = noop_vm_read_memory,
    .vm_write_memory = noop_vm_write_memory,

    .snapshot_create = noop_snapshot_create,
    .snapshot_restore = noop_snapshot_restore,
    .snapshot_delete = noop_snapshot_delete,
    .snapshot_list = noop_snapshot_list,

    .vcpu_create = noop_vcpu_create,
    .vcpu_get = noop_vcpu_get,
    .vcpu_destroy = noop_vcpu_destroy,
    .vcpu_reset = noop_vcpu_reset,
    .vcpu_run = noop_vcpu_run,
    .vcpu_exit_info = noop_vcpu_exit_info,
    .vcpu_kick = noop_vcpu_kick,
    .vcpu_step = noop_vcpu_step,
    .vcpu_get_regs = noop_vcpu_get_regs,
    .vcpu_set_regs = noop_vcpu_set_regs,
    .vcpu_get_sregs = noop_vcpu_get_sregs,
    .vcpu_set_sregs = noop_vcpu_set_sregs,
    .vcpu_get_msr = noop_vcpu_get_msr,
    .vcpu_set_msr = noop_vcpu_set_msr,
    .vcpu_queue_interrupt = noop_vcpu_queue_interrupt,
    .vcpu_queue_exception = noop_vcpu_queue_exception,
    .vcpu_queue_nmi = noop_vcpu_queue_nmi,
};
