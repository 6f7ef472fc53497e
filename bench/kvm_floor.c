/* The KVM floor: the least a process can do to run the hello and ioloop
 * payloads' work on /dev/kvm, so that bench/kvm_bench.sh can set qv's
 * start-up and exit rate against what the kernel itself costs. Static, no
 * glib, no libqv: process start to exit is nothing but exec, the ioctls
 * below and teardown.
 *
 * It creates what a qv hello run creates (VM, TSS and identity-map pages,
 * 64 MiB of RAM, in-kernel irqchip and PIT, one vCPU with its kvm_run
 * mapping), puts the vCPU in 32-bit protected mode by registers (as a
 * multiboot loader leaves it) and runs a stub of a few bytes at 0x1000:
 *   kvm_floor               the stub writes 'H' to COM1 (0x3f8), which is
 *                           written to stdout, then leaves through the
 *                           debug-exit port 0xf4 as the payloads do;
 *   kvm_floor loop N PORT   the stub writes a byte to PORT N times, each an
 *                           exit to this process (as the ioloop payload's
 *                           outb(port, i) loop), then leaves through 0xf4.
 * Exit status 0 when the stub ran as expected; 1 with a message otherwise;
 * 2 for bad arguments; 77 when /dev/kvm is absent. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define RAM_SIZE (64ull << 20)
#define STUB_GPA 0x1000u
#define COM1 0x3f8u
#define EXIT_PORT 0xf4u
/* The same pages qv's kvm driver gives KVM (Intel needs them for real
 * mode; they sit in the PCI hole, outside RAM). */
#define TSS_ADDR 0xfffbd000ul
#define IDENTITY_MAP_ADDR 0xfffbc000ull

/* 32-bit code. Hello: mov dx,0x3f8; mov al,'H'; out dx,al; then the exit. */
static const uint8_t hello_stub[] = {
    0x66, 0xba, 0xf8, 0x03, /* mov dx, 0x3f8 */
    0xb0, 'H',              /* mov al, 'H' */
    0xee,                   /* out dx, al */
    0x66, 0xba, 0xf4, 0x00, /* mov dx, 0xf4 */
    0x31, 0xc0,             /* xor eax, eax */
    0xef,                   /* out dx, eax: leave, status 0 */
    0xf4,                   /* hlt (never reached: 0xf4 ends the run) */
    0xeb, 0xfd,             /* jmp to the hlt */
};

/* Loop: ECX = N and EDX = PORT come in by registers, EAX = 0. Per write
 * what ioloop's compiled loop does: out, increment the value, count down,
 * branch. */
static const uint8_t loop_stub[] = {
    0x85, 0xc9,             /* test ecx, ecx */
    0x74, 0x05,             /* jz done */
    0xee,                   /* top: out dx, al */
    0x40,                   /* inc eax */
    0x49,                   /* dec ecx */
    0x75, 0xfb,             /* jnz top */
    0x66, 0xba, 0xf4, 0x00, /* done: mov dx, 0xf4 */
    0x31, 0xc0,             /* xor eax, eax */
    0xef,                   /* out dx, eax */
    0xf4,                   /* hlt */
    0xeb, 0xfd,             /* jmp to the hlt */
};

static int fail(const char *what)
{
    fprintf(stderr, "kvm_floor: %s: %s\n", what, strerror(errno));
    return 1;
}

static int parse_u32(const char *s, uint32_t max, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end || s[0] == '-' || v > max)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* A flat 4 GiB segment, as the multiboot specification leaves CS and the
 * data segments. */
static struct kvm_segment flat(uint16_t selector, uint8_t type)
{
    struct kvm_segment s = {.base = 0,
                            .limit = 0xffffffff,
                            .selector = selector,
                            .type = type,
                            .present = 1,
                            .dpl = 0,
                            .db = 1,
                            .s = 1,
                            .l = 0,
                            .g = 1};
    return s;
}

/* 0, or the exit status 1 after a message. */
static int setup_vcpu(int vcpu, int loop, uint32_t n, uint32_t port)
{
    struct kvm_sregs sregs;
    if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
        return fail("KVM_GET_SREGS");
    sregs.cs = flat(0x08, 0xb);
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = flat(0x10, 0x3);
    sregs.cr0 = 0x11; /* PE, ET: protected mode, no paging */
    if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
        return fail("KVM_SET_SREGS");
    struct kvm_regs regs = {.rip = STUB_GPA, .rflags = 0x2};
    if (loop) {
        regs.rcx = n;
        regs.rdx = port;
    }
    if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
        return fail("KVM_SET_REGS");
    return 0;
}

/* Runs the vCPU until the stub writes EXIT_PORT. Returns the number of
 * writes to port, or -1 after a message. echo: write each byte to stdout
 * (hello's COM1; the loop only counts, as qv does for a port nothing
 * claims). */
