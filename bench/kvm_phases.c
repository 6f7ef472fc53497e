/* Where the time of one kvm:///embed run goes: connect, define, start,
 * guest run, destroy, in ms, averaged over N runs of KERNEL.
 * Usage: kvm_phases KERNEL [N] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <qv/qv.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: kvm_phases KERNEL [N]\n");
        return 2;
    }
    int n = argc > 2 ? atoi(argv[2]) : 10;
    char xml[4096];
    snprintf(xml, sizeof(xml),
             "<domain type='kvm'><name>phases</name><memory unit='MiB'>64</memory>"
             "<vcpu>1</vcpu><os><type arch='x86_64'>hvm</type><kernel>%s</kernel></os>"
             "</domain>",
             argv[1]);
    double sum[5] = {0};
    for (int i = 0; i < n; i++) {
        double t0 = now_ms();
        struct qv_conn *c = qv_connect("kvm:///embed");
        double t1 = now_ms();
        struct vm *vm = c ? vm_define_xml(c, xml) : NULL;
        double t2 = now_ms();
        if (!vm || vm_start(vm) < 0) {
            fprintf(stderr, "kvm_phases: %s\n", qv_last_error()->message);
            return 1;
        }
        double t3 = now_ms();
        vm_wait(vm, -1);
        double t4 = now_ms();
        vm_destroy(vm);
        double t5 = now_ms();
        qv_close(c);
        double d[5] = {t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4};
        for (int k = 0; k < 5; k++)
            sum[k] += d[k];
    }
    printf("connect %.2f  define %.2f  start %.2f  run %.2f  destroy %.2f (ms, mean of %d)\n",
           sum[0] / n, sum[1] / n, sum[2] / n, sum[3] / n, sum[4] / n, n);
    return 0;
}
