/* The register-level API on kvm:///embed, each call observed by a guest
 * payload (tests/guests/regs.asm, inject.asm). */
#include <check.h>
#include <cpuid.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "kvm_util.h"
#include "qv/qv.h"
#include "qv/vcpu.h"

static struct qv_conn *conn;
static struct vm *vm;
static struct vcpu *cpu;

static void setup(void)
{
    conn = qv_connect("kvm:///embed");
    ck_assert_msg(conn, "%s", qv_last_error()->message);
    /* 512 KiB: the MMIO steps of regs.asm touch 0xd0000, beyond RAM. */
    vm = vm_create_on(conn, "regs", 1, 512 << 10);
    ck_assert_msg(vm, "%s", qv_last_error()->message);
    cpu = vcpu_create(vm, 0);
    ck_assert_msg(cpu, "%s", qv_last_error()->message);
}

static void teardown(void)
{
    vm_destroy(vm);
    qv_close(conn);
}

static void load(const char *name)
{
    g_autoptr(GBytes) b = kvm_test_load(name);
    gsize len;
    const void *p = g_bytes_get_data(b, &len);
    ck_assert_int_eq(vm_write_memory(vm, 0x1000, p, len), 0);
    ck_assert_int_eq(vcpu_reset(cpu, 0x1000), 0);
}

static const struct vcpu_exit_info *run_expect(int reason)
{
    int rc = vcpu_run(cpu);
    ck_assert_msg(rc == reason, "vcpu_run returned %d, wanted %d (%s)", rc, reason,
                  qv_last_error()->message);
    const struct vcpu_exit_info *e = vcpu_exit_info(cpu);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->reason, reason);
    return e;
}

static void expect_out(uint16_t port, uint8_t size, uint32_t count, const void *data)
{
    const struct vcpu_exit_info *e = run_expect(VCPU_EXIT_IO);
    ck_assert_uint_eq(e->io.port, port);
    ck_assert_uint_eq(e->io.size, size);
    ck_assert_uint_eq(e->io.direction, VCPU_IO_OUT);
    ck_assert_uint_eq(e->io.count, count);
    ck_assert_mem_eq(e->io.data, data, (size_t)size * count);
}

START_TEST(reset_state)
{
    ck_assert_int_eq(vcpu_reset(cpu, 0x12345), 0);
    struct vcpu_sregs s;
    ck_assert_int_eq(vcpu_get_sregs(cpu, &s), 0);
    ck_assert_uint_eq(s.cs.base + vcpu_get_reg(cpu, VCPU_REG_RIP), 0x12345);
    ck_assert_uint_eq(s.cs.base, (uint64_t)s.cs.selector << 4);
    ck_assert_uint_eq(s.cr0 & 1, 0); /* real mode */
    ck_assert_uint_eq(vcpu_get_reg(cpu, VCPU_REG_RFLAGS), 2);
    ck_assert_int_eq(vcpu_reset(cpu, 0x100000), QV_ERR_INVALID_ARG);
}
END_TEST

START_TEST(port_io_mmio_hlt_step)
{
    load("regs.bin");
    expect_out(0x10, 1, 1, "\x11");
    expect_out(0x12, 2, 1, "\x33\x22");
    expect_out(0x14, 4, 1, "\x77\x66\x55\x44");
    const struct vcpu_exit_info *e = run_expect(VCPU_EXIT_IO);
    ck_assert_uint_eq(e->io.port, 0x20);
    ck_assert_uint_eq(e->io.direction, VCPU_IO_IN);
    e->io.data[0] = 0xa7; /* what the guest reads */
    expect_out(0x21, 1, 1, "\xa7");
    e = run_expect(VCPU_EXIT_IO);
    ck_assert_uint_eq(e->io.port, 0x30);
    /* rep outsb may come as one exit of 4 or several shorter ones */
    GString *seen = g_string_new(NULL);
    g_string_append_len(seen, (const char *)e->io.data, e->io.count);
    while (seen->len < 4) {
        e = run_expect(VCPU_EXIT_IO);
        ck_assert_uint_eq(e->io.port, 0x30);
        g_string_append_len(seen, (const char *)e->io.data, e->io.count);
    }
    ck_assert_str_eq(seen->str, "qvio");
    g_string_free(seen, TRUE);
    e = run_expect(VCPU_EXIT_MMIO);
    ck_assert_uint_eq(e->mmio.addr, 0xd0010);
    ck_assert_uint_eq(e->mmio.is_write, 1);
    ck_assert_uint_eq(e->mmio.len, 1);
    ck_assert_uint_eq(e->mmio.data[0], 0x5a);
    e = run_expect(VCPU_EXIT_MMIO);
    ck_assert_uint_eq(e->mmio.addr, 0xd0020);
    ck_assert_uint_eq(e->mmio.is_write, 0);
    e->mmio.data[0] = 0x3c;
    expect_out(0x22, 1, 1, "\x3c");
    vcpu_set_reg(cpu, VCPU_REG_RBX, 0x4140);
    ck_assert_int_eq(qv_last_error()->code, QV_OK);
    expect_out(0x24, 2, 1, "\x41\x41");
    run_expect(VCPU_EXIT_HLT);
    /* Three single steps: mov cx, mov dx, nop. */
    uint64_t rip = vcpu_get_reg(cpu, VCPU_REG_RIP);
    ck_assert_int_eq(vcpu_step(cpu), VCPU_EXIT_DEBUG);
    ck_assert_uint_eq(vcpu_get_reg(cpu, VCPU_REG_RIP), rip + 3);
    ck_assert_uint_eq(vcpu_get_reg(cpu, VCPU_REG_RCX) & 0xffff, 0x1234);
    ck_assert_int_eq(vcpu_step(cpu), VCPU_EXIT_DEBUG);
    ck_assert_uint_eq(vcpu_get_reg(cpu, VCPU_REG_RDX) & 0xffff, 0x5678);
    ck_assert_int_eq(vcpu_step(cpu), VCPU_EXIT_DEBUG);
    ck_assert_uint_eq(vcpu_get_reg(cpu, VCPU_REG_RIP), rip + 7);
    /* Running on from there reaches the next port write. */
    e = run_expect(VCPU_EXIT_IO);
    ck_assert_uint_eq(e->io.port, 0x26);
}
END_TEST

