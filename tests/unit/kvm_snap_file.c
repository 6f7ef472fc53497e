/* The snapshot state file (drivers/kvm/snapshot/snap_file.h): sections come
 * back as written, and every kind of damage (cut short anywhere, any byte
 * flipped, offsets and lengths out of range, names repeated or unreadable,
 * a foreign or newer file) is refused naming the file and the fault, never
 * read past the end. Damage that keeps a valid checksum (a file made to
 * mislead) is made by resealing: recomputing the SHA-256 trailer here. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drivers/kvm/snapshot/snap_file.h"
#include "lib/util/error.h"
#include "lib/util/fileio.h"
#include "qv/error.h"

static char *tmpdir;

static void setup(void)
{
    tmpdir = g_dir_make_tmp("qv-snapfile-XXXXXX", NULL);
    ck_assert_ptr_nonnull(tmpdir);
}

static void teardown(void)
{
    qv_dir_remove_tree(tmpdir);
    g_free(tmpdir);
}

static void fill(uint8_t *p, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(seed ^ (i * 13));
}

/* Four sections: sizes 100, 13, 0 and 7000, versions 3, 1, 1, 9. */
static GPtrArray *four_sections(void)
{
    static const struct {
        const char *name;
        uint32_t version;
        size_t len;
    } spec[] = {
        {"vcpu0.regs", 3, 100}, {"uart@0x3f8", 1, 13}, {"empty", 1, 0}, {"ram-map", 9, 7000}};
    GPtrArray *a = g_ptr_array_new_with_free_func((GDestroyNotify)snap_section_free);
    for (size_t i = 0; i < G_N_ELEMENTS(spec); i++) {
        struct snap_out o;
        snap_out_init(&o);
        uint8_t buf[7000];
        fill(buf, spec[i].len, (uint8_t)i);
        snap_put_bytes(&o, buf, spec[i].len);
        g_ptr_array_add(a, snap_section_new(spec[i].name, spec[i].version, &o));
        snap_out_clear(&o);
    }
    return a;
}

static GByteArray *good_image(void)
{
    g_autoptr(GPtrArray) s = four_sections();
    GByteArray *b = NULL;
    ck_assert_int_eq(snap_file_build((struct snap_section **)s->pdata, s->len, &b), 0);
    return b;
}

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* A valid checksum over whatever the test did to the bytes. */
static void reseal(uint8_t *p, size_t len)
{
    GChecksum *c = g_checksum_new(G_CHECKSUM_SHA256);
    g_checksum_update(c, p, (gssize)(len - 32));
    gsize n = 32;
    g_checksum_get_digest(c, p + len - 32, &n);
    g_checksum_free(c);
}

/* The image refused with QV_ERR_PROTOCOL, its message naming the file and
 * holding `fault`. */
static void refused(const uint8_t *p, size_t len, const char *fault)
{
    struct snap_file *f = NULL;
    int rc = snap_file_parse("/snaps/s1/state", p, len, &f);
    ck_assert_msg(rc == QV_ERR_PROTOCOL, "accepted (rc %d), expected '%s'", rc, fault);
    ck_assert_ptr_null(f);
    const char *msg = qv_last_error()->message;
    ck_assert_msg(g_str_has_prefix(msg, "snapshot file '/snaps/s1/state': "), "%s", msg);
    ck_assert_msg(strstr(msg, fault), "'%s' does not say '%s'", msg, fault);
}

/* Entry i of the table. */
static uint8_t *entry(GByteArray *b, unsigned i)
{
    return b->data + SNAP_FILE_HEADER_LEN + i * SNAP_FILE_ENTRY_LEN;
}

