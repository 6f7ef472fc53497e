/* Memory files: reading and checking the header, building it, and the
 * region table as a state-file field. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../../lib/util/error.h"
#include "snap_mem_format.h"

static const char magic_full[8] = "QVMEMFUL";
static const char magic_inc[8] = "QVMEMINC";

#define PAGE SNAP_MEM_PAGE_SIZE

static uint64_t align_page(uint64_t v)
{
    return (v + PAGE - 1) & ~(PAGE - 1);
}

static int bad(const char *path, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static int bad(const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return qv_error_set(QV_ERR_PROTOCOL, "memory file '%s': %s", path, what);
}

/* The snap_in's sticky error as a memory-file error. */
static int bad_in(const char *path, struct snap_in *in)
{
    int rc = bad(path, "%s", in->err);
    g_free(in->err);
    in->err = NULL;
    return rc;
}

void snap_mem_id_hex(const uint8_t *id, char out[17])
{
    for (int i = 0; i < 8; i++)
        snprintf(out + 2 * i, 3, "%02x", id[i]);
}

void snap_mem_new_id(uint8_t *id)
{
    /* getrandom on a 16-byte request does not return short once the pool
     * is up; fall back to GLib's generator rather than fail a snapshot. */
    if (getrandom(id, SNAP_MEM_ID_LEN, 0) != SNAP_MEM_ID_LEN)
        for (int i = 0; i < SNAP_MEM_ID_LEN; i++)
            id[i] = (uint8_t)g_random_int();
}

static bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

int snap_mem_check_ram(const struct snap_mem_ram *ram, size_t n)
{
    if (n == 0 || n > SNAP_MEM_MAX_REGIONS)
        return qv_error_set(QV_ERR_INVALID_ARG, "%zu memory regions: a snapshot takes 1 to %d", n,
                            SNAP_MEM_MAX_REGIONS);
    for (size_t i = 0; i < n; i++) {
        const struct snap_mem_ram *r = &ram[i];
        /* hva page-aligned as KVM wants it, which also lets a page be
         * scanned as u64 words. */
        if (!r->hva || (uintptr_t)r->hva % PAGE || r->size == 0 ||
            r->size > SNAP_MEM_MAX_REGION_BYTES || r->gpa % PAGE || r->size % PAGE ||
            r->gpa > UINT64_MAX - r->size)
            return qv_error_set(QV_ERR_INVALID_ARG,
                                "memory region %zu (0x%llx+0x%llx) is not a page-aligned, "
                                "mapped region of at most 1 TiB",
                                i, (unsigned long long)r->gpa, (unsigned long long)r->size);
        for (size_t j = 0; j < i; j++)
            if (overlap(r->gpa, r->size, ram[j].gpa, ram[j].size))
                return qv_error_set(QV_ERR_INVALID_ARG, "memory regions %zu and %zu overlap", j, i);
    }
    return 0;
}

static void digest(const uint8_t *p, size_t len, uint8_t out[SNAP_MEM_DIGEST_LEN])
{
    g_autoptr(GChecksum) c = g_checksum_new(G_CHECKSUM_SHA256);
    g_checksum_update(c, p, (gssize)len);
    gsize n = SNAP_MEM_DIGEST_LEN;
    g_checksum_get_digest(c, out, &n);
}

GByteArray *snap_mem_header(enum snap_mem_kind kind, const uint8_t *id, const uint8_t *parent,
                            const struct snap_mem_ram *ram, size_t n, const uint64_t *third,
                            const uint64_t *lists, uint64_t nlist)
{
    static const uint8_t zero[SNAP_MEM_ID_LEN];
    struct snap_out o;
    snap_out_init(&o);
    snap_put_bytes(&o, kind == SNAP_MEM_FULL ? magic_full : magic_inc, 8);
    snap_put_u32(&o, SNAP_MEM_VERSION);
    snap_put_u32(&o, (uint32_t)PAGE);
    snap_put_bytes(&o, id, SNAP_MEM_ID_LEN);
    snap_put_bytes(&o, parent ? parent : zero, SNAP_MEM_ID_LEN);
    snap_put_u32(&o, (uint32_t)n);
    snap_put_u32(&o, 0);
    for (size_t i = 0; i < n; i++) {
        snap_put_u64(&o, ram[i].gpa);
        snap_put_u64(&o, ram[i].size);
        snap_put_u64(&o, third[i]);
    }
    for (uint64_t i = 0; i < nlist; i++)
        snap_put_u64(&o, lists[i]);
    uint8_t d[SNAP_MEM_DIGEST_LEN];
    digest(o.bytes->data, o.bytes->len, d);
    snap_put_bytes(&o, d, sizeof d);
    GByteArray *b = snap_out_steal(&o);
    snap_out_clear(&o);
    return b;
}

