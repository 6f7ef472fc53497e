/* Snapshots on kvm:///embed through the public API, on a real KVM (exit 77
 * without /dev/kvm): a counting guest's console continues from the
 * snapshot's count with no line lost or repeated, after a restore in the
 * same VM and after one into the VM defined anew on another connection
 * (as a new process would); increments restore; a vm_create VM's memory
 * regions and registers come back; vm_destroy removes the state
 * directory, and a second definition of a defined VM is refused. */
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
#include "qv/vcpu.h"

static char *root; /* the connections' state root */
static char *tmp;
static char *uri;

static void setup(void)
{
    tmp = g_dir_make_tmp("qv-kvmsnap-XXXXXX", NULL);
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

static char *count_xml(const char *log)
{
    g_autofree char *kernel = kvm_test_guest("count.elf");
    return g_strdup_printf("<domain type='kvm'><name>counter</name>"
                           "<memory unit='MiB'>32</memory><vcpu>1</vcpu>"
                           "<os><type arch='x86_64'>hvm</type><kernel>%s</kernel></os>"
                           "<devices><serial type='file'><source path='%s'/>"
                           "<target port='0'/></serial></devices></domain>",
                           kernel, log);
}

START_TEST(console_continues_from_the_snapshot)
{
    struct qv_conn *c = qv_connect(uri);
    ck_assert_msg(c, "%s", qv_last_error()->message);
    g_autofree char *log = g_build_filename(tmp, "console.log", NULL);
    g_autofree char *xml = count_xml(log);
    struct vm *vm = vm_define_xml(c, xml);
    ck_assert_msg(vm, "%s", qv_last_error()->message);
    /* Defining takes no lock; the snapshots of the VM are one user's at a
     * time: the first snapshot call locks them, another connection's is
     * refused naming the holder. */
    struct qv_conn *c2 = qv_connect(uri);
    struct vm *vm2 = vm_define_xml(c2, xml);
    ck_assert_msg(vm2, "%s", qv_last_error()->message);
    struct snapshot_info *none = NULL;
    size_t nnone = 0;
    OK(snapshot_list(vm, &none, &nnone));
    ck_assert_uint_eq(nnone, 0);
    snapshot_info_free(none, nnone);
    ck_assert_int_eq(snapshot_list(vm2, &none, &nnone), QV_ERR_BUSY);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "process"));

    OK(vm_start(vm));
    kvm_count_wait(vm, 10);
    OK(vm_pause(vm));
    uint32_t at_progress = kvm_count_progress(vm);
    g_autofree char *at_snap = kvm_count_slurp(log);
    OK(snapshot_create(vm, "s1", 0));
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_PAUSED);
    uint32_t snap_last = kvm_count_check_lines(at_snap, false, NULL);
    OK(vm_resume(vm));
    kvm_count_wait(vm, snap_last + 20);
    OK(vm_pause(vm));
    size_t before = strlen(at_snap);

    /* Same VM: the console file goes on; the lines after the restore
     * continue the snapshot's. */
    g_autofree char *before_restore = kvm_count_slurp(log);
    OK(snapshot_restore(vm, "s1"));
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_PAUSED);
    OK(vm_resume(vm));
    kvm_count_wait(vm, snap_last + 5);
    OK(vm_pause(vm));
    g_autofree char *after = kvm_count_slurp(log);
    g_autofree char *joined = g_strconcat(at_snap, after + strlen(before_restore), NULL);
    ck_assert_uint_gt(strlen(joined), before);
    kvm_count_check_lines(joined, false, NULL);

    struct snapshot_info *list;
    size_t n;
    OK(snapshot_list(vm, &list, &n));
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(list[0].name, "s1");
    ck_assert_int_eq(list[0].state, VM_STATE_PAUSED);
    ck_assert_uint_gt(list[0].size, 0);
    snapshot_info_free(list, n);

    /* The VM defined anew (another connection, as another process would):
     * the snapshot is there and restores into it. */
    vm_free(vm);
    vm_free(vm2);
    qv_close(c);
    qv_close(c2);
    c = qv_connect(uri);
    vm = vm_define_xml(c, xml);
    ck_assert_msg(vm, "%s", qv_last_error()->message);
    OK(snapshot_list(vm, &list, &n));
    ck_assert_uint_eq(n, 1);
    snapshot_info_free(list, n);
    OK(snapshot_restore(vm, "s1"));
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_PAUSED);
    ck_assert_uint_eq(kvm_count_progress(vm), at_progress);
    OK(vm_resume(vm));
    kvm_count_wait(vm, snap_last + 5);
    OK(vm_pause(vm));
    /* Power-on started a new console file holding only what the guest
     * wrote since the restore: after the snapshot's text it continues the
     * count (finishing a line the snapshot caught half written). */
    g_autofree char *fresh = kvm_count_slurp(log);
    g_autofree char *joined2 = g_strconcat(at_snap, fresh, NULL);
    uint32_t first = 0;
    kvm_count_check_lines(joined2, false, &first);
    ck_assert_uint_eq(first, 0);

    /* Destroying the VM removes its state directory. */
    g_autofree char *vmdir = g_build_filename(root, "kvm-embed", "counter", NULL);
    ck_assert(g_file_test(vmdir, G_FILE_TEST_IS_DIR));
    vm_destroy(vm);
    ck_assert(!g_file_test(vmdir, G_FILE_TEST_EXISTS));
    qv_close(c);
}
END_TEST

