/* Advisory file locks that serialise callers in different processes. */
#ifndef QV_UTIL_LOCK_H
#define QV_UTIL_LOCK_H

/* Take an exclusive flock on path (created 0600 if missing), waiting at most
 * timeout_ms (negative: forever). Returns the fd to pass to qv_lock_release,
 * or a negative QV_ERR_* (QV_ERR_BUSY on timeout). */
int qv_lock_acquire(const char *path, int timeout_ms);
void qv_lock_release(int fd);

#endif
