/* What a start prepares before QEMU runs: overlays on base images, the
 * per-VM NVRAM copy, free ports for SSH forwarding, the cloud-init seed,
 * the hugetlbfs mount. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../lib/host/host_net.h"
#include "../../lib/proc/proc.h"
#include "../../lib/util/error.h"
#include "../../lib/util/fileio.h"
#include "../../lib/util/json.h"
#include "qemu_argv_machine.h"
#include "qemu_vm.h"

void qemu_prepared_clear(struct qemu_prepared *p)
{
    if (p->disk_files)
        g_ptr_array_free(p->disk_files, TRUE);
    if (p->disk_formats)
        g_ptr_array_free(p->disk_formats, TRUE);
    g_free(p->ssh_ports);
    if (p->tap_names)
        g_ptr_array_free(p->tap_names, TRUE);
    g_free(p->nvram);
    g_free(p->seed_iso);
    g_free(p->hugepage_dir);
}

/* A mount's page size from its options ("pagesize=2M"), or the host's
 * default huge page size when it names none; 0 when unknown. */
static uint64_t mount_page_kib(const char *opts)
{
    const char *p = opts ? strstr(opts, "pagesize=") : NULL;
    if (p) {
        char *end = NULL;
        guint64 n = g_ascii_strtoull(p + 9, &end, 10);
        return *end == 'G' ? n << 20 : *end == 'M' ? n << 10 : n;
    }
    g_autofree char *meminfo = NULL;
    const char *h;
    if (!g_file_get_contents("/proc/meminfo", &meminfo, NULL, NULL) ||
        !(h = strstr(meminfo, "Hugepagesize:")))
        return 0;
    return g_ascii_strtoull(h + 13 + strspn(h + 13, " "), NULL, 10);
}

/* A hugetlbfs mount with pages of page_kib (0: any). */
static char *find_hugetlbfs(uint64_t page_kib)
{
    const char *env = g_getenv("QV_HUGEPAGE_DIR");
    if (env && *env)
        return g_strdup(env);
    g_autofree char *mounts = NULL;
    if (!g_file_get_contents("/proc/mounts", &mounts, NULL, NULL))
        return NULL;
    g_auto(GStrv) lines = g_strsplit(mounts, "\n", -1);
    for (char **l = lines; *l; l++) {
        g_auto(GStrv) f = g_strsplit(*l, " ", 5);
        if (g_strv_length(f) >= 4 && strcmp(f[2], "hugetlbfs") == 0 &&
            (!page_kib || mount_page_kib(f[3]) == page_kib))
            return g_strdup(f[1]);
    }
    return NULL;
}