int snap_mem_write_inc_header(struct snap_mem_tmp *t, const uint8_t *id, const uint8_t *parent,
                              const struct snap_mem_ram *ram, size_t n, uint64_t *const *lists,
                              const uint64_t *counts)
{
    enum { CHUNK = 8192 }; /* entries: 64 KiB */
    g_autoptr(GByteArray) start =
        snap_mem_header(SNAP_MEM_INC, id, parent, ram, n, counts, NULL, 0);
    /* Without its digest: the lists come between. */
    size_t start_len = start->len - SNAP_MEM_DIGEST_LEN;
    g_autoptr(GChecksum) c = g_checksum_new(G_CHECKSUM_SHA256);
    g_checksum_update(c, start->data, (gssize)start_len);
    int rc = snap_mem_tmp_write(t, start->data, start_len, 0);
    uint64_t at = start_len;
    g_autofree uint8_t *buf = g_malloc(CHUNK * 8);
    for (size_t r = 0; rc == 0 && r < n; r++)
        for (uint64_t k = 0; rc == 0 && k < counts[r];) {
            size_t m = counts[r] - k < CHUNK ? (size_t)(counts[r] - k) : CHUNK;
            for (size_t e = 0; e < m; e++)
                for (int x = 0; x < 8; x++)
                    buf[e * 8 + x] = (uint8_t)(lists[r][k + e] >> (8 * x));
            g_checksum_update(c, buf, (gssize)(m * 8));
            rc = snap_mem_tmp_write(t, buf, m * 8, at);
            at += m * 8;
            k += m;
        }
    if (rc < 0)
        return rc;
    uint8_t d[SNAP_MEM_DIGEST_LEN];
    gsize dn = sizeof d;
    g_checksum_get_digest(c, d, &dn);
    return snap_mem_tmp_write(t, d, sizeof d, at);
}

/* The regions: sizes, alignment, overlap, and for a full file the one
 * layout the writer makes. Returns the page total of an incremental. */
static int check_regions(struct snap_memfile *mf, uint64_t *total)
{
    struct snap_mem_info *info = &mf->info;
    uint64_t next = PAGE;
    *total = 0;
    for (uint32_t i = 0; i < info->nregions; i++) {
        const struct snap_mem_region *r = &info->regions[i];
        if (r->size == 0 || r->size > SNAP_MEM_MAX_REGION_BYTES || r->gpa % PAGE ||
            r->size % PAGE || r->gpa > UINT64_MAX - r->size)
            return bad(mf->path,
                       "region %u (gpa 0x%llx, 0x%llx bytes) is not page-aligned, empty or over "
                       "1 TiB",
                       i, (unsigned long long)r->gpa, (unsigned long long)r->size);
        for (uint32_t j = 0; j < i; j++)
            if (overlap(r->gpa, r->size, info->regions[j].gpa, info->regions[j].size))
                return bad(mf->path, "regions %u and %u overlap", j, i);
        if (info->kind == SNAP_MEM_FULL) {
            if (r->offset != next)
                return bad(mf->path, "region %u is at offset 0x%llx, expected 0x%llx", i,
                           (unsigned long long)r->offset, (unsigned long long)next);
            next += r->size;
        } else {
            if (r->offset > r->size / PAGE)
                return bad(mf->path, "region %u lists %llu pages, but has only %llu", i,
                           (unsigned long long)r->offset, (unsigned long long)(r->size / PAGE));
            mf->first[i] = *total;
            *total += r->offset;
        }
    }
    return 0;
}

/* Pass over an incremental's lists (file bytes [list_at, list_at + total *
 * 8)) in bounded chunks, hashing them into c and checking each index:
 * inside its region, ascending, no repeats. With index non-NULL the
 * entries are also stored there. Nothing here is sized by the header. */
