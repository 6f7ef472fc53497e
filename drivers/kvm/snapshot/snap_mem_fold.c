/* Folding a memory file into the one that depends on it, so the snapshot
 * it belongs to can be deleted. The dependent file is rewritten (temporary
 * file, rename) keeping its id, so its own increments still link; until
 * the rename it is untouched, and after it the file being deleted is no
 * longer needed: a kill at any point leaves a chain that restores. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "../../../lib/util/error.h"
#include "snap_mem_format.h"

#define PAGE SNAP_MEM_PAGE_SIZE

/* Mark the pages of [off, off + size) in fd that hold data: the rest are
 * holes, all zero, and need not be read. Where the file system cannot say
 * (EINVAL), every page counts as data. */
static int data_pages(int fd, const char *path, uint64_t off, uint64_t size, struct dirty_bitmap *b)
{
    uint64_t pos = off, end = off + size;
    while (pos < end) {
        off_t d = lseek(fd, (off_t)pos, SEEK_DATA);
        if (d < 0 && errno == ENXIO)
            return 0;
        if (d < 0 && errno == EINVAL)
            return dirty_bitmap_mark(b, 0, size);
        if (d < 0)
            return qv_error_set_errno(QV_ERR_IO, errno, "cannot scan memory file '%s'", path);
        if ((uint64_t)d >= end)
            return 0;
        off_t h = lseek(fd, d, SEEK_HOLE);
        if (h < 0)
            return qv_error_set_errno(QV_ERR_IO, errno, "cannot scan memory file '%s'", path);
        uint64_t stop = (uint64_t)h < end ? (uint64_t)h : end;
        int rc = dirty_bitmap_mark(b, (uint64_t)d - off, stop - (uint64_t)d);
        if (rc < 0)
            return rc;
        pos = stop;
    }
    return 0;
}

/* Region r of the folded file: each page the base has data for or the
 * child lists, read from the child when it lists it, else from the base,
 * through a bounded buffer. Plain reads, no mapping: a page read from a
 * hole on a full tmpfs would be SIGBUS through a mapping, an error here. */
static int fold_region(struct snap_mem_tmp *t, const struct snap_memfile *bf,
                       const struct snap_memfile *cf, uint32_t r)
{
    enum { CHUNK = 256 };
    const struct snap_mem_region *reg = &bf->info.regions[r];
    struct dirty_bitmap *pages = dirty_bitmap_new(reg->size / PAGE);
    if (!pages)
        return qv_error_code();
    int rc = data_pages(bf->fd, bf->path, reg->offset, reg->size, pages);
    const uint64_t *l = cf->index + cf->first[r];
    uint64_t n = snap_memfile_npages(cf, r);
    for (uint64_t k = 0; rc == 0 && k < n; k++)
        rc = dirty_bitmap_set(pages, l[k]);
    uint64_t child_at = cf->data_off + cf->first[r] * PAGE, k = 0;
    g_autofree uint8_t *buf = g_malloc(CHUNK * PAGE);
    for (uint64_t p = 0; rc == 0 && dirty_bitmap_next(pages, p, &p);) {
        /* A run of pages from one source, contiguous there. */
        bool child = k < n && l[k] == p;
        uint64_t end = p + 1;
        while (end - p < CHUNK && dirty_bitmap_test(pages, end)) {
            /* k is the child's next page: p while in a child run, past
             * end while in a base run. */
            uint64_t at = child ? k + (end - p) : k;
            bool c2 = at < n && l[at] == end;
            if (c2 != child)
                break;
            end++;
        }
        uint64_t len = (end - p) * PAGE;
        if (child)
            rc = snap_mem_pread(cf->fd, cf->path, buf, len, child_at + k * PAGE);
        else
            rc = snap_mem_pread(bf->fd, bf->path, buf, len, reg->offset + p * PAGE);
        if (rc == 0)
            rc = snap_mem_tmp_write_sparse(t, buf, len, reg->offset + p * PAGE);
        if (child)
            k += end - p;
        p = end;
    }
    dirty_bitmap_free(pages);
    return rc;
}