START_TEST(incremental_on_a_booted_guest)
{
    struct qv_conn *c = qv_connect(uri);
    g_autofree char *log = g_build_filename(tmp, "console.log", NULL);
    g_autofree char *xml = count_xml(log);
    struct vm *vm = vm_define_xml(c, xml);
    ck_assert_msg(vm, "%s", qv_last_error()->message);
    OK(vm_start(vm));
    ck_assert_int_eq(snapshot_create(vm, "i0", SNAPSHOT_INCREMENTAL), QV_ERR_INVALID_STATE);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "previous snapshot"));
    kvm_count_wait(vm, 3);
    OK(snapshot_create(vm, "full", 0));
    kvm_count_wait(vm, kvm_count_progress(vm) + 3);
    OK(vm_pause(vm));
    uint32_t at = kvm_count_progress(vm);
    OK(snapshot_create(vm, "inc", SNAPSHOT_INCREMENTAL));
    OK(vm_resume(vm));
    kvm_count_wait(vm, at + 5);
    OK(snapshot_restore(vm, "inc"));
    ck_assert_uint_eq(kvm_count_progress(vm), at);
    OK(vm_resume(vm));
    kvm_count_wait(vm, at + 2);
    OK(snapshot_delete(vm, "full")); /* folds into "inc" */
    OK(snapshot_restore(vm, "inc"));
    ck_assert_uint_eq(kvm_count_progress(vm), at);
    vm_destroy(vm);
    qv_close(c);
}
END_TEST

START_TEST(register_level_vm)
{
    struct qv_conn *c = qv_connect(uri);
    struct vm *vm = vm_create_on(c, "bare", 1, 1 << 20);
    ck_assert_msg(vm, "%s", qv_last_error()->message);
    struct vcpu *v = vcpu_create(vm, 0);
    ck_assert_ptr_nonnull(v);
    uint8_t page[4096];
    memset(page, 0x5a, sizeof(page));
    OK(vm_write_memory(vm, 0x3000, page, sizeof(page)));
    struct vcpu_regs r;
    OK(vcpu_get_regs(v, &r));
    r.rax = 0x1234;
    r.rip = 0x3000;
    OK(vcpu_set_regs(v, &r));
    OK(snapshot_create(vm, "b", 0));
    memset(page, 0x77, sizeof(page));
    OK(vm_write_memory(vm, 0x3000, page, sizeof(page)));
    OK(vm_write_memory(vm, 0x8000, page, 16));
    OK(snapshot_create(vm, "b2", SNAPSHOT_INCREMENTAL));
    r.rax = 0;
    OK(vcpu_set_regs(v, &r));
    OK(snapshot_restore(vm, "b"));
    uint8_t got[4096];
    OK(vm_read_memory(vm, 0x3000, got, sizeof(got)));
    ck_assert_uint_eq(got[0], 0x5a);
    ck_assert_uint_eq(got[4095], 0x5a);
    OK(vcpu_get_regs(v, &r));
    ck_assert_uint_eq(r.rax, 0x1234);
    OK(snapshot_restore(vm, "b2"));
    OK(vm_read_memory(vm, 0x3000, got, 16));
    ck_assert_uint_eq(got[0], 0x77);
    OK(vm_read_memory(vm, 0x8000, got, 16));
    ck_assert_uint_eq(got[15], 0x77);
    /* Writes through a raw pointer reach no dirty log: once one was
     * handed out, increments are refused, full snapshots still work. */
    ck_assert_ptr_nonnull(vm_gpa_to_hva(vm, 0x3000));
    ck_assert_int_eq(snapshot_create(vm, "b3", SNAPSHOT_INCREMENTAL), QV_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "vm_gpa_to_hva"));
    OK(snapshot_create(vm, "b4", 0));
    vm_destroy(vm);
    qv_close(c);
}
END_TEST

int main(void)
{
    kvm_test_require();
    Suite *s = suite_create("kvm_snapshot");
    TCase *tc = tcase_create("kvm_snapshot");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, console_continues_from_the_snapshot);
    tcase_add_test(tc, incremental_on_a_booted_guest);
    tcase_add_test(tc, register_level_vm);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
