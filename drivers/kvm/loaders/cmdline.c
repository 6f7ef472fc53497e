/* Adding the VMM's parameters to a kernel command line. Linux hands every
 * word after a lone "--" to init, so what the kernel itself must read goes
 * before it; words are split as Linux's next_arg() splits them (white
 * space, except inside double quotes). */
#include <glib.h>
#include <string.h>

#include "image.h"

/* The offset of the first "--" word outside quotes, or -1. */
static long init_args_at(const char *s)
{
    bool quoted = false;
    size_t i = 0;
    while (s[i]) {
        if (!quoted && g_ascii_isspace(s[i])) {
            i++;
            continue;
        }
        size_t start = i;
        while (s[i] && (quoted || !g_ascii_isspace(s[i]))) {
            if (s[i] == '"')
                quoted = !quoted;
            i++;
        }
        /* next_arg() drops the quotes around a whole word: "--" counts. */
        size_t n = i - start;
        if ((n == 2 && strncmp(s + start, "--", 2) == 0) ||
            (n == 4 && strncmp(s + start, "\"--\"", 4) == 0))
            return (long)start;
    }
    return -1;
}

char *kvm_ld_cmdline_join(const char *user, const char *extra)
{
    if (!user)
        user = "";
    if (!extra || !*extra)
        return g_strdup(user);
    long at = init_args_at(user);
    size_t head = at < 0 ? strlen(user) : (size_t)at;
    GString *s = g_string_new_len(user, (gssize)head);
    if (head > 0 && !g_ascii_isspace(user[head - 1]))
        g_string_append_c(s, ' ');
    g_string_append(s, extra);
    if (at >= 0) {
        g_string_append_c(s, ' ');
        g_string_append(s, user + at);
    }
    return g_string_free(s, FALSE);
}
