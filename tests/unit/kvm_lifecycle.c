/* VM lifecycle on kvm:///embed through the public API: 200 VMs created and
 * destroyed leave no fds or memory behind; a booted guest is paused (and
 * then executes nothing), resumed, stopped, restarted, reset and
 * destroyed; register access follows the rules for booted VMs. */
#include <check.h>
#include <dirent.h>
#include <stdbool.h>
#include <string.h>

#include "drivers/kvm/kvm_kick.h"
#include "kvm_util.h"
#include "qv/qv.h"
#include "qv/vcpu.h"

static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    while (d && readdir(d))
        n++;
    if (d)
        closedir(d);
    return n;
}

static long rss_kib(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f && fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = 0;
    if (f)
        fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

START_TEST(create_destroy_200_leaves_nothing)
{
    struct qv_conn *c = qv_connect("kvm:///embed");
    ck_assert_msg(c, "%s", qv_last_error()->message);
    /* Warm up once: first use allocates glib and KVM state for good. */
    for (int i = 0; i < 5; i++) {
        struct vm *vm = vm_create_on(c, "warm", 2, 16 << 20);
        ck_assert_msg(vm, "%s", qv_last_error()->message);
        ck_assert_ptr_nonnull(vcpu_create(vm, 0));
        vm_destroy(vm);
    }
    int fds = count_fds();
    long rss = rss_kib();
    for (int i = 0; i < 200; i++) {
        struct vm *vm = vm_create_on(c, "churn", 2, 16 << 20);
        ck_assert_msg(vm, "iteration %d: %s", i, qv_last_error()->message);
        struct vcpu *v = vcpu_create(vm, 1);
        ck_assert_ptr_nonnull(v);
        /* Touch guest RAM so a leaked mapping would show in RSS. */
        uint8_t *ram = vm_gpa_to_hva(vm, 0);
        memset(ram, 0xab, 1 << 20);
        vm_destroy(vm);
        ck_assert_int_eq(qv_last_error()->code, QV_OK);
    }
    ck_assert_int_eq(count_fds(), fds);
    long grown = rss_kib() - rss;
    /* 200 leaked MiB would show; allocator noise stays far below 8 MiB. */
    ck_assert_msg(grown < 8 * 1024, "RSS grew by %ld KiB", grown);
    qv_close(c);
}
END_TEST

static char *spin_xml(const char *log)
{
    g_autofree char *kernel = kvm_test_guest("spin.elf");
    return g_strdup_printf("<domain type='kvm'><name>spinner</name>"
                           "<memory unit='MiB'>32</memory><vcpu>1</vcpu>"
                           "<os><type arch='x86_64'>hvm</type><kernel>%s</kernel></os>"
                           "<devices><serial type='file'><source path='%s'/>"
                           "<target port='0'/></serial></devices></domain>",
                           kernel, log);
}

static uint32_t progress(struct vm *vm)
{
    uint32_t v = 0;
    ck_assert_int_eq(vm_read_memory(vm, 0x5000, &v, 4), 0);
    return v;
}

static void wait_progress(struct vm *vm)
{
    uint32_t p0 = progress(vm);
    for (int i = 0; i < 400 && progress(vm) == p0; i++)
        g_usleep(25000);
    ck_assert_uint_ne(progress(vm), p0);
}

START_TEST(pause_resume_stop_restart_reset)
{
    struct qv_conn *c = qv_connect("kvm:///embed");
    ck_assert_msg(c, "%s", qv_last_error()->message);
    g_autofree char *dir = g_dir_make_tmp("qv-kvm-XXXXXX", NULL);
    g_autofree char *log = g_build_filename(dir, "console.log", NULL);
    g_autofree char *xml = spin_xml(log);
    struct vm *vm = vm_define_xml(c, xml);
    ck_assert_msg(vm, "%s", qv_last_error()->message);
    ck_assert_ptr_null(vcpu_create(vm, 0));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_INVALID_STATE);

    ck_assert_msg(vm_start(vm) == 0, "%s", qv_last_error()->message);
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_RUNNING);
    wait_progress(vm);
    struct vcpu *v = vm_get_vcpu(vm, 0);
    ck_assert_ptr_nonnull(v);
    struct vcpu_regs r;
    ck_assert_int_eq(vcpu_get_regs(v, &r), QV_ERR_INVALID_STATE); /* running */
    ck_assert_int_eq(vcpu_run(v), QV_ERR_INVALID_STATE);

    ck_assert_int_eq(vm_pause(vm), 0);
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_PAUSED);
    uint32_t p = progress(vm);
    g_usleep(200000);
    ck_assert_uint_eq(progress(vm), p); /* a paused guest executes nothing */
    ck_assert_int_eq(vcpu_get_regs(v, &r), 0);
    ck_assert_uint_ge(r.rip, 0x100000);
    ck_assert_int_eq(vm_resume(vm), 0);
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_RUNNING);
    wait_progress(vm);

    ck_assert_int_eq(vm_wait(vm, 100), QV_ERR_TIMEOUT);
    ck_assert_int_eq(vm_stop_flags(vm, 0, 2000), 0);
    struct vm_info info;
    ck_assert_int_eq(vm_get_info(vm, &info), 0);
    ck_assert_int_eq(info.state, VM_STATE_STOPPED);
    ck_assert_int_eq(info.reason, VM_REASON_USER);
    ck_assert_int_eq(info.exit_status, -1);

    /* A second start boots a fresh machine: the console shows it again. */
    ck_assert_msg(vm_start(vm) == 0, "%s", qv_last_error()->message);
    wait_progress(vm);
    ck_assert_int_eq(vm_reset(vm), 0);
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_RUNNING);
    wait_progress(vm);
    /* A reset keeps a paused VM paused: power-on state, nothing runs. */
    ck_assert_int_eq(vm_pause(vm), 0);
    ck_assert_int_eq(vm_reset(vm), 0);
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_PAUSED);
    ck_assert_uint_eq(progress(vm), 0); /* fresh RAM, no instruction run */
    g_usleep(100000);
    ck_assert_uint_eq(progress(vm), 0);
    ck_assert_int_eq(vm_resume(vm), 0);
    wait_progress(vm);
    g_autofree char *con = NULL;
    ck_assert(g_file_get_contents(log, &con, NULL, NULL));
    ck_assert_str_eq(con, "spin: running\n"); /* truncated at each power-on */
    vm_destroy(vm);
    ck_assert_int_eq(qv_last_error()->code, QV_OK);
    unlink(log);
    rmdir(dir);
    qv_close(c);
}
END_TEST

