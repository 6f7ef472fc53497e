/* Copy-on-write clones in the qemu driver, on real qemu-img and QEMU
 * (SeaBIOS, nothing to boot): the clone's disks are overlays over a shared
 * base, writes stay apart, the base lives while a VM reads it, earlier
 * snapshots of the source still restore, and a running source is switched
 * live. Disk contents are checked with qemu-io patterns. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drivers/qemu/qemu.h"
#include "include/qv/qv.h"
#include "lib/qmp/qmp.h"
#include "lib/util/fileio.h"
#include "lib/util/json.h"

static char *root;
static char *uri;

#define OK(call) ck_assert_msg((call) == 0, "%s: %s", #call, qv_last_error()->message)

static void destroy(struct vm *vm)
{
    vm_destroy(vm);
    ck_assert_msg(qv_last_error()->code == QV_OK, "%s", qv_last_error()->message);
}

static void setup(void)
{
    root = g_dir_make_tmp("qv-qclone-XXXXXX", NULL);
    uri = g_strdup_printf("qemu:///session?root=%s", root);
}

static void teardown(void)
{
    struct qv_conn *c = qv_connect(uri);
    char **names = NULL;
    if (c && vm_list(c, &names, NULL) == 0)
        for (char **n = names; *n; n++)
            vm_destroy(vm_lookup(c, *n));
    qv_strv_free(names);
    qv_close(c);
    qv_dir_remove_tree(root);
    g_free(root);
    g_free(uri);
}

static void tool(const char *const *argv)
{
    ck_assert_msg(qemu_run_tool(argv, NULL) == 0, "%s", qv_last_error()->message);
}

/* qemu-io on a stopped VM's disk file: write or check a pattern. */
static void io_write(const char *file, int pattern, const char *offset)
{
    g_autofree char *cmd = g_strdup_printf("write -P 0x%02x %s 64k", pattern, offset);
    const char *argv[] = {"qemu-io", "-f", "qcow2", "-c", cmd, file, NULL};
    tool(argv);
}

static bool io_reads(const char *file, int pattern, const char *offset)
{
    g_autofree char *cmd = g_strdup_printf("read -P 0x%02x %s 64k", pattern, offset);
    const char *argv[] = {"qemu-io", "-r", "-U", "-f", "qcow2", "-c", cmd, file, NULL};
    bool ok = qemu_run_tool(argv, NULL) == 0;
    qv_reset_error();
    return ok;
}

static char *new_disk(const char *name, const char *size)
{
    char *disk = g_strdup_printf("%s/%s.qcow2", root, name);
    const char *mk[] = {"qemu-img", "create", "-q", "-f", "qcow2", disk, size, NULL};
    tool(mk);
    return disk;
}

static struct vm *define_on_bus(struct qv_conn *c, const char *name, const char *disk,
                                const char *target, const char *bus)
{
    g_autofree char *xml = g_strdup_printf(
        "<domain type='qemu'><name>%s</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64'>hvm</type></os><devices><disk type='file' device='disk'>"
        "<driver name='qemu' type='qcow2'/><source file='%s'/><target dev='%s' bus='%s'/>"
        "</disk><interface type='user'><mac address='52:54:00:00:00:09'/></interface>"
        "</devices></domain>",
        name, disk, target, bus);
    struct vm *vm = vm_define_xml(c, xml);
    ck_assert_msg(vm != NULL, "%s", qv_last_error()->message);
    return vm;
}

static struct vm *define_on(struct qv_conn *c, const char *name, const char *disk)
{
    return define_on_bus(c, name, disk, "vda", "virtio");
}

/* The file the definition names for vda. */
static char *disk_of(struct vm *vm)
{
    char *xml = vm_get_xml(vm);
    const char *s = strstr(xml, "<source file=\"");
    ck_assert_msg(s != NULL, "%s", xml);
    s += strlen("<source file=\"");
    char *out = g_strndup(s, strchr(s, '"') - s);
    qv_free(xml);
    return out;
}

static JsonObject *info_of(const char *file, JsonNode **keep)
{
    *keep = qemu_image_info(file, true);
    ck_assert_msg(*keep != NULL, "%s", qv_last_error()->message);
    return json_node_get_object(*keep);
}