int qemu_prepare(struct qemu_vm *q, const struct qv_domain *def, struct qemu_prepared *p)
{
    p->disk_files = g_ptr_array_new_with_free_func(g_free);
    p->disk_formats = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < def->disks->len; i++) {
        const struct qv_disk *d = g_ptr_array_index(def->disks, i);
        if (!d->backing) {
            g_ptr_array_add(p->disk_files, g_strdup(d->source));
            g_ptr_array_add(p->disk_formats, g_strdup(d->driver_type));
            continue;
        }
        /* A disk over a base image: its own qcow2 overlay, made on first
         * start, so the base is never written. */
        char *overlay =
            d->source ? g_strdup(d->source) : g_strdup_printf("%s/%s.qcow2", q->dir, d->target);
        g_ptr_array_add(p->disk_files, overlay);
        g_ptr_array_add(p->disk_formats, g_strdup("qcow2"));
        if (!g_file_test(overlay, G_FILE_TEST_EXISTS)) {
            int rc = qemu_overlay_create(overlay, d->backing, d->backing_format);
            if (rc < 0)
                return rc;
            proc_log(q->dir, "created overlay %s on %s", overlay, d->backing);
        }
    }
    p->ssh_ports = g_new0(uint16_t, def->nets->len + 1);
    p->tap_names = g_ptr_array_new_with_free_func(g_free);
    bool admin = host_net_admin();
    for (guint i = 0; i < def->nets->len; i++) {
        const struct qv_net *n = g_ptr_array_index(def->nets, i);
        bool named = n->type == QV_NET_BRIDGE || (n->type == QV_NET_ETHERNET && !n->source);
        if (named && !admin && qemu_net_has_limit(n))
            return qv_error_set(QV_ERR_UNSUPPORTED,
                                "VM '%s': NIC %s has a <bandwidth>, which qv enforces with tc on "
                                "the host tap: that needs CAP_NET_ADMIN (run as root)",
                                q->name, n->mac);
        g_ptr_array_add(p->tap_names, named && admin ? host_tap_name(n->mac) : NULL);
    }
    g_ptr_array_add(p->tap_names, NULL);
    for (guint i = 0; i < def->nets->len; i++) {
        const struct qv_net *n = g_ptr_array_index(def->nets, i);
        if (n->type != QV_NET_USER)
            continue;
        p->ssh_ports[i] = n->host_port;
        if (!p->ssh_ports[i]) {
            int rc = qemu_ssh_port(q->name, i, p->ssh_ports, i, &p->ssh_ports[i]);
            if (rc < 0)
                return rc;
        }
    }
    if (def->os.loader && def->os.loader_pflash) {
        if (def->os.nvram)
            p->nvram = g_strdup(def->os.nvram);
        else if (def->os.nvram_template)
            p->nvram = g_build_filename(q->dir, "nvram.fd", NULL);
        if (p->nvram && !g_file_test(p->nvram, G_FILE_TEST_EXISTS)) {
            if (!def->os.nvram_template)
                return qv_error_set(QV_ERR_NOT_FOUND,
                                    "VM '%s': NVRAM file '%s' does not exist and <nvram> names "
                                    "no template to copy",
                                    q->name, p->nvram);
            int rc = qemu_copy_small(def->os.nvram_template, p->nvram);
            if (rc < 0)
                return rc;
            proc_log(q->dir, "copied NVRAM template %s to %s", def->os.nvram_template, p->nvram);
        }
    }
    g_autofree char *ci_path = g_build_filename(q->dir, "cloud-init.json", NULL);
    bool ci_file = g_file_test(ci_path, G_FILE_TEST_IS_REGULAR);
    if (def->cloud_init && ci_file)
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "VM '%s' has cloud-init in its definition and in '%s'; remove one",
                            q->name, ci_path);
    if (def->cloud_init) {
        g_autofree char *meta = qv_conf_cloud_init_meta_data(def);
        const char *docs[3] = {meta, def->cloud_init->user_data, def->cloud_init->network_config};
        p->seed_iso = g_build_filename(q->dir, "seed.iso", NULL);
        int rc = qemu_cloudinit_write_seed(docs, p->seed_iso);
        if (rc < 0)
            return rc;
    } else if (ci_file) {
        g_autofree char *json = NULL;
        if (qv_file_read_text(ci_path, QV_JSON_MAX_BYTES, &json, NULL) < 0)
            return qv_error_code();
        struct qemu_cloudinit *ci = qemu_cloudinit_parse(json, ci_path);
        if (!ci)
            return qv_error_code();
        if (!ci->instance_id)
            ci->instance_id = g_strdup(def->uuid);
        if (!ci->hostname)
            ci->hostname = g_strdup(def->name);
        p->seed_iso = g_build_filename(q->dir, "seed.iso", NULL);
        int rc = qemu_cloudinit_build_iso(ci, p->seed_iso);
        qemu_cloudinit_free(ci);
        if (rc < 0)
            return rc;
    }
    uint64_t page_kib = 0;
    if (qemu_memory_hugepages(def, &page_kib))
        p->hugepage_dir = find_hugetlbfs(page_kib);
    return 0;
}

/* What QEMU wrote to its log since offset: the reason a start failed. */
