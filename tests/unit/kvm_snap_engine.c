/* The snapshot engine (drivers/kvm/snapshot/snap_engine.h) over a machine
 * in plain memory (kvm_snap_engine_machine.h): what a user of
 * snapshot_create/list/restore/delete on kvm:///embed would see, without
 * /dev/kvm. A restore brings back memory, registers, device state, the
 * definition and the disks; increments hold the pages written and survive
 * deleting what they build on; a kill at any step leaves the earlier
 * snapshots whole; a restore into a machine of another shape is refused
 * unless the machine rebuilds. Disks are put back in place: a restore
 * creates nothing beside an image, and one killed at any step (mid-copy
 * included) is finished by the next engine over the store.
 * `kvm_snap_engine enospc` runs the full-disk cases alone on a small tmpfs
 * (exit 77 where it cannot mount one). */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kvm_snap_engine_machine.h"
#include "lib/proc/proc.h"
#include "lib/util/error.h"
#include "lib/util/fileio.h"
#include "private_tmpfs.h"
#include "qv/error.h"

#define PG 4096ull
#define MiB (1024ull * 1024)

static char *root; /* the test's directory */
static char *dir;  /* the snapshot directory */
static char *mnt;  /* enospc: the tmpfs */

static void setup(void)
{
    root = g_dir_make_tmp("qv-snapengine-XXXXXX", NULL);
    ck_assert_ptr_nonnull(root);
    dir = g_build_filename(root, "snapshots", NULL);
    ck_assert_int_eq(g_mkdir(dir, 0700), 0);
}

static void teardown(void)
{
    qv_dir_remove_tree(root);
    g_free(root);
    g_free(dir);
}

static const char *msg(void)
{
    return qv_last_error()->message;
}

#define OK(x)                                                                                      \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        ck_assert_msg(rc_ == 0, "%s failed: %d %s", #x, rc_, msg());                               \
    } while (0)

#define FAILS(x, code, text)                                                                       \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        ck_assert_msg(rc_ == (code), "%s gave %d (%s), not %d", #x, rc_, msg(), (code));           \
        ck_assert_msg(strstr(msg(), (text)), "'%s' does not say '%s'", msg(), (text));             \
    } while (0)

/* Entries of dir starting with '.' (stages, half deletes, temporaries). */
static int hidden_in(const char *d)
{
    DIR *dd = opendir(d);
    ck_assert_ptr_nonnull(dd);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(dd)))
        if (de->d_name[0] == '.' && strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(dd);
    return n;
}

static size_t list_count(struct snap_engine *e, const char *want)
{
    struct snapshot_info *l;
    size_t n;
    OK(snap_engine_list(e, &l, &n));
    size_t found = 0;
    for (size_t i = 0; i < n; i++)
        if (want && strcmp(l[i].name, want) == 0)
            found++;
    snapshot_info_free(l, n);
    return want ? found : n;
}

static uint64_t mem_pages(const char *snap)
{
    g_autofree char *p = snap_dir_file(dir, snap, "memory");
    struct snap_mem_info info;
    OK(snap_mem_info(p, &info));
    return info.kind == SNAP_MEM_INC ? info.pages : UINT64_MAX;
}

/* ---- create, list, restore, delete ---- */

START_TEST(create_list_restore_delete)
{
    struct tmach t;
    tm_init(&t, 2, 1 * MiB, "one");
    struct snap_engine *e = snap_engine_new(dir, &tm_ops, &t);
    tm_fill(&t, 0, 0x11, 8 * PG);
    tm_fill(&t, 0x100000000ull, 0x22, PG);
    t.uart_count = 41;
    int64_t before = g_get_real_time() / G_USEC_PER_SEC;
    OK(snap_engine_create(e, "a", 0));
    ck_assert_int_eq(t.state, VM_STATE_RUNNING);
    ck_assert_int_eq(t.pauses, 1);
    ck_assert_int_eq(t.resumes, 1);
    ck_assert(!t.quiesced);

    struct snapshot_info *l;
    size_t n;
    OK(snap_engine_list(e, &l, &n));
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(l[0].name, "a");
    ck_assert_int_eq(l[0].state, VM_STATE_RUNNING);
    ck_assert_int_ge(l[0].created, before);
    ck_assert_int_le(l[0].created, g_get_real_time() / G_USEC_PER_SEC);
    /* 9 written pages plus headers and state, not the whole 1 MiB. */
    ck_assert_uint_ge(l[0].size, 9 * PG);
    ck_assert_uint_lt(l[0].size, 512 * 1024);
    snapshot_info_free(l, n);
    FAILS(snap_engine_create(e, "a", 0), QV_ERR_EXISTS, "a");

    /* The guest carries on: memory, registers, device, definition. */
    tm_fill(&t, 0, 0x99, 16 * PG);
    tm_fill(&t, 0x100000000ull, 0x98, PG);
    t.vcpu[1].regs.rip = 0xdead;
    t.uart_count = 77;
    g_free(t.def);
    t.def = g_strdup("vcpus=2 ram=1048576 uart=1 tag=changed");

    OK(snap_engine_restore(e, "a"));
    ck_assert_int_eq(t.state, VM_STATE_RUNNING);
    ck_assert_int_eq(t.rebuilds, 0);
    for (uint64_t p = 0; p < 16; p++)
        ck_assert_uint_eq(tm_byte(&t, p * PG + 7), p < 8 ? 0x11 : 0);
    ck_assert_uint_eq(tm_byte(&t, 0x100000000ull + 5), 0x22);
    ck_assert_uint_eq(t.vcpu[1].regs.rip, 0x1001);
    ck_assert_uint_eq(t.vcpu[0].regs.rax, 0xabc0);
    ck_assert_uint_eq(t.uart_count, 41);
    ck_assert_str_eq(t.def, "vcpus=2 ram=1048576 uart=1 tag=one");
    ck_assert_int_eq(t.pauses, t.resumes);

    /* A paused VM's snapshot restores paused. */
    t.state = VM_STATE_PAUSED;
    OK(snap_engine_create(e, "p", 0));
    ck_assert_int_eq(t.state, VM_STATE_PAUSED);
    t.state = VM_STATE_RUNNING;
    OK(snap_engine_restore(e, "p"));
    ck_assert_int_eq(t.state, VM_STATE_PAUSED);
    t.state = VM_STATE_RUNNING;

    FAILS(snap_engine_restore(e, "nope"), QV_ERR_NOT_FOUND, "nope");
    FAILS(snap_engine_delete(e, "nope"), QV_ERR_NOT_FOUND, "nope");
    OK(snap_engine_delete(e, "a"));
    OK(snap_engine_delete(e, "p"));
    ck_assert_uint_eq(list_count(e, NULL), 0);
    ck_assert_int_eq(hidden_in(dir), 0);
    snap_engine_free(e);
    tm_fini(&t);
}
END_TEST

