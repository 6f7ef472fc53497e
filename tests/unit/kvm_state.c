/* vCPU and in-kernel device state through KVM (drivers/kvm/snapshot/
 * kvm_state.c): what one VM's vCPU is read as, written into a second VM's,
 * reads back the same there. Needs /dev/kvm; exits 77 (skipped) without it. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "drivers/kvm/snapshot/snap_vcpu.h"
#include "lib/util/error.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: %s failed (%s)\n", __FILE__, __LINE__, #cond,                  \
                    qv_last_error()->message ? qv_last_error()->message : strerror(errno));        \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

struct machine {
    int vm, vcpu;
};

static struct machine machine(int sys)
{
    struct machine m;
    m.vm = ioctl(sys, KVM_CREATE_VM, 0);
    CHECK(m.vm >= 0);
    CHECK(ioctl(m.vm, KVM_CREATE_IRQCHIP, 0) == 0);
    struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
    CHECK(ioctl(m.vm, KVM_CREATE_PIT2, &pit) == 0);
    m.vcpu = ioctl(m.vm, KVM_CREATE_VCPU, 0);
    CHECK(m.vcpu >= 0);
    return m;
}

static uint64_t msr(const struct snap_vcpu *v, uint32_t index)
{
    for (uint32_t i = 0; i < v->nmsrs; i++)
        if (v->msrs[i].index == index)
            return v->msrs[i].data;
    return UINT64_MAX;
}

int main(void)
{
    int sys = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (sys < 0) {
        printf("skipped: /dev/kvm: %s\n", strerror(errno));
        return 77;
    }
    struct machine a = machine(sys), b = machine(sys);

    struct kvm_regs regs;
    CHECK(ioctl(a.vcpu, KVM_GET_REGS, &regs) == 0);
    regs.rax = 0x1122334455667788ull;
    regs.rip = 0x1000;
    regs.rflags = 0x2;
    CHECK(ioctl(a.vcpu, KVM_SET_REGS, &regs) == 0);
    struct kvm_sregs sregs;
    CHECK(ioctl(a.vcpu, KVM_GET_SREGS, &sregs) == 0);
    sregs.cs.base = 0x10000;
    sregs.cs.selector = 0x1000;
    CHECK(ioctl(a.vcpu, KVM_SET_SREGS, &sregs) == 0);
    struct kvm_msrs *one = g_malloc0(sizeof *one + sizeof(one->entries[0]));
    one->nmsrs = 1;
    one->entries[0] = (struct kvm_msr_entry){.index = 0x174, .data = 0x23};
    CHECK(ioctl(a.vcpu, KVM_SET_MSRS, one) == 1);
    g_free(one);

    struct snap_vcpu got, again;
    CHECK(kvm_state_vcpu_get(sys, a.vm, a.vcpu, 0, true, &got) == 0);
    CHECK(got.regs.rax == regs.rax);
    CHECK(msr(&got, 0x174) == 0x23);
    /* Through the bytes a snapshot file holds. */
    struct snap_section *s = snap_vcpu_section(0, &got);
    struct snap_vcpu loaded;
    CHECK(snap_vcpu_load(&loaded, s->name, s->version, s->data->data, s->data->len) == 0);
    CHECK(kvm_state_vcpu_set(b.vm, b.vcpu, 0, true, &loaded) == 0);
    CHECK(kvm_state_vcpu_get(sys, b.vm, b.vcpu, 0, true, &again) == 0);
    CHECK(again.regs.rax == regs.rax && again.regs.rip == regs.rip);
    CHECK(again.sregs.cs.base == 0x10000 && again.sregs.cs.selector == 0x1000);
    CHECK(msr(&again, 0x174) == 0x23);
    CHECK(memcmp(&again.lapic, &got.lapic, sizeof got.lapic) == 0);
    CHECK(again.mp_state.mp_state == got.mp_state.mp_state);

    struct snap_vm vm, vm2;
    CHECK(kvm_state_vm_get(a.vm, &vm) == 0);
    vm.chips[2].chip.ioapic.id = 5;
    CHECK(kvm_state_vm_set(b.vm, &vm) == 0);
    CHECK(kvm_state_vm_get(b.vm, &vm2) == 0);
    CHECK(vm2.chips[2].chip.ioapic.id == 5);
    CHECK(memcmp(&vm2.chips[0], &vm.chips[0], sizeof vm.chips[0]) == 0);
    /* The clock goes on from the saved value, not from the host's. */
    CHECK(vm2.clock.clock >= vm.clock.clock);

    snap_section_free(s);
    snap_vcpu_clear(&got);
    snap_vcpu_clear(&again);
    snap_vcpu_clear(&loaded);
    printf("ok\n");
    return 0;
}
