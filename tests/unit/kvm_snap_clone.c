/* vm_clone's engine half (drivers/kvm/snapshot/snap_clone.h) over the
 * plain-memory machine of kvm_snap_engine_machine.h, without /dev/kvm: a
 * running source cloned into a new store runs on; a new machine resumed
 * from the store has the source's RAM, vCPUs and device state of that
 * instant, the clone's definition and its own disk copies; two clones do
 * not see each other's (or the source's) writes, and none writes the
 * store's memory file; the source's increments are undisturbed; a kill at
 * any step leaves no half clone; a stopped source gives disks only.
 * `kvm_snap_clone enospc` runs the full-disk case on a small tmpfs (exit
 * 77 where it cannot mount one). */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drivers/kvm/snapshot/snap_clone.h"
#include "kvm_snap_engine_machine.h"
#include "lib/util/error.h"
#include "lib/util/fileio.h"
#include "private_tmpfs.h"
#include "qv/error.h"

#define PG 4096ull
#define MiB (1024ull * 1024)
#define RAM (1 * MiB)

static char *root;   /* the test's directory: the source's disks */
static char *sdir;   /* the source's snapshot directory */
static char *clones; /* where stores go */
static char *mnt;    /* enospc: the tmpfs */

static void setup(void)
{
    root = g_dir_make_tmp("qv-snapclone-XXXXXX", NULL);
    ck_assert_ptr_nonnull(root);
    sdir = g_build_filename(root, "snapshots", NULL);
    clones = g_build_filename(root, "clones", NULL);
    ck_assert_int_eq(g_mkdir(sdir, 0700), 0);
    ck_assert_int_eq(g_mkdir(clones, 0700), 0);
}

static void teardown(void)
{
    qv_dir_remove_tree(root);
    g_free(root);
    g_free(sdir);
    g_free(clones);
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
    ck_assert_msg(g_file_get_contents(p, &data, &got, NULL), "%s unreadable", p);
    ck_assert_uint_eq(got, len);
    for (size_t i = 0; i < len; i++)
        ck_assert_msg((uint8_t)data[i] == byte, "%s byte %zu is 0x%x, not 0x%x", p, i,
                      (uint8_t)data[i], byte);
}

static int mode_of(const char *p)
{
    struct stat st;
    ck_assert_int_eq(lstat(p, &st), 0);
    return st.st_mode & 07777;
}

/* A running source: 2 vCPUs, RAM with a pattern, a uart count, one disk,
 * and an exit KVM would finish on the next entry (settle writes it). */
static void source_init(struct tmach *t)
{
    tm_init(t, 2, RAM, "src");
    t->disks[t->ndisks++] = make_disk("vda.img", 0xd1, 64 * 1024);
    t->can_rebuild = true; /* its own restores put its disk back */
    tm_fill(t, 0, 0x5a, 16 * PG);
    tm_fill(t, 0x100000000ull, 0x6b, PG);
    t->vcpu[0].regs.rip = 0xfeed;
    t->vcpu[1].regs.rbx = 0xbeef;
    t->vcpu[1].sregs.cr3 = 0x9000;
    t->uart_count = 7;
    t->pending = true;
    t->pending_gpa = 20 * PG;
    t->pending_byte = 0xe7;
}

static char *clone_to(struct snap_engine *e, const char *name, const char *tag)
{
    char *store = g_build_filename(clones, name, NULL);
    g_autofree char *xml =
        g_strdup_printf("vcpus=2 ram=%llu uart=1 tag=%s", (unsigned long long)RAM, tag);
    const char *disks[] = {"disk-vda.img"};
    struct snap_clone c = {.store = store, .xml = xml, .disks = disks, .ndisks = 1};
    OK(snap_engine_clone(e, &c));
    return store;
}

/* A machine of another shape than the source's, never started: resume
 * rebuilds it from the store's definition. */
static void blank_init(struct tmach *t)
{
    tm_init(t, 1, 64 * 1024, "blank");
    t->state = VM_STATE_CREATED;
    t->can_rebuild = true;
}

