/* Sparse copies and clones (lib/util/filecopy.c), as a snapshot or a clone
 * of a VM's disk uses them: the copy reads back the same bytes, stays as
 * sparse as its source, never replaces a file, never follows a symlink, and
 * a full file system leaves neither the copy nor a temporary behind.
 * In-place copies (qv_file_overwrite, a snapshot restore's): the image
 * keeps its inode and reads back exactly the source, whatever it held and
 * however large it was; nothing is created beside it; a symlink or a
 * missing image is refused. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util/error.h"
#include "lib/util/fileio.h"

static char *dir;

static void setup(void)
{
    dir = g_dir_make_tmp("qv-filecopy-XXXXXX", NULL);
    ck_assert_ptr_nonnull(dir);
}

static void teardown(void)
{
    qv_dir_remove_tree(dir);
    g_free(dir);
}

#define MIB (1024 * 1024)

/* 64 MiB + 100 bytes: data at 0 and 32 MiB, a written page of zeros at
 * 16 MiB (data to the file system, a hole to a sparse copy), a short tail. */
static char *sparse_file(const char *name, off_t *size)
{
    char *path = g_build_filename(dir, name, NULL);
    int fd = open(path, O_CREAT | O_WRONLY | O_EXCL, 0644);
    ck_assert_int_ge(fd, 0);
    char page[4096];
    memset(page, 'A', sizeof page);
    ck_assert_int_eq(pwrite(fd, page, sizeof page, 0), sizeof page);
    memset(page, 0, sizeof page);
    ck_assert_int_eq(pwrite(fd, page, sizeof page, 16 * MIB), sizeof page);
    memset(page, 'B', sizeof page);
    ck_assert_int_eq(pwrite(fd, page, sizeof page, 32 * MIB), sizeof page);
    *size = 64 * MIB + 100;
    ck_assert_int_eq(pwrite(fd, "CCCC", 4, *size - 4), 4);
    close(fd);
    return path;
}

static void assert_same_bytes(const char *a, const char *b)
{
    g_autofree char *x = NULL, *y = NULL;
    gsize xl, yl;
    ck_assert(g_file_get_contents(a, &x, &xl, NULL));
    ck_assert(g_file_get_contents(b, &y, &yl, NULL));
    ck_assert_uint_eq(xl, yl);
    ck_assert_int_eq(memcmp(x, y, xl), 0);
}

START_TEST(clone_same_bytes_and_sparse)
{
    off_t size;
    g_autofree char *src = sparse_file("disk.img", &size);
    g_autofree char *dst = g_build_filename(dir, "copy.img", NULL);
    bool shared = true;
    ck_assert_int_eq(qv_file_clone(src, dst, &shared), 0);
    assert_same_bytes(src, dst);
    struct stat s, d;
    ck_assert_int_eq(stat(src, &s), 0);
    ck_assert_int_eq(stat(dst, &d), 0);
    ck_assert_int_eq(d.st_size, size);
    ck_assert_int_eq(d.st_mode & 0777, 0600);
    if (!shared)
        /* The zero page at 16 MiB became a hole: fewer blocks, never more. */
        ck_assert_int_lt(d.st_blocks, s.st_blocks);
    /* No temporary left beside it. */
    GDir *gd = g_dir_open(dir, 0, NULL);
    const char *n;
    int entries = 0;
    while ((n = g_dir_read_name(gd)))
        entries++;
    g_dir_close(gd);
    ck_assert_int_eq(entries, 2);
}
END_TEST

START_TEST(clone_never_replaces)
{
    off_t size;
    g_autofree char *src = sparse_file("disk.img", &size);
    g_autofree char *dst = g_build_filename(dir, "keep.img", NULL);
    ck_assert(g_file_set_contents(dst, "mine", 4, NULL));
    bool shared;
    ck_assert_int_eq(qv_file_clone(src, dst, &shared), QV_ERR_EXISTS);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, dst));
    g_autofree char *c = NULL;
    ck_assert(g_file_get_contents(dst, &c, NULL, NULL));
    ck_assert_str_eq(c, "mine");
}
END_TEST

START_TEST(clone_never_follows_symlinks)
{
    off_t size;
    g_autofree char *src = sparse_file("disk.img", &size);
    g_autofree char *link = g_build_filename(dir, "link.img", NULL);
    g_autofree char *dst = g_build_filename(dir, "copy.img", NULL);
    ck_assert_int_eq(symlink(src, link), 0);
    bool shared;
    ck_assert_int_lt(qv_file_clone(link, dst, &shared), 0);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, link));
    ck_assert_int_ne(access(dst, F_OK), 0);
    /* A symlink where the copy goes is "exists", not a file written through it. */
    g_autofree char *target = g_build_filename(dir, "target", NULL);
    ck_assert_int_eq(symlink(target, dst), 0);
    ck_assert_int_eq(qv_file_clone(src, dst, &shared), QV_ERR_EXISTS);
    ck_assert_int_ne(access(target, F_OK), 0);
}
END_TEST

