/* Reading host files under a root that tests can move. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "../util/fileio.h"
#include "host.h"

char *host_root(const char *root)
{
    if (!root || !*root)
        root = g_getenv("QV_SYSFS_ROOT");
    if (!root || !*root || strcmp(root, "/") == 0)
        return g_strdup("");
    /* "DIR/" and "DIR" name the same tree; paths are appended as "/sys/...". */
    g_autofree char *r = g_strdup(root);
    size_t n = strlen(r);
    while (n > 1 && r[n - 1] == '/')
        r[--n] = '\0';
    return g_steal_pointer(&r);
}

char *host_path(const char *root, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *rel = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return g_strconcat(root ? root : "", rel, NULL);
}

char *host_read_line(const char *path)
{
    char *text = NULL;
    int rc = qv_file_read_text(path, 64 * 1024, &text, NULL);
    if (rc < 0)
        return NULL;
    char *nl = strchr(text, '\n');
    if (nl)
        *nl = '\0';
    return g_strstrip(text);
}

char *host_link_name(const char *path)
{
    char buf[PATH_MAX];
    ssize_t n = readlink(path, buf, sizeof(buf) - 1);
    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    return g_path_get_basename(buf);
}
