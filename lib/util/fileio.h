/* Files that must never be seen half-written. */
#ifndef QV_UTIL_FILEIO_H
#define QV_UTIL_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Write data to path through a temporary file in the same directory, fsync
 * it, rename it over path and fsync the directory: a reader sees the old
 * content or the new, never a mix, even across a crash. */
int qv_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode);
/* Read a whole file (NUL-terminated; *len excludes the NUL). */
int qv_file_read(const char *path, char **data, size_t *len);
/* As qv_file_read for a file libqv must not trust (textfile.c): refused
 * with QV_ERR_IO naming the file when it is not a regular file, larger
 * than max bytes, or holds a NUL byte; QV_ERR_NOT_FOUND when absent. Never
 * reads more than max + 1 bytes. */
int qv_file_read_text(const char *path, size_t max, char **data, size_t *len);
/* The same for a file of libqv's own state directories (domain.xml,
 * runtime.json, state.json), which libqv writes itself, never as a link:
 * a symbolic link in its place (planted by a process that may write the
 * directory) is refused naming it, never followed. */
int qv_file_read_state(const char *path, size_t max, char **data, size_t *len);
/* Create dir and its parents; dir itself ends up with exactly `mode`
 * (0700 for state directories) even if it existed with looser bits. */
int qv_dir_ensure(const char *dir, mode_t mode);
/* QV_ERR_PERMISSION unless st (of dir) belongs to the calling user. */
int qv_dir_check_owner(const char *dir, const struct stat *st);
/* open(path, flags | O_CREAT | O_NOFOLLOW | O_CLOEXEC) of a regular file
 * with mode 0600 whatever the umask; -1 with errno on failure. */
int qv_file_open_private(const char *path, int flags);
/* Remove a directory tree without following symlinks. */
int qv_dir_remove_tree(const char *dir);

/* filecopy.c. pwrite all of buf (retrying short writes and EINTR), so a
 * full file system is an error, never a SIGBUS as a store into a mapping
 * would be. 0 or -errno. */
int qv_pwrite_all(int fd, const void *buf, size_t len, off_t off);
/* Write len bytes of buf at off, skipping whole 4 KiB pages
 * that are all zero so they stay holes in a sparse file. 0 or -errno. */
int qv_pwrite_sparse(int fd, const void *buf, size_t len, off_t off);
/* Copy size bytes of src to dst at the same offsets, reading only src's
 * data extents and writing only non-zero pages: the copy is as sparse as
 * its source. The names are for errors. */
int qv_fd_copy_sparse(int src, int dst, uint64_t size, const char *src_name, const char *dst_name);
/* Make dst (absent; created 0600 under a temporary name, fsynced, renamed
 * into place) a copy of the regular file src, neither followed if a
 * symlink: sharing src's blocks (FICLONE: XFS, btrfs) where the file
 * system can, which costs the same for any size, else a sparse copy.
 * *shared says which. QV_ERR_EXISTS when dst exists. */
int qv_file_clone(const char *src, const char *dst, bool *shared);
/* Make the existing regular file dst (opened O_WRONLY, never created,
 * never followed if a symlink) a byte-for-byte copy of the regular file
 * src, in place: the same inode, so a writer allowed only that file (no
 * rights on its directory) can do it. Shares src's blocks (FICLONE) where
 * the file system can, else writes every data page and makes src's holes
 * and zero pages zero in dst (holes where it can punch them); then
 * truncated to src's size and fsynced. *shared says which. Not atomic: a
 * failure or a kill part way leaves dst a mix, which a redo repairs. A
 * sparse dst can fill its file system (ENOSPC). */
int qv_file_overwrite(const char *src, const char *dst, bool *shared);
/* The same in two steps, for a caller that checks or locks the file it
 * writes before writing it: an fd of the existing regular file dst,
 * opened as above (never created or followed), or a QV_ERR_* with the
 * error set; then the copy into it (dst names it in errors; out stays
 * open). */
int qv_file_open_overwrite(const char *dst);
int qv_file_overwrite_fd(const char *src, int out, const char *dst, bool *shared);

#endif
