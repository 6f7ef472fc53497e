/* The kernel loaders over plain memory: no /dev/kvm needed, so these run on
 * every host. Real payloads (tests/guests) load where they should; crafted
 * images that would overlap the loader's own structures, the holes or each
 * other are refused naming both; corrupted images never crash. */
#include <check.h>
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/kvm/loaders/image.h"
#include "kvm_util.h"
#include "lib/util/error.h"

#define RAM (64ull << 20)

static uint8_t *ram;

static uint32_t rd32(uint64_t gpa)
{
    uint32_t v;
    memcpy(&v, ram + gpa, 4);
    return v;
}

static uint64_t rd64(uint64_t gpa)
{
    uint64_t v;
    memcpy(&v, ram + gpa, 8);
    return v;
}

/* Load img as path with an optional cmdline and initrd; 0 or the error. */
static int load(const char *path, const void *img, size_t len, const char *cmdline,
                const char *initrd, const void *rd, size_t rlen, struct kvm_ld_entry *entry)
{
    memset(ram, 0xcc, 2 << 20); /* the low 2 MiB: whatever was there before */
    struct kvm_ld ld;
    kvm_ld_init(&ld, ram, RAM, path);
    ld.cmdline = cmdline;
    ld.initrd = initrd;
    ld.initrd_data = rd;
    ld.initrd_len = rlen;
    qv_reset_error();
    int rc = kvm_ld_load(&ld, img, len);
    if (entry)
        *entry = ld.entry;
    kvm_ld_clear(&ld);
    return rc;
}

static void expect_refused(const char *path, const void *img, size_t len, const char *cmdline,
                           const char *initrd, size_t rlen, const char *what)
{
    g_autofree uint8_t *rd = g_malloc0(rlen ? rlen : 1);
    ck_assert_int_lt(load(path, img, len, cmdline, initrd, rd, rlen, NULL), 0);
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_INVALID_ARG);
    const char *msg = qv_last_error()->message;
    ck_assert_msg(strstr(msg, what), "expected \"%s\" in: %s", what, msg);
    ck_assert_msg(strstr(msg, path) || (initrd && strstr(msg, initrd)), "no file named in: %s",
                  msg);
}

/* An ELF (64-bit, or 32-bit with a multiboot header) with one PT_LOAD per
 * {paddr, filesz, memsz} triple, entry at the first. */
static uint8_t *craft_elf(bool is64, const uint64_t (*seg)[3], unsigned n, size_t *len)
{
    size_t eh = is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
    size_t ph = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
    size_t data = 0x1000; /* segment bytes start here */
    size_t total = data;
    for (unsigned i = 0; i < n; i++)
        total += seg[i][1];
    uint8_t *f = g_malloc0(total);
    memcpy(f, ELFMAG, SELFMAG);
    f[EI_CLASS] = is64 ? ELFCLASS64 : ELFCLASS32;
    f[EI_DATA] = ELFDATA2LSB;
    f[EI_VERSION] = EV_CURRENT;
    size_t off = data;
    if (is64) {
        Elf64_Ehdr h = {.e_type = ET_EXEC,
                        .e_machine = EM_X86_64,
                        .e_version = EV_CURRENT,
                        .e_entry = seg[0][0],
                        .e_phoff = eh,
                        .e_ehsize = eh,
                        .e_phentsize = ph,
                        .e_phnum = n};
        memcpy(h.e_ident, f, EI_NIDENT);
        memcpy(f, &h, eh);
        for (unsigned i = 0; i < n; i++) {
            Elf64_Phdr p = {.p_type = PT_LOAD,
                            .p_offset = off,
                            .p_vaddr = seg[i][0],
                            .p_paddr = seg[i][0],
                            .p_filesz = seg[i][1],
                            .p_memsz = seg[i][2]};
            memcpy(f + eh + i * ph, &p, ph);
            off += seg[i][1];
        }
    } else {
        Elf32_Ehdr h = {.e_type = ET_EXEC,
                        .e_machine = EM_386,
                        .e_version = EV_CURRENT,
                        .e_entry = (uint32_t)seg[0][0],
                        .e_phoff = eh,
                        .e_ehsize = eh,
                        .e_phentsize = ph,
                        .e_phnum = n};
        memcpy(h.e_ident, f, EI_NIDENT);
        memcpy(f, &h, eh);
        for (unsigned i = 0; i < n; i++) {
            Elf32_Phdr p = {.p_type = PT_LOAD,
                            .p_offset = off,
                            .p_vaddr = seg[i][0],
                            .p_paddr = seg[i][0],
                            .p_filesz = seg[i][1],
                            .p_memsz = seg[i][2]};
            memcpy(f + eh + i * ph, &p, ph);
            off += seg[i][1];
        }
        /* A multiboot header (no flags) in the first 8 KiB. */
        uint32_t mb[3] = {0x1BADB002u, 0, (uint32_t)-0x1BADB002u};
        memcpy(f + 0x800, mb, sizeof(mb));
    }
    *len = total;
    return f;
}

