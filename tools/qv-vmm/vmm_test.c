/* Test hooks of qv-vmm-test (QV_VMM_TEST_HOOKS): not in qv-vmm. */
#include <stdlib.h>

#include "vmm.h"

void vmm_test_before_loop(void)
{
    /* The start-up window of the hostile review's finding 1: the guest
     * runs and its watcher may report, but the loop does not run yet. */
    const char *ms = getenv("QV_VMM_TEST_LOOP_DELAY_MS");
    if (ms && *ms)
        g_usleep((gulong)g_ascii_strtoull(ms, NULL, 10) * 1000);
}

void vmm_test_job_delay(void)
{
    const char *ms = getenv("QV_VMM_TEST_JOB_DELAY_MS");
    if (ms && *ms)
        g_usleep((gulong)g_ascii_strtoull(ms, NULL, 10) * 1000);
}
