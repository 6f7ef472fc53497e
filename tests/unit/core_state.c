#include <check.h>

#include "lib/api/state.h"
#include "lib/util/error.h"

/* The QuantaVirt table, written out independently of lib/api/state.c so a
 * change there must be a deliberate change here too. */
static const char *const expected[QV_OP_COUNT] = {
    /*                         C R P S M D */
    [QV_OP_START] = "100100",
    [QV_OP_STOP] = "011000",
    [QV_OP_PAUSE] = "010000",
    [QV_OP_RESUME] = "001000",
    [QV_OP_RESET] = "011000",
    [QV_OP_DESTROY] = "111110",
    [QV_OP_SNAPSHOT_CREATE] = "111100",
    [QV_OP_SNAPSHOT_RESTORE] = "111100",
    [QV_OP_SNAPSHOT_DELETE] = "111100",
    [QV_OP_SNAPSHOT_LIST] = "111110",
    [QV_OP_CLONE] = "111100",
    [QV_OP_SET] = "111100",
    [QV_OP_MEMORY] = "111100",
    [QV_OP_VCPU] = "111100",
    [QV_OP_CONSOLE] = "111100",
    [QV_OP_GUEST_IP] = "011000",
    [QV_OP_WAIT] = "111110",
};

START_TEST(test_table)
{
    for (int op = 0; op < QV_OP_COUNT; op++) {
        ck_assert_ptr_nonnull(expected[op]);
        for (int st = VM_STATE_CREATED; st <= VM_STATE_DESTROYED; st++) {
            bool want = expected[op][st] == '1';
            ck_assert_msg(qv_op_allowed(op, st) == want, "op %s in state %s: expected %s",
                          qv_op_verb(op), vm_state_name(st), want ? "allowed" : "refused");
            qv_reset_error();
            int rc = qv_op_check(op, st, "web01");
            ck_assert_int_eq(rc, want ? 0 : QV_ERR_INVALID_STATE);
        }
    }
}
END_TEST

START_TEST(test_messages)
{
    qv_op_check(QV_OP_PAUSE, VM_STATE_STOPPED, "web01");
    ck_assert_str_eq(qv_last_error()->message, "cannot pause VM 'web01': it is stopped");
    qv_op_check(QV_OP_START, VM_STATE_DESTROYED, "db");
    ck_assert_str_eq(qv_last_error()->message, "cannot start VM 'db': it has been destroyed");
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_INVALID_STATE);
}
END_TEST

START_TEST(test_out_of_range)
{
    ck_assert(!qv_op_allowed(QV_OP_COUNT, VM_STATE_RUNNING));
    ck_assert(!qv_op_allowed(QV_OP_START, (enum vm_state)42));
    ck_assert_str_eq(vm_state_name((enum vm_state)42), "unknown");
    ck_assert_str_eq(vm_state_reason_name(VM_REASON_CRASHED), "crashed");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("core_state");
    TCase *tc = tcase_create("table");
    tcase_add_test(tc, test_table);
    tcase_add_test(tc, test_messages);
    tcase_add_test(tc, test_out_of_range);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