static char *backing_of(const char *file)
{
    g_autoptr(JsonNode) n = NULL;
    JsonObject *o = info_of(file, &n);
    const char *b = qv_json_str(o, "backing-filename");
    return g_strdup(b);
}

static size_t snap_count(struct vm *vm)
{
    struct snapshot_info *list = NULL;
    size_t n = 0;
    OK(snapshot_list(vm, &list, &n));
    snapshot_info_free(list, n);
    return n;
}

/* The base records: file -> users (comma-separated). */
static GHashTable *bases(void)
{
    GHashTable *out = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_autofree char *dir = g_build_filename(root, "qemu", ".bases", NULL);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *e;
    while (d && (e = g_dir_read_name(d))) {
        g_autofree char *rec = g_build_filename(dir, e, "base.json", NULL);
        g_autoptr(JsonNode) root_node = qv_json_load_file(rec);
        ck_assert_msg(root_node != NULL, "%s: %s", rec, qv_last_error()->message);
        JsonObject *o = json_node_get_object(root_node);
        JsonArray *a = json_object_get_array_member(o, "users");
        GString *users = g_string_new(NULL);
        for (guint i = 0; i < json_array_get_length(a); i++)
            g_string_append_printf(users, "%s%s", i ? "," : "",
                                   qv_json_str(json_array_get_object_element(a, i), "name"));
        g_hash_table_insert(out, g_strdup(qv_json_str(o, "file")), g_string_free(users, FALSE));
    }
    return out;
}

static guint file_mode(const char *path)
{
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    return st.st_mode & 0777;
}

START_TEST(stopped_clone_shares_a_base)
{
    /* 4 GiB of virtual size: a copy would show in the time and the space. */
    g_autofree char *disk = new_disk("src", "4G");
    io_write(disk, 0xaa, "0");
    struct qv_conn *c = qv_connect(uri);
    struct vm *vm = define_on(c, "src", disk);
    OK(snapshot_create(vm, "pre", 0));
    io_write(disk, 0xbb, "0");

    gint64 t0 = g_get_monotonic_time();
    struct vm *cl = vm_clone(vm, "dst");
    gint64 took_ms = (g_get_monotonic_time() - t0) / 1000;
    ck_assert_msg(cl != NULL, "%s", qv_last_error()->message);
    ck_assert_int_eq(vm_get_state(cl), VM_STATE_CREATED);
    fprintf(stderr, "clone of a 4 GiB disk: %" G_GINT64_FORMAT " ms\n", took_ms);

    /* Both are new overlays over the old file, which stays where it is. */
    g_autofree char *src_top = disk_of(vm);
    g_autofree char *dst_top = disk_of(cl);
    ck_assert_str_ne(src_top, disk);
    g_autofree char *want_dir = g_build_filename(root, "qemu", "dst", NULL);
    ck_assert(g_str_has_prefix(dst_top, want_dir));
    g_autofree char *sb = backing_of(src_top);
    g_autofree char *db = backing_of(dst_top);
    ck_assert_str_eq(sb, disk);
    ck_assert_str_eq(db, disk);
    ck_assert_uint_eq(file_mode(src_top), 0600);
    ck_assert_uint_eq(file_mode(dst_top), 0600);
    g_autoptr(JsonNode) keep = NULL;
    JsonObject *di = info_of(dst_top, &keep);
    ck_assert_int_eq(qv_json_int(di, "virtual-size", 0), 4LL << 30);
    ck_assert_int_lt(qv_json_int(di, "actual-size", 0), 1 << 20);
    g_autoptr(GHashTable) b1 = bases();
    ck_assert_str_eq(g_hash_table_lookup(b1, disk), "src,dst");

    /* Writes stay on their side. */
    ck_assert(io_reads(dst_top, 0xbb, "0"));
    io_write(dst_top, 0xcc, "0");
    io_write(src_top, 0xdd, "64k");
    ck_assert(io_reads(src_top, 0xbb, "0"));
    ck_assert(io_reads(dst_top, 0x00, "64k"));
    ck_assert(io_reads(disk, 0xbb, "0"));

    /* The clone starts with no snapshots; the source keeps its own, and
     * the one taken before the clone restores without touching the base. */
    ck_assert_uint_eq(snap_count(cl), 0);
    ck_assert_uint_eq(snap_count(vm), 1);
    OK(snapshot_restore(vm, "pre"));
    g_autofree char *private = disk_of(vm);
    ck_assert(io_reads(private, 0xaa, "0"));
    ck_assert(io_reads(private, 0x00, "64k"));
    ck_assert(io_reads(disk, 0xbb, "0"));
    ck_assert(io_reads(dst_top, 0xcc, "0"));
    ck_assert_uint_eq(file_mode(private), 0600);
    ck_assert(!g_file_test(src_top, G_FILE_TEST_EXISTS));
    g_autoptr(GHashTable) b2 = bases();
    ck_assert_str_eq(g_hash_table_lookup(b2, disk), "dst");
    /* Restored again, and deleted: still the source's own file. */
    OK(snapshot_restore(vm, "pre"));
    OK(snapshot_delete(vm, "pre"));
    ck_assert_uint_eq(snap_count(vm), 0);

    /* Both run at once. */
    OK(vm_start(vm));
    OK(vm_start(cl));
    ck_assert_int_eq(vm_get_state(cl), VM_STATE_RUNNING);
    OK(vm_stop_flags(cl, VM_STOP_FORCE, 0));

    /* The source goes, the clone keeps its base; the last user takes the
     * record with it, and the user's own file stays. */
    destroy(vm);
    ck_assert(io_reads(dst_top, 0xcc, "0"));
    ck_assert(io_reads(dst_top, 0x00, "64k"));
    destroy(cl);
    g_autoptr(GHashTable) b3 = bases();
    ck_assert_uint_eq(g_hash_table_size(b3), 0);
    ck_assert(g_file_test(disk, G_FILE_TEST_EXISTS));
    qv_close(c);
}
END_TEST

