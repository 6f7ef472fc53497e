/* Restoring guest RAM: map the full file's regions MAP_PRIVATE, then copy
 * each increment's pages in, oldest first. */
#define _GNU_SOURCE
#include <errno.h>
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

int snap_mem_restore(const char *const *chain, size_t nchain, const struct snap_mem_region *table,
                     size_t n, struct snap_mem_ram *out)
{
    if (!chain || nchain == 0 || !table || !out || n == 0 || n > SNAP_MEM_MAX_REGIONS)
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "memory restore needs a full memory file and "
                            "1 to %d regions",
                            SNAP_MEM_MAX_REGIONS);
    memset(out, 0, n * sizeof(*out));
    /* Start at the newest full file: after a fold made an increment full
     * and before its base was deleted (a kill in between), the caller's
     * chain may still begin at that base. */
    size_t first = nchain - 1;
    for (;; first--) {
        struct snap_mem_info info;
        int rc = snap_mem_info(chain[first], &info);
        if (rc < 0)
            return rc;
        if (info.kind == SNAP_MEM_FULL || first == 0)
            break;
    }
    chain += first;
    nchain -= first;
    struct snap_memfile mf;
    int rc = snap_memfile_open(chain[0], &mf);
    if (rc < 0)
        return rc;
    if (mf.info.kind != SNAP_MEM_FULL)
        rc = qv_error_set(QV_ERR_PROTOCOL,
                          "memory file '%s' is an increment; a restore starts from a full one",
                          chain[0]);
    if (rc == 0)
        rc = check_table(&mf, table, n);
    if (rc == 0)
        rc = map_full(&mf, out);
    uint8_t prev_id[SNAP_MEM_ID_LEN];
    memcpy(prev_id, mf.info.id, sizeof prev_id);
    snap_memfile_close(&mf); /* the mappings hold the file */
    for (size_t c = 1; rc == 0 && c < nchain; c++) {
        struct snap_memfile inc;
        rc = snap_memfile_open(chain[c], &inc);
        if (rc < 0)
            break;
        rc = snap_memfile_check_link(&inc, chain[c - 1], prev_id);
        if (rc == 0)
            rc = snap_memfile_match(&inc, out, n);
        if (rc == 0)
            rc = apply_inc(&inc, out);
        memcpy(prev_id, inc.info.id, sizeof prev_id);
        snap_memfile_close(&inc);
    }
    if (rc < 0)
        snap_mem_unmap(out, n);
    return rc;
}
