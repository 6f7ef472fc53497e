/* Hello from a guest on the embedded VMM (kvm:///embed): a few bytes of
 * real-mode code print a greeting one port write at a time, and this
 * program plays the device behind the port.
 *
 *   hello_vm
 *
 * Exits 77 (skipped) when this machine has no /dev/kvm or libqv was built
 * without the kvm driver.
 */
#include <qv/qv.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define LOAD_ADDR 0x1000u
#define PORT_CONSOLE 0xe9 /* Bochs/QEMU debug console port */
#define PORT_EXIT 0xf4    /* isa-debug-exit */

/* 16-bit code, loaded at LOAD_ADDR and entered with DS = 0:
 *        mov  si, LOAD_ADDR + msg
 *   next: lodsb
 *        test al, al
 *        jz   done
 *        out  PORT_CONSOLE, al
 *        jmp  next
 *   done: mov  al, 0
 *        out  PORT_EXIT, al
 *        hlt
 *   msg:  "Hello from a qv guest!\n", 0 */
/* clang-format off */
static const unsigned char code[] = {
    0xbe, (LOAD_ADDR + 17) & 0xff, (LOAD_ADDR + 17) >> 8,
    0xac,
    0x84, 0xc0,
    0x74, 0x04,
    0xe6, PORT_CONSOLE,
    0xeb, 0xf7,
    0xb0, 0x00,
    0xe6, PORT_EXIT,
    0xf4,
    'H', 'e', 'l', 'l', 'o', ' ', 'f', 'r', 'o', 'm', ' ', 'a', ' ', 'q', 'v', ' ',
    'g', 'u', 'e', 's', 't', '!', '\n', 0,
};
/* clang-format on */

static int fail(const char *what)
{
    fprintf(stderr, "hello_vm: %s failed: %s\n", what, qv_last_error()->message);
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
        fprintf(stderr, "hello_vm: skipped: libqv was built without the kvm driver\n");
    else if (access("/dev/kvm", R_OK | W_OK) != 0)
        fprintf(stderr, "hello_vm: skipped: /dev/kvm is missing or not accessible\n");
    return found && access("/dev/kvm", R_OK | W_OK) == 0;
}

static int run_guest(struct vcpu *cpu, char *out, size_t cap)
{
    size_t len = 0;
    for (;;) {
        int reason = vcpu_run(cpu);
        if (reason < 0)
            return fail("vcpu_run");
        const struct vcpu_exit_info *ex = vcpu_exit_info(cpu);
        if (reason == VCPU_EXIT_IO && ex->io.direction == VCPU_IO_OUT &&
            ex->io.port == PORT_CONSOLE) {
            putchar(ex->io.data[0]);
            if (len + 1 < cap)
                out[len++] = (char)ex->io.data[0];
            continue;
        }
        if ((reason == VCPU_EXIT_IO && ex->io.port == PORT_EXIT) ||
            (reason == VCPU_EXIT_SHUTDOWN && ex->shutdown.reason == VCPU_SHUTDOWN_DEBUG_EXIT))
            break;
        fprintf(stderr, "hello_vm: unexpected exit %d\n", reason);
        return 1;
    }
    out[len] = 0;
    return 0;
}

int main(void)
{
    if (!kvm_usable())
        return 77;
    struct qv_conn *conn = qv_connect("kvm:///embed");
    if (!conn)
        return fail("connect");
    int rc = 1;
    struct vm *vm = vm_create_on(conn, "hello", 1, 1u << 20);
    if (!vm) {
        fail("vm_create");
        goto out;
    }
    struct vcpu *cpu = vcpu_create(vm, 0);
    if (!cpu || vm_write_memory(vm, LOAD_ADDR, code, sizeof(code)) < 0 ||
        vcpu_reset(cpu, LOAD_ADDR) < 0) {
        fail("setting up the guest");
        goto out;
    }
    char said[64];
    if (run_guest(cpu, said, sizeof(said)) == 0 && strcmp(said, "Hello from a qv guest!\n") == 0)
        rc = 0;
    else if (rc)
        fprintf(stderr, "hello_vm: the guest did not say hello\n");
out:
    vm_destroy(vm);
    qv_close(conn);
    return rc;
}