static int scan_lists(struct snap_memfile *mf, GChecksum *c, uint64_t list_at, uint64_t total,
                      uint64_t *index)
{
    enum { CHUNK = 8192 }; /* entries: 64 KiB */
    g_autofree uint8_t *buf = g_malloc(CHUNK * 8);
    uint32_t r = 0;
    uint64_t k = 0, prev = 0; /* entry k of region r */
    for (uint64_t done = 0; done < total;) {
        size_t n = total - done < CHUNK ? (size_t)(total - done) : CHUNK;
        int rc = snap_mem_pread(mf->fd, mf->path, buf, n * 8, list_at + done * 8);
        if (rc < 0)
            return rc;
        g_checksum_update(c, buf, (gssize)(n * 8));
        for (size_t e = 0; e < n; e++) {
            while (k == mf->info.regions[r].offset) {
                r++;
                k = 0;
            }
            const uint8_t *b = buf + e * 8;
            uint64_t v = 0;
            for (int x = 7; x >= 0; x--)
                v = v << 8 | b[x];
            uint64_t pages = mf->info.regions[r].size / PAGE;
            if (v >= pages)
                return bad(mf->path,
                           "region %u: page index %llu (entry %llu) is outside its %llu "
                           "pages",
                           r, (unsigned long long)v, (unsigned long long)k,
                           (unsigned long long)pages);
            if (k > 0 && v <= prev)
                return bad(mf->path,
                           "region %u: page index %llu (entry %llu) %s; the list must be sorted "
                           "with no repeats",
                           r, (unsigned long long)v, (unsigned long long)k,
                           v == prev ? "repeats the one before" : "is below the one before");
            if (index)
                index[done + e] = v;
            prev = v;
            k++;
        }
        done += n;
    }
    return 0;
}

/* Hash the fixed part and table (already read), the lists, and compare
 * with the digest after them. */
static int scan_header(struct snap_memfile *mf, const uint8_t *start, size_t start_len,
                       uint64_t total, uint64_t *index)
{
    g_autoptr(GChecksum) c = g_checksum_new(G_CHECKSUM_SHA256);
    g_checksum_update(c, start, (gssize)start_len);
    int rc = scan_lists(mf, c, start_len, total, index);
    if (rc < 0)
        return rc;
    uint8_t want[SNAP_MEM_DIGEST_LEN], got[SNAP_MEM_DIGEST_LEN];
    rc = snap_mem_pread(mf->fd, mf->path, want, sizeof want, start_len + total * 8);
    if (rc < 0)
        return rc;
    gsize dn = sizeof got;
    g_checksum_get_digest(c, got, &dn);
    /* Checked last so that a fault the structure shows is named as such;
     * the digest catches a change that still looks well-formed. */
    if (memcmp(got, want, sizeof got) != 0)
        return bad(mf->path, "header checksum mismatch (the header is damaged)");
    return 0;
}

/* A header that claims lists larger than the bytes the file holds there
 * (a crafted sparse file) is refused before reading it: valid lists are
 * never all-zero blocks, so they are never holes. */
static int check_no_hole(struct snap_memfile *mf, uint64_t header_end)
{
    off_t h = lseek(mf->fd, 0, SEEK_HOLE);
    if (h < 0 && errno == EINVAL)
        return 0; /* the file system cannot tell; the scan still checks */
    if (h < 0)
        return qv_error_set_errno(QV_ERR_IO, errno, "cannot scan memory file '%s'", mf->path);
    if ((uint64_t)h < header_end)
        return bad(mf->path,
                   "its header (%llu bytes) has a hole at byte %llu: the page lists it claims "
                   "are not in the file",
                   (unsigned long long)header_end, (unsigned long long)h);
    return 0;
}

