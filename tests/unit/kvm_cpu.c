/* CPU topology and placement: <cpu><topology> as the guest's CPUID sees it
 * (leaves 1, 0xB, 0x1F) and as APIC IDs; <cputune><vcpupin> and
 * vm_set_cpu_pin as the affinity of the vCPU threads. */
#include <check.h>
#include <dirent.h>
#include <string.h>

#include "drivers/kvm/kvm.h"
#include "kvm_util.h"
#include "lib/conf/domain.h"
#include "qv/qv.h"

static uint32_t next_out(struct kvm_vcpu *v)
{
    int rc = kvm_vcpu_run_user(v);
    ck_assert_int_eq(rc, VCPU_EXIT_IO);
    ck_assert_uint_eq(v->exit.io.port, 0x10);
    ck_assert_uint_eq(v->exit.io.size, 4);
    uint32_t x;
    memcpy(&x, v->exit.io.data, 4);
    return x;
}

START_TEST(cpuid_shows_the_topology)
{
    struct kvm_sys sys;
    ck_assert_int_eq(kvm_probe("/dev/kvm", &sys), 0);
    g_autoptr(qv_domain) def = qv_domain_new();
    def->name = g_strdup("topo");
    def->memory_kib = 1024;
    def->vcpus = def->max_vcpus = 8;
    def->cpu.sockets = 2;
    def->cpu.cores = 2;
    def->cpu.threads = 2;
    struct kvm_machine *m = kvm_machine_new(&sys, def);
    ck_assert_msg(m, "%s", qv_last_error()->message);
    struct kvm_vcpu *v = kvm_vcpu_new(m, 5, true); /* socket 1, core 0, thread 1 */
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(v->apic_id, 5);
    g_autoptr(GBytes) code = kvm_test_load("cpuid.bin");
    gsize len;
    const void *p = g_bytes_get_data(code, &len);
    ck_assert_int_eq(kvm_memory_rw(m, 0x1000, (void *)p, len, true), 0);
    ck_assert_int_eq(kvm_vcpu_reset_real(v, 0x1000), 0);
    uint32_t ebx1 = next_out(v);
    ck_assert_uint_eq(ebx1 >> 24, 5);          /* initial APIC ID */
    ck_assert_uint_eq((ebx1 >> 16) & 0xff, 4); /* logical CPUs per package */
    uint32_t smt[4], core[4], die[4];
    for (int i = 0; i < 4; i++)
        smt[i] = next_out(v);
    for (int i = 0; i < 4; i++)
        core[i] = next_out(v);
    for (int i = 0; i < 4; i++)
        die[i] = next_out(v);
    ck_assert_uint_eq(smt[0], 1);     /* shift to the core field */
    ck_assert_uint_eq(smt[1], 2);     /* threads per core */
    ck_assert_uint_eq(smt[2], 0x100); /* level 0: SMT */
    ck_assert_uint_eq(smt[3], 5);     /* x2APIC ID */
    ck_assert_uint_eq(core[0], 2);
    ck_assert_uint_eq(core[1], 4);
    ck_assert_uint_eq(core[2], 0x201);
    ck_assert_uint_eq(die[1], 4);
    ck_assert_uint_eq(die[2], 0x502); /* level 2: die */
    ck_assert_int_eq(kvm_vcpu_run_user(v), VCPU_EXIT_HLT);
    m->vcpus[5] = v;
    m->nvcpus = 6;
    kvm_machine_unref(m);
    kvm_sys_close(&sys);
}
END_TEST

/* The CPUs the thread called name may run on, as /proc shows them. */
static char *thread_cpus(const char *name)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    char *out = NULL;
    while (d && !out && (e = readdir(d))) {
        g_autofree char *comm_path = g_strdup_printf("/proc/self/task/%s/comm", e->d_name);
        g_autofree char *comm = NULL;
        if (!g_file_get_contents(comm_path, &comm, NULL, NULL) || strcmp(g_strstrip(comm), name))
            continue;
        g_autofree char *st_path = g_strdup_printf("/proc/self/task/%s/status", e->d_name);
        g_autofree char *st = NULL;
        g_file_get_contents(st_path, &st, NULL, NULL);
        const char *l = st ? strstr(st, "Cpus_allowed_list:") : NULL;
        if (l)
            out = g_strstrip(g_strndup(l + 18, strcspn(l + 18, "\n")));
    }
    if (d)
        closedir(d);
    return out;
}

START_TEST(vcpupin_sets_thread_affinity)
{
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
        printf("SKIP: pinning needs two host CPUs\n");
        return;
    }
    struct qv_conn *c = qv_connect("kvm:///embed");
    g_autofree char *kernel = kvm_test_guest("spin.elf");
    g_autofree char *xml = g_strdup_printf(
        "<domain type='kvm'><name>pinned</name><memory unit='MiB'>16</memory><vcpu>1</vcpu>"
        "<cputune><vcpupin vcpu='0' cpuset='1'/></cputune>"
        "<os><type arch='x86_64'>hvm</type><kernel>%s</kernel></os></domain>",
        kernel);
    struct vm *vm = vm_define_xml(c, xml);
    ck_assert_msg(vm, "%s", qv_last_error()->message);
    ck_assert_int_eq(vm_start(vm), 0);
    g_autofree char *cpus = NULL;
    for (int i = 0; i < 200 && !(cpus = thread_cpus("qv-vcpu0")); i++)
        g_usleep(10000);
    ck_assert_ptr_nonnull(cpus);
    ck_assert_str_eq(cpus, "1");
    ck_assert_int_eq(vm_set_cpu_pin(vm, 0, 0), 0);
    g_free(cpus);
    cpus = thread_cpus("qv-vcpu0");
    ck_assert_str_eq(cpus, "0");
    int pcpu = -1;
    ck_assert_int_eq(vm_get_cpu_pin(vm, 0, &pcpu), 0);
    ck_assert_int_eq(pcpu, 0);
    vm_destroy(vm);
    qv_close(c);
}
END_TEST

int main(void)
{
    kvm_test_require();
    Suite *s = suite_create("kvm_cpu");
    TCase *tc = tcase_create("cpu");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, cpuid_shows_the_topology);
    tcase_add_test(tc, vcpupin_sets_thread_affinity);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
