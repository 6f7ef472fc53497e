/* The qemu driver's VM directories: one UUID, one VM under concurrent
 * defines (threads and processes), and the sweep of what interrupted
 * operations leave, under the lock that proves nobody writes it. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drivers/qemu/qemu.h"
#include "include/qv/qv.h"
#include "lib/proc/proc.h"
#include "lib/util/fileio.h"
#include "lib/util/json.h"

static char *root;
static char *uri;

#define UUID "5d0c3f6e-8f3a-4b1e-9c2d-0a1b2c3d4e5f"
#define OK(call) ck_assert_msg((call) == 0, "%s: %s", #call, qv_last_error()->message)

static char *xml_named(const char *name)
{
    return g_strdup_printf("<domain type='qemu'><name>%s</name><uuid>" UUID "</uuid>"
                           "<memory unit='MiB'>32</memory><vcpu>1</vcpu>"
                           "<os><type arch='x86_64'>hvm</type></os></domain>",
                           name);
}

static void setup(void)
{
    root = g_dir_make_tmp("qv-qstore-XXXXXX", NULL);
    uri = g_strdup_printf("qemu:///session?root=%s", root);
}

static void teardown(void)
{
    qv_dir_remove_tree(root);
    g_free(root);
    g_free(uri);
}

static int count_vms(void)
{
    struct qv_conn *c = qv_connect(uri);
    ck_assert_ptr_nonnull(c);
    char **names = NULL;
    size_t n = 0;
    OK(vm_list(c, &names, &n));
    qv_strv_free(names);
    qv_close(c);
    return (int)n;
}

START_TEST(uuid_taken_is_refused)
{
    struct qv_conn *c = qv_connect(uri);
    g_autofree char *a = xml_named("u1");
    g_autofree char *b = xml_named("u2");
    struct vm *vm = vm_define_xml(c, a);
    ck_assert_msg(vm != NULL, "%s", qv_last_error()->message);
    ck_assert_ptr_null(vm_define_xml(c, b));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_EXISTS);
    ck_assert_msg(strstr(qv_last_error()->message, "VM 'u1' already has UUID " UUID), "%s",
                  qv_last_error()->message);
    /* Nothing of the refused VM is left, and its name is free. */
    g_autofree char *dir = g_build_filename(root, "qemu", "u2", NULL);
    ck_assert(!g_file_test(dir, G_FILE_TEST_EXISTS));
    vm_destroy(vm);
    struct vm *again = vm_define_xml(c, b);
    ck_assert_msg(again != NULL, "%s", qv_last_error()->message);
    vm_destroy(again);
    qv_close(c);
}
END_TEST

#define RACERS 8

static gpointer define_one(gpointer data)
{
    struct qv_conn *c = qv_connect(uri);
    g_autofree char *xml = xml_named(data);
    struct vm *vm = vm_define_xml(c, xml);
    int rc = vm ? 0 : qv_last_error()->code;
    vm_free(vm);
    qv_close(c);
    return GINT_TO_POINTER(rc);
}

START_TEST(uuid_race_threads)
{
    GThread *t[RACERS];
    char names[RACERS][16];
    for (int i = 0; i < RACERS; i++) {
        snprintf(names[i], sizeof(names[i]), "t%d", i);
        t[i] = g_thread_new("define", define_one, names[i]);
    }
    int ok = 0;
    for (int i = 0; i < RACERS; i++) {
        int rc = GPOINTER_TO_INT(g_thread_join(t[i]));
        ck_assert_msg(rc == 0 || rc == QV_ERR_EXISTS, "define failed with %d", rc);
        ok += rc == 0;
    }
    ck_assert_int_eq(ok, 1);
    ck_assert_int_eq(count_vms(), 1);
}
END_TEST

START_TEST(uuid_race_processes)
{
    pid_t pids[RACERS];
    for (int i = 0; i < RACERS; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0) {
            char name[16];
            snprintf(name, sizeof(name), "p%d", i);
            int rc = GPOINTER_TO_INT(define_one(name));
            _exit(rc == 0 ? 0 : rc == QV_ERR_EXISTS ? 1 : 2);
        }
    }
    int ok = 0;
    for (int i = 0; i < RACERS; i++) {
        int status;
        ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) < 2);
        ok += WEXITSTATUS(status) == 0;
    }
    ck_assert_int_eq(ok, 1);
    ck_assert_int_eq(count_vms(), 1);
}
END_TEST

static void mkfile(const char *path)
{
    g_autofree char *dir = g_path_get_dirname(path);
    OK(qv_dir_ensure(dir, 0700));
    OK(qv_file_write_atomic(path, "x", 1, 0600));
}

