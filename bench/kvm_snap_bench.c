/* Issue 11's snapshot benchmarks on a real KVM (kvm:///embed), in one run,
 * medians of R runs each; exit 77 without /dev/kvm:
 *  (a) snapshot restore time, snapshot_restore() call to the guest's first
 *      instruction, at 64 MiB, 256 MiB and 1 GiB, on a bare vm_create VM
 *      (one RAM region, one vCPU in flat 32-bit protected mode, RIP at an
 *      `out`, so vcpu_run returns on the first instruction); against the
 *      floor: raw KVM ioctls creating the same objects (VM, one memory
 *      region mmap'd MAP_PRIVATE from a file of that size, one vCPU, sregs,
 *      regs, KVM_RUN to the exit);
 *  (b) snapshot create time at the same sizes against copying a file of
 *      that size in the same directory (copy_file_range, and /bin/cp);
 *  (c) incremental snapshot size after the guest (a stub loop) writes
 *      N = 1, 100 and 10,000 pages, against N*4096 + state;
 *  (d) vm_clone time of a stopped (defined) VM with a 64 MiB and a 4 GiB
 *      sparse raw disk.
 * The snapshot store (the connection's root=) and the copied files share
 * one directory.
 * Usage: kvm_snap_bench [R] [DIR] [KERNEL]
 *   R runs per figure (default 5); DIR where the files go (default $TMPDIR
 *   or /tmp); KERNEL any existing file for (d)'s definition (default
 *   tests/guests/count.elf, as run from the build directory). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glib.h>
#include <linux/fs.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <qv/qv.h>
#include <qv/vcpu.h>

#define MiB (1024ull * 1024)
#define PG 4096ull
#define STUB_GPA 0x1000ull /* the guest's code page */
#define OUT_GPA 0x100aull  /* the `out` in it */
#define OUT_PORT 0x10
#define TOUCH_GPA 0x100000ull /* where (c)'s loop starts writing */

static int runs;
static const char *dir;
static char *uri;

/* Flat 32-bit code: (c)'s loop writes one byte in each of ECX pages from
 * EDI on, then `out 0x10, al` returns to the caller; (a) starts at the out.
 *   1000: mov [edi], al; add edi, 4096; loop 1000; out 0x10, al; jmp 100a */
static const uint8_t stub[] = {0x88, 0x07, 0x81, 0xc7, 0x00,     0x10, 0x00,
                               0x00, 0xe2, 0xf6, 0xe6, OUT_PORT, 0xeb, 0xfc};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *what)
{
    fprintf(stderr, "kvm_snap_bench: %s: %s\n", what, qv_last_error()->message);
    exit(1);
}

