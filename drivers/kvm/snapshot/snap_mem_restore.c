/* Restoring guest RAM: map the full file's regions MAP_PRIVATE, then copy
 * each increment's pages in, oldest first. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/mman.h>

#include "../../../lib/util/error.h"
#include "snap_mem_format.h"

#define PAGE SNAP_MEM_PAGE_SIZE

void snap_mem_unmap(struct snap_mem_ram *ram, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (ram[i].hva)
            munmap(ram[i].hva, ram[i].size);
        ram[i].hva = NULL;
    }
}

static int map_full(const struct snap_memfile *mf, struct snap_mem_ram *out)
{
    for (uint32_t i = 0; i < mf->info.nregions; i++) {
        const struct snap_mem_region *r = &mf->info.regions[i];
        /* Private and lazy: nothing is read until the guest touches a page,
         * and its writes are copies that never reach the file. The size
         * was checked against the file, so no page of the mapping lies
         * past its end (which would be SIGBUS, not an error). */
        void *p = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, mf->fd,
                       (off_t)r->offset);
        if (p == MAP_FAILED) {
            int err = errno;
            snap_mem_unmap(out, i);
            return qv_error_set_errno(QV_ERR_NOMEM, err,
                                      "memory file '%s': cannot map region %u (0x%llx bytes)",
                                      mf->path, i, (unsigned long long)r->size);
        }
        out[i] = (struct snap_mem_ram){p, r->gpa, r->size};
    }
    return 0;
}

static int apply_inc(const struct snap_memfile *inc, struct snap_mem_ram *ram)
{
    uint64_t at = inc->data_off;
    for (uint32_t r = 0; r < inc->info.nregions; r++) {
        const uint64_t *l = inc->index + inc->first[r];
        uint64_t n = snap_memfile_npages(inc, r);
        uint8_t *base = ram[r].hva;
        /* Indices are checked (inside the region, ascending), so a run of
         * consecutive pages is one read. */
        for (uint64_t k = 0; k < n;) {
            uint64_t end = k + 1;
            while (end < n && l[end] == l[end - 1] + 1)
                end++;
            uint64_t len = (end - k) * PAGE;
            int rc = snap_mem_pread(inc->fd, inc->path, base + l[k] * PAGE, len, at);
            if (rc < 0)
                return rc;
            at += len;
            k = end;
        }
    }
    return 0;
}

static int check_table(const struct snap_memfile *mf, const struct snap_mem_region *table, size_t n)
{
    if (mf->info.nregions != n)
        return qv_error_set(QV_ERR_PROTOCOL,
                            "memory file '%s' holds %u regions, the snapshot names %zu", mf->path,
                            mf->info.nregions, n);
    for (size_t i = 0; i < n; i++) {
        const struct snap_mem_region *f = &mf->info.regions[i], *t = &table[i];
        if (f->gpa != t->gpa || f->size != t->size || f->offset != t->offset)
            return qv_error_set(
                QV_ERR_PROTOCOL,
                "memory file '%s': region %zu is gpa 0x%llx, 0x%llx bytes at 0x%llx; the "
                "snapshot names gpa 0x%llx, 0x%llx bytes at 0x%llx",
                mf->path, i, (unsigned long long)f->gpa, (unsigned long long)f->size,
                (unsigned long long)f->offset, (unsigned long long)t->gpa,
                (unsigned long long)t->size, (unsigned long long)t->offset);
    }
    return 0;
}

/* inc must build on the file before it in the chain. */
int snap_memfile_check_link(const struct snap_memfile *inc, const char *prev_path,
                            const uint8_t *prev_id)
{
    if (inc->info.kind != SNAP_MEM_INC)
        return qv_error_set(QV_ERR_PROTOCOL,
                            "memory file '%s' is a full image, not an increment on '%s'", inc->path,
                            prev_path);
    if (memcmp(inc->info.parent, prev_id, SNAP_MEM_ID_LEN) != 0) {
        char want[17], got[17];
        snap_mem_id_hex(prev_id, want);
        snap_mem_id_hex(inc->info.parent, got);
        return qv_error_set(QV_ERR_PROTOCOL,
                            "memory file '%s' builds on memory %s…, not on '%s' (%s…): the chain "
                            "is out of order or misses a file",
                            inc->path, got, prev_path, want);
    }
    return 0;
}

