/* vm_clone on kvm:///embed through the public API, on a real KVM (exit 77
 * without /dev/kvm): a counting guest cloned while running keeps running,
 * and the clone (CREATED) starts where the source was: its console
 * continues the source's count with no line lost or repeated; two clones
 * of one source run side by side with their own memory, disks and
 * console files; a stopped source's clone boots afresh from its own disk
 * copy; a register-level source and a taken name are refused; destroying
 * a clone removes its store. The engine half is tested without KVM in
 * kvm_snap_clone.c. */
#define _GNU_SOURCE
#include <check.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvm_count_guest.h"
#include "kvm_util.h"
#include "lib/util/fileio.h"
#include "qv/qv.h"

static char *root; /* the connection's state root */
static char *tmp;
static char *uri;

static void setup(void)
{
    tmp = g_dir_make_tmp("qv-kvmclone-XXXXXX", NULL);
    root = g_build_filename(tmp, "state", NULL);
    uri = g_strdup_printf("kvm:///embed?root=%s", root);
}

static void teardown(void)
{
    qv_dir_remove_tree(tmp);
    g_free(tmp);
    g_free(root);
    g_free(uri);
}

#define OK(x) ck_assert_msg((x) == 0, "%s: %s", #x, qv_last_error()->message)

/* The counting guest with a console file and a raw disk of 0xd1 bytes. */
static char *count_xml(const char *log, const char *disk)
{
    g_autofree char *kernel = kvm_test_guest("count.elf");
    return g_strdup_printf("<domain type='kvm'><name>src</name>"
                           "<memory unit='MiB'>32</memory><vcpu>1</vcpu>"
                           "<os><type arch='x86_64'>hvm</type><kernel>%s</kernel></os>"
                           "<devices><disk type='file' device='disk'><driver type='raw'/>"
                           "<source file='%s'/><target dev='vda' bus='virtio'/></disk>"
                           "<interface type='user'><mac address='52:54:00:12:34:56'/>"
                           "<model type='virtio'/></interface>"
                           "<serial type='file'><source path='%s'/>"
                           "<target port='0'/></serial></devices></domain>",
                           kernel, disk, log);
}

static char *make_disk(uint8_t byte)
{
    char *p = g_build_filename(tmp, "vda.img", NULL);
    g_autofree uint8_t *buf = g_malloc(64 * 1024);
    memset(buf, byte, 64 * 1024);
    ck_assert(g_file_set_contents(p, (char *)buf, 64 * 1024, NULL));
    return p;
}

static char *store_file(const char *vm, const char *file)
{
    return g_build_filename(root, "kvm-embed", vm, file, NULL);
}

