/* Directory mode: DIR/<name>/ holds domain.xml, state.json and the memory
 * files; DIR/.locks/<name>.lock is the per-VM flock (kept outside the VM's
 * directory so that destroying the VM never removes a lock someone waits
 * on). Names cannot start with '.', so nothing here collides with a VM. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/api/state.h"
#include "lib/util/error.h"
#include "lib/util/fileio.h"
#include "lib/util/json.h"
#include "lib/util/lock.h"
#include "lib/util/names.h"
#include "noop.h"

#define NOOP_LOCK_TIMEOUT_MS 30000

char *noop_store_vm_dir(struct noop_conn *nc, const char *name)
{
    return g_build_filename(nc->dir, name, NULL);
}

int noop_store_open(struct noop_conn *nc)
{
    /* An existing directory is used as it is (it may be the user's, and
     * reached through a symlink), provided it is the caller's; one we
     * create is private. */
    struct stat st;
    if (stat(nc->dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return qv_error_set(QV_ERR_IO, "'%s' exists and is not a directory", nc->dir);
        if (qv_dir_check_owner(nc->dir, &st) < 0)
            return qv_error_code();
    } else if (qv_dir_ensure(nc->dir, 0700) < 0) {
        return qv_error_code();
    }
    g_autofree char *locks = g_build_filename(nc->dir, ".locks", NULL);
    if (qv_dir_ensure(locks, 0700) < 0)
        return qv_error_code();
    noop_store_sweep(nc);
    return 0;
}

int noop_store_names_lock(struct noop_conn *nc, const char *why, const char *name)
{
    /* "@" cannot appear in a VM name, so no VM's lock file collides. */
    g_autofree char *path = g_build_filename(nc->dir, ".locks", "@names.lock", NULL);
    int fd = qv_lock_acquire(path, NOOP_LOCK_TIMEOUT_MS);
    if (fd < 0)
        qv_error_prefix("cannot %s VM '%s'", why, name);
    return fd;
}

int noop_store_lock(struct noop_vm *v)
{
    int fd = qv_lock_acquire(v->lock_path, NOOP_LOCK_TIMEOUT_MS);
    if (fd < 0) {
        qv_error_prefix("VM '%s'", v->name);
        return fd;
    }
    v->lock_fd = fd;
    return 0;
}

void noop_store_unlock(struct noop_vm *v)
{
    qv_lock_release(v->lock_fd);
    v->lock_fd = -1;
}

/* ---- state.json ---- */

static const char *const state_names[] = {"created", "running",   "paused",
                                          "stopped", "migrating", "destroyed"};
static const char *const reason_names[] = {"none",    "user",   "shutdown",
                                           "crashed", "failed", "reset"};

const char *noop_reason_name(enum vm_state_reason reason)
{
    return (unsigned)reason < G_N_ELEMENTS(reason_names) ? reason_names[reason] : "none";
}

int noop_state_from_name(const char *s, enum vm_state *out)
{
    for (size_t i = 0; s && i < G_N_ELEMENTS(state_names); i++)
        if (strcmp(s, state_names[i]) == 0) {
            *out = (enum vm_state)i;
            return 0;
        }
    return -1;
}

int noop_reason_from_name(const char *s, enum vm_state_reason *out)
{
    for (size_t i = 0; s && i < G_N_ELEMENTS(reason_names); i++)
        if (strcmp(s, reason_names[i]) == 0) {
            *out = (enum vm_state_reason)i;
            return 0;
        }
    return -1;
}

static char *hex64(uint64_t v)
{
    return g_strdup_printf("0x%" G_GINT64_MODIFIER "x", v);
}

/* Members of our own files, read without trusting their types (a file
 * edited by hand must give an error, not a warning from json-glib). */
bool noop_json_int(JsonObject *o, const char *member, gint64 *out)
{
    JsonNode *n = json_object_get_member(o, member);
    if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64)
        return false;
    *out = json_node_get_int(n);
    return true;
}