/* ---- increments ---- */

/* A snapshot whose info file is damaged is listed (to be seen and deleted),
 * is not restored, does not hide the others and can be deleted. */
START_TEST(damaged_snapshot_listed_and_deletable)
{
    struct tmach t;
    tm_init(&t, 1, 1 * MiB, "one");
    struct snap_engine *e = snap_engine_new(dir, &tm_ops, &t);
    OK(snap_engine_create(e, "good", 0));
    OK(snap_engine_create(e, "bad", 0));
    g_autofree char *info = g_build_filename(dir, "bad", "info", NULL);
    ck_assert(g_file_set_contents(info, "not a snapshot file", -1, NULL));

    struct snapshot_info *l;
    size_t n;
    OK(snap_engine_list(e, &l, &n));
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(l[0].name, "good");
    ck_assert_int_eq(l[0].state, VM_STATE_RUNNING);
    ck_assert_str_eq(l[1].name, "bad");
    ck_assert_int_eq(l[1].state, VM_STATE_DESTROYED);
    ck_assert_int_eq(l[1].created, 0);
    snapshot_info_free(l, n);

    ck_assert_int_lt(snap_engine_restore(e, "bad"), 0);
    OK(snap_engine_delete(e, "bad"));
    OK(snap_engine_list(e, &l, &n));
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(l[0].name, "good");
    snapshot_info_free(l, n);
    OK(snap_engine_restore(e, "good"));
    snap_engine_free(e);
    tm_fini(&t);
}
END_TEST

START_TEST(incremental_chain_and_folds)
{
    struct tmach t;
    tm_init(&t, 1, 1 * MiB, "inc");
    struct snap_engine *e = snap_engine_new(dir, &tm_ops, &t);
    FAILS(snap_engine_create(e, "i0", SNAPSHOT_INCREMENTAL), QV_ERR_INVALID_STATE,
          "no previous snapshot");
    ck_assert_int_eq(t.state, VM_STATE_RUNNING);
    ck_assert_uint_eq(list_count(e, NULL), 0);

    tm_fill(&t, 0, 0x01, 256 * PG);
    OK(snap_engine_create(e, "base", 0));
    tm_fill(&t, 3 * PG, 0x31, PG);
    OK(snap_engine_create(e, "i1", SNAPSHOT_INCREMENTAL));
    ck_assert_uint_eq(mem_pages("i1"), 1);
    tm_fill(&t, 3 * PG, 0x32, PG);
    tm_fill(&t, 5 * PG, 0x52, PG);
    tm_fill(&t, 0x100000000ull, 0x62, 10);
    OK(snap_engine_create(e, "i2", SNAPSHOT_INCREMENTAL));
    ck_assert_uint_eq(mem_pages("i2"), 3);
    tm_fill(&t, 9 * PG, 0x93, PG);

    OK(snap_engine_restore(e, "i1"));
    ck_assert_uint_eq(tm_byte(&t, 3 * PG), 0x31);
    ck_assert_uint_eq(tm_byte(&t, 5 * PG), 0x01);
    ck_assert_uint_eq(tm_byte(&t, 9 * PG), 0x01);
    ck_assert_uint_eq(tm_byte(&t, 0x100000000ull), 0);
    /* An increment over the restored snapshot: i1 now has two. */
    tm_fill(&t, 7 * PG, 0x73, PG);
    OK(snap_engine_create(e, "i3", SNAPSHOT_INCREMENTAL));
    ck_assert_uint_eq(mem_pages("i3"), 1);

    /* Deleting the base folds it into i1; i2 and i3 still restore. */
    OK(snap_engine_delete(e, "base"));
    ck_assert_uint_eq(mem_pages("i1"), UINT64_MAX);
    OK(snap_engine_restore(e, "i2"));
    ck_assert_uint_eq(tm_byte(&t, 0), 0x01);
    ck_assert_uint_eq(tm_byte(&t, 3 * PG), 0x32);
    ck_assert_uint_eq(tm_byte(&t, 5 * PG), 0x52);
    ck_assert_uint_eq(tm_byte(&t, 7 * PG), 0x01);
    ck_assert_uint_eq(tm_byte(&t, 0x100000000ull + 9), 0x62);
    /* Deleting i1, which both build on, folds it into each. */
    OK(snap_engine_delete(e, "i1"));
    OK(snap_engine_restore(e, "i3"));
    ck_assert_uint_eq(tm_byte(&t, 3 * PG), 0x31);
    ck_assert_uint_eq(tm_byte(&t, 5 * PG), 0x01);
    ck_assert_uint_eq(tm_byte(&t, 7 * PG), 0x73);
    OK(snap_engine_restore(e, "i2"));
    ck_assert_uint_eq(tm_byte(&t, 3 * PG), 0x32);
    ck_assert_uint_eq(tm_byte(&t, 7 * PG), 0x01);
    ck_assert_uint_eq(list_count(e, NULL), 2);

    /* After a fresh start the previous snapshot is forgotten. */
    snap_engine_forget(e);
    FAILS(snap_engine_create(e, "i4", SNAPSHOT_INCREMENTAL), QV_ERR_INVALID_STATE,
          "take a full snapshot first");
    /* A stopped VM has no memory to take an increment of. */
    t.state = VM_STATE_STOPPED;
    FAILS(snap_engine_create(e, "i4", SNAPSHOT_INCREMENTAL), QV_ERR_INVALID_STATE, "not running");
    ck_assert_int_eq(hidden_in(dir), 0);
    snap_engine_free(e);
    tm_fini(&t);
}
END_TEST

/* A snapshot that failed keeps its pages pending: the next increment
 * still holds what was written before it. */