static char *file_sum(const char *path)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    ck_assert(g_file_get_contents(path, &data, &len, NULL));
    return g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)data, len);
}

START_TEST(running_source_clone_resumes_in_new_machine)
{
    struct tmach src;
    source_init(&src);
    struct snap_engine *e = snap_engine_new(sdir, &tm_ops, &src);
    /* The source's own chain: a base, then pages written before the
     * clone, which its next increment must still hold. */
    OK(snap_engine_create(e, "base", 0));
    tm_fill(&src, 3 * PG, 0x33, PG);
    src.pending = true; /* an exit the clone's capture must finish first */
    src.pending_byte = 0xe8;
    src.log[0] = '\0';
    int pauses = src.pauses;
    g_autofree char *store = clone_to(e, "c1", "c1");

    /* The source ran on; it was held still for the capture only. */
    ck_assert_int_eq(src.state, VM_STATE_RUNNING);
    ck_assert_int_eq(src.pauses, pauses + 1);
    ck_assert_int_eq(src.pauses, src.resumes);
    ck_assert(!src.quiesced);
    ck_assert_str_eq(src.log, "pause settle quiesce unquiesce resume");
    /* Its snapshots are its own: the clone is not one of them. */
    struct snapshot_info *l;
    size_t n;
    OK(snap_engine_list(e, &l, &n));
    ck_assert_uint_eq(n, 1);
    snapshot_info_free(l, n);

    /* The store: 0700, the disk copy, the state; nothing hidden. */
    ck_assert_int_eq(mode_of(store), 0700);
    g_autofree char *disk = g_build_filename(store, "disk-vda.img", NULL);
    check_disk(disk, 0xd1, 64 * 1024);
    ck_assert_int_eq(mode_of(disk), 0600);
    ck_assert(snap_clone_has_resume(store));
    ck_assert_int_eq(hidden_in(clones), 0);

    /* The source writes on, to RAM and disk: the clone has none of it. */
    tm_fill(&src, 0, 0x99, PG);
    g_autofree char *d2 = make_disk("vda.img", 0xd2, 64 * 1024);
    check_disk(disk, 0xd1, 64 * 1024);

    struct tmach c;
    blank_init(&c);
    OK(snap_clone_resume(store, &tm_ops, &c));
    ck_assert_int_eq(c.state, VM_STATE_RUNNING);
    ck_assert_int_eq(c.rebuilds, 1);
    ck_assert_str_eq(c.def, "vcpus=2 ram=1048576 uart=1 tag=c1");
    ck_assert_uint_eq(c.nvcpus, 2);
    ck_assert_uint_eq(c.vcpu[0].regs.rip, 0xfeed);
    ck_assert_uint_eq(c.vcpu[1].regs.rbx, 0xbeef);
    ck_assert_uint_eq(c.vcpu[1].sregs.cr3, 0x9000);
    ck_assert_uint_eq(c.uart_count, 7);
    ck_assert_uint_eq(tm_byte(&c, 0), 0x5a);
    ck_assert_uint_eq(tm_byte(&c, 15 * PG + 4095), 0x5a);
    ck_assert_uint_eq(tm_byte(&c, 3 * PG), 0x33);
    ck_assert_uint_eq(tm_byte(&c, 16 * PG), 0);
    ck_assert_uint_eq(tm_byte(&c, 20 * PG), 0xe8); /* the settled exit's write */
    ck_assert_uint_eq(tm_byte(&c, 0x100000000ull), 0x6b);
    /* Used once: the next start of the clone boots afresh. */
    ck_assert(!snap_clone_has_resume(store));
    g_autofree char *rdir = g_build_filename(store, SNAP_CLONE_RESUME_DIR, NULL);
    ck_assert(!g_file_test(rdir, G_FILE_TEST_EXISTS));

    /* The source's increment over base holds the pages written before
     * and after the clone. */
    OK(snap_engine_create(e, "inc", SNAPSHOT_INCREMENTAL));
    tm_fill(&src, 0, 0, 32 * PG);
    OK(snap_engine_restore(e, "inc"));
    ck_assert_uint_eq(tm_byte(&src, 0), 0x99);
    ck_assert_uint_eq(tm_byte(&src, 3 * PG), 0x33);
    ck_assert_uint_eq(tm_byte(&src, PG), 0x5a);
    snap_engine_free(e);
    tm_fini(&c);
    tm_fini(&src);
}
END_TEST