/* Which files of chain the last one's memory is made of: walking back from
 * it, each increment's parent is the nearest earlier file with that id, and
 * the walk ends at a full file. A file it passes over was folded into a
 * later one (fold_base makes the child full, fold_inc makes next build on
 * mid's parent) and killed before its own delete: its pages are already in
 * the later file, so skipping it restores the same memory. Only a file
 * built on the same parent is passed over, so a chain out of order or
 * missing a file is still refused. Fills pick[] newest first; returns how
 * many, or an error naming where the links break. */
static int resolve(const char *const *chain, size_t nchain, size_t *pick)
{
    size_t npick = 0, cur = nchain - 1;
    struct snap_mem_info info;
    int rc = snap_mem_info(chain[cur], &info);
    if (rc < 0)
        return rc;
    pick[npick++] = cur;
    while (info.kind == SNAP_MEM_INC) {
        if (cur == 0)
            return qv_error_set(
                QV_ERR_PROTOCOL,
                "memory file '%s' is an increment; a restore starts from a full one", chain[0]);
        struct snap_mem_info prev, nearest;
        size_t j = cur;
        bool found = false;
        while (j-- > 0) {
            rc = snap_mem_info(chain[j], &prev);
            if (rc < 0)
                return rc;
            if (j == cur - 1)
                nearest = prev;
            if (memcmp(prev.id, info.parent, SNAP_MEM_ID_LEN) == 0) {
                found = true;
                break;
            }
            /* Only what a fold_inc leaves is passed over: an increment on
             * the same parent. Anything else is a chain out of order. */
            if (prev.kind != SNAP_MEM_INC || memcmp(prev.parent, info.parent, SNAP_MEM_ID_LEN) != 0)
                break;
        }
        if (!found) {
            struct snap_memfile inc = {.path = chain[cur], .fd = -1, .info = info};
            return snap_memfile_check_link(&inc, chain[cur - 1], nearest.id);
        }
        cur = j;
        info = prev;
        pick[npick++] = cur;
    }
    return (int)npick;
}

int snap_mem_restore(const char *const *chain, size_t nchain, const struct snap_mem_region *table,
                     size_t n, struct snap_mem_ram *out)
{
    if (!chain || nchain == 0 || nchain > INT_MAX || !table || !out || n == 0 ||
        n > SNAP_MEM_MAX_REGIONS)
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "memory restore needs a full memory file and "
                            "1 to %d regions",
                            SNAP_MEM_MAX_REGIONS);
    memset(out, 0, n * sizeof(*out));
    g_autofree size_t *pick = g_try_new(size_t, nchain);
    if (!pick)
        return qv_error_set(QV_ERR_NOMEM, "no memory for a chain of %zu memory files", nchain);
    int npick = resolve(chain, nchain, pick);
    if (npick < 0)
        return npick;
    /* Every file is opened and checked again below: the walk only chose
     * them, and a file may have been replaced (by a fold) since. */
    const char *full = chain[pick[npick - 1]];
    struct snap_memfile mf;
    int rc = snap_memfile_open(full, &mf);
    if (rc < 0)
        return rc;
    if (mf.info.kind != SNAP_MEM_FULL)
        rc = qv_error_set(QV_ERR_PROTOCOL,
                          "memory file '%s' is an increment; a restore starts from a full one",
                          full);
    if (rc == 0)
        rc = check_table(&mf, table, n);
    if (rc == 0)
        rc = map_full(&mf, out);
    uint8_t prev_id[SNAP_MEM_ID_LEN];
    memcpy(prev_id, mf.info.id, sizeof prev_id);
    snap_memfile_close(&mf); /* the mappings hold the file */
    const char *prev = full;
    for (int c = npick - 2; rc == 0 && c >= 0; c--) {
        struct snap_memfile inc;
        const char *p = chain[pick[c]];
        rc = snap_memfile_open(p, &inc);
        if (rc < 0)
            break;
        rc = snap_memfile_check_link(&inc, prev, prev_id);
        if (rc == 0)
            rc = snap_memfile_match(&inc, out, n);
        if (rc == 0)
            rc = apply_inc(&inc, out);
        memcpy(prev_id, inc.info.id, sizeof prev_id);
        snap_memfile_close(&inc);
        prev = p;
    }
    if (rc < 0)
        snap_mem_unmap(out, n);
    return rc;
}