static void die_errno(const char *what)
{
    fprintf(stderr, "kvm_snap_bench: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median, min and max of v[0..n) (sorts v). */
struct stat3 {
    double med, min, max;
};
static struct stat3 stats(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    double med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    return (struct stat3){med, v[0], v[n - 1]};
}

static const char *verdict(double ratio, double target)
{
    return ratio <= target ? "meets" : "MISSES";
}

static const char *size_name(uint64_t s)
{
    return s == 64 * MiB ? "64 MiB" : s == 256 * MiB ? "256 MiB" : s == 1024 * MiB ? "1 GiB" : "?";
}

/* ---- The bare VM ---- */

static void flat_segment(struct vcpu_segment *s, uint16_t sel, uint8_t type)
{
    *s = (struct vcpu_segment){.base = 0,
                               .limit = 0xffffffff,
                               .selector = sel,
                               .type = type,
                               .present = 1,
                               .db = 1,
                               .s = 1,
                               .g = 1};
}

static void flat_sregs(struct vcpu_sregs *sr)
{
    flat_segment(&sr->cs, 0x08, 0xb);
    flat_segment(&sr->ds, 0x10, 0x3);
    sr->es = sr->fs = sr->gs = sr->ss = sr->ds;
    sr->cr0 |= 1; /* PE, no paging: linear = physical */
}

/* A vm_create VM of size bytes, every page holding data (so a full memory
 * file is full-size), the stub at STUB_GPA and RIP at its `out`. */
static struct vm *bare_vm(struct qv_conn *c, const char *name, uint64_t size, struct vcpu **vp)
{
    struct vm *vm = vm_create_on(c, name, 1, size);
    if (!vm)
        die("vm_create_on");
    struct vcpu *v = vcpu_create(vm, 0);
    if (!v)
        die("vcpu_create");
    struct vcpu_sregs sr;
    if (vcpu_get_sregs(v, &sr) < 0)
        die("vcpu_get_sregs");
    flat_sregs(&sr);
    if (vcpu_set_sregs(v, &sr) < 0)
        die("vcpu_set_sregs");
    g_autofree uint8_t *buf = g_malloc(MiB);
    for (uint64_t off = 0; off < size; off += MiB) {
        for (size_t i = 0; i < MiB; i += 8)
            *(uint64_t *)(buf + i) = (off + i) * 0x9e3779b97f4a7c15ull | 1;
        if (vm_write_memory(vm, off, buf, MiB) < 0)
            die("vm_write_memory");
    }
    if (vm_write_memory(vm, STUB_GPA, stub, sizeof(stub)) < 0)
        die("vm_write_memory (stub)");
    struct vcpu_regs r = {.rip = OUT_GPA, .rflags = 2};
    if (vcpu_set_regs(v, &r) < 0)
        die("vcpu_set_regs");
    *vp = v;
    return vm;
}

/* Run until the stub's out; anything else is a failure of the bench. */
static void run_to_out(struct vcpu *v)
{
    int rc = vcpu_run(v);
    const struct vcpu_exit_info *e = vcpu_exit_info(v);
    if (rc != VCPU_EXIT_IO || e->io.port != OUT_PORT) {
        fprintf(stderr, "kvm_snap_bench: vcpu_run returned %d (port 0x%x), not the stub's out\n",
                rc, rc == VCPU_EXIT_IO ? e->io.port : 0);
        exit(1);
    }
}

/* ---- The floor: raw KVM ioctls ---- */

static int kvm_fd = -1;
static size_t run_size;

static void kvm_sflat(struct kvm_segment *s, uint16_t sel, uint8_t type)
{
    *s = (struct kvm_segment){.base = 0,
                              .limit = 0xffffffff,
                              .selector = sel,
                              .type = type,
                              .present = 1,
                              .db = 1,
                              .s = 1,
                              .g = 1};
}

/* KVM_CREATE_VM, one region MAP_PRIVATE from path, one vCPU, sregs and
 * regs, KVM_RUN to the first exit; returns ms (teardown not counted). */
static double floor_once(const char *path, uint64_t size)
{
    double t0 = now_ms();
    int vmfd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
    if (vmfd < 0)
        die_errno("KVM_CREATE_VM");
    if (ioctl(vmfd, KVM_SET_TSS_ADDR, 0xfffbd000ul) < 0)
        die_errno("KVM_SET_TSS_ADDR");
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        die_errno(path);
    void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (mem == MAP_FAILED)
        die_errno("mmap");
    struct kvm_userspace_memory_region reg = {
        .slot = 0, .guest_phys_addr = 0, .memory_size = size, .userspace_addr = (uintptr_t)mem};
    if (ioctl(vmfd, KVM_SET_USER_MEMORY_REGION, &reg) < 0)
        die_errno("KVM_SET_USER_MEMORY_REGION");
    int cpu = ioctl(vmfd, KVM_CREATE_VCPU, 0);
    if (cpu < 0)
        die_errno("KVM_CREATE_VCPU");
    struct kvm_run *run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, cpu, 0);
    if (run == MAP_FAILED)
        die_errno("mmap kvm_run");
    struct kvm_sregs sr;
    if (ioctl(cpu, KVM_GET_SREGS, &sr) < 0)
        die_errno("KVM_GET_SREGS");
    kvm_sflat(&sr.cs, 0x08, 0xb);
    kvm_sflat(&sr.ds, 0x10, 0x3);
    sr.es = sr.fs = sr.gs = sr.ss = sr.ds;
    sr.cr0 |= 1;
    if (ioctl(cpu, KVM_SET_SREGS, &sr) < 0)
        die_errno("KVM_SET_SREGS");
    struct kvm_regs r = {.rip = OUT_GPA, .rflags = 2};
    if (ioctl(cpu, KVM_SET_REGS, &r) < 0)
        die_errno("KVM_SET_REGS");
    if (ioctl(cpu, KVM_RUN, 0) < 0)
        die_errno("KVM_RUN");
    double ms = now_ms() - t0;
    if (run->exit_reason != KVM_EXIT_IO || run->io.port != OUT_PORT) {
        fprintf(stderr, "kvm_snap_bench: floor: exit %u, not the stub's out\n", run->exit_reason);
        exit(1);
    }
    munmap(run, run_size);
    close(cpu);
    munmap(mem, size);
    close(fd);
    close(vmfd);
    return ms;
}

/* ---- Files ---- */

/* A file of size bytes, every page data, the stub at STUB_GPA. */
static void make_file(const char *path, uint64_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        die_errno(path);
    g_autofree uint8_t *buf = g_malloc(MiB);
    for (uint64_t off = 0; off < size; off += MiB) {
        for (size_t i = 0; i < MiB; i += 8)
            *(uint64_t *)(buf + i) = (off + i) * 0x9e3779b97f4a7c15ull | 1;
        if (off == 0)
            memcpy(buf + STUB_GPA, stub, sizeof(stub));
        if (write(fd, buf, MiB) != (ssize_t)MiB)
            die_errno("write");
    }
    if (fsync(fd) < 0)
        die_errno("fsync");
    close(fd);
}

/* copy_file_range src to a new dst, fsync'd as the snapshot's files are. */
static double copy_cfr(const char *src, const char *dst, uint64_t size)
{
    double t0 = now_ms();
    int in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (in < 0 || out < 0)
        die_errno("open for copy");
    for (uint64_t left = size; left > 0;) {
        ssize_t n = copy_file_range(in, NULL, out, NULL, left, 0);
        if (n <= 0)
            die_errno("copy_file_range");
        left -= (uint64_t)n;
    }
    if (fsync(out) < 0)
        die_errno("fsync");
    close(in);
    close(out);
    double ms = now_ms() - t0;
    unlink(dst);
    return ms;
}

static double copy_bin_cp(const char *src, const char *dst)
{
    const char *argv[] = {"/bin/cp", src, dst, NULL};
    g_autoptr(GError) err = NULL;
    gint status = 0;
    double t0 = now_ms();
    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL, &status,
                      &err) ||
        !g_spawn_check_wait_status(status, &err)) {
        fprintf(stderr, "kvm_snap_bench: /bin/cp: %s\n", err->message);
        exit(1);
    }
    double ms = now_ms() - t0;
    unlink(dst);
    return ms;
}

