/* Listening unix sockets in the state directory (qmp.sock, console.sock).
 *
 * Every path goes through the directory fd (/proc/self/fd/N/NAME), so the
 * socket lands in the directory that was checked at start even if a
 * component of STATE_DIR is swapped later, and a STATE_DIR longer than
 * sun_path allows still works for the server. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "vmm.h"

#define VMM_SOCK_ERROR (g_quark_from_static_string("vmm-sock"))

static bool proc_path(struct sockaddr_un *sa, int dir_fd, const char *name)
{
    sa->sun_family = AF_UNIX;
    int n = snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/%s", dir_fd, name);
    return n > 0 && (size_t)n < sizeof(sa->sun_path);
}

/* Does a server answer on NAME? Only asked of a socket, never a symlink. */
static bool live(int dir_fd, const char *name)
{
    struct sockaddr_un sa;
    if (!proc_path(&sa, dir_fd, name))
        return false;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool up = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return up;
}

int vmm_sock_listen(int dir_fd, const char *dir, const char *name, ino_t *ino, GError **err)
{
    struct stat st;
    if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            g_set_error(err, VMM_SOCK_ERROR, 0,
                        "%s/%s exists and is not a socket (%s): refusing to replace it", dir, name,
                        S_ISLNK(st.st_mode) ? "a symlink" : "some other file");
            return -1;
        }
        if (live(dir_fd, name)) {
            g_set_error(err, VMM_SOCK_ERROR, 0,
                        "%s/%s is served by another process: is another qv-vmm running there?", dir,
                        name);
            return -1;
        }
        /* A stale socket: its server is gone. The rename below replaces it. */
    }
    g_autofree char *tmp = g_strdup_printf(".%s.tmp-%d", name, (int)getpid());
    unlinkat(dir_fd, tmp, 0); /* a leftover of a crashed run with our pid */
    struct sockaddr_un sa;
    if (!proc_path(&sa, dir_fd, tmp)) {
        g_set_error(err, VMM_SOCK_ERROR, 0, "socket name %s is too long", tmp);
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        g_set_error(err, VMM_SOCK_ERROR, 0, "cannot create a socket: %s", g_strerror(errno));
        return -1;
    }
    /* The umask (077, set in main) makes bind create it 0600 already; the
     * chmod makes sure of it before anyone can find it under its name. */
    const char *step = "bind";
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        goto fail;
    step = "chmod";
    if (fchmodat(dir_fd, tmp, 0600, 0) < 0)
        goto fail;
    step = "stat";
    if (fstatat(dir_fd, tmp, &st, AT_SYMLINK_NOFOLLOW) < 0)
        goto fail;
    step = "listen";
    if (listen(fd, 8) < 0)
        goto fail;
    step = "rename";
    if (renameat(dir_fd, tmp, dir_fd, name) < 0)
        goto fail;
    *ino = st.st_ino;
    return fd;
fail:;
    int e = errno;
    close(fd);
    unlinkat(dir_fd, tmp, 0);
    g_set_error(err, VMM_SOCK_ERROR, 0, "cannot create socket %s/%s (%s): %s", dir, name, step,
                g_strerror(e));
    return -1;
}

void vmm_sock_unlink(int dir_fd, const char *name, ino_t ino)
{
    struct stat st;
    /* A later server may have replaced it: leave that one alone. */
    if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISSOCK(st.st_mode) &&
        st.st_ino == ino)
        unlinkat(dir_fd, name, 0);
}
