/* Hostile input without a guest in between: every device handler is hit
 * through the buses with random addresses, sizes and data, and the loaders
 * get thousands of corrupted kernels. Nothing may crash (the sanitizer
 * build checks memory safety), and each corrupted kernel either loads or
 * fails with a message naming the file. */
#include <check.h>
#include <string.h>

#include "drivers/kvm/kvm.h"
#include "drivers/kvm/loaders/loader.h"
#include "kvm_util.h"
#include "lib/conf/domain.h"

static struct kvm_sys sys;

static struct qv_domain *booted_def(const char *kernel)
{
    struct qv_domain *def = qv_domain_new();
    def->name = g_strdup("robust");
    def->memory_kib = 8 * 1024;
    def->vcpus = def->max_vcpus = 2;
    def->os.kernel = g_strdup(kernel);
    return def;
}

START_TEST(random_device_accesses)
{
    g_autofree char *k = kvm_test_guest("hello.elf");
    g_autoptr(qv_domain) def = booted_def(k);
    struct kvm_machine *m = kvm_machine_new(&sys, def);
    ck_assert_msg(m, "%s", qv_last_error()->message);
    GRand *r = g_rand_new_with_seed(42);
    uint8_t data[16];
    static const uint16_t hot[] = {0x3f8, 0x60, 0x64, 0x70, 0x510, 0x600, 0xf4};
    for (int i = 0; i < 200000; i++) {
        uint64_t port = g_rand_boolean(r) ? hot[g_rand_int_range(r, 0, G_N_ELEMENTS(hot))] +
                                                g_rand_int_range(r, -2, 12)
                                          : g_rand_int_range(r, 0, 0x10000);
        uint32_t size = g_rand_int_range(r, 1, 9);
        for (unsigned b = 0; b < sizeof(data); b++)
            data[b] = (uint8_t)g_rand_int(r);
        kvm_bus_dispatch(&m->pio, port, data, size, g_rand_boolean(r));
    }
    /* Oversized accesses are split, not overrun. */
    kvm_bus_dispatch(&m->pio, 0x3fc, data, 16, true);
    kvm_bus_dispatch(&m->pio, 0x50f, data, 16, false);
    /* The device model still answers sensibly afterwards. */
    uint8_t sel[2] = {0, 0}, sig[4];
    kvm_bus_dispatch(&m->pio, 0x510, sel, 2, true);
    for (int b = 0; b < 4; b++)
        kvm_bus_dispatch(&m->pio, 0x511, &sig[b], 1, false);
    ck_assert_mem_eq(sig, "QEMU", 4);
    g_rand_free(r);
    kvm_machine_unref(m);
}
END_TEST

/* Load each corrupted image; a failure must name the file. */
static void fuzz_loader(const char *payload, int rounds, guint32 seed)
{
    g_autoptr(GBytes) orig = kvm_test_load(payload);
    gsize len;
    const uint8_t *p = g_bytes_get_data(orig, &len);
    g_autofree char *dir = g_dir_make_tmp("qv-kvm-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "kernel", NULL);
    g_autoptr(qv_domain) def = booted_def(path);
    ck_assert(g_file_set_contents(path, (const char *)p, (gssize)len, NULL));
    struct kvm_machine *m = kvm_machine_new(&sys, def);
    ck_assert_msg(m, "%s", qv_last_error()->message);
    GRand *r = g_rand_new_with_seed(seed);
    g_autofree uint8_t *buf = g_malloc(len);
    int failed = 0;
    for (int i = 0; i < rounds; i++) {
        memcpy(buf, p, len);
        /* Flip a few bytes, mostly in the headers where the lengths and
         * offsets live; sometimes cut the file short. */
        int flips = g_rand_int_range(r, 1, 6);
        for (int f = 0; f < flips; f++) {
            gsize at = g_rand_boolean(r) ? (gsize)g_rand_int_range(r, 0, MIN(len, 0x300))
                                         : (gsize)g_rand_int_range(r, 0, (gint32)len);
            buf[at] = (uint8_t)g_rand_int(r);
        }
        gsize cut =
            g_rand_int_range(r, 0, 8) == 0 ? (gsize)g_rand_int_range(r, 0, (gint32)len) : len;
        ck_assert(g_file_set_contents(path, (const char *)buf, (gssize)cut, NULL));
        qv_reset_error();
        if (kvm_load_kernel(m) < 0) {
            failed++;
            ck_assert_msg(strstr(qv_last_error()->message, path), "round %d: %s", i,
                          qv_last_error()->message);
        }
    }
    ck_assert_int_gt(failed, 0);
    g_rand_free(r);
    kvm_machine_unref(m);
    unlink(path);
    rmdir(dir);
}

START_TEST(corrupted_multiboot)
{
    fuzz_loader("hello.elf", 3000, 1);
}
END_TEST

START_TEST(corrupted_elf64)
{
    fuzz_loader("hello64.elf", 3000, 2);
}
END_TEST

START_TEST(corrupted_bzimage)
{
    fuzz_loader("bzimage.bin", 3000, 3);
}
END_TEST

int main(void)
{
    kvm_test_require();
    if (kvm_probe("/dev/kvm", &sys) < 0) {
        printf("SKIP: %s\n", qv_last_error()->message);
        return KVM_SKIP;
    }
    Suite *s = suite_create("kvm_robust");
    TCase *tc = tcase_create("robust");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, random_device_accesses);
    tcase_add_test(tc, corrupted_multiboot);
    tcase_add_test(tc, corrupted_elf64);
    tcase_add_test(tc, corrupted_bzimage);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    kvm_sys_close(&sys);
    return failed ? 1 : 0;
}