int noop_parse_hex64(JsonObject *o, const char *member, uint64_t *out)
{
    const char *s = qv_json_str(o, member);
    if (!s || !g_str_has_prefix(s, "0x") || !s[2])
        return -1;
    char *end = NULL;
    errno = 0;
    guint64 v = g_ascii_strtoull(s + 2, &end, 16);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

int noop_json_regions(JsonObject *o, const char *path, GArray *regions)
{
    JsonNode *an = json_object_get_member(o, "regions");
    if (an && !JSON_NODE_HOLDS_ARRAY(an))
        return qv_error_set(QV_ERR_JSON, "%s: $.regions: expected an array", path);
    JsonArray *arr = an ? json_node_get_array(an) : NULL;
    for (guint i = 0; arr && i < json_array_get_length(arr); i++) {
        JsonNode *n = json_array_get_element(arr, i);
        struct noop_region r = {.fd = -1};
        gint64 flags = 0;
        JsonObject *ro = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
        if (!ro || noop_parse_hex64(ro, "gpa", &r.gpa) < 0 ||
            noop_parse_hex64(ro, "size", &r.size) < 0 || r.size == 0 || r.gpa % 4096 ||
            r.size % 4096 || r.gpa + r.size < r.gpa || !noop_json_int(ro, "flags", &flags) ||
            flags < 0 || flags > 7)
            return qv_error_set(QV_ERR_JSON,
                                "%s: $.regions[%u]: needs page-aligned hex gpa and size and "
                                "flags 0-7",
                                path, i);
        r.flags = (uint32_t)flags;
        g_array_append_val(regions, r);
    }
    return 0;
}

void noop_json_add_regions(JsonBuilder *b, GPtrArray *regions, guint from)
{
    json_builder_set_member_name(b, "regions");
    json_builder_begin_array(b);
    for (guint i = from; regions && i < regions->len; i++) {
        struct noop_region *r = g_ptr_array_index(regions, i);
        g_autofree char *gpa = hex64(r->gpa), *size = hex64(r->size);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "gpa");
        json_builder_add_string_value(b, gpa);
        json_builder_set_member_name(b, "size");
        json_builder_add_string_value(b, size);
        json_builder_set_member_name(b, "flags");
        json_builder_add_int_value(b, r->flags);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

int noop_store_write_state(const char *dir, const char *instance, uint64_t memgen,
                           const struct qv_vm_status *st, GPtrArray *regions)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "instance");
    json_builder_add_string_value(b, instance);
    json_builder_set_member_name(b, "state");
    json_builder_add_string_value(b, state_names[st->state]);
    json_builder_set_member_name(b, "reason");
    json_builder_add_string_value(b, noop_reason_name(st->reason));
    json_builder_set_member_name(b, "exit_status");
    json_builder_add_int_value(b, st->exit_status);
    if (memgen) {
        json_builder_set_member_name(b, "memory_generation");
        json_builder_add_int_value(b, (gint64)memgen);
    }
    /* RAM is implied by the definition; only added regions are listed. */
    noop_json_add_regions(b, regions, 1);
    json_builder_end_object(b);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    json_generator_set_pretty(gen, TRUE);
    gsize len = 0;
    g_autofree char *text = json_generator_to_data(gen, &len);
    g_autofree char *path = g_build_filename(dir, "state.json", NULL);
    return qv_file_write_atomic(path, text, len, 0600);
}

/* Parse state.json into st and (when wanted) the added regions. */
static int read_state(const char *dir, struct qv_vm_status *st, GArray *regions, char instance[37],
                      uint64_t *memgen)
{
    g_autofree char *path = g_build_filename(dir, "state.json", NULL);
    g_autoptr(JsonNode) root = qv_json_load_file(path);
    int rc = root ? 0 : qv_error_code();
    if (rc == QV_ERR_NOT_FOUND && !g_file_test(dir, G_FILE_TEST_IS_DIR))
        return qv_error_set(QV_ERR_NOT_FOUND, "'%s' no longer exists", dir); /* destroyed */
    if (rc == QV_ERR_NOT_FOUND) /* the directory is there without it: damage */
        return qv_error_set(QV_ERR_IO, "%s is missing", path);
    if (rc < 0)
        return rc;
    if (!JSON_NODE_HOLDS_OBJECT(root))
        return qv_error_set(QV_ERR_JSON, "%s: expected a JSON object", path);
    JsonObject *o = json_node_get_object(root);
    const char *s = qv_json_str(o, "state");
    if (noop_state_from_name(s, &st->state) < 0 || st->state == VM_STATE_DESTROYED)
        return qv_error_set(QV_ERR_JSON, "%s: $.state: '%s' is not a VM state", path,
                            s ? s : "(missing)");
    s = qv_json_str(o, "reason");
    if (noop_reason_from_name(s, &st->reason) < 0)
        return qv_error_set(QV_ERR_JSON, "%s: $.reason: '%s' is not a reason", path,
                            s ? s : "(missing)");
    gint64 status = -1;
    if (json_object_has_member(o, "exit_status") &&
        (!noop_json_int(o, "exit_status", &status) || status < -1 || status > 255))
        return qv_error_set(QV_ERR_JSON, "%s: $.exit_status: expected an integer -1..255", path);
    st->exit_status = (int)status;
    gint64 gen = 0;
    if (json_object_has_member(o, "memory_generation") &&
        (!noop_json_int(o, "memory_generation", &gen) || gen < 0))
        return qv_error_set(QV_ERR_JSON, "%s: $.memory_generation: expected an integer >= 0", path);
    if (memgen)
        *memgen = (uint64_t)gen;
    const char *id = qv_json_str(o, "instance");
    if (instance)
        g_strlcpy(instance, id ? id : "", 37);
    if (!regions)
        return 0;
    return noop_json_regions(o, path, regions);
}