int snap_mem_fold_base(const char *base, const char *child)
{
    struct snap_memfile bf, cf;
    int rc = snap_memfile_open(base, &bf);
    if (rc < 0)
        return rc;
    if (bf.info.kind != SNAP_MEM_FULL) {
        snap_memfile_close(&bf);
        return qv_error_set(QV_ERR_INVALID_ARG, "memory file '%s' is not a full image", base);
    }
    rc = snap_memfile_open(child, &cf);
    if (rc < 0) {
        snap_memfile_close(&bf);
        return rc;
    }
    uint32_t n = bf.info.nregions;
    struct snap_mem_ram ram[SNAP_MEM_MAX_REGIONS] = {0};
    uint64_t offs[SNAP_MEM_MAX_REGIONS] = {0};
    for (uint32_t i = 0; i < n; i++) {
        ram[i] = (struct snap_mem_ram){NULL, bf.info.regions[i].gpa, bf.info.regions[i].size};
        offs[i] = bf.info.regions[i].offset;
    }
    rc = snap_memfile_check_link(&cf, base, bf.info.id);
    if (rc == 0)
        rc = snap_memfile_match(&cf, ram, n);
    if (rc == 0) {
        /* The child's id: its own increments still link to it. */
        g_autoptr(GByteArray) head =
            snap_mem_header(SNAP_MEM_FULL, cf.info.id, NULL, ram, n, offs, NULL, 0);
        struct snap_mem_tmp t;
        rc = snap_mem_tmp_open(&t, child, bf.size);
        if (rc == 0) {
            rc = snap_mem_tmp_write(&t, head->data, head->len, 0);
            for (uint32_t i = 0; rc == 0 && i < n; i++)
                rc = fold_region(&t, &bf, &cf, i);
            if (rc == 0)
                rc = snap_mem_tmp_commit(&t);
            else
                snap_mem_tmp_abort(&t);
        }
    }
    snap_memfile_close(&cf);
    snap_memfile_close(&bf);
    return rc;
}

/* Region r of mid and next merged: the union of their lists, each page
 * taken from next when next has it. */
static int merge_region(const struct snap_memfile *mid, const struct snap_memfile *next, uint32_t r,
                        uint64_t **list, struct snap_mem_src **src, uint64_t *count)
{
    const uint64_t *a = mid->index + mid->first[r], *b = next->index + next->first[r];
    uint64_t na = snap_memfile_npages(mid, r), nb = snap_memfile_npages(next, r);
    /* Where region r's pages start in each file. */
    uint64_t da = mid->data_off + mid->first[r] * PAGE, db = next->data_off + next->first[r] * PAGE;
    /* 48 bytes per page of both files: for large increments that is
     * GiBs, so running out is an error for the caller, not an abort. */
    *list = g_try_new(uint64_t, na + nb + 1);
    *src = g_try_new0(struct snap_mem_src, na + nb + 1);
    if (!*list || !*src)
        return qv_error_set(QV_ERR_NOMEM,
                            "cannot fold memory file '%s' into '%s': no memory to merge region "
                            "%u (%llu + %llu pages)",
                            mid->path, next->path, r, (unsigned long long)na,
                            (unsigned long long)nb);
    uint64_t i = 0, j = 0, k = 0;
    while (i < na || j < nb) {
        bool from_b = j < nb && (i == na || b[j] <= a[i]);
        if (from_b) {
            if (i < na && a[i] == b[j])
                i++; /* next's copy wins */
            (*list)[k] = b[j];
            (*src)[k] = (struct snap_mem_src){NULL, next->fd, db + j * PAGE, next->path};
            j++;
        } else {
            (*list)[k] = a[i];
            (*src)[k] = (struct snap_mem_src){NULL, mid->fd, da + i * PAGE, mid->path};
            i++;
        }
        k++;
    }
    *count = k;
    return 0;
}

int snap_mem_fold_inc(const char *mid, const char *next)
{
    struct snap_memfile mf, nf;
    int rc = snap_memfile_open(mid, &mf);
    if (rc < 0)
        return rc;
    if (mf.info.kind != SNAP_MEM_INC) {
        snap_memfile_close(&mf);
        return qv_error_set(QV_ERR_INVALID_ARG, "memory file '%s' is not an increment", mid);
    }
    rc = snap_memfile_open(next, &nf);
    if (rc < 0) {
        snap_memfile_close(&mf);
        return rc;
    }
    uint32_t n = mf.info.nregions;
    struct snap_mem_ram ram[SNAP_MEM_MAX_REGIONS] = {0};
    for (uint32_t i = 0; i < n; i++)
        ram[i] = (struct snap_mem_ram){NULL, mf.info.regions[i].gpa, mf.info.regions[i].size};
    rc = snap_memfile_check_link(&nf, mid, mf.info.id);
    if (rc == 0)
        rc = snap_memfile_match(&nf, ram, n);
    uint64_t *lists[SNAP_MEM_MAX_REGIONS] = {0}, counts[SNAP_MEM_MAX_REGIONS] = {0};
    struct snap_mem_src *src[SNAP_MEM_MAX_REGIONS] = {0};
    if (rc == 0) {
        for (uint32_t i = 0; rc == 0 && i < n; i++)
            rc = merge_region(&mf, &nf, i, &lists[i], &src[i], &counts[i]);
        /* next keeps its id and now builds on what mid built on. */
        if (rc == 0)
            rc = snap_mem_write_inc_pages(next, nf.info.id, mf.info.parent, ram, n, lists, counts,
                                          src);
    }
    for (uint32_t i = 0; i < n; i++) {
        g_free(lists[i]);
        g_free(src[i]);
    }
    snap_memfile_close(&nf);
    snap_memfile_close(&mf);
    return rc;
}