static bool console_has(const char *log, const char *text)
{
    for (int i = 0; i < 400; i++) {
        g_autofree char *con = NULL;
        if (g_file_get_contents(log, &con, NULL, NULL) && strstr(con, text))
            return true;
        g_usleep(25000);
    }
    return false;
}

START_TEST(graceful_stop_presses_the_power_button)
{
    struct qv_conn *c = qv_connect("kvm:///embed");
    g_autofree char *dir = g_dir_make_tmp("qv-kvm-XXXXXX", NULL);
    g_autofree char *log = g_build_filename(dir, "console.log", NULL);
    g_autofree char *kernel = kvm_test_guest("acpi.elf");
    g_autofree char *xml = g_strdup_printf(
        "<domain type='kvm'><name>acpi</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64'>hvm</type><kernel>%s</kernel><cmdline>wait-button</cmdline>"
        "</os><devices><serial type='file'><source path='%s'/><target port='0'/></serial>"
        "</devices></domain>",
        kernel, log);
    struct vm *vm = vm_define_xml(c, xml);
    ck_assert_msg(vm, "%s", qv_last_error()->message);
    ck_assert_int_eq(vm_start(vm), 0);
    ck_assert(console_has(log, "waiting for the power button"));
    ck_assert_int_eq(vm_stop_flags(vm, 0, 20000), 0);
    struct vm_info info;
    ck_assert_int_eq(vm_get_info(vm, &info), 0);
    ck_assert_int_eq(info.state, VM_STATE_STOPPED);
    ck_assert_int_eq(info.reason, VM_REASON_SHUTDOWN); /* the guest powered off */
    ck_assert_int_eq(info.exit_status, 0);
    g_autofree char *con = NULL;
    ck_assert(g_file_get_contents(log, &con, NULL, NULL));
    ck_assert_ptr_nonnull(strstr(con, "acpi: power button pressed\nacpi: powering off (S5)\n"));
    vm_destroy(vm);
    unlink(log);
    rmdir(dir);
    qv_close(c);
}
END_TEST