START_TEST(two_clones_do_not_share_memory)
{
    struct tmach src;
    source_init(&src);
    struct snap_engine *e = snap_engine_new(sdir, &tm_ops, &src);
    g_autofree char *s1 = clone_to(e, "c1", "c1");
    g_autofree char *s2 = clone_to(e, "c2", "c2");
    /* The memory files, held open across the resume that unlinks them. */
    g_autofree char *m1 = g_build_filename(s1, "resume/origin/memory", NULL);
    g_autofree char *m2 = g_build_filename(s2, "resume/origin/memory", NULL);
    g_autofree char *sum1 = file_sum(m1);
    g_autofree char *sum2 = file_sum(m2);
    g_autofree char *keep1 = g_build_filename(root, "m1", NULL);
    g_autofree char *keep2 = g_build_filename(root, "m2", NULL);
    ck_assert_int_eq(link(m1, keep1), 0);
    ck_assert_int_eq(link(m2, keep2), 0);

    struct tmach a, b;
    blank_init(&a);
    blank_init(&b);
    OK(snap_clone_resume(s1, &tm_ops, &a));
    OK(snap_clone_resume(s2, &tm_ops, &b));
    tm_fill(&a, 0, 0xa1, 2 * PG);
    ck_assert_uint_eq(tm_byte(&b, 0), 0x5a);
    ck_assert_uint_eq(tm_byte(&src, 0), 0x5a);
    tm_fill(&b, PG, 0xb2, PG);
    tm_fill(&src, 0, 0x11, 2 * PG);
    ck_assert_uint_eq(tm_byte(&a, 0), 0xa1);
    ck_assert_uint_eq(tm_byte(&a, PG), 0xa1);
    ck_assert_uint_eq(tm_byte(&b, 0), 0x5a);
    ck_assert_uint_eq(tm_byte(&b, PG), 0xb2);
    /* Private mappings: no clone's write reached its memory file. */
    g_autofree char *after1 = file_sum(keep1);
    g_autofree char *after2 = file_sum(keep2);
    ck_assert_str_eq(after1, sum1);
    ck_assert_str_eq(after2, sum2);
    /* Nor each other's disks. */
    g_autofree char *d1 = g_build_filename(s1, "disk-vda.img", NULL);
    g_autofree char *d2 = g_build_filename(s2, "disk-vda.img", NULL);
    ck_assert(g_file_set_contents(d1, "x", 1, NULL));
    check_disk(d2, 0xd1, 64 * 1024);
    check_disk(src.disks[0], 0xd1, 64 * 1024);
    snap_engine_free(e);
    tm_fini(&a);
    tm_fini(&b);
    tm_fini(&src);
}
END_TEST

