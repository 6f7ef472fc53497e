/* vCPU and in-kernel device state as snapshot sections
 * (drivers/kvm/snapshot/snap_vcpu.h): what is saved comes back bit for bit,
 * and a damaged section is refused naming the section and the field, at
 * every length it could be cut to. No /dev/kvm needed; kvm_state.c (the
 * ioctls) is covered by kvm_state where the host has KVM. */
#include <check.h>
#include <string.h>

#include "drivers/kvm/snapshot/snap_vcpu.h"
#include "lib/util/error.h"
#include "qv/error.h"

static void pattern(void *p, size_t len, uint8_t seed)
{
    uint8_t *b = p;
    for (size_t i = 0; i < len; i++)
        b[i] = (uint8_t)(seed + i * 7);
}

static void sample(struct snap_vcpu *v, bool xsave)
{
    memset(v, 0, sizeof *v);
    pattern(&v->regs, sizeof v->regs, 1);
    pattern(&v->sregs, sizeof v->sregs, 2);
    v->has_xsave = xsave;
    if (xsave) {
        v->xsave_len = sizeof(struct kvm_xsave) + 8192;
        v->xsave = g_malloc(v->xsave_len);
        pattern(v->xsave, v->xsave_len, 3);
    } else {
        pattern(&v->fpu, sizeof v->fpu, 4);
    }
    v->has_xcrs = true;
    v->xcrs.nr_xcrs = 1;
    v->xcrs.xcrs[0].value = 7;
    v->nmsrs = 3;
    v->msrs[0] = (struct kvm_msr_entry){.index = 0x10, .data = 123456789};
    v->msrs[1] = (struct kvm_msr_entry){.index = 0x174, .data = 0x10};
    v->msrs[2] = (struct kvm_msr_entry){.index = 0xc0000080, .data = 0xd01};
    pattern(&v->lapic, sizeof v->lapic, 5);
    v->mp_state.mp_state = KVM_MP_STATE_HALTED;
    pattern(&v->events, sizeof v->events, 6);
    pattern(&v->debugregs, sizeof v->debugregs, 7);
    v->tsc_khz = 2400000;
}

static void assert_same(const struct snap_vcpu *a, const struct snap_vcpu *b)
{
    ck_assert_int_eq(memcmp(&a->regs, &b->regs, sizeof a->regs), 0);
    ck_assert_int_eq(memcmp(&a->sregs, &b->sregs, sizeof a->sregs), 0);
    ck_assert_int_eq(a->has_xsave, b->has_xsave);
    ck_assert_uint_eq(a->xsave_len, b->xsave_len);
    if (a->has_xsave)
        ck_assert_int_eq(memcmp(a->xsave, b->xsave, a->xsave_len), 0);
    else
        ck_assert_int_eq(memcmp(&a->fpu, &b->fpu, sizeof a->fpu), 0);
    ck_assert_int_eq(memcmp(&a->xcrs, &b->xcrs, sizeof a->xcrs), 0);
    ck_assert_uint_eq(a->nmsrs, b->nmsrs);
    ck_assert_int_eq(memcmp(a->msrs, b->msrs, a->nmsrs * sizeof a->msrs[0]), 0);
    ck_assert_int_eq(memcmp(&a->lapic, &b->lapic, sizeof a->lapic), 0);
    ck_assert_uint_eq(a->mp_state.mp_state, b->mp_state.mp_state);
    ck_assert_int_eq(memcmp(&a->events, &b->events, sizeof a->events), 0);
    ck_assert_int_eq(memcmp(&a->debugregs, &b->debugregs, sizeof a->debugregs), 0);
    ck_assert_uint_eq(a->tsc_khz, b->tsc_khz);
}

START_TEST(vcpu_round_trip)
{
    for (int x = 0; x < 2; x++) {
        struct snap_vcpu v, back;
        sample(&v, x == 1);
        struct snap_section *s = snap_vcpu_section(3, &v);
        ck_assert_str_eq(s->name, "vcpu3");
        ck_assert_uint_eq(s->version, SNAP_VCPU_VERSION);
        ck_assert_int_eq(snap_vcpu_load(&back, s->name, s->version, s->data->data, s->data->len),
                         0);
        assert_same(&v, &back);
        snap_vcpu_clear(&v);
        snap_vcpu_clear(&back);
        snap_section_free(s);
    }
}
END_TEST

/* Cut anywhere, the section is refused and nothing is left allocated. */
START_TEST(vcpu_truncated_everywhere)
{
    struct snap_vcpu v, back;
    sample(&v, true);
    struct snap_section *s = snap_vcpu_section(0, &v);
    for (guint len = 0; len < s->data->len; len++) {
        ck_assert_int_eq(snap_vcpu_load(&back, "vcpu0", 1, s->data->data, len), QV_ERR_PROTOCOL);
        ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "vcpu0"));
        ck_assert_ptr_null(back.xsave);
    }
    snap_vcpu_clear(&v);
    snap_section_free(s);
}
END_TEST