START_TEST(failed_snapshot_loses_no_dirty_pages)
{
    struct tmach t;
    tm_init(&t, 1, 256 * 1024, "pend");
    struct snap_engine *e = snap_engine_new(dir, &tm_ops, &t);
    OK(snap_engine_create(e, "base", 0));
    tm_fill(&t, 2 * PG, 0x22, PG);
    /* Taken, then the create fails: the name exists. */
    FAILS(snap_engine_create(e, "base", SNAPSHOT_INCREMENTAL), QV_ERR_EXISTS, "base");
    tm_fill(&t, 4 * PG, 0x44, PG);
    OK(snap_engine_create(e, "inc", SNAPSHOT_INCREMENTAL));
    ck_assert_uint_eq(mem_pages("inc"), 2);
    tm_fill(&t, 2 * PG, 0, 3 * PG);
    OK(snap_engine_restore(e, "inc"));
    ck_assert_uint_eq(tm_byte(&t, 2 * PG), 0x22);
    ck_assert_uint_eq(tm_byte(&t, 4 * PG), 0x44);
    snap_engine_free(e);
    tm_fini(&t);
}
END_TEST

/* What a device writes as restore wakes it (buffers the guest posted
 * before the snapshot) is written after the restored memory: the next
 * increment must hold it, so the dirty log starts before the wake-up. */
START_TEST(restore_keeps_what_devices_write_as_they_wake)
{
    struct tmach t;
    tm_init(&t, 1, 256 * 1024, "wake");
    struct snap_engine *e = snap_engine_new(dir, &tm_ops, &t);
    OK(snap_engine_create(e, "base", 0));
    t.wake = true;
    t.wake_gpa = 5 * PG;
    t.wake_byte = 0x5a;
    OK(snap_engine_restore(e, "base"));
    t.wake = false;
    ck_assert_uint_eq(tm_byte(&t, 5 * PG), 0x5a);
    OK(snap_engine_create(e, "inc", SNAPSHOT_INCREMENTAL));
    tm_fill(&t, 5 * PG, 0, PG);
    OK(snap_engine_restore(e, "inc"));
    ck_assert_uint_eq(tm_byte(&t, 5 * PG), 0x5a);
    snap_engine_free(e);
    tm_fini(&t);
}
END_TEST

/* ---- disks ---- */

static char *make_disk(const char *name, uint8_t byte, size_t len)
{
    char *p = g_build_filename(root, name, NULL);
    g_autofree uint8_t *buf = g_malloc(len);
    memset(buf, byte, len);
    ck_assert(g_file_set_contents(p, (char *)buf, (gssize)len, NULL));
    return p;
}

static void check_disk(const char *p, uint8_t byte, size_t len)
{
    g_autofree char *data = NULL;
    gsize got = 0;
    ck_assert(g_file_get_contents(p, &data, &got, NULL));
    ck_assert_uint_eq(got, len);
    for (size_t i = 0; i < len; i++)
        ck_assert_msg((uint8_t)data[i] == byte, "%s byte %zu is 0x%x, not 0x%x", p, i,
                      (uint8_t)data[i], byte);
}