/* Bytes allocated to the regular files in path (st_blocks * 512); *mem
 * gets those of files whose name starts with "mem". Prints each file when
 * list is set. */
static uint64_t dir_blocks(const char *path, uint64_t *mem, bool list)
{
    DIR *d = opendir(path);
    if (!d)
        die_errno(path);
    uint64_t total = 0;
    *mem = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            continue;
        uint64_t b = (uint64_t)st.st_blocks * 512;
        total += b;
        if (strncmp(e->d_name, "mem", 3) == 0)
            *mem += b;
        if (list)
            printf("      %-20s size %10llu  on disk %10llu\n", e->d_name,
                   (unsigned long long)st.st_size, (unsigned long long)b);
    }
    closedir(d);
    return total;
}

static char *snap_path(const char *vm, const char *snap)
{
    return g_build_filename(dir, "state", "kvm-embed", vm, "snapshots", snap, NULL);
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *f)
{
    (void)st;
    (void)f;
    return type == FTW_DP ? rmdir(path) : unlink(path);
}

/* ---- (a) and (b) ---- */

struct size_result {
    double restore, fresh, floor, create, cfr, cp;
};

static void bench_size(uint64_t size, struct size_result *out)
{
    const char *sn = size_name(size);
    g_autofree char *name = g_strdup_printf("rs%llu", (unsigned long long)(size / MiB));
    struct qv_conn *c = qv_connect(uri);
    if (!c)
        die("qv_connect");
    struct vcpu *v;
    double t0 = now_ms();
    struct vm *vm = bare_vm(c, name, size, &v);
    printf("\n-- %s: VM made and every page written in %.0f ms\n", sn, now_ms() - t0);
    double *t = g_new(double, runs), *t2 = g_new(double, runs);

    /* (b) create: full snapshots, each deleted after (untimed). */
    for (int i = 0; i < runs; i++) {
        g_autofree char *s = g_strdup_printf("c%d", i);
        t0 = now_ms();
        if (snapshot_create(vm, s, 0) < 0)
            die("snapshot_create");
        t[i] = now_ms() - t0;
        if (i == 0) {
            g_autofree char *p = snap_path(name, s);
            uint64_t mem;
            uint64_t all = dir_blocks(p, &mem, false);
            printf("   full snapshot: %llu bytes on disk (memory files %llu)\n",
                   (unsigned long long)all, (unsigned long long)mem);
        }
        if (snapshot_delete(vm, s) < 0)
            die("snapshot_delete");
    }
    struct stat3 cr = stats(t, runs);
    g_autofree char *src = g_build_filename(dir, "cp-src", NULL);
    g_autofree char *dst = g_build_filename(dir, "cp-dst", NULL);
    make_file(src, size);
    for (int i = 0; i < runs; i++)
        t[i] = copy_cfr(src, dst, size);
    struct stat3 cf = stats(t, runs);
    for (int i = 0; i < runs; i++)
        t[i] = copy_bin_cp(src, dst);
    struct stat3 cp = stats(t, runs);
    printf("   (b) snapshot_create       median %9.2f ms  (min %.2f, max %.2f)\n", cr.med, cr.min,
           cr.max);
    printf("   (b) copy_file_range+fsync median %9.2f ms  (min %.2f, max %.2f)\n", cf.med, cf.min,
           cf.max);
    printf("   (b) /bin/cp (spawned)     median %9.2f ms  (min %.2f, max %.2f)\n", cp.med, cp.min,
           cp.max);

    /* (a) restore in the same VM: the guest's first instruction is the out. */
    if (snapshot_create(vm, "base", 0) < 0)
        die("snapshot_create base");
    for (int i = 0; i < runs; i++) {
        t0 = now_ms();
        if (snapshot_restore(vm, "base") < 0)
            die("snapshot_restore");
        double t1 = now_ms();
        run_to_out(v);
        t[i] = now_ms() - t0;
        t2[i] = t1 - t0;
    }
    printf("   (a) restore, same VM, each run (ms, total/call):");
    for (int i = 0; i < runs; i++)
        printf(" %.1f/%.1f", t[i], t2[i]);
    printf("\n");
    struct stat3 rs = stats(t, runs), rcall = stats(t2, runs);
    for (int i = 0; i < runs; i++)
        t[i] = floor_once(src, size);
    struct stat3 fl = stats(t, runs);

    /* (a') restore into the VM made anew on a new connection, as a fresh
     * process would: vm_create_on + vcpu_create + snapshot_restore + run. */
    vm_free(vm);
    qv_close(c);
    struct stat3 fr = {-1, -1, -1};
    bool fresh_ok = true;
    for (int i = 0; i < runs && fresh_ok; i++) {
        c = qv_connect(uri);
        if (!c)
            die("qv_connect");
        t0 = now_ms();
        vm = vm_create_on(c, name, 1, size);
        double t1 = now_ms();
        v = vm ? vcpu_create(vm, 0) : NULL;
        double t2v = now_ms();
        if (!v || snapshot_restore(vm, "base") < 0) {
            printf("   (a') fresh VM: %s\n", qv_last_error()->message);
            fresh_ok = false;
        } else {
            double t3 = now_ms();
            run_to_out(v);
            t[i] = now_ms() - t0;
            printf("   (a') new VM run %d: %.1f ms (vm_create_on %.1f, vcpu_create %.1f, "
                   "snapshot_restore %.1f, vcpu_run %.1f)\n",
                   i, t[i], t1 - t0, t2v - t1, t3 - t2v, t0 + t[i] - t3);
        }
        if (i < runs - 1 || !fresh_ok) {
            vm_free(vm);
            qv_close(c);
        }
    }
    if (fresh_ok)
        fr = stats(t, runs);
    else {
        c = qv_connect(uri);
        vm = vm_lookup(c, name);
        if (!vm)
            vm = vm_create_on(c, name, 1, size);
    }
    printf("   (a) restore, same VM      median %9.3f ms  (min %.3f, max %.3f; "
           "snapshot_restore call alone %.3f)\n",
           rs.med, rs.min, rs.max, rcall.med);
    if (fresh_ok)
        printf("   (a') restore, new VM      median %9.3f ms  (min %.3f, max %.3f; "
               "vm_create_on + vcpu_create + restore + run)\n",
               fr.med, fr.min, fr.max);
    printf("   (a) floor, raw ioctls     median %9.3f ms  (min %.3f, max %.3f)\n", fl.med, fl.min,
           fl.max);
    vm_destroy(vm);
    qv_close(c);
    unlink(src);
    g_free(t);
    g_free(t2);
    *out = (struct size_result){rs.med, fr.med, fl.med, cr.med, cf.med, cp.med};
}

