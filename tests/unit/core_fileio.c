#include <check.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util/error.h"
#include "lib/util/fileio.h"
#include "lib/util/lock.h"

static char *tmpdir;

static void setup(void)
{
    tmpdir = g_dir_make_tmp("qv-fileio-XXXXXX", NULL);
    ck_assert_ptr_nonnull(tmpdir);
}

static void teardown(void)
{
    qv_dir_remove_tree(tmpdir);
    g_free(tmpdir);
}

static int count_entries(const char *dir)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    int n = 0;
    while (g_dir_read_name(d))
        n++;
    g_dir_close(d);
    return n;
}

START_TEST(test_atomic_write_replaces)
{
    g_autofree char *p = g_build_filename(tmpdir, "domain.xml", NULL);
    ck_assert_int_eq(qv_file_write_atomic(p, "old", 3, 0600), 0);
    ck_assert_int_eq(qv_file_write_atomic(p, "new!", 4, 0600), 0);
    g_autofree char *data = NULL;
    size_t len = 0;
    ck_assert_int_eq(qv_file_read(p, &data, &len), 0);
    ck_assert_uint_eq(len, 4);
    ck_assert_str_eq(data, "new!");
    struct stat st;
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    /* No temporary file is left behind. */
    ck_assert_int_eq(count_entries(tmpdir), 1);
}
END_TEST

START_TEST(test_atomic_write_failure_keeps_old)
{
    g_autofree char *sub = g_build_filename(tmpdir, "ro", NULL);
    ck_assert_int_eq(qv_dir_ensure(sub, 0700), 0);
    g_autofree char *p = g_build_filename(sub, "state.json", NULL);
    ck_assert_int_eq(qv_file_write_atomic(p, "{\"a\":1}", 7, 0600), 0);
    /* Make the rename impossible: a directory where the temp file would go
     * cannot be written once it is read-only (root bypasses mode bits, so
     * use a path whose parent does not exist instead). */
    g_autofree char *missing = g_build_filename(tmpdir, "nope", "state.json", NULL);
    ck_assert_int_lt(qv_file_write_atomic(missing, "x", 1, 0600), 0);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, missing));
    g_autofree char *data = NULL;
    ck_assert_int_eq(qv_file_read(p, &data, NULL), 0);
    ck_assert_str_eq(data, "{\"a\":1}");
}
END_TEST

START_TEST(test_dir_ensure_tightens_mode)
{
    g_autofree char *d = g_build_filename(tmpdir, "a", "b", NULL);
    ck_assert_int_eq(g_mkdir_with_parents(d, 0755), 0);
    ck_assert_int_eq(qv_dir_ensure(d, 0700), 0);
    struct stat st;
    ck_assert_int_eq(stat(d, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0700);
    g_autofree char *f = g_build_filename(tmpdir, "file", NULL);
    ck_assert(g_file_set_contents(f, "x", 1, NULL));
    ck_assert_int_lt(qv_dir_ensure(f, 0700), 0);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "not a directory"));
}
END_TEST

static mode_t mode_of_path(const char *p)
{
    struct stat st;
    ck_assert_int_eq(lstat(p, &st), 0);
    return st.st_mode & 07777;
}

/* A directory of another user is refused, not tightened and used. */
START_TEST(test_dir_ensure_refuses_foreign)
{
    if (geteuid() != 0)
        return; /* only root can give a directory away */
    g_autofree char *d = g_build_filename(tmpdir, "theirs", NULL);
    ck_assert_int_eq(g_mkdir(d, 0755), 0);
    ck_assert_int_eq(chown(d, 65534, 65534), 0);
    ck_assert_int_eq(qv_dir_ensure(d, 0700), QV_ERR_PERMISSION);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "belongs to uid 65534"));
    ck_assert_int_eq(mode_of_path(d), 0755);
}
END_TEST

/* The mode comes from chmod, not from the caller's umask. */
START_TEST(test_modes_ignore_umask)
{
    mode_t old = umask(0277);
    g_autofree char *d = g_build_filename(tmpdir, "u", "v", NULL);
    ck_assert_int_eq(qv_dir_ensure(d, 0700), 0);
    g_autofree char *parent = g_path_get_dirname(d);
    g_autofree char *lock = g_build_filename(d, "x.lock", NULL);
    int fd = qv_lock_acquire(lock, 0);
    umask(old);
    ck_assert_int_ge(fd, 0);
    qv_lock_release(fd);
    ck_assert_int_eq(mode_of_path(parent), 0700);
    ck_assert_int_eq(mode_of_path(d), 0700);
    ck_assert_int_eq(mode_of_path(lock), 0600);
    /* And a symlink planted as the lock is not followed. */
    g_autofree char *target = g_build_filename(tmpdir, "target", NULL);
    g_autofree char *link = g_build_filename(d, "y.lock", NULL);
    ck_assert_int_eq(symlink(target, link), 0);
    ck_assert_int_lt(qv_lock_acquire(link, 0), 0);
    ck_assert(!g_file_test(target, G_FILE_TEST_EXISTS));
}
END_TEST

START_TEST(test_read_missing)
{
    char *data = NULL;
    g_autofree char *p = g_build_filename(tmpdir, "missing", NULL);
    ck_assert_int_eq(qv_file_read(p, &data, NULL), QV_ERR_NOT_FOUND);
    ck_assert_ptr_null(data);
}
END_TEST

START_TEST(test_lock_excludes)
{
    g_autofree char *p = g_build_filename(tmpdir, "lock", NULL);
    int a = qv_lock_acquire(p, 0);
    ck_assert_int_ge(a, 0);
    /* flock is per open file description: a second open conflicts. */
    int b = qv_lock_acquire(p, 50);
    ck_assert_int_eq(b, QV_ERR_BUSY);
    qv_lock_release(a);
    b = qv_lock_acquire(p, 0);
    ck_assert_int_ge(b, 0);
    qv_lock_release(b);
    struct stat st;
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
}
END_TEST

START_TEST(test_remove_tree_no_follow)
{
    g_autofree char *outside = g_build_filename(tmpdir, "outside", NULL);
    ck_assert_int_eq(qv_dir_ensure(outside, 0700), 0);
    g_autofree char *keep = g_build_filename(outside, "keep", NULL);
    ck_assert(g_file_set_contents(keep, "x", 1, NULL));
    g_autofree char *tree = g_build_filename(tmpdir, "tree", NULL);
    ck_assert_int_eq(qv_dir_ensure(tree, 0700), 0);
    g_autofree char *link = g_build_filename(tree, "link", NULL);
    ck_assert_int_eq(symlink(outside, link), 0);
    ck_assert_int_eq(qv_dir_remove_tree(tree), 0);
    ck_assert(!g_file_test(tree, G_FILE_TEST_EXISTS));
    ck_assert(g_file_test(keep, G_FILE_TEST_EXISTS));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("core_fileio");
    TCase *tc = tcase_create("fileio");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_atomic_write_replaces);
    tcase_add_test(tc, test_atomic_write_failure_keeps_old);
    tcase_add_test(tc, test_dir_ensure_tightens_mode);
    tcase_add_test(tc, test_dir_ensure_refuses_foreign);
    tcase_add_test(tc, test_modes_ignore_umask);
    tcase_add_test(tc, test_read_missing);
    tcase_add_test(tc, test_lock_excludes);
    tcase_add_test(tc, test_remove_tree_no_follow);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
