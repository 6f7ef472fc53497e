#include <check.h>
#include <errno.h>
#include <string.h>
#include <glib.h>

#include "lib/util/error.h"

START_TEST(test_set_and_reset)
{
    qv_reset_error();
    ck_assert_int_eq(qv_last_error()->code, QV_OK);
    ck_assert_str_eq(qv_last_error()->message, "");
    int rc = qv_error_set(QV_ERR_NOT_FOUND, "no VM '%s'", "web01");
    ck_assert_int_eq(rc, QV_ERR_NOT_FOUND);
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_NOT_FOUND);
    ck_assert_str_eq(qv_last_error()->message, "no VM 'web01'");
    qv_error_prefix("cannot start VM '%s'", "web01");
    ck_assert_str_eq(qv_last_error()->message, "cannot start VM 'web01': no VM 'web01'");
    qv_reset_error();
    ck_assert_int_eq(qv_last_error()->code, QV_OK);
    ck_assert_str_eq(qv_last_error()->origin, "");
}
END_TEST

START_TEST(test_origin_from_source_path)
{
    ck_assert_str_eq(qv_error_origin_of("/src/qv/lib/conf/xml_parse.c"), "conf");
    ck_assert_str_eq(qv_error_origin_of("/src/qv/lib/qmp/qmp.c"), "qmp");
    ck_assert_str_eq(qv_error_origin_of("/src/qv/lib/proc/identity.c"), "proc");
    ck_assert_str_eq(qv_error_origin_of("/src/qv/lib/api/vm.c"), "core");
    ck_assert_str_eq(qv_error_origin_of("/src/qv/lib/util/fileio.c"), "core");
    ck_assert_str_eq(qv_error_origin_of("/src/qv/drivers/kvm/loaders/elf64.c"), "kvm");
    ck_assert_str_eq(qv_error_origin_of("../drivers/propolis/propolis_http.c"), "propolis");
    ck_assert_str_eq(qv_error_origin_of("drivers/qemu/qemu_start.c"), "qemu");
    /* The last lib/ or drivers/ in the path decides, not one higher up. */
    ck_assert_str_eq(qv_error_origin_of("/usr/lib/qmp/src/drivers/noop/noop_vm.c"), "noop");
    ck_assert_str_eq(qv_error_origin_of("/home/drivers/kvm/qv/lib/conf/domain.c"), "conf");
    ck_assert_str_eq(qv_error_origin_of("/src/qv/tests/unit/x.c"), "core");
    ck_assert_str_eq(qv_error_origin_of("/src/mylib/conf/x.c"), "core");
    ck_assert_str_eq(qv_error_origin_of(NULL), "core");
}
END_TEST

START_TEST(test_origin_survives_prefix)
{
    qv_error_set_in("/src/qv/drivers/qemu/qemu_start.c", QV_ERR_BACKEND, "QEMU exited");
    ck_assert_str_eq(qv_last_error()->origin, "qemu");
    qv_error_prefix("cannot start VM '%s'", "web01");
    ck_assert_str_eq(qv_last_error()->origin, "qemu");
    qv_error_set_errno_in("/src/qv/lib/proc/identity.c", QV_ERR_IO, EIO, "read");
    ck_assert_str_eq(qv_last_error()->origin, "proc");
    /* Set from this file, which is outside lib/ and drivers/. */
    qv_error_set(QV_ERR_INTERNAL, "x");
    ck_assert_str_eq(qv_last_error()->origin, "core");
    qv_reset_error();
}
END_TEST

/* A clean-up that fails (or succeeds and resets) in between does not change
 * the error the caller hears about: code, origin and message come back. */
START_TEST(test_saved_error_survives_cleanup)
{
    qv_error_set_origin(QV_ERR_CONNECT, "qmp", "VM 'a': monitor went away");
    struct qv_error_saved e;
    qv_error_save(&e);
    qv_error_set(QV_ERR_IO, "clean-up failed too");
    ck_assert_int_eq(qv_error_restore(&e), QV_ERR_CONNECT);
    ck_assert_ptr_null(e.message);
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_CONNECT);
    ck_assert_str_eq(qv_last_error()->origin, "qmp");
    ck_assert_str_eq(qv_last_error()->message, "VM 'a': monitor went away");

    /* Nothing saved: nothing comes back, whatever the clean-up set. */
    qv_reset_error();
    qv_error_save(&e);
    qv_error_set(QV_ERR_IO, "clean-up failed");
    ck_assert_int_eq(qv_error_restore(&e), QV_OK);
    ck_assert_int_eq(qv_last_error()->code, QV_OK);
}
END_TEST

START_TEST(test_errno_mapping)
{
    ck_assert_int_eq(qv_error_set_errno(QV_ERR_IO, EACCES, "open '%s'", "/x"), QV_ERR_PERMISSION);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "open '/x': "));
    ck_assert_int_eq(qv_error_set_errno(QV_ERR_IO, ENOENT, "open"), QV_ERR_NOT_FOUND);
    ck_assert_int_eq(qv_error_set_errno(QV_ERR_IO, EIO, "open"), QV_ERR_IO);
}
END_TEST

static gpointer other_thread(gpointer data)
{
    (void)data;
    /* A fresh thread sees no error even though the main thread has one. */
    int seen = qv_last_error()->code;
    qv_error_set(QV_ERR_TIMEOUT, "thread-local");
    return GINT_TO_POINTER(seen);
}

START_TEST(test_thread_local)
{
    qv_error_set(QV_ERR_BUSY, "main thread");
    GThread *t = g_thread_new("err", other_thread, NULL);
    int seen = GPOINTER_TO_INT(g_thread_join(t));
    ck_assert_int_eq(seen, QV_OK);
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_BUSY);
    ck_assert_str_eq(qv_last_error()->message, "main thread");
}
END_TEST

START_TEST(test_strerror_names_every_code)
{
    for (int c = QV_OK; c >= QV_ERR_KVM; c--)
        ck_assert_str_ne(qv_strerror(c), "unknown error");
    ck_assert_str_eq(qv_strerror(12345), "unknown error");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("core_errors");
    TCase *tc = tcase_create("errors");
    tcase_add_test(tc, test_set_and_reset);
    tcase_add_test(tc, test_errno_mapping);
    tcase_add_test(tc, test_saved_error_survives_cleanup);
    tcase_add_test(tc, test_origin_from_source_path);
    tcase_add_test(tc, test_origin_survives_prefix);
    tcase_add_test(tc, test_thread_local);
    tcase_add_test(tc, test_strerror_names_every_code);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