START_TEST(owned_base_lives_until_its_last_user)
{
    g_autofree char *disk = new_disk("orig", "64M");
    io_write(disk, 0x11, "0");
    struct qv_conn *c = qv_connect(uri);
    struct vm *src = define_on(c, "o-src", disk);
    struct vm *c1 = vm_clone(src, "o-c1");
    ck_assert_msg(c1 != NULL, "%s", qv_last_error()->message);
    g_autofree char *c1_top = disk_of(c1);
    io_write(c1_top, 0x22, "0");
    /* A clone of a clone: c1's own overlay (in its directory) becomes a
     * base, kept outside that directory, read-only. */
    struct vm *c2 = vm_clone(c1, "o-c2");
    ck_assert_msg(c2 != NULL, "%s", qv_last_error()->message);
    g_autofree char *c2_top = disk_of(c2);
    g_autofree char *owned = backing_of(c2_top);
    g_autofree char *bases_dir = g_build_filename(root, "qemu", ".bases", NULL);
    ck_assert_msg(g_str_has_prefix(owned, bases_dir), "%s", owned);
    ck_assert_uint_eq(file_mode(owned), 0400);
    ck_assert(!g_file_test(c1_top, G_FILE_TEST_EXISTS));
    g_autoptr(GHashTable) b1 = bases();
    ck_assert_str_eq(g_hash_table_lookup(b1, owned), "o-c1,o-c2");
    ck_assert_str_eq(g_hash_table_lookup(b1, disk), "o-src,o-c1,o-c2");
    ck_assert(io_reads(c2_top, 0x22, "0"));

    destroy(c1);
    ck_assert(g_file_test(owned, G_FILE_TEST_EXISTS));
    ck_assert(io_reads(c2_top, 0x22, "0"));
    OK(vm_start(c2));
    ck_assert_int_eq(vm_get_state(c2), VM_STATE_RUNNING);
    destroy(c2);
    ck_assert(!g_file_test(owned, G_FILE_TEST_EXISTS));
    g_autoptr(GHashTable) b2 = bases();
    ck_assert_uint_eq(g_hash_table_size(b2), 1);
    ck_assert_str_eq(g_hash_table_lookup(b2, disk), "o-src");
    g_autofree char *src_top = disk_of(src);
    ck_assert(io_reads(src_top, 0x11, "0"));
    destroy(src);
    g_autoptr(GHashTable) b3 = bases();
    ck_assert_uint_eq(g_hash_table_size(b3), 0);
    qv_close(c);
}
END_TEST

