/* Whole guests on the machine layer: each payload in tests/guests/ boots
 * through its loader with the legacy devices, and the test checks the
 * console output and exit status a user would see. Malformed kernels fail
 * with errors naming the file. */
#include <check.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>

#include "drivers/kvm/board/board.h"
#include "drivers/kvm/devices/chardev.h"
#include "drivers/kvm/kvm.h"
#include "kvm_util.h"
#include "lib/conf/domain.h"

static struct kvm_sys sys;

struct outcome {
    char *console;
    struct qv_vm_status st;
};

static struct qv_domain *domain_for(const char *payload, uint32_t vcpus, uint64_t mib,
                                    const char *log)
{
    struct qv_domain *def = qv_domain_new();
    def->type = QV_VIRT_KVM;
    def->name = g_strdup("boot");
    def->memory_kib = mib * 1024;
    def->vcpus = def->max_vcpus = vcpus;
    def->os.kernel = kvm_test_guest(payload);
    struct qv_chardev *c = g_new0(struct qv_chardev, 1);
    c->type = QV_CHR_FILE;
    c->path = g_strdup(log);
    g_ptr_array_add(def->serials, c);
    return def;
}

/* Boot, wait (bounded), collect the console. */
static struct outcome boot_def(struct qv_domain *def)
{
    struct outcome o = {0};
    struct kvm_machine *m = kvm_machine_new(&sys, def);
    ck_assert_msg(m, "%s", qv_last_error()->message);
    ck_assert_msg(kvm_machine_start(m) == 0, "%s", qv_last_error()->message);
    ck_assert_msg(kvm_machine_wait(m, 60000) == 0, "%s", qv_last_error()->message);
    kvm_machine_status(m, &o.st);
    kvm_machine_unref(m);
    const struct qv_chardev *c = g_ptr_array_index(def->serials, 0);
    ck_assert(g_file_get_contents(c->path, &o.console, NULL, NULL));
    return o;
}

static struct outcome boot(const char *payload, uint32_t vcpus, uint64_t mib)
{
    g_autofree char *dir = g_dir_make_tmp("qv-kvm-XXXXXX", NULL);
    g_autofree char *log = g_build_filename(dir, "console.log", NULL);
    g_autoptr(qv_domain) def = domain_for(payload, vcpus, mib, log);
    struct outcome o = boot_def(def);
    unlink(log);
    rmdir(dir);
    return o;
}

START_TEST(hello)
{
    struct outcome o = boot("hello.elf", 1, 64);
    ck_assert_str_eq(o.console, "Hello from a qv guest!\nbooted by a multiboot loader\n");
    ck_assert_int_eq(o.st.state, VM_STATE_STOPPED);
    ck_assert_int_eq(o.st.reason, VM_REASON_SHUTDOWN);
    ck_assert_int_eq(o.st.exit_status, 1); /* isa-debug-exit 0 -> (0 << 1) | 1 */
    g_free(o.console);
}
END_TEST

START_TEST(fw_cfg_reports_the_definition)
{
    struct outcome o = boot("fwcfg.elf", 2, 96);
    ck_assert_str_eq(o.console, "fw_cfg signature: QEMU\nram: 96 MiB\ncpus: 2 max: 2\n"
                                "etc/e820: present\n");
    ck_assert_int_eq(o.st.exit_status, 1);
    g_free(o.console);
}
END_TEST

START_TEST(cmos_memory_bytes)
{
    struct outcome o = boot("cmos.elf", 2, 48);
    /* 48 MiB: 47 MiB above 1 MiB, 32 MiB above 16 MiB = 512 units of 64 KiB. */
    ck_assert_str_eq(o.console, "base KiB: 640\next KiB: 48128\next KiB (0x30): 48128\n"
                                "above 16M, 64K units: 512\nabove 4G, 64K units: 0\n"
                                "cpus-1: 1\nrtc: valid BCD time\nstatus D: 128\n");
    g_free(o.console);
}
END_TEST

START_TEST(exceptions_and_interrupts)
{
    struct outcome o = boot("exceptions.elf", 1, 32);
    ck_assert_str_eq(o.console, "vector 0 error 0x00000000\nvector 6 error 0x00000000\n"
                                "vector 13 error 0x00000028\nirq 0 delivered\n"
                                "irq 4 delivered\nexceptions: done\n");
    ck_assert_int_eq(o.st.exit_status, 7);
    g_free(o.console);
}
END_TEST