static void *kicker(void *arg)
{
    g_usleep(100000);
    vcpu_kick(arg);
    return NULL;
}

START_TEST(kick_from_another_thread)
{
    load("regs.bin");
    /* Jump straight to the spin loop at the end of the payload. */
    g_autoptr(GBytes) b = kvm_test_load("regs.bin");
    gsize len;
    g_bytes_get_data(b, &len);
    vcpu_set_reg(cpu, VCPU_REG_RIP, 0x1000 + len - 4 - 2);
    pthread_t t;
    pthread_create(&t, NULL, kicker, cpu);
    gint64 t0 = g_get_monotonic_time();
    run_expect(VCPU_EXIT_INTR);
    pthread_join(t, NULL);
    ck_assert_int_lt(g_get_monotonic_time() - t0, 10 * G_USEC_PER_SEC);
    /* The kick is spent: the next run goes back into the spin loop, and a
     * kick before entry makes it return at once. */
    vcpu_kick(cpu);
    run_expect(VCPU_EXIT_INTR);
}
END_TEST

START_TEST(guest_sees_the_registers_set)
{
    /* mov ax,sp; out 0x10,ax; mov ax,bp; out 0x12,ax; mov ax,si; out 0x14,ax */
    static const uint8_t code[] = {0x89, 0xe0, 0xe7, 0x10, 0x89, 0xe8,
                                   0xe7, 0x12, 0x89, 0xf0, 0xe7, 0x14};
    ck_assert_int_eq(vm_write_memory(vm, 0x1000, code, sizeof(code)), 0);
    ck_assert_int_eq(vcpu_reset(cpu, 0x1000), 0);
    struct vcpu_regs r;
    ck_assert_int_eq(vcpu_get_regs(cpu, &r), 0);
    r.rsp = 0x7ff0;
    r.rbp = 0x6543;
    r.rsi = 0x2111;
    ck_assert_int_eq(vcpu_set_regs(cpu, &r), 0);
    expect_out(0x10, 2, 1, "\xf0\x7f");
    expect_out(0x12, 2, 1, "\x43\x65");
    expect_out(0x14, 2, 1, "\x11\x21");
    ck_assert_uint_eq(vcpu_get_reg(cpu, VCPU_REG_RSP), 0x7ff0);
    ck_assert_uint_eq(vcpu_get_reg(cpu, VCPU_REG_RBP), 0x6543);
}
END_TEST

START_TEST(regs_sregs_msr)
{
    struct vcpu_regs r;
    ck_assert_int_eq(vcpu_get_regs(cpu, &r), 0);
    r.rax = 0x1122334455667788ull;
    r.r15 = 42;
    ck_assert_int_eq(vcpu_set_regs(cpu, &r), 0);
    struct vcpu_regs r2;
    ck_assert_int_eq(vcpu_get_regs(cpu, &r2), 0);
    ck_assert_uint_eq(r2.rax, r.rax);
    ck_assert_uint_eq(vcpu_get_reg(cpu, VCPU_REG_R15), 42);
    struct vcpu_sregs s;
    ck_assert_int_eq(vcpu_get_sregs(cpu, &s), 0);
    s.cr2 = 0xdead000;
    ck_assert_int_eq(vcpu_set_sregs(cpu, &s), 0);
    ck_assert_int_eq(vcpu_get_sregs(cpu, &s), 0);
    ck_assert_uint_eq(s.cr2, 0xdead000);
    /* IA32_SYSENTER_CS round-trips; a bogus MSR is refused. */
    ck_assert_int_eq(vcpu_set_msr(cpu, 0x174, 0x10), 0);
    uint64_t v = 0;
    ck_assert_int_eq(vcpu_get_msr(cpu, 0x174, &v), 0);
    ck_assert_uint_eq(v, 0x10);
    ck_assert_int_lt(vcpu_get_msr(cpu, 0xdeadbeef, &v), 0);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "0xdeadbeef"));
}
END_TEST