/* A state.json without an id (written by hand) matches any. */
static bool same_instance(const struct noop_vm *v, const char *id)
{
    return !id[0] || !v->instance[0] || strcmp(id, v->instance) == 0;
}

int noop_store_read_status(struct noop_vm *v, struct qv_vm_status *st)
{
    char id[37];
    int rc = read_state(v->dir, st, NULL, id, NULL);
    if (rc == 0 && !same_instance(v, id))
        return qv_error_set(QV_ERR_NOT_FOUND, "VM '%s' was destroyed", v->name);
    return rc;
}

int noop_store_read_memgen(const char *dir, uint64_t *memgen)
{
    struct qv_vm_status st;
    return read_state(dir, &st, NULL, NULL, memgen);
}

int noop_store_adopt(struct noop_vm *v)
{
    struct qv_vm_status st;
    return read_state(v->dir, &st, NULL, v->instance, NULL);
}

int noop_store_save_state(struct noop_vm *v)
{
    return noop_store_write_state(v->dir, v->instance, v->memgen, &v->st, v->regions);
}

/* ---- domain.xml ---- */

static int write_def_file(const char *path, const struct qv_domain *def)
{
    g_autofree char *xml = qv_domain_format_xml(def);
    if (!xml)
        return qv_error_code() ? qv_error_code() : QV_ERR_INTERNAL;
    return qv_file_write_atomic(path, xml, strlen(xml), 0600);
}

int noop_store_write_def(const char *dir, const struct qv_domain *def)
{
    g_autofree char *path = g_build_filename(dir, "domain.xml", NULL);
    return write_def_file(path, def);
}

char *noop_store_pending_def(const char *dir, uint64_t memgen)
{
    return g_strdup_printf("%s/domain.g%" G_GUINT64_FORMAT ".xml", dir, memgen);
}

int noop_store_write_pending_def(const char *dir, uint64_t memgen, const struct qv_domain *def)
{
    g_autofree char *path = noop_store_pending_def(dir, memgen);
    return write_def_file(path, def);
}

int noop_store_roll_forward(const char *dir, uint64_t memgen)
{
    g_autofree char *pending = noop_store_pending_def(dir, memgen);
    g_autofree char *path = g_build_filename(dir, "domain.xml", NULL);
    if (rename(pending, path) == 0) {
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
            fsync(fd);
            close(fd);
        }
        return 0;
    }
    if (errno == ENOENT)
        return 0; /* nothing pending */
    return qv_error_set_errno(QV_ERR_IO, errno, "cannot rename '%s' to '%s'", pending, path);
}

int noop_store_save_def(struct noop_vm *v)
{
    return noop_store_write_def(v->dir, v->def);
}

static char *stamp_of(const struct stat *st)
{
    return g_strdup_printf("%lu:%lu:%ld.%09ld:%ld", (unsigned long)st->st_dev,
                           (unsigned long)st->st_ino, (long)st->st_mtim.tv_sec,
                           (long)st->st_mtim.tv_nsec, (long)st->st_size);
}

static int load_def(struct noop_vm *v)
{
    g_autofree char *path = g_build_filename(v->dir, "domain.xml", NULL);
    struct stat st;
    if (stat(path, &st) < 0) /* not QV_ERR_NOT_FOUND: that would mean "destroyed" */
        return qv_error_set(QV_ERR_IO, "VM '%s': cannot read '%s': %s", v->name, path,
                            g_strerror(errno));
    g_autofree char *stamp = stamp_of(&st);
    /* Every write is a rename, so an unchanged identity means unchanged
     * content: skip the parse. */
    if (v->def && g_strcmp0(stamp, v->def_stamp) == 0)
        return 0;
    g_autofree char *xml = NULL;
    int rc = qv_file_read_text(path, QV_DEFINITION_MAX_BYTES, &xml, NULL);
    if (rc < 0)
        return rc;
    struct qv_domain *def = qv_domain_parse_xml(xml);
    if (!def) {
        qv_error_prefix("%s", path);
        return qv_error_code();
    }
    if (g_strcmp0(def->name, v->name) != 0) {
        int r = qv_error_set(QV_ERR_XML, "%s: names VM '%s', but its directory is '%s'", path,
                             def->name, v->name);
        qv_domain_free(def);
        return r;
    }
    qv_domain_free(v->def);
    v->def = def;
    g_free(v->def_stamp);
    v->def_stamp = g_steal_pointer(&stamp);
    return 0;
}

