/* The VM lifecycle on any driver: create, start, pause, resume, stop,
 * destroy, printing the state after each step.
 *
 *   lifecycle [URI] [NAME]      e.g. lifecycle noop:///   lifecycle qemu:///session
 *
 * (kvm:///embed refuses to start a VM without a kernel: see hello_vm.c.)
 *
 * Build: cc lifecycle.c $(pkg-config --cflags --libs qv)
 */
#include <qv/qv.h>
#include <stdio.h>
#include <stdlib.h>

static int fail(const char *what)
{
    const struct qv_error *e = qv_last_error();
    fprintf(stderr, "lifecycle: %s failed: %s (%s)\n", what, e->message, qv_strerror(e->code));
    return 1;
}

/* Ask the guest to power off; force it after 5 s (vm_stop waits 30 s). */
static int stop_politely(struct vm *vm)
{
    return vm_stop_flags(vm, 0, 5000);
}

static void show(struct vm *vm, const char *after)
{
    printf("%-8s -> %s\n", after, vm_state_name(vm_get_state(vm)));
}

int main(int argc, char **argv)
{
    const char *uri = argc > 1 ? argv[1] : "noop:///";
    const char *name = argc > 2 ? argv[2] : "lifecycle-demo";

    struct qv_conn *conn = qv_connect(uri);
    if (!conn)
        return fail("connect");
    printf("connected to %s (driver %s)\n", qv_conn_get_uri(conn), qv_conn_get_driver(conn));

    struct vm *vm = vm_create_on(conn, name, 1, 64u << 20);
    if (!vm) {
        qv_close(conn);
        return fail("create");
    }
    show(vm, "create");

    /* Each step is allowed by the state the previous one left. */
    static const struct {
        const char *name;
        int (*op)(struct vm *);
    } steps[] = {
        {"start", vm_start},
        {"pause", vm_pause},
        {"resume", vm_resume},
        {"stop", stop_politely},
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        if (steps[i].op(vm) < 0) {
            rc = fail(steps[i].name);
            break;
        }
        show(vm, steps[i].name);
    }

    /* A refused transition is an error with a message, not a crash. */
    if (rc == 0 && vm_pause(vm) == QV_ERR_INVALID_STATE)
        printf("pause    -> refused: %s\n", qv_last_error()->message);

    vm_destroy(vm); /* consumes the handle */
    if (qv_last_error()->code != QV_OK)
        rc = fail("destroy");
    else
        printf("destroy  -> gone\n");
    qv_close(conn);
    return rc;
}