/* ---- (c) ---- */

/* The guest pages an increment's memory file lists (snap_mem_format.h: a
 * 56-byte fixed part, one 24-byte region entry whose third field is the
 * page count, then the page indices as u64), printed when they are not
 * just the pages the loop wrote. */
static void print_extra_pages(const char *snapdir, uint64_t first, uint64_t n)
{
    g_autofree char *path = g_build_filename(snapdir, "memory", NULL);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    uint64_t count = 0;
    if (fd < 0 || pread(fd, &count, 8, 56 + 16) != 8 || count > 1000000) {
        printf("      (cannot read the page list of %s)\n", path);
        if (fd >= 0)
            close(fd);
        return;
    }
    g_autofree uint64_t *idx = g_new(uint64_t, count ? count : 1);
    if (pread(fd, idx, count * 8, 56 + 24) != (ssize_t)(count * 8))
        count = 0;
    close(fd);
    uint64_t extra = 0;
    for (uint64_t i = 0; i < count; i++)
        if (idx[i] < first || idx[i] >= first + n) {
            if (extra++ < 8)
                printf("      page 0x%llx (gpa 0x%llx) is in the increment but not written by the "
                       "loop\n",
                       (unsigned long long)idx[i], (unsigned long long)(idx[i] * PG));
        }
    printf("      the increment lists %llu pages, %llu of them outside the loop's\n",
           (unsigned long long)count, (unsigned long long)extra);
}