static int by_name(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in d, sorted, joined: what a restore may not add to. */
static char *names_in(const char *d)
{
    g_autoptr(GPtrArray) a = g_ptr_array_new_with_free_func(g_free);
    DIR *dd = opendir(d);
    ck_assert_ptr_nonnull(dd);
    struct dirent *de;
    while ((de = readdir(dd)))
        g_ptr_array_add(a, g_strdup(de->d_name));
    closedir(dd);
    g_ptr_array_sort(a, by_name);
    g_ptr_array_add(a, NULL);
    return g_strjoinv(" ", (char **)a->pdata);
}

/* The whole of p is byte (len bytes) or other: never a mix. */
static bool disk_is(const char *p, uint8_t byte, size_t len)
{
    g_autofree char *data = NULL;
    gsize got = 0;
    ck_assert(g_file_get_contents(p, &data, &got, NULL));
    for (size_t i = 0; i < got; i++)
        if ((uint8_t)data[i] != byte)
            return false;
    return got == len;
}

static ino_t inode_of(const char *p)
{
    struct stat st;
    ck_assert_int_eq(stat(p, &st), 0);
    return st.st_ino;
}

START_TEST(disks_captured_and_put_back)
{
    struct tmach t;
    tm_init(&t, 1, 256 * 1024, "disk");
    t.disks[t.ndisks++] = make_disk("a.img", 0xa1, 64 * 1024);
    t.disks[t.ndisks++] = make_disk("b.img", 0xb1, 8 * 1024);
    t.can_rebuild = true; /* a live restore with disks rebuilds the devices */
    struct snap_engine *e = snap_engine_new(dir, &tm_ops, &t);
    OK(snap_engine_create(e, "live", 0));
    /* A pattern written after the snapshot is gone after restore. */
    g_autofree char *a2 = make_disk("a.img", 0xa2, 32 * 1024);
    g_autofree char *b2 = make_disk("b.img", 0xb2, 8 * 1024);
    ino_t ino = inode_of(a2);
    g_autofree char *before = names_in(root);
    OK(snap_engine_restore(e, "live"));
    check_disk(t.disks[0], 0xa1, 64 * 1024);
    check_disk(t.disks[1], 0xb1, 8 * 1024);
    /* The old devices were never unquiesced once the images began to
     * change: a request the guest queued before cannot land in them. */
    ck_assert_int_eq(t.discarded_quiesced, 1);
    ck_assert(strstr(t.log, "unquiesce rebuild") == NULL);
    /* In place: the same file, and nothing new beside it. */
    ck_assert_uint_eq(inode_of(a2), ino);
    g_autofree char *after = names_in(root);
    ck_assert_str_eq(after, before);
    ck_assert_int_eq(hidden_in(root), 0); /* no restore temporaries left */
    /* The devices were made after the disks were put back: they opened
     * the snapshot's images, not the replaced files. */
    ck_assert_int_eq(t.opened[0], 0xa1);
    ck_assert_int_eq(t.opened[1], 0xb1);

    /* A stopped VM's snapshot: definition and disks, no memory. */
    t.state = VM_STATE_STOPPED;
    g_autofree char *a3 = make_disk("a.img", 0xa3, 16 * 1024);
    OK(snap_engine_create(e, "off", 0));
    g_autofree char *mem = snap_dir_file(dir, "off", "memory");
    ck_assert(!g_file_test(mem, G_FILE_TEST_EXISTS));
    g_autofree char *a4 = make_disk("a.img", 0xa4, 16 * 1024);
    t.state = VM_STATE_RUNNING;
    OK(snap_engine_restore(e, "off"));
    ck_assert_int_eq(t.state, VM_STATE_STOPPED);
    check_disk(t.disks[0], 0xa3, 16 * 1024);
    /* And back to the running one from there: rebuilt. */
    OK(snap_engine_restore(e, "live"));
    ck_assert_int_eq(t.state, VM_STATE_RUNNING);
    check_disk(t.disks[0], 0xa1, 64 * 1024);

    /* A snapshot's disk that the definition no longer has is not
     * written: restore refuses, the file is left alone. */
    g_free(t.disks[1]);
    t.ndisks = 1;
    g_autofree char *b5 = make_disk("b.img", 0xb5, 8 * 1024);
    FAILS(snap_engine_restore(e, "live"), QV_ERR_INVALID_STATE, "b.img");
    check_disk(b5, 0xb5, 8 * 1024);
    ck_assert_int_eq(t.state, VM_STATE_RUNNING);
    ck_assert_int_eq(hidden_in(root), 0);
    snap_engine_free(e);
    tm_fini(&t);
}
END_TEST

/* ---- the order of a restore ---- */

START_TEST(restore_quiesces_before_swapping_memory)
{
    struct tmach t;
    tm_init(&t, 1, 256 * 1024, "order");
    struct snap_engine *e = snap_engine_new(dir, &tm_ops, &t);
    tm_fill(&t, 0, 0x31, PG);
    /* A vCPU stopped in a string input: its completion belongs in the
     * snapshot's memory. */
    t.pending = true;
    t.pending_gpa = 2 * PG;
    t.pending_byte = 0x77;
    OK(snap_engine_create(e, "s", 0));
    ck_assert_str_eq(t.log, "pause settle quiesce unquiesce resume");
    tm_fill(&t, 0, 0x32, 3 * PG);
    /* One pending at the restore lands in the old memory, not the
     * restored one. */
    t.pending = true;
    t.pending_byte = 0x88;
    t.log[0] = 0;
    OK(snap_engine_restore(e, "s"));
    /* Device threads are stopped from the pause until the state is in. */
    ck_assert_str_eq(t.log, "pause settle quiesce ram_replace define unquiesce resume");
    ck_assert_uint_eq(tm_byte(&t, 0), 0x31);
    ck_assert_uint_eq(tm_byte(&t, 2 * PG), 0x77);
    ck_assert(!t.pending);

    /* With disks: put back while the old devices are quiesced (they are
     * discarded by the rebuild without taking another request), then the
     * machine rebuilt (its devices open the images), then its new devices
     * quiesced for the swap. */
    t.disks[t.ndisks++] = make_disk("o.img", 0x41, 8 * 1024);
    t.can_rebuild = true;
    OK(snap_engine_create(e, "d", 0));
    g_autofree char *o2 = make_disk("o.img", 0x42, 8 * 1024);
    t.log[0] = 0;
    OK(snap_engine_restore(e, "d"));
    ck_assert_str_eq(t.log, "pause settle quiesce rebuild quiesce ram_replace unquiesce resume");
    ck_assert_int_eq(t.opened[0], 0x41);
    check_disk(t.disks[0], 0x41, 8 * 1024);
    ck_assert(!t.quiesced);
    snap_engine_free(e);
    tm_fini(&t);
}
END_TEST

/* What can fail is checked before a machine is rebuilt: a damaged memory
 * file or a missing disk copy is a refusal, the VM runs on untouched. */
START_TEST(restore_checks_before_rebuilding)
{
    struct tmach t;
    tm_init(&t, 2, 512 * 1024, "pre");
    struct snap_engine *e = snap_engine_new(dir, &tm_ops, &t);
    tm_fill(&t, 0, 0x5a, PG);
    OK(snap_engine_create(e, "big", 0));
    snap_engine_free(e);

    struct tmach small;
    tm_init(&small, 1, 256 * 1024, "small");
    small.can_rebuild = true;
    tm_fill(&small, 0, 0x66, PG);
    e = snap_engine_new(dir, &tm_ops, &small);
    g_autofree char *mem = snap_dir_file(dir, "big", "memory");
    g_autofree char *data = NULL;
    gsize len = 0;
    ck_assert(g_file_get_contents(mem, &data, &len, NULL));
    ck_assert(g_file_set_contents(mem, data, (gssize)(len / 2), NULL)); /* truncated */
    int rc = snap_engine_restore(e, "big");
    ck_assert_msg(rc < 0, "a truncated memory file was restored");
    ck_assert_msg(strstr(msg(), "big"), "'%s' does not name the snapshot", msg());
    ck_assert_int_eq(small.rebuilds, 0);
    ck_assert_int_eq(small.fails, 0);
    ck_assert_int_eq(small.state, VM_STATE_RUNNING);
    ck_assert_uint_eq(small.nvcpus, 1);
    ck_assert_uint_eq(tm_byte(&small, 0), 0x66);
    ck_assert(!small.quiesced);
    ck_assert_int_eq(small.pauses, small.resumes);
    snap_engine_free(e);
    tm_fini(&small);
    tm_fini(&t);
}
END_TEST

/* A stopped restore whose disk copy fails keeps the old definition with
 * the old disks. */
START_TEST(stopped_restore_keeps_definition_when_disks_fail)
{
    struct tmach t;
    tm_init(&t, 1, 256 * 1024, "off");
    t.disks[t.ndisks++] = make_disk("s.img", 0x51, 8 * 1024);
    t.state = VM_STATE_STOPPED;
    struct snap_engine *e = snap_engine_new(dir, &tm_ops, &t);
    OK(snap_engine_create(e, "off", 0));
    g_autofree char *copy = snap_dir_file(dir, "off", "disk-0");
    ck_assert_int_eq(unlink(copy), 0);
    g_free(t.def);
    t.def = g_strdup("vcpus=1 ram=262144 uart=1 tag=later");
    g_autofree char *s2 = make_disk("s.img", 0x52, 8 * 1024);
    int rc = snap_engine_restore(e, "off");
    ck_assert_msg(rc < 0, "restored without its disk copy");
    ck_assert_msg(strstr(msg(), "s.img"), "'%s' does not name the disk", msg());
    ck_assert_str_eq(t.def, "vcpus=1 ram=262144 uart=1 tag=later");
    ck_assert(strstr(t.log, "define") == NULL);
    check_disk(t.disks[0], 0x52, 8 * 1024);
    ck_assert_int_eq(hidden_in(root), 0);
    snap_engine_free(e);
    tm_fini(&t);
}
END_TEST

/* ---- shape ---- */

START_TEST(restore_refuses_other_shape_unless_rebuilt)
{
    struct tmach t;
    tm_init(&t, 2, 512 * 1024, "shape");
    struct snap_engine *e = snap_engine_new(dir, &tm_ops, &t);
    tm_fill(&t, 0, 0x5a, PG);
    t.uart_count = 5;
    OK(snap_engine_create(e, "two", 0));
    tm_fill(&t, 0, 0x77, PG);

    t.nvcpus = 1;
    FAILS(snap_engine_restore(e, "two"), QV_ERR_INVALID_STATE, "1 vCPUs, the snapshot 2");
    ck_assert_int_eq(t.state, VM_STATE_RUNNING);
    ck_assert_uint_eq(tm_byte(&t, 0), 0x77);
    t.nvcpus = 2;

    t.has_uart = false;
    FAILS(snap_engine_restore(e, "two"), QV_ERR_INVALID_STATE, "uart@0x3f8");
    ck_assert_int_eq(t.state, VM_STATE_RUNNING);
    t.has_uart = true;

    struct tmach small;
    tm_init(&small, 2, 256 * 1024, "small");
    struct snap_engine *e2 = snap_engine_new(dir, &tm_ops, &small);
    FAILS(snap_engine_restore(e2, "two"), QV_ERR_INVALID_STATE, "RAM region 0");
    ck_assert_int_eq(small.state, VM_STATE_RUNNING);
    ck_assert_int_eq(small.pauses, small.resumes);
    /* A machine that rebuilds takes the snapshot's shape. */
    small.can_rebuild = true;
    small.nvcpus = 1;
    OK(snap_engine_restore(e2, "two"));
    ck_assert_int_eq(small.rebuilds, 1);
    ck_assert_int_eq(small.discarded_quiesced, 0); /* no disks: unquiesced, then rebuilt */
    ck_assert_uint_eq(small.nvcpus, 2);
    ck_assert_uint_eq(small.ram[0].size, 512 * 1024);
    ck_assert_uint_eq(tm_byte(&small, 0), 0x5a);
    ck_assert_uint_eq(small.uart_count, 5);
    ck_assert_int_eq(small.state, VM_STATE_RUNNING);
    snap_engine_free(e2);
    tm_fini(&small);

    /* A damaged state file is refused and the machine is untouched. */
    g_autofree char *state = snap_dir_file(dir, "two", "state");
    g_autofree char *data = NULL;
    gsize len = 0;
    ck_assert(g_file_get_contents(state, &data, &len, NULL));
    data[len / 2] ^= 0x40;
    ck_assert(g_file_set_contents(state, data, (gssize)len, NULL));
    FAILS(snap_engine_restore(e, "two"), QV_ERR_PROTOCOL, "state");
    ck_assert_int_eq(t.state, VM_STATE_RUNNING);
    ck_assert_uint_eq(tm_byte(&t, 0), 0x77);
    snap_engine_free(e);
    tm_fini(&t);
}
END_TEST

/* ---- a kill at every step ---- */

struct killer {
    int at, seen;
};

static void kill_hook(void *opaque, const char *step)
{
    struct killer *k = opaque;
    (void)step;
    if (k->seen++ == k->at)
        _exit(3);
}

/* The earlier snapshots: base (full), i1 (increment), on disk a.img. */
static void prepare_chain(struct tmach *t, struct snap_engine *e)
{
    tm_fill(t, 0, 0x10, 32 * PG);
    OK(snap_engine_create(e, "base", 0));
    tm_fill(t, PG, 0x11, PG);
    OK(snap_engine_create(e, "i1", SNAPSHOT_INCREMENTAL));
    tm_fill(t, 2 * PG, 0x12, PG);
}

static void check_earlier(struct tmach *t, struct snap_engine *e, bool base_may_go)
{
    if (!base_may_go || list_count(e, "base")) {
        OK(snap_engine_restore(e, "base"));
        ck_assert_uint_eq(tm_byte(t, 0), 0x10);
        ck_assert_uint_eq(tm_byte(t, PG), 0x10);
    }
    OK(snap_engine_restore(e, "i1"));
    ck_assert_uint_eq(tm_byte(t, PG), 0x11);
    ck_assert_uint_eq(tm_byte(t, 2 * PG), 0x10);
    check_disk(t->disks[0], 0xd1, 16 * 1024);
}

START_TEST(kill_at_each_step)
{
    for (int op = 0; op < 2; op++) {
        for (int at = 0;; at++) {
            /* Fresh earlier snapshots for each kill. */
            qv_dir_remove_tree(dir);
            ck_assert_int_eq(g_mkdir(dir, 0700), 0);
            struct tmach t;
            tm_init(&t, 1, 256 * 1024, "kill");
            t.disks[t.ndisks++] = make_disk("d.img", 0xd1, 16 * 1024);
            t.can_rebuild = true;
            struct snap_engine *e = snap_engine_new(dir, &tm_ops, &t);
            prepare_chain(&t, e);
            struct killer k = {.at = at};
            struct snap_hook hook = {kill_hook, &k};
            pid_t pid = fork();
            ck_assert_int_ge(pid, 0);
            if (pid == 0) {
                snap_engine_set_hook(e, &hook);
                int rc = op == 0 ? snap_engine_create(e, "i2", SNAPSHOT_INCREMENTAL)
                                 : snap_engine_delete(e, "base");
                _exit(rc == 0 ? 0 : 4);
            }
            int status;
            ck_assert_int_eq(waitpid(pid, &status, 0), pid);
            ck_assert(WIFEXITED(status));
            int code = WEXITSTATUS(status);
            ck_assert_msg(code == 0 || code == 3, "op %d step %d: exit %d", op, at, code);
            /* What a new process finds: an engine sweeps on opening. */
            snap_engine_free(e);
            e = snap_engine_new(dir, &tm_ops, &t);
            ck_assert_int_eq(hidden_in(dir), 0);
            if (op == 0 && list_count(e, "i2")) {
                OK(snap_engine_restore(e, "i2"));
                ck_assert_uint_eq(tm_byte(&t, 2 * PG), 0x12);
                ck_assert_uint_eq(tm_byte(&t, PG), 0x11);
            } else if (op == 0) {
                ck_assert_int_eq(code, 3);
            }
            if (op == 1)
                ck_assert(code == 3 || list_count(e, "base") == 0);
            check_earlier(&t, e, op == 1);
            snap_engine_free(e);
            tm_fini(&t);
            if (code == 0) {
                ck_assert_int_gt(at, 2); /* the hook did see steps */
                break;
            }
        }
    }
}
END_TEST

/* A restore killed at each of its steps: nothing but the images ever
 * changes in their directory; each image is the snapshot's or what it
 * was, never a mix, once a new engine (another process) opens the store;
 * the record is gone; and a restore past the first copy is finished. */
START_TEST(restore_killed_at_each_step)
{
    for (int live = 0; live < 2; live++) {
        for (int at = 0;; at++) {
            qv_dir_remove_tree(dir);
            ck_assert_int_eq(g_mkdir(dir, 0700), 0);
            struct tmach t;
            tm_init(&t, 1, 256 * 1024, "rk");
            t.disks[t.ndisks++] = make_disk("d.img", 0xd1, 16 * 1024);
            t.disks[t.ndisks++] = make_disk("e.img", 0xe1, 8 * 1024);
            t.can_rebuild = true;
            if (!live)
                t.state = VM_STATE_STOPPED;
            struct snap_engine *e = snap_engine_new(dir, &tm_ops, &t);
            OK(snap_engine_create(e, "s", 0));
            g_autofree char *d2 = make_disk("d.img", 0xd2, 32 * 1024);
            g_autofree char *e2 = make_disk("e.img", 0xe2, 4 * 1024);
            g_autofree char *before = names_in(root);
            struct killer k = {.at = at};
            struct snap_hook hook = {kill_hook, &k};
            pid_t pid = fork();
            ck_assert_int_ge(pid, 0);
            if (pid == 0) {
                snap_engine_set_hook(e, &hook);
                _exit(snap_engine_restore(e, "s") == 0 ? 0 : 4);
            }
            int status;
            ck_assert_int_eq(waitpid(pid, &status, 0), pid);
            ck_assert(WIFEXITED(status));
            int code = WEXITSTATUS(status);
            ck_assert_msg(code == 0 || code == 3, "live %d step %d: exit %d", live, at, code);
            g_autofree char *killed = names_in(root);
            ck_assert_str_eq(killed, before);
            snap_engine_free(e);
            /* The VM died with the process that restored it: the next one
             * finds it stopped (recovery never rewrites a running VM's
             * disks). */
            t.state = VM_STATE_STOPPED;
            e = snap_engine_new(dir, &tm_ops, &t);
            ck_assert_int_eq(hidden_in(dir), 0);
            bool d_new = disk_is(d2, 0xd1, 16 * 1024), e_new = disk_is(e2, 0xe1, 8 * 1024);
            ck_assert_msg(d_new || disk_is(d2, 0xd2, 32 * 1024), "step %d: d.img mixed", at);
            ck_assert_msg(e_new || disk_is(e2, 0xe2, 4 * 1024), "step %d: e.img mixed", at);
            /* Both or neither: once the first image is touched, the record
             * has both finished. */
            ck_assert_msg(d_new == e_new, "step %d: one disk restored, not the other", at);
            ck_assert(code != 0 || d_new);
            snap_engine_free(e);
            tm_fini(&t);
            if (code == 0) {
                ck_assert_int_gt(at, 2);
                break;
            }
        }
    }
}
END_TEST

/* A kill in the middle of the second disk's copy (its image half written,
 * a different size): a new engine over the store puts both disks back
 * exactly as the snapshot holds them. */
static struct tmach *mid_t;

static void mid_copy_hook(void *opaque, const char *step)
{
    (void)opaque;
    if (strcmp(step, "restore disk 1") != 0)
        return;
    int fd = open(mid_t->disks[1], O_WRONLY);
    uint8_t half[3000];
    memset(half, 0xe1, sizeof half);
    if (fd < 0 || pwrite(fd, half, sizeof half, 0) != (ssize_t)sizeof half ||
        ftruncate(fd, 12345) < 0)
        _exit(5);
    _exit(3);
}

START_TEST(restore_killed_mid_copy_is_finished)
{
    struct tmach t;
    tm_init(&t, 1, 256 * 1024, "mid");
    t.disks[t.ndisks++] = make_disk("d.img", 0xd1, 16 * 1024);
    t.disks[t.ndisks++] = make_disk("e.img", 0xe1, 8 * 1024);
    t.can_rebuild = true;
    struct snap_engine *e = snap_engine_new(dir, &tm_ops, &t);
    OK(snap_engine_create(e, "s", 0));
    g_autofree char *d2 = make_disk("d.img", 0xd2, 32 * 1024);
    g_autofree char *e2 = make_disk("e.img", 0xe2, 4 * 1024);
    mid_t = &t;
    struct snap_hook hook = {mid_copy_hook, NULL};
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        snap_engine_set_hook(e, &hook);
        snap_engine_restore(e, "s");
        _exit(4);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 3);
    /* What the kill left: the first disk done, the second a mix, and the
     * record saying so. */
    check_disk(d2, 0xd1, 16 * 1024);
    ck_assert(!disk_is(e2, 0xe1, 8 * 1024) && !disk_is(e2, 0xe2, 4 * 1024));
    g_autofree char *rec = g_build_filename(dir, ".restore-intent", NULL);
    g_autofree char *text = NULL;
    ck_assert(g_file_get_contents(rec, &text, NULL, NULL));
    ck_assert_msg(strstr(text, "snapshot=s") && strstr(text, e2), "record: %s", text);
    /* The record keeps the snapshot it needs from going. */
    snap_engine_free(e);
    g_autofree char *copy = snap_dir_file(dir, "s", "disk-1");
    g_autofree char *aside = g_strconcat(root, "/aside", NULL);
    ck_assert_int_eq(rename(copy, aside), 0);
    /* Not while it runs: the record is another process's restore. */
    e = snap_engine_new(dir, &tm_ops, &t);
    FAILS(snap_engine_create(e, "t", 0), QV_ERR_BUSY, "while this VM runs");
    ck_assert(!disk_is(e2, 0xe1, 8 * 1024) && !disk_is(e2, 0xe2, 4 * 1024));
    snap_engine_free(e);
    /* The VM died with the process that restored it. */
    t.state = VM_STATE_STOPPED;
    e = snap_engine_new(dir, &tm_ops, &t); /* cannot finish: warns */
    FAILS(snap_engine_delete(e, "s"), QV_ERR_IO, "cut short");
    ck_assert_msg(strstr(msg(), "disk-1") && strstr(msg(), "remove '") &&
                      strstr(msg(), ".restore-intent' to give up"),
                  "'%s' says neither what is wrong nor the way out", msg());
    ck_assert_uint_eq(list_count(e, "s"), 1);
    FAILS(snap_engine_create(e, "t", 0), QV_ERR_IO, "cut short");
    ck_assert_int_eq(rename(aside, copy), 0);
    snap_engine_free(e);
    /* A new engine finishes it, and removes the temporary of a record
     * whose writer was killed while writing it. */
    /* Named as qv_file_write_atomic names its temporary ("." + name +
     * ".XXXXXX"). */
    g_autofree char *stale = g_build_filename(dir, "..restore-intent.Ab12Cd", NULL);
    ck_assert(g_file_set_contents(stale, "[restore]\n", -1, NULL));
    e = snap_engine_new(dir, &tm_ops, &t);
    check_disk(d2, 0xd1, 16 * 1024);
    check_disk(e2, 0xe1, 8 * 1024);
    ck_assert_int_eq(hidden_in(dir), 0);
    OK(snap_engine_delete(e, "s"));
    snap_engine_free(e);
    tm_fini(&t);
}
END_TEST

