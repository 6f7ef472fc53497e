/* kvm:///session's split of a definition between itself and qv-vmm
 * (drivers/kvm/session/kvm_session_tune.c): the CPU weight and cap are the
 * session's, so they pass its define and set checks and are left out of
 * what qv-vmm's inner kvm:///embed is given, which still refuses them.
 * Pure functions: no /dev/kvm, no qv-vmm. */
#include <check.h>
#include <string.h>

#include "drivers/kvm/kvm_conf.h"
#include "drivers/kvm/session/ksess.h"
#include "lib/util/error.h"

static struct qv_domain *parse(const char *cputune)
{
    g_autofree char *xml = g_strdup_printf(
        "<domain type='kvm'><name>s1</name><memory unit='MiB'>16</memory><vcpu>2</vcpu>"
        "%s<os><type arch='x86_64'>hvm</type><kernel>/boot/payload</kernel></os></domain>",
        cputune);
    struct qv_domain *def = qv_domain_parse_xml(xml);
    ck_assert_msg(def, "%s: %s", xml, qv_last_error()->message);
    qv_domain_fill_defaults(def);
    return def;
}

START_TEST(test_weight_and_cap_are_the_sessions)
{
    g_autoptr(qv_domain) def =
        parse("<cputune><shares>512</shares><period>100000</period><quota>30000</quota>"
              "<vcpupin vcpu='1' cpuset='0'/></cputune>");
    /* kvm:///embed refuses them; the session accepts the same definition. */
    ck_assert_int_eq(kvm_domain_check(def), QV_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "CPU weight"));
    ck_assert_msg(ksess_domain_check(def) == 0, "%s", qv_last_error()->message);
    ck_assert(ksess_wants_cgroup(def));

    /* What qv-vmm is given: no weight or cap, the pins kept, and nothing
     * its inner kvm:///embed refuses. The caller's definition is intact. */
    g_autoptr(qv_domain) inner = ksess_vmm_def(def);
    ck_assert_uint_eq(inner->cputune.shares, 0);
    ck_assert_uint_eq(inner->cputune.cap, 0);
    ck_assert_uint_eq(inner->cputune.pins->len, 1);
    ck_assert(!ksess_wants_cgroup(inner));
    ck_assert_msg(kvm_domain_check(inner) == 0, "%s", qv_last_error()->message);
    g_autofree char *xml = qv_domain_format_xml(inner);
    ck_assert_ptr_null(strstr(xml, "<shares>"));
    ck_assert_ptr_null(strstr(xml, "<quota>"));
    ck_assert_ptr_null(strstr(xml, "<period>"));
    ck_assert_ptr_nonnull(strstr(xml, "vcpupin"));
    ck_assert_uint_eq(def->cputune.shares, 512);
    ck_assert_uint_eq(def->cputune.cap, 30);
}
END_TEST

START_TEST(test_settings_checked_as_the_session_enforces_them)
{
    g_autoptr(qv_domain) def = parse("");
    ck_assert(!ksess_wants_cgroup(def));
    struct qv_setting weight = {.kind = QV_SET_CPU_WEIGHT, .value = 100};
    g_autoptr(qv_domain) w = ksess_setting_apply(def, &weight, "s1");
    ck_assert_msg(w, "%s", qv_last_error()->message);
    ck_assert_uint_eq(w->cputune.shares, 100);
    ck_assert(ksess_wants_cgroup(w));
    struct qv_setting cap = {.kind = QV_SET_CPU_CAP, .value = 50};
    g_autoptr(qv_domain) c = ksess_setting_apply(w, &cap, "s1");
    ck_assert_msg(c, "%s", qv_last_error()->message);
    ck_assert_uint_eq(c->cputune.cap, 50);
    ck_assert_uint_eq(c->cputune.shares, 100);
    /* What the VMM cannot do stays refused through the session too. */
    struct qv_setting mem = {.kind = QV_SET_MEMORY, .value = 8ull << 20};
    ck_assert_ptr_null(ksess_setting_apply(def, &mem, "s1"));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "<currentMemory>"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kvm_session_conf");
    TCase *tc = tcase_create("tune");
    tcase_add_test(tc, test_weight_and_cap_are_the_sessions);
    tcase_add_test(tc, test_settings_checked_as_the_session_enforces_them);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