int noop_store_load(struct noop_vm *v, bool full)
{
    struct stat st;
    if (lstat(v->dir, &st) < 0) {
        if (errno == ENOENT)
            return qv_error_set(QV_ERR_NOT_FOUND, "VM '%s' no longer exists", v->name);
        return qv_error_set_errno(QV_ERR_IO, errno, "VM '%s': cannot stat '%s'", v->name, v->dir);
    }
    if (!S_ISDIR(st.st_mode))
        return qv_error_set(QV_ERR_IO, "VM '%s': '%s' is not a directory", v->name, v->dir);
    /* Read into a copy: a different instance must not touch v. */
    struct qv_vm_status now;
    char id[37];
    g_autoptr(GArray) regions = g_array_new(FALSE, TRUE, sizeof(struct noop_region));
    uint64_t memgen = 0;
    int rc = read_state(v->dir, &now, full ? regions : NULL, id, &memgen);
    if (rc < 0)
        return rc;
    if (!same_instance(v, id))
        return qv_error_set(QV_ERR_NOT_FOUND, "VM '%s' was destroyed (a new VM now has its name)",
                            v->name);
    v->st = now;
    if (!v->instance[0])
        g_strlcpy(v->instance, id, sizeof(v->instance));
    if (!full)
        return 0;
    /* A restore committed (state.json names its generation) but was
     * killed before its definition took the place of domain.xml. */
    if ((rc = noop_store_roll_forward(v->dir, memgen)) < 0)
        return rc;
    rc = load_def(v);
    if (rc < 0)
        return rc;
    if (memgen != v->memgen && (rc = noop_memory_regen(v, memgen)) < 0)
        return rc;
    if (v->regions->len == 0 && (rc = noop_memory_init(v)) < 0)
        return rc;
    return noop_memory_sync(v, regions);
}

/* ---- Publishing and listing ---- */

char *noop_store_mkdtemp(const char *parent, const char *name)
{
    char *tmp = g_strdup_printf("%s/.tmp-%s-XXXXXX", parent, name);
    /* chmod: the caller's umask must not decide (0277 leaves a directory
     * nothing can be written into). */
    if (!g_mkdtemp_full(tmp, 0700) || chmod(tmp, 0700) < 0) {
        qv_error_set_errno(QV_ERR_IO, errno, "cannot create a directory in '%s'", parent);
        g_free(tmp);
        return NULL;
    }
    return tmp;
}

int noop_store_publish(const char *tmp, const char *dir, const char *what, const char *name)
{
    /* RENAME_NOREPLACE: rename(2) alone would replace an empty directory. */
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_NOREPLACE) == 0) {
        g_autofree char *parent = g_path_get_dirname(dir);
        int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
            fsync(fd);
            close(fd);
        }
        return 0;
    }
    if (errno == EEXIST || errno == ENOTEMPTY)
        return qv_error_set(QV_ERR_EXISTS, "cannot %s '%s': it already exists", what, name);
    return qv_error_set_errno(QV_ERR_IO, errno, "cannot %s '%s': cannot create '%s'", what, name,
                              dir);
}

char *noop_store_uuid_owner(struct noop_conn *nc, const char *uuid)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    if (noop_store_list(nc, names) < 0)
        return NULL;
    /* domain.xml is ours, written by qv_domain_format_xml: the UUID appears
     * exactly as <uuid>...</uuid>, so a text search is enough. */
    g_autofree char *needle = g_strdup_printf("<uuid>%s</uuid>", uuid);
    for (guint i = 0; i < names->len; i++) {
        const char *name = g_ptr_array_index(names, i);
        g_autofree char *path = g_build_filename(nc->dir, name, "domain.xml", NULL);
        g_autofree char *xml = NULL;
        if (g_file_get_contents(path, &xml, NULL, NULL) && strstr(xml, needle))
            return g_strdup(name);
    }
    return NULL;
}

int noop_store_list(struct noop_conn *nc, GPtrArray *names)
{
    g_autoptr(GError) err = NULL;
    GDir *d = g_dir_open(nc->dir, 0, &err);
    if (!d)
        return qv_error_set(QV_ERR_IO, "cannot list VMs: %s", err->message);
    const char *e;
    while ((e = g_dir_read_name(d))) {
        if (e[0] == '.' || !qv_name_check(e, "VM"))
            continue; /* not ours */
        g_autofree char *xml = g_build_filename(nc->dir, e, "domain.xml", NULL);
        if (g_file_test(xml, G_FILE_TEST_IS_REGULAR))
            g_ptr_array_add(names, g_strdup(e));
    }
    g_dir_close(d);
    qv_reset_error(); /* from skipped names */
    return 0;
}
