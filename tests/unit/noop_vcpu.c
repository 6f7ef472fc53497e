/* noop driver: simulated vCPUs. */
#include <check.h>
#include <glib.h>
#include <stddef.h>
#include <string.h>

#include "qv/qv.h"

static struct qv_conn *conn;
static struct vm *vm;

static void setup(void)
{
    conn = qv_connect("noop:///");
    ck_assert_ptr_nonnull(conn);
    vm = vm_create_on(conn, "cpu", 4, 1 << 20);
    ck_assert_msg(vm, "%s", qv_last_error()->message);
}

static void teardown(void)
{
    vm_destroy(vm);
    qv_close(conn);
}

#define ASSERT_ERR(call, want)                                                                     \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        ck_assert_msg(rc_ == (want), "%s returned %d (%s), expected %d", #call, rc_,               \
                      qv_last_error()->message, (want));                                           \
    } while (0)
#define ASSERT_OK(call) ASSERT_ERR(call, 0)

START_TEST(test_create_get_destroy)
{
    struct vcpu *v0 = vcpu_create(vm, 0);
    ck_assert_msg(v0, "%s", qv_last_error()->message);
    ck_assert_uint_eq(vcpu_get_id(v0), 0);
    ASSERT_OK(vm_add_vcpu(vm, 3));
    ck_assert_ptr_null(vcpu_create(vm, 0));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_EXISTS);
    ck_assert_ptr_null(vcpu_create(vm, 4));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "4"));
    ck_assert_ptr_eq(vm_get_vcpu(vm, 0), v0);
    ck_assert_ptr_null(vm_get_vcpu(vm, 1));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_NOT_FOUND);
    struct vcpu *v3 = vm_get_vcpu(vm, 3);
    ck_assert_ptr_nonnull(v3);
    vcpu_destroy(v3);
    ck_assert_ptr_null(vm_get_vcpu(vm, 3));
    ck_assert_ptr_nonnull(vcpu_create(vm, 3));
}
END_TEST

START_TEST(test_regs_round_trip)
{
    struct vcpu *v = vcpu_create(vm, 1);
    ck_assert_ptr_nonnull(v);
    struct vcpu_regs in, out;
    uint64_t *w = (uint64_t *)&in;
    for (size_t i = 0; i < sizeof(in) / 8; i++)
        w[i] = 0x0102030405060708ull * (i + 1);
    ASSERT_OK(vcpu_set_regs(v, &in));
    memset(&out, 0, sizeof(out));
    ASSERT_OK(vcpu_get_regs(v, &out));
    ck_assert_mem_eq(&in, &out, sizeof(in));

    struct vcpu_sregs sin, sout;
    ASSERT_OK(vcpu_get_sregs(v, &sin));
    sin.cr0 = 0x80050033;
    sin.cr3 = 0x1000;
    sin.cr4 = 0x6f0;
    sin.efer = 0xd01;
    sin.cs.l = 1;
    sin.cs.selector = 0x10;
    sin.gdt.base = 0x5000;
    sin.gdt.limit = 0x27;
    ASSERT_OK(vcpu_set_sregs(v, &sin));
    ASSERT_OK(vcpu_get_sregs(v, &sout));
    ck_assert_mem_eq(&sin, &sout, sizeof(sin));

    ASSERT_ERR(vcpu_get_regs(v, NULL), QV_ERR_INVALID_ARG);
}
END_TEST

START_TEST(test_every_single_register)
{
    /* What each enum vcpu_reg must name in struct vcpu_regs. */
    static const size_t off[VCPU_REG_COUNT] = {
        [VCPU_REG_RAX] = offsetof(struct vcpu_regs, rax),
        [VCPU_REG_RBX] = offsetof(struct vcpu_regs, rbx),
        [VCPU_REG_RCX] = offsetof(struct vcpu_regs, rcx),
        [VCPU_REG_RDX] = offsetof(struct vcpu_regs, rdx),
        [VCPU_REG_RSI] = offsetof(struct vcpu_regs, rsi),
        [VCPU_REG_RDI] = offsetof(struct vcpu_regs, rdi),
        [VCPU_REG_RBP] = offsetof(struct vcpu_regs, rbp),
        [VCPU_REG_RSP] = offsetof(struct vcpu_regs, rsp),
        [VCPU_REG_R8] = offsetof(struct vcpu_regs, r8),
        [VCPU_REG_R9] = offsetof(struct vcpu_regs, r9),
        [VCPU_REG_R10] = offsetof(struct vcpu_regs, r10),
        [VCPU_REG_R11] = offsetof(struct vcpu_regs, r11),
        [VCPU_REG_R12] = offsetof(struct vcpu_regs, r12),
        [VCPU_REG_R13] = offsetof(struct vcpu_regs, r13),
        [VCPU_REG_R14] = offsetof(struct vcpu_regs, r14),
        [VCPU_REG_R15] = offsetof(struct vcpu_regs, r15),
        [VCPU_REG_RIP] = offsetof(struct vcpu_regs, rip),
        [VCPU_REG_RFLAGS] = offsetof(struct vcpu_regs, rflags),
    };
    struct vcpu *v = vcpu_create(vm, 0);
    ck_assert_ptr_nonnull(v);
    for (int reg = 0; reg < VCPU_REG_COUNT; reg++) {
        struct vcpu_regs before, after;
        ASSERT_OK(vcpu_get_regs(v, &before));
        uint64_t val = 0xfeedface00000000ull | (uint64_t)(reg + 1) * 0x1111;
        vcpu_set_reg(v, (enum vcpu_reg)reg, val);
        ck_assert_int_eq(qv_last_error()->code, QV_OK);
        ck_assert_uint_eq(vcpu_get_reg(v, (enum vcpu_reg)reg), val);
        ASSERT_OK(vcpu_get_regs(v, &after));
        /* Exactly that field changed. */
        *(uint64_t *)((char *)&before + off[reg]) = val;
        ck_assert_msg(memcmp(&before, &after, sizeof(after)) == 0, "register %d", reg);
    }
    ck_assert_uint_eq(vcpu_get_reg(v, VCPU_REG_COUNT), 0);
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_INVALID_ARG);
    vcpu_set_reg(v, (enum vcpu_reg) - 1, 1);
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_INVALID_ARG);
}
END_TEST

