/* One URI through the public API: the vm_get_state round trip and the
 * define/start/state/stop/undefine cycle. Run it on a local URI and on the
 * same driver through noop+pipe://, noop+ssh:// or qemu+ssh:// to see what
 * the remote driver adds per call (bench/remote_bench.sh does).
 * Usage: remote_bench URI DOMAIN-TYPE [CYCLES] [STATE-ROUNDS] */
#include <stdio.h>
#include <stdlib.h>

#include <glib.h>

#include "include/qv/qv.h"
#include "lifecycle_cycle.h"

static void die(const char *what)
{
    fprintf(stderr, "remote_bench: %s: %s\n", what, qv_last_error()->message);
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: remote_bench URI DOMAIN-TYPE [CYCLES] [STATE-ROUNDS]\n");
        return 2;
    }
    int cycles = argc > 3 ? atoi(argv[3]) : 5;
    int rounds = argc > 4 ? atoi(argv[4]) : 500;
    g_autofree char *xml = g_strdup_printf(
        "<domain type='%s'><name>rbench1</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64' machine='pc'>hvm</type></os></domain>",
        argv[2]);
    gint64 t0 = g_get_monotonic_time();
    struct qv_conn *c = qv_connect(argv[1]);
    if (!c)
        die("connect");
    double connect_ms = (g_get_monotonic_time() - t0) / 1000.0;

    const char *failed = NULL;
    double cycle_ms = bench_lifecycle_mean_ms(c, xml, cycles, &failed);
    if (cycle_ms < 0)
        die(failed);

    struct vm *vm = vm_define_xml(c, xml);
    if (!vm || vm_start(vm) < 0)
        die("start");
    vm_get_state(vm);
    t0 = g_get_monotonic_time();
    for (int i = 0; i < rounds; i++)
        if (vm_get_state(vm) != VM_STATE_RUNNING)
            die("state");
    double state_us = (double)(g_get_monotonic_time() - t0) / rounds;
    vm_stop_flags(vm, VM_STOP_FORCE, 0);
    vm_destroy(vm);
    qv_close(c);
    printf("%-34s connect %8.1f ms  cycle %8.1f ms (mean of %d)  vm_get_state %8.1f us "
           "(mean of %d)\n",
           argv[1], connect_ms, cycle_ms, cycles, state_us, rounds);
    return 0;
}
