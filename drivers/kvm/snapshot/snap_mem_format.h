/* The on-disk layout of memory files (snap_mem.h) and the pieces the
 * writer, restore and fold share. Internal to drivers/kvm/snapshot.
 *
 * Both kinds, little-endian:
 *   magic[8] "QVMEMFUL" (full) or "QVMEMINC" (incremental)
 *   u32 version (1), u32 page size (4096)
 *   id[16], parent id[16] (zero in a full file)
 *   u32 region count (1..64), u32 0
 *   per region: u64 gpa, u64 size, u64 offset (full) or page count (inc)
 *   inc only: per region, its page indices as u64, ascending, no repeats
 *   SHA-256 of every byte above
 * A full file's regions start at 4096 and follow each other; an
 * incremental's pages start at the next page boundary after the header, in
 * list order. The file is exactly as long as that makes it. */
#ifndef QV_KVM_SNAP_MEM_FORMAT_H
#define QV_KVM_SNAP_MEM_FORMAT_H

#include <glib.h>
#include <stdbool.h>

#include "snap_mem.h"

#define SNAP_MEM_VERSION 1
#define SNAP_MEM_FIXED_LEN 56
#define SNAP_MEM_REGION_LEN 24
#define SNAP_MEM_DIGEST_LEN 32

/* An open, checked memory file. */
struct snap_memfile {
    const char *path; /* not owned */
    int fd;
    uint64_t size;
    struct snap_mem_info info;
    uint64_t *index;                      /* inc: the lists, concatenated (NULL from
                                             snap_memfile_open_header) */
    uint64_t first[SNAP_MEM_MAX_REGIONS]; /* inc: where region r's list starts */
    uint64_t data_off;                    /* where the pages start */
};

/* Open path (O_NOFOLLOW, a regular file) and check all of its header. */
int snap_memfile_open(const char *path, struct snap_memfile *mf);
/* The same without loading the index (every check still made): for a
 * caller that needs only info. */
int snap_memfile_open_header(const char *path, struct snap_memfile *mf);
void snap_memfile_close(struct snap_memfile *mf);
/* Region r's page count in an incremental (info.regions[r].offset holds
 * it while open). */
uint64_t snap_memfile_npages(const struct snap_memfile *mf, uint32_t r);
/* QV_ERR_PROTOCOL naming mf's file unless its regions are (gpa, size) of
 * ram[0..n). */
int snap_memfile_match(const struct snap_memfile *mf, const struct snap_mem_ram *ram, size_t n);

/* QV_ERR_INVALID_ARG unless ram is 1..64 page-aligned, non-empty,
 * non-overlapping regions of at most SNAP_MEM_MAX_REGION_BYTES. */
int snap_mem_check_ram(const struct snap_mem_ram *ram, size_t n);

/* The header bytes, digest included. third[r] is the offset or page
 * count; lists (inc) holds sum(third) indices. */
GByteArray *snap_mem_header(enum snap_mem_kind kind, const uint8_t *id, const uint8_t *parent,
                            const struct snap_mem_ram *ram, size_t n, const uint64_t *third,
                            const uint64_t *lists, uint64_t nlist);
void snap_mem_new_id(uint8_t *id);
/* "0123456789abcdef" for the first 8 bytes of an id (for messages). */
void snap_mem_id_hex(const uint8_t *id, char out[17]);

/* A temporary file next to path (mode 0600) whose commit fsyncs it,
 * renames it over path and fsyncs the directory; abort removes it. */
struct snap_mem_tmp {
    const char *path;
    char *tmp;
    int fd;
};
int snap_mem_tmp_open(struct snap_mem_tmp *t, const char *path, uint64_t size);
int snap_mem_tmp_write(struct snap_mem_tmp *t, const void *p, size_t len, uint64_t off);
/* The same leaving all-zero pages as holes (qv_pwrite_sparse). */
int snap_mem_tmp_write_sparse(struct snap_mem_tmp *t, const void *p, size_t len, uint64_t off);
int snap_mem_tmp_commit(struct snap_mem_tmp *t);
void snap_mem_tmp_abort(struct snap_mem_tmp *t);

/* An incremental's header written into t at 0 in bounded chunks (the
 * lists are never copied whole): SNAP_MEM_FIXED_LEN + n *
 * SNAP_MEM_REGION_LEN + 8 * sum(counts) + SNAP_MEM_DIGEST_LEN bytes. */
int snap_mem_write_inc_header(struct snap_mem_tmp *t, const uint8_t *id, const uint8_t *parent,
                              const struct snap_mem_ram *ram, size_t n, uint64_t *const *lists,
                              const uint64_t *counts);

/* The writer under snap_mem_write_inc, for fold to reuse with the
 * surviving file's id. Where an incremental's page comes from: host memory (ptr) or a file. */
struct snap_mem_src {
    const uint8_t *ptr;
    int fd;
    uint64_t off;
    const char *path; /* the file's, for errors */
};
/* lists[r] holds counts[r] ascending indices of region r, whose bytes are
 * at src[r][k]. */
int snap_mem_write_inc_pages(const char *path, const uint8_t *id, const uint8_t *parent,
                             const struct snap_mem_ram *ram, size_t n, uint64_t *const *lists,
                             const uint64_t *counts, struct snap_mem_src *const *src);

/* QV_ERR_PROTOCOL unless inc is an incremental built on the file of
 * prev_id (named prev_path in the message). */
int snap_memfile_check_link(const struct snap_memfile *inc, const char *prev_path,
                            const uint8_t *prev_id);

/* Read exactly len bytes at off, or fail naming the file. */
int snap_mem_pread(int fd, const char *path, void *p, size_t len, uint64_t off);

#endif