START_TEST(paused_and_stopped_sources)
{
    struct tmach src;
    source_init(&src);
    struct snap_engine *e = snap_engine_new(sdir, &tm_ops, &src);
    /* Paused: captured without a pause of ours, resumed paused. */
    src.state = VM_STATE_PAUSED;
    g_autofree char *sp = clone_to(e, "p", "p");
    ck_assert_int_eq(src.state, VM_STATE_PAUSED);
    ck_assert_int_eq(src.pauses, 0);
    struct tmach c;
    blank_init(&c);
    OK(snap_clone_resume(sp, &tm_ops, &c));
    ck_assert_int_eq(c.state, VM_STATE_PAUSED);
    ck_assert_uint_eq(c.uart_count, 7);
    tm_fini(&c);

    /* Stopped: the disks only, nothing paused, nothing to resume. */
    src.state = VM_STATE_STOPPED;
    src.log[0] = '\0';
    g_autofree char *ss = clone_to(e, "s", "s");
    ck_assert_str_eq(src.log, "");
    ck_assert(!snap_clone_has_resume(ss));
    g_autofree char *disk = g_build_filename(ss, "disk-vda.img", NULL);
    check_disk(disk, 0xd1, 64 * 1024);
    g_autofree char *rdir = g_build_filename(ss, SNAP_CLONE_RESUME_DIR, NULL);
    ck_assert(!g_file_test(rdir, G_FILE_TEST_EXISTS));
    blank_init(&c);
    FAILS(snap_clone_resume(ss, &tm_ops, &c), QV_ERR_NOT_FOUND, "origin");
    ck_assert_int_eq(c.state, VM_STATE_CREATED);
    tm_fini(&c);
    snap_engine_free(e);
    tm_fini(&src);
}
END_TEST

START_TEST(refusals_leave_source_running)
{
    struct tmach src;
    source_init(&src);
    struct snap_engine *e = snap_engine_new(sdir, &tm_ops, &src);
    g_autofree char *store = clone_to(e, "taken", "t");
    const char *one[] = {"disk-vda.img"};
    const char *bad[] = {"../x"};
    const char *resv[] = {SNAP_CLONE_RESUME_DIR};
    struct snap_clone c = {
        .store = store, .xml = "vcpus=2 ram=1048576 uart=1 tag=x", .disks = one, .ndisks = 1};
    FAILS(snap_engine_clone(e, &c), QV_ERR_EXISTS, "taken");
    g_autofree char *taken_disk = g_build_filename(store, "disk-vda.img", NULL);
    check_disk(taken_disk, 0xd1, 64 * 1024);
    g_autofree char *other = g_build_filename(clones, "other", NULL);
    c.store = other;
    c.ndisks = 0;
    FAILS(snap_engine_clone(e, &c), QV_ERR_INVALID_ARG, "1 writable disks");
    c.disks = bad;
    c.ndisks = 1;
    FAILS(snap_engine_clone(e, &c), QV_ERR_INVALID_ARG, "'/'");
    c.disks = resv;
    FAILS(snap_engine_clone(e, &c), QV_ERR_INVALID_ARG, "reserved");
    /* A disk that cannot be read: the source resumes, nothing is left. */
    c.disks = one;
    ck_assert_int_eq(unlink(src.disks[0]), 0);
    int pauses = src.pauses;
    FAILS(snap_engine_clone(e, &c), QV_ERR_NOT_FOUND, "vda.img");
    ck_assert_int_eq(src.pauses, pauses + 1);
    ck_assert_int_eq(src.state, VM_STATE_RUNNING);
    ck_assert(!src.quiesced);
    ck_assert(!g_file_test(other, G_FILE_TEST_EXISTS));
    ck_assert_int_eq(hidden_in(clones), 0);
    snap_engine_free(e);
    tm_fini(&src);
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

START_TEST(kill_at_each_step_leaves_no_half_clone)
{
    for (int at = 0;; at++) {
        struct tmach src;
        source_init(&src);
        struct snap_engine *e = snap_engine_new(sdir, &tm_ops, &src);
        g_autofree char *store = g_build_filename(clones, "k", NULL);
        struct killer k = {.at = at};
        struct snap_hook hook = {kill_hook, &k};
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            snap_engine_set_hook(e, &hook);
            const char *disks[] = {"disk-vda.img"};
            struct snap_clone c = {.store = store,
                                   .xml = "vcpus=2 ram=1048576 uart=1 tag=k",
                                   .disks = disks,
                                   .ndisks = 1};
            _exit(snap_engine_clone(e, &c) == 0 ? 0 : 4);
        }
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status));
        int code = WEXITSTATUS(status);
        ck_assert_msg(code == 0 || code == 3, "step %d: exit %d", at, code);
        /* What the next clone to that name finds after its sweep: no
         * hidden leftover, and no store or a whole one. */
        OK(snap_clone_sweep(clones, "k"));
        ck_assert_int_eq(hidden_in(clones), 0);
        if (g_file_test(store, G_FILE_TEST_EXISTS)) {
            struct tmach c;
            blank_init(&c);
            OK(snap_clone_resume(store, &tm_ops, &c));
            ck_assert_uint_eq(tm_byte(&c, 0), 0x5a);
            ck_assert_uint_eq(c.uart_count, 7);
            g_autofree char *disk = g_build_filename(store, "disk-vda.img", NULL);
            check_disk(disk, 0xd1, 64 * 1024);
            tm_fini(&c);
            qv_dir_remove_tree(store);
        } else {
            ck_assert_int_eq(code, 3);
        }
        snap_engine_free(e);
        tm_fini(&src);
        qv_dir_remove_tree(sdir);
        ck_assert_int_eq(g_mkdir(sdir, 0700), 0);
        if (code == 0) {
            ck_assert_int_gt(at, 5); /* the hook saw the steps */
            break;
        }
    }
}
END_TEST