static long long run(int vcpu, struct kvm_run *r, size_t run_size, uint32_t port, int echo)
{
    long long writes = 0;
    for (;;) {
        if (ioctl(vcpu, KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            fail("KVM_RUN");
            return -1;
        }
        if (r->exit_reason != KVM_EXIT_IO) {
            fprintf(stderr, "kvm_floor: unexpected exit reason %u\n", r->exit_reason);
            return -1;
        }
        /* The data offset comes from the kernel, but a bad one must not
         * take this process past its mapping. */
        if (r->io.direction != KVM_EXIT_IO_OUT || r->io.count != 1 || r->io.size > 4 ||
            r->io.data_offset > run_size - r->io.size) {
            fprintf(stderr, "kvm_floor: unexpected I/O exit (port 0x%x, dir %u, size %u)\n",
                    r->io.port, r->io.direction, r->io.size);
            return -1;
        }
        const uint8_t *data = (const uint8_t *)r + r->io.data_offset;
        if (r->io.port == EXIT_PORT)
            return writes;
        if (r->io.port != port) {
            fprintf(stderr, "kvm_floor: write to unexpected port 0x%x\n", r->io.port);
            return -1;
        }
        writes++;
        if (echo && write(STDOUT_FILENO, data, 1) != 1) {
            fail("writing the guest's byte to stdout");
            return -1;
        }
    }
}

int main(int argc, char **argv)
{
    int loop = 0;
    uint32_t n = 1, port = COM1;
    if (argc == 4 && strcmp(argv[1], "loop") == 0) {
        loop = 1;
        if (parse_u32(argv[2], UINT32_MAX, &n) < 0) {
            fprintf(stderr, "kvm_floor: count '%s' is not a number from 0 to %u\n", argv[2],
                    UINT32_MAX);
            return 2;
        }
        if (parse_u32(argv[3], 0xffff, &port) < 0 || port == EXIT_PORT) {
            fprintf(stderr,
                    "kvm_floor: port '%s' is not a number from 0 to 0xffff other than "
                    "0xf4 (the exit port)\n",
                    argv[3]);
            return 2;
        }
    } else if (argc != 1) {
        fprintf(stderr, "usage: kvm_floor            (print one byte from a guest, exit)\n"
                        "       kvm_floor loop N PORT (N guest writes to PORT, exit)\n");
        return 2;
    }

    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) {
        if (errno == ENOENT || errno == ENXIO || errno == ENODEV) {
            fprintf(stderr, "kvm_floor: /dev/kvm is absent\n");
            return 77;
        }
        return fail("/dev/kvm");
    }
    if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
        fprintf(stderr, "kvm_floor: /dev/kvm speaks an unknown API version\n");
        return 1;
    }
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0)
        return fail("KVM_CREATE_VM");
    if (ioctl(vm, KVM_SET_TSS_ADDR, TSS_ADDR) < 0)
        return fail("KVM_SET_TSS_ADDR");
    uint64_t idmap = IDENTITY_MAP_ADDR;
    if (ioctl(vm, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
        return fail("KVM_SET_IDENTITY_MAP_ADDR");

    /* RAM before the irqchip, as qv does: with an in-kernel irqchip every
     * memslot change waits for an SRCU grace period. */
    uint8_t *ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (ram == MAP_FAILED)
        return fail("mapping 64 MiB of guest RAM");
    struct kvm_userspace_memory_region region = {
        .slot = 0, .guest_phys_addr = 0, .memory_size = RAM_SIZE, .userspace_addr = (uintptr_t)ram};
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
        return fail("KVM_SET_USER_MEMORY_REGION");
    if (loop)
        memcpy(ram + STUB_GPA, loop_stub, sizeof(loop_stub));
    else
        memcpy(ram + STUB_GPA, hello_stub, sizeof(hello_stub));

    if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0)
        return fail("KVM_CREATE_IRQCHIP");
    struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
    if (ioctl(vm, KVM_CREATE_PIT2, &pit) < 0)
        return fail("KVM_CREATE_PIT2");

    int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    if (vcpu < 0)
        return fail("KVM_CREATE_VCPU");
    int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size < (int)sizeof(struct kvm_run))
        return fail("KVM_GET_VCPU_MMAP_SIZE");
    struct kvm_run *r = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (r == MAP_FAILED)
        return fail("mapping kvm_run");
    if (setup_vcpu(vcpu, loop, n, port) != 0)
        return 1;

    long long writes = run(vcpu, r, (size_t)run_size, port, !loop);
    if (writes < 0)
        return 1;
    if (writes != (long long)n) {
        fprintf(stderr, "kvm_floor: the guest wrote port 0x%x %lld times, expected %" PRIu32 "\n",
                port, writes, n);
        return 1;
    }

    /* Teardown is part of what is measured: qv's run closes its VM too. */
    munmap(r, (size_t)run_size);
    close(vcpu);
    close(vm);
    munmap(ram, RAM_SIZE);
    close(kvm);
    if (loop)
        printf("kvm_floor: %" PRIu32 " port writes to 0x%" PRIx32 "\n", n, port);
    else if (write(STDOUT_FILENO, "\n", 1) != 1) /* the line the guest's 'H' starts */
        return fail("writing to stdout");
    return 0;
}
