/* The snapshot state file: every section (snap_buf.h) of one snapshot in
 * one file that says what it is, who wrote it and what it holds.
 *
 * Layout, all integers little-endian:
 *   header   magic "\x89QVSNAP\n", u32 format version, u32 section count,
 *            u64 file length, char writer[64] ("libqv 1.0.0", NUL-padded)
 *   table    per section: char name[64] (NUL-padded), u32 version,
 *            u32 flags (0), u64 offset, u64 length
 *   data     the sections' bytes, each at an 8-byte aligned offset
 *   trailer  SHA-256 of every byte before it
 * The magic's first byte is not ASCII and it ends in '\n', so a file that
 * went through a text conversion is caught as PNG's is.
 *
 * A state file is untrusted input: it may be damaged, cut short, or made
 * by someone else. The reader checks the file's size before reading it,
 * every length against the bytes actually present before using it, the
 * checksum, and every table entry (offsets inside the data, names
 * printable and unique, sections not overlapping), and refuses with
 * QV_ERR_PROTOCOL naming the file and the fault. Guest RAM is not kept
 * here (it is its own file), so the file is bounded by SNAP_FILE_MAX_BYTES. */
#ifndef QV_KVM_SNAP_FILE_H
#define QV_KVM_SNAP_FILE_H

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

#include "snap_buf.h"

#define SNAP_FILE_MAGIC "\x89QVSNAP\n"
#define SNAP_FILE_MAGIC_LEN 8
/* The newest format this code writes and reads. A reader refuses a newer
 * one by name rather than misreading it. */
#define SNAP_FILE_FORMAT_VERSION 1u
#define SNAP_FILE_HEADER_LEN 88u
#define SNAP_FILE_ENTRY_LEN 88u
#define SNAP_FILE_TRAILER_LEN 32u
/* A section name is 1..63 printable ASCII bytes other than space. */
#define SNAP_FILE_NAME_MAX 63u
#define SNAP_FILE_WRITER_LEN 64u
#define SNAP_FILE_MAX_SECTIONS 4096u
#define SNAP_FILE_MAX_BYTES (256u << 20)

/* Serialize sections into one state file image. Refused with
 * QV_ERR_INVALID_ARG naming the section when a name is empty, too long,
 * not printable or repeated, or when there are too many or the file would
 * exceed SNAP_FILE_MAX_BYTES. */
int snap_file_build(struct snap_section *const *sections, size_t n, GByteArray **out);
/* snap_file_build, then written to path atomically (temporary file, fsync,
 * rename, directory fsync), mode 0600. */
int snap_file_write(const char *path, struct snap_section *const *sections, size_t n);

/* A loaded, validated state file. */
struct snap_file;

/* One section as found in a loaded file; the pointers live as long as the
 * snap_file. */
struct snap_file_section {
    const char *name;
    uint32_t version;
    const uint8_t *data;
    size_t len;
};

/* Read and validate path (a regular file, opened without following a
 * symlink). QV_ERR_NOT_FOUND when absent, QV_ERR_IO when it cannot be
 * read, QV_ERR_PROTOCOL ("snapshot file '/x/state': ...") when damaged. */
int snap_file_read(const char *path, struct snap_file **out);
/* snap_file_read for a file known to be small (a snapshot's info): one
 * larger than max bytes (at most SNAP_FILE_MAX_BYTES) is refused with
 * QV_ERR_PROTOCOL before anything is allocated or read. */
int snap_file_read_max(const char *path, size_t max, struct snap_file **out);
/* Validate an image already in memory (copied); path names it in errors. */
int snap_file_parse(const char *path, const void *data, size_t len, struct snap_file **out);
void snap_file_free(struct snap_file *f);

/* The section called name: 0, or QV_ERR_NOT_FOUND naming the file and the
 * section. */
int snap_file_find(const struct snap_file *f, const char *name, struct snap_file_section *out);
/* The sections in file order, for a loader that must refuse ones it does
 * not know. */
size_t snap_file_count(const struct snap_file *f);
const struct snap_file_section *snap_file_nth(const struct snap_file *f, size_t i);
/* What wrote the file ("libqv 1.0.0"), and the format version it has. */
const char *snap_file_writer(const struct snap_file *f);
uint32_t snap_file_format_version(const struct snap_file *f);

#endif