START_TEST(round_trip)
{
    g_autoptr(GPtrArray) s = four_sections();
    g_autofree char *path = g_build_filename(tmpdir, "state", NULL);
    ck_assert_int_eq(snap_file_write(path, (struct snap_section **)s->pdata, s->len), 0);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);

    struct snap_file *f = NULL;
    ck_assert_int_eq(snap_file_read(path, &f), 0);
    ck_assert_uint_eq(snap_file_count(f), 4);
    ck_assert_uint_eq(snap_file_format_version(f), SNAP_FILE_FORMAT_VERSION);
    ck_assert_str_eq(snap_file_writer(f), "libqv " QV_VERSION_STRING);
    for (guint i = 0; i < s->len; i++) {
        const struct snap_section *want = s->pdata[i];
        struct snap_file_section got;
        ck_assert_int_eq(snap_file_find(f, want->name, &got), 0);
        ck_assert_str_eq(got.name, want->name);
        ck_assert_uint_eq(got.version, want->version);
        ck_assert_uint_eq(got.len, want->data->len);
        /* An empty GByteArray's data may be NULL. */
        ck_assert(got.len == 0 || memcmp(got.data, want->data->data, got.len) == 0);
        /* File order is the writer's order. */
        ck_assert_str_eq(snap_file_nth(f, i)->name, want->name);
    }
    ck_assert_ptr_null(snap_file_nth(f, 4));
    struct snap_file_section none;
    ck_assert_int_eq(snap_file_find(f, "pit", &none), QV_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, path));
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "'pit'"));
    snap_file_free(f);

    /* No sections at all is a valid file too. */
    ck_assert_int_eq(snap_file_write(path, NULL, 0), 0);
    ck_assert_int_eq(snap_file_read(path, &f), 0);
    ck_assert_uint_eq(snap_file_count(f), 0);
    snap_file_free(f);
}
END_TEST

START_TEST(build_refuses_bad_sections)
{
    struct snap_out o;
    snap_out_init(&o);
    struct snap_section *a = snap_section_new("uart@0x3f8", 1, &o);
    struct snap_section *b = snap_section_new("uart@0x3f8", 1, &o);
    struct snap_section *pair[2] = {a, b};
    GByteArray *img = NULL;
    ck_assert_int_eq(snap_file_build(pair, 2, &img), QV_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "two sections are called 'uart@0x3f8'"));
    ck_assert_ptr_null(img);

    static const char *const bad_names[] = {"",
                                            "has space",
                                            "tab\there",
                                            "\x01",
                                            "caf\xc3\xa9",
                                            "0123456789012345678901234567890123456789012345678901"
                                            "234567890123"};
    for (size_t i = 0; i < G_N_ELEMENTS(bad_names); i++) {
        g_free(b->name);
        b->name = g_strdup(bad_names[i]);
        ck_assert_int_eq(snap_file_build(&b, 1, &img), QV_ERR_INVALID_ARG);
        ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "name"));
    }
    /* 63 bytes is the longest name. */
    g_free(b->name);
    b->name = g_strnfill(63, 'n');
    ck_assert_int_eq(snap_file_build(&b, 1, &img), 0);
    g_byte_array_unref(img);
    snap_section_free(a);
    snap_section_free(b);
    snap_out_clear(&o);
}
END_TEST

/* Cut short at every length from 0 to one byte short. */
START_TEST(truncated_anywhere)
{
    g_autoptr(GByteArray) b = good_image();
    g_autofree char *path = g_build_filename(tmpdir, "state", NULL);
    for (size_t len = 0; len < b->len; len++) {
        /* Through the file reader for a spread of lengths, in memory for all. */
        if (len % 97 == 0 || len < 100) {
            int fd = qv_file_open_private(path, O_WRONLY | O_TRUNC);
            ck_assert_int_ge(fd, 0);
            ck_assert_int_eq(write(fd, b->data, len), (ssize_t)len);
            close(fd);
            struct snap_file *f = NULL;
            ck_assert_int_eq(snap_file_read(path, &f), QV_ERR_PROTOCOL);
            ck_assert_ptr_null(f);
            const char *msg = qv_last_error()->message;
            ck_assert_msg(strstr(msg, path) && strstr(msg, "truncated"), "cut at %zu: %s", len,
                          msg);
        }
        refused(b->data, len, "truncated");
    }
}
END_TEST