/* ---- a full disk ---- */

START_TEST(full_tmpfs_keeps_source_running)
{
    struct tmach src;
    tm_init(&src, 1, 8 * MiB, "full");
    g_autofree char *sd = g_build_filename(mnt, "snapshots", NULL);
    ck_assert_int_eq(g_mkdir(sd, 0700), 0);
    struct snap_engine *e = snap_engine_new(sd, &tm_ops, &src);
    /* 8 MiB of non-zero RAM does not fit in the 4 MiB tmpfs. */
    tm_fill(&src, 0, 0xee, 8 * MiB);
    g_autofree char *store = g_build_filename(mnt, "big", NULL);
    struct snap_clone c = {.store = store, .xml = "vcpus=1 ram=8388608 uart=1 tag=big"};
    FAILS(snap_engine_clone(e, &c), QV_ERR_IO, "No space left");
    ck_assert_msg(strstr(msg(), "big"), "%s", msg());
    ck_assert_int_eq(src.state, VM_STATE_RUNNING);
    ck_assert_int_eq(src.pauses, 1);
    ck_assert_int_eq(src.resumes, 1);
    ck_assert(!src.quiesced);
    ck_assert(!g_file_test(store, G_FILE_TEST_EXISTS));
    ck_assert_int_eq(hidden_in(mnt), 0);
    /* The space came back: a smaller source clones there. */
    struct tmach small;
    tm_init(&small, 1, 256 * 1024, "small");
    struct snap_engine *e2 = snap_engine_new(sd, &tm_ops, &small);
    tm_fill(&small, 0, 0x42, PG);
    g_autofree char *s2 = g_build_filename(mnt, "small", NULL);
    struct snap_clone c2 = {.store = s2, .xml = "vcpus=1 ram=262144 uart=1 tag=s"};
    OK(snap_engine_clone(e2, &c2));
    snap_engine_free(e2);
    snap_engine_free(e);
    tm_fini(&small);
    tm_fini(&src);
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
    int skip = private_tmpfs_mount("qv-snapclone-tmpfs-XXXXXX", "4m", &mnt);
    if (skip)
        return skip;
    Suite *s = suite_create("kvm_snap_clone_enospc");
    TCase *tc = tcase_create("enospc");
    tcase_add_test(tc, full_tmpfs_keeps_source_running);
    suite_add_tcase(s, tc);
    int rc = run(s);
    private_tmpfs_unmount(&mnt);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "enospc") == 0)
        return enospc_main();
    Suite *s = suite_create("kvm_snap_clone");
    TCase *tc = tcase_create("clone");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, running_source_clone_resumes_in_new_machine);
    tcase_add_test(tc, two_clones_do_not_share_memory);
    tcase_add_test(tc, paused_and_stopped_sources);
    tcase_add_test(tc, refusals_leave_source_running);
    tcase_add_test(tc, kill_at_each_step_leaves_no_half_clone);
    suite_add_tcase(s, tc);
    return run(s);
}
