/* Guest memory on kvm:///embed: the RAM at 0, added regions, read-only
 * regions the guest cannot write, access across regions, and refusals. */
#include <check.h>
#include <string.h>

#include "kvm_util.h"
#include "qv/qv.h"
#include "qv/vcpu.h"

static struct qv_conn *conn;
static struct vm *vm;

static void setup(void)
{
    conn = qv_connect("kvm:///embed");
    ck_assert_msg(conn, "%s", qv_last_error()->message);
    vm = vm_create_on(conn, "mem", 1, 1 << 20);
    ck_assert_msg(vm, "%s", qv_last_error()->message);
}

static void teardown(void)
{
    vm_destroy(vm);
    qv_close(conn);
}

START_TEST(ram_and_regions)
{
    uint8_t *ram = vm_gpa_to_hva(vm, 0);
    ck_assert_ptr_nonnull(ram);
    ck_assert_ptr_eq(vm_gpa_to_hva(vm, 0xfffff), ram + 0xfffff);
    ck_assert_ptr_null(vm_gpa_to_hva(vm, 0x100000));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_OUT_OF_RANGE);
    /* Adjacent region: one write spans both. */
    ck_assert_int_eq(vm_add_memory_region(vm, 0x100000, 0x2000, VM_MEM_READ | VM_MEM_WRITE), 0);
    char msg[] = "spans two regions";
    ck_assert_int_eq(vm_write_memory(vm, 0x100000 - 5, msg, sizeof(msg)), 0);
    char back[sizeof(msg)];
    ck_assert_int_eq(vm_read_memory(vm, 0x100000 - 5, back, sizeof(back)), 0);
    ck_assert_str_eq(back, msg);
    ck_assert_mem_eq(ram + 0xfffff - 4, msg, 5);
    /* Overlaps and holes are refused; a failed write changes nothing. */
    ck_assert_int_eq(vm_add_memory_region(vm, 0x101000, 0x1000, VM_MEM_READ), QV_ERR_EXISTS);
    ck_assert_int_eq(vm_write_memory(vm, 0x102000 - 2, "abcd", 4), QV_ERR_OUT_OF_RANGE);
    uint8_t *r2 = vm_gpa_to_hva(vm, 0x101ffe);
    ck_assert_uint_eq(r2[0], 0);
    ck_assert_int_eq(vm_read_memory(vm, UINT64_MAX - 1, back, 4), QV_ERR_OUT_OF_RANGE);
    ck_assert_int_eq(vm_add_memory_region(vm, 0x200001, 0x1000, VM_MEM_READ), QV_ERR_INVALID_ARG);
}
END_TEST

START_TEST(readonly_region_traps_guest_writes)
{
    /* Real mode reaches just past 1 MiB through segment 0xffff, so a
     * read-only page at 1 MiB (right above this VM's RAM) is in reach. */
    ck_assert_int_eq(vm_add_memory_region(vm, 0x100000, 0x1000, VM_MEM_READ | VM_MEM_EXEC), 0);
    ck_assert_int_eq(vm_write_memory(vm, 0x100010, "\x42", 1), 0); /* the host may fill it */
    /* mov ax,0xffff; mov es,ax; mov al,[es:0x20]; out 0x10,al;
     * mov byte [es:0x20],0x99; hlt */
    static const uint8_t code[] = {0xb8, 0xff, 0xff, 0x8e, 0xc0, 0x26, 0xa0, 0x20, 0x00,
                                   0xe6, 0x10, 0x26, 0xc6, 0x06, 0x20, 0x00, 0x99, 0xf4};
    ck_assert_int_eq(vm_write_memory(vm, 0x1000, code, sizeof(code)), 0);
    struct vcpu *cpu = vcpu_create(vm, 0);
    ck_assert_ptr_nonnull(cpu);
    ck_assert_int_eq(vcpu_reset(cpu, 0x1000), 0);
    ck_assert_int_eq(vcpu_run(cpu), VCPU_EXIT_IO);
    ck_assert_uint_eq(vcpu_exit_info(cpu)->io.data[0], 0x42); /* the guest reads it */
    ck_assert_int_eq(vcpu_run(cpu), VCPU_EXIT_MMIO);          /* but cannot write */
    const struct vcpu_exit_info *e = vcpu_exit_info(cpu);
    ck_assert_uint_eq(e->mmio.addr, 0x100010);
    ck_assert_uint_eq(e->mmio.is_write, 1);
    ck_assert_uint_eq(e->mmio.data[0], 0x99);
    uint8_t b;
    ck_assert_int_eq(vm_read_memory(vm, 0x100010, &b, 1), 0);
    ck_assert_uint_eq(b, 0x42);
}
END_TEST

START_TEST(split_around_the_pci_hole)
{
    /* 3.5 GiB: 3 GiB low, 512 MiB at 4 GiB (memfd pages are not touched). */
    struct vm *big = vm_create_on(conn, "big", 1, 0xe0000000ull);
    ck_assert_msg(big, "%s", qv_last_error()->message);
    ck_assert_ptr_nonnull(vm_gpa_to_hva(big, 0xbfffffffull));
    ck_assert_ptr_null(vm_gpa_to_hva(big, 0xc0000000ull));
    ck_assert_ptr_nonnull(vm_gpa_to_hva(big, 0x100000000ull));
    ck_assert_ptr_nonnull(vm_gpa_to_hva(big, 0x11fffffffull));
    ck_assert_ptr_null(vm_gpa_to_hva(big, 0x120000000ull));
    ck_assert_int_eq(vm_write_memory(big, 0x11ffffffcull, "tail", 4), 0);
    vm_destroy(big);
}
END_TEST

int main(void)
{
    kvm_test_require();
    Suite *s = suite_create("kvm_memory");
    TCase *tc = tcase_create("memory");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, ram_and_regions);
    tcase_add_test(tc, readonly_region_traps_guest_writes);
    tcase_add_test(tc, split_around_the_pci_hole);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