/* Any byte changed is caught: the header's own checks for the fields read
 * before the checksum, the checksum for the rest. */
START_TEST(any_byte_flipped)
{
    g_autoptr(GByteArray) b = good_image();
    for (size_t i = 0; i < b->len; i++) {
        for (int bit = 0; bit < 8; bit += 7) {
            b->data[i] ^= (uint8_t)(1u << bit);
            struct snap_file *f = NULL;
            int rc = snap_file_parse("/snaps/s1/state", b->data, b->len, &f);
            const char *msg = qv_last_error()->message;
            ck_assert_msg(rc == QV_ERR_PROTOCOL, "byte %zu bit %d flipped: accepted", i, bit);
            ck_assert(g_str_has_prefix(msg, "snapshot file '/snaps/s1/state': "));
            if (i < SNAP_FILE_MAGIC_LEN)
                ck_assert_ptr_nonnull(strstr(msg, "bad magic"));
            else if (i >= 16 && i < 24)
                ck_assert_msg(strstr(msg, "truncated") || strstr(msg, "follow the end"), "%s", msg);
            else if (i < 8 + 4)
                ck_assert_msg(strstr(msg, "format version") || strstr(msg, "checksum"), "%s", msg);
            else
                ck_assert_msg(strstr(msg, "checksum mismatch"), "byte %zu: %s", i, msg);
            b->data[i] ^= (uint8_t)(1u << bit);
        }
    }
    /* Unchanged, it still reads. */
    struct snap_file *f = NULL;
    ck_assert_int_eq(snap_file_parse("x", b->data, b->len, &f), 0);
    snap_file_free(f);
}
END_TEST

START_TEST(foreign_and_newer_files)
{
    g_autoptr(GByteArray) b = good_image();
    g_autoptr(GByteArray) c = g_byte_array_new();
    g_byte_array_append(c, b->data, b->len);
    memcpy(c->data, "QFI\xfb\0\0\0\3", 8); /* a qcow2 image's start */
    refused(c->data, c->len, "not a libqv snapshot state file (bad magic)");

    memcpy(c->data, b->data, b->len);
    put_le(c->data + 8, SNAP_FILE_FORMAT_VERSION + 1, 4);
    reseal(c->data, c->len);
    refused(c->data, c->len, "format version 2 is newer than this libqv");
    put_le(c->data + 8, 0xffffffffu, 4);
    refused(c->data, c->len, "format version 4294967295 is newer");
    put_le(c->data + 8, 0, 4);
    reseal(c->data, c->len);
    refused(c->data, c->len, "format version 0 does not exist");

    /* Bytes after the end the header records. */
    g_byte_array_set_size(c, 0);
    g_byte_array_append(c, b->data, b->len);
    static const uint8_t extra[16];
    g_byte_array_append(c, extra, sizeof extra);
    refused(c->data, c->len, "16 bytes follow the end the header gives");

    /* A writer field without its NUL. */
    g_byte_array_set_size(c, b->len);
    memcpy(c->data, b->data, b->len);
    memset(c->data + 24, 'w', SNAP_FILE_WRITER_LEN);
    reseal(c->data, c->len);
    refused(c->data, c->len, "writer field is not NUL-terminated");
    memcpy(c->data, b->data, b->len);
    c->data[24] = 0x07;
    reseal(c->data, c->len);
    refused(c->data, c->len, "writer field holds byte 0x07");
}
END_TEST

/* Each table fault under a valid checksum: the reader's own checks, not
 * the checksum, must catch a file made to mislead. */