START_TEST(multiboot_payload_layout)
{
    g_autoptr(GBytes) k = kvm_test_load("hello.elf");
    gsize len;
    const uint8_t *p = g_bytes_get_data(k, &len);
    const char rd[] = "INITRD-OK\n";
    struct kvm_ld_entry e;
    ck_assert_int_eq(
        load("/k/hello.elf", p, len, "console=ttyS0", "/k/initrd", rd, sizeof(rd) - 1, &e), 0);
    ck_assert(!e.long_mode);
    ck_assert_uint_eq(e.rax, 0x2BADB002u);
    ck_assert_uint_eq(e.rbx, BOOT_MB_INFO);
    ck_assert_uint_ge(e.rip, BOOT_HIGH);
    ck_assert_str_eq((char *)ram + BOOT_CMDLINE, "/k/hello.elf console=ttyS0");
    uint32_t flags = rd32(BOOT_MB_INFO);
    ck_assert(flags & (1 << 3)); /* modules */
    ck_assert_uint_eq(rd32(BOOT_MB_INFO + 20), 1);
    uint32_t mods = rd32(BOOT_MB_INFO + 24);
    uint32_t start = rd32(mods), end = rd32(mods + 4);
    ck_assert_uint_ge(start, BOOT_HIGH);
    ck_assert_uint_eq(start & 0xfff, 0);
    ck_assert_uint_eq(end - start, sizeof(rd) - 1);
    ck_assert_int_eq(memcmp(ram + start, rd, sizeof(rd) - 1), 0);
    ck_assert_str_eq((char *)ram + rd32(mods + 8), "/k/initrd");
    /* QEMU's multiboot entry: 32-bit code at 0x08 (not yet accessed) and
     * data at 0x10; ECX the entry; a stack at 0x6f08; the IVT's limit. */
    ck_assert_uint_eq(rd64(BOOT_GDT + 8), 0x00cf9a000000ffffull);
    ck_assert_uint_eq(rd64(BOOT_GDT + 16), 0x00cf93000000ffffull);
    ck_assert_uint_eq(e.cs, 0x08);
    ck_assert_uint_eq(e.ds, 0x10);
    ck_assert_uint_eq(e.gdt_limit, 0x27);
    ck_assert_uint_eq(e.idt_limit, 0x3ff);
    ck_assert_uint_eq(e.rcx, e.rip);
    ck_assert_uint_eq(e.rsp, 0x6f08);
}
END_TEST