/* Run until the handler reports, returning vector, error code and CR2. */
static void expect_report(uint8_t vector, uint32_t ec, uint32_t cr2)
{
    const struct vcpu_exit_info *e = run_expect(VCPU_EXIT_IO);
    ck_assert_uint_eq(e->io.port, 0xe1);
    ck_assert_uint_eq(e->io.data[0], vector);
    e = run_expect(VCPU_EXIT_IO);
    ck_assert_uint_eq(e->io.port, 0xe2);
    uint32_t got;
    memcpy(&got, e->io.data, 4);
    ck_assert_uint_eq(got, ec);
    e = run_expect(VCPU_EXIT_IO);
    ck_assert_uint_eq(e->io.port, 0xe3);
    memcpy(&got, e->io.data, 4);
    ck_assert_uint_eq(got, cr2);
    /* Back in the idle loop: ready, then halted. */
    e = run_expect(VCPU_EXIT_IO);
    ck_assert_uint_eq(e->io.port, 0xe0);
    run_expect(VCPU_EXIT_HLT);
}

static bool amd_without_nrips(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(0x80000001, &a, &b, &c, &d) || !(c & (1u << 2))) /* SVM */
        return false;
    return __get_cpuid(0x8000000a, &a, &b, &c, &d) && !(d & (1u << 3)); /* NRIPS */
}

START_TEST(events_reach_the_guest)
{
    load("inject.bin");
    const struct vcpu_exit_info *e = run_expect(VCPU_EXIT_IO);
    ck_assert_uint_eq(e->io.port, 0xe0);
    run_expect(VCPU_EXIT_HLT);

    ck_assert_int_eq(vcpu_inject_gp(cpu, 0x18), 0);
    expect_report(13, 0x18, 0);
    ck_assert_int_eq(vcpu_inject_ud(cpu), 0);
    expect_report(6, 0, 0);
    ck_assert_int_eq(vcpu_inject_pf(cpu, 0xcafe000, 0x2), 0);
    expect_report(14, 0x2, 0xcafe000);
    if (amd_without_nrips()) {
        /* KVM on SVM delivers #BP as INT3 would be, skipping an instruction
         * to find the return address; without NRIPS it emulates that skip
         * and drops the event when it cannot (seen under QEMU's emulated
         * AMD-V, scripts/nested-kvm.sh). No AMD CPU since 2010 lacks it. */
        printf("note: #BP injection not checked: AMD SVM without NRIPS\n");
    } else {
        ck_assert_int_eq(vcpu_queue_exception(cpu, 3, 0), 0);
        expect_report(3, 0, 0xcafe000);
    }
    ck_assert_int_eq(vcpu_queue_interrupt(cpu, 0x40), 0);
    expect_report(0x40, 0, 0xcafe000);
    ck_assert_int_eq(vcpu_queue_nmi(cpu), 0);
    expect_report(2, 0, 0xcafe000);
    ck_assert_int_eq(vcpu_queue_interrupt(cpu, 3), QV_ERR_INVALID_ARG);
    ck_assert_int_eq(vcpu_queue_exception(cpu, 40, 0), QV_ERR_INVALID_ARG);
}
END_TEST

START_TEST(vcpu_errors)
{
    ck_assert_ptr_null(vcpu_create(vm, 0));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_EXISTS);
    ck_assert_ptr_null(vcpu_create(vm, 1));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_INVALID_ARG);
    ck_assert_ptr_eq(vm_get_vcpu(vm, 0), cpu);
    ck_assert_ptr_null(vm_get_vcpu(vm, 5));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_NOT_FOUND);
    /* A bare VM has no kernel to boot. */
    ck_assert_int_eq(vm_start(vm), QV_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "regs"));
    /* KVM keeps a destroyed vCPU until the VM goes: its id stays taken. */
    vcpu_destroy(cpu);
    ck_assert_int_eq(qv_last_error()->code, QV_OK);
    ck_assert_ptr_null(vm_get_vcpu(vm, 0));
    ck_assert_ptr_null(vcpu_create(vm, 0));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_KVM);
}
END_TEST

int main(void)
{
    kvm_test_require();
    Suite *s = suite_create("kvm_vcpu");
    TCase *tc = tcase_create("vcpu");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, reset_state);
    tcase_add_test(tc, port_io_mmio_hlt_step);
    tcase_add_test(tc, kick_from_another_thread);
    tcase_add_test(tc, guest_sees_the_registers_set);
    tcase_add_test(tc, regs_sregs_msr);
    tcase_add_test(tc, events_reach_the_guest);
    tcase_add_test(tc, vcpu_errors);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
