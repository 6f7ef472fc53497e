/* Guest memory in snapshots (drivers/kvm/snapshot/snap_mem.h), on files and
 * plain memory: what a restore maps is the RAM that was saved, the guest's
 * writes to it never reach the file, zero pages cost no disk, an increment
 * holds exactly the pages written, a chain restores to the newest point,
 * folds keep that true, and damaged files are refused naming the fault.
 * `kvm_snap_mem enospc` runs the full-disk case alone (on a small tmpfs it
 * mounts; exit 77 where it cannot mount one). */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drivers/kvm/snapshot/snap_mem.h"
#include "drivers/kvm/snapshot/snap_mem_format.h"
#include "lib/util/error.h"
#include "lib/util/fileio.h"
#include "private_tmpfs.h"
#include "qv/error.h"

#define PG 4096ull
#define MiB (1024ull * 1024)

static char *dir;

static void setup(void)
{
    dir = g_dir_make_tmp("qv-snapmem-XXXXXX", NULL);
    ck_assert_ptr_nonnull(dir);
}

static void teardown(void)
{
    qv_dir_remove_tree(dir);
    g_free(dir);
}

static char *path(const char *name)
{
    return g_build_filename(dir, name, NULL);
}

static const char *msg(void)
{
    return qv_last_error()->message;
}

/* "Guest RAM": two regions in anonymous memory, the second above 4 GiB. */
struct guest {
    struct snap_mem_ram ram[2];
};