static int parse(struct snap_memfile *mf, bool want_index)
{
    struct snap_mem_info *info = &mf->info;
    /* The fixed part and the table, at most 64 regions: read whole. */
    uint8_t start[SNAP_MEM_FIXED_LEN + SNAP_MEM_MAX_REGIONS * SNAP_MEM_REGION_LEN];
    uint8_t *fixed = start;
    if (mf->size < SNAP_MEM_FIXED_LEN)
        return bad(mf->path, "is %llu bytes, shorter than a memory file header",
                   (unsigned long long)mf->size);
    int rc = snap_mem_pread(mf->fd, mf->path, fixed, SNAP_MEM_FIXED_LEN, 0);
    if (rc < 0)
        return rc;
    if (memcmp(fixed, magic_full, 8) == 0)
        info->kind = SNAP_MEM_FULL;
    else if (memcmp(fixed, magic_inc, 8) == 0)
        info->kind = SNAP_MEM_INC;
    else
        return bad(mf->path, "is not a libqv memory file (bad magic)");
    struct snap_in in;
    snap_in_init(&in, mf->path, fixed + 8, SNAP_MEM_FIXED_LEN - 8);
    uint32_t version = snap_get_u32(&in, "version");
    uint32_t page = snap_get_u32(&in, "page size");
    snap_get_bytes(&in, "id", info->id, SNAP_MEM_ID_LEN);
    snap_get_bytes(&in, "parent", info->parent, SNAP_MEM_ID_LEN);
    info->nregions = snap_get_u32(&in, "region count");
    (void)snap_get_u32(&in, "reserved");
    if (!snap_in_ok(&in))
        return bad_in(mf->path, &in);
    if (version != SNAP_MEM_VERSION)
        return bad(mf->path, "has format version %u; this libqv reads version %d", version,
                   SNAP_MEM_VERSION);
    if (page != PAGE)
        return bad(mf->path, "has page size %u; only %llu is supported", page,
                   (unsigned long long)PAGE);
    if (info->nregions == 0 || info->nregions > SNAP_MEM_MAX_REGIONS)
        return bad(mf->path, "names %u regions; 1 to %d are allowed", info->nregions,
                   SNAP_MEM_MAX_REGIONS);

    uint64_t table_end = SNAP_MEM_FIXED_LEN + (uint64_t)info->nregions * SNAP_MEM_REGION_LEN;
    if (mf->size < table_end + SNAP_MEM_DIGEST_LEN)
        return bad(mf->path, "is %llu bytes, shorter than its table of %u regions",
                   (unsigned long long)mf->size, info->nregions);
    uint8_t *table = start + SNAP_MEM_FIXED_LEN;
    rc =
        snap_mem_pread(mf->fd, mf->path, table, table_end - SNAP_MEM_FIXED_LEN, SNAP_MEM_FIXED_LEN);
    if (rc < 0)
        return rc;
    snap_in_init(&in, mf->path, table, table_end - SNAP_MEM_FIXED_LEN);
    for (uint32_t i = 0; i < info->nregions; i++) {
        info->regions[i].gpa = snap_get_u64(&in, "region gpa");
        info->regions[i].size = snap_get_u64(&in, "region size");
        info->regions[i].offset = snap_get_u64(&in, "region offset or page count");
    }
    if (!snap_in_ok(&in))
        return bad_in(mf->path, &in);
    uint64_t total;
    rc = check_regions(mf, &total);
    if (rc < 0)
        return rc;

    /* total <= 64 regions * 2^28 pages, so none of this overflows. */
    uint64_t header_end = table_end + total * 8 + SNAP_MEM_DIGEST_LEN, want;
    if (info->kind == SNAP_MEM_FULL) {
        mf->data_off = PAGE;
        want = PAGE;
        for (uint32_t i = 0; i < info->nregions; i++)
            want += info->regions[i].size;
    } else {
        mf->data_off = align_page(header_end);
        want = mf->data_off + total * PAGE;
        info->pages = total;
    }
    if (mf->size != want)
        return bad(mf->path, "is %llu bytes, but its header describes %llu (%s)",
                   (unsigned long long)mf->size, (unsigned long long)want,
                   mf->size < want ? "truncated" : "extra bytes at the end");
    /* The size says little (a sparse file claims any size for free), so
     * nothing is allocated from the header's counts until the lists are
     * known to be in the file and valid: first the holes, then a pass in
     * bounded chunks that checks every index and the digest, and only
     * then, if the caller needs the index, a second pass that fills it
     * (checking again: the file may have changed in between). The lists
     * are 8 bytes per 4 KiB page, so reading them twice costs little. */
    if (total) {
        rc = check_no_hole(mf, header_end);
        if (rc < 0)
            return rc;
    }
    rc = scan_header(mf, start, table_end, total, NULL);
    if (rc < 0 || !want_index || total == 0)
        return rc;
    mf->index = g_try_new(uint64_t, total);
    if (!mf->index)
        return qv_error_set(QV_ERR_NOMEM,
                            "memory file '%s': no memory for its page list (%llu entries)",
                            mf->path, (unsigned long long)total);
    return scan_header(mf, start, table_end, total, mf->index);
}

static int memfile_open(const char *path, struct snap_memfile *mf, bool want_index)