START_TEST(open_sweeps_stale_temporaries)
{
    struct qv_conn *c = qv_connect(uri);
    g_autofree char *xml = g_strdup_printf(
        "<domain type='qemu'><name>keep</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64'>hvm</type></os></domain>");
    struct vm *vm = vm_define_xml(c, xml);
    ck_assert_ptr_nonnull(vm);
    vm_free(vm);
    qv_close(c);
    g_autofree char *kind = g_build_filename(root, "qemu", NULL);
    /* What kills leave: a half-copied clone, a directory being removed, a
     * VM directory whose definition was never written, an atomic write's
     * temporary, a snapshot record's, a shared base's record. */
    g_autofree char *clone = g_build_filename(kind, ".tmp-gone-a1b2c3", "vda.qcow2", NULL);
    g_autofree char *trash = g_build_filename(kind, ".tmp-keep-zzzzzz", "domain.xml", NULL);
    g_autofree char *nodef = g_build_filename(kind, "half", "console.log", NULL);
    g_autofree char *atomic = g_build_filename(kind, "keep", ".state.json.Q1w2E3", NULL);
    g_autofree char *snap = g_build_filename(kind, "keep", "snapshots", ".s1.json.abcdef", NULL);
    /* ... and one a live writer holds the lock of. */
    g_autofree char *base = g_build_filename(kind, ".bases", ".tmp-1a2b3c4d", "base.json", NULL);
    g_autofree char *busy = g_build_filename(kind, ".tmp-busy-qwerty", "domain.xml", NULL);
    const char *all[] = {clone, trash, nodef, atomic, snap, base, busy};
    for (size_t i = 0; i < G_N_ELEMENTS(all); i++)
        mkfile(all[i]);
    int lock = proc_lock(root, "qemu", "busy", 0);
    ck_assert_int_ge(lock, 0);

    c = qv_connect(uri);
    ck_assert_ptr_nonnull(c);
    for (size_t i = 0; i < G_N_ELEMENTS(all) - 1; i++)
        ck_assert_msg(!g_file_test(all[i], G_FILE_TEST_EXISTS), "%s survived", all[i]);
    g_autofree char *half = g_build_filename(kind, "half", NULL);
    ck_assert(!g_file_test(half, G_FILE_TEST_EXISTS));
    ck_assert(g_file_test(busy, G_FILE_TEST_EXISTS));
    g_autofree char *def = g_build_filename(kind, "keep", "domain.xml", NULL);
    ck_assert(g_file_test(def, G_FILE_TEST_EXISTS));
    vm = vm_lookup(c, "keep");
    ck_assert_ptr_nonnull(vm);
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_CREATED);
    vm_free(vm);
    qv_close(c);

    /* Once its writer is gone, the next open removes it too. */
    proc_unlock(lock);
    c = qv_connect(uri);
    ck_assert(!g_file_test(busy, G_FILE_TEST_EXISTS));
    vm = vm_lookup(c, "keep");
    vm_destroy(vm);
    /* Destroy leaves no temporary behind. */
    GDir *d = g_dir_open(kind, 0, NULL);
    const char *e;
    while ((e = g_dir_read_name(d)))
        ck_assert_msg(g_str_has_suffix(e, ".lock") || g_str_has_suffix(e, ".flock") ||
                          strcmp(e, ".bases") == 0,
                      "left: %s", e);
    g_dir_close(d);
    qv_close(c);
}
END_TEST

/* ---- snapshots: records and qcow2 tags agree after any interruption ---- */

/* qemu-img as the driver runs it; the test fails with its message. */
static void tool(const char *const *argv, char **out)
{
    ck_assert_msg(qemu_run_tool(argv, out) == 0, "%s", qv_last_error()->message);
}

/* The tag names in the qcow2, one per line, read as the driver reads them. */
static char *tags_of(const char *disk)
{
    g_autoptr(JsonNode) info = qemu_image_info(disk, true);
    ck_assert_msg(info != NULL, "%s", qv_last_error()->message);
    JsonObject *o = json_node_get_object(info);
    JsonNode *sn = json_object_get_member(o, "snapshots");
    JsonArray *a = sn && JSON_NODE_HOLDS_ARRAY(sn) ? json_node_get_array(sn) : NULL;
    GString *names = g_string_new(NULL);
    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        const char *name =
            JSON_NODE_HOLDS_OBJECT(e) ? qv_json_str(json_node_get_object(e), "name") : NULL;
        g_string_append_printf(names, "%s\n", name ? name : "");
    }
    return g_string_free(names, FALSE);
}

static struct vm *qcow2_vm(struct qv_conn *c, const char *name, char **disk)
{
    *disk = g_strdup_printf("%s/%s.qcow2", root, name);
    const char *mk[] = {"qemu-img", "create", "-q", "-f", "qcow2", *disk, "4M", NULL};
    tool(mk, NULL);
    g_autofree char *xml = g_strdup_printf(
        "<domain type='qemu'><name>%s</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64'>hvm</type></os><devices><disk type='file' device='disk'>"
        "<driver name='qemu' type='qcow2'/><source file='%s'/><target dev='vda' bus='virtio'/>"
        "</disk></devices></domain>",
        name, *disk);
    struct vm *vm = vm_define_xml(c, xml);
    ck_assert_msg(vm != NULL, "%s", qv_last_error()->message);
    return vm;
}