START_TEST(test_reset_state)
{
    struct vcpu *v = vcpu_create(vm, 0), *ap = vcpu_create(vm, 1);
    ck_assert_ptr_nonnull(v);
    static const uint64_t boots[] = {0x7c00, 0xffff0, 0x100000 - 1, 0x10, 0, 0x12345};
    for (size_t i = 0; i < G_N_ELEMENTS(boots); i++) {
        vcpu_set_reg(v, VCPU_REG_RAX, 42);
        ASSERT_OK(vcpu_reset(v, boots[i]));
        struct vcpu_regs r;
        struct vcpu_sregs s;
        ASSERT_OK(vcpu_get_regs(v, &r));
        ASSERT_OK(vcpu_get_sregs(v, &s));
        ck_assert_uint_eq(s.cs.base + r.rip, boots[i]);
        ck_assert_uint_eq(s.cs.selector, boots[i] >> 4);
        ck_assert_uint_eq(s.cs.base, (uint64_t)s.cs.selector << 4);
        ck_assert_uint_le(r.rip, 0xffff);
        ck_assert_uint_eq(s.cs.limit, 0xffff);
        ck_assert_uint_eq(r.rflags, 2);
        ck_assert_uint_eq(r.rax, 0);
        ck_assert_uint_eq(r.rdx, 0x600);
        ck_assert_uint_eq(s.cr0, 0x60000010);
        ck_assert_uint_eq(s.cr3, 0);
        ck_assert_uint_eq(s.cr4, 0);
        ck_assert_uint_eq(s.efer, 0);
        ck_assert_uint_eq(s.ds.base, 0);
        ck_assert_uint_eq(s.idt.limit, 0xffff);
        ck_assert_uint_eq(s.apic_base & 0x100, 0x100); /* the BSP */
    }
    struct vcpu_regs r;
    ASSERT_OK(vcpu_reset(v, 0x7c00));
    ASSERT_OK(vcpu_get_regs(v, &r));
    ck_assert_uint_eq(r.rip, 0);
    ck_assert_uint_eq(vcpu_get_reg(v, VCPU_REG_RIP), 0);
    struct vcpu_sregs s;
    ASSERT_OK(vcpu_get_sregs(ap, &s));
    ck_assert_uint_eq(s.apic_base & 0x100, 0); /* not the BSP */
    ASSERT_ERR(vcpu_reset(v, 0x100000), QV_ERR_INVALID_ARG);
}
END_TEST

