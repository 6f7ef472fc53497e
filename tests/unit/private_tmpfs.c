#define _GNU_SOURCE
#include "private_tmpfs.h"

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>

int private_tmpfs_mount(const char *prefix, const char *size, char **mnt)
{
    *mnt = NULL;
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        printf("skipped: no private mount namespace: %s\n", g_strerror(errno));
        return 77;
    }
    g_autofree char *opts = g_strdup_printf("size=%s,mode=0700", size);
    char *dir = g_dir_make_tmp(prefix, NULL);
    if (!dir || mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0) {
        printf("skipped: cannot mount a tmpfs: %s\n", g_strerror(errno));
        if (dir)
            g_rmdir(dir);
        g_free(dir);
        return 77;
    }
    *mnt = dir;
    return 0;
}

void private_tmpfs_unmount(char **mnt)
{
    if (!*mnt)
        return;
    umount2(*mnt, MNT_DETACH);
    g_rmdir(*mnt);
    g_clear_pointer(mnt, g_free);
}
