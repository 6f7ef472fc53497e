/* The qemu driver through the C API in one process: the full lifecycle
 * (define, start, state, force stop, undefine) and the QMP round trip
 * behind vm_get_state(). Usage: qemu_bench [ITERATIONS] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "include/qv/qv.h"
#include "lib/qmp/qmp.h"
#include "lib/util/fileio.h"
#include "lifecycle_cycle.h"

static const char *xml =
    "<domain type='qemu'><name>bench1</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
    "<os><type arch='x86_64' machine='pc'>hvm</type></os><features><acpi/></features>"
    "</domain>";

static void die(const char *what)
{
    fprintf(stderr, "qemu_bench: %s: %s\n", what, qv_last_error()->message);
    exit(1);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 5;
    if (n <= 0)
        n = 5;
    g_autofree char *root = g_dir_make_tmp("qv-bench-XXXXXX", NULL);
    g_autofree char *uri = g_strdup_printf("qemu:///session?root=%s", root);
    struct qv_conn *c = qv_connect(uri);
    if (!c)
        die("connect");

    const char *failed = NULL;
    double cycle_ms = bench_lifecycle_mean_ms(c, xml, n, &failed);
    if (cycle_ms < 0)
        die(failed);
    printf("qv C API lifecycle (one process): %.1f ms (mean of %d)\n", cycle_ms, n);

    struct vm *vm = vm_define_xml(c, xml);
    if (!vm || vm_start(vm) < 0)
        die("start");
    const int rounds = 2000;
    gint64 t0 = g_get_monotonic_time();
    for (int i = 0; i < rounds; i++)
        if (vm_get_state(vm) != VM_STATE_RUNNING)
            die("vm_get_state");
    double per_state = (g_get_monotonic_time() - t0) / (double)rounds;

    /* The bare QMP exchange on an open connection, to show what the state
     * call adds (connect, greeting, capabilities, identity check). */
    g_autofree char *sock = g_build_filename(root, "qemu", "bench1", "status.sock", NULL);
    struct qmp *q = qmp_connect(sock, "bench", 5000);
    if (!q)
        die("qmp");
    t0 = g_get_monotonic_time();
    for (int i = 0; i < rounds; i++) {
        JsonNode *ret = NULL;
        if (qmp_command(q, "query-status", NULL, &ret, 5000) < 0)
            die("query-status");
        json_node_unref(ret);
    }
    double per_rtt = (g_get_monotonic_time() - t0) / (double)rounds;
    qmp_close(q);
    printf("vm_get_state on a running VM: %.0f us (connect + greeting + qmp_capabilities + "
           "query-status + pid check)\n",
           per_state);
    printf("QMP query-status round trip on an open connection: %.0f us\n", per_rtt);
    vm_destroy(vm);
    qv_close(c);
    qv_dir_remove_tree(root);
    return 0;
}