static JsonObject *block_entry(struct qmp *m, const char *qdev, JsonNode **keep)
{
    OK(qmp_command(m, "query-block", NULL, keep, 10000));
    JsonArray *a = json_node_get_array(*keep);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);
        const char *q = qv_json_str(o, "qdev");
        if (q && strstr(q, qdev))
            return qv_json_obj(o, "inserted");
    }
    ck_abort_msg("no block device %s", qdev);
    return NULL;
}

static void hmp(struct qmp *m, const char *line)
{
    g_autofree char *args = g_strdup_printf("{\"command-line\": \"%s\"}", line);
    JsonNode *ret = NULL;
    OK(qmp_command_json(m, "human-monitor-command", args, &ret, 10000));
    const char *out = json_node_get_string(ret);
    ck_assert_msg(!out || !strstr(out, "rror"), "%s: %s", line, out);
    json_node_unref(ret);
}

START_TEST(running_clone_switches_live)
{
    g_autofree char *disk = new_disk("live", "64M");
    io_write(disk, 0xaa, "0");
    struct qv_conn *c = qv_connect(uri);
    /* On IDE: HMP's qemu-io reaches an ide-hd by its id (hda). */
    struct vm *vm = define_on_bus(c, "l-src", disk, "hda", "ide");
    OK(vm_start(vm));
    OK(snapshot_create(vm, "mem", 0));

    struct vm *cl = vm_clone(vm, "l-dst");
    ck_assert_msg(cl != NULL, "%s", qv_last_error()->message);
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_RUNNING);
    g_autofree char *src_top = disk_of(vm);
    g_autofree char *dst_top = disk_of(cl);
    g_autofree char *db = backing_of(dst_top);
    ck_assert_str_eq(db, disk);

    /* QEMU writes the overlay the definition names, over the base. */
    g_autofree char *sock = g_build_filename(root, "qemu", "l-src", "qmp.sock", NULL);
    struct qmp *m = qmp_connect(sock, "test", 10000);
    ck_assert_msg(m != NULL, "%s", qv_last_error()->message);
    JsonNode *keep = NULL;
    JsonObject *in = block_entry(m, "hda", &keep);
    ck_assert_str_eq(qv_json_str(in, "file"), src_top);
    ck_assert_str_eq(qv_json_str(in, "backing_file"), disk);
    json_node_unref(keep);
    hmp(m, "qemu-io -d hda \\\"write -P 0xbb 0 64k\\\"");
    hmp(m, "qemu-io -d hda flush"); /* qcow2 metadata out of QEMU's cache */
    qmp_close(m);
    ck_assert(io_reads(disk, 0xaa, "0"));
    ck_assert(io_reads(dst_top, 0xaa, "0"));
    ck_assert(io_reads(src_top, 0xbb, "0"));

    /* Snapshots keep working on the switched QEMU (its disk node is the
     * overlay's now). One taken since the clone blocks restoring one from
     * before it, which would leave it behind. */
    OK(snapshot_create(vm, "post", SNAPSHOT_DISK_ONLY));
    ck_assert_int_eq(snapshot_restore(vm, "mem"), QV_ERR_INVALID_STATE);
    ck_assert_msg(strstr(qv_last_error()->message, "post"), "%s", qv_last_error()->message);
    OK(snapshot_delete(vm, "post"));
    OK(snapshot_restore(vm, "mem"));
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_RUNNING);
    g_autofree char *private = disk_of(vm);
    ck_assert_str_ne(private, src_top);
    OK(vm_stop_flags(vm, VM_STOP_FORCE, 0));
    ck_assert(io_reads(private, 0xaa, "0"));
    ck_assert(io_reads(dst_top, 0xaa, "0"));

    /* A paused source stays paused. */
    OK(vm_start(cl));
    OK(vm_pause(cl));
    struct vm *cl2 = vm_clone(cl, "l-dst2");
    ck_assert_msg(cl2 != NULL, "%s", qv_last_error()->message);
    ck_assert_int_eq(vm_get_state(cl), VM_STATE_PAUSED);
    OK(vm_start(cl2));
    ck_assert_int_eq(vm_get_state(cl2), VM_STATE_RUNNING);
    destroy(cl);
    destroy(cl2);
    destroy(vm);
    g_autoptr(GHashTable) b = bases();
    ck_assert_uint_eq(g_hash_table_size(b), 0);
    qv_close(c);
}
END_TEST

