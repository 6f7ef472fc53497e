/* Reading a text file libqv did not write in this process (a state file, a
 * definition) without trusting its size or content. */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fileio.h"

static int read_text(const char *path, int flags, size_t max, char **data, size_t *len)
{
    *data = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | flags);
    if (fd < 0 && errno == ELOOP && (flags & O_NOFOLLOW))
        return qv_error_set(QV_ERR_IO,
                            "'%s' is a symbolic link: libqv's state files are never "
                            "followed",
                            path);
    if (fd < 0)
        return qv_error_set_errno(QV_ERR_IO, errno, "cannot open '%s'", path);
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return qv_error_set_errno(QV_ERR_IO, e, "cannot stat '%s'", path);
    }
    /* A FIFO or device could block or never end; state files are regular. */
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return qv_error_set(QV_ERR_IO, "'%s' is not a regular file", path);
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return qv_error_set(QV_ERR_IO, "'%s' is larger than the limit of %zu bytes", path, max);
    }
    /* The size may change while reading: read at most max + 1 bytes and
     * judge by what arrived. */
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = g_malloc(cap + 1);
    for (;;) {
        if (n == cap) {
            if (cap > max)
                break;
            cap = MIN(cap * 2, max + 1);
            buf = g_realloc(buf, cap + 1);
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            g_free(buf);
            return qv_error_set_errno(QV_ERR_IO, e, "cannot read '%s'", path);
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (n > max) {
        g_free(buf);
        return qv_error_set(QV_ERR_IO, "'%s' is larger than the limit of %zu bytes", path, max);
    }
    buf[n] = '\0';
    const char *nul = memchr(buf, '\0', n);
    if (nul) {
        unsigned line = 1;
        for (const char *q = buf; q < nul; q++)
            line += *q == '\n';
        g_free(buf);
        return qv_error_set(QV_ERR_IO,
                            "'%s' line %u: NUL byte (the file must be text; nothing after a NUL "
                            "is read)",
                            path, line);
    }
    *data = buf;
    if (len)
        *len = n;
    return 0;
}

int qv_file_read_text(const char *path, size_t max, char **data, size_t *len)
{
    return read_text(path, 0, max, data, len);
}

int qv_file_read_state(const char *path, size_t max, char **data, size_t *len)
{
    return read_text(path, O_NOFOLLOW, max, data, len);
}