START_TEST(full_file_system_leaves_nothing)
{
    g_autofree char *mnt = g_build_filename(dir, "small", NULL);
    ck_assert_int_eq(g_mkdir(mnt, 0700), 0);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=1m") < 0) {
        printf("full_file_system_leaves_nothing: skipped, cannot mount a tmpfs: %s\n",
               strerror(errno));
        return;
    }
    g_autofree char *src = g_build_filename(dir, "data.img", NULL);
    g_autofree char *buf = g_malloc(4 * MIB);
    memset(buf, 'x', 4 * MIB);
    ck_assert(g_file_set_contents(src, buf, 4 * MIB, NULL));
    g_autofree char *dst = g_build_filename(mnt, "copy.img", NULL);
    bool shared;
    int rc = qv_file_clone(src, dst, &shared);
    const char *msg = g_strdup(qv_last_error()->message);
    GDir *gd = g_dir_open(mnt, 0, NULL);
    bool empty = g_dir_read_name(gd) == NULL;
    g_dir_close(gd);
    umount(mnt);
    ck_assert_int_eq(rc, QV_ERR_IO);
    ck_assert_ptr_nonnull(strstr(msg, dst));
    ck_assert_ptr_nonnull(strstr(msg, g_strerror(ENOSPC)));
    ck_assert(empty);
    g_free((char *)msg);
}
END_TEST

START_TEST(pwrite_sparse_skips_zero_pages_only)
{
    g_autofree char *path = g_build_filename(dir, "s.img", NULL);
    int fd = open(path, O_CREAT | O_RDWR | O_EXCL, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, 3 * 4096 + 10), 0);
    uint8_t buf[3 * 4096 + 10];
    memset(buf, 0, sizeof buf);
    buf[4096 + 5] = 1;     /* the second page has one byte set */
    buf[3 * 4096 + 9] = 2; /* and the short tail its last */
    ck_assert_int_eq(qv_pwrite_sparse(fd, buf, sizeof buf, 0), 0);
    uint8_t back[sizeof buf];
    ck_assert_int_eq(pread(fd, back, sizeof back, 0), sizeof back);
    ck_assert_int_eq(memcmp(buf, back, sizeof buf), 0);
    /* The first page stayed a hole. */
    ck_assert_int_eq(lseek(fd, 0, SEEK_DATA), 4096);
    close(fd);
}
END_TEST

static int count_entries(const char *d)
{
    GDir *gd = g_dir_open(d, 0, NULL);
    ck_assert_ptr_nonnull(gd);
    int n = 0;
    while (g_dir_read_name(gd))
        n++;
    g_dir_close(gd);
    return n;
}

static void put(const char *path, char byte, off_t off, size_t len)
{
    int fd = open(path, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    g_autofree char *buf = g_malloc(len);
    memset(buf, byte, len);
    ck_assert_int_eq(pwrite(fd, buf, len, off), (ssize_t)len);
    close(fd);
}

/* A larger image with data where the source has its holes, its zero page
 * and nothing at all: afterwards it is the source, byte for byte. */
START_TEST(overwrite_larger_image_in_place)
{
    off_t size;
    g_autofree char *src = sparse_file("disk.img", &size);
    g_autofree char *dst = g_build_filename(dir, "vm.img", NULL);
    int fd = open(dst, O_CREAT | O_WRONLY | O_EXCL, 0640);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, 80 * MIB), 0);
    close(fd);
    put(dst, 'Z', 0, 8192);        /* over the source's data and beyond */
    put(dst, 'Z', 16 * MIB, 4096); /* the source's written zero page */
    put(dst, 'Z', 20 * MIB, MIB);  /* a hole of the source */
    put(dst, 'Z', 64 * MIB, 4096); /* the source's tail page */
    put(dst, 'Z', 70 * MIB, 4096); /* past the source's end */
    struct stat before, after, s;
    ck_assert_int_eq(stat(dst, &before), 0);
    bool shared = true;
    ck_assert_int_eq(qv_file_overwrite(src, dst, &shared), 0);
    assert_same_bytes(src, dst);
    ck_assert_int_eq(stat(dst, &after), 0);
    ck_assert_int_eq(stat(src, &s), 0);
    ck_assert_int_eq(after.st_size, size);
    ck_assert_uint_eq(after.st_ino, before.st_ino);
    ck_assert_int_eq(after.st_mode & 0777, 0640);
    if (!shared) {
        /* The source's hole at 20 MiB is one in the image again. */
        fd = open(dst, O_RDONLY);
        ck_assert_int_ge(lseek(fd, 20 * MIB, SEEK_DATA), 32 * MIB);
        close(fd);
        ck_assert_int_le(after.st_blocks, s.st_blocks);
    }
    ck_assert_int_eq(count_entries(dir), 2);
}
END_TEST