/* A kill between writing the source's definition and QEMU's switch leaves
 * QEMU on the old file while the definition names the overlay over it: the
 * data is where both say, and the next clone asks for a restart rather
 * than freeze a file QEMU still writes. */
START_TEST(interrupted_live_switch_is_refused_until_restart)
{
    g_autofree char *disk = new_disk("half", "64M");
    io_write(disk, 0xaa, "0");
    struct qv_conn *c = qv_connect(uri);
    struct vm *vm = define_on_bus(c, "h-src", disk, "hda", "ide");
    OK(vm_start(vm));
    g_autofree char *top = g_build_filename(root, "qemu", "h-src", "hda-killed.qcow2", NULL);
    const char *mk[] = {"qemu-img", "create", "-q", "-u", "-f",  "qcow2", "-F",
                        "qcow2",    "-b",     disk, top,  "64M", NULL};
    tool(mk);
    g_autofree char *path = g_build_filename(root, "qemu", "h-src", "domain.xml", NULL);
    g_autofree char *xml = NULL;
    ck_assert(g_file_get_contents(path, &xml, NULL, NULL));
    g_autofree char *from = g_strdup_printf("<source file=\"%s\"/>", disk);
    g_autofree char *to =
        g_strdup_printf("<source file=\"%s\"/><backingStore type=\"file\"><format type=\"qcow2\"/>"
                        "<source file=\"%s\"/></backingStore>",
                        top, disk);
    ck_assert_ptr_nonnull(strstr(xml, from));
    g_auto(GStrv) parts = g_strsplit(xml, from, 2);
    g_autofree char *edited = g_strjoin(to, parts[0], parts[1], NULL);
    OK(qv_file_write_atomic(path, edited, strlen(edited), 0600));

    ck_assert_ptr_null(vm_clone(vm, "h-dst"));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_INVALID_STATE);
    ck_assert_msg(strstr(qv_last_error()->message, "restart the VM first"), "%s",
                  qv_last_error()->message);
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_RUNNING);
    g_autoptr(GHashTable) b = bases();
    ck_assert_uint_eq(g_hash_table_size(b), 0);

    OK(vm_stop_flags(vm, VM_STOP_FORCE, 0));
    OK(vm_start(vm));
    struct vm *cl = vm_clone(vm, "h-dst");
    ck_assert_msg(cl != NULL, "%s", qv_last_error()->message);
    OK(vm_stop_flags(vm, VM_STOP_FORCE, 0));
    g_autofree char *src_top = disk_of(vm);
    g_autofree char *dst_top = disk_of(cl);
    ck_assert(io_reads(src_top, 0xaa, "0"));
    ck_assert(io_reads(dst_top, 0xaa, "0"));
    qv_close(c);
}
END_TEST

START_TEST(clone_gets_nvram_and_cloud_init)
{
    struct qv_conn *c = qv_connect(uri);
    g_autofree char *disk = new_disk("ci", "16M");
    g_autofree char *fw = g_build_filename(root, "code.fd", NULL);
    g_autofree char *vars = g_build_filename(root, "vars.fd", NULL);
    /* The variables the source's firmware wrote, at a path of the user's:
     * the clone gets its own copy, not the same file. */
    g_autofree char *nv = g_build_filename(root, "src-vars.fd", NULL);
    OK(qv_file_write_atomic(nv, "boot-entries", 12, 0600));
    OK(qv_file_write_atomic(fw, "code", 4, 0600));
    OK(qv_file_write_atomic(vars, "template", 8, 0600));
    g_autofree char *xml = g_strdup_printf(
        "<domain type='qemu'><name>ci-src</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64' machine='q35'>hvm</type>"
        "<loader readonly='yes' type='pflash'>%s</loader><nvram template='%s'>%s</nvram></os>"
        "<devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        "<source file='%s'/><target dev='vda' bus='virtio'/></disk></devices></domain>",
        fw, vars, nv, disk);
    struct vm *vm = vm_define_xml(c, xml);
    ck_assert_msg(vm != NULL, "%s", qv_last_error()->message);
    g_autofree char *ci = g_build_filename(root, "qemu", "ci-src", "cloud-init.json", NULL);
    const char *doc = "{\"hostname\": \"h\", \"instance_id\": \"fixed-id\"}";
    OK(qv_file_write_atomic(ci, doc, strlen(doc), 0600));
    struct vm *cl = vm_clone(vm, "ci-dst");
    ck_assert_msg(cl != NULL, "%s", qv_last_error()->message);
    g_autofree char *copy = g_build_filename(root, "qemu", "ci-dst", "cloud-init.json", NULL);
    g_autoptr(JsonNode) n = qv_json_load_file(copy);
    ck_assert_msg(n != NULL, "%s", qv_last_error()->message);
    JsonObject *o = json_node_get_object(n);
    ck_assert_str_eq(qv_json_str(o, "hostname"), "h");
    /* Without it the seed's instance-id is the clone's own UUID. */
    ck_assert_ptr_null(qv_json_str(o, "instance_id"));
    ck_assert_uint_eq(file_mode(copy), 0600);
    g_autofree char *nv2 = g_build_filename(root, "qemu", "ci-dst", "nvram.fd", NULL);
    g_autofree char *text = NULL;
    ck_assert(g_file_get_contents(nv2, &text, NULL, NULL));
    ck_assert_str_eq(text, "boot-entries");
    char *cxml = vm_get_xml(cl);
    ck_assert_msg(strstr(cxml, nv2), "%s", cxml);
    qv_free(cxml);
    ck_assert_uint_eq(file_mode(nv2), 0600);
    qv_close(c);
}
END_TEST