START_TEST(elf64_and_bzimage_payload_layout)
{
    g_autoptr(GBytes) k = kvm_test_load("hello64.elf");
    gsize len;
    const uint8_t *p = g_bytes_get_data(k, &len);
    struct kvm_ld_entry e;
    ck_assert_msg(load("/k/hello64.elf", p, len, NULL, NULL, NULL, 0, &e) == 0, "%s",
                  qv_last_error()->message);
    ck_assert(e.long_mode);
    ck_assert_uint_eq(e.rsp, BOOT_STACK);
    Elf64_Ehdr eh;
    memcpy(&eh, p, sizeof(eh));
    ck_assert_uint_eq(e.rip, eh.e_entry);
    ck_assert_uint_eq(rd64(BOOT_PML4), (BOOT_PML4 + 0x1000) | 3);
    ck_assert_uint_eq(rd64(BOOT_PML4 + 0x2000 + 8), (2ull << 20) | 0x83);

    g_autoptr(GBytes) bz = kvm_test_load("bzimage.bin");
    p = g_bytes_get_data(bz, &len);
    const char rd[] = "RAMDISK";
    ck_assert_int_eq(load("/k/bzImage", p, len, "console=ttyS0", "/k/rd", rd, 7, &e), 0);
    ck_assert(e.long_mode);
    ck_assert_uint_eq(e.rip, BOOT_HIGH + 0x200);
    ck_assert_uint_eq(e.rsi, BOOT_ZERO_PAGE);
    ck_assert_uint_eq(rd32(BOOT_ZERO_PAGE + 0x228), BOOT_CMDLINE);
    ck_assert_str_eq((char *)ram + BOOT_CMDLINE, "console=ttyS0");
    uint32_t at = rd32(BOOT_ZERO_PAGE + 0x218);
    ck_assert_uint_eq(rd32(BOOT_ZERO_PAGE + 0x21c), 7);
    ck_assert_int_eq(memcmp(ram + at, rd, 7), 0);
    ck_assert_uint_eq(ram[BOOT_ZERO_PAGE + 0x1e8], 4); /* e820 entries for 64 MiB */
}
END_TEST

/* cmdline_size 0xffffffff wrapped to 0 in 32 bits and refused every
 * command line; in 64 bits it allows up to the loader's own limit. */
START_TEST(bzimage_cmdline_size_max)
{
    g_autoptr(GBytes) bz = kvm_test_load("bzimage.bin");
    gsize len;
    const uint8_t *p = g_bytes_get_data(bz, &len);
    g_autofree uint8_t *img = g_memdup2(p, len);
    memset(img + 0x238, 0xff, 4);
    ck_assert_int_eq(load("/k/bz", img, len, "console=ttyS0", NULL, NULL, 0, NULL), 0);
    ck_assert_str_eq((char *)ram + BOOT_CMDLINE, "console=ttyS0");
    g_autofree char *huge = g_strnfill(BOOT_CMDLINE_MAX, 'x');
    expect_refused("/k/bz", img, len, huge, NULL, 0, "at most 65535 bytes");
    /* A kernel's own smaller limit holds. */
    memset(img + 0x238, 0, 4);
    img[0x238] = 4;
    expect_refused("/k/bz", img, len, "console=ttyS0", NULL, 0, "at most 4 bytes; it is 13");
}
END_TEST