{
    memset(mf, 0, sizeof(*mf));
    mf->path = path;
    mf->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (mf->fd < 0)
        return qv_error_set_errno(QV_ERR_IO, errno, "cannot open memory file '%s'", path);
    struct stat st;
    int rc;
    if (fstat(mf->fd, &st) < 0)
        rc = qv_error_set_errno(QV_ERR_IO, errno, "cannot stat memory file '%s'", path);
    else if (!S_ISREG(st.st_mode))
        rc = bad(path, "is not a regular file");
    else {
        mf->size = (uint64_t)st.st_size;
        rc = parse(mf, want_index);
    }
    if (rc < 0)
        snap_memfile_close(mf);
    return rc;
}

int snap_memfile_open(const char *path, struct snap_memfile *mf)
{
    return memfile_open(path, mf, true);
}

int snap_memfile_open_header(const char *path, struct snap_memfile *mf)
{
    return memfile_open(path, mf, false);
}

void snap_memfile_close(struct snap_memfile *mf)
{
    if (mf->fd >= 0)
        close(mf->fd);
    mf->fd = -1;
    g_free(mf->index);
    mf->index = NULL;
}

uint64_t snap_memfile_npages(const struct snap_memfile *mf, uint32_t r)
{
    return mf->info.kind == SNAP_MEM_INC ? mf->info.regions[r].offset : 0;
}

int snap_memfile_match(const struct snap_memfile *mf, const struct snap_mem_ram *ram, size_t n)
{
    if (mf->info.nregions != n)
        return bad(mf->path, "holds %u memory regions, the VM has %zu", mf->info.nregions, n);
    for (size_t i = 0; i < n; i++) {
        const struct snap_mem_region *r = &mf->info.regions[i];
        if (r->gpa != ram[i].gpa || r->size != ram[i].size)
            return bad(mf->path,
                       "region %zu is gpa 0x%llx, 0x%llx bytes; expected gpa 0x%llx, 0x%llx bytes",
                       i, (unsigned long long)r->gpa, (unsigned long long)r->size,
                       (unsigned long long)ram[i].gpa, (unsigned long long)ram[i].size);
    }
    return 0;
}

int snap_mem_info(const char *path, struct snap_mem_info *info)
{
    struct snap_memfile mf;
    int rc = snap_memfile_open_header(path, &mf);
    if (rc < 0)
        return rc;
    *info = mf.info;
    if (info->kind == SNAP_MEM_INC)
        for (uint32_t i = 0; i < info->nregions; i++)
            info->regions[i].offset = 0;
    snap_memfile_close(&mf);
    return 0;
}

void snap_mem_table_put(struct snap_out *o, const struct snap_mem_region *table, size_t n)
{
    snap_put_u32(o, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        snap_put_u64(o, table[i].gpa);
        snap_put_u64(o, table[i].size);
        snap_put_u64(o, table[i].offset);
    }
}

size_t snap_mem_table_get(struct snap_in *in, struct snap_mem_region *table, size_t max)
{
    uint32_t n = snap_get_u32(in, "memory region count");
    if (!snap_in_ok(in))
        return 0;
    if (n == 0 || n > max) {
        snap_in_fail(in, "%u memory regions; 1 to %zu are allowed", n, max);
        return 0;
    }
    for (uint32_t i = 0; i < n; i++) {
        struct snap_mem_region *r = &table[i];
        r->gpa = snap_get_u64(in, "memory region gpa");
        r->size = snap_get_u64(in, "memory region size");
        r->offset = snap_get_u64(in, "memory region offset");
        if (!snap_in_ok(in))
            return 0;
        if (r->size == 0 || r->size > SNAP_MEM_MAX_REGION_BYTES ||
            (r->gpa | r->size | r->offset) % PAGE || r->gpa > UINT64_MAX - r->size) {
            snap_in_fail(in,
                         "memory region %u (gpa 0x%llx, 0x%llx bytes at 0x%llx) is not "
                         "page-aligned, empty or over 1 TiB",
                         i, (unsigned long long)r->gpa, (unsigned long long)r->size,
                         (unsigned long long)r->offset);
            return 0;
        }
        for (uint32_t j = 0; j < i; j++)
            if (overlap(r->gpa, r->size, table[j].gpa, table[j].size)) {
                snap_in_fail(in, "memory regions %u and %u overlap", j, i);
                return 0;
            }
    }
    return n;
}
