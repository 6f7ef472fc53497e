/* Reading a definition the user gave qv (--xml FILE, --config FILE, "-"):
 * never more than libqv would accept, so /dev/zero or an endless pipe ends
 * with an error at once instead of filling memory. */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char *doc_name(const char *path)
{
    return strcmp(path, "-") == 0 ? "standard input" : path;
}

char *cli_read_file(const char *path)
{
    bool std = strcmp(path, "-") == 0;
    int fd = std ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        cli_error("cannot read '%s': %s", path, g_strerror(errno));
        return NULL;
    }
    /* One byte more than the limit tells "too large" from "exactly at it". */
    size_t cap = QV_DEFINITION_MAX_BYTES + 1, n = 0, alloc = 64 * 1024;
    char *buf = g_malloc(alloc + 1);
    while (n < cap) {
        if (n == alloc) {
            alloc = MIN(alloc * 2, cap);
            buf = g_realloc(buf, alloc + 1);
        }
        ssize_t r = read(fd, buf + n, alloc - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            cli_error("cannot read %s%s%s: %s", std ? "" : "'", doc_name(path), std ? "" : "'",
                      g_strerror(errno));
            goto fail;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (n > QV_DEFINITION_MAX_BYTES) {
        cli_error("%s is larger than the limit of %u bytes (4 MiB) for a definition",
                  doc_name(path), QV_DEFINITION_MAX_BYTES);
        goto fail;
    }
    const char *nul = memchr(buf, '\0', n);
    if (nul) {
        unsigned line = 1;
        for (const char *q = buf; q < nul; q++)
            line += *q == '\n';
        cli_error("%s line %u: NUL byte (a definition must be text)", doc_name(path), line);
        goto fail;
    }
    if (!std)
        close(fd);
    buf[n] = '\0';
    return buf;
fail:
    if (!std)
        close(fd);
    g_free(buf);
    return NULL;
}

int cli_fail_doc(const char *path)
{
    const struct qv_error *e = qv_last_error();
    const char *msg = e->message ? e->message : "";
    static const char *const labels[] = {"domain XML", "JSON config"};
    if (e->code == QV_ERR_XML || e->code == QV_ERR_JSON) {
        for (size_t i = 0; i < G_N_ELEMENTS(labels); i++) {
            size_t n = strlen(labels[i]);
            if (strncmp(msg, labels[i], n) == 0 && (msg[n] == ' ' || msg[n] == ':'))
                return cli_error("%s%s", doc_name(path), msg + n);
        }
        if (msg[0] == '$')
            return cli_error("%s: %s", doc_name(path), msg);
    }
    return cli_fail();
}