static void bench_incremental(void)
{
    const uint64_t size = 64 * MiB;
    printf("\n== (c) incremental snapshot size, 64 MiB bare VM; the guest's loop writes one "
           "byte in each of N pages from 0x%llx (vcpu_run of the stub, not host writes)\n",
           (unsigned long long)TOUCH_GPA);
    struct qv_conn *c = qv_connect(uri);
    if (!c)
        die("qv_connect");
    struct vcpu *v;
    struct vm *vm = bare_vm(c, "inc", size, &v);
    if (snapshot_create(vm, "base", 0) < 0)
        die("snapshot_create base");
    /* "state": what an increment holds besides pages, measured on one
     * taken with nothing written since the previous snapshot. */
    if (snapshot_create(vm, "inc0", SNAPSHOT_INCREMENTAL) < 0)
        die("snapshot_create inc0");
    uint64_t mem0;
    g_autofree char *p0 = snap_path("inc", "inc0");
    printf("   N=0 (nothing written since the previous snapshot):\n");
    uint64_t state = dir_blocks(p0, &mem0, true);
    printf("   state = %llu bytes on disk (of which memory files %llu)\n",
           (unsigned long long)state, (unsigned long long)mem0);
    printf("   %-6s %12s %12s %14s %14s %8s\n", "N", "on disk", "memory", "N*4096", "bound",
           "ratio");
    printf("   bound = N*4096 + state + the page list (8 bytes a page, rounded up to a page)\n");
    static const uint64_t ns[] = {1, 100, 10000};
    for (int k = 0; k < 3; k++) {
        struct vcpu_regs r = {.rip = STUB_GPA,
                              .rflags = 2,
                              .rcx = ns[k],
                              .rdi = TOUCH_GPA,
                              .rax = 0x40 + (uint64_t)k};
        if (vcpu_set_regs(v, &r) < 0)
            die("vcpu_set_regs");
        run_to_out(v);
        g_autofree char *s = g_strdup_printf("inc%llu", (unsigned long long)ns[k]);
        if (snapshot_create(vm, s, SNAPSHOT_INCREMENTAL) < 0)
            die("snapshot_create incremental");
        g_autofree char *p = snap_path("inc", s);
        uint64_t mem, all = dir_blocks(p, &mem, false);
        print_extra_pages(p, TOUCH_GPA / PG, ns[k]);
        /* The page list (8 bytes a page) is the increment's own state. */
        uint64_t want = ns[k] * PG, bound = want + state + (ns[k] * 8 + PG - 1) / PG * PG;
        printf("   %-6llu %12llu %12llu %14llu %14llu %7.3fx (target <= 1x of bound: %s)\n",
               (unsigned long long)ns[k], (unsigned long long)all, (unsigned long long)mem,
               (unsigned long long)want, (unsigned long long)bound, (double)all / (double)bound,
               verdict((double)all / (double)bound, 1.0));
    }
    /* The last increment restores: the guest's bytes are back. */
    if (snapshot_restore(vm, "inc10000") < 0)
        die("snapshot_restore inc10000");
    uint8_t b = 0;
    if (vm_read_memory(vm, TOUCH_GPA + 9999 * PG, &b, 1) < 0)
        die("vm_read_memory");
    printf("   restore of inc10000: byte at page 9999 of the loop is 0x%02x (want 0x42)\n", b);
    vm_destroy(vm);
    qv_close(c);
}