static int load_damaged(void (*damage)(struct snap_vcpu *), const char *expect)
{
    struct snap_vcpu v, back;
    sample(&v, true);
    damage(&v);
    struct snap_section *s = snap_vcpu_section(0, &v);
    int rc = snap_vcpu_load(&back, s->name, s->version, s->data->data, s->data->len);
    if (rc < 0)
        ck_assert_msg(strstr(qv_last_error()->message, expect), "'%s' lacks '%s'",
                      qv_last_error()->message, expect);
    snap_vcpu_clear(&v);
    snap_vcpu_clear(&back);
    snap_section_free(s);
    return rc;
}

static void bad_mp_state(struct snap_vcpu *v)
{
    v->mp_state.mp_state = 99;
}

static void bad_xcrs(struct snap_vcpu *v)
{
    v->xcrs.nr_xcrs = KVM_MAX_XCRS + 1;
}

static void small_xsave(struct snap_vcpu *v)
{
    v->xsave_len = 100;
}

START_TEST(vcpu_values_checked)
{
    ck_assert_int_eq(load_damaged(bad_mp_state, "mp_state 99"), QV_ERR_PROTOCOL);
    ck_assert_int_eq(load_damaged(bad_xcrs, "XCRs"), QV_ERR_PROTOCOL);
    ck_assert_int_eq(load_damaged(small_xsave, "'xsave' is 100 bytes"), QV_ERR_PROTOCOL);
}
END_TEST

START_TEST(vcpu_counts_and_versions_checked)
{
    struct snap_vcpu v, back;
    sample(&v, false);
    struct snap_section *s = snap_vcpu_section(0, &v);
    ck_assert_int_eq(snap_vcpu_load(&back, "vcpu0", 2, s->data->data, s->data->len),
                     QV_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "version 2"));

    /* nmsrs sits after regs, sregs, the FPU and the XCRs: claim more than
     * a snapshot may hold. */
    size_t at =
        4 + sizeof v.regs + 4 + sizeof v.sregs + 1 + 4 + sizeof v.fpu + 1 + 4 + sizeof v.xcrs;
    uint32_t huge = SNAP_VCPU_MSRS_MAX + 1;
    memcpy(s->data->data + at, &huge, 4);
    ck_assert_int_eq(snap_vcpu_load(&back, "vcpu0", 1, s->data->data, s->data->len),
                     QV_ERR_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "MSRs"));

    /* A struct of another size (another host's headers) is named. */
    snap_section_free(s);
    s = snap_vcpu_section(0, &v);
    uint32_t regs_len = sizeof v.regs - 8;
    memcpy(s->data->data, &regs_len, 4);
    ck_assert_int_eq(snap_vcpu_load(&back, "vcpu0", 1, s->data->data, s->data->len),
                     QV_ERR_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "'regs'"));
    snap_vcpu_clear(&v);
    snap_section_free(s);
}
END_TEST

START_TEST(vm_round_trip_and_chip_ids)
{
    struct snap_vm vm, back;
    memset(&vm, 0, sizeof vm);
    for (uint32_t i = 0; i < 3; i++) {
        pattern(&vm.chips[i].chip, sizeof vm.chips[i].chip, (uint8_t)i);
        vm.chips[i].chip_id = i;
    }
    vm.has_pit = true;
    pattern(&vm.pit, sizeof vm.pit, 9);
    vm.clock.clock = 987654321;
    struct snap_section *s = snap_vm_section(&vm);
    ck_assert_str_eq(s->name, "kvm-vm");
    ck_assert_int_eq(snap_vm_load(&back, s->version, s->data->data, s->data->len), 0);
    ck_assert_int_eq(memcmp(&vm, &back, sizeof vm), 0);
    snap_section_free(s);

    /* The IOAPIC's bytes must never land in a PIC. */
    vm.chips[0].chip_id = 2;
    s = snap_vm_section(&vm);
    ck_assert_int_eq(snap_vm_load(&back, s->version, s->data->data, s->data->len), QV_ERR_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "pic master"));
    for (guint len = 0; len < s->data->len; len++)
        ck_assert_int_eq(snap_vm_load(&back, 1, s->data->data, len), QV_ERR_PROTOCOL);
    snap_section_free(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kvm_snap_vcpu");
    TCase *tc = tcase_create("snap_vcpu");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, vcpu_round_trip);
    tcase_add_test(tc, vcpu_truncated_everywhere);
    tcase_add_test(tc, vcpu_values_checked);
    tcase_add_test(tc, vcpu_counts_and_versions_checked);
    tcase_add_test(tc, vm_round_trip_and_chip_ids);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
