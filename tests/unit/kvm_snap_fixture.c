#include "kvm_snap_fixture.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <glib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drivers/kvm/snapshot/snap_file.h"
#include "lib/util/error.h"

static uint8_t *pattern(size_t len, uint8_t seed)
{
    uint8_t *p = g_malloc(len ? len : 1);
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(seed + i * 7 + (i >> 12));
    return p;
}

static char *domain_xml(const struct snap_fixture *fx)
{
    return g_strdup_printf("<domain type='kvm'><name>%s</name><seed>%u</seed></domain>\n", fx->name,
                           fx->seed);
}

static void sections(const struct snap_fixture *fx, struct snap_section *s[2])
{
    struct snap_out o;
    snap_out_init(&o);
    snap_put_u64(&o, 0x1000u + fx->seed);
    snap_put_u64(&o, 0xfff0u);
    snap_put_blob(&o, fx->name, (uint32_t)strlen(fx->name));
    s[0] = snap_section_new("vcpu0.regs", 2, &o);
    snap_put_u8(&o, fx->seed);
    snap_put_u8(&o, 0x60);
    s[1] = snap_section_new("uart@0x3f8", 1, &o);
    snap_out_clear(&o);
}

int fixture_create(const char *dir, const struct snap_fixture *fx, const struct snap_hook *hook)
{
    struct snap_meta meta = {fx->state, fx->created_us};
    struct snap_stage *st = NULL;
    int rc = snap_stage_begin(dir, fx->name, &meta, hook, &st);
    if (rc < 0)
        return rc;
    struct snap_section *s[2];
    sections(fx, s);
    GByteArray *state = NULL;
    rc = snap_file_build(s, 2, &state);
    snap_section_free(s[0]);
    snap_section_free(s[1]);
    if (rc == 0)
        rc = snap_stage_write(st, "state", state->data, state->len);
    if (state)
        g_byte_array_unref(state);
    g_autofree uint8_t *mem = pattern(fx->mem_len, fx->seed);
    if (rc == 0)
        rc = snap_stage_write(st, "memory", mem, fx->mem_len);
    if (rc == 0) {
        /* A file the caller writes itself, as guest memory will be. */
        int fd = snap_stage_open(st, "domain.xml");
        g_autofree char *xml = domain_xml(fx);
        if (fd < 0)
            rc = fd;
        else if (write(fd, xml, strlen(xml)) != (ssize_t)strlen(xml))
            rc = qv_error_set_errno(QV_ERR_IO, errno, "cannot write domain.xml");
    }
    if (rc < 0) {
        snap_stage_abort(st);
        return rc;
    }
    return snap_stage_commit(st);
}

static void check_mode(const char *path, mode_t mode)
{
    struct stat st;
    ck_assert_int_eq(lstat(path, &st), 0);
    ck_assert_msg((st.st_mode & 07777) == mode, "%s has mode %o, not %o", path, st.st_mode & 07777,
                  mode);
}

void fixture_check(const char *dir, const struct snap_fixture *fx)
{
    struct snap_dir_entry e;
    int rc = snap_dir_stat(dir, fx->name, &e);
    ck_assert_msg(rc == 0, "snapshot %s: %s", fx->name, qv_last_error()->message);
    ck_assert_str_eq(e.name, fx->name);
    ck_assert_int_eq(e.meta.state, fx->state);
    ck_assert_int_eq(e.meta.created_us, fx->created_us);
    ck_assert_uint_ge(e.bytes, fx->mem_len);
    snap_dir_entry_clear(&e);

    struct snap_dir_entry *list = NULL;
    size_t n = 0;
    ck_assert_int_eq(snap_dir_list(dir, &list, &n), 0);
    int listed = 0;
    for (size_t i = 0; i < n; i++)
        listed += strcmp(list[i].name, fx->name) == 0;
    snap_dir_entries_free(list, n);
    ck_assert_int_eq(listed, 1);

    g_autofree char *sdir = g_build_filename(dir, fx->name, NULL);
    check_mode(sdir, 0700);
    static const char *const files[] = {"domain.xml", "info", "memory", "state"};
    g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func(g_free);
    DIR *d = opendir(sdir);
    ck_assert_ptr_nonnull(d);
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            g_ptr_array_add(found, g_strdup(de->d_name));
    closedir(d);
    ck_assert_uint_eq(found->len, G_N_ELEMENTS(files));
    for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
        g_autofree char *p = g_build_filename(sdir, files[i], NULL);
        check_mode(p, 0600);
    }

    g_autofree char *sp = snap_dir_file(dir, fx->name, "state");
    struct snap_file *f = NULL;
    rc = snap_file_read(sp, &f);
    ck_assert_msg(rc == 0, "%s", qv_last_error()->message);
    struct snap_section *s[2];
    sections(fx, s);
    ck_assert_uint_eq(snap_file_count(f), 2);
    for (int i = 0; i < 2; i++) {
        struct snap_file_section fs;
        ck_assert_int_eq(snap_file_find(f, s[i]->name, &fs), 0);
        ck_assert_uint_eq(fs.version, s[i]->version);
        ck_assert_uint_eq(fs.len, s[i]->data->len);
        ck_assert_int_eq(memcmp(fs.data, s[i]->data->data, fs.len), 0);
        snap_section_free(s[i]);
    }
    snap_file_free(f);

    g_autofree char *mp = snap_dir_file(dir, fx->name, "memory");
    g_autofree char *mem = NULL;
    gsize mlen = 0;
    ck_assert(g_file_get_contents(mp, &mem, &mlen, NULL));
    ck_assert_uint_eq(mlen, fx->mem_len);
    g_autofree uint8_t *want = pattern(fx->mem_len, fx->seed);
    ck_assert_int_eq(memcmp(mem, want, mlen), 0);

    g_autofree char *xp = snap_dir_file(dir, fx->name, "domain.xml");
    g_autofree char *xml = NULL;
    ck_assert(g_file_get_contents(xp, &xml, NULL, NULL));
    g_autofree char *wxml = domain_xml(fx);
    ck_assert_str_eq(xml, wxml);
}

int fixture_hidden_count(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] == '.' && strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

int fixture_exists(const char *dir, const char *name)
{
    g_autofree char *p = g_build_filename(dir, name, NULL);
    struct stat st;
    return lstat(p, &st) == 0;
}