/* ---- (d) ---- */

static double clone_median(struct qv_conn *c, const char *kernel, const char *tag,
                           uint64_t disk_size)
{
    g_autofree char *disk = g_strdup_printf("%s/disk-%s.raw", dir, tag);
    int fd = open(disk, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        die_errno(disk);
    /* Sparse, with 1 MiB of data at the start (a boot sector's worth and more). */
    g_autofree uint8_t *buf = g_malloc(MiB);
    memset(buf, 0xd1, MiB);
    if (write(fd, buf, MiB) != (ssize_t)MiB || ftruncate(fd, (off_t)disk_size) < 0)
        die_errno("disk");
    close(fd);
    g_autofree char *xml = g_strdup_printf(
        "<domain type='kvm'><name>src-%s</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64'>hvm</type><kernel>%s</kernel></os>"
        "<devices><disk type='file' device='disk'><driver type='raw'/>"
        "<source file='%s'/><target dev='vda' bus='virtio'/></disk></devices></domain>",
        tag, kernel, disk);
    struct vm *src = vm_define_xml(c, xml);
    if (!src)
        die("vm_define_xml");
    double *t = g_new(double, runs);
    for (int i = 0; i < runs; i++) {
        g_autofree char *n = g_strdup_printf("clone-%s-%d", tag, i);
        double t0 = now_ms();
        struct vm *cl = vm_clone(src, n);
        t[i] = now_ms() - t0;
        if (!cl)
            die("vm_clone");
        if (i == 0) {
            g_autofree char *copy =
                g_build_filename(dir, "state", "kvm-embed", n, "disk-vda.raw", NULL);
            struct stat st;
            if (stat(copy, &st) == 0)
                printf("   %s: clone's disk %s: size %llu, on disk %llu\n", tag, copy,
                       (unsigned long long)st.st_size, (unsigned long long)st.st_blocks * 512);
        }
        vm_destroy(cl);
    }
    struct stat3 s = stats(t, runs);
    printf("   %-8s vm_clone median %9.3f ms  (min %.3f, max %.3f)\n", tag, s.med, s.min, s.max);
    g_free(t);
    vm_destroy(src);
    unlink(disk);
    return s.med;
}

static void bench_clone(const char *kernel)
{
    printf("\n== (d) vm_clone of a stopped (defined, never started) VM with one sparse raw disk "
           "(1 MiB of data)\n");
    /* Whether the directory's file system shares blocks (FICLONE). */
    g_autofree char *a = g_build_filename(dir, "reflink-a", NULL);
    g_autofree char *b = g_build_filename(dir, "reflink-b", NULL);
    int fa = open(a, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int fb = open(b, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    struct statfs sf;
    int rc = fa >= 0 && fb >= 0 && write(fa, "x", 1) == 1 ? ioctl(fb, FICLONE, fa) : -1;
    int err = errno;
    fstatfs(fa, &sf);
    printf("   file system type 0x%lx; FICLONE %s%s: the copy is %s\n", (unsigned long)sf.f_type,
           rc == 0 ? "works" : "fails: ", rc == 0 ? "" : strerror(err),
           rc == 0 ? "a reflink (shared blocks)" : "a sparse copy (holes skipped, data copied)");
    close(fa);
    close(fb);
    unlink(a);
    unlink(b);
    struct qv_conn *c = qv_connect(uri);
    if (!c)
        die("qv_connect");
    double small = clone_median(c, kernel, "64MiB", 64 * MiB);
    double big = clone_median(c, kernel, "4GiB", 4096 * MiB);
    double ratio = big > small ? big / small : small / big;
    printf("   ratio 4 GiB / 64 MiB = %.2fx (target <= 2x: %s)\n", big / small,
           verdict(ratio, 2.0));
    qv_close(c);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    runs = argc > 1 ? atoi(argv[1]) : 5;
    if (runs < 1)
        runs = 1;
    const char *parent = argc > 2 ? argv[2] : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    g_autofree char *kernel = realpath(argc > 3 ? argv[3] : "tests/guests/count.elf", NULL);
    if (!kernel)
        die_errno("the kernel for (d)'s definition (argument 3)");
    kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm_fd < 0) {
        printf("kvm_snap_bench: /dev/kvm: %s; skipped\n", strerror(errno));
        return 77;
    }
    int rs = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (rs <= 0)
        die_errno("KVM_GET_VCPU_MMAP_SIZE");
    run_size = (size_t)rs;
    g_autofree char *tmpl = g_build_filename(parent, "qv-snapbench-XXXXXX", NULL);
    dir = g_mkdtemp_full(tmpl, 0700);
    if (!dir)
        die_errno("mkdtemp");
    g_autofree char *root = g_build_filename(dir, "state", NULL);
    uri = g_strdup_printf("kvm:///embed?root=%s", root);
    struct statfs sf;
    statfs(dir, &sf);
    printf("kvm_snap_bench: %d runs per figure, medians; files and snapshot store in %s "
           "(file system type 0x%lx)\n",
           runs, dir, (unsigned long)sf.f_type);
    printf("(a)/(b) use a bare vm_create VM: one RAM region at 0, one vCPU in flat 32-bit "
           "protected mode, RIP at an `out` (the guest's first instruction exits to "
           "vcpu_run)\n");

    static const uint64_t sizes[] = {64 * MiB, 256 * MiB, 1024 * MiB};
    struct size_result r[3];
    for (int s = 0; s < 3; s++)
        bench_size(sizes[s], &r[s]);

    printf("\n== (a) restore, snapshot_restore() call to the guest's first instruction (ms)\n");
    printf("   %-8s %10s %10s %10s %12s %12s\n", "RAM", "same VM", "new VM", "floor", "same/floor",
           "new/floor");
    for (int s = 0; s < 3; s++)
        printf("   %-8s %10.3f %10.3f %10.3f %11.2fx %11.2fx\n", size_name(sizes[s]), r[s].restore,
               r[s].fresh, r[s].floor, r[s].restore / r[s].floor, r[s].fresh / r[s].floor);
    double g = r[2].restore / r[0].restore;
    printf("   1 GiB / 64 MiB, same VM: %.2fx (target <= 2x: %s)\n", g, verdict(g, 2.0));
    if (r[0].fresh > 0) {
        g = r[2].fresh / r[0].fresh;
        printf("   1 GiB / 64 MiB, new VM:  %.2fx (target <= 2x: %s)\n", g, verdict(g, 2.0));
    }
    for (int s = 0; s < 3; s++) {
        g = r[s].restore / r[s].floor;
        printf("   %-8s same VM / floor %.2fx (target <= 1.5x: %s)", size_name(sizes[s]), g,
               verdict(g, 1.5));
        if (r[s].fresh > 0) {
            g = r[s].fresh / r[s].floor;
            printf("; new VM / floor %.2fx (target <= 1.5x: %s)", g, verdict(g, 1.5));
        }
        printf("\n");
    }
    printf("\n== (b) snapshot create against a copy of a file of that size, same directory (ms)\n");
    printf("   %-8s %12s %12s %12s %12s %12s\n", "RAM", "create", "cfr+fsync", "/bin/cp",
           "create/cfr", "create/cp");
    for (int s = 0; s < 3; s++)
        printf("   %-8s %12.2f %12.2f %12.2f %11.2fx %11.2fx\n", size_name(sizes[s]), r[s].create,
               r[s].cfr, r[s].cp, r[s].create / r[s].cfr, r[s].create / r[s].cp);

    bench_incremental();
    bench_clone(kernel);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