START_TEST(segments_overlapping_boot_structures)
{
    struct {
        bool is64;
        uint64_t seg[2][3];
        unsigned n;
        const char *what;
    } cases[] = {
        {true,
         {{0x9000, 0x100, 0x1000}},
         1,
         "ELF segment 0 (0x9000-0x9fff) overlaps the boot page tables (0x9000-0xefff)"},
        {true, {{0x7f000, 0x10, 0x2000}}, 1, "overlaps the boot stack (0x7c000-0x7ffff)"},
        {true, {{0x400, 0x200, 0x200}}, 1, "overlaps the boot GDT (0x500-0x527)"},
        {true,
         {{0x9f000, 0x100, 0x1000}},
         1,
         "ELF segment 0 (0x9f000-0x9ffff) overlaps the EBDA, VGA and BIOS area "
         "(0x9fc00-0xfffff)"},
        {true, {{0xf0000, 0x10, 0x10}}, 1, "overlaps the EBDA, VGA and BIOS area"},
        {true,
         {{0x100000, 0x100, 0x2000}, {0x101000, 0x100, 0x100}},
         2,
         "ELF segment 1 (0x101000-0x1010ff) overlaps ELF segment 0 (0x100000-0x101fff)"},
        {true,
         {{0x100000, 0x100, 0x100}, {0x8000000, 0x100, 0x100}},
         2,
         "ELF segment 1 (0x100 bytes at 0x8000000) does not fit in the VM's 64 MiB of RAM"},
        {false, {{0x9000, 0x100, 0x100}}, 1, "overlaps the multiboot information (0x9000-0x9fff)"},
        {false, {{0x6000, 0x100, 0x100}}, 1, "overlaps the multiboot stack (0x5f08-0x6f07)"},
        {false, {{0x1f000, 0x100, 0x2000}}, 1, "overlaps the command line (0x20000-"},
        {false, {{0x500, 0x10, 0x10}}, 1, "overlaps the boot GDT"},
        /* Multiboot kernels run with paging off: no page tables to hit. */
        {false, {{0xa000, 0x10, 0x10}}, 1, NULL},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        size_t len;
        g_autofree uint8_t *f = craft_elf(cases[i].is64, cases[i].seg, cases[i].n, &len);
        if (!cases[i].what) {
            ck_assert_msg(load("/k/crafted", f, len, NULL, NULL, NULL, 0, NULL) == 0,
                          "case %zu: %s", i, qv_last_error()->message);
            continue;
        }
        expect_refused("/k/crafted", f, len, NULL, NULL, 0, cases[i].what);
    }
}
END_TEST

/* A multiboot a.out-kludge image: load_addr and friends in the header. */
START_TEST(multiboot_aout_overlaps)
{
    uint8_t img[0x2000] = {0};
    uint32_t hdr[8] = {0x1BADB002u, 0x10000, (uint32_t) - (0x1BADB002u + 0x10000), 0x500, 0x500, 0,
                       0,           0x500};
    memcpy(img, hdr, sizeof(hdr));
    expect_refused("/k/aout", img, sizeof(img), NULL, NULL, 0,
                   "the multiboot image (0x500-0x24ff) overlaps the boot GDT (0x500-0x527)");
    /* bss_end reaching into the hole. */
    hdr[3] = hdr[4] = hdr[7] = 0x90000;
    hdr[6] = 0xa0000;
    memcpy(img, hdr, sizeof(hdr));
    expect_refused("/k/aout", img, sizeof(img), NULL, NULL, 0,
                   "(0x90000-0x9ffff) overlaps the EBDA, VGA and BIOS area");
    /* At 1 MiB it loads, bss zeroed. */
    hdr[3] = hdr[4] = hdr[7] = 0x100000;
    hdr[6] = 0x104000;
    memcpy(img, hdr, sizeof(hdr));
    ck_assert_int_eq(load("/k/aout", img, sizeof(img), NULL, NULL, NULL, 0, NULL), 0);
    ck_assert_uint_eq(ram[0x103000], 0);
    ck_assert_uint_eq(rd32(0x100000), 0x1BADB002u);
}
END_TEST