static void guest_init(struct guest *g, uint64_t size0, uint64_t size1)
{
    uint64_t sizes[2] = {size0, size1}, gpas[2] = {0, 0x100000000ull};
    for (int i = 0; i < 2; i++) {
        void *p = mmap(NULL, sizes[i], PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        ck_assert(p != MAP_FAILED);
        g->ram[i] = (struct snap_mem_ram){p, gpas[i], sizes[i]};
    }
}

static void guest_free(struct guest *g)
{
    for (int i = 0; i < 2; i++)
        munmap(g->ram[i].hva, g->ram[i].size);
}

/* A pattern that differs per page and per seed; every 4th page left zero
 * so the file has holes between data. */
static void fill(struct snap_mem_ram *r, uint32_t seed)
{
    for (uint64_t p = 0; p < r->size / PG; p++) {
        uint32_t *w = (uint32_t *)((uint8_t *)r->hva + p * PG);
        if (p % 4 == 3) {
            memset(w, 0, PG);
            continue;
        }
        for (size_t i = 0; i < PG / 4; i++)
            w[i] = seed * 2654435761u ^ (uint32_t)(p * 1024 + i);
    }
}

/* Write one distinctive byte pattern into page p of region r, marking it. */
static void touch(struct snap_mem_ram *r, struct dirty_bitmap *d, uint64_t p, uint8_t v)
{
    memset((uint8_t *)r->hva + p * PG + 100, v, 200);
    ck_assert_int_eq(dirty_bitmap_mark(d, p * PG + 100, 200), 0);
}

/* A copy of the guest's RAM as it is now. */
static uint8_t **copy_ram(const struct guest *g)
{
    uint8_t **c = g_new(uint8_t *, 2);
    for (int i = 0; i < 2; i++)
        c[i] = g_memdup2(g->ram[i].hva, g->ram[i].size);
    return c;
}

static void free_copy(uint8_t **c)
{
    g_free(c[0]);
    g_free(c[1]);
    g_free(c);
}

static void assert_ram(const struct snap_mem_ram *got, uint8_t *const *want, const struct guest *g)
{
    for (int i = 0; i < 2; i++) {
        ck_assert_uint_eq(got[i].gpa, g->ram[i].gpa);
        ck_assert_uint_eq(got[i].size, g->ram[i].size);
        ck_assert_ptr_nonnull(got[i].hva);
        ck_assert_int_eq(memcmp(got[i].hva, want[i], got[i].size), 0);
    }
}

static uint64_t disk_bytes(const char *p)
{
    struct stat st;
    ck_assert_int_eq(stat(p, &st), 0);
    return (uint64_t)st.st_blocks * 512;
}

static uint64_t file_size(const char *p)
{
    struct stat st;
    ck_assert_int_eq(stat(p, &st), 0);
    return (uint64_t)st.st_size;
}

/* The restore of a chain must equal want. */
static void check_chain(const char *const *chain, size_t n, const struct snap_mem_region *table,
                        uint8_t *const *want, const struct guest *g)
{
    struct snap_mem_ram out[2];
    int rc = snap_mem_restore(chain, n, table, 2, out);
    ck_assert_msg(rc == 0, "restore: %s", msg());
    assert_ram(out, want, g);
    snap_mem_unmap(out, 2);
}

START_TEST(full_restore_is_private)
{
    struct guest g;
    guest_init(&g, 4 * MiB, 1 * MiB);
    fill(&g.ram[0], 1);
    fill(&g.ram[1], 2);
    g_autofree char *mem = path("memory");
    struct snap_mem_region table[2];
    ck_assert_int_eq(snap_mem_write_full(mem, g.ram, 2, table), 0);
    ck_assert_uint_eq(table[0].gpa, 0);
    ck_assert_uint_eq(table[0].offset, PG);
    ck_assert_uint_eq(table[1].gpa, 0x100000000ull);
    ck_assert_uint_eq(table[1].offset, PG + 4 * MiB);
    ck_assert_uint_eq(file_size(mem), PG + 5 * MiB);
    struct stat st;
    ck_assert_int_eq(stat(mem, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);

    uint8_t **want = copy_ram(&g);
    const char *chain[] = {mem};
    struct snap_mem_ram out[2];
    ck_assert_int_eq(snap_mem_restore(chain, 1, table, 2, out), 0);
    assert_ram(out, want, &g);
    /* What restore returns is its own mapping, not the saved memory. */
    ck_assert_ptr_ne(out[0].hva, g.ram[0].hva);

    /* The guest writes through the mapping; the file keeps the snapshot. */
    memset(out[0].hva, 0xee, 3 * PG);
    memset((uint8_t *)out[1].hva + PG, 0xdd, PG);
    ck_assert_int_eq(msync(out[0].hva, out[0].size, MS_SYNC), 0);
    int fd = open(mem, O_RDONLY);
    uint8_t page[PG];
    ck_assert_int_eq(pread(fd, page, PG, (off_t)table[0].offset), (ssize_t)PG);
    ck_assert_int_eq(memcmp(page, want[0], PG), 0);
    ck_assert_int_eq(pread(fd, page, PG, (off_t)(table[1].offset + PG)), (ssize_t)PG);
    ck_assert_int_eq(memcmp(page, want[1] + PG, PG), 0);
    close(fd);
    snap_mem_unmap(out, 2);
    ck_assert_ptr_null(out[0].hva);

    /* A second restore still starts from the snapshot. */
    check_chain(chain, 1, table, want, &g);

    /* The table through a state-file field and back. */
    struct snap_out o;
    snap_out_init(&o);
    snap_mem_table_put(&o, table, 2);
    struct snap_in in;
    snap_in_init(&in, "memory", o.bytes->data, o.bytes->len);
    struct snap_mem_region back[4];
    ck_assert_uint_eq(snap_mem_table_get(&in, back, 4), 2);
    ck_assert_int_eq(snap_in_finish(&in), 0);
    ck_assert_int_eq(memcmp(back, table, sizeof table), 0);
    snap_out_clear(&o);

    struct snap_mem_info info;
    ck_assert_int_eq(snap_mem_info(mem, &info), 0);
    ck_assert_int_eq(info.kind, SNAP_MEM_FULL);
    ck_assert_uint_eq(info.nregions, 2);
    free_copy(want);
    guest_free(&g);
}
END_TEST

START_TEST(zero_pages_are_holes)
{
    struct guest g;
    guest_init(&g, 64 * MiB, 1 * MiB); /* untouched: all zero */
    g_autofree char *mem = path("memory");
    struct snap_mem_region table[2];
    ck_assert_int_eq(snap_mem_write_full(mem, g.ram, 2, table), 0);
    ck_assert_uint_eq(file_size(mem), PG + 65 * MiB);
    /* The header page and file system overhead, not 65 MiB. */
    ck_assert_msg(disk_bytes(mem) <= 64 * 1024, "idle guest takes %llu bytes",
                  (unsigned long long)disk_bytes(mem));

    /* 10 data pages take about 10 pages. */
    for (int i = 0; i < 10; i++)
        memset((uint8_t *)g.ram[0].hva + (uint64_t)i * 997 * PG, 0x5a, 1);
    ck_assert_int_eq(snap_mem_write_full(mem, g.ram, 2, table), 0);
    uint64_t used = disk_bytes(mem);
    ck_assert_msg(used >= 11 * PG && used <= 11 * PG + 64 * 1024, "10 data pages take %llu",
                  (unsigned long long)used);
    uint8_t **want = copy_ram(&g);
    const char *chain[] = {mem};
    check_chain(chain, 1, table, want, &g);
    free_copy(want);
    guest_free(&g);
}
END_TEST

/* A base and two increments, with copies of RAM at each point. */
struct chain3 {
    struct guest g;
    char *base, *inc1, *inc2;
    struct snap_mem_region table[2];
    uint8_t **at_base, **at1, **at2;
    uint64_t n1, n2, union12;
};

static void chain3_make(struct chain3 *c)
{
    guest_init(&c->g, 4 * MiB, 1 * MiB);
    fill(&c->g.ram[0], 7);
    fill(&c->g.ram[1], 8);
    c->base = path("base.mem");
    c->inc1 = path("inc1.mem");
    c->inc2 = path("inc2.mem");
    ck_assert_int_eq(snap_mem_write_full(c->base, c->g.ram, 2, c->table), 0);
    c->at_base = copy_ram(&c->g);

    struct dirty_bitmap *d[2] = {dirty_bitmap_new(1024), dirty_bitmap_new(256)};
    /* inc1: a run of 20 pages, 10 scattered, and a page of region 1 that
     * was zero (a hole in the base). */
    for (uint64_t p = 100; p < 120; p++)
        touch(&c->g.ram[0], d[0], p, 0x11);
    for (uint64_t p = 0; p < 10; p++)
        touch(&c->g.ram[0], d[0], 500 + p * 37, 0x12);
    touch(&c->g.ram[1], d[1], 3, 0x13);
    c->n1 = dirty_bitmap_count(d[0]) + dirty_bitmap_count(d[1]);
    ck_assert_uint_eq(c->n1, 31);
    struct snap_mem_region t1[2];
    ck_assert_int_eq(snap_mem_write_inc(c->inc1, c->base, c->g.ram, 2, d, t1), 0);
    /* An increment's table is its chain's. */
    ck_assert_int_eq(memcmp(t1, c->table, sizeof t1), 0);
    c->at1 = copy_ram(&c->g);

    /* inc2: half of inc1's run again, new pages, and the last page. */
    dirty_bitmap_clear_all(d[0]);
    dirty_bitmap_clear_all(d[1]);
    for (uint64_t p = 110; p < 130; p++)
        touch(&c->g.ram[0], d[0], p, 0x21);
    touch(&c->g.ram[0], d[0], 1023, 0x22);
    touch(&c->g.ram[1], d[1], 255, 0x23);
    c->n2 = dirty_bitmap_count(d[0]) + dirty_bitmap_count(d[1]);
    ck_assert_uint_eq(c->n2, 22);
    c->union12 = 31 + 22 - 10;
    ck_assert_int_eq(snap_mem_write_inc(c->inc2, c->inc1, c->g.ram, 2, d, NULL), 0);
    c->at2 = copy_ram(&c->g);
    dirty_bitmap_free(d[0]);
    dirty_bitmap_free(d[1]);
    /* After the snapshot the guest runs on: none of this is in any file. */
    fill(&c->g.ram[0], 99);
}

static void chain3_free(struct chain3 *c)
{
    free_copy(c->at_base);
    free_copy(c->at1);
    free_copy(c->at2);
    g_free(c->base);
    g_free(c->inc1);
    g_free(c->inc2);
    guest_free(&c->g);
}

START_TEST(increments_hold_written_pages)
{
    struct chain3 c;
    chain3_make(&c);
    /* Header (fits in one page for this few) plus exactly the pages. */
    ck_assert_uint_eq(file_size(c.inc1), PG + 31 * PG);
    ck_assert_uint_eq(file_size(c.inc2), PG + 22 * PG);
    struct snap_mem_info i1, i2, b;
    ck_assert_int_eq(snap_mem_info(c.base, &b), 0);
    ck_assert_int_eq(snap_mem_info(c.inc1, &i1), 0);
    ck_assert_int_eq(snap_mem_info(c.inc2, &i2), 0);
    ck_assert_int_eq(i1.kind, SNAP_MEM_INC);
    ck_assert_uint_eq(i1.pages, 31);
    ck_assert_uint_eq(i2.pages, 22);
    ck_assert_int_eq(memcmp(i1.parent, b.id, SNAP_MEM_ID_LEN), 0);
    ck_assert_int_eq(memcmp(i2.parent, i1.id, SNAP_MEM_ID_LEN), 0);

    const char *full[] = {c.base, c.inc1, c.inc2};
    check_chain(full, 3, c.table, c.at2, &c.g);
    check_chain(full, 2, c.table, c.at1, &c.g);
    check_chain(full, 1, c.table, c.at_base, &c.g);

    /* A chain with a link missing or out of order is refused. */
    struct snap_mem_ram out[2] = {{(void *)1, 0, 0}, {(void *)1, 0, 0}};
    const char *skip[] = {c.base, c.inc2};
    ck_assert_int_eq(snap_mem_restore(skip, 2, c.table, 2, out), QV_ERR_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(msg(), c.inc2));
    ck_assert_ptr_nonnull(strstr(msg(), "out of order or misses a file"));
    ck_assert_ptr_null(out[0].hva); /* nothing left mapped */
    const char *swapped[] = {c.base, c.inc2, c.inc1};
    ck_assert_int_eq(snap_mem_restore(swapped, 3, c.table, 2, out), QV_ERR_PROTOCOL);
    const char *no_base[] = {c.inc1};
    ck_assert_int_eq(snap_mem_restore(no_base, 1, c.table, 2, out), QV_ERR_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(msg(), "starts from a full one"));
    const char *no_file[] = {c.base, "/nonexistent/inc"};
    ck_assert_int_eq(snap_mem_restore(no_file, 2, c.table, 2, out), QV_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(msg(), "/nonexistent/inc"));
    /* The state file's table must describe the memory file. */
    struct snap_mem_region wrong[2] = {c.table[0], c.table[1]};
    wrong[1].gpa += PG;
    ck_assert_int_eq(snap_mem_restore(full, 3, wrong, 2, out), QV_ERR_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(msg(), "the snapshot names gpa 0x100001000"));
    /* An increment on a parent of another shape. */
    struct snap_mem_ram other[1] = {c.g.ram[0]};
    struct dirty_bitmap *d = dirty_bitmap_new(1024);
    g_autofree char *bad = path("bad.mem");
    ck_assert_int_eq(snap_mem_write_inc(bad, c.base, other, 1, &d, NULL), QV_ERR_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(msg(), "holds 2 memory regions, the VM has 1"));
    ck_assert(!g_file_test(bad, G_FILE_TEST_EXISTS));
    dirty_bitmap_free(d);
    chain3_free(&c);
}
END_TEST

START_TEST(fold_base_into_child)
{
    struct chain3 c;
    chain3_make(&c);
    struct snap_mem_info before, after;
    ck_assert_int_eq(snap_mem_info(c.inc1, &before), 0);
    ck_assert_int_eq(snap_mem_fold_base(c.base, c.inc1), 0);
    ck_assert_int_eq(snap_mem_info(c.inc1, &after), 0);
    ck_assert_int_eq(after.kind, SNAP_MEM_FULL);
    /* Same id: inc2 still links to it. */
    ck_assert_int_eq(memcmp(after.id, before.id, SNAP_MEM_ID_LEN), 0);
    const char *c2[] = {c.inc1, c.inc2};
    check_chain(c2, 2, c.table, c.at2, &c.g);
    check_chain(c2, 1, c.table, c.at1, &c.g);
    /* Killed between the fold and the delete: the chain still names the
     * base, and restores from the newest full file in it. */
    const char *c3[] = {c.base, c.inc1, c.inc2};
    check_chain(c3, 3, c.table, c.at2, &c.g);
    check_chain(c3, 1, c.table, c.at_base, &c.g);
    /* A second fold finds nothing to do: inc1 no longer builds on base. */
    ck_assert_int_eq(snap_mem_fold_base(c.base, c.inc1), QV_ERR_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(msg(), "is a full image, not an increment"));
    ck_assert_int_eq(g_unlink(c.base), 0);
    check_chain(c2, 2, c.table, c.at2, &c.g);
    /* The folded file keeps the base's holes: about as much disk as the
     * base had, not the RAM size. */
    ck_assert_uint_le(disk_bytes(c.inc1), 5 * MiB * 3 / 4 + 128 * 1024);
    /* Nothing left behind in the directory but the files. */
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *e;
    int n = 0;
    while ((e = g_dir_read_name(d)))
        n++;
    ck_assert_int_eq(n, 2);
    chain3_free(&c);
}
END_TEST

START_TEST(fold_middle_increment)
{
    struct chain3 c;
    chain3_make(&c);
    ck_assert_int_eq(snap_mem_fold_inc(c.inc1, c.inc2), 0);
    ck_assert_int_eq(g_unlink(c.inc1), 0);
    struct snap_mem_info b, i2;
    ck_assert_int_eq(snap_mem_info(c.base, &b), 0);
    ck_assert_int_eq(snap_mem_info(c.inc2, &i2), 0);
    ck_assert_int_eq(i2.kind, SNAP_MEM_INC);
    ck_assert_uint_eq(i2.pages, c.union12);
    ck_assert_int_eq(memcmp(i2.parent, b.id, SNAP_MEM_ID_LEN), 0);
    const char *c2[] = {c.base, c.inc2};
    check_chain(c2, 2, c.table, c.at2, &c.g);
    /* And then the base folds into the merged increment. */
    ck_assert_int_eq(snap_mem_fold_base(c.base, c.inc2), 0);
    const char *c1[] = {c.inc2};
    check_chain(c1, 1, c.table, c.at2, &c.g);
    /* Folding files that do not link is refused, the target untouched. */
    ck_assert_int_eq(snap_mem_fold_inc(c.inc2, c.base), QV_ERR_INVALID_ARG);
    chain3_free(&c);
}
END_TEST

START_TEST(fold_wrong_pair_refused)
{
    struct chain3 c;
    chain3_make(&c);
    /* inc2 does not build on base. */
    ck_assert_int_eq(snap_mem_fold_base(c.base, c.inc2), QV_ERR_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(msg(), "out of order or misses a file"));
    ck_assert_int_eq(snap_mem_fold_base(c.inc1, c.inc2), QV_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(msg(), "not a full image"));
    const char *full[] = {c.base, c.inc1, c.inc2};
    check_chain(full, 3, c.table, c.at2, &c.g);
    chain3_free(&c);
}
END_TEST

/* Six snapshots (a base and five increments) of random writes, some of
 * them zeroing a page the base holds data for; then snapshots deleted in
 * a random order, each folded into the one that depends on it as
 * snapshot_delete will do. After every delete, every snapshot left must
 * restore to the RAM it was taken from. */
START_TEST(random_chain_and_folds)
{
    enum { SNAPS = 6 };
    GRand *rng = g_rand_new_with_seed(0x5eed + (guint32)_i);
    struct guest g;
    guest_init(&g, 2 * MiB, 256 * 1024);
    fill(&g.ram[0], 11);
    fill(&g.ram[1], 12);
    char *files[SNAPS];
    uint8_t **at[SNAPS];
    struct snap_mem_region table[2];
    files[0] = path("s0");
    ck_assert_int_eq(snap_mem_write_full(files[0], g.ram, 2, table), 0);
    at[0] = copy_ram(&g);
    for (int k = 1; k < SNAPS; k++) {
        struct dirty_bitmap *d[2] = {dirty_bitmap_new(512), dirty_bitmap_new(64)};
        int writes = g_rand_int_range(rng, 1, 40);
        for (int w = 0; w < writes; w++) {
            int r = g_rand_int_range(rng, 0, 8) == 0; /* region 1 now and then */
            uint64_t pages = g.ram[r].size / PG;
            uint64_t p = (uint64_t)g_rand_int_range(rng, 0, (gint32)pages);
            uint64_t run = (uint64_t)g_rand_int_range(rng, 1, 6);
            for (uint64_t q = p; q < p + run && q < pages; q++) {
                if (g_rand_int_range(rng, 0, 4) == 0) {
                    memset((uint8_t *)g.ram[r].hva + q * PG, 0, PG);
                    dirty_bitmap_mark(d[r], q * PG, PG);
                } else {
                    touch(&g.ram[r], d[r], q, (uint8_t)(k * 16 + w));
                }
            }
        }
        files[k] = g_strdup_printf("%s/s%d", dir, k);
        ck_assert_int_eq(snap_mem_write_inc(files[k], files[k - 1], g.ram, 2, d, NULL), 0);
        at[k] = copy_ram(&g);
        dirty_bitmap_free(d[0]);
        dirty_bitmap_free(d[1]);
    }
    int live[SNAPS], nlive = SNAPS;
    for (int k = 0; k < SNAPS; k++)
        live[k] = k;
    while (nlive > 1) {
        int v = g_rand_int_range(rng, 0, nlive);
        const char *victim = files[live[v]];
        if (v + 1 < nlive) {
            const char *next = files[live[v + 1]];
            int rc = v == 0 ? snap_mem_fold_base(victim, next) : snap_mem_fold_inc(victim, next);
            ck_assert_msg(rc == 0, "fold %s into %s: %s", victim, next, msg());
        }
        ck_assert_int_eq(g_unlink(victim), 0);
        memmove(&live[v], &live[v + 1], (size_t)(nlive - v - 1) * sizeof(int));
        nlive--;
        const char *chain[SNAPS];
        for (int j = 0; j < nlive; j++)
            chain[j] = files[live[j]];
        for (int j = 0; j < nlive; j++)
            check_chain(chain, (size_t)j + 1, table, at[live[j]], &g);
    }
    for (int k = 0; k < SNAPS; k++) {
        g_free(files[k]);
        free_copy(at[k]);
    }
    g_rand_free(rng);
    guest_free(&g);
}
END_TEST

/* Damage to an increment: each case changes a copy and expects restore
 * (and snap_mem_info) to refuse it with QV_ERR_PROTOCOL, naming the file
 * and the fault. */
static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void expect_refused(struct chain3 *c, const uint8_t *bytes, size_t len, const char *fault)
{
    g_autofree char *bad = path("damaged.mem");
    ck_assert_int_eq(g_file_set_contents(bad, (const char *)bytes, (gssize)len, NULL), TRUE);
    struct snap_mem_ram out[2] = {{(void *)1, 0, 0}, {(void *)1, 0, 0}};
    const char *chain[] = {c->base, bad};
    ck_assert_int_eq(snap_mem_restore(chain, 2, c->table, 2, out), QV_ERR_PROTOCOL);
    ck_assert_msg(strstr(msg(), bad) && strstr(msg(), fault), "want '%s', got: %s", fault, msg());
    ck_assert_ptr_null(out[0].hva);
    struct snap_mem_info info;
    ck_assert_int_eq(snap_mem_info(bad, &info), QV_ERR_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(msg(), fault));
}

/* Offsets in an increment's header (snap_mem_format.h). */
enum { O_VERSION = 8, O_PAGE = 12, O_ID = 16, O_NREG = 48, O_REG = 56, R_LEN = 24 };

START_TEST(damaged_increment_refused)
{
    struct chain3 c;
    chain3_make(&c);
    gchar *orig;
    gsize len;
    ck_assert(g_file_get_contents(c.inc1, &orig, &len, NULL));
    uint8_t *b = g_memdup2(orig, len);
    /* Where inc1's lists start: after 2 regions; region 0 lists 30. */
    size_t lists = O_REG + 2 * R_LEN;
#define RESET() memcpy(b, orig, len)

    /* Cut short anywhere: header, lists, digest or pages. */
    size_t cuts[] = {0, 7, 40, O_REG + 10, lists + 8, lists + 31 * 8 + 5, PG, len - PG, len - 1};
    for (size_t i = 0; i < G_N_ELEMENTS(cuts); i++) {
        const char *fault = cuts[i] < O_REG        ? "shorter than a memory file header"
                            : cuts[i] < lists + 32 ? "shorter than its table"
                                                   : "truncated";
        expect_refused(&c, b, cuts[i], fault);
    }
    /* A byte too many. */
    uint8_t *longer = g_malloc(len + 1);
    memcpy(longer, orig, len);
    longer[len] = 0;
    expect_refused(&c, longer, len + 1, "extra bytes at the end");
    g_free(longer);

    RESET();
    b[0] = 'X';
    expect_refused(&c, b, len, "bad magic");
    RESET();
    put32(b + O_VERSION, 2);
    expect_refused(&c, b, len, "format version 2");
    RESET();
    put32(b + O_PAGE, 8192);
    expect_refused(&c, b, len, "page size 8192");
    RESET();
    put32(b + O_NREG, 0);
    expect_refused(&c, b, len, "names 0 regions");
    RESET();
    put32(b + O_NREG, 100000);
    expect_refused(&c, b, len, "names 100000 regions");
    /* A page count the region cannot have, and one that claims a huge
     * list (refused by the size check before anything is allocated). */
    RESET();
    put64(b + O_REG + 16, 1025);
    expect_refused(&c, b, len, "region 0 lists 1025 pages");
    RESET();
    put64(b + O_REG + R_LEN + 8, SNAP_MEM_MAX_REGION_BYTES);
    put64(b + O_REG + R_LEN + 16, SNAP_MEM_MAX_REGION_BYTES / PG);
    expect_refused(&c, b, len, "truncated");
    RESET();
    put64(b + O_REG + 8, 4 * MiB + 1);
    expect_refused(&c, b, len, "not page-aligned");
    RESET();
    put64(b + O_REG + R_LEN, 4096); /* region 1 moved onto region 0 */
    expect_refused(&c, b, len, "regions 0 and 1 overlap");

    /* The index lists: region 0 is 100..119, 500, 537, ... */
    RESET();
    put64(b + lists + 5 * 8, 1024);
    expect_refused(&c, b, len, "page index 1024 (entry 5) is outside its 1024 pages");
    RESET();
    put64(b + lists + 30 * 8, 256);
    expect_refused(&c, b, len, "region 1: page index 256");
    RESET();
    put64(b + lists + 3 * 8, 102);
    expect_refused(&c, b, len, "repeats the one before");
    RESET();
    put64(b + lists + 3 * 8, 50);
    expect_refused(&c, b, len, "is below the one before");

    /* Well-formed but changed: the checksum finds it. */
    RESET();
    b[O_ID] ^= 1;
    expect_refused(&c, b, len, "checksum mismatch");
    RESET();
    put64(b + lists + 29 * 8, 500 + 9 * 37 + 1); /* still ascending, in range */
    expect_refused(&c, b, len, "checksum mismatch");

    /* Not a regular file; a symlink is not followed. */
    g_autofree char *link = path("link.mem");
    ck_assert_int_eq(symlink(c.inc1, link), 0);
    struct snap_mem_info info;
    ck_assert_int_eq(snap_mem_info(link, &info), QV_ERR_IO);
    ck_assert_ptr_nonnull(strstr(msg(), link));
    ck_assert_int_eq(snap_mem_info(dir, &info), QV_ERR_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(msg(), "not a regular file"));

    /* The undamaged original still restores. */
    const char *full[] = {c.base, c.inc1};
    check_chain(full, 2, c.table, c.at1, &c.g);
#undef RESET
    g_free(orig);
    g_free(b);
    chain3_free(&c);
}
END_TEST

START_TEST(damaged_full_refused)
{
    struct guest g;
    guest_init(&g, 1 * MiB, 1 * MiB);
    fill(&g.ram[0], 3);
    g_autofree char *mem = path("memory");
    struct snap_mem_region table[2];
    ck_assert_int_eq(snap_mem_write_full(mem, g.ram, 2, table), 0);
    struct snap_mem_ram out[2];
    const char *chain[] = {mem};
    /* Truncated by a page: mapping it would SIGBUS on the last page. */
    ck_assert_int_eq(truncate(mem, (off_t)(PG + 2 * MiB - PG)), 0);
    ck_assert_int_eq(snap_mem_restore(chain, 1, table, 2, out), QV_ERR_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(msg(), "truncated"));
    ck_assert_ptr_nonnull(strstr(msg(), mem));

    ck_assert_int_eq(snap_mem_write_full(mem, g.ram, 2, table), 0);
    int fd = open(mem, O_RDWR);
    uint8_t off[8];
    put64(off, 2 * PG);
    ck_assert_int_eq(pwrite(fd, off, 8, O_REG + 16), 8);
    close(fd);
    ck_assert_int_eq(snap_mem_restore(chain, 1, table, 2, out), QV_ERR_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(msg(), "region 0 is at offset 0x2000, expected 0x1000"));
    guest_free(&g);
}
END_TEST

START_TEST(table_field_checked)
{
    struct snap_mem_region t[3] = {{0, 2 * MiB, PG}, {MiB, 2 * MiB, PG + 2 * MiB}, {0, 0, 0}};
    struct snap_mem_region back[4];
    struct snap_out o;
    snap_out_init(&o);
    snap_mem_table_put(&o, t, 2);
    struct snap_in in;
    snap_in_init(&in, "memory", o.bytes->data, o.bytes->len);
    ck_assert_uint_eq(snap_mem_table_get(&in, back, 4), 0);
    ck_assert_int_eq(snap_in_finish(&in), QV_ERR_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(msg(), "regions 0 and 1 overlap"));

    /* More regions than the reader takes. */
    snap_in_init(&in, "memory", o.bytes->data, o.bytes->len);
    ck_assert_uint_eq(snap_mem_table_get(&in, back, 1), 0);
    ck_assert_int_eq(snap_in_finish(&in), QV_ERR_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(msg(), "2 memory regions; 1 to 1"));

    /* Misaligned, and cut short. */
    snap_out_clear(&o);
    snap_out_init(&o);
    t[0].gpa = 100;
    snap_mem_table_put(&o, t, 1);
    snap_in_init(&in, "memory", o.bytes->data, o.bytes->len);
    ck_assert_uint_eq(snap_mem_table_get(&in, back, 4), 0);
    ck_assert_int_eq(snap_in_finish(&in), QV_ERR_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(msg(), "not page-aligned"));
    snap_in_init(&in, "memory", o.bytes->data, o.bytes->len - 1);
    ck_assert_uint_eq(snap_mem_table_get(&in, back, 4), 0);
    ck_assert_int_eq(snap_in_finish(&in), QV_ERR_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(msg(), "memory region offset"));
    snap_out_clear(&o);
}
END_TEST

START_TEST(bad_arguments_refused)
{
    struct guest g;
    guest_init(&g, 1 * MiB, 1 * MiB);
    g_autofree char *mem = path("memory");
    struct snap_mem_ram r[2] = {g.ram[0], g.ram[1]};
    r[1].gpa = MiB / 2; /* overlaps region 0 */
    ck_assert_int_eq(snap_mem_write_full(mem, r, 2, NULL), QV_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(msg(), "overlap"));
    r[1].gpa = 0x100000000ull + 1;
    ck_assert_int_eq(snap_mem_write_full(mem, r, 2, NULL), QV_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(msg(), "page-aligned"));
    r[1].gpa = 0x100000000ull;
    r[1].hva = (uint8_t *)r[1].hva + 8;
    r[1].size -= PG;
    ck_assert_int_eq(snap_mem_write_full(mem, r, 2, NULL), QV_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(msg(), "memory region 1"));
    ck_assert(!g_file_test(mem, G_FILE_TEST_EXISTS));
    struct snap_mem_region table[2];
    ck_assert_int_eq(snap_mem_write_full(mem, g.ram, 2, table), 0);
    /* A dirty bitmap of another size. */
    struct dirty_bitmap *d[2] = {dirty_bitmap_new(256), dirty_bitmap_new(255)};
    g_autofree char *inc = path("inc");
    ck_assert_int_eq(snap_mem_write_inc(inc, mem, g.ram, 2, d, NULL), QV_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(msg(), "region 1 has 256 pages"));
    /* Nothing dirty is a valid, empty increment. */
    dirty_bitmap_free(d[1]);
    d[1] = dirty_bitmap_new(256);
    ck_assert_int_eq(snap_mem_write_inc(inc, mem, g.ram, 2, d, NULL), 0);
    ck_assert_uint_eq(file_size(inc), PG);
    dirty_bitmap_free(d[0]);
    dirty_bitmap_free(d[1]);
    guest_free(&g);
}
END_TEST

/* A full disk: a tmpfs of 4 MiB, mounted by main. A snapshot that fits is
 * written; one that does not fails naming the file and ENOSPC, leaves no
 * temporary file, and the earlier files stay as they were; a fold that
 * cannot be written leaves its target an intact increment.
 * The restores here run while the tmpfs has room for the whole small
 * guest: reading a hole of a tmpfs file through a mapping allocates a page
 * of the tmpfs (SIGBUS when it is full), unlike a disk file system. */
static char *mnt;

static int count_entries(void)
{
    g_autoptr(GDir) dd = g_dir_open(dir, 0, NULL);
    int n = 0;
    while (g_dir_read_name(dd))
        n++;
    return n;
}

START_TEST(disk_full)
{
    g_free(dir);
    dir = g_strdup(mnt);
    struct guest g, large;
    guest_init(&g, 1 * MiB, 256 * 1024);
    g_autofree char *small = path("small.mem");
    g_autofree char *big = path("big.mem");
    g_autofree char *inc = path("inc.mem");
    struct snap_mem_region table[2], big_table[2];
    /* 16 data pages: fits. */
    for (int p = 0; p < 16; p++)
        memset((uint8_t *)g.ram[0].hva + (uint64_t)p * 16 * PG, 0x40 + p, PG);
    ck_assert_int_eq(snap_mem_write_full(small, g.ram, 2, table), 0);
    /* An increment of 16 pages, also fits. */
    struct dirty_bitmap *d[2] = {dirty_bitmap_new(256), dirty_bitmap_new(64)};
    for (int p = 0; p < 16; p++)
        touch(&g.ram[0], d[0], 1 + (uint64_t)p * 16, 0x77);
    ck_assert_int_eq(snap_mem_write_inc(inc, small, g.ram, 2, d, NULL), 0);
    uint8_t **at_inc = copy_ram(&g);
    struct snap_mem_info inc_before;
    ck_assert_int_eq(snap_mem_info(inc, &inc_before), 0);

    /* 8 MiB of data: does not fit. */
    guest_init(&large, 8 * MiB, 256 * 1024);
    fill(&large.ram[0], 5);
    ck_assert_int_eq(snap_mem_write_full(big, large.ram, 2, big_table), QV_ERR_IO);
    ck_assert_ptr_nonnull(strstr(msg(), big));
    ck_assert_ptr_nonnull(strstr(msg(), g_strerror(ENOSPC)));
    ck_assert(!g_file_test(big, G_FILE_TEST_EXISTS));
    ck_assert_int_eq(count_entries(), 2); /* no temporary file left */
    guest_free(&large);
    /* The earlier snapshot restores as it was. */
    const char *chain[] = {small, inc};
    check_chain(chain, 2, table, at_inc, &g);

    /* Fill the disk so the fold cannot be written. */
    g_autofree char *filler = path("filler");
    int fd = open(filler, O_WRONLY | O_CREAT, 0600);
    static uint8_t junk[PG];
    memset(junk, 1, sizeof junk);
    while (write(fd, junk, sizeof junk) == (ssize_t)sizeof junk)
        ;
    close(fd);
    ck_assert_int_eq(snap_mem_fold_base(small, inc), QV_ERR_IO);
    ck_assert_ptr_nonnull(strstr(msg(), inc));
    ck_assert_ptr_nonnull(strstr(msg(), g_strerror(ENOSPC)));
    ck_assert_int_eq(count_entries(), 3);
    struct snap_mem_info now;
    ck_assert_int_eq(snap_mem_info(inc, &now), 0);
    ck_assert_int_eq(now.kind, SNAP_MEM_INC);
    ck_assert_int_eq(memcmp(now.id, inc_before.id, SNAP_MEM_ID_LEN), 0);

    /* Space again: the chain restores as before the failed fold, and the
     * fold goes through and restores the same. */
    ck_assert_int_eq(g_unlink(filler), 0);
    check_chain(chain, 2, table, at_inc, &g);
    ck_assert_int_eq(snap_mem_fold_base(small, inc), 0);
    check_chain(chain + 1, 1, table, at_inc, &g);
    free_copy(at_inc);
    dirty_bitmap_free(d[0]);
    dirty_bitmap_free(d[1]);
    guest_free(&g);
}
END_TEST

/* A fold killed at any point: whether it got to its rename or not, the
 * chain restores every snapshot as taken, and the only leftover is a
 * temporary file that snap_mem_sweep removes. The kill lands 0 to 90 ms
 * in, so some rounds cut the fold and some may let it finish (counted on
 * stderr), and a last round lets it finish; the checks hold either way. */
START_TEST(fold_killed_part_way)
{
    struct chain3 c;
    chain3_make(&c);
    gchar *orig;
    gsize len;
    ck_assert(g_file_get_contents(c.inc1, &orig, &len, NULL));
    int folded = 0, cut = 0, swept = 0;
    for (int k = 0; k <= 30; k++) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
            _exit(snap_mem_fold_base(c.base, c.inc1) == 0 ? 0 : 1);
        /* 0 to 90 ms, denser early; the last round is not killed. */
        if (k < 30) {
            g_usleep((gulong)(k * k) * 100);
            kill(pid, SIGKILL);
        }
        int st;
        ck_assert_int_eq(waitpid(pid, &st, 0), pid);
        if (WIFEXITED(st))
            ck_assert_int_eq(WEXITSTATUS(st), 0);
        struct snap_mem_info info;
        ck_assert_int_eq(snap_mem_info(c.inc1, &info), 0);
        info.kind == SNAP_MEM_FULL ? folded++ : cut++;
        const char *chain[] = {c.base, c.inc1, c.inc2};
        check_chain(chain, 3, c.table, c.at2, &c.g);
        check_chain(chain, 2, c.table, c.at1, &c.g);
        int n = snap_mem_sweep(c.inc1);
        ck_assert_int_ge(n, 0);
        swept += n;
        ck_assert_int_eq(count_entries(), 3);
        /* The unfolded increment back for the next round. */
        ck_assert_int_eq(qv_file_write_atomic(c.inc1, orig, len, 0600), 0);
    }
    fprintf(stderr, "fold_killed_part_way: %d folds finished, %d cut, %d temporaries swept\n",
            folded, cut, swept);
    ck_assert_int_ge(folded, 1);

    /* A writer gone right after creating its temporary file (what a kill
     * there leaves), next to names sweep must not touch. */
    pid_t pid = fork();
    if (pid == 0) {
        struct snap_mem_tmp t;
        _exit(snap_mem_tmp_open(&t, c.inc1, 3 * PG) == 0 ? 0 : 1);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    g_autofree char *keep1 = path(".inc1.mem.keep");   /* not six characters */
    g_autofree char *keep2 = path(".inc2.mem.abcdef"); /* another file's */
    g_autofree char *link = path(".inc1.mem.zzzzzz");  /* not a regular file */
    ck_assert(g_file_set_contents(keep1, "x", 1, NULL));
    ck_assert(g_file_set_contents(keep2, "x", 1, NULL));
    ck_assert_int_eq(symlink(c.inc2, link), 0);
    ck_assert_int_eq(count_entries(), 7);
    ck_assert_int_eq(snap_mem_sweep(c.inc1), 1);
    ck_assert_int_eq(count_entries(), 6);
    ck_assert_int_eq(snap_mem_sweep(c.inc1), 0);
    const char *chain[] = {c.base, c.inc1, c.inc2};
    check_chain(chain, 3, c.table, c.at2, &c.g);
    g_free(orig);
    chain3_free(&c);
}
END_TEST

/* Deleting the middle snapshot killed at any point of its fold_inc, or
 * after it and before mid's file is removed: both snapshots still restore
 * from the chains their state files name ([base, inc1] and [base, inc1,
 * inc2]), and once inc1 is gone inc2's shorter chain does too. */
START_TEST(fold_inc_killed_part_way)
{
    struct chain3 c;
    chain3_make(&c);
    gchar *orig;
    gsize len;
    ck_assert(g_file_get_contents(c.inc2, &orig, &len, NULL));
    const char *chain[] = {c.base, c.inc1, c.inc2};
    int folded = 0, cut = 0;
    for (int k = 0; k <= 20; k++) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
            _exit(snap_mem_fold_inc(c.inc1, c.inc2) == 0 ? 0 : 1);
        if (k < 20) {
            g_usleep((gulong)(k * k) * 100);
            kill(pid, SIGKILL);
        }
        int st;
        ck_assert_int_eq(waitpid(pid, &st, 0), pid);
        if (WIFEXITED(st))
            ck_assert_int_eq(WEXITSTATUS(st), 0);
        struct snap_mem_info info;
        ck_assert_int_eq(snap_mem_info(c.inc2, &info), 0);
        info.pages == c.union12 ? folded++ : cut++;
        check_chain(chain, 3, c.table, c.at2, &c.g);
        check_chain(chain, 2, c.table, c.at1, &c.g);
        ck_assert_int_ge(snap_mem_sweep(c.inc2), 0);
        ck_assert_int_eq(qv_file_write_atomic(c.inc2, orig, len, 0600), 0);
    }
    fprintf(stderr, "fold_inc_killed_part_way: %d folds finished, %d cut\n", folded, cut);
    ck_assert_int_ge(folded, 1);

    /* The fold done, then the delete goes on. */
    ck_assert_int_eq(snap_mem_fold_inc(c.inc1, c.inc2), 0);
    check_chain(chain, 3, c.table, c.at2, &c.g);
    ck_assert_int_eq(g_unlink(c.inc1), 0);
    const char *after[] = {c.base, c.inc2};
    check_chain(after, 2, c.table, c.at2, &c.g);
    g_free(orig);
    chain3_free(&c);
}
END_TEST

/* Before the fold, a chain out of order, or missing its middle file, is
 * refused rather than restored from whatever links. */
START_TEST(chain_out_of_order_refused)
{
    struct chain3 c;
    chain3_make(&c);
    struct snap_mem_ram out[2];
    const char *swapped[] = {c.base, c.inc2, c.inc1};
    ck_assert_int_eq(snap_mem_restore(swapped, 3, c.table, 2, out), QV_ERR_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(msg(), "out of order or misses a file"));
    const char *missing[] = {c.base, c.inc2};
    ck_assert_int_eq(snap_mem_restore(missing, 2, c.table, 2, out), QV_ERR_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(msg(), "out of order or misses a file"));
    const char *no_full[] = {c.inc1, c.inc2};
    ck_assert_int_eq(snap_mem_restore(no_full, 2, c.table, 2, out), QV_ERR_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(msg(), "a restore starts from a full one"));
    chain3_free(&c);
}
END_TEST

/* A sweep (this process's, and another process's, as on opening the
 * snapshot directory) while a writer is between creating its temporary
 * file and committing it: the live file is left alone and the commit puts
 * the writer's bytes in place. A writer that is gone is still swept. */
START_TEST(sweep_spares_live_writer)
{
    g_autofree char *target = path("memory");
    struct snap_mem_tmp t;
    ck_assert_int_eq(snap_mem_tmp_open(&t, target, 2 * PG), 0);
    ck_assert_int_eq(snap_mem_tmp_write(&t, "live", 4, 0), 0);
    ck_assert_int_eq(snap_mem_sweep(target), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(snap_mem_sweep(target) == 0 ? 0 : 1);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    ck_assert_int_eq(count_entries(), 1);
    ck_assert_msg(snap_mem_tmp_commit(&t) == 0, "commit: %s", msg());
    ck_assert_uint_eq(file_size(target), 2 * PG);
    gchar *got;
    gsize len;
    ck_assert(g_file_get_contents(target, &got, &len, NULL));
    ck_assert_int_eq(memcmp(got, "live", 4), 0);
    g_free(got);
    ck_assert_int_eq(count_entries(), 1);

    /* Aborted and crashed writers: nothing left behind, or swept. */
    ck_assert_int_eq(snap_mem_tmp_open(&t, target, PG), 0);
    snap_mem_tmp_abort(&t);
    ck_assert_int_eq(count_entries(), 1);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct snap_mem_tmp dead;
        _exit(snap_mem_tmp_open(&dead, target, PG) == 0 ? 0 : 1);
    }
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    ck_assert_int_eq(count_entries(), 2);
    ck_assert_int_eq(snap_mem_sweep(target), 1);
    ck_assert_int_eq(count_entries(), 1);
}
END_TEST

/* Peak RSS of this process, bytes. */
static uint64_t peak_rss(void)
{
    struct rusage ru;
    ck_assert_int_eq(getrusage(RUSAGE_SELF, &ru), 0);
    return (uint64_t)ru.ru_maxrss * 1024;
}

/* A crafted incremental: one region of `region` bytes whose header claims
 * every page, with only the first `written` bytes of the file on disk (the
 * rest a hole); the file is as long as the header says, so the size check
 * passes. Returns its path. */
static char *crafted_inc(const char *name, uint64_t region, size_t written)
{
    char *p = path(name);
    uint64_t n = region / PG;
    uint64_t header_end = 80 + n * 8 + 32, data_off = (header_end + PG - 1) & ~(PG - 1);
    uint8_t h[80] = {0};
    memcpy(h, "QVMEMINC", 8);
    put32(h + O_VERSION, 1);
    put32(h + O_PAGE, PG);
    put32(h + O_NREG, 1);
    put64(h + O_REG + 8, region);
    put64(h + O_REG + 16, n);
    int fd = open(p, O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(qv_pwrite_all(fd, h, sizeof h, 0), 0);
    /* Valid, ascending indices for as much of the list as is written, in
     * small pieces so that writing it does not raise this process's peak
     * RSS (which the tests measure). */
    uint8_t chunk[4096];
    uint64_t k = 0;
    for (size_t at = 80; at < written;) {
        size_t len = written - at < sizeof chunk ? written - at : sizeof chunk;
        memset(chunk, 0, sizeof chunk);
        for (size_t e = 0; e + 8 <= len; e += 8, k++)
            if (k < n)
                put64(chunk + e, k);
        ck_assert_int_eq(qv_pwrite_all(fd, chunk, len, (off_t)at), 0);
        at += len;
    }
    ck_assert_int_eq(ftruncate(fd, (off_t)(data_off + n * PG)), 0);
    close(fd);
    return p;
}

/* A few KiB on disk claiming a 64 GiB region (a 128 MiB page list): the
 * reader refuses it at once, without reading or allocating anything like
 * the list's size, from snap_mem_info and from restore alike. */
START_TEST(sparse_header_refused_cheaply)
{
    struct chain3 c;
    chain3_make(&c);
    size_t written[] = {80, 4096, 80 + 8 * 8192 + 100};
    for (size_t i = 0; i < G_N_ELEMENTS(written); i++) {
        g_autofree char *bad = crafted_inc("sparse.mem", 64ull << 30, written[i]);
        ck_assert_uint_ge(file_size(bad), 64ull << 30);
        ck_assert_uint_le(disk_bytes(bad), 1 * MiB);
        uint64_t rss0 = peak_rss();
        gint64 t0 = g_get_monotonic_time();
        struct snap_mem_info info;
        ck_assert_int_eq(snap_mem_info(bad, &info), QV_ERR_PROTOCOL);
        ck_assert_msg(strstr(msg(), bad) && (strstr(msg(), "has a hole at byte") ||
                                             strstr(msg(), "repeats the one before") ||
                                             strstr(msg(), "is below the one before")),
                      "got: %s", msg());
        struct snap_mem_ram out[2] = {{(void *)1, 0, 0}, {(void *)1, 0, 0}};
        const char *chain[] = {c.base, bad};
        ck_assert_int_eq(snap_mem_restore(chain, 2, c.table, 2, out), QV_ERR_PROTOCOL);
        ck_assert_ptr_nonnull(strstr(msg(), bad));
        ck_assert_ptr_null(out[0].hva);
        gint64 us = g_get_monotonic_time() - t0;
        uint64_t grew = peak_rss() - rss0;
        fprintf(stderr,
                "sparse_header_refused_cheaply: %zu bytes written: %lld us, RSS +%llu KiB\n",
                written[i], (long long)us, (unsigned long long)(grew / 1024));
        ck_assert_msg(grew < 8 * MiB, "RSS grew by %llu bytes", (unsigned long long)grew);
        ck_assert_msg(us < 2 * G_USEC_PER_SEC, "took %lld us", (long long)us);
        g_unlink(bad);
    }
    chain3_free(&c);
}
END_TEST

/* Lists that are all in the file and valid, but a digest that does not
 * match: refused after the bounded pass, before the index is allocated. */
START_TEST(valid_lists_bad_digest_refused)
{
    /* 16 GiB: a 32 MiB list, all on disk. */
    uint64_t region = 16ull << 30, n = region / PG;
    g_autofree char *bad = crafted_inc("digest.mem", region, 80 + n * 8 + 32);
    uint64_t rss0 = peak_rss();
    struct snap_mem_info info;
    ck_assert_int_eq(snap_mem_info(bad, &info), QV_ERR_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(msg(), "header checksum mismatch"));
    ck_assert_uint_lt(peak_rss() - rss0, 8 * MiB);
}
END_TEST

/* Folding two increments whose merged lists need more memory than there
 * is: a clean QV_ERR_NOMEM, next untouched (the process address space is
 * capped with RLIMIT_AS in a child; not under ASan, whose shadow memory
 * does not fit such a cap and whose allocator aborts instead of failing). */
START_TEST(fold_inc_out_of_memory)
{
#if defined(__SANITIZE_ADDRESS__)
    fprintf(stderr, "fold_inc_out_of_memory: skipped under ASan (RLIMIT_AS)\n");
    return;
#else
    /* 4 GiB, every page in both files: 8 MiB of list each, sparse pages;
     * merging needs 16 MiB of list and 64 MiB of sources. */
    uint64_t region = 4ull << 30, n = region / PG;
    struct snap_mem_ram ram = {(void *)(uintptr_t)PG, 0, region};
    uint64_t *list = g_new(uint64_t, n);
    for (uint64_t k = 0; k < n; k++)
        list[k] = k;
    uint8_t base_id[SNAP_MEM_ID_LEN] = {1}, mid_id[SNAP_MEM_ID_LEN] = {2},
            next_id[SNAP_MEM_ID_LEN] = {3};
    g_autofree char *mid = path("mid.mem"), *next = path("next.mem");
    const char *names[] = {mid, next};
    const uint8_t *ids[] = {mid_id, next_id}, *parents[] = {base_id, mid_id};
    for (int f = 0; f < 2; f++) {
        g_autoptr(GByteArray) h =
            snap_mem_header(SNAP_MEM_INC, ids[f], parents[f], &ram, 1, &n, list, n);
        int fd = open(names[f], O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(qv_pwrite_all(fd, h->data, h->len, 0), 0);
        ck_assert_int_eq(ftruncate(fd, (off_t)(((h->len + PG - 1) & ~(PG - 1)) + n * PG)), 0);
        close(fd);
    }
    g_free(list);
    struct snap_mem_info before;
    ck_assert_int_eq(snap_mem_info(next, &before), 0);
    ck_assert_uint_eq(before.pages, n);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        long pages = 0;
        FILE *f = fopen("/proc/self/statm", "r");
        if (!f || fscanf(f, "%ld", &pages) != 1)
            _exit(3);
        fclose(f);
        uint64_t cap = (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE) + 48 * MiB;
        struct rlimit rl = {cap, cap};
        if (setrlimit(RLIMIT_AS, &rl) < 0)
            _exit(3);
        int rc = snap_mem_fold_inc(mid, next);
        if (rc != QV_ERR_NOMEM || !strstr(msg(), "no memory to merge region 0")) {
            fprintf(stderr, "fold: %d %s\n", rc, msg());
            _exit(1);
        }
        _exit(0);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: status 0x%x", st);
    struct snap_mem_info after;
    ck_assert_int_eq(snap_mem_info(next, &after), 0);
    ck_assert_int_eq(memcmp(&before, &after, sizeof before), 0);
    ck_assert_int_eq(count_entries(), 2);
#endif
}
END_TEST

static int run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

static int enospc_main(void)
{
    int skip = private_tmpfs_mount("qv-snapmem-tmpfs-XXXXXX", "4m", &mnt);
    if (skip)
        return skip;
    Suite *s = suite_create("kvm_snap_mem_enospc");
    TCase *tc = tcase_create("enospc");
    tcase_add_test(tc, disk_full);
    suite_add_tcase(s, tc);
    int rc = run(s);
    private_tmpfs_unmount(&mnt);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "enospc") == 0)
        return enospc_main();
    Suite *s = suite_create("kvm_snap_mem");
    TCase *tc = tcase_create("snap_mem");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, full_restore_is_private);
    tcase_add_test(tc, zero_pages_are_holes);
    tcase_add_test(tc, increments_hold_written_pages);
    tcase_add_test(tc, fold_base_into_child);
    tcase_add_test(tc, fold_middle_increment);
    tcase_add_test(tc, fold_wrong_pair_refused);
    tcase_add_loop_test(tc, random_chain_and_folds, 0, 4);
    tcase_add_test(tc, damaged_increment_refused);
    tcase_add_test(tc, damaged_full_refused);
    tcase_add_test(tc, table_field_checked);
    tcase_add_test(tc, bad_arguments_refused);
    tcase_add_test(tc, fold_killed_part_way);
    tcase_add_test(tc, fold_inc_killed_part_way);
    tcase_add_test(tc, chain_out_of_order_refused);
    tcase_add_test(tc, sweep_spares_live_writer);
    tcase_add_test(tc, sparse_header_refused_cheaply);
    tcase_add_test(tc, valid_lists_bad_digest_refused);
    tcase_add_test(tc, fold_inc_out_of_memory);
    suite_add_tcase(s, tc);
    return run(s);
}
