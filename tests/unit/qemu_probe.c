/* The QEMU probe (accelerator + CPU model, cached per boot) on the real
 * qemu-system-x86_64, and what the qemu driver's start says for a kvm
 * domain the probe finds unusable. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drivers/qemu/qemu.h"
#include "include/qv/qv.h"
#include "lib/util/fileio.h"

static char *runtime; /* XDG_RUNTIME_DIR: where the verdicts are cached */

#define OK(call) ck_assert_msg((call) == 0, "%s: %s", #call, qv_last_error()->message)

static char *only_cache_file(void)
{
    g_autofree char *dir = g_build_filename(runtime, "qv", NULL);
    GDir *d = g_dir_open(dir, 0, NULL);
    ck_assert_ptr_nonnull(d);
    char *found = NULL;
    const char *e;
    int n = 0;
    while ((e = g_dir_read_name(d))) {
        n++;
        found = g_build_filename(dir, e, NULL);
    }
    g_dir_close(d);
    ck_assert_int_eq(n, 1);
    return found;
}

START_TEST(tcg_runs_and_is_cached)
{
    char *why = NULL;
    ck_assert_int_eq(qv_qemu_probe(NULL, "tcg", NULL, &why), 1);
    ck_assert_ptr_null(why);
    g_autofree char *file = only_cache_file();
    struct stat sb;
    ck_assert_int_eq(lstat(file, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 07777, 0600);
    g_autofree char *dir = g_path_get_dirname(file);
    ck_assert_int_eq(lstat(dir, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 07777, 0700);
    /* The next call answers from the cache without running QEMU: a
     * verdict planted there is what it reports. */
    const char *planted = "{\"usable\": false, \"reason\": \"planted\"}";
    OK(qv_file_write_atomic(file, planted, strlen(planted), 0600));
    ck_assert_int_eq(qv_qemu_probe("qemu-system-x86_64", "tcg", NULL, &why), 0);
    ck_assert_str_eq(why, "planted");
    qv_free(why);
    /* A damaged cache entry is probed again and rewritten. */
    OK(qv_file_write_atomic(file, "garbage", 7, 0600));
    why = NULL;
    ck_assert_int_eq(qv_qemu_probe(NULL, "tcg", NULL, &why), 1);
    g_autofree char *text = NULL;
    ck_assert(g_file_get_contents(file, &text, NULL, NULL));
    ck_assert_ptr_nonnull(strstr(text, "\"usable\":true"));
}
END_TEST

START_TEST(unusable_model_gives_qemus_message)
{
    char *why = NULL;
    ck_assert_int_eq(qv_qemu_probe(NULL, "tcg", "nosuchmodel", &why), 0);
    ck_assert_msg(strstr(why, "unable to find CPU model 'nosuchmodel'"), "%s", why);
    ck_assert_msg(strstr(why, "QEMU exited with status 1"), "%s", why);
    qv_free(why);
    /* Not a name: refused before any QEMU runs. */
    why = NULL;
    ck_assert_int_eq(qv_qemu_probe(NULL, "tcg", "max,-x", &why), QV_ERR_INVALID_ARG);
    ck_assert_int_eq(qv_qemu_probe("/nonexistent/qemu", "tcg", NULL, &why), QV_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "/nonexistent/qemu"));
    ck_assert_int_eq(qv_qemu_probe(NULL, "kvm", NULL, NULL), QV_ERR_INVALID_ARG);
}
END_TEST

START_TEST(kvm_verdict)
{
    char *why = NULL;
    int rc = qv_qemu_probe(NULL, "kvm", "host", &why);
    ck_assert_msg(rc == 0 || rc == 1, "%d: %s", rc, qv_last_error()->message);
    if (access("/dev/kvm", F_OK) != 0) {
        ck_assert_int_eq(rc, 0);
        ck_assert_str_eq(why, "/dev/kvm missing");
    } else if (rc == 0) {
        ck_assert_msg(why && *why, "no reason given");
        printf("note: QEMU with KVM and -cpu host is unusable here: %s\n", why);
    }
    qv_free(why);
}
END_TEST

/* What a user sees starting a kvm domain: it runs, or the error names the
 * way out (another CPU model, or <domain type='qemu'>). */
START_TEST(kvm_start_runs_or_names_the_fix)
{
    g_autofree char *root = g_build_filename(runtime, "state", NULL);
    g_autofree char *uri = g_strdup_printf("qemu:///session?root=%s", root);
    struct qv_conn *c = qv_connect(uri);
    ck_assert_ptr_nonnull(c);
    struct vm *vm = vm_define_xml(
        c, "<domain type='kvm'><name>kvm1</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>"
           "<os><type arch='x86_64' machine='pc'>hvm</type></os>"
           "<cpu mode='host-passthrough'/></domain>");
    ck_assert_msg(vm != NULL, "define: %s", qv_last_error()->message);
    char *why = NULL;
    int usable = qv_qemu_probe(NULL, "kvm", "host", &why);
    int rc = vm_start(vm);
    if (usable == 1) {
        ck_assert_msg(rc == 0, "start: %s", qv_last_error()->message);
        ck_assert_int_eq(vm_get_state(vm), VM_STATE_RUNNING);
        OK(vm_stop_flags(vm, VM_STOP_FORCE, 10000));
    } else {
        const char *msg = qv_last_error()->message;
        ck_assert_int_eq(rc, QV_ERR_KVM);
        ck_assert_msg(strstr(msg, "VM 'kvm1'") && strstr(msg, why) &&
                          strstr(msg, "<domain type='qemu'>"),
                      "%s", msg);
        ck_assert_int_eq(vm_get_state(vm), VM_STATE_CREATED);
    }
    qv_free(why);
    vm_destroy(vm);
    qv_close(c);
}
END_TEST

int main(void)
{
    runtime = g_dir_make_tmp("qv-probe-XXXXXX", NULL);
    /* Read once by the library: set before any probe runs. */
    g_setenv("XDG_RUNTIME_DIR", runtime, TRUE);
    Suite *s = suite_create("qemu_probe");
    TCase *tc = tcase_create("probe");
    tcase_set_timeout(tc, 100);
    tcase_add_test(tc, tcg_runs_and_is_cached);
    tcase_add_test(tc, unusable_model_gives_qemus_message);
    tcase_add_test(tc, kvm_verdict);
    tcase_add_test(tc, kvm_start_runs_or_names_the_fix);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    qv_dir_remove_tree(runtime);
    g_free(runtime);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
