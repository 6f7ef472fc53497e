/* A definition's <disk>, <interface> and <rng> as virtio-mmio devices on
 * the pc board (kvm_virtio_devices_add), over a recording device host and
 * plain buses: each answers at its announced window with its device ID,
 * in the definition's order; a disk that cannot be opened fails the
 * power-on naming it. No /dev/kvm needed. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "drivers/kvm/board/board.h"
#include "drivers/kvm/kvm.h"
#include "drivers/kvm/kvm_conf.h"
#include "kvm_test_host.h"
#include "lib/util/error.h"

#define RAM (16ull << 20)

static struct test_host th;
static struct kvm_bus pio, mmio;
static char *dir;

static void setup(void)
{
    test_host_init(&th, RAM);
    memset(&pio, 0, sizeof(pio));
    memset(&mmio, 0, sizeof(mmio));
    dir = g_dir_make_tmp("qv-kvm-virtio-XXXXXX", NULL);
    ck_assert_ptr_nonnull(dir);
}

static void teardown(void)
{
    kvm_bus_clear(&pio);
    kvm_bus_clear(&mmio);
    test_host_clear(&th);
    g_autofree char *img = g_build_filename(dir, "d.img", NULL);
    unlink(img);
    rmdir(dir);
    g_free(dir);
}

static struct qv_domain *parse(const char *devices)
{
    g_autofree char *xml = g_strdup_printf(
        "<domain type='kvm'><name>vdev</name><memory unit='MiB'>16</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64'>hvm</type><kernel>/boot/payload</kernel></os>"
        "<devices>%s</devices></domain>",
        devices);
    struct qv_domain *def = qv_domain_parse_xml(xml);
    ck_assert_msg(def, "%s", qv_last_error()->message);
    qv_domain_fill_defaults(def);
    return def;
}

static struct kvm_board *new_board(void)
{
    static const uint32_t apic[] = {0};
    struct kvm_board_config cfg = {.ram_size = RAM, .ncpus = 1, .max_cpus = 1, .apic_ids = apic};
    struct kvm_board *b = kvm_board_pc_new(&th.host, &cfg, &pio, &mmio);
    ck_assert_msg(b, "%s", qv_last_error()->message);
    return b;
}

static uint32_t mmio_read32(uint64_t addr)
{
    uint8_t d[4] = {0};
    ck_assert_msg(kvm_bus_dispatch(&mmio, addr, d, 4, false), "nothing at 0x%llx",
                  (unsigned long long)addr);
    return (uint32_t)kvm_bus_get(d, 4);
}

/* How many of this process's descriptors refer to path. */
static int fds_on(const char *path)
{
    int n = 0;
    GDir *d = g_dir_open("/proc/self/fd", 0, NULL);
    ck_assert_ptr_nonnull(d);
    const char *e;
    while ((e = g_dir_read_name(d))) {
        g_autofree char *link = g_strdup_printf("/proc/self/fd/%s", e);
        g_autofree char *target = g_file_read_link(link, NULL);
        n += target && strcmp(target, path) == 0;
    }
    g_dir_close(d);
    return n;
}

START_TEST(definition_devices_at_their_windows)
{
    g_autofree char *img = g_build_filename(dir, "d.img", NULL);
    int fd = open(img, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, 1 << 20), 0);
    close(fd);
    g_autofree char *devices = g_strdup_printf(
        "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='%s'/>"
        "<target dev='vda' bus='virtio'/></disk>"
        "<interface type='user'><mac address='52:54:00:aa:bb:cc'/><model type='virtio'/>"
        "</interface>"
        "<rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>",
        img);
    g_autoptr(qv_domain) def = parse(devices);
    ck_assert_msg(kvm_domain_check(def) == 0, "%s", qv_last_error()->message);

    struct kvm_machine m = {.def = def, .host = th.host};
    m.board = new_board();
    ck_assert_msg(kvm_virtio_devices_add(&m) == 0, "%s", qv_last_error()->message);
    ck_assert_uint_eq(kvm_board_virtio_count(m.board), 3);
    const struct kvm_board_slot *slots = kvm_board_virtio_slots(m.board);
    static const uint32_t ids[] = {2 /* block */, 1 /* net */, 4 /* entropy */};
    for (int i = 0; i < 3; i++) {
        ck_assert_uint_eq(slots[i].base, KVM_BOARD_VIRTIO_BASE + i * KVM_BOARD_VIRTIO_STEP);
        ck_assert_uint_eq(mmio_read32(slots[i].base + 0x000), 0x74726976); /* "virt" */
        ck_assert_uint_eq(mmio_read32(slots[i].base + 0x004), 2);          /* Version */
        ck_assert_uint_eq(mmio_read32(slots[i].base + 0x008), ids[i]);
    }
    /* The disk's capacity (config offset 0, in 512-byte sectors) and the
     * NIC's MAC (config offset 0) come from the definition. */
    ck_assert_uint_eq(mmio_read32(slots[0].base + 0x100), (1 << 20) / 512);
    uint8_t mac[4];
    kvm_bus_put(mac, 4, mmio_read32(slots[1].base + 0x100));
    ck_assert_uint_eq(mac[0], 0x52);
    ck_assert_uint_eq(mac[3], 0xaa);
    g_autofree char *ann = kvm_board_announce(slots, 3);
    ck_assert_str_eq(ann, "virtio_mmio.device=0x200@0xe0000000:5 "
                          "virtio_mmio.device=0x200@0xe0000200:10 "
                          "virtio_mmio.device=0x200@0xe0000400:11");
    /* The VM stopping releases the image: no descriptor of this process
     * refers to it any more. */
    ck_assert_int_eq(fds_on(img), 1);
    kvm_board_release_virtio(m.board);
    ck_assert_int_eq(fds_on(img), 0);
    kvm_board_free(m.board);
}
END_TEST

START_TEST(missing_image_fails_naming_the_disk)
{
    g_autofree char *devices =
        g_strdup_printf("<rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>"
                        "<disk type='file' device='disk'><source file='%s/absent.img'/>"
                        "<target dev='vdb' bus='virtio'/></disk>",
                        dir);
    g_autoptr(qv_domain) def = parse(devices);
    ck_assert_msg(kvm_domain_check(def) == 0, "%s", qv_last_error()->message);
    struct kvm_machine m = {.def = def, .host = th.host};
    m.board = new_board();
    ck_assert_int_lt(kvm_virtio_devices_add(&m), 0);
    ck_assert_msg(strstr(qv_last_error()->message, "vdb") &&
                      strstr(qv_last_error()->message, "absent.img"),
                  "%s", qv_last_error()->message);
    kvm_board_free(m.board);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kvm_virtio_devices");
    TCase *tc = tcase_create("devices");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, definition_devices_at_their_windows);
    tcase_add_test(tc, missing_image_fails_naming_the_disk);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
