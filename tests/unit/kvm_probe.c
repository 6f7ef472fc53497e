/* Probing KVM and opening kvm: URIs: clear errors for what is missing. */
#include <check.h>
#include <string.h>

#include "drivers/kvm/kvm.h"
#include "kvm_util.h"
#include "qv/qv.h"

START_TEST(missing_device_is_named)
{
    struct kvm_sys sys;
    ck_assert_int_eq(kvm_probe("/nonexistent/kvm", &sys), QV_ERR_KVM);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "/nonexistent/kvm does not exist"));
}
END_TEST

START_TEST(not_a_kvm_device)
{
    struct kvm_sys sys;
    ck_assert_int_eq(kvm_probe("/dev/null", &sys), QV_ERR_KVM);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "/dev/null is not a KVM device"));
}
END_TEST

START_TEST(real_device_probes)
{
    kvm_test_require();
    struct kvm_sys sys;
    ck_assert_msg(kvm_probe("/dev/kvm", &sys) == 0, "%s", qv_last_error()->message);
    ck_assert_int_ge(sys.fd, 0);
    ck_assert_uint_ge(sys.run_size, sizeof(struct kvm_run));
    ck_assert_uint_gt(sys.cpuid->nent, 0);
    kvm_sys_close(&sys);
}
END_TEST

START_TEST(uris)
{
    kvm_test_require();
    struct qv_conn *c = qv_connect("kvm:///embed");
    ck_assert_msg(c, "%s", qv_last_error()->message);
    ck_assert_str_eq(qv_conn_get_driver(c), "kvm");
    qv_close(c);
    /* kvm:///session is served (tests/integration/session); qv-vmm
     * inside qv-vmm is refused, naming the parameter. */
    ck_assert_ptr_null(qv_connect("kvm:///session?vmm_uri=kvm:///session"));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_URI);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "vmm_uri"));
    ck_assert_ptr_null(qv_connect("kvm:///elsewhere"));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_URI);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kvm_probe");
    TCase *tc = tcase_create("probe");
    tcase_add_test(tc, missing_device_is_named);
    tcase_add_test(tc, not_a_kvm_device);
    if (access("/dev/kvm", R_OK | W_OK) == 0) {
        tcase_add_test(tc, real_device_probes);
        tcase_add_test(tc, uris);
    } else {
        printf("SKIP (partly): /dev/kvm is missing; only the error paths are tested\n");
    }
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