/* A store that cannot take the restore's record (full, failing): a
 * directory where the record's rename goes. */
static void record_fails_hook(void *opaque, const char *step)
{
    (void)opaque;
    if (strcmp(step, "write restore intent") != 0)
        return;
    g_autofree char *p = g_build_filename(dir, ".restore-intent", NULL);
    g_autofree char *q = g_build_filename(p, "x", NULL);
    ck_assert_int_eq(g_mkdir(p, 0700), 0);
    ck_assert(g_file_set_contents(q, "x", 1, NULL));
}

/* The record cannot be written: the restore is refused and the VM goes on
 * as it was, its devices awake (running) or its definition kept
 * (stopped), its disks untouched. */
START_TEST(restore_refused_when_the_record_cannot_be_written)
{
    for (int live = 0; live < 2; live++) {
        qv_dir_remove_tree(dir);
        ck_assert_int_eq(g_mkdir(dir, 0700), 0);
        struct tmach t;
        tm_init(&t, 1, 256 * 1024, "rec");
        t.disks[t.ndisks++] = make_disk("r.img", 0xc1, 8 * 1024);
        t.can_rebuild = true;
        if (!live)
            t.state = VM_STATE_STOPPED;
        struct snap_engine *e = snap_engine_new(dir, &tm_ops, &t);
        OK(snap_engine_create(e, "s", 0));
        g_free(t.def);
        t.def = g_strdup("vcpus=1 ram=262144 uart=1 tag=later");
        g_autofree char *now = make_disk("r.img", 0xc2, 8 * 1024);
        struct snap_hook hook = {record_fails_hook, NULL};
        snap_engine_set_hook(e, &hook);
        ck_assert_int_lt(snap_engine_restore(e, "s"), 0);
        ck_assert_msg(strstr(msg(), "cannot record the restore"), "%s", msg());
        check_disk(now, 0xc2, 8 * 1024);
        ck_assert_str_eq(t.def, "vcpus=1 ram=262144 uart=1 tag=later");
        if (live) {
            ck_assert_int_eq(t.state, VM_STATE_RUNNING);
            ck_assert(!t.quiesced);
        }
        snap_engine_free(e);
        tm_fini(&t);
    }
}
END_TEST

