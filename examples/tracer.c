/* A register-level tracer on the embedded VMM: single-step a small guest
 * and print where each instruction was (CS:IP, linear RIP) and what it did
 * to RAX.
 *
 *   tracer [MAX_STEPS]
 *
 * Exits 77 (skipped) when this machine has no /dev/kvm or libqv was built
 * without the kvm driver.
 */
#include <inttypes.h>
#include <qv/qv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOAD_ADDR 0x1000u
#define PORT_EXIT 0xf4

/* 16-bit code: sum 3 + 2 + 1 into AX, then report it on isa-debug-exit.
 *   xor ax, ax ; mov cx, 3 ; again: add ax, cx ; loop again ; out 0xf4, al ; hlt */
/* clang-format off */
static const unsigned char code[] = {
    0x31, 0xc0,       /* xor  ax, ax */
    0xb9, 0x03, 0x00, /* mov  cx, 3 */
    0x01, 0xc8,       /* add  ax, cx */
    0xe2, 0xfc,       /* loop -4 */
    0xe6, PORT_EXIT,  /* out  0xf4, al */
    0xf4,             /* hlt */
};
/* clang-format on */

static int fail(const char *what)
{
    fprintf(stderr, "tracer: %s failed: %s\n", what, qv_last_error()->message);
    return 1;
}

static int kvm_usable(void)
{
    char **drivers;
    int found = 0;
    if (qv_list_drivers(&drivers, NULL) == 0) {
        for (char **d = drivers; *d; d++)
            found |= strcmp(*d, "kvm") == 0;
        qv_strv_free(drivers);
    }
    if (!found)
        fprintf(stderr, "tracer: skipped: libqv was built without the kvm driver\n");
    else if (access("/dev/kvm", R_OK | W_OK) != 0)
        fprintf(stderr, "tracer: skipped: /dev/kvm is missing or not accessible\n");
    return found && access("/dev/kvm", R_OK | W_OK) == 0;
}

static int trace(struct vcpu *cpu, int max_steps)
{
    for (int n = 1; n <= max_steps; n++) {
        struct vcpu_regs r;
        struct vcpu_sregs s;
        if (vcpu_get_regs(cpu, &r) < 0 || vcpu_get_sregs(cpu, &s) < 0)
            return fail("reading registers");
        uint64_t linear = s.cs.base + r.rip;
        int reason = vcpu_step(cpu);
        if (reason < 0)
            return fail("vcpu_step");
        uint64_t rax = vcpu_get_reg(cpu, VCPU_REG_RAX);
        printf("step %2d: rip=0x%04" PRIx64 " (%04x:%04" PRIx64 ", linear 0x%05" PRIx64
               ")  rax after=0x%04" PRIx64 "\n",
               n, r.rip, s.cs.selector, r.rip & 0xffff, linear, rax);
        const struct vcpu_exit_info *ex = vcpu_exit_info(cpu);
        if ((reason == VCPU_EXIT_IO && ex->io.port == PORT_EXIT) ||
            (reason == VCPU_EXIT_SHUTDOWN && ex->shutdown.reason == VCPU_SHUTDOWN_DEBUG_EXIT)) {
            printf("guest reported %" PRIu64 " after %d instructions\n", rax & 0xff, n);
            return (rax & 0xff) == 6 ? 0 : 1;
        }
        if (reason != VCPU_EXIT_DEBUG) {
            fprintf(stderr, "tracer: unexpected exit %d at step %d\n", reason, n);
            return 1;
        }
    }
    fprintf(stderr, "tracer: the guest did not finish in %d steps\n", max_steps);
    return 1;
}

int main(int argc, char **argv)
{
    int max_steps = argc > 1 ? atoi(argv[1]) : 100;
    if (!kvm_usable())
        return 77;
    struct qv_conn *conn = qv_connect("kvm:///embed");
    if (!conn)
        return fail("connect");
    int rc = 1;
    struct vm *vm = vm_create_on(conn, "tracer", 1, 1u << 20);
    struct vcpu *cpu = vm ? vcpu_create(vm, 0) : NULL;
    if (!cpu || vm_write_memory(vm, LOAD_ADDR, code, sizeof(code)) < 0 ||
        vcpu_reset(cpu, LOAD_ADDR) < 0)
        rc = fail("setting up the guest");
    else
        rc = trace(cpu, max_steps);
    vm_destroy(vm);
    qv_close(conn);
    return rc;
}