START_TEST(smp_every_vcpu_checks_in)
{
    struct outcome o = boot("smp.elf", 3, 32);
    ck_assert_str_eq(o.console, "smp: 3 cpus expected\ncpu with APIC ID 0 checked in\n"
                                "cpu with APIC ID 1 checked in\ncpu with APIC ID 2 checked in\n"
                                "smp: all checked in\n");
    ck_assert_int_eq(o.st.exit_status, 9);
    g_free(o.console);
}
END_TEST

START_TEST(smp_topology_apic_ids)
{
    /* 1 socket, 2 cores, 2 threads: APIC IDs 0-3, and with 3 cores the
     * core field takes 2 bits, so IDs skip: 0 1 2 3 4 5. */
    g_autofree char *dir = g_dir_make_tmp("qv-kvm-XXXXXX", NULL);
    g_autofree char *log = g_build_filename(dir, "console.log", NULL);
    g_autoptr(qv_domain) def = domain_for("smp.elf", 6, 32, log);
    def->cpu.sockets = 1;
    def->cpu.cores = 3;
    def->cpu.threads = 2;
    ck_assert_uint_eq(kvm_cpu_apic_id(def, 2), 2);
    ck_assert_uint_eq(kvm_cpu_apic_id(def, 5), 5);
    def->cpu.sockets = 2;
    def->cpu.cores = 3;
    def->cpu.threads = 1;
    /* core bits = 2: socket 1 starts at APIC ID 4 */
    ck_assert_uint_eq(kvm_cpu_apic_id(def, 3), 4);
    ck_assert_uint_eq(kvm_cpu_apic_id(def, 5), 6);
    struct outcome o = boot_def(def);
    ck_assert_ptr_nonnull(strstr(o.console, "cpu with APIC ID 6 checked in"));
    ck_assert_ptr_null(strstr(o.console, "cpu with APIC ID 3 checked in"));
    ck_assert_ptr_nonnull(strstr(o.console, "smp: all checked in"));
    g_free(o.console);
    unlink(log);
    rmdir(dir);
}
END_TEST

START_TEST(i8042_reset_stops_with_reason_reset)
{
    struct outcome o = boot("reset.elf", 1, 32);
    ck_assert_str_eq(o.console, "reset: asking the keyboard controller\n");
    ck_assert_int_eq(o.st.reason, VM_REASON_RESET);
    ck_assert_int_eq(o.st.exit_status, 0);
    g_free(o.console);
}
END_TEST

START_TEST(misbehaving_guest_is_contained)
{
    struct outcome o = boot("misbehave.elf", 1, 32);
    ck_assert_ptr_nonnull(strstr(o.console, "\nmisbehave: survived\n"));
    ck_assert_int_eq(o.st.exit_status, 5);
    g_free(o.console);
}
END_TEST

START_TEST(acpi_s5_powers_off)
{
    struct outcome o = boot("acpi.elf", 2, 32);
    ck_assert_str_eq(o.console, "acpi: RSDP found\nacpi: MADT lists 2 processors\n"
                                "acpi: PM1a control at 0x00000604\nacpi: powering off (S5)\n");
    ck_assert_int_eq(o.st.reason, VM_REASON_SHUTDOWN);
    ck_assert_int_eq(o.st.exit_status, 0);
    g_free(o.console);
}
END_TEST

START_TEST(flat_and_elf64_enter_long_mode)
{
    struct outcome o = boot("hello64.bin", 1, 16);
    ck_assert_str_eq(o.console, "hello from a flat 64-bit guest\n");
    ck_assert_int_eq(o.st.exit_status, 0x43);
    g_free(o.console);
    o = boot("hello64.elf", 1, 16);
    ck_assert_str_eq(o.console, "hello from an ELF64 guest\n");
    ck_assert_int_eq(o.st.exit_status, 0x43);
    g_free(o.console);
}
END_TEST