START_TEST(clone_of_running_source_continues_its_count)
{
    struct qv_conn *c = qv_connect(uri);
    ck_assert_msg(c, "%s", qv_last_error()->message);
    g_autofree char *log = g_build_filename(tmp, "console.log", NULL);
    g_autofree char *disk = make_disk(0xd1);
    g_autofree char *xml = count_xml(log, disk);
    struct vm *src = vm_define_xml(c, xml);
    ck_assert_msg(src, "%s", qv_last_error()->message);
    OK(vm_start(src));
    kvm_count_wait(src, 10);

    /* Running: the source runs on through the clone. */
    uint32_t before = kvm_count_progress(src);
    struct vm *live = vm_clone(src, "live");
    ck_assert_msg(live, "%s", qv_last_error()->message);
    ck_assert_int_eq(vm_get_state(src), VM_STATE_RUNNING);
    ck_assert_int_eq(vm_get_state(live), VM_STATE_CREATED);
    kvm_count_wait(src, before + 5);

    /* Paused: the exact count the clones start from. */
    OK(vm_pause(src));
    uint32_t at = kvm_count_progress(src);
    g_autofree char *at_text = kvm_count_slurp(log);
    struct vm *a = vm_clone(src, "a");
    ck_assert_msg(a, "%s", qv_last_error()->message);
    struct vm *b = vm_clone(src, "b");
    ck_assert_msg(b, "%s", qv_last_error()->message);
    ck_assert_int_eq(vm_get_state(src), VM_STATE_PAUSED);

    /* New identity, own disk and console files. */
    g_autofree char *axml = vm_get_xml(a);
    g_autofree char *adisk = store_file("a", "disk-vda.img");
    g_autofree char *alog = store_file("a", "serial0.log");
    ck_assert_ptr_nonnull(strstr(axml, adisk));
    ck_assert_ptr_nonnull(strstr(axml, alog));
    ck_assert_ptr_null(strstr(axml, "52:54:00:12:34:56"));
    ck_assert_ptr_null(strstr(axml, disk));
    /* Settings would be lost to the captured definition, and a clone of
     * it would boot instead of going on: both refused until it starts. */
    ck_assert_int_eq(vm_set_vcpus(a, 1), QV_ERR_INVALID_STATE);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "start it"));
    ck_assert_ptr_null(vm_clone(a, "a2"));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_INVALID_STATE);

    OK(vm_start(a));
    OK(vm_start(b));
    ck_assert_int_eq(vm_get_state(a), VM_STATE_RUNNING);
    ck_assert_uint_ge(kvm_count_progress(a), at);
    kvm_count_wait(a, at + 10);
    kvm_count_wait(b, at + 10);
    /* Their own memory: a write into one is not in the other, nor in the
     * paused source. */
    uint32_t mark = 0xc10e;
    OK(vm_write_memory(a, 0x7000, &mark, 4));
    uint32_t got = 0;
    OK(vm_read_memory(b, 0x7000, &got, 4));
    ck_assert_uint_ne(got, mark);
    OK(vm_read_memory(src, 0x7000, &got, 4));
    ck_assert_uint_ne(got, mark);
    ck_assert_uint_eq(kvm_count_progress(src), at);
    OK(vm_pause(a));
    OK(vm_pause(b));
    /* Each console continues the count from the source's text. */
    g_autofree char *atext = kvm_count_slurp(alog);
    g_autofree char *blog = store_file("b", "serial0.log");
    g_autofree char *btext = kvm_count_slurp(blog);
    g_autofree char *ja = g_strconcat(at_text, atext, NULL);
    g_autofree char *jb = g_strconcat(at_text, btext, NULL);
    ck_assert_uint_ge(kvm_count_check_lines(ja, false, NULL), at + 9);
    ck_assert_uint_ge(kvm_count_check_lines(jb, false, NULL), at + 9);
    /* The clone made while the source ran starts past before. */
    OK(vm_start(live));
    ck_assert_uint_ge(kvm_count_progress(live), before);
    kvm_count_wait(live, before + 5);

    /* Destroying a clone removes its store; the source is untouched. */
    g_autofree char *astore = store_file("a", NULL);
    ck_assert(g_file_test(astore, G_FILE_TEST_IS_DIR));
    vm_destroy(a);
    ck_assert(!g_file_test(astore, G_FILE_TEST_EXISTS));
    OK(vm_resume(src));
    kvm_count_wait(src, at + 5);
    vm_destroy(b);
    vm_destroy(live);
    vm_destroy(src);
    qv_close(c);
}
END_TEST

START_TEST(clone_of_stopped_source_boots_from_its_copy)
{
    struct qv_conn *c = qv_connect(uri);
    g_autofree char *log = g_build_filename(tmp, "console.log", NULL);
    g_autofree char *disk = make_disk(0xd1);
    g_autofree char *xml = count_xml(log, disk);
    struct vm *src = vm_define_xml(c, xml);
    ck_assert_msg(src, "%s", qv_last_error()->message);
    struct vm *cold = vm_clone(src, "cold");
    ck_assert_msg(cold, "%s", qv_last_error()->message);
    ck_assert_int_eq(vm_get_state(cold), VM_STATE_CREATED);
    g_autofree char *copy = store_file("cold", "disk-vda.img");
    g_autofree char *data = kvm_count_slurp(copy);
    ck_assert_uint_eq((uint8_t)data[0], 0xd1);
    ck_assert_uint_eq((uint8_t)data[65535], 0xd1);
    g_autofree char *resume = store_file("cold", "resume");
    ck_assert(!g_file_test(resume, G_FILE_TEST_EXISTS));
    OK(vm_start(cold));
    kvm_count_wait(cold, 3);
    g_autofree char *clog = store_file("cold", "serial0.log");
    g_autofree char *text = kvm_count_slurp(clog);
    uint32_t first = 99;
    kvm_count_check_lines(text, false, &first);
    ck_assert_uint_eq(first, 0);

    /* Refusals, by name. */
    ck_assert_ptr_null(vm_clone(src, "cold"));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_EXISTS);
    struct vm *bare = vm_create_on(c, "bare", 1, 1 << 20);
    ck_assert_msg(bare, "%s", qv_last_error()->message);
    ck_assert_ptr_null(vm_clone(bare, "bare2"));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "vm_create"));
    g_autofree char *bare2 = store_file("bare2", NULL);
    ck_assert(!g_file_test(bare2, G_FILE_TEST_EXISTS));
    vm_destroy(bare);
    vm_destroy(cold);
    vm_destroy(src);
    qv_close(c);
}
END_TEST

int main(void)
{
    kvm_test_require();
    Suite *s = suite_create("kvm_clone");
    TCase *tc = tcase_create("kvm_clone");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, clone_of_running_source_continues_its_count);
    tcase_add_test(tc, clone_of_stopped_source_boots_from_its_copy);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
