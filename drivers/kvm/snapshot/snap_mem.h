/* Guest RAM in a snapshot, as files.
 *
 * A full memory file holds every RAM region at a page-aligned offset after
 * one header page; all-zero pages are left as holes, so an idle guest's
 * file costs little disk. Restore maps each region MAP_PRIVATE from it: the
 * mapping reads nothing but the header page, so its cost does not grow
 * with RAM, the guest's writes stay in the process and never reach the
 * file, and the pages it touches are read in on demand.
 *
 * An incremental file holds only the pages a dirty bitmap names per region
 * (a header with the page size, the regions and their sorted page index
 * lists, then the pages). Restore maps the full file and copies the
 * increments' pages in, oldest first.
 *
 * Every file carries a random 128-bit id and an incremental one its
 * parent's id, so a chain given in the wrong order or with a file missing
 * is refused; folding keeps the surviving file's id, so what depends on it
 * still links. A file is input libqv must not trust: every count, offset
 * and index is checked against the file before it is used, and a damaged
 * file is refused (QV_ERR_PROTOCOL) naming the file and the fault.
 *
 * Files are written to a temporary file in the same directory, fsynced and
 * renamed over the target (then the directory fsynced): a kill or a full
 * disk (QV_ERR_IO ending in strerror(ENOSPC)) leaves the old file, never a
 * half-written one. A file is never rewritten in place, so a live MAP_PRIVATE
 * mapping of an older version is not disturbed by a fold (and a deleted
 * file's blocks are freed when the last VM mapping it unmaps).
 *
 * The mapping is only as sound as the file under it: a file truncated by
 * someone else after the size check, or a hole read on a full tmpfs (tmpfs
 * allocates a page to read a hole through a mapping), is SIGBUS in the
 * guest's first touch. Keep snapshot directories private (0700) and on a
 * disk file system. */
#ifndef QV_KVM_SNAP_MEM_H
#define QV_KVM_SNAP_MEM_H

#include <stddef.h>
#include <stdint.h>

#include "../dirty/dirty_bitmap.h"
#include "snap_buf.h"

#define SNAP_MEM_PAGE_SIZE DIRTY_PAGE_SIZE
#define SNAP_MEM_MAX_REGIONS 64
/* 1 TiB per region: larger sizes in a file are taken as damage. */
#define SNAP_MEM_MAX_REGION_BYTES (1ull << 40)
#define SNAP_MEM_ID_LEN 16

enum snap_mem_kind {
    SNAP_MEM_FULL = 1,
    SNAP_MEM_INC = 2,
};

/* A RAM region in host memory: what a save reads, what a restore returns
 * (hva is then the private mapping to give KVM). gpa and size page-aligned. */
struct snap_mem_ram {
    void *hva;
    uint64_t gpa, size;
};

/* Where a region lies in a full memory file; the caller keeps this table in
 * the state file (snap_mem_table_put/get) and restore checks the memory
 * file against it. */
struct snap_mem_region {
    uint64_t gpa, size, offset;
};

struct snap_mem_info {
    enum snap_mem_kind kind;
    uint8_t id[SNAP_MEM_ID_LEN];
    uint8_t parent[SNAP_MEM_ID_LEN]; /* zero for a full file */
    uint32_t nregions;
    struct snap_mem_region regions[SNAP_MEM_MAX_REGIONS]; /* offset 0 in an incremental */
    uint64_t pages;                                       /* pages an incremental holds */
};

/* Write the n regions of ram to a full memory file at path, replacing any
 * file there; table (n entries) receives where each went. */
int snap_mem_write_full(const char *path, const struct snap_mem_ram *ram, size_t n,
                        struct snap_mem_region *table);

/* Write an incremental file at path holding the pages dirty[i] sets in
 * ram[i]; parent is the memory file (full or incremental) of the snapshot
 * it builds on, whose regions must be ram's. table (n entries, or NULL)
 * receives the layout of the chain's full file, the same for every file
 * of a chain (and for this one once a fold makes it full): the state file
 * keeps it as for a full snapshot. */
int snap_mem_write_inc(const char *path, const char *parent, const struct snap_mem_ram *ram,
                       size_t n, struct dirty_bitmap *const *dirty, struct snap_mem_region *table);

/* Read and check a memory file's header (every check restore makes on it). */
int snap_mem_info(const char *path, struct snap_mem_info *info);

/* Map the n regions of the full file the last file of chain builds on,
 * whose layout must be table, MAP_PRIVATE into out[0..n), then copy in the
 * pages of the increments between, oldest first. The files used are found
 * by id, walking back from the last: each increment's parent is the
 * nearest earlier file with that id. A chain that still names a file
 * already folded into a later one restores (a base folded into its child:
 * the walk ends at the child, now full; a middle increment merged into
 * next: next builds on mid's parent, and mid, an increment on that same
 * parent, is passed over). Anything else that does not link is refused.
 * On failure nothing stays mapped. */
int snap_mem_restore(const char *const *chain, size_t nchain, const struct snap_mem_region *table,
                     size_t n, struct snap_mem_ram *out);
void snap_mem_unmap(struct snap_mem_ram *ram, size_t n);

/* Deleting a snapshot whose memory file another one's builds on (that
 * file is an increment whose parent id is this file's id, snap_mem_info)
 * first folds it into that one, then deletes it. A kill after the fold
 * leaves both restorable and the next delete finds nothing to fold.
 *
 * Before deleting base (a full file), make its child, an incremental built
 * on it, a full file holding base's pages and the child's over them. */
int snap_mem_fold_base(const char *base, const char *child);
/* Before deleting mid (an incremental), merge it into next, the increment
 * built on it: next then holds both page sets (next's win where both have
 * a page) and builds on mid's parent. */
int snap_mem_fold_inc(const char *mid, const char *next);

/* Remove what a writer killed part way left for the memory file at path
 * (its temporary files beside it); the file itself is untouched. A live
 * writer (in any process) holds a lock on its temporary file until it is
 * renamed into place, and sweep leaves a file it cannot lock, so running
 * it concurrently with a writer is safe. Returns how many were removed.
 * Run before a fold, or on opening a snapshot directory. */
int snap_mem_sweep(const char *path);

/* The region table as a state-file field: a u32 count, then gpa, size and
 * offset per region. get checks what it reads (count at most max, sizes
 * and addresses page-aligned and non-zero, no overlap) and fails through
 * in's sticky error; it returns the count, 0 on failure. */
void snap_mem_table_put(struct snap_out *o, const struct snap_mem_region *table, size_t n);
size_t snap_mem_table_get(struct snap_in *in, struct snap_mem_region *table, size_t max);

#endif