START_TEST(bzimage_64bit_boot_protocol)
{
    g_autofree char *dir = g_dir_make_tmp("qv-kvm-XXXXXX", NULL);
    g_autofree char *log = g_build_filename(dir, "console.log", NULL);
    g_autofree char *initrd = g_build_filename(dir, "initrd", NULL);
    ck_assert(g_file_set_contents(initrd, "INITRD-OK\nsecond line\n", -1, NULL));
    g_autoptr(qv_domain) def = domain_for("bzimage.bin", 1, 32, log);
    def->os.cmdline = g_strdup("console=ttyS0 quiet");
    def->os.initrd = g_strdup(initrd);
    struct outcome o = boot_def(def);
    /* e820: low RAM, EBDA, BIOS area, RAM from 1 MiB. */
    ck_assert_str_eq(o.console, "bzImage: 64-bit entry\nloader type: FF\n"
                                "cmdline: console=ttyS0 quiet\ne820 entries: 4\n"
                                "initrd: INITRD-OK\n");
    ck_assert_int_eq(o.st.exit_status, 0x45);
    g_free(o.console);
    unlink(initrd);
    unlink(log);
    rmdir(dir);
}
END_TEST

/* Read from fd until the text seen so far contains want (10 s at most). */
static void read_until(int fd, GString *seen, const char *want)
{
    for (int i = 0; i < 1000 && !strstr(seen->str, want); i++) {
        char buf[256];
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n > 0)
            g_string_append_len(seen, buf, n);
        else
            g_usleep(10000);
    }
    ck_assert_msg(strstr(seen->str, want), "never saw '%s' in '%s'", want, seen->str);
}

/* ready: the greeting is certain to reach us (a pty buffers it; a unix
 * socket drops what the guest writes before a client connects, as QEMU's
 * server=on,wait=off does). */
static void converse(int fd, bool ready)
{
    GString *seen = g_string_new(NULL);
    if (ready)
        read_until(fd, seen, "echo: ready\n");
    ck_assert_int_eq(write(fd, "over the wire\nquit\n", 19), 19);
    read_until(fd, seen, "echo: bye\n");
    ck_assert(g_str_has_suffix(seen->str, "echo: OVER THE WIRE\necho: bye\n"));
    if (ready)
        ck_assert_str_eq(seen->str, "echo: ready\necho: OVER THE WIRE\necho: bye\n");
    g_string_free(seen, TRUE);
}

