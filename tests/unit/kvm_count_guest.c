#include "kvm_count_guest.h"

#include <check.h>
#include <glib.h>
#include <stdio.h>

uint32_t kvm_count_progress(struct vm *vm)
{
    uint32_t v = 0;
    ck_assert_msg(vm_read_memory(vm, 0x5000, &v, 4) == 0, "vm_read_memory: %s",
                  qv_last_error()->message);
    return v;
}

void kvm_count_wait(struct vm *vm, uint32_t at_least)
{
    for (int i = 0; i < 800 && kvm_count_progress(vm) < at_least; i++)
        g_usleep(25000);
    ck_assert_uint_ge(kvm_count_progress(vm), at_least);
}

char *kvm_count_slurp(const char *path)
{
    char *s = NULL;
    ck_assert_msg(g_file_get_contents(path, &s, NULL, NULL), "cannot read %s", path);
    return s;
}

uint32_t kvm_count_check_lines(const char *text, bool partial_ok, uint32_t *first)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    int64_t prev = -1;
    guint n = g_strv_length(lines);
    for (guint i = 0; i + 1 < n; i++) { /* the last piece is after the last '\n' */
        unsigned k;
        char extra;
        if (sscanf(lines[i], "count %u%c", &k, &extra) != 1) {
            ck_assert_msg(i == 0 && partial_ok, "line %u '%s' is not a count line", i, lines[i]);
            continue;
        }
        if (prev < 0 && first)
            *first = k;
        ck_assert_msg(prev < 0 || k == prev + 1, "count %u follows %lld", k, (long long)prev);
        prev = k;
    }
    ck_assert_int_ge(prev, 0);
    return (uint32_t)prev;
}