static void kill_at_second_disk(void *opaque, const char *step)
{
    (void)opaque;
    if (strcmp(step, "restore disk 1") == 0)
        _exit(3);
}

/* A restore killed part way, then the half-written image moved aside and
 * another file (a backup) put at its path: recovery never writes that
 * file, and says why. */
START_TEST(recovery_leaves_a_replaced_image_alone)
{
    struct tmach t;
    tm_init(&t, 1, 256 * 1024, "repl");
    t.disks[t.ndisks++] = make_disk("d.img", 0xd1, 16 * 1024);
    t.disks[t.ndisks++] = make_disk("e.img", 0xe1, 8 * 1024);
    t.state = VM_STATE_STOPPED;
    struct snap_engine *e = snap_engine_new(dir, &tm_ops, &t);
    OK(snap_engine_create(e, "s", 0));
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct snap_hook hook = {kill_at_second_disk, NULL};
        snap_engine_set_hook(e, &hook);
        snap_engine_restore(e, "s");
        _exit(4);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_int_eq(WEXITSTATUS(status), 3);
    snap_engine_free(e);
    g_autofree char *aside = g_strconcat(t.disks[1], ".broken", NULL);
    ck_assert_int_eq(rename(t.disks[1], aside), 0);
    g_autofree char *backup = make_disk("e.img", 0x77, 20 * 1024);
    e = snap_engine_new(dir, &tm_ops, &t); /* cannot finish: warns */
    FAILS(snap_engine_create(e, "t", 0), QV_ERR_INVALID_STATE, "not the file the restore began");
    check_disk(backup, 0x77, 20 * 1024);
    snap_engine_free(e);
    tm_fini(&t);
}
END_TEST