/* The CPUs the thread called name may run on ("0", "0-1"), or NULL. */
static char *thread_cpus(const char *name)
{
    GDir *d = g_dir_open("/proc/self/task", 0, NULL);
    char *cpus = NULL;
    const char *tid;
    while (d && !cpus && (tid = g_dir_read_name(d))) {
        g_autofree char *comm = NULL, *status = NULL;
        g_autofree char *cp = g_strdup_printf("/proc/self/task/%s/comm", tid);
        g_autofree char *sp = g_strdup_printf("/proc/self/task/%s/status", tid);
        if (!g_file_get_contents(cp, &comm, NULL, NULL) || strcmp(g_strstrip(comm), name) != 0 ||
            !g_file_get_contents(sp, &status, NULL, NULL))
            continue;
        const char *at = strstr(status, "Cpus_allowed_list:");
        if (at)
            cpus = g_strndup(at + 18, strcspn(at + 18, "\n"));
    }
    if (d)
        g_dir_close(d);
    return cpus ? g_strstrip(cpus) : NULL;
}

/* Pinning while vCPU threads are starting: a thread reads its pins as it
 * starts while vm_set_cpu_pin replaces the definition holding them. */
START_TEST(pin_while_vcpus_start)
{
    struct qv_conn *c = qv_connect("kvm:///embed");
    ck_assert_msg(c, "%s", qv_last_error()->message);
    g_autofree char *kernel = kvm_test_guest("spin.elf");
    g_autofree char *xml = g_strdup_printf(
        "<domain type='kvm'><name>pinned</name><memory unit='MiB'>16</memory><vcpu>4</vcpu>"
        "<os><type arch='x86_64'>hvm</type><kernel>%s</kernel></os></domain>",
        kernel);
    struct vm *vm = vm_define_xml(c, xml);
    ck_assert_msg(vm, "%s", qv_last_error()->message);
    for (uint32_t i = 0; i < 4; i++)
        ck_assert_int_eq(vm_set_cpu_pin(vm, i, 0), 0);
    for (int round = 0; round < 20; round++) {
        ck_assert_msg(vm_start(vm) == 0, "%s", qv_last_error()->message);
        for (uint32_t i = 0; i < 8; i++)
            ck_assert_int_eq(vm_set_cpu_pin(vm, i % 4, (i & 4) ? -1 : 0), 0);
        ck_assert_int_eq(vm_stop_flags(vm, VM_STOP_FORCE, 0), 0);
    }
    /* A live pin moves the running thread. */
    ck_assert_int_eq(vm_start(vm), 0);
    ck_assert_int_eq(vm_set_cpu_pin(vm, 0, 0), 0);
    g_autofree char *cpus = NULL;
    for (int i = 0; i < 200 && (!cpus || strcmp(cpus, "0") != 0); i++) {
        g_free(cpus);
        cpus = thread_cpus("qv-vcpu0");
        g_usleep(5000);
    }
    ck_assert_str_eq(cpus, "0");
    int pcpu = -2;
    ck_assert_int_eq(vm_get_cpu_pin(vm, 0, &pcpu), 0);
    ck_assert_int_eq(pcpu, 0);
    vm_destroy(vm);
    qv_close(c);
}
END_TEST

/* A process that ignores the kick signal (SIG_IGN survives exec) can
 * still pause and stop a guest that never exits on its own: this one
 * halts with interrupts off, which the in-kernel LAPIC keeps in KVM. */
