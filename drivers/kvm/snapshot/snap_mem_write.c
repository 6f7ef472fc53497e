/* Writing memory files: a full image with zero pages left as holes, and an
 * incremental holding the pages a dirty bitmap names. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "../../../lib/util/error.h"
#include "snap_mem_format.h"

#define PAGE SNAP_MEM_PAGE_SIZE

int snap_mem_write_full(const char *path, const struct snap_mem_ram *ram, size_t n,
                        struct snap_mem_region *table)
{
    int rc = snap_mem_check_ram(ram, n);
    if (rc < 0)
        return rc;
    uint64_t offs[SNAP_MEM_MAX_REGIONS] = {0}, size = PAGE;
    for (size_t i = 0; i < n; i++) {
        offs[i] = size;
        size += ram[i].size;
    }
    uint8_t id[SNAP_MEM_ID_LEN];
    snap_mem_new_id(id);
    g_autoptr(GByteArray) head = snap_mem_header(SNAP_MEM_FULL, id, NULL, ram, n, offs, NULL, 0);
    struct snap_mem_tmp t;
    rc = snap_mem_tmp_open(&t, path, size);
    if (rc < 0)
        return rc;
    rc = snap_mem_tmp_write(&t, head->data, head->len, 0);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = snap_mem_tmp_write_sparse(&t, ram[i].hva, ram[i].size, offs[i]);
    if (rc == 0)
        rc = snap_mem_tmp_commit(&t);
    else
        snap_mem_tmp_abort(&t);
    if (rc < 0)
        return rc;
    for (size_t i = 0; table && i < n; i++)
        table[i] = (struct snap_mem_region){ram[i].gpa, ram[i].size, offs[i]};
    return 0;
}

/* Copy len bytes of a file into the temporary file, in bounded chunks. */
static int copy_from_file(struct snap_mem_tmp *t, const struct snap_mem_src *s, uint64_t len,
                          uint64_t to)
{
    enum { CHUNK = 1 << 20 };
    g_autofree uint8_t *buf = g_malloc(len < CHUNK ? len : CHUNK);
    uint64_t from = s->off;
    while (len) {
        size_t n = len < CHUNK ? (size_t)len : CHUNK;
        /* The source was checked to be long enough when opened; a short
         * read now means it shrank under us, and is reported as such. */
        int rc = snap_mem_pread(s->fd, s->path, buf, n, from);
        if (rc == 0)
            rc = snap_mem_tmp_write(t, buf, n, to);
        if (rc < 0)
            return rc;
        from += n;
        to += n;
        len -= n;
    }
    return 0;
}

static bool follows(const struct snap_mem_src *a, const struct snap_mem_src *b)
{
    if (a->ptr || b->ptr)
        return a->ptr && b->ptr && b->ptr == a->ptr + PAGE;
    return a->fd == b->fd && b->off == a->off + PAGE;
}

int snap_mem_write_inc_pages(const char *path, const uint8_t *id, const uint8_t *parent,
                             const struct snap_mem_ram *ram, size_t n, uint64_t *const *lists,
                             const uint64_t *counts, struct snap_mem_src *const *src)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += counts[i];
    uint64_t head_len =
        SNAP_MEM_FIXED_LEN + (uint64_t)n * SNAP_MEM_REGION_LEN + total * 8 + SNAP_MEM_DIGEST_LEN;
    uint64_t data = (head_len + PAGE - 1) & ~(PAGE - 1);
    struct snap_mem_tmp t;
    int rc = snap_mem_tmp_open(&t, path, data + total * PAGE);
    if (rc < 0)
        return rc;
    rc = snap_mem_write_inc_header(&t, id, parent, ram, n, lists, counts);
    uint64_t at = data;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const struct snap_mem_src *s = src[i];
        for (uint64_t k = 0; rc == 0 && k < counts[i];) {
            uint64_t end = k + 1;
            while (end < counts[i] && follows(&s[end - 1], &s[end]))
                end++;
            uint64_t len = (end - k) * PAGE;
            if (s[k].ptr)
                rc = snap_mem_tmp_write(&t, s[k].ptr, len, at);
            else
                rc = copy_from_file(&t, &s[k], len, at);
            at += len;
            k = end;
        }
    }
    if (rc == 0)
        rc = snap_mem_tmp_commit(&t);
    else
        snap_mem_tmp_abort(&t);
    return rc;
}

int snap_mem_write_inc(const char *path, const char *parent, const struct snap_mem_ram *ram,
                       size_t n, struct dirty_bitmap *const *dirty, struct snap_mem_region *table)
{
    int rc = snap_mem_check_ram(ram, n);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (!dirty || !dirty[i] || dirty_bitmap_pages(dirty[i]) != ram[i].size / PAGE)
            return qv_error_set(QV_ERR_INVALID_ARG,
                                "memory file '%s': region %zu has %llu pages, its dirty bitmap "
                                "a different count",
                                path, i, (unsigned long long)(ram[i].size / PAGE));
    struct snap_memfile pf;
    rc = snap_memfile_open_header(parent, &pf);
    if (rc < 0)
        return rc;
    rc = snap_memfile_match(&pf, ram, n);
    uint8_t parent_id[SNAP_MEM_ID_LEN];
    memcpy(parent_id, pf.info.id, sizeof parent_id);
    snap_memfile_close(&pf);
    if (rc < 0)
        return rc;

    uint64_t *lists[SNAP_MEM_MAX_REGIONS] = {0}, counts[SNAP_MEM_MAX_REGIONS] = {0};
    struct snap_mem_src *src[SNAP_MEM_MAX_REGIONS] = {0};
    for (size_t i = 0; i < n; i++) {
        counts[i] = dirty_bitmap_count(dirty[i]);
        lists[i] = g_try_new(uint64_t, counts[i] ? counts[i] : 1);
        src[i] = g_try_new0(struct snap_mem_src, counts[i] ? counts[i] : 1);
        if (!lists[i] || !src[i]) {
            rc = qv_error_set(QV_ERR_NOMEM,
                              "memory file '%s': no memory for the list of %llu dirty pages "
                              "of region %zu",
                              path, (unsigned long long)counts[i], i);
            break;
        }
        uint64_t k = 0;
        for (uint64_t p = 0; dirty_bitmap_next(dirty[i], p, &p); p++, k++) {
            lists[i][k] = p;
            src[i][k].ptr = (const uint8_t *)ram[i].hva + p * PAGE;
        }
    }
    uint8_t id[SNAP_MEM_ID_LEN];
    snap_mem_new_id(id);
    if (rc == 0)
        rc = snap_mem_write_inc_pages(path, id, parent_id, ram, n, lists, counts, src);
    for (size_t i = 0; i < n; i++) {
        g_free(lists[i]);
        g_free(src[i]);
    }
    /* The layout write_full gives these regions. */
    for (size_t i = 0, off = PAGE; rc == 0 && table && i < n; off += ram[i].size, i++)
        table[i] = (struct snap_mem_region){ram[i].gpa, ram[i].size, off};
    return rc;
}