/* An image another VM runs on (its disk backend holds an OFD write lock,
 * drivers/kvm/virtio/blk_raw.c): a stopped VM's restore is refused
 * rather than rewrite it under that VM. */
START_TEST(restore_refuses_an_image_in_use)
{
    struct tmach t;
    tm_init(&t, 1, 256 * 1024, "lk");
    t.disks[t.ndisks++] = make_disk("shared.img", 0xa1, 16 * 1024);
    t.state = VM_STATE_STOPPED;
    struct snap_engine *e = snap_engine_new(dir, &tm_ops, &t);
    OK(snap_engine_create(e, "s", 0));
    g_autofree char *now = make_disk("shared.img", 0xa2, 16 * 1024);
    int fd = open(now, O_RDWR | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    ck_assert_int_eq(fcntl(fd, F_OFD_SETLK, &lk), 0);
    FAILS(snap_engine_restore(e, "s"), QV_ERR_BUSY, "in use");
    check_disk(now, 0xa2, 16 * 1024);
    close(fd);
    /* Once it is free, a restore finishes the job. */
    OK(snap_engine_restore(e, "s"));
    check_disk(now, 0xa1, 16 * 1024);
    snap_engine_free(e);
    tm_fini(&t);
}
END_TEST

/* ---- a full disk ---- */

START_TEST(full_tmpfs_keeps_vm_running)
{
    g_autofree char *sdir = g_build_filename(mnt, "snapshots", NULL);
    ck_assert_int_eq(g_mkdir(sdir, 0700), 0);
    struct tmach t;
    tm_init(&t, 1, 8 * MiB, "full");
    struct snap_engine *e = snap_engine_new(sdir, &tm_ops, &t);
    tm_fill(&t, 0, 0x01, 4 * PG);
    OK(snap_engine_create(e, "small", 0));
    /* 8 MiB of non-zero RAM does not fit in the 4 MiB tmpfs. */
    tm_fill(&t, 0, 0xee, 8 * MiB);
    int rc = snap_engine_create(e, "big", 0);
    ck_assert_int_eq(rc, QV_ERR_IO);
    ck_assert_msg(strstr(msg(), "No space left"), "%s", msg());
    ck_assert_msg(strstr(msg(), "big"), "%s", msg());
    /* The VM runs on, nothing half-written is left, the earlier one
     * restores. */
    ck_assert_int_eq(t.state, VM_STATE_RUNNING);
    ck_assert(!t.quiesced);
    ck_assert_int_eq(t.pauses, t.resumes);
    ck_assert_int_eq(hidden_in(sdir), 0);
    ck_assert_uint_eq(list_count(e, NULL), 1);
    /* An increment still holds every page written since "small". */
    FAILS(snap_engine_create(e, "big-inc", SNAPSHOT_INCREMENTAL), QV_ERR_IO, "No space left");
    ck_assert_int_eq(t.state, VM_STATE_RUNNING);
    OK(snap_engine_restore(e, "small"));
    ck_assert_uint_eq(tm_byte(&t, 0), 0x01);
    ck_assert_uint_eq(tm_byte(&t, 5 * PG), 0);
    snap_engine_free(e);
    tm_fini(&t);
}
END_TEST

/* A sparse image whose file system fills while the snapshot's data is
 * copied over its holes: the VM is left stopped with an error that says
 * to restore again, the record stays, and once there is room the retry
 * puts the disk back whole. */
START_TEST(full_tmpfs_restore_into_sparse_image)
{
    g_autofree char *sroot = g_dir_make_tmp("qv-snapengine-store-XXXXXX", NULL);
    g_autofree char *sdir = g_build_filename(sroot, "snapshots", NULL);
    ck_assert_int_eq(g_mkdir(sdir, 0700), 0);
    g_autofree char *img = g_build_filename(mnt, "sparse.img", NULL);
    size_t len = 3 * MiB;
    g_autofree uint8_t *buf = g_malloc(len);
    memset(buf, 0x5e, len);
    ck_assert(g_file_set_contents(img, (char *)buf, (gssize)len, NULL));
    struct tmach t;
    tm_init(&t, 1, 256 * 1024, "sparse");
    t.disks[t.ndisks++] = g_strdup(img);
    t.can_rebuild = true;
    struct snap_engine *e = snap_engine_new(sdir, &tm_ops, &t);
    OK(snap_engine_create(e, "s", 0));
    /* The image made all holes, and the room taken by another file. */
    ck_assert_int_eq(truncate(img, 0), 0);
    ck_assert_int_eq(truncate(img, (off_t)len), 0);
    g_autofree char *filler = g_build_filename(mnt, "filler", NULL);
    memset(buf, 0x77, len);
    ck_assert(g_file_set_contents(filler, (char *)buf, 2 * MiB, NULL));
    int rc = snap_engine_restore(e, "s");
    ck_assert_int_eq(rc, QV_ERR_IO);
    ck_assert_msg(strstr(msg(), "No space left"), "%s", msg());
    ck_assert_msg(strstr(msg(), "restore snapshot 's' again"), "%s", msg());
    ck_assert_msg(strstr(msg(), "sparse.img"), "%s", msg());
    ck_assert_int_eq(t.fails, 1);
    ck_assert_int_ne(t.state, VM_STATE_RUNNING);
    ck_assert_int_eq(hidden_in(sdir), 1); /* the record */
    ck_assert_int_eq(hidden_in(mnt), 0);
    ck_assert_int_eq(unlink(filler), 0);
    OK(snap_engine_restore(e, "s"));
    ck_assert(disk_is(img, 0x5e, len));
    ck_assert_int_eq(hidden_in(sdir), 0);
    snap_engine_free(e);
    tm_fini(&t);
    qv_dir_remove_tree(sroot);
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
    int skip = private_tmpfs_mount("qv-snapengine-tmpfs-XXXXXX", "4m", &mnt);
    if (skip)
        return skip;
    Suite *s = suite_create("kvm_snap_engine_enospc");
    TCase *tc = tcase_create("enospc");
    tcase_add_test(tc, full_tmpfs_keeps_vm_running);
    tcase_add_test(tc, full_tmpfs_restore_into_sparse_image);
    suite_add_tcase(s, tc);
    int rc = run(s);
    private_tmpfs_unmount(&mnt);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "enospc") == 0)
        return enospc_main();
    Suite *s = suite_create("kvm_snap_engine");
    TCase *tc = tcase_create("engine");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, create_list_restore_delete);
    tcase_add_test(tc, damaged_snapshot_listed_and_deletable);
    tcase_add_test(tc, incremental_chain_and_folds);
    tcase_add_test(tc, failed_snapshot_loses_no_dirty_pages);
    tcase_add_test(tc, restore_keeps_what_devices_write_as_they_wake);
    tcase_add_test(tc, disks_captured_and_put_back);
    tcase_add_test(tc, restore_refuses_other_shape_unless_rebuilt);
    tcase_add_test(tc, restore_quiesces_before_swapping_memory);
    tcase_add_test(tc, restore_checks_before_rebuilding);
    tcase_add_test(tc, stopped_restore_keeps_definition_when_disks_fail);
    tcase_add_test(tc, kill_at_each_step);
    tcase_add_test(tc, restore_killed_at_each_step);
    tcase_add_test(tc, restore_killed_mid_copy_is_finished);
    tcase_add_test(tc, restore_refused_when_the_record_cannot_be_written);
    tcase_add_test(tc, recovery_leaves_a_replaced_image_alone);
    tcase_add_test(tc, restore_refuses_an_image_in_use);
    suite_add_tcase(s, tc);
    return run(s);
}