START_TEST(test_run_step_kick_events)
{
    struct vcpu *v = vcpu_create(vm, 0);
    ck_assert_int_eq(vcpu_run(v), VCPU_EXIT_HLT);
    ck_assert_int_eq(vcpu_exit_info(v)->reason, VCPU_EXIT_HLT);
    ASSERT_OK(vcpu_reset(v, 0x7c00));
    ck_assert_int_eq(vcpu_step(v), VCPU_EXIT_DEBUG);
    ck_assert_uint_eq(vcpu_exit_info(v)->debug.pc, 0x7c00);
    vcpu_kick(v);
    ck_assert_int_eq(vcpu_run(v), VCPU_EXIT_INTR);
    ck_assert_int_eq(vcpu_run(v), VCPU_EXIT_HLT);

    ASSERT_OK(vcpu_queue_interrupt(v, 0x20));
    ASSERT_OK(vcpu_inject_gp(v, 0x18));
    ASSERT_OK(vcpu_queue_nmi(v));
    ASSERT_OK(vcpu_inject_ud(v));
    ASSERT_ERR(vcpu_queue_interrupt(v, 3), QV_ERR_INVALID_ARG);
    ASSERT_ERR(vcpu_queue_exception(v, 40, 0), QV_ERR_INVALID_ARG);

    ck_assert_int_eq(vcpu_run(v), VCPU_EXIT_SYSTEM_EVENT);
    const struct vcpu_exit_info *e = vcpu_exit_info(v);
    ck_assert_uint_eq(e->system_event.type, 1); /* interrupt */
    ck_assert_uint_eq(e->system_event.data, 0x20);
    ck_assert_int_eq(vcpu_run(v), VCPU_EXIT_SYSTEM_EVENT);
    ck_assert_uint_eq(e->system_event.type, 2); /* exception, with error code */
    ck_assert_uint_eq(e->system_event.data, 13 | 1ull << 8 | 0x18ull << 32);
    ck_assert_int_eq(vcpu_run(v), VCPU_EXIT_SYSTEM_EVENT);
    ck_assert_uint_eq(e->system_event.type, 3); /* NMI */
    ck_assert_uint_eq(e->system_event.data & 0xff, 2);
    ck_assert_int_eq(vcpu_run(v), VCPU_EXIT_SYSTEM_EVENT);
    ck_assert_uint_eq(e->system_event.type, 2);
    ck_assert_uint_eq(e->system_event.data, 6); /* #UD pushes no error code */
    ck_assert_int_eq(vcpu_run(v), VCPU_EXIT_HLT);

    /* #PF sets CR2 and queues vector 14. */
    ASSERT_OK(vcpu_inject_pf(v, 0xdeadb000, 2));
    struct vcpu_sregs s;
    ASSERT_OK(vcpu_get_sregs(v, &s));
    ck_assert_uint_eq(s.cr2, 0xdeadb000);
    ck_assert_int_eq(vcpu_run(v), VCPU_EXIT_SYSTEM_EVENT);
    ck_assert_uint_eq(e->system_event.data, 14 | 1ull << 8 | 2ull << 32);

    /* A reset drops pending events. */
    ASSERT_OK(vcpu_queue_interrupt(v, 0x30));
    ASSERT_OK(vcpu_reset(v, 0x7c00));
    ck_assert_int_eq(vcpu_run(v), VCPU_EXIT_HLT);
}
END_TEST

START_TEST(test_msrs)
{
    struct vcpu *v = vcpu_create(vm, 0);
    uint64_t val = 1;
    ASSERT_OK(vcpu_get_msr(v, 0x174, &val));
    ck_assert_uint_eq(val, 0);
    ASSERT_OK(vcpu_set_msr(v, 0x174, 0x10));
    ASSERT_OK(vcpu_set_msr(v, 0xc0000100, 0xffff888000000000ull));
    ASSERT_OK(vcpu_set_msr(v, 0x174, 0x20));
    ASSERT_OK(vcpu_get_msr(v, 0x174, &val));
    ck_assert_uint_eq(val, 0x20);
    ASSERT_OK(vcpu_get_msr(v, 0xc0000100, &val));
    ck_assert_uint_eq(val, 0xffff888000000000ull);
    /* EFER and the APIC base are the same state as in sregs. */
    ASSERT_OK(vcpu_set_msr(v, 0xc0000080, 0x500));
    struct vcpu_sregs s;
    ASSERT_OK(vcpu_get_sregs(v, &s));
    ck_assert_uint_eq(s.efer, 0x500);
    ASSERT_OK(vcpu_get_msr(v, 0x1b, &val));
    ck_assert_uint_eq(val, s.apic_base);
    ASSERT_ERR(vcpu_get_msr(v, 0x10, NULL), QV_ERR_INVALID_ARG);
}
END_TEST

START_TEST(test_vm_reset_resets_vcpus)
{
    struct vcpu *v = vcpu_create(vm, 0);
    vcpu_set_reg(v, VCPU_REG_RBX, 77);
    ASSERT_OK(vm_start(vm));
    ASSERT_OK(vm_reset(vm));
    ck_assert_uint_eq(vcpu_get_reg(v, VCPU_REG_RBX), 0);
    struct vcpu_sregs s;
    ASSERT_OK(vcpu_get_sregs(v, &s));
    ck_assert_uint_eq(s.cs.base + vcpu_get_reg(v, VCPU_REG_RIP), 0xffff0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("noop_vcpu");
    TCase *tc = tcase_create("vcpu");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_create_get_destroy);
    tcase_add_test(tc, test_regs_round_trip);
    tcase_add_test(tc, test_every_single_register);
    tcase_add_test(tc, test_reset_state);
    tcase_add_test(tc, test_run_step_kick_events);
    tcase_add_test(tc, test_msrs);
    tcase_add_test(tc, test_vm_reset_resets_vcpus);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