START_TEST(table_faults_with_valid_checksum)
{
    g_autoptr(GByteArray) good = good_image();
    g_autoptr(GByteArray) b = g_byte_array_new();
    size_t data_end = good->len - SNAP_FILE_TRAILER_LEN;
#define RESET() (g_byte_array_set_size(b, 0), g_byte_array_append(b, good->data, good->len))

    /* Offsets: into the header or table, at the trailer, past the end. */
    const uint64_t offsets[] = {0,         SNAP_FILE_HEADER_LEN, data_end + 1,
                                good->len, 1ull << 40,           UINT64_MAX};
    for (size_t i = 0; i < G_N_ELEMENTS(offsets); i++) {
        RESET();
        put_le(entry(b, 0) + 72, offsets[i], 8);
        reseal(b->data, b->len);
        refused(b->data, b->len, "section 'vcpu0.regs' claims bytes");
        refused(b->data, b->len, "outside the data area");
    }
    /* Lengths: one past the end, huge, and one that wraps offset + length
     * to a small number. */
    RESET();
    uint64_t off3 = 0;
    for (int k = 0; k < 8; k++)
        off3 |= (uint64_t)entry(b, 3)[72 + k] << (8 * k);
    const uint64_t lengths[] = {data_end - off3 + 1, 1ull << 62, UINT64_MAX, UINT64_MAX - off3 + 2};
    for (size_t i = 0; i < G_N_ELEMENTS(lengths); i++) {
        RESET();
        put_le(entry(b, 3) + 80, lengths[i], 8);
        reseal(b->data, b->len);
        refused(b->data, b->len, "section 'ram-map' claims bytes");
    }
    /* The last byte of the data is still inside. */
    RESET();
    put_le(entry(b, 3) + 80, data_end - off3, 8);
    reseal(b->data, b->len);
    struct snap_file *f = NULL;
    ck_assert_int_eq(snap_file_parse("x", b->data, b->len, &f), 0);
    snap_file_free(f);

    RESET();
    memcpy(entry(b, 1), "vcpu0.regs", 11);
    reseal(b->data, b->len);
    refused(b->data, b->len, "two sections are called 'vcpu0.regs'");

    RESET();
    memset(entry(b, 2), 0, 64);
    reseal(b->data, b->len);
    refused(b->data, b->len, "section 2's name '' is empty");

    RESET();
    memset(entry(b, 2), 'a', 64);
    reseal(b->data, b->len);
    refused(b->data, b->len, "section 2's name is not NUL-terminated");

    RESET();
    entry(b, 1)[2] = 0x1b; /* ESC, as a terminal attack would use */
    reseal(b->data, b->len);
    refused(b->data, b->len,
            "section 1's name 'ua\\033t@0x3f8' holds a byte that is not printable");

    RESET();
    entry(b, 1)[3] = ' ';
    reseal(b->data, b->len);
    refused(b->data, b->len, "not printable");

    /* Two sections over the same bytes. */
    RESET();
    memcpy(entry(b, 1) + 72, entry(b, 0) + 72, 8);
    reseal(b->data, b->len);
    refused(b->data, b->len, "sections 'uart@0x3f8' and 'vcpu0.regs' overlap");

    RESET();
    put_le(entry(b, 0) + 68, 1, 4);
    reseal(b->data, b->len);
    refused(b->data, b->len, "section 'vcpu0.regs' has unknown flags 0x1");

    /* Section counts: more than allowed, and more than the file holds. */
    RESET();
    put_le(b->data + 12, 0xffffffffu, 4);
    reseal(b->data, b->len);
    refused(b->data, b->len, "4294967295 sections, more than the 4096");
    RESET();
    put_le(b->data + 12, 200, 4);
    reseal(b->data, b->len);
    refused(b->data, b->len, "the table of 200 sections ends at byte");
#undef RESET
}
END_TEST

