/* Benchmark (c): vm_create + vm_destroy pairs per second on kvm:///embed,
 * each VM with 64 MiB of RAM and one vCPU. Prints "<pairs> pairs/s". */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <qv/qv.h>
#include <qv/vcpu.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 200;
    struct qv_conn *c = qv_connect("kvm:///embed");
    if (!c) {
        fprintf(stderr, "kvm_create_destroy: %s\n", qv_last_error()->message);
        return 1;
    }
    double t0 = now();
    for (int i = 0; i < n; i++) {
        struct vm *vm = vm_create_on(c, "bench", 1, 64 << 20);
        if (!vm || !vcpu_create(vm, 0)) {
            fprintf(stderr, "kvm_create_destroy: %s\n", qv_last_error()->message);
            return 1;
        }
        vm_destroy(vm);
    }
    double dt = now() - t0;
    printf("%.0f pairs/s\n", n / dt);
    qv_close(c);
    return 0;
}
