/* A full disk under a snapshot directory (drivers/kvm/snapshot/snap_dir.h):
 * on a 1 MiB tmpfs, a snapshot that does not fit fails naming the file and
 * ENOSPC, leaves no stage and no space taken, the earlier snapshot stays
 * intact and listed, and the directory works again once there is room.
 * The tmpfs is mounted in a mount namespace of this test's own, so it goes
 * away with the process whatever happens; exits 77 (skipped) where that
 * cannot be done (not root, no CAP_SYS_ADMIN, no tmpfs). */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "drivers/kvm/snapshot/snap_dir.h"
#include "kvm_snap_fixture.h"
#include "lib/util/error.h"
#include "lib/util/fileio.h"
#include "private_tmpfs.h"
#include "qv/error.h"

static char *mnt; /* the tmpfs */
static char *dir; /* mnt/snapshots */
static char *ballast;

static void setup(void)
{
    dir = g_build_filename(mnt, "snapshots", NULL);
    ballast = g_build_filename(mnt, "ballast", NULL);
}

static void teardown(void)
{
    /* Each test starts on an empty file system. */
    qv_dir_remove_tree(dir);
    unlink(ballast);
    g_free(dir);
    g_free(ballast);
}

static uint64_t free_blocks(void)
{
    struct statvfs v;
    ck_assert_int_eq(statvfs(mnt, &v), 0);
    return v.f_bfree;
}

/* Take all the space but `keep` pages. */
static void fill_but(size_t keep)
{
    int fd = open(ballast, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    static char block[64 * 1024];
    memset(block, 0xb, sizeof block);
    off_t size = 0;
    for (;;) {
        ssize_t w = write(fd, block, sizeof block);
        if (w < 0) {
            ck_assert_int_eq(errno, ENOSPC);
            break;
        }
        size += w;
    }
    ck_assert_int_eq(free_blocks(), 0);
    ck_assert_int_ge(size, (off_t)(keep * 4096));
    ck_assert_int_eq(ftruncate(fd, size - (off_t)(keep * 4096)), 0);
    close(fd);
    ck_assert_uint_eq(free_blocks(), keep);
}

static void only_listed(const char *a, const char *b)
{
    struct snap_dir_entry *list = NULL;
    size_t n = 0;
    ck_assert_int_eq(snap_dir_list(dir, &list, &n), 0);
    ck_assert_uint_eq(n, b ? 2 : 1);
    ck_assert_str_eq(list[0].name, a);
    if (b)
        ck_assert_str_eq(list[1].name, b);
    snap_dir_entries_free(list, n);
}

static const char *const enospc = "No space left on device";

START_TEST(snapshot_that_does_not_fit)
{
    const struct snap_fixture s1 = {"s1", 256 * 1024, 1, VM_STATE_RUNNING, 1000};
    const struct snap_fixture s2 = {"s2", 2u << 20, 2, VM_STATE_RUNNING, 2000};
    const struct snap_fixture s3 = {"s3", 256 * 1024, 3, VM_STATE_PAUSED, 3000};
    ck_assert_int_eq(fixture_create(dir, &s1, NULL), 0);
    uint64_t before = free_blocks();

    ck_assert_int_eq(fixture_create(dir, &s2, NULL), QV_ERR_IO);
    const char *msg = qv_last_error()->message;
    ck_assert_msg(strstr(msg, "file 'memory' of snapshot 's2'") && strstr(msg, dir) &&
                      strstr(msg, enospc),
                  "%s", msg);
    /* Nothing of s2 is left, not even the space its stage took. */
    ck_assert_int_eq(fixture_hidden_count(dir), 0);
    ck_assert(!fixture_exists(dir, "s2"));
    ck_assert_uint_eq(free_blocks(), before);
    fixture_check(dir, &s1);
    only_listed("s1", NULL);

    /* Usable again: what fits is written. */
    ck_assert_int_eq(fixture_create(dir, &s3, NULL), 0);
    fixture_check(dir, &s3);
    only_listed("s1", "s3");

    /* Full to the last page: refused; room made: written. */
    ck_assert_int_eq(snap_dir_delete(dir, "s3", NULL), 0);
    fill_but(0);
    ck_assert_int_eq(fixture_create(dir, &s3, NULL), QV_ERR_IO);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, enospc));
    ck_assert_int_eq(fixture_hidden_count(dir), 0);
    only_listed("s1", NULL);
    ck_assert_int_eq(unlink(ballast), 0);
    ck_assert_int_eq(fixture_create(dir, &s3, NULL), 0);
    fixture_check(dir, &s1);
    fixture_check(dir, &s3);
}
END_TEST

/* Free space from none to enough, a page at a time: the disk fills while
 * writing state, memory, domain.xml or the info file in turn. Each attempt
 * writes the whole snapshot or fails with ENOSPC leaving nothing. */
START_TEST(full_at_every_file)
{
    const struct snap_fixture base = {"base", 8192, 7, VM_STATE_RUNNING, 1};
    ck_assert_int_eq(fixture_create(dir, &base, NULL), 0);
    const struct snap_fixture fx = {"s", 64 * 1024, 9, VM_STATE_PAUSED, 2};
    GHashTable *where = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    bool fitted = false;
    for (size_t keep = 0; keep < 40 && !fitted; keep++) {
        fill_but(keep);
        int rc = fixture_create(dir, &fx, NULL);
        if (rc == 0) {
            fitted = true;
            fixture_check(dir, &fx);
        } else {
            const char *msg = qv_last_error()->message;
            ck_assert_msg(rc == QV_ERR_IO && strstr(msg, enospc), "%zu pages free: %s", keep, msg);
            const char *f = strstr(msg, "file '");
            if (f)
                g_hash_table_add(where, g_strndup(f, strcspn(f + 6, "'") + 7));
            else if (strstr(msg, "domain.xml"))
                g_hash_table_add(where, g_strdup("file 'domain.xml'"));
            ck_assert_int_eq(fixture_hidden_count(dir), 0);
            ck_assert_msg(!fixture_exists(dir, "s"), "%zu pages free: failed (%s) yet s exists",
                          keep, msg);
            ck_assert_uint_eq(free_blocks(), keep);
        }
        fixture_check(dir, &base);
        ck_assert_int_eq(unlink(ballast), 0);
    }
    ck_assert(fitted);
    static const char *const files[] = {"file 'state'", "file 'memory'", "file 'domain.xml'",
                                        "file 'info'"};
    for (size_t i = 0; i < G_N_ELEMENTS(files); i++)
        ck_assert_msg(g_hash_table_contains(where, files[i]), "never full at %s", files[i]);
    g_hash_table_unref(where);
}
END_TEST

int main(void)
{
    int skip = private_tmpfs_mount("qv-snapfull-XXXXXX", "1m", &mnt);
    if (skip)
        return skip;
    Suite *s = suite_create("kvm_snap_dir_full");
    TCase *tc = tcase_create("full");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, snapshot_that_does_not_fit);
    tcase_add_test(tc, full_at_every_file);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    private_tmpfs_unmount(&mnt);
    return failed ? 1 : 0;
}