static size_t snap_count(struct vm *vm)
{
    struct snapshot_info *list = NULL;
    size_t n = 0;
    OK(snapshot_list(vm, &list, &n));
    snapshot_info_free(list, n);
    return n;
}

START_TEST(snapshot_records_and_tags_agree)
{
    struct qv_conn *c = qv_connect(uri);
    g_autofree char *disk = NULL;
    struct vm *vm = qcow2_vm(c, "s1", &disk);
    OK(snapshot_create(vm, "kept", 0));
    ck_assert_int_eq(snap_count(vm), 1);

    /* A create killed after its tag, before any record: the tag goes, and
     * a new snapshot of that name is the only one with it. */
    const char *orphan[] = {"qemu-img", "snapshot", "-c", "again", disk, NULL};
    tool(orphan, NULL);
    ck_assert_int_eq(snap_count(vm), 1);
    g_autofree char *t1 = tags_of(disk);
    ck_assert_str_eq(t1, "kept\n");
    tool(orphan, NULL);
    OK(snapshot_create(vm, "again", 0));
    g_autofree char *t2 = tags_of(disk);
    ck_assert_str_eq(t2, "kept\nagain\n");

    /* A create killed between record and tag ("creating"), and a record
     * whose tag is gone: both are dropped; "kept" survives. */
    g_autofree char *rec = g_build_filename(root, "qemu", "s1", "snapshots", "half.json", NULL);
    const char *creating = "{\"created_us\": 1, \"state\": \"stopped\", \"disk_only\": true, "
                           "\"phase\": \"creating\"}";
    OK(qv_file_write_atomic(rec, creating, strlen(creating), 0600));
    const char *drop[] = {"qemu-img", "snapshot", "-d", "again", disk, NULL};
    tool(drop, NULL);
    ck_assert_int_eq(snap_count(vm), 1);
    ck_assert(!g_file_test(rec, G_FILE_TEST_EXISTS));
    g_autofree char *t3 = tags_of(disk);
    ck_assert_str_eq(t3, "kept\n");
    OK(snapshot_restore(vm, "kept"));

    /* A delete killed after marking its record: the snapshot is gone. */
    g_autofree char *kept = g_build_filename(root, "qemu", "s1", "snapshots", "kept.json", NULL);
    const char *deleting = "{\"created_us\": 1, \"state\": \"stopped\", \"disk_only\": true, "
                           "\"phase\": \"deleting\"}";
    OK(qv_file_write_atomic(kept, deleting, strlen(deleting), 0600));
    ck_assert_int_eq(snap_count(vm), 0);
    g_autofree char *t4 = tags_of(disk);
    ck_assert_str_eq(t4, "");
    vm_destroy(vm);
    qv_close(c);
}
END_TEST

START_TEST(clone_starts_without_snapshots)
{
    struct qv_conn *c = qv_connect(uri);
    g_autofree char *disk = NULL;
    struct vm *vm = qcow2_vm(c, "s2", &disk);
    OK(snapshot_create(vm, "one", 0));
    OK(snapshot_create(vm, "two", 0));
    struct vm *cl = vm_clone(vm, "s2-copy");
    ck_assert_msg(cl != NULL, "%s", qv_last_error()->message);
    /* As virt-clone: the source's snapshots stay the source's, kept in the
     * shared base, which the clone's list and reconcile leave alone. */
    ck_assert_int_eq(snap_count(cl), 0);
    OK(snapshot_create(cl, "one", 0));
    ck_assert_int_eq(snap_count(cl), 1);
    ck_assert_int_eq(snap_count(vm), 2);
    g_autofree char *t = tags_of(disk);
    ck_assert_str_eq(t, "one\ntwo\n");
    OK(snapshot_restore(cl, "one"));
    OK(snapshot_delete(vm, "two"));
    ck_assert_int_eq(snap_count(vm), 1);
    g_autofree char *t2 = tags_of(disk);
    ck_assert_str_eq(t2, "one\ntwo\n");
    vm_destroy(cl);
    vm_destroy(vm);
    qv_close(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("qemu_store");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, uuid_taken_is_refused);
    tcase_add_test(tc, uuid_race_threads);
    tcase_add_test(tc, uuid_race_processes);
    tcase_add_test(tc, open_sweeps_stale_temporaries);
    tcase_add_test(tc, snapshot_records_and_tags_agree);
    tcase_add_test(tc, clone_starts_without_snapshots);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