START_TEST(file_level_refusals)
{
    g_autoptr(GByteArray) b = good_image();
    g_autofree char *path = g_build_filename(tmpdir, "state", NULL);
    g_autofree char *link = g_build_filename(tmpdir, "link", NULL);
    struct snap_file *f = NULL;

    ck_assert_int_eq(snap_file_read(path, &f), QV_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, path));

    ck_assert_int_eq(qv_file_write_atomic(path, b->data, b->len, 0600), 0);
    ck_assert_int_eq(symlink(path, link), 0);
    ck_assert_int_eq(snap_file_read(link, &f), QV_ERR_IO);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "symbolic link"));
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, link));

    ck_assert_int_eq(snap_file_read(tmpdir, &f), QV_ERR_IO);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "not a regular file"));

    /* A caller's own smaller cap (a snapshot's info): a file of exactly
     * the cap reads, one byte over is refused by its size, naming it. */
    ck_assert_int_eq(snap_file_read_max(path, b->len, &f), 0);
    snap_file_free(f);
    ck_assert_int_eq(snap_file_read_max(path, b->len - 1, &f), QV_ERR_PROTOCOL);
    g_autofree char *want = g_strdup_printf("%u bytes, more than the %u", b->len, b->len - 1);
    ck_assert_msg(strstr(qv_last_error()->message, want) && strstr(qv_last_error()->message, path),
                  "%s", qv_last_error()->message);
    ck_assert_ptr_null(f);

    /* A (sparse) file over the limit is refused from its size, before any
     * allocation for it. */
    int fd = open(path, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, (off_t)SNAP_FILE_MAX_BYTES + 1), 0);
    close(fd);
    ck_assert_int_eq(snap_file_read(path, &f), QV_ERR_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "more than the 268435456"));
    ck_assert_ptr_null(f);
    /* A cap above the format's limit is the format's limit. */
    ck_assert_int_eq(snap_file_read_max(path, G_MAXSIZE, &f), QV_ERR_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "more than the 268435456"));
    ck_assert_ptr_null(f);
}
END_TEST

/* Random damage, resealed or not: never a crash or a read past the end
 * (ASan), and whatever is accepted keeps every section inside the file. */
START_TEST(random_damage)
{
    g_autoptr(GByteArray) good = good_image();
    GRand *r = g_rand_new_with_seed(11);
    for (int iter = 0; iter < 3000; iter++) {
        size_t len = good->len;
        if (g_rand_int_range(r, 0, 4) == 0)
            len = (size_t)g_rand_int_range(r, 0, (gint32)good->len);
        uint8_t *p = g_memdup2(good->data, good->len);
        int flips = g_rand_int_range(r, 1, 6);
        for (int k = 0; k < flips; k++) {
            /* Mostly the header and table, where lengths live. */
            size_t lim = g_rand_boolean(r) ? SNAP_FILE_HEADER_LEN + 4 * SNAP_FILE_ENTRY_LEN : len;
            if (lim > len)
                lim = len;
            if (lim)
                p[g_rand_int_range(r, 0, (gint32)lim)] = (uint8_t)g_rand_int(r);
        }
        if (len >= 32 && g_rand_boolean(r))
            reseal(p, len);
        /* The exact size, so ASan sees any read past it. */
        uint8_t *exact = g_memdup2(p, len ? len : 1);
        struct snap_file *f = NULL;
        int rc = snap_file_parse("fuzz", exact, len, &f);
        ck_assert(rc == 0 || rc == QV_ERR_PROTOCOL);
        for (size_t i = 0; f && i < snap_file_count(f); i++) {
            const struct snap_file_section *s = snap_file_nth(f, i);
            volatile uint8_t sum = 0;
            for (size_t j = 0; j < s->len; j++)
                sum ^= s->data[j];
            (void)sum;
            ck_assert_uint_le(s->len, len);
        }
        snap_file_free(f);
        g_free(exact);
        g_free(p);
    }
    g_rand_free(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kvm_snap_file");
    TCase *tc = tcase_create("snap_file");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, build_refuses_bad_sections);
    tcase_add_test(tc, truncated_anywhere);
    tcase_add_test(tc, any_byte_flipped);
    tcase_add_test(tc, foreign_and_newer_files);
    tcase_add_test(tc, table_faults_with_valid_checksum);
    tcase_add_test(tc, file_level_refusals);
    tcase_add_test(tc, random_damage);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