START_TEST(unix_socket_console)
{
    g_autofree char *dir = g_dir_make_tmp("qv-kvm-XXXXXX", NULL);
    g_autofree char *sock = g_build_filename(dir, "console.sock", NULL);
    g_autoptr(qv_domain) def = domain_for("echo.elf", 1, 32, "/dev/null");
    struct qv_chardev *c = g_ptr_array_index(def->serials, 0);
    c->type = QV_CHR_UNIX;
    g_free(c->path);
    c->path = g_strdup(sock);
    c->listen = true;
    struct kvm_machine *m = kvm_machine_new(&sys, def);
    ck_assert_int_eq(kvm_machine_start(m), 0);
    struct stat st;
    ck_assert_int_eq(stat(sock, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    g_strlcpy(sa.sun_path, sock, sizeof(sa.sun_path));
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    converse(fd, false);
    ck_assert_int_eq(kvm_machine_wait(m, 30000), 0);
    close(fd);
    kvm_machine_unref(m);
    ck_assert_int_ne(access(sock, F_OK), 0); /* removed with the VM */
    rmdir(dir);
}
END_TEST

/* The console connects to a server that hangs up while the guest still
 * writes: the writes are dropped, the host process lives (no SIGPIPE) and
 * the guest runs to its end. */
START_TEST(unix_console_server_hangs_up)
{
    g_autofree char *dir = g_dir_make_tmp("qv-kvm-XXXXXX", NULL);
    g_autofree char *sock = g_build_filename(dir, "server.sock", NULL);
    int srv = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    g_strlcpy(sa.sun_path, sock, sizeof(sa.sun_path));
    ck_assert_int_eq(bind(srv, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(srv, 1), 0);
    g_autoptr(qv_domain) def = domain_for("echo.elf", 1, 32, "/dev/null");
    struct qv_chardev *c = g_ptr_array_index(def->serials, 0);
    c->type = QV_CHR_UNIX;
    g_free(c->path);
    c->path = g_strdup(sock);
    c->listen = false;
    struct kvm_machine *m = kvm_machine_new(&sys, def);
    ck_assert_int_eq(kvm_machine_start(m), 0);
    int fd = accept(srv, NULL, NULL);
    ck_assert_int_ge(fd, 0);
    GString *seen = g_string_new(NULL);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    read_until(fd, seen, "echo: ready\n");
    g_string_free(seen, TRUE);
    /* Every line the guest answers comes after the hang-up. */
    ck_assert_int_eq(write(fd, "one\ntwo\nthree\nquit\n", 19), 19);
    close(fd);
    ck_assert_int_eq(kvm_machine_wait(m, 30000), 0);
    struct qv_vm_status st;
    kvm_machine_status(m, &st);
    ck_assert_int_eq(st.state, VM_STATE_STOPPED);
    ck_assert_int_eq(st.reason, VM_REASON_SHUTDOWN);
    ck_assert_int_eq(st.exit_status, 1); /* guest_main returned 0 */
    kvm_machine_unref(m);
    close(srv);
    unlink(sock);
    rmdir(dir);
}
END_TEST

START_TEST(pty_console)
{
    g_autoptr(qv_domain) def = domain_for("echo.elf", 1, 32, "/dev/null");
    struct qv_chardev *c = g_ptr_array_index(def->serials, 0);
    c->type = QV_CHR_PTY;
    g_clear_pointer(&c->path, g_free);
    struct kvm_machine *m = kvm_machine_new(&sys, def);
    ck_assert_int_eq(kvm_machine_start(m), 0);
    const char *ep = kvm_chardev_endpoint(kvm_board_console(m->board));
    ck_assert(g_str_has_prefix(ep, "pty:/dev/pts/"));
    int fd = open(ep + 4, O_RDWR | O_NOCTTY | O_NONBLOCK);
    ck_assert_int_ge(fd, 0);
    struct termios t;
    tcgetattr(fd, &t);
    cfmakeraw(&t);
    tcsetattr(fd, TCSANOW, &t);
    converse(fd, true);
    ck_assert_int_eq(kvm_machine_wait(m, 30000), 0);
    close(fd);
    kvm_machine_unref(m);
}
END_TEST

static uint8_t sum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    while (n--)
        s = (uint8_t)(s + *p++);
    return s;
}

START_TEST(mp_table_lists_every_vcpu)
{
    g_autofree char *dir = g_dir_make_tmp("qv-kvm-XXXXXX", NULL);
    g_autofree char *log = g_build_filename(dir, "console.log", NULL);
    g_autoptr(qv_domain) def = domain_for("hello.elf", 3, 32, log);
    def->cpu.sockets = 1;
    def->cpu.cores = 3;
    def->cpu.threads = 1;
    struct kvm_machine *m = kvm_machine_new(&sys, def);
    ck_assert_int_eq(kvm_machine_start(m), 0);
    ck_assert_int_eq(kvm_machine_wait(m, 60000), 0);
    uint8_t fp[16], t[1024];
    ck_assert_int_eq(kvm_memory_rw(m, 0xf0000, fp, 16, false), 0);
    ck_assert_mem_eq(fp, "_MP_", 4);
    ck_assert_uint_eq(sum(fp, 16), 0);
    uint32_t at = fp[4] | fp[5] << 8 | fp[6] << 16 | (uint32_t)fp[7] << 24;
    ck_assert_int_eq(kvm_memory_rw(m, at, t, sizeof(t), false), 0);
    ck_assert_mem_eq(t, "PCMP", 4);
    uint16_t len = t[4] | t[5] << 8, count = t[34] | t[35] << 8;
    ck_assert_uint_le(len, sizeof(t));
    ck_assert_uint_eq(sum(t, len), 0);
    unsigned cpus = 0, ioapics = 0, bsp = 0;
    const uint8_t *e = t + 44;
    for (unsigned i = 0; i < count; i++) {
        if (e[0] == 0) {
            ck_assert_uint_eq(e[1], kvm_cpu_apic_id(def, cpus));
            bsp += (e[3] & 2) != 0;
            cpus++;
        }
        ioapics += e[0] == 2;
        e += e[0] == 0 ? 20 : 8;
    }
    ck_assert_uint_eq(cpus, 3);
    ck_assert_uint_eq(bsp, 1);
    ck_assert_uint_eq(ioapics, 1);
    kvm_machine_unref(m);
    unlink(log);
    rmdir(dir);
}
END_TEST

static void expect_load_error(const char *file, const void *data, size_t len, const char *what)
{
    g_autofree char *dir = g_dir_make_tmp("qv-kvm-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, file, NULL);
    g_autofree char *log = g_build_filename(dir, "console.log", NULL);
    ck_assert(g_file_set_contents(path, data, (gssize)len, NULL));
    g_autoptr(qv_domain) def = domain_for("hello.elf", 1, 32, log);
    g_free(def->os.kernel);
    def->os.kernel = g_strdup(path);
    struct kvm_machine *m = kvm_machine_new(&sys, def);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_lt(kvm_machine_start(m), 0);
    const char *msg = qv_last_error()->message;
    ck_assert_msg(strstr(msg, path) && strstr(msg, what), "message: %s", msg);
    struct qv_vm_status st;
    kvm_machine_status(m, &st);
    ck_assert_int_ne(st.state, VM_STATE_RUNNING);
    kvm_machine_unref(m);
    unlink(path);
    unlink(log);
    rmdir(dir);
}

START_TEST(malformed_kernels)
{
    g_autoptr(GBytes) hello = kvm_test_load("hello.elf");
    gsize len;
    const uint8_t *p = g_bytes_get_data(hello, &len);
    /* Cut inside the loadable segment. */
    expect_load_error("cut.elf", p, 0x1100, "past the end of the file");
    /* A 32-bit ELF without a multiboot header. */
    g_autofree uint8_t *nomb = g_memdup2(p, len);
    for (gsize i = 0; i + 4 <= len && i < 8192; i++)
        if (memcmp(nomb + i, "\x02\xb0\xad\x1b", 4) == 0)
            nomb[i] = 0;
    expect_load_error("nomb.elf", nomb, len, "without a multiboot header");
    /* An ELF64 with its program headers pointing past the end. */
    uint8_t e64[64] = {0x7f, 'E', 'L', 'F', 2, 1, 1};
    e64[16] = 2;    /* ET_EXEC */
    e64[18] = 62;   /* EM_X86_64 */
    e64[32] = 0xf0; /* e_phoff */
    e64[54] = 56;   /* e_phentsize */
    e64[56] = 1;    /* e_phnum */
    expect_load_error("bad64.elf", e64, sizeof(e64), "program headers");
    /* A bzImage too old for the 64-bit entry. */
    g_autofree uint8_t *bz = g_malloc0(0x2000);
    memcpy(bz + 0x202, "HdrS", 4);
    bz[0x206] = 0x02;
    bz[0x207] = 0x02;
    expect_load_error("old.bzImage", bz, 0x2000, "2.12");
    /* A bzImage cut right after its signature and version: the header
     * fields beyond (XLF_KERNEL_64 at 0x236, init_size at 0x260) are not in
     * the file and must not be read. */
    bz[0x206] = 0x0f;
    expect_load_error("short.bzImage", bz, 0x208, "truncated");
    expect_load_error("empty", "", 0, "empty");
}
END_TEST

START_TEST(missing_kernel_names_the_file)
{
    g_autoptr(qv_domain) def = domain_for("hello.elf", 1, 32, "/dev/null");
    g_free(def->os.kernel);
    def->os.kernel = g_strdup("/nonexistent/vmlinuz");
    struct kvm_machine *m = kvm_machine_new(&sys, def);
    ck_assert_int_eq(kvm_machine_start(m), QV_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "/nonexistent/vmlinuz"));
    kvm_machine_unref(m);
}
END_TEST

int main(void)
{
    kvm_test_require();
    if (kvm_probe("/dev/kvm", &sys) < 0) {
        printf("SKIP: %s\n", qv_last_error()->message);
        return KVM_SKIP;
    }
    Suite *s = suite_create("kvm_boot");
    TCase *tc = tcase_create("boot");
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, hello);
    tcase_add_test(tc, fw_cfg_reports_the_definition);
    tcase_add_test(tc, cmos_memory_bytes);
    tcase_add_test(tc, exceptions_and_interrupts);
    tcase_add_test(tc, smp_every_vcpu_checks_in);
    tcase_add_test(tc, smp_topology_apic_ids);
    tcase_add_test(tc, i8042_reset_stops_with_reason_reset);
    tcase_add_test(tc, misbehaving_guest_is_contained);
    tcase_add_test(tc, mp_table_lists_every_vcpu);
    tcase_add_test(tc, flat_and_elf64_enter_long_mode);
    tcase_add_test(tc, acpi_s5_powers_off);
    tcase_add_test(tc, unix_socket_console);
    tcase_add_test(tc, unix_console_server_hangs_up);
    tcase_add_test(tc, pty_console);
    tcase_add_test(tc, bzimage_64bit_boot_protocol);
    tcase_add_test(tc, malformed_kernels);
    tcase_add_test(tc, missing_kernel_names_the_file);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    kvm_sys_close(&sys);
    return failed ? 1 : 0;
}
