/* Snapshots and clones: write to guest memory, snapshot, change it, list
 * the snapshots, restore, then clone the VM.
 *
 *   snapshot_clone [URI]        default noop:///
 */
#include <inttypes.h>
#include <qv/qv.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int fail(const char *what)
{
    const struct qv_error *e = qv_last_error();
    fprintf(stderr, "snapshot_clone: %s failed: %s\n", what, e->message);
    return 1;
}

static int list_snapshots(struct vm *vm)
{
    struct snapshot_info *list;
    size_t n;
    if (snapshot_list(vm, &list, &n) < 0)
        return fail("snapshot_list");
    printf("%-10s %-20s %10s %s\n", "NAME", "CREATED", "SIZE", "STATE");
    for (size_t i = 0; i < n; i++) {
        char when[32];
        time_t t = (time_t)list[i].created;
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", gmtime(&t));
        printf("%-10s %-20s %10" PRIu64 " %s\n", list[i].name, when, list[i].size,
               vm_state_name(list[i].state));
    }
    snapshot_info_free(list, n);
    return 0;
}

static int run(struct qv_conn *conn)
{
    const uint64_t gpa = 0x1000;
    char buf[16] = {0};

    struct vm *vm = vm_create_on(conn, "snap-demo", 1, 16u << 20);
    if (!vm)
        return fail("create");
    int rc = 1;
    struct vm *copy = NULL;

    if (vm_write_memory(vm, gpa, "original", 9) < 0 || snapshot_create(vm, "base", 0) < 0 ||
        vm_write_memory(vm, gpa, "modified", 9) < 0 || vm_start(vm) < 0 ||
        snapshot_create(vm, "running", 0) < 0) {
        fail("preparing snapshots");
        goto out;
    }
    if (list_snapshots(vm) != 0)
        goto out;

    if (snapshot_restore(vm, "base") < 0 || vm_read_memory(vm, gpa, buf, 9) < 0) {
        fail("restore");
        goto out;
    }
    printf("restored 'base': memory says '%s', VM is %s\n", buf, vm_state_name(vm_get_state(vm)));
    if (strcmp(buf, "original") != 0) {
        fprintf(stderr, "snapshot_clone: restore did not bring back the memory\n");
        goto out;
    }

    copy = vm_clone(vm, "snap-demo-clone");
    if (!copy) {
        fail("clone");
        goto out;
    }
    struct vm_info a, b;
    if (vm_get_info(vm, &a) < 0 || vm_get_info(copy, &b) < 0) {
        fail("vm_get_info");
        goto out;
    }
    printf("clone '%s': uuid %s (source %s), %s\n", vm_get_name(copy), b.uuid, a.uuid,
           vm_state_name(b.state));
    if (strcmp(a.uuid, b.uuid) == 0) {
        fprintf(stderr, "snapshot_clone: the clone kept the source's UUID\n");
        goto out;
    }
    rc = 0;
out:
    /* vm_destroy returns nothing: its error, if any, is in qv_last_error(). */
    if (copy) {
        vm_destroy(copy);
        if (rc == 0 && qv_last_error()->code != QV_OK)
            rc = fail("destroying the clone");
    }
    vm_destroy(vm);
    if (rc == 0 && qv_last_error()->code != QV_OK)
        rc = fail("destroy");
    return rc;
}

int main(int argc, char **argv)
{
    struct qv_conn *conn = qv_connect(argc > 1 ? argv[1] : "noop:///");
    if (!conn)
        return fail("connect");
    int rc = run(conn);
    qv_close(conn);
    return rc;
}