START_TEST(initrds_and_modules_that_do_not_fit)
{
    g_autoptr(GBytes) k = kvm_test_load("hello.elf");
    gsize len;
    const uint8_t *p = g_bytes_get_data(k, &len);
    expect_refused("/k/hello.elf", p, len, NULL, "/k/big-initrd", RAM, "does not fit below");
    g_autoptr(GBytes) bz = kvm_test_load("bzimage.bin");
    const uint8_t *b = g_bytes_get_data(bz, &len);
    expect_refused("/k/bz", b, len, NULL, "/k/big-initrd", RAM - (1 << 20),
                   "does not fit between the kernel");
    /* A kernel asking for more room to decompress than there is RAM. */
    g_autofree uint8_t *img = g_memdup2(b, len);
    uint32_t init = 0xfffff000u;
    memcpy(img + 0x260, &init, 4);
    expect_refused("/k/bz", img, len, NULL, NULL, 0, "to decompress");
    /* ELF64 and flat kernels have nowhere to receive either. */
    g_autoptr(GBytes) k64 = kvm_test_load("hello64.elf");
    p = g_bytes_get_data(k64, &len);
    expect_refused("/k/hello64.elf", p, len, NULL, "/k/initrd", 4, "<initrd> /k/initrd needs");
    expect_refused("/k/hello64.elf", p, len, "quiet", NULL, 0, "<cmdline> needs");
    expect_refused("/k/flat.bin", "\x90\x90\xf4", 3, "quiet", NULL, 0, "a flat binary");
    /* A multiboot module path too long for the command line area. */
    g_autoptr(GBytes) mb = kvm_test_load("hello.elf");
    p = g_bytes_get_data(mb, &len);
    g_autofree char *longpath = g_strnfill(BOOT_CMDLINE_MAX, 'i');
    expect_refused("/k/hello.elf", p, len, NULL, longpath, 4, "too long");
}
END_TEST

/* Flipped header bytes and cut files, as kvm_robust does with KVM: every
 * outcome is a load or an error naming the file, never a crash. */
static void corrupt(const char *payload, unsigned seed)
{
    g_autoptr(GBytes) orig = kvm_test_load(payload);
    gsize len;
    const uint8_t *p = g_bytes_get_data(orig, &len);
    GRand *r = g_rand_new_with_seed(seed);
    g_autofree uint8_t *buf = g_malloc(len);
    unsigned failed = 0;
    for (int i = 0; i < 3000; i++) {
        memcpy(buf, p, len);
        int flips = g_rand_int_range(r, 1, 6);
        for (int f = 0; f < flips; f++) {
            gsize at = g_rand_boolean(r) ? (gsize)g_rand_int_range(r, 0, MIN(len, 0x300))
                                         : (gsize)g_rand_int_range(r, 0, (gint32)len);
            buf[at] = (uint8_t)g_rand_int(r);
        }
        gsize cut =
            g_rand_int_range(r, 0, 8) == 0 ? (gsize)g_rand_int_range(r, 0, (gint32)len) : len;
        if (load("/k/corrupt", buf, cut, NULL, NULL, NULL, 0, NULL) < 0) {
            failed++;
            ck_assert_msg(strstr(qv_last_error()->message, "/k/corrupt"), "round %d: %s", i,
                          qv_last_error()->message);
        }
    }
    ck_assert_uint_gt(failed, 0);
    g_rand_free(r);
}

START_TEST(corrupted_payloads)
{
    corrupt("hello.elf", 1);
    corrupt("hello64.elf", 2);
    corrupt("bzimage.bin", 3);
}
END_TEST

int main(void)
{
    ram = g_malloc0(RAM);
    Suite *s = suite_create("kvm_loaders");
    TCase *tc = tcase_create("loaders");
    tcase_set_timeout(tc, 60);
    /* The real payloads need nasm and ld (tests/guests); without them only
     * the crafted images run, and the output says why. */
    g_autofree char *hello = kvm_test_guest("hello.elf");
    if (g_file_test(hello, G_FILE_TEST_EXISTS)) {
        tcase_add_test(tc, multiboot_payload_layout);
        tcase_add_test(tc, elf64_and_bzimage_payload_layout);
        tcase_add_test(tc, bzimage_cmdline_size_max);
        tcase_add_test(tc, initrds_and_modules_that_do_not_fit);
        tcase_add_test(tc, corrupted_payloads);
    } else {
        printf("kvm_loaders: skipping the payload cases: %s was not built (nasm or ld "
               "missing)\n",
               hello);
    }
    tcase_add_test(tc, segments_overlapping_boot_structures);
    tcase_add_test(tc, multiboot_aout_overlaps);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    g_free(ram);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
