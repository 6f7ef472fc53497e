/* Column output: a header row and left-aligned columns two spaces apart,
 * widths measured in characters (UTF-8 aware) so names line up. */
#include <glib.h>
#include <string.h>

#include "cli.h"

struct cli_table {
    guint ncols;
    GPtrArray *rows; /* char ** (NULL-terminated), the header first */
};

struct cli_table *cli_table_new(const char *const *headers)
{
    struct cli_table *t = g_new0(struct cli_table, 1);
    while (headers[t->ncols])
        t->ncols++;
    t->rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
    cli_table_add(t, headers);
    return t;
}

void cli_table_add(struct cli_table *t, const char *const *cells)
{
    char **row = g_new0(char *, t->ncols + 1);
    for (guint i = 0; i < t->ncols; i++)
        row[i] = g_strdup(cells[i] ? cells[i] : "");
    g_ptr_array_add(t->rows, row);
}

static glong width_of(const char *s)
{
    return g_utf8_validate(s, -1, NULL) ? g_utf8_strlen(s, -1) : (glong)strlen(s);
}

void cli_table_print(struct cli_table *t, FILE *out)
{
    g_autofree glong *w = g_new0(glong, t->ncols);
    for (guint r = 0; r < t->rows->len; r++) {
        char **row = g_ptr_array_index(t->rows, r);
        for (guint c = 0; c < t->ncols; c++)
            w[c] = MAX(w[c], width_of(row[c]));
    }
    for (guint r = 0; r < t->rows->len; r++) {
        char **row = g_ptr_array_index(t->rows, r);
        for (guint c = 0; c < t->ncols; c++) {
            fputs(row[c], out);
            if (c + 1 < t->ncols)
                fprintf(out, "%*s", (int)(w[c] - width_of(row[c]) + 2), "");
        }
        fputc('\n', out);
    }
}

void cli_table_free(struct cli_table *t)
{
    if (!t)
        return;
    g_ptr_array_free(t->rows, TRUE);
    g_free(t);
}
