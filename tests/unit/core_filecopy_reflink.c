/* A clone on a file system that shares blocks (XFS with reflink, in a loop
 * image the test makes): qv_file_clone shares instead of copying, and the
 * two files then change independently. Skipped (77) where the host cannot
 * make or mount the image (no mkfs.xfs, no loop devices, not root). */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util/error.h"
#include "lib/util/fileio.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: %s failed (%s)\n", __FILE__, __LINE__, #cond,                  \
                    qv_last_error()->message ? qv_last_error()->message : "");                     \
            status = 1;                                                                            \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

static bool run(const char *const argv[], char **err)
{
    int wait = 0;
    g_autofree char *out = NULL;
    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, err, &wait,
                      NULL))
        return false;
    return g_spawn_check_wait_status(wait, NULL);
}

int main(void)
{
    g_autofree char *mkfs = g_find_program_in_path("mkfs.xfs");
    if (!mkfs) {
        printf("skipped: no mkfs.xfs (Debian package xfsprogs)\n");
        return 77;
    }
    g_autofree char *dir = g_dir_make_tmp("qv-reflink-XXXXXX", NULL);
    g_autofree char *img = g_build_filename(dir, "xfs.img", NULL);
    g_autofree char *mnt = g_build_filename(dir, "mnt", NULL);
    g_mkdir(mnt, 0700);
    /* XFS's smallest file system is 300 MiB; the image is sparse. */
    FILE *f = fopen(img, "w");
    if (!f || fclose(f) != 0 || truncate(img, 320 << 20) < 0) {
        printf("skipped: cannot make the image\n");
        return 77;
    }
    g_autofree char *err = NULL;
    const char *mk[] = {mkfs, "-q", "-m", "reflink=1", img, NULL};
    if (!run(mk, &err)) {
        printf("skipped: mkfs.xfs failed: %s\n", err ? err : "");
        qv_dir_remove_tree(dir);
        return 77;
    }
    g_clear_pointer(&err, g_free);
    const char *mount[] = {"mount", "-o", "loop", img, mnt, NULL};
    if (!run(mount, &err)) {
        printf("skipped: cannot mount a loop image: %s\n", err ? err : "");
        qv_dir_remove_tree(dir);
        return 77;
    }
    int status = 0;
    g_autofree char *src = g_build_filename(mnt, "disk.img", NULL);
    g_autofree char *dst = g_build_filename(mnt, "clone.img", NULL);
    gsize len = 64 << 20;
    g_autofree char *data = g_malloc(len);
    for (gsize i = 0; i < len; i++)
        data[i] = (char)(i * 13);
    bool shared = false;
    CHECK(g_file_set_contents(src, data, (gssize)len, NULL));
    CHECK(qv_file_clone(src, dst, &shared) == 0);
    CHECK(shared);
    {
        g_autofree char *c = NULL;
        gsize cl;
        CHECK(g_file_get_contents(dst, &c, &cl, NULL) && cl == len && memcmp(c, data, len) == 0);
        /* Written after the clone: the source keeps its bytes. */
        FILE *f = fopen(dst, "r+");
        CHECK(f && fwrite("changed", 1, 7, f) == 7 && fclose(f) == 0);
        g_autofree char *s = NULL;
        CHECK(g_file_get_contents(src, &s, &cl, NULL) && memcmp(s, data, len) == 0);
    }
    printf("ok: a 64 MiB file cloned by sharing its blocks\n");
    {
        /* In place: an existing, larger image of other bytes takes the
         * source's blocks, keeps its inode, and then changes on its own. */
        g_autofree char *vm = g_build_filename(mnt, "vm.img", NULL);
        g_autofree char *other = g_malloc(len + 12345);
        memset(other, 'Z', len + 12345);
        CHECK(g_file_set_contents(vm, other, (gssize)(len + 12345), NULL));
        struct stat before, after;
        CHECK(stat(vm, &before) == 0);
        shared = false;
        CHECK(qv_file_overwrite(src, vm, &shared) == 0);
        CHECK(shared);
        CHECK(stat(vm, &after) == 0 && after.st_ino == before.st_ino &&
              after.st_size == (off_t)len);
        g_autofree char *c = NULL;
        gsize cl;
        CHECK(g_file_get_contents(vm, &c, &cl, NULL) && cl == len && memcmp(c, data, len) == 0);
        FILE *f = fopen(vm, "r+");
        CHECK(f && fwrite("changed", 1, 7, f) == 7 && fclose(f) == 0);
        g_autofree char *s = NULL;
        CHECK(g_file_get_contents(src, &s, &cl, NULL) && memcmp(s, data, len) == 0);
    }
    printf("ok: a larger image overwritten in place by sharing the source's blocks\n");
out:;
    const char *umount[] = {"umount", mnt, NULL};
    run(umount, NULL);
    qv_dir_remove_tree(dir);
    return status;
}
