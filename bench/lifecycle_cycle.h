/* The define/start/state/force-stop/undefine cycle every lifecycle benchmark
 * times, so that their figures measure the same thing. */
#ifndef QV_BENCH_LIFECYCLE_CYCLE_H
#define QV_BENCH_LIFECYCLE_CYCLE_H

#include "include/qv/qv.h"

/* Run the cycle n + 1 times on c with the domain xml and return the mean of
 * the last n in ms (the first round warms caches), or -1 with *failed naming
 * the step that failed (qv_last_error() says why). */
double bench_lifecycle_mean_ms(struct qv_conn *c, const char *xml, int n, const char **failed);

#endif
