/* Definitions kept on this host until start sends them to the server (a
 * Propolis instance is created together with its spec). One directory per
 * VM under STATE_DIR/propolis/HOST_PORT/, made whole before it appears: it
 * is built under a hidden temporary name and renamed into place. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/util/error.h"
#include "lib/util/fileio.h"
#include "lib/util/json.h"
#include "lib/util/lock.h"
#include "propolis.h"

#define LOCK_TIMEOUT_MS 10000

void propolis_vm_free(struct propolis_vm *pv)
{
    if (!pv)
        return;
    g_free(pv->dir);
    g_free(pv->ensure_json);
    qv_domain_free(pv->def);
    g_free(pv);
}

static int lock_store(struct propolis_conn *pc)
{
    g_autofree char *path = g_build_filename(pc->dir, ".lock", NULL);
    return qv_lock_acquire(path, LOCK_TIMEOUT_MS);
}

/* The UUID in a stored PUT /instance body; false when there is none. */
static bool ensure_uuid(const char *json, char uuid[37])
{
    g_autoptr(JsonNode) root = qv_json_parse_bounded(json, strlen(json), "instance.json", NULL);
    JsonObject *o = root && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
    const char *id = qv_json_str(qv_json_obj(o, "properties"), "id");
    if (!id || !g_uuid_string_is_valid(id))
        return false;
    g_strlcpy(uuid, id, 37);
    return true;
}

/* Hidden entries are the lock and directories being built or removed. */
static bool is_vm_dir_name(const char *n)
{
    return n[0] != '.';
}

/* The stored VM that already uses uuid (the server keys instances by it). */
static char *uuid_owner(struct propolis_conn *pc, const char *uuid)
{
    g_autoptr(GDir) d = g_dir_open(pc->dir, 0, NULL);
    const char *n;
    while (d && (n = g_dir_read_name(d))) {
        if (!is_vm_dir_name(n))
            continue;
        g_autofree char *path = g_build_filename(pc->dir, n, "instance.json", NULL);
        g_autofree char *json = NULL;
        char other[37];
        if (g_file_get_contents(path, &json, NULL, NULL) && ensure_uuid(json, other) &&
            g_ascii_strcasecmp(other, uuid) == 0)
            return g_strdup(n);
    }
    return NULL;
}

static int write_vm_dir(const char *tmp, const struct qv_domain *def, const char *json)
{
    g_autofree char *xml = qv_domain_format_xml(def);
    if (!xml)
        return qv_error_code() ? qv_error_code() : QV_ERR_INTERNAL;
    g_autofree char *xml_path = g_build_filename(tmp, "domain.xml", NULL);
    g_autofree char *json_path = g_build_filename(tmp, "instance.json", NULL);
    int rc = qv_file_write_atomic(xml_path, xml, strlen(xml), 0600);
    if (rc == 0)
        rc = qv_file_write_atomic(json_path, json, strlen(json), 0600);
    return rc;
}

int propolis_store_define(struct propolis_conn *pc, const struct qv_domain *def, JsonNode *ensure,
                          struct propolis_vm **out)
{
    int rc = qv_dir_ensure(pc->dir, 0700);
    if (rc < 0)
        return rc;
    int lock = lock_store(pc);
    if (lock < 0)
        return lock;
    g_autofree char *dir = g_build_filename(pc->dir, def->name, NULL);
    g_autofree char *owner = NULL;
    g_autofree char *tmp = NULL;
    g_autofree char *json = json_to_string(ensure, TRUE);
    if (g_file_test(dir, G_FILE_TEST_EXISTS)) {
        rc = qv_error_set(QV_ERR_EXISTS,
                          "a VM named '%s' is already defined for "
                          "propolis-server %s",
                          def->name, pc->client->authority);
        goto out;
    }
    if ((owner = uuid_owner(pc, def->uuid))) {
        rc = qv_error_set(QV_ERR_EXISTS,
                          "cannot define VM '%s': VM '%s' already has UUID %s on "
                          "propolis-server %s",
                          def->name, owner, def->uuid, pc->client->authority);
        goto out;
    }
    tmp = g_strdup_printf("%s/.%s.XXXXXX", pc->dir, def->name);
    if (!g_mkdtemp_full(tmp, 0700)) {
        rc = qv_error_set_errno(QV_ERR_IO, errno, "cannot create a directory in '%s'", pc->dir);
        goto out;
    }
    rc = write_vm_dir(tmp, def, json);
    if (rc == 0 && rename(tmp, dir) < 0)
        rc = qv_error_set_errno(QV_ERR_IO, errno, "cannot create '%s'", dir);
    if (rc < 0) {
        struct qv_error_saved e;
        qv_error_save(&e);
        qv_dir_remove_tree(tmp);
        qv_error_restore(&e);
        goto out;
    }
    struct propolis_vm *pv = g_new0(struct propolis_vm, 1);
    pv->dir = g_steal_pointer(&dir);
    g_strlcpy(pv->uuid, def->uuid, sizeof(pv->uuid));
    pv->ensure_json = g_steal_pointer(&json);
    pv->def = qv_domain_copy(def);
    *out = pv;
out:
    qv_lock_release(lock);
    return rc;
}

int propolis_store_lookup(struct propolis_conn *pc, const char *name, struct propolis_vm **out)
{
    g_autofree char *dir = g_build_filename(pc->dir, name, NULL);
    g_autofree char *path = g_build_filename(dir, "instance.json", NULL);
    g_autofree char *json = NULL;
    if (!g_file_test(dir, G_FILE_TEST_IS_DIR))
        return qv_error_set(QV_ERR_NOT_FOUND, "no VM named '%s' is defined for propolis-server %s",
                            name, pc->client->authority);
    int rc = qv_file_read_text(path, QV_JSON_MAX_BYTES, &json, NULL);
    if (rc < 0) {
        qv_error_prefix("VM '%s'", name);
        return rc;
    }
    struct propolis_vm *pv = g_new0(struct propolis_vm, 1);
    if (!ensure_uuid(json, pv->uuid)) {
        g_free(pv);
        return qv_error_set(QV_ERR_JSON, "VM '%s': '%s' has no valid properties.id", name, path);
    }
    pv->dir = g_steal_pointer(&dir);
    pv->ensure_json = g_steal_pointer(&json);
    *out = pv;
    return 0;
}

int propolis_store_list(struct propolis_conn *pc, GPtrArray *names)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GDir) d = g_dir_open(pc->dir, 0, &err);
    if (!d) {
        if (g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT))
            return 0;
        return qv_error_set(QV_ERR_IO, "cannot list '%s': %s", pc->dir, err->message);
    }
    const char *n;
    while ((n = g_dir_read_name(d))) {
        g_autofree char *full = g_build_filename(pc->dir, n, NULL);
        if (is_vm_dir_name(n) && g_file_test(full, G_FILE_TEST_IS_DIR))
            g_ptr_array_add(names, g_strdup(n));
    }
    return 0;
}

int propolis_store_remove(struct propolis_conn *pc, struct propolis_vm *pv, const char *name)
{
    int lock = lock_store(pc);
    if (lock < 0)
        return lock;
    /* Out of sight first, so a crash midway leaves no half VM behind. */
    g_autofree char *gone = g_strdup_printf("%s/.%s.removing.%d", pc->dir, name, (int)getpid());
    int rc = 0;
    if (rename(pv->dir, gone) < 0 && errno != ENOENT)
        rc = qv_error_set_errno(QV_ERR_IO, errno, "cannot remove VM '%s' ('%s')", name, pv->dir);
    else
        rc = qv_dir_remove_tree(gone);
    qv_lock_release(lock);
    return rc;
}