START_TEST(stop_when_the_kick_signal_is_ignored)
{
    signal(KVM_KICK_SIGNAL, SIG_IGN);
    struct qv_conn *c = qv_connect("kvm:///embed");
    ck_assert_msg(c, "%s", qv_last_error()->message);
    g_autofree char *dir = g_dir_make_tmp("qv-kvm-XXXXXX", NULL);
    g_autofree char *kernel = g_build_filename(dir, "halt.bin", NULL);
    ck_assert(g_file_set_contents(kernel, "\xfa\xf4\xeb\xfd", 4, NULL)); /* cli; 1: hlt; jmp 1b */
    g_autofree char *xml = g_strdup_printf(
        "<domain type='kvm'><name>halted</name><memory unit='MiB'>16</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64'>hvm</type><kernel>%s</kernel></os></domain>",
        kernel);
    struct vm *vm = vm_define_xml(c, xml);
    ck_assert_msg(vm, "%s", qv_last_error()->message);
    ck_assert_int_eq(vm_start(vm), 0);
    g_usleep(100000);
    ck_assert_int_eq(vm_pause(vm), 0);
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_PAUSED);
    ck_assert_int_eq(vm_resume(vm), 0);
    g_usleep(100000);
    ck_assert_int_eq(vm_stop_flags(vm, VM_STOP_FORCE, 0), 0);
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_STOPPED);
    vm_destroy(vm);
    unlink(kernel);
    rmdir(dir);
    qv_close(c);
}
END_TEST

START_TEST(guest_exit_status_through_vm_get_info)
{
    struct qv_conn *c = qv_connect("kvm:///embed");
    g_autofree char *kernel = kvm_test_guest("hello.elf");
    g_autofree char *xml = g_strdup_printf(
        "<domain type='kvm'><name>hello</name><memory unit='MiB'>16</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64'>hvm</type><kernel>%s</kernel></os></domain>",
        kernel);
    struct vm *vm = vm_define_xml(c, xml);
    ck_assert_msg(vm, "%s", qv_last_error()->message);
    ck_assert_int_eq(vm_start(vm), 0);
    ck_assert_int_eq(vm_wait(vm, 30000), 0);
    struct vm_info info;
    ck_assert_int_eq(vm_get_info(vm, &info), 0);
    ck_assert_int_eq(info.state, VM_STATE_STOPPED);
    ck_assert_int_eq(info.reason, VM_REASON_SHUTDOWN);
    ck_assert_int_eq(info.exit_status, 1);
    /* The name is taken until destroyed; lookup finds the same VM. */
    ck_assert_ptr_null(vm_define_xml(c, xml));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_EXISTS);
    struct vm *again = vm_lookup(c, "hello");
    ck_assert_ptr_eq(again, vm);
    vm_free(again);
    /* Another name with the same UUID is refused too. */
    struct vm_info hi;
    ck_assert_int_eq(vm_get_info(vm, &hi), 0);
    g_autofree char *xml2 = g_strdup_printf(
        "<domain type='kvm'><name>hello2</name><uuid>%s</uuid><memory unit='MiB'>16</memory>"
        "<vcpu>1</vcpu><os><type arch='x86_64'>hvm</type><kernel>%s</kernel></os></domain>",
        hi.uuid, kernel);
    ck_assert_ptr_null(vm_define_xml(c, xml2));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_EXISTS);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "already has UUID"));
    vm_destroy(vm);
    qv_close(c);
}
END_TEST

int main(void)
{
    kvm_test_require();
    Suite *s = suite_create("kvm_lifecycle");
    TCase *tc = tcase_create("lifecycle");
    tcase_set_timeout(tc, 100);
    tcase_add_test(tc, create_destroy_200_leaves_nothing);
    tcase_add_test(tc, pause_resume_stop_restart_reset);
    tcase_add_test(tc, guest_exit_status_through_vm_get_info);
    tcase_add_test(tc, pin_while_vcpus_start);
    tcase_add_test(tc, stop_when_the_kick_signal_is_ignored);
    tcase_add_test(tc, graceful_stop_presses_the_power_button);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
