/* Building the key/value list vm_get_stats() returns (see include/qv/vm.h
 * for the keys). Drivers fill a GArray of struct vm_stat through these;
 * setting a key that is already there replaces its value in place. */
#ifndef QV_API_STATS_H
#define QV_API_STATS_H

#include <glib.h>

#include "../../include/qv/vm.h"

/* An empty list that frees its members. */
GArray *qv_stats_new(void);
void qv_stats_uint(GArray *stats, uint64_t value, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
void qv_stats_str(GArray *stats, const char *value, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
/* The value of key when it is an unsigned one, else dflt. */
uint64_t qv_stats_get_uint(GArray *stats, const char *key, uint64_t dflt);

#endif
