/* Rules for names that become file names: VMs and snapshots. */
#ifndef QV_UTIL_NAMES_H
#define QV_UTIL_NAMES_H

#include <stdbool.h>

#define QV_NAME_MAX 64

/* A valid name is 1..64 bytes of letters, digits, '.', '_', '-', ':' and
 * '+', does not start with '.' or '-', and is not "." or "..": nothing that
 * could be a path separator, climb a directory, or hide a control
 * character. On failure sets QV_ERR_INVALID_ARG naming `what` and the reason. */
bool qv_name_check(const char *name, const char *what);

/* The extension of path's last component with its dot ("disk.img" ->
 * ".img") when it is 1 to 8 letters and digits, else "": a copy named
 * after it is a valid file name whatever the original was called
 * ("disk.raw (copy)" -> ""). Points into path. */
const char *qv_name_plain_extension(const char *path);

#endif