START_TEST(overwrite_smaller_image_grows)
{
    off_t size;
    g_autofree char *src = sparse_file("disk.img", &size);
    g_autofree char *dst = g_build_filename(dir, "vm.img", NULL);
    ck_assert(g_file_set_contents(dst, "short image", 11, NULL));
    bool shared;
    ck_assert_int_eq(qv_file_overwrite(src, dst, &shared), 0);
    assert_same_bytes(src, dst);
    ck_assert_int_eq(count_entries(dir), 2);
}
END_TEST

START_TEST(overwrite_refuses_links_and_missing_images)
{
    off_t size;
    g_autofree char *src = sparse_file("disk.img", &size);
    g_autofree char *target = g_build_filename(dir, "target", NULL);
    g_autofree char *link = g_build_filename(dir, "vm.img", NULL);
    ck_assert(g_file_set_contents(target, "keep", 4, NULL));
    ck_assert_int_eq(symlink(target, link), 0);
    bool shared;
    ck_assert_int_eq(qv_file_overwrite(src, link, &shared), QV_ERR_IO);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, link));
    g_autofree char *c = NULL;
    ck_assert(g_file_get_contents(target, &c, NULL, NULL));
    ck_assert_str_eq(c, "keep");
    /* A source that is a link is refused too. */
    ck_assert_int_eq(qv_file_overwrite(link, target, &shared), QV_ERR_IO);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, link));
    /* Never created. */
    g_autofree char *gone = g_build_filename(dir, "gone.img", NULL);
    ck_assert_int_eq(qv_file_overwrite(src, gone, &shared), QV_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, gone));
    ck_assert_int_ne(access(gone, F_OK), 0);
    /* Nor into a directory. */
    ck_assert_int_lt(qv_file_overwrite(src, dir, &shared), 0);
}
END_TEST

/* A sparse image on a full file system: writing the data over its holes
 * is ENOSPC, reported naming the image; nothing else appears there. */
START_TEST(overwrite_sparse_image_on_full_file_system)
{
    g_autofree char *mnt = g_build_filename(dir, "small", NULL);
    ck_assert_int_eq(g_mkdir(mnt, 0700), 0);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=1m") < 0) {
        printf("overwrite_sparse_image_on_full_file_system: skipped, cannot mount a tmpfs: %s\n",
               strerror(errno));
        return;
    }
    g_autofree char *src = g_build_filename(dir, "data.img", NULL);
    g_autofree char *buf = g_malloc(4 * MIB);
    memset(buf, 'x', 4 * MIB);
    ck_assert(g_file_set_contents(src, buf, 4 * MIB, NULL));
    g_autofree char *dst = g_build_filename(mnt, "vm.img", NULL);
    int fd = open(dst, O_CREAT | O_WRONLY | O_EXCL, 0600);
    bool made = fd >= 0 && ftruncate(fd, 4 * MIB) == 0;
    if (fd >= 0)
        close(fd);
    bool shared;
    int rc = qv_file_overwrite(src, dst, &shared);
    g_autofree char *msg = g_strdup(qv_last_error()->message);
    int entries = count_entries(mnt);
    umount(mnt);
    ck_assert(made);
    ck_assert_int_eq(rc, QV_ERR_IO);
    ck_assert_ptr_nonnull(strstr(msg, dst));
    ck_assert_ptr_nonnull(strstr(msg, g_strerror(ENOSPC)));
    ck_assert_int_eq(entries, 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("core_filecopy");
    TCase *tc = tcase_create("filecopy");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, clone_same_bytes_and_sparse);
    tcase_add_test(tc, clone_never_replaces);
    tcase_add_test(tc, clone_never_follows_symlinks);
    tcase_add_test(tc, full_file_system_leaves_nothing);
    tcase_add_test(tc, pwrite_sparse_skips_zero_pages_only);
    tcase_add_test(tc, overwrite_larger_image_in_place);
    tcase_add_test(tc, overwrite_smaller_image_grows);
    tcase_add_test(tc, overwrite_refuses_links_and_missing_images);
    tcase_add_test(tc, overwrite_sparse_image_on_full_file_system);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