/* A snapshot taken before a clone lives in the base: it stays listed
 * whatever happened to the base's record, and while the chain cannot be
 * read nothing is dropped. */
START_TEST(pre_clone_snapshot_survives_a_lost_base_record)
{
    g_autofree char *disk = new_disk("rec", "16M");
    struct qv_conn *c = qv_connect(uri);
    struct vm *vm = define_on(c, "r-src", disk);
    OK(snapshot_create(vm, "pre", 0));
    struct vm *cl = vm_clone(vm, "r-dst");
    ck_assert_msg(cl != NULL, "%s", qv_last_error()->message);
    g_autofree char *meta = g_build_filename(root, "qemu", "r-src", "snapshots", "pre.json", NULL);
    g_autofree char *bdir = g_build_filename(root, "qemu", ".bases", NULL);

    /* The base's file moved away: the chain cannot be read. */
    g_autofree char *aside = g_strdup_printf("%s.aside", disk);
    ck_assert_int_eq(rename(disk, aside), 0);
    struct snapshot_info *list = NULL;
    size_t n = 0;
    snapshot_list(vm, &list, &n);
    snapshot_info_free(list, n);
    qv_reset_error();
    ck_assert(g_file_test(meta, G_FILE_TEST_EXISTS));
    ck_assert_int_eq(rename(aside, disk), 0);
    ck_assert_uint_eq(snap_count(vm), 1);

    /* A damaged record. */
    g_autoptr(GDir) d = g_dir_open(bdir, 0, NULL);
    const char *e;
    while (d && (e = g_dir_read_name(d))) {
        g_autofree char *rec = g_build_filename(bdir, e, "base.json", NULL);
        if (g_file_test(rec, G_FILE_TEST_EXISTS))
            OK(qv_file_write_atomic(rec, "{bad", 4, 0600));
    }
    ck_assert_uint_eq(snap_count(vm), 1);
    ck_assert(g_file_test(meta, G_FILE_TEST_EXISTS));

    /* No records at all. */
    qv_dir_remove_tree(bdir);
    ck_assert_uint_eq(snap_count(vm), 1);
    ck_assert(g_file_test(meta, G_FILE_TEST_EXISTS));
    qv_close(c);
}
END_TEST

/* Write a pattern at 0 through a running VM's QEMU (its disk on IDE). */
static void live_write(const char *name, int pattern)
{
    g_autofree char *sock = g_build_filename(root, "qemu", name, "qmp.sock", NULL);
    struct qmp *m = qmp_connect(sock, "test", 10000);
    ck_assert_msg(m != NULL, "%s", qv_last_error()->message);
    g_autofree char *line =
        g_strdup_printf("qemu-io -d hda \\\"write -P 0x%02x 0 64k\\\"", pattern);
    hmp(m, line);
    hmp(m, "qemu-io -d hda flush");
    qmp_close(m);
}

/* After a live switch QEMU's disk node is one qv added: later live clones
 * of the same QEMU, and of a clone running over a base, still go. */
