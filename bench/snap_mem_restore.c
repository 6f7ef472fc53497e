/* Guest memory in snapshots (drivers/kvm/snapshot/snap_mem.h), on this
 * machine's file system, no /dev/kvm needed:
 *  (1) restore cost: mapping a full memory file of 64 MiB, 256 MiB and
 *      1 GiB (every page data) alone ("map"), and with an increment of 100
 *      pages applied ("restore"), mean of RUNS each, with the ratio
 *      largest/smallest; beside them, what the guest then pays to touch
 *      every page once (the reads the restore did not do; here from the
 *      page cache) and the write of the full file;
 *  (2) increment size after N = 1, 100 and 10,000 touched pages of a
 *      256 MiB guest, against N * 4096.
 * Figures only, no assertions.
 * Usage: snap_mem_restore [DIR] [RUNS]   (DIR defaults to $TMPDIR or /tmp) */
#define _GNU_SOURCE
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "drivers/kvm/snapshot/snap_mem.h"
#include "lib/util/fileio.h"
#include "qv/error.h"

#define PG 4096ull
#define MiB (1024ull * 1024)

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *what)
{
    fprintf(stderr, "snap_mem_restore: %s: %s\n", what, qv_last_error()->message);
    exit(1);
}

static uint8_t *guest_ram(uint64_t size)
{
    uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    return p;
}

/* Every page holds data (the worst case for the full file's size). */
static void fill(uint8_t *p, uint64_t size)
{
    for (uint64_t off = 0; off < size; off += PG)
        for (size_t i = 0; i < PG; i += 64)
            *(uint64_t *)(p + off + i) = off * 31 + i + 1;
}

/* A deterministic spread of n distinct pages out of pages. */
static void touch_pages(uint8_t *p, uint64_t pages, uint64_t n, struct dirty_bitmap *d)
{
    uint64_t x = 12345;
    while (dirty_bitmap_count(d) < n) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t pg = (x >> 20) % pages;
        p[pg * PG + 7] ^= 0x5a;
        dirty_bitmap_set(d, pg);
    }
}

static uint64_t file_bytes(const char *path, uint64_t *blocks)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return 0;
    if (blocks)
        *blocks = (uint64_t)st.st_blocks * 512;
    return (uint64_t)st.st_size;
}

int main(int argc, char **argv)
{
    const char *parent = argc > 1 ? argv[1] : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    int runs = argc > 2 ? atoi(argv[2]) : 20;
    if (runs < 1)
        runs = 1;
    g_autofree char *tmpl = g_build_filename(parent, "qv-snapmem-bench-XXXXXX", NULL);
    char *dir = g_mkdtemp(tmpl);
    if (!dir) {
        perror("mkdtemp");
        return 1;
    }
    g_autofree char *base = g_build_filename(dir, "base.mem", NULL);
    g_autofree char *inc = g_build_filename(dir, "inc.mem", NULL);

    printf("== (1) restore: map the full file MAP_PRIVATE + apply a 100-page increment "
           "(mean of %d), in %s\n",
           runs, parent);
    printf("%-10s %12s %12s %14s %12s\n", "RAM", "map ms", "restore ms", "touch all ms",
           "write ms");
    static const uint64_t sizes[] = {64 * MiB, 256 * MiB, 1024 * MiB};
    double restore_ms[3], map_ms[3];
    for (int s = 0; s < 3; s++) {
        uint64_t size = sizes[s];
        uint8_t *ram = guest_ram(size);
        fill(ram, size);
        struct snap_mem_ram r = {ram, 0, size};
        struct snap_mem_region table;
        double t0 = now_ms();
        if (snap_mem_write_full(base, &r, 1, &table) < 0)
            die("write full");
        double write_ms = now_ms() - t0;
        struct dirty_bitmap *d = dirty_bitmap_new(size / PG);
        touch_pages(ram, size / PG, 100, d);
        if (snap_mem_write_inc(inc, base, &r, 1, &d, NULL) < 0)
            die("write inc");
        dirty_bitmap_free(d);
        munmap(ram, size);

        const char *chain[] = {base, inc};
        struct snap_mem_ram out;
        double sum = 0, touch = 0, map_only = 0;
        for (int i = 0; i < runs; i++) {
            t0 = now_ms();
            if (snap_mem_restore(chain, 1, &table, 1, &out) < 0)
                die("restore");
            map_only += now_ms() - t0;
            snap_mem_unmap(&out, 1);
        }
        for (int i = 0; i < runs; i++) {
            t0 = now_ms();
            if (snap_mem_restore(chain, 2, &table, 1, &out) < 0)
                die("restore");
            sum += now_ms() - t0;
            if (i == 0) {
                /* Reading one byte a page: what the guest pays over its
                 * run for the pages it uses (here from the page cache). */
                volatile uint8_t acc = 0;
                t0 = now_ms();
                for (uint64_t off = 0; off < size; off += PG)
                    acc ^= ((uint8_t *)out.hva)[off];
                touch = now_ms() - t0;
                (void)acc;
            }
            snap_mem_unmap(&out, 1);
        }
        restore_ms[s] = sum / runs;
        map_ms[s] = map_only / runs;
        const char *name = s == 0 ? "64 MiB" : s == 1 ? "256 MiB" : "1 GiB";
        printf("%-10s %12.3f %12.3f %14.1f %12.1f\n", name, map_only / runs, restore_ms[s], touch,
               write_ms);
        unlink(base);
        unlink(inc);
    }
    printf("ratio 1 GiB / 64 MiB: map %.2fx, restore %.2fx (RAM ratio 16x)\n",
           map_ms[2] / map_ms[0], restore_ms[2] / restore_ms[0]);

    printf("\n== (2) increment size after N touched pages of a 256 MiB guest\n");
    printf("%-8s %14s %14s %14s %10s\n", "N", "file bytes", "N*4096", "overhead", "ratio");
    uint64_t size = 256 * MiB;
    uint8_t *ram = guest_ram(size);
    fill(ram, size);
    struct snap_mem_ram r = {ram, 0, size};
    if (snap_mem_write_full(base, &r, 1, NULL) < 0)
        die("write full");
    static const uint64_t ns[] = {1, 100, 10000};
    for (int k = 0; k < 3; k++) {
        struct dirty_bitmap *d = dirty_bitmap_new(size / PG);
        touch_pages(ram, size / PG, ns[k], d);
        if (snap_mem_write_inc(inc, base, &r, 1, &d, NULL) < 0)
            die("write inc");
        dirty_bitmap_free(d);
        uint64_t bytes = file_bytes(inc, NULL), want = ns[k] * PG;
        printf("%-8llu %14llu %14llu %14llu %9.3fx\n", (unsigned long long)ns[k],
               (unsigned long long)bytes, (unsigned long long)want,
               (unsigned long long)(bytes - want), (double)bytes / (double)want);
        unlink(inc);
    }
    munmap(ram, size);
    unlink(base);
    qv_dir_remove_tree(dir);
    return 0;
}
