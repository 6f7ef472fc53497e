/* A program built against an installed libqv: it links, finds the shared
 * library at run time, and drives a VM through the public API. */
#include <qv/qv.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    printf("libqv %s\n", qv_version());
    struct qv_conn *c = qv_connect("noop:///");
    if (!c) {
        fprintf(stderr, "connect: %s\n", qv_last_error()->message);
        return 1;
    }
    struct vm *vm = vm_create_on(c, "consumer", 1, 64 << 20);
    if (!vm || vm_start(vm) < 0) {
        fprintf(stderr, "vm: %s\n", qv_last_error()->message);
        return 1;
    }
    printf("state %s\n", vm_state_name(vm_get_state(vm)));
    vm_destroy(vm);
    qv_close(c);
    return qv_last_error()->code == QV_OK ? 0 : 1;
}