START_TEST(repeated_live_clones)
{
    g_autofree char *disk = new_disk("many", "64M");
    io_write(disk, 0xaa, "0");
    struct qv_conn *c = qv_connect(uri);
    struct vm *vm = define_on_bus(c, "m-src", disk, "hda", "ide");
    OK(vm_start(vm));
    struct vm *cl[3];
    for (int i = 0; i < 3; i++) {
        g_autofree char *name = g_strdup_printf("m-c%d", i);
        cl[i] = vm_clone(vm, name);
        ck_assert_msg(cl[i] != NULL, "clone %d: %s", i, qv_last_error()->message);
        ck_assert_int_eq(vm_get_state(vm), VM_STATE_RUNNING);
        live_write("m-src", 0xb0 + i);
    }
    OK(vm_start(cl[0]));
    live_write("m-c0", 0xc0);
    struct vm *cc = vm_clone(cl[0], "m-cc");
    ck_assert_msg(cc != NULL, "%s", qv_last_error()->message);
    live_write("m-c0", 0xc1);

    OK(vm_stop_flags(vm, VM_STOP_FORCE, 0));
    OK(vm_stop_flags(cl[0], VM_STOP_FORCE, 0));
    g_autofree char *src_top = disk_of(vm);
    g_autofree char *c0 = disk_of(cl[0]);
    g_autofree char *c1 = disk_of(cl[1]);
    g_autofree char *c2 = disk_of(cl[2]);
    g_autofree char *ccf = disk_of(cc);
    ck_assert(io_reads(src_top, 0xb2, "0"));
    ck_assert(io_reads(c0, 0xc1, "0"));
    ck_assert(io_reads(c1, 0xb0, "0"));
    ck_assert(io_reads(c2, 0xb1, "0"));
    ck_assert(io_reads(ccf, 0xc0, "0"));
    ck_assert(io_reads(disk, 0xaa, "0"));
    /* And the source starts again from its chain. */
    OK(vm_start(vm));
    struct vm *again = vm_clone(vm, "m-again");
    ck_assert_msg(again != NULL, "%s", qv_last_error()->message);
    OK(vm_stop_flags(vm, VM_STOP_FORCE, 0));
    g_autofree char *ag = disk_of(again);
    ck_assert(io_reads(ag, 0xb2, "0"));
    qv_close(c);
}
END_TEST

/* A kill while a base record was rewritten leaves its temporary file: the
 * next connection sweeps it, and the record stays. */
START_TEST(record_temporaries_are_swept)
{
    g_autofree char *disk = new_disk("tmpf", "16M");
    struct qv_conn *c = qv_connect(uri);
    struct vm *vm = define_on(c, "t-src", disk);
    struct vm *cl = vm_clone(vm, "t-dst");
    ck_assert_msg(cl != NULL, "%s", qv_last_error()->message);
    qv_close(c);
    g_autofree char *bdir = g_build_filename(root, "qemu", ".bases", NULL);
    g_autoptr(GDir) d = g_dir_open(bdir, 0, NULL);
    const char *e = NULL;
    while (d && (e = g_dir_read_name(d)) && e[0] == '.')
        ;
    ck_assert_ptr_nonnull(e);
    g_autofree char *left = g_build_filename(bdir, e, ".base.json.Ab12Cd", NULL);
    OK(qv_file_write_atomic(left, "{\"file\"", 8, 0600));
    c = qv_connect(uri);
    ck_assert_msg(c != NULL, "%s", qv_last_error()->message);
    ck_assert(!g_file_test(left, G_FILE_TEST_EXISTS));
    g_autoptr(GHashTable) b = bases();
    ck_assert_str_eq(g_hash_table_lookup(b, disk), "t-src,t-dst");
    qv_close(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("qemu_clone");
    TCase *tc = tcase_create("clone");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, stopped_clone_shares_a_base);
    tcase_add_test(tc, owned_base_lives_until_its_last_user);
    tcase_add_test(tc, running_clone_switches_live);
    tcase_add_test(tc, interrupted_live_switch_is_refused_until_restart);
    tcase_add_test(tc, clone_gets_nvram_and_cloud_init);
    tcase_add_test(tc, pre_clone_snapshot_survives_a_lost_base_record);
    tcase_add_test(tc, repeated_live_clones);
    tcase_add_test(tc, record_temporaries_are_swept);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
