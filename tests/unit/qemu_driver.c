/* The qemu driver through the public API on real QEMU processes. The guest
 * is SeaBIOS with nothing to boot (fast under TCG); tests/integration
 * boots a real Linux guest. */
#include <arpa/inet.h>
#include <check.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drivers/qemu/qemu.h"
#include "include/qv/qv.h"
#include "lib/proc/proc.h"
#include "lib/qmp/qmp.h"
#include "lib/util/fileio.h"
#include "lib/util/json.h"

static char *root;
static char *uri;

#define XML(name)                                                                                  \
    "<domain type='qemu'><name>" name "</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>"        \
    "<os><type arch='x86_64' machine='pc'>hvm</type></os><features><acpi/></features>"             \
    "<devices><interface type='user'><mac address='52:54:00:00:00:01'/></interface></devices>"     \
    "</domain>"

static void setup(void)
{
    root = g_dir_make_tmp("qv-qemu-XXXXXX", NULL);
    uri = g_strdup_printf("qemu:///session?root=%s", root);
}

static void teardown(void)
{
    /* Kill whatever a failed test left running. */
    struct qv_conn *c = qv_connect(uri);
    char **names = NULL;
    if (c && vm_list(c, &names, NULL) == 0)
        for (char **n = names; *n; n++)
            vm_destroy(vm_lookup(c, *n));
    qv_strv_free(names);
    qv_close(c);
    qv_dir_remove_tree(root);
    g_free(root);
    g_free(uri);
}

static char *vm_path(const char *name, const char *file)
{
    return g_build_filename(root, "qemu", name, file, NULL);
}

static pid_t qemu_pid(const char *name)
{
    g_autofree char *dir = g_build_filename(root, "qemu", name, NULL);
    struct proc_runtime rt;
    ck_assert_int_eq(proc_runtime_read(dir, &rt), 0);
    pid_t pid = rt.id.pid;
    proc_runtime_clear(&rt);
    return pid;
}

/* Gone, or a zombie that init has not reaped yet. */
static bool process_gone(pid_t pid)
{
    struct proc_identity id;
    for (int i = 0; i < 200; i++) {
        if (proc_identity_read(pid, &id) < 0)
            return true;
        proc_identity_clear(&id);
        g_usleep(10000);
    }
    return false;
}

static struct vm *define(struct qv_conn *c, const char *xml)
{
    struct vm *vm = vm_define_xml(c, xml);
    ck_assert_msg(vm != NULL, "define: %s", qv_last_error()->message);
    return vm;
}

#define OK(call) ck_assert_msg((call) == 0, "%s: %s", #call, qv_last_error()->message)

START_TEST(define_lookup_list)
{
    struct qv_conn *c = qv_connect(uri);
    ck_assert_msg(c != NULL, "%s", qv_last_error()->message);
    ck_assert_str_eq(qv_conn_get_driver(c), "qemu");
    struct vm *vm = define(c, XML("a1"));
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_CREATED);
    /* The directory is private. */
    g_autofree char *dir = g_build_filename(root, "qemu", "a1", NULL);
    struct stat st;
    ck_assert_int_eq(stat(dir, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0700);
    ck_assert_ptr_null(vm_define_xml(c, XML("a1")));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_EXISTS);
    vm_free(define(c, XML("a2")));
    char **names = NULL;
    size_t n = 0;
    OK(vm_list(c, &names, &n));
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(names[0], "a1");
    ck_assert_str_eq(names[1], "a2");
    qv_strv_free(names);

    /* Another connection (as another qv process would) sees the same VM. */
    struct qv_conn *c2 = qv_connect(uri);
    struct vm *again = vm_lookup(c2, "a1");
    ck_assert_ptr_nonnull(again);
    char *xml = vm_get_xml(again);
    ck_assert_ptr_nonnull(strstr(xml, "<name>a1</name>"));
    qv_free(xml);
    ck_assert_ptr_null(vm_lookup(c2, "nope"));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_NOT_FOUND);
    vm_free(again);
    qv_close(c2);

    /* What QEMU cannot run is refused at define time. */
    ck_assert_ptr_null(vm_define_xml(
        c, "<domain type='qemu'><name>bad</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>"
           "<os><type arch='x86_64'>hvm</type></os><cpu mode='host-passthrough'/></domain>"));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "host-passthrough"));
    g_autofree char *bad = g_build_filename(root, "qemu", "bad", NULL);
    ck_assert(!g_file_test(bad, G_FILE_TEST_EXISTS));

    vm_destroy(vm);
    ck_assert_int_eq(qv_last_error()->code, QV_OK);
    ck_assert(!g_file_test(dir, G_FILE_TEST_EXISTS));
    qv_close(c);

    struct qv_conn *wrong = qv_connect("qemu:///system");
    ck_assert_ptr_null(wrong);
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_URI);
}
END_TEST

START_TEST(lifecycle)
{
    struct qv_conn *c = qv_connect(uri);
    struct vm *vm = define(c, XML("l1"));
    OK(vm_start(vm));
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_RUNNING);
    g_autofree char *qmp = vm_path("l1", "qmp.sock");
    struct stat st;
    ck_assert_int_eq(stat(qmp, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    g_autofree char *clog = vm_path("l1", "console.log");
    ck_assert_int_eq(stat(clog, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);

    char *ep = vm_console_endpoint(vm);
    ck_assert_msg(g_str_has_prefix(ep, "pty:/dev/"), "%s", ep);
    ck_assert_int_eq(stat(ep + 4, &st), 0);
    ck_assert(S_ISCHR(st.st_mode));
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    qv_free(ep);
    /* The log of the console, from the start of this (the first) run. */
    char *lpath = NULL;
    uint64_t lstart = 1;
    OK(vm_console_log(vm, &lpath, &lstart));
    ck_assert_str_eq(lpath, clog);
    ck_assert_uint_eq(lstart, 0);
    qv_free(lpath);
    ck_assert_int_eq(vm_console_log(vm, NULL, &lstart), QV_ERR_INVALID_ARG);

    char *ip = NULL;
    int port = 0;
    OK(vm_guest_ip(vm, &ip, &port));
    ck_assert_str_eq(ip, "127.0.0.1");
    ck_assert_int_gt(port, 0);
    qv_free(ip);
    /* QEMU's user networking listens there for the guest's ssh port. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd);

    ck_assert_int_eq(vm_start(vm), QV_ERR_INVALID_STATE);
    OK(vm_pause(vm));
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_PAUSED);
    ck_assert_int_eq(vm_pause(vm), QV_ERR_INVALID_STATE);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "cannot pause VM 'l1': it is paused"));
    OK(vm_resume(vm));
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_RUNNING);
    OK(vm_reset(vm));
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_RUNNING);

    pid_t pid = qemu_pid("l1");
    OK(vm_stop_flags(vm, VM_STOP_FORCE, 0));
    struct vm_info info;
    OK(vm_get_info(vm, &info));
    ck_assert_int_eq(info.state, VM_STATE_STOPPED);
    ck_assert_int_eq(info.reason, VM_REASON_USER);
    ck_assert(process_gone(pid));
    ck_assert(!g_file_test(qmp, G_FILE_TEST_EXISTS));
    ck_assert_int_eq(vm_pause(vm), QV_ERR_INVALID_STATE);
    ep = vm_console_endpoint(vm);
    ck_assert(g_str_has_prefix(ep, "file:") && g_str_has_suffix(ep, "/console.log"));
    qv_free(ep);

    /* What an earlier run printed stays in the log; the next run's output
     * begins after it. */
    FILE *earlier = fopen(clog, "a");
    ck_assert_ptr_nonnull(earlier);
    fputs("earlier run\n", earlier);
    fclose(earlier);

    /* Restart after a stop. */
    OK(vm_start(vm));
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_RUNNING);
    ck_assert_int_ne(qemu_pid("l1"), pid);
    OK(vm_console_log(vm, &lpath, &lstart));
    ck_assert_uint_eq(lstart, strlen("earlier run\n"));
    qv_free(lpath);

    /* A graceful stop of a guest that ignores the power button (SeaBIOS
     * with nothing to boot) escalates after the timeout, logged. */
    gint64 t0 = g_get_monotonic_time();
    OK(vm_stop_flags(vm, 0, 500));
    ck_assert_int_lt(g_get_monotonic_time() - t0, 15 * G_USEC_PER_SEC);
    g_autofree char *log = vm_path("l1", "qv.log");
    g_autofree char *text = NULL;
    ck_assert(g_file_get_contents(log, &text, NULL, NULL));
    ck_assert_ptr_nonnull(strstr(text, "sending system_powerdown"));
    ck_assert_ptr_nonnull(strstr(text, "did not power off within 500 ms"));
    ck_assert_ptr_nonnull(strstr(text, "sending SIGTERM"));
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_STOPPED);

    OK(vm_start(vm));
    vm_destroy(vm); /* stops it first */
    ck_assert_int_eq(qv_last_error()->code, QV_OK);
    g_autofree char *dir = g_build_filename(root, "qemu", "l1", NULL);
    ck_assert(!g_file_test(dir, G_FILE_TEST_EXISTS));
    qv_close(c);
}
END_TEST

START_TEST(crash_is_detected)
{
    struct qv_conn *c = qv_connect(uri);
    struct vm *vm = define(c, XML("c1"));
    OK(vm_start(vm));
    pid_t pid = qemu_pid("c1");
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    /* vm_wait returns once the VM is no longer running. */
    OK(vm_wait(vm, 10000));
    struct vm_info info;
    OK(vm_get_info(vm, &info));
    ck_assert_int_eq(info.state, VM_STATE_STOPPED);
    ck_assert_int_eq(info.reason, VM_REASON_CRASHED);
    g_autofree char *qmp = vm_path("c1", "qmp.sock");
    g_autofree char *rt = vm_path("c1", "runtime.json");
    ck_assert(!g_file_test(qmp, G_FILE_TEST_EXISTS));
    ck_assert(!g_file_test(rt, G_FILE_TEST_EXISTS));
    g_autofree char *log = vm_path("c1", "qv.log");
    g_autofree char *text = NULL;
    ck_assert(g_file_get_contents(log, &text, NULL, NULL));
    ck_assert_ptr_nonnull(strstr(text, "died without being stopped"));
    /* It still reads crashed later, from another connection too. */
    struct qv_conn *c2 = qv_connect(uri);
    struct vm *v2 = vm_lookup(c2, "c1");
    OK(vm_get_info(v2, &info));
    ck_assert_int_eq(info.reason, VM_REASON_CRASHED);
    OK(vm_start(v2));
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_RUNNING);
    vm_free(v2);
    qv_close(c2);
    vm_destroy(vm);
    qv_close(c);
}
END_TEST

START_TEST(readoption_and_pid_reuse)
{
    struct qv_conn *c = qv_connect(uri);
    struct vm *vm = define(c, XML("r1"));
    OK(vm_start(vm));
    pid_t pid = qemu_pid("r1");
    vm_free(vm);
    qv_close(c);

    /* A new connection re-adopts the running process and drives it. */
    c = qv_connect(uri);
    vm = vm_lookup(c, "r1");
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_RUNNING);
    OK(vm_pause(vm));
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_PAUSED);
    OK(vm_stop_flags(vm, VM_STOP_FORCE, 0));
    ck_assert(process_gone(pid));

    /* A runtime record naming a live process that is not this VM's QEMU
     * (here: a sleep with our record's start time altered) is never
     * adopted, and that process is left alone. */
    char *argv[] = {"sleep", "30", NULL};
    pid_t other;
    ck_assert_int_eq(proc_spawn(argv, NULL, &other), 0);
    struct proc_runtime fake = {0};
    ck_assert_int_eq(proc_identity_read(other, &fake.id), 0);
    fake.id.start_time += 1;
    g_autofree char *dir = g_build_filename(root, "qemu", "r1", NULL);
    ck_assert_int_eq(proc_runtime_write(dir, &fake), 0);
    proc_runtime_clear(&fake);
    struct vm_info info;
    OK(vm_get_info(vm, &info));
    ck_assert_int_eq(info.state, VM_STATE_STOPPED);
    ck_assert_int_eq(info.reason, VM_REASON_CRASHED);
    ck_assert_int_eq(kill(other, 0), 0);
    kill(other, SIGKILL);
    int status;
    waitpid(other, &status, 0);
    vm_destroy(vm);
    qv_close(c);
}
END_TEST

START_TEST(start_failure_is_explained)
{
    struct qv_conn *c = qv_connect(uri);
    struct vm *vm =
        define(c, "<domain type='qemu'><name>f1</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>"
                  "<os><type arch='x86_64'>hvm</type></os><devices><disk type='file' device='disk'>"
                  "<driver name='qemu' type='raw'/><source file='/nonexistent/disk.img'/>"
                  "<target dev='vda' bus='virtio'/></disk></devices></domain>");
    ck_assert_int_eq(vm_start(vm), QV_ERR_BACKEND);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "QEMU could not start VM 'f1'"));
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "/nonexistent/disk.img"));
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_CREATED);
    g_autofree char *rt = vm_path("f1", "runtime.json");
    ck_assert(!g_file_test(rt, G_FILE_TEST_EXISTS));
    vm_destroy(vm);

    /* A pin to a host CPU that does not exist: QEMU starts, pinning fails,
     * and the error the caller gets says so (it used to be empty). */
    vm = define(c, "<domain type='qemu'><name>f2</name><memory unit='MiB'>32</memory>"
                   "<vcpu>1</vcpu><cputune><vcpupin vcpu='0' cpuset='1023'/></cputune>"
                   "<os><type arch='x86_64'>hvm</type></os></domain>");
    ck_assert_int_eq(vm_start(vm), QV_ERR_SYSTEM);
    const char *msg = qv_last_error()->message;
    ck_assert_msg(strstr(msg, "cannot start VM 'f2'") && strstr(msg, "cannot pin vCPU 0") &&
                      strstr(msg, "Invalid argument"),
                  "'%s'", msg);
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_CREATED);
    g_autofree char *rt2 = vm_path("f2", "runtime.json");
    ck_assert(!g_file_test(rt2, G_FILE_TEST_EXISTS));
    vm_destroy(vm);
    qv_close(c);
}
END_TEST

/* The guest's serial output lands in <serial type='file'>'s file, with
 * the copy in console.log, and the console endpoint names the file. */
START_TEST(serial_file_receives_guest_output)
{
    const char *b = g_getenv("QV_BUILD_DIR");
    g_autofree char *kernel = g_build_filename(b ? b : ".", "tests", "guests", "hello.elf", NULL);
    ck_assert_msg(g_file_test(kernel, G_FILE_TEST_IS_REGULAR), "payload %s not built", kernel);
    g_autofree char *out = g_build_filename(root, "serial.txt", NULL);
    g_autofree char *xml = g_strdup_printf(
        "<domain type='qemu'><name>ser1</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64'>hvm</type><kernel>%s</kernel></os><devices>"
        "<serial type='file'><source path='%s'/></serial></devices></domain>",
        kernel, out);
    struct qv_conn *c = qv_connect(uri);
    struct vm *vm = define(c, xml);
    OK(vm_start(vm));
    char *ep = vm_console_endpoint(vm);
    g_autofree char *want_ep = g_strdup_printf("file:%s", out);
    ck_assert_str_eq(ep, want_ep);
    qv_free(ep);
    g_autofree char *log = vm_path("ser1", "console.log");
    bool seen = false;
    for (int i = 0; i < 300 && !seen; i++) {
        g_autofree char *a = NULL, *l = NULL;
        seen = g_file_get_contents(out, &a, NULL, NULL) && strstr(a, "Hello from a qv guest!") &&
               g_file_get_contents(log, &l, NULL, NULL) && strstr(l, "Hello from a qv guest!");
        if (!seen)
            g_usleep(50000);
    }
    ck_assert_msg(seen, "the guest's output is not in %s and %s", out, log);
    struct stat sb;
    ck_assert_int_eq(stat(out, &sb), 0);
    vm_destroy(vm);
    /* The file is the user's: destroying the VM leaves it. */
    ck_assert(g_file_test(out, G_FILE_TEST_IS_REGULAR));
    qv_close(c);
}
END_TEST

START_TEST(overlay_made_on_first_start)
{
    g_autofree char *base = g_build_filename(root, "base.raw", NULL);
    g_autofree char *ov = g_build_filename(root, "o1.qcow2", NULL);
    char *mk[] = {"qemu-img", "create", "-q", "-f", "raw", base, "8M", NULL};
    pid_t pid;
    int status;
    ck_assert_int_eq(proc_spawn(mk, NULL, &pid), 0);
    ck_assert_int_eq(proc_child_wait(pid, 10000, &status), 0);
    g_autofree char *xml = g_strdup_printf(
        "<domain type='qemu'><name>o1</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64'>hvm</type></os><devices><disk type='file' device='disk'>"
        "<driver name='qemu' type='qcow2'/><source file='%s'/><backingStore type='file'>"
        "<format type='raw'/><source file='%s'/></backingStore><target dev='vda' bus='virtio'/>"
        "</disk></devices></domain>",
        ov, base);
    struct qv_conn *c = qv_connect(uri);
    struct vm *vm = define(c, xml);
    OK(vm_start(vm));
    ck_assert(g_file_test(ov, G_FILE_TEST_EXISTS));
    /* It was made under a temporary name and renamed: nothing else is left. */
    g_autoptr(GDir) d = g_dir_open(root, 0, NULL);
    for (const char *e; (e = g_dir_read_name(d));)
        ck_assert_msg(!g_str_has_prefix(e, ".o1.qcow2."), "temporary overlay %s left", e);
    OK(vm_stop_flags(vm, VM_STOP_FORCE, 0));
    vm_destroy(vm);
    qv_close(c);
}
END_TEST

START_TEST(cloud_init_seed_attached)
{
    struct qv_conn *c = qv_connect(uri);
    struct vm *vm = define(c, XML("ci1"));
    g_autofree char *cfg = vm_path("ci1", "cloud-init.json");
    /* Broken config: the start fails naming the file and the JSON path. */
    ck_assert(g_file_set_contents(cfg, "{\"users\": [{\"name\": 7}]}", -1, NULL));
    ck_assert_int_eq(vm_start(vm), QV_ERR_JSON);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "$.users[0].name"));
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "cloud-init.json"));
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_CREATED);

    ck_assert(g_file_set_contents(
        cfg,
        "{\"users\": [{\"name\": \"debian\", \"ssh_authorized_keys\": [\"ssh-ed25519 AAAA k\"]}],"
        " \"networks\": [{\"mac\": \"52:54:00:00:00:01\", \"address\": \"10.0.2.15/24\"}]}",
        -1, NULL));
    OK(vm_start(vm));
    g_autofree char *iso = vm_path("ci1", "seed.iso");
    ck_assert(g_file_test(iso, G_FILE_TEST_IS_REGULAR));
    g_autofree char *dir = g_build_filename(root, "qemu", "ci1", NULL);
    struct proc_runtime rt;
    ck_assert_int_eq(proc_runtime_read(dir, &rt), 0);
    ck_assert_ptr_nonnull(strstr(rt.id.cmdline, "seed.iso"));
    ck_assert_ptr_nonnull(strstr(rt.id.cmdline, "virtio-blk-pci,drive=seed,id=seed"));
    proc_runtime_clear(&rt);
    vm_destroy(vm);
    qv_close(c);
}
END_TEST

/* One file of the seed, read back with isoinfo (Rock Ridge names). */
static char *seed_file(const char *iso, const char *name)
{
    g_autofree char *path = g_strdup_printf("/%s", name);
    const char *argv[] = {"isoinfo", "-R", "-i", iso, "-x", path, NULL};
    char *out = NULL;
    ck_assert_int_eq(qemu_run_tool(argv, &out), 0);
    return out;
}

/* Cloud-init given through the API: the seed holds the user's documents,
 * meta-data gains the VM's UUID as instance-id, a clone's differs, and a
 * change while QEMU runs is refused (the seed is made at start). */
START_TEST(cloud_init_from_definition)
{
    struct qv_conn *c = qv_connect(uri);
    struct vm *vm = define(c, XML("ci2"));
    const char *ud = "#cloud-config\nruncmd: [touch, /qv-was-here]\n";
    const char *nc = "version: 2\nethernets: {}\n";
    ck_assert_int_eq(vm_set_cloud_init(vm, ud, "instance-id: x\n", NULL), QV_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "instance-id"));
    OK(vm_set_cloud_init(vm, ud, "region: lab\n", nc));
    /* The hand-placed file and the definition do not mix. */
    g_autofree char *cfg = vm_path("ci2", "cloud-init.json");
    ck_assert(g_file_set_contents(cfg, "{}", -1, NULL));
    ck_assert_int_eq(vm_start(vm), QV_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "remove one"));
    ck_assert_int_eq(unlink(cfg), 0);
    OK(vm_start(vm));
    struct vm_info info;
    OK(vm_get_info(vm, &info));
    g_autofree char *iso = vm_path("ci2", "seed.iso");
    struct stat st;
    ck_assert_int_eq(stat(iso, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600); /* it holds the user's documents */
    g_autofree char *got_ud = seed_file(iso, "user-data");
    ck_assert_str_eq(got_ud, ud);
    g_autofree char *got_nc = seed_file(iso, "network-config");
    ck_assert_str_eq(got_nc, nc);
    g_autofree char *got_md = seed_file(iso, "meta-data");
    g_autofree char *want_md =
        g_strdup_printf("instance-id: %s\nlocal-hostname: ci2\nregion: lab\n", info.uuid);
    ck_assert_str_eq(got_md, want_md);
    ck_assert_int_eq(vm_set_cloud_init(vm, ud, NULL, NULL), QV_ERR_UNSUPPORTED);
    OK(vm_stop_flags(vm, VM_STOP_FORCE, 0));

    struct vm *copy = vm_clone(vm, "ci2-copy");
    ck_assert_msg(copy != NULL, "%s", qv_last_error()->message);
    OK(vm_start(copy));
    struct vm_info cinfo;
    OK(vm_get_info(copy, &cinfo));
    g_autofree char *ciso = vm_path("ci2-copy", "seed.iso");
    g_autofree char *cmd = seed_file(ciso, "meta-data");
    g_autofree char *want_cmd =
        g_strdup_printf("instance-id: %s\nlocal-hostname: ci2-copy\nregion: lab\n", cinfo.uuid);
    ck_assert_str_eq(cmd, want_cmd);
    ck_assert_str_ne(cinfo.uuid, info.uuid);
    vm_destroy(copy);
    /* Removing it removes the seed from the next start. */
    OK(vm_set_cloud_init(vm, NULL, NULL, NULL));
    OK(vm_start(vm));
    g_autofree char *dir = g_build_filename(root, "qemu", "ci2", NULL);
    struct proc_runtime rt;
    ck_assert_int_eq(proc_runtime_read(dir, &rt), 0);
    ck_assert_ptr_null(strstr(rt.id.cmdline, "seed.iso"));
    proc_runtime_clear(&rt);
    vm_destroy(vm);
    qv_close(c);
}
END_TEST

/* With autoport only QEMU knows the VNC port: vm_get_live_settings() reads
 * it back, and a VNC server answers there. */
START_TEST(vnc_address_read_back)
{
    struct qv_conn *c = qv_connect(uri);
    struct vm *vm = define(c, "<domain type='qemu'><name>vnc1</name><memory unit='MiB'>32</memory>"
                              "<vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type></os>"
                              "<devices><graphics type='vnc' autoport='yes'/></devices></domain>");
    OK(vm_start(vm));
    struct vm_stat *st = NULL;
    size_t n = 0;
    OK(vm_get_live_settings(vm, &st, &n));
    const char *addr = NULL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(st[i].key, "vnc.address") == 0)
            addr = st[i].string_value;
    ck_assert_ptr_nonnull(addr);
    ck_assert_msg(g_str_has_prefix(addr, "127.0.0.1:59"), "%s", addr);
    int port = atoi(strrchr(addr, ':') + 1);
    vm_stats_free(st, n);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    struct timeval tv = {.tv_sec = 30};
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    char hello[12] = {0};
    size_t got = 0;
    for (ssize_t r = 1; got < sizeof(hello) && r > 0; got += r > 0 ? (size_t)r : 0)
        r = read(fd, hello + got, sizeof(hello) - got);
    ck_assert_uint_eq(got, sizeof(hello));
    ck_assert_msg(memcmp(hello, "RFB 003.", 8) == 0, "%.12s", hello);
    close(fd);
    vm_destroy(vm);
    qv_close(c);
}
END_TEST

static size_t snap_count(struct vm *vm, const char *name, enum vm_state *state)
{
    struct snapshot_info *list = NULL;
    size_t n = 0;
    OK(snapshot_list(vm, &list, &n));
    for (size_t i = 0; name && i < n; i++)
        if (strcmp(list[i].name, name) == 0)
            *state = list[i].state;
    snapshot_info_free(list, n);
    return n;
}

START_TEST(snapshots_in_qcow2)
{
    g_autofree char *disk = g_build_filename(root, "s1.qcow2", NULL);
    char *mk[] = {"qemu-img", "create", "-q", "-f", "qcow2", disk, "16M", NULL};
    pid_t pid;
    int status;
    ck_assert_int_eq(proc_spawn(mk, NULL, &pid), 0);
    ck_assert_int_eq(proc_child_wait(pid, 10000, &status), 0);
    g_autofree char *xml = g_strdup_printf(
        "<domain type='qemu'><name>s1</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64'>hvm</type></os><devices><disk type='file' device='disk'>"
        "<driver name='qemu' type='qcow2'/><source file='%s'/><target dev='vda' bus='virtio'/>"
        "</disk></devices></domain>",
        disk);
    struct qv_conn *c = qv_connect(uri);
    struct vm *vm = define(c, xml);
    OK(vm_start(vm));
    OK(snapshot_create(vm, "live", 0));
    ck_assert_int_eq(snapshot_create(vm, "live", 0), QV_ERR_EXISTS);
    OK(vm_pause(vm));
    OK(snapshot_create(vm, "paused", 0));
    OK(vm_resume(vm));
    enum vm_state st = VM_STATE_DESTROYED;
    ck_assert_uint_eq(snap_count(vm, "live", &st), 2);
    ck_assert_int_eq(st, VM_STATE_RUNNING);
    snap_count(vm, "paused", &st);
    ck_assert_int_eq(st, VM_STATE_PAUSED);
    /* The snapshots are in the disk, as QEMU's internal snapshots. */
    const char *info[] = {"qemu-img", "snapshot", "-U", "-l", disk, NULL};
    g_autofree char *out = NULL;
    ck_assert_int_eq(qemu_run_tool(info, &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "live"));
    ck_assert_ptr_nonnull(strstr(out, "paused"));

    /* Restoring puts the VM in the state the snapshot was taken in. */
    OK(snapshot_restore(vm, "paused"));
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_PAUSED);
    OK(snapshot_restore(vm, "live"));
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_RUNNING);
    ck_assert_int_eq(snapshot_restore(vm, "nope"), QV_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "VM 's1' has no snapshot 'nope'"));
    OK(snapshot_delete(vm, "live"));
    ck_assert_uint_eq(snap_count(vm, NULL, NULL), 1);

    /* Stopped: disk-only snapshots with qemu-img; a memory snapshot
     * restored on a stopped VM starts it. */
    OK(vm_stop_flags(vm, VM_STOP_FORCE, 0));
    OK(snapshot_create(vm, "cold", 0));
    snap_count(vm, "cold", &st);
    ck_assert_int_eq(st, VM_STATE_STOPPED);
    /* A memory snapshot's size is its saved machine state (32 MiB of guest
     * RAM, mostly zero, plus devices) and the disk data it holds (none
     * written yet); a disk-only one of a blank disk has none. */
    struct snapshot_info *list = NULL;
    size_t n = 0;
    OK(snapshot_list(vm, &list, &n));
    for (size_t i = 0; i < n; i++) {
        if (strcmp(list[i].name, "cold") == 0)
            ck_assert_uint_eq(list[i].size, 0);
        else
            ck_assert_msg(list[i].size > 4096 && list[i].size < (64u << 20), "%s: %" PRIu64,
                          list[i].name, list[i].size);
    }
    snapshot_info_free(list, n);
    /* The guest data a snapshot's disk state holds counts too, as qemu-img
     * measures it: 1 MiB written, 1 MiB (of 64 KiB clusters) more. */
    const char *fill[] = {"qemu-io", "-f", "qcow2", "-c", "write -P 0x33 0 1M", disk, NULL};
    ck_assert_int_eq(qemu_run_tool(fill, NULL), 0);
    OK(snapshot_create(vm, "filled", 0));
    OK(snapshot_list(vm, &list, &n));
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].name, "filled") == 0)
            ck_assert_msg(list[i].size == (1u << 20), "%" PRIu64, list[i].size);
    snapshot_info_free(list, n);
    OK(snapshot_delete(vm, "filled"));
    OK(snapshot_restore(vm, "cold"));
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_STOPPED);
    OK(snapshot_restore(vm, "paused"));
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_PAUSED);
    ck_assert_int_eq(snapshot_restore(vm, "cold"), QV_ERR_INVALID_STATE);
    OK(snapshot_delete(vm, "paused"));
    OK(vm_stop_flags(vm, VM_STOP_FORCE, 0));
    OK(snapshot_delete(vm, "cold"));
    ck_assert_uint_eq(snap_count(vm, NULL, NULL), 0);
    vm_destroy(vm);

    /* A raw disk cannot hold them: refused, naming the disk. */
    vm = define(c, XML("s2"));
    vm_free(vm);
    vm = define(c, "<domain type='qemu'><name>s3</name><memory unit='MiB'>32</memory>"
                   "<vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os><devices>"
                   "<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
                   "<source file='/x.raw'/><target dev='vdb' bus='virtio'/></disk></devices>"
                   "</domain>");
    ck_assert_int_eq(snapshot_create(vm, "x", 0), QV_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "disk vdb is raw"));
    vm_destroy(vm);
    qv_close(c);
}
END_TEST

/* What a snapshot_*_progress callback heard. */
struct heard {
    int calls;
    char *operation, *snapshot, *job, *status; /* of the last call */
    uint64_t current, total;
    int64_t elapsed_ms;
    bool elapsed_went_back;
};

static void heard_clear(struct heard *h)
{
    g_free(h->operation);
    g_free(h->snapshot);
    g_free(h->job);
    g_free(h->status);
    *h = (struct heard){0};
}

static void on_progress(struct vm *vm, const struct snapshot_progress *p, void *opaque)
{
    (void)vm;
    struct heard *h = opaque;
    h->calls++;
    h->elapsed_went_back |= p->elapsed_ms < h->elapsed_ms;
    g_free(h->operation);
    g_free(h->snapshot);
    g_free(h->job);
    g_free(h->status);
    h->operation = g_strdup(p->operation);
    h->snapshot = g_strdup(p->snapshot);
    h->job = g_strdup(p->job);
    h->status = g_strdup(p->status);
    h->current = p->current;
    h->total = p->total;
    h->elapsed_ms = p->elapsed_ms;
}

/* The callback ended on the concluded job of operation op for snapshot
 * name, QEMU's job type named in the job id. */
static void heard_job(struct heard *h, const char *op, const char *name, const char *type)
{
    ck_assert_int_ge(h->calls, 1);
    ck_assert_str_eq(h->operation, op);
    ck_assert_str_eq(h->snapshot, name);
    ck_assert_msg(g_str_has_prefix(h->job, type), "job %s", h->job);
    ck_assert_str_eq(h->status, "concluded");
    ck_assert_uint_gt(h->total, 0);
    ck_assert_uint_eq(h->current, h->total);
    ck_assert(!h->elapsed_went_back);
    heard_clear(h);
}

static char *make_qcow2(const char *name, const char *opts)
{
    char *disk = g_build_filename(root, name, NULL);
    const char *mk[] = {"qemu-img", "create", "-q", "-f", "qcow2", "-o", opts, disk, "16M", NULL};
    g_autofree char *out = NULL;
    ck_assert_int_eq(qemu_run_tool(mk, &out), 0);
    return disk;
}

static char *disk_xml(const char *name, const char *disk)
{
    return g_strdup_printf(
        "<domain type='qemu'><name>%s</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64'>hvm</type></os><devices><disk type='file' device='disk'>"
        "<driver name='qemu' type='qcow2'/><source file='%s'/><target dev='vda' bus='virtio'/>"
        "</disk></devices></domain>",
        name, disk);
}

/* The ids of the jobs QEMU still holds. */
static char *qemu_jobs(const char *name)
{
    g_autofree char *sock = vm_path(name, "qmp.sock");
    struct qmp *m = qmp_connect(sock, "test", 5000);
    ck_assert_ptr_nonnull(m);
    JsonNode *ret = NULL;
    ck_assert_int_eq(qmp_command(m, "query-jobs", NULL, &ret, 5000), 0);
    char *text = json_to_string(ret, FALSE);
    json_node_unref(ret);
    qmp_close(m);
    return text;
}

/* A running VM's snapshots go through QEMU's snapshot jobs, whose progress
 * reaches the caller; a stopped VM's (qemu-img) report none. */
START_TEST(snapshot_jobs_report_progress)
{
    g_autofree char *disk = make_qcow2("j1.qcow2", "cluster_size=65536");
    g_autofree char *xml = disk_xml("j1", disk);
    struct qv_conn *c = qv_connect(uri);
    struct vm *vm = define(c, xml);
    OK(vm_start(vm));
    struct heard h = {0};
    OK(snapshot_create_progress(vm, "a", 0, on_progress, &h));
    heard_job(&h, "create", "a", "qv-snapshot-save-");
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_RUNNING);
    OK(vm_pause(vm));
    OK(snapshot_create_progress(vm, "b", 0, on_progress, &h));
    heard_job(&h, "create", "b", "qv-snapshot-save-");
    OK(snapshot_restore_progress(vm, "a", on_progress, &h));
    heard_job(&h, "restore", "a", "qv-snapshot-load-");
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_RUNNING);
    OK(snapshot_delete_progress(vm, "b", on_progress, &h));
    heard_job(&h, "delete", "b", "qv-snapshot-delete-");
    ck_assert_uint_eq(snap_count(vm, NULL, NULL), 1);
    /* Every job was dismissed. */
    g_autofree char *jobs = qemu_jobs("j1");
    ck_assert_str_eq(jobs, "[]");
    /* A disk-only snapshot is not a job (blockdev-snapshot-internal-sync). */
    OK(snapshot_create_progress(vm, "d", SNAPSHOT_DISK_ONLY, on_progress, &h));
    ck_assert_int_eq(h.calls, 0);

    /* Stopped: qemu-img, no job, no progress; the call just completes. */
    OK(vm_stop_flags(vm, VM_STOP_FORCE, 0));
    OK(snapshot_create_progress(vm, "cold", 0, on_progress, &h));
    OK(snapshot_delete_progress(vm, "cold", on_progress, &h));
    ck_assert_int_eq(h.calls, 0);
    vm_destroy(vm);
    qv_close(c);
}
END_TEST

/* A job that fails gives QEMU's own error, naming the snapshot and VM, and
 * leaves nothing behind. A qcow2 disk with an external data file cannot
 * hold internal snapshots, which only the job finds out. */
START_TEST(failed_snapshot_job_is_explained)
{
    g_autofree char *data = g_build_filename(root, "j2.data", NULL);
    g_autofree char *opt = g_strdup_printf("data_file=%s", data);
    g_autofree char *disk = make_qcow2("j2.qcow2", opt);
    g_autofree char *xml = disk_xml("j2", disk);
    struct qv_conn *c = qv_connect(uri);
    struct vm *vm = define(c, xml);
    OK(vm_start(vm));
    struct heard h = {0};
    ck_assert_int_eq(snapshot_create_progress(vm, "x", 0, on_progress, &h), QV_ERR_BACKEND);
    const char *msg = qv_last_error()->message;
    ck_assert_msg(strstr(msg, "cannot take snapshot 'x' of VM 'j2'") &&
                      strstr(msg, "snapshot-save job failed: Could not create snapshot 'x'"),
                  "%s", msg);
    ck_assert_str_eq(h.status, "concluded");
    heard_clear(&h);
    ck_assert_uint_eq(snap_count(vm, NULL, NULL), 0);
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_RUNNING);
    g_autofree char *jobs = qemu_jobs("j2");
    ck_assert_str_eq(jobs, "[]");
    vm_destroy(vm);
    qv_close(c);
}
END_TEST

/* A caller killed during a job leaves it concluded in QEMU and its tag in
 * the disk without a ready record: the next operation dismisses the job
 * and reconcile drops the tag. */
START_TEST(job_left_by_a_killed_caller_is_settled)
{
    g_autofree char *disk = make_qcow2("j3.qcow2", "cluster_size=65536");
    g_autofree char *xml = disk_xml("j3", disk);
    struct qv_conn *c = qv_connect(uri);
    struct vm *vm = define(c, xml);
    OK(vm_start(vm));
    g_autofree char *sock = vm_path("j3", "qmp.sock");
    struct qmp *m = qmp_connect(sock, "test", 5000);
    ck_assert_ptr_nonnull(m);
    OK(qmp_command_json(m, "snapshot-save",
                        "{\"job-id\": \"qv-snapshot-save-1-0\", \"tag\": \"orphan\", "
                        "\"vmstate\": \"disk0\", \"devices\": [\"disk0\"]}",
                        NULL, 30000));
    JsonObject *ev = NULL;
    for (;;) {
        OK(qmp_event_wait(m, "JOB_STATUS_CHANGE", 30000, &ev));
        bool done = g_strcmp0(qv_json_str(qv_json_obj(ev, "data"), "status"), "concluded") == 0;
        json_object_unref(ev);
        if (done)
            break;
    }
    qmp_close(m);
    /* The killed caller had written its record, still "creating". */
    g_autofree char *dir = vm_path("j3", "snapshots");
    ck_assert_int_eq(qv_dir_ensure(dir, 0700), 0);
    g_autofree char *rec = g_build_filename(dir, "orphan.json", NULL);
    const char *t = "{\"created_us\": 1, \"state\": \"running\", \"disk_only\": false, "
                    "\"phase\": \"creating\"}\n";
    ck_assert_int_eq(qv_file_write_atomic(rec, t, strlen(t), 0600), 0);

    OK(snapshot_create(vm, "next", 0));
    g_autofree char *jobs = qemu_jobs("j3");
    ck_assert_str_eq(jobs, "[]");
    ck_assert_uint_eq(snap_count(vm, NULL, NULL), 1);
    const char *info[] = {"qemu-img", "snapshot", "-U", "-l", disk, NULL};
    g_autofree char *out = NULL;
    ck_assert_int_eq(qemu_run_tool(info, &out), 0);
    ck_assert_ptr_null(strstr(out, "orphan"));
    ck_assert_ptr_nonnull(strstr(out, "next"));
    ck_assert(!g_file_test(rec, G_FILE_TEST_EXISTS));
    vm_destroy(vm);
    qv_close(c);
}
END_TEST

/* A snapshot record with members of the wrong type (edited by hand, or
 * from another version) is listed with defaults instead of crashing the
 * caller: a number where the state string belongs used to be strcmp'ed. */
START_TEST(damaged_snapshot_record_is_listed)
{
    struct qv_conn *c = qv_connect(uri);
    struct vm *vm = define(c, XML("d1"));
    g_autofree char *dir = vm_path("d1", "snapshots");
    ck_assert_int_eq(qv_dir_ensure(dir, 0700), 0);
    g_autofree char *a = g_build_filename(dir, "a.json", NULL);
    g_autofree char *b = g_build_filename(dir, "b.json", NULL);
    const char *ta = "{\"created_us\": 5000000, \"state\": 5, \"disk_only\": \"yes\"}";
    const char *tb = "{\"created_us\": \"soon\", \"state\": {\"running\": true}}";
    ck_assert_int_eq(qv_file_write_atomic(a, ta, strlen(ta), 0600), 0);
    ck_assert_int_eq(qv_file_write_atomic(b, tb, strlen(tb), 0600), 0);
    struct snapshot_info *list = NULL;
    size_t n = 0;
    OK(snapshot_list(vm, &list, &n));
    ck_assert_uint_eq(n, 2);
    /* Sorted by time: b has none (0), a was taken at 5 s. */
    ck_assert_str_eq(list[0].name, "b");
    ck_assert_int_eq(list[0].created, 0);
    ck_assert_int_eq(list[0].state, VM_STATE_STOPPED);
    ck_assert_str_eq(list[1].name, "a");
    ck_assert_int_eq(list[1].created, 5);
    ck_assert_int_eq(list[1].state, VM_STATE_STOPPED);
    snapshot_info_free(list, n);
    vm_destroy(vm);
    qv_close(c);
}
END_TEST

/* Two processes start the same VM at once: the per-VM lock serialises
 * them, one starts it, the other is told it already runs. */
START_TEST(concurrent_starts_serialise)
{
    struct qv_conn *c = qv_connect(uri);
    vm_free(define(c, XML("p1")));
    qv_close(c);
    int fds[2][2];
    pid_t kids[2];
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(pipe(fds[i]), 0);
        kids[i] = fork();
        if (kids[i] == 0) {
            struct qv_conn *cc = qv_connect(uri);
            struct vm *v = vm_lookup(cc, "p1");
            int rc = v ? vm_start(v) : -100;
            if (write(fds[i][1], &rc, sizeof(rc)) != sizeof(rc))
                _exit(2);
            _exit(0);
        }
    }
    int rcs[2];
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(read(fds[i][0], &rcs[i], sizeof(rcs[i])), sizeof(rcs[i]));
        int status;
        waitpid(kids[i], &status, 0);
        close(fds[i][0]);
        close(fds[i][1]);
    }
    ck_assert_msg((rcs[0] == 0 && rcs[1] == QV_ERR_INVALID_STATE) ||
                      (rcs[1] == 0 && rcs[0] == QV_ERR_INVALID_STATE),
                  "start results %d and %d", rcs[0], rcs[1]);
    c = qv_connect(uri);
    struct vm *vm = vm_lookup(c, "p1");
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_RUNNING);
    /* A graceful stop of a paused VM resumes it first, then escalates. */
    OK(vm_pause(vm));
    OK(vm_stop_flags(vm, 0, 300));
    g_autofree char *log = vm_path("p1", "qv.log");
    g_autofree char *text = NULL;
    ck_assert(g_file_get_contents(log, &text, NULL, NULL));
    ck_assert_ptr_nonnull(strstr(text, "resuming it first"));
    g_auto(GStrv) starts = g_strsplit(text, "started: QEMU pid", -1);
    ck_assert_uint_eq(g_strv_length(starts), 2);
    vm_destroy(vm);
    qv_close(c);
}
END_TEST

/* The affinity of QEMU's thread for vCPU n ("CPU n/TCG" with
 * debug-threads=on), as /proc shows it. */
static char *vcpu_affinity(pid_t pid, int n)
{
    g_autofree char *dir = g_strdup_printf("/proc/%d/task", (int)pid);
    g_autofree char *want = g_strdup_printf("CPU %d/TCG", n);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *e;
    while (d && (e = g_dir_read_name(d))) {
        g_autofree char *comm_path = g_build_filename(dir, e, "comm", NULL);
        g_autofree char *comm = NULL;
        if (!g_file_get_contents(comm_path, &comm, NULL, NULL) ||
            strcmp(g_strstrip(comm), want) != 0)
            continue;
        g_autofree char *status_path = g_build_filename(dir, e, "status", NULL);
        g_autofree char *status = NULL;
        g_file_get_contents(status_path, &status, NULL, NULL);
        char *l = strstr(status, "Cpus_allowed_list:");
        ck_assert_ptr_nonnull(l);
        l += strlen("Cpus_allowed_list:");
        return g_strstrip(g_strndup(l, strcspn(l, "\n")));
    }
    ck_abort_msg("no thread '%s' in QEMU %d", want, (int)pid);
    return NULL;
}

START_TEST(cpu_pinning_and_settings)
{
    struct qv_conn *c = qv_connect(uri);
    struct vm *vm = define(
        c, "<domain type='qemu'><name>pin1</name><memory unit='MiB'>32</memory><vcpu>2</vcpu>"
           "<cputune><vcpupin vcpu='0' cpuset='0'/></cputune>"
           "<os><type arch='x86_64'>hvm</type></os></domain>");
    OK(vm_start(vm));
    pid_t pid = qemu_pid("pin1");
    g_autofree char *a0 = vcpu_affinity(pid, 0);
    ck_assert_str_eq(a0, "0");
    int pcpu = -2;
    OK(vm_get_cpu_pin(vm, 0, &pcpu));
    ck_assert_int_eq(pcpu, 0);
    if (g_get_num_processors() > 1) {
        /* Live: the thread moves and the definition keeps it. */
        OK(vm_set_cpu_pin(vm, 1, 1));
        g_autofree char *a1 = vcpu_affinity(pid, 1);
        ck_assert_str_eq(a1, "1");
        OK(vm_get_cpu_pin(vm, 1, &pcpu));
        ck_assert_int_eq(pcpu, 1);
    }
    /* Boot vCPUs stay while it runs; nothing changes. */
    ck_assert_int_eq(vm_set_vcpus(vm, 1), QV_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "until it is stopped"));
    struct vm_info info;
    OK(vm_get_info(vm, &info));
    ck_assert_uint_eq(info.vcpus, 2);
    OK(vm_stop_flags(vm, VM_STOP_FORCE, 0));
    OK(vm_set_vcpus(vm, 1));
    OK(vm_get_info(vm, &info));
    ck_assert_uint_eq(info.vcpus, 1);
    vm_destroy(vm);
    qv_close(c);
}
END_TEST

/* Whether this host has a cgroup hierarchy with controller ctl, read
 * independently of lib/proc: a v1 mount with that option, or ctl offered
 * at the root of the unified hierarchy. */
static bool host_has_cgroup(const char *ctl)
{
    g_autofree char *mounts = NULL, *root = NULL;
    if (g_file_get_contents("/proc/self/mounts", &mounts, NULL, NULL)) {
        g_auto(GStrv) lines = g_strsplit(mounts, "\n", -1);
        for (char **l = lines; *l; l++) {
            g_auto(GStrv) f = g_strsplit(*l, " ", -1);
            if (g_strv_length(f) < 4 || strcmp(f[2], "cgroup") != 0)
                continue;
            g_auto(GStrv) opts = g_strsplit(f[3], ",", -1);
            if (g_strv_contains((const char *const *)opts, ctl))
                return true;
        }
    }
    if (!g_file_get_contents("/sys/fs/cgroup/cgroup.controllers", &root, NULL, NULL))
        return false;
    g_auto(GStrv) offered = g_strsplit_set(g_strstrip(root), " ", -1);
    return g_strv_contains((const char *const *)offered, ctl);
}

static char *cgroup_value(const char *dir, const char *file)
{
    g_autofree char *p = g_build_filename(dir, file, NULL);
    char *text = NULL;
    ck_assert_msg(g_file_get_contents(p, &text, NULL, NULL), "cannot read %s", p);
    return g_strstrip(text);
}

/* Where the host lacks controller ctl, a VM asking for it must not start:
 * the error names the controller and nothing is left running. True when
 * that was checked (the caller's VM and connection are then gone). */
/* The cgroup qv put VM name's QEMU in (per_controller: on v1, the group
 * in the hierarchy of the first controller the definition asked for),
 * checked to hold that QEMU and nothing else. */
static char *qemu_cgroup(const char *name, bool per_controller)
{
    g_autofree char *dir = g_build_filename(root, "qemu", name, NULL);
    struct proc_runtime rt;
    OK(proc_runtime_read(dir, &rt));
    const char *path =
        per_controller && rt.cgroups && rt.cgroups[0] ? rt.cgroups[0] : rt.cgroup;
    ck_assert_ptr_nonnull(path);
    char *cg = g_strdup(path);
    g_autofree char *pid = g_strdup_printf("%d", (int)rt.id.pid);
    proc_runtime_clear(&rt);
    g_autofree char *procs = cgroup_value(cg, "cgroup.procs");
    ck_assert_str_eq(procs, pid);
    return cg;
}

static bool refused_without_cgroup(struct qv_conn *c, struct vm *vm, const char *ctl)
{
    if (host_has_cgroup(ctl))
        return false;
    g_autofree char *what = g_strdup_printf("%s controller", ctl);
    ck_assert_int_lt(vm_start(vm), 0);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, what));
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_CREATED);
    vm_destroy(vm);
    qv_close(c);
    return true;
}

START_TEST(cpu_weight_and_cap_through_cgroup)
{
    struct qv_conn *c = qv_connect(uri);
    struct vm *vm = define(
        c, "<domain type='qemu'><name>cg1</name><memory unit='MiB'>32</memory><vcpu>2</vcpu>"
           "<cputune><shares>512</shares><period>100000</period><quota>50000</quota></cputune>"
           "<os><type arch='x86_64'>hvm</type></os></domain>");
    if (refused_without_cgroup(c, vm, "cpu"))
        return;
    OK(vm_start(vm));
    g_autofree char *dir = g_build_filename(root, "qemu", "cg1", NULL);
    struct proc_runtime rt;
    /* Every QEMU thread is in the VM's group, with its values. */
    g_autofree char *cg = qemu_cgroup("cg1", false);
    g_autofree char *shares_file = g_build_filename(cg, "cpu.shares", NULL);
    bool v1 = g_file_test(shares_file, G_FILE_TEST_EXISTS);
    if (v1) {
        g_autofree char *shares = cgroup_value(cg, "cpu.shares");
        g_autofree char *quota = cgroup_value(cg, "cpu.cfs_quota_us");
        ck_assert_str_eq(shares, "2048");
        ck_assert_str_eq(quota, "100000"); /* 50 % of a CPU for each of 2 vCPUs */
    } else {
        g_autofree char *weight = cgroup_value(cg, "cpu.weight");
        g_autofree char *max = cgroup_value(cg, "cpu.max");
        ck_assert_str_eq(weight, "200");
        ck_assert_str_eq(max, "100000 100000");
    }
    /* Live, and kept in the definition. */
    OK(vm_set_cpu_weight(vm, 1024));
    OK(vm_set_cpu_cap(vm, 0));
    if (v1) {
        g_autofree char *shares = cgroup_value(cg, "cpu.shares");
        g_autofree char *quota = cgroup_value(cg, "cpu.cfs_quota_us");
        ck_assert_str_eq(shares, "4096");
        ck_assert_str_eq(quota, "-1");
    } else {
        g_autofree char *max = cgroup_value(cg, "cpu.max");
        ck_assert_str_eq(max, "max 100000");
    }
    char *xml = vm_get_xml(vm);
    ck_assert_ptr_nonnull(strstr(xml, "<shares>1024</shares>"));
    ck_assert_ptr_null(strstr(xml, "<quota>"));
    qv_free(xml);
    /* The group goes with the process. */
    OK(vm_stop_flags(vm, VM_STOP_FORCE, 0));
    ck_assert(!g_file_test(cg, G_FILE_TEST_EXISTS));

    /* A VM started without limits gets its group when one is set live. */
    OK(vm_start(vm));
    OK(vm_set_cpu_cap(vm, 20));
    OK(proc_runtime_read(dir, &rt));
    ck_assert_ptr_nonnull(rt.cgroup);
    g_autofree char *cg2 = g_strdup(rt.cgroup);
    proc_runtime_clear(&rt);
    g_autofree char *procs2 = cgroup_value(cg2, "cgroup.procs");
    g_autofree char *pid2 = g_strdup_printf("%d", (int)qemu_pid("cg1"));
    ck_assert_str_eq(procs2, pid2);
    /* A crash is seen and its group removed too. */
    ck_assert_int_eq(kill(qemu_pid("cg1"), SIGKILL), 0);
    OK(vm_wait(vm, 10000));
    struct vm_info info;
    OK(vm_get_info(vm, &info));
    ck_assert_int_eq(info.reason, VM_REASON_CRASHED);
    ck_assert(!g_file_test(cg2, G_FILE_TEST_EXISTS));
    vm_destroy(vm);
    qv_close(c);
}
END_TEST

/* <memtune>: QEMU runs under the limits, read back from its group, which
 * goes with it. */
START_TEST(memtune_through_cgroup)
{
    struct qv_conn *c = qv_connect(uri);
    struct vm *vm = define(c, "<domain type='qemu'><name>mt1</name><memory unit='MiB'>32</memory>"
                              "<vcpu>1</vcpu><memtune><hard_limit unit='MiB'>512</hard_limit>"
                              "<soft_limit unit='MiB'>256</soft_limit></memtune>"
                              "<os><type arch='x86_64'>hvm</type></os></domain>");
    if (refused_without_cgroup(c, vm, "memory"))
        return;
    OK(vm_start(vm));
    /* v1: a group in the memory hierarchy; v2: the VM's one group. */
    g_autofree char *cg = qemu_cgroup("mt1", true);
    g_autofree char *v1_file = g_build_filename(cg, "memory.limit_in_bytes", NULL);
    if (g_file_test(v1_file, G_FILE_TEST_EXISTS)) {
        g_autofree char *hard = cgroup_value(cg, "memory.limit_in_bytes");
        g_autofree char *soft = cgroup_value(cg, "memory.soft_limit_in_bytes");
        ck_assert_str_eq(hard, "536870912");
        ck_assert_str_eq(soft, "268435456");
    } else {
        g_autofree char *hard = cgroup_value(cg, "memory.max");
        g_autofree char *high = cgroup_value(cg, "memory.high");
        ck_assert_str_eq(hard, "536870912");
        ck_assert_str_eq(high, "268435456");
    }
    OK(vm_stop_flags(vm, VM_STOP_FORCE, 0));
    ck_assert(!g_file_test(cg, G_FILE_TEST_EXISTS));
    vm_destroy(vm);

    /* What Linux cannot do is refused at define, naming it. */
    ck_assert_ptr_null(vm_define_xml(c, "<domain type='qemu'><name>mt2</name><memory unit='MiB'>32"
                                        "</memory><vcpu>1</vcpu><memtune>\n<min_guarantee>"
                                        "65536</min_guarantee></memtune><os><type arch='x86_64'>"
                                        "hvm</type></os></domain>"));
    ck_assert_ptr_nonnull(
        strstr(qv_last_error()->message, "<memtune><min_guarantee> (line 2): Linux has no cgroup"));
    qv_close(c);
}
END_TEST

/* <blkiotune>: a device's read limit in the VM's blkio/io group; a weight
 * where the host's I/O scheduler has none refuses the start naming the
 * files. */
START_TEST(blkiotune_through_cgroup)
{
    const char *dev = g_file_test("/dev/loop0", G_FILE_TEST_EXISTS) ? "/dev/loop0" : NULL;
    struct stat st;
    if (!dev || stat(dev, &st) < 0 || !S_ISBLK(st.st_mode)) {
        printf("blkiotune_through_cgroup: skipped, no /dev/loop0 block device\n");
        return;
    }
    struct qv_conn *c = qv_connect(uri);
    struct vm *vm = define(c, "<domain type='qemu'><name>bt1</name><memory unit='MiB'>32</memory>"
                              "<vcpu>1</vcpu><blkiotune><device><path>/dev/loop0</path>"
                              "<read_bytes_sec>1048576</read_bytes_sec><write_iops_sec>100"
                              "</write_iops_sec></device></blkiotune>"
                              "<os><type arch='x86_64'>hvm</type></os></domain>");
    if (!host_has_cgroup("blkio") && !host_has_cgroup("io")) {
        /* The host has no blkio/io controller: refused, naming it. */
        ck_assert_int_lt(vm_start(vm), 0);
        ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "controller"));
        ck_assert_int_eq(vm_get_state(vm), VM_STATE_CREATED);
        printf("blkiotune_through_cgroup: skipped: %s\n", qv_last_error()->message);
        vm_destroy(vm);
        qv_close(c);
        return;
    }
    OK(vm_start(vm));
    g_autofree char *cg = qemu_cgroup("bt1", true);
    g_autofree char *want_r =
        g_strdup_printf("%u:%u 1048576", major(st.st_rdev), minor(st.st_rdev));
    g_autofree char *want_w = g_strdup_printf("%u:%u 100", major(st.st_rdev), minor(st.st_rdev));
    g_autofree char *v1_file = g_build_filename(cg, "blkio.throttle.read_bps_device", NULL);
    if (g_file_test(v1_file, G_FILE_TEST_EXISTS)) {
        g_autofree char *r = cgroup_value(cg, "blkio.throttle.read_bps_device");
        g_autofree char *w = cgroup_value(cg, "blkio.throttle.write_iops_device");
        ck_assert_str_eq(r, want_r);
        ck_assert_str_eq(w, want_w);
    } else {
        g_autofree char *max = cgroup_value(cg, "io.max");
        g_autofree char *rb =
            g_strdup_printf("%u:%u rbps=1048576", major(st.st_rdev), minor(st.st_rdev));
        ck_assert_ptr_nonnull(strstr(max, rb));
        ck_assert_ptr_nonnull(strstr(max, "wiops=100"));
    }
    OK(vm_stop_flags(vm, VM_STOP_FORCE, 0));
    ck_assert(!g_file_test(cg, G_FILE_TEST_EXISTS));
    vm_destroy(vm);

    /* A weight: honoured where the scheduler has one, else refused at start. */
    vm = define(c, "<domain type='qemu'><name>bt2</name><memory unit='MiB'>32</memory>"
                   "<vcpu>1</vcpu><blkiotune><weight>500</weight></blkiotune>"
                   "<os><type arch='x86_64'>hvm</type></os></domain>");
    if (vm_start(vm) < 0) {
        ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "weight nor"));
        ck_assert_int_eq(vm_get_state(vm), VM_STATE_CREATED);
    } else {
        OK(vm_stop_flags(vm, VM_STOP_FORCE, 0));
    }
    vm_destroy(vm);

    /* A path that is no block device is refused at start, naming it. */
    vm = define(c, "<domain type='qemu'><name>bt3</name><memory unit='MiB'>32</memory>"
                   "<vcpu>1</vcpu><blkiotune><device><path>/dev/null</path>"
                   "<read_iops_sec>5</read_iops_sec></device></blkiotune>"
                   "<os><type arch='x86_64'>hvm</type></os></domain>");
    ck_assert_int_lt(vm_start(vm), 0);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "'/dev/null' is not a block device"));
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_CREATED);
    vm_destroy(vm);
    qv_close(c);
}
END_TEST

/* <resource><partition>: the VM's own group is made under it (as libvirt
 * places every domain under /machine), with the CPU limits still working;
 * one that cannot be had refuses the start, naming it. */
START_TEST(partition_holds_the_vm_cgroup)
{
    struct qv_conn *c = qv_connect(uri);
    g_autofree char *part = g_strdup_printf("/qv-test-part-%d/machine", (int)getpid());
    g_autofree char *xml = g_strdup_printf(
        "<domain type='qemu'><name>cgp</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>"
        "<resource><partition>%s</partition></resource>"
        "<os><type arch='x86_64'>hvm</type></os></domain>",
        part);
    struct vm *vm = define(c, xml);
    const char *mnt = g_file_test("/sys/fs/cgroup/cpu/cgroup.procs", G_FILE_TEST_EXISTS)
                          ? "/sys/fs/cgroup/cpu"
                          : "/sys/fs/cgroup";
    if (!host_has_cgroup("cpu") || access(mnt, W_OK) != 0) {
        ck_assert_int_lt(vm_start(vm), 0);
        ck_assert_msg(strstr(qv_last_error()->message, "cannot put it in <resource><partition>"),
                      "%s", qv_last_error()->message);
        ck_assert_int_eq(vm_get_state(vm), VM_STATE_CREATED);
        vm_destroy(vm);
        qv_close(c);
        return;
    }
    OK(vm_start(vm));
    g_autofree char *cg = qemu_cgroup("cgp", false);
    g_autofree char *parent = g_build_filename(mnt, part, NULL);
    g_autofree char *cg_parent = g_path_get_dirname(cg);
    ck_assert_str_eq(cg_parent, parent);
    /* Limits set live land in that group. */
    OK(vm_set_cpu_cap(vm, 30));
    g_autofree char *max_v1 = g_build_filename(cg, "cpu.cfs_quota_us", NULL);
    if (g_file_test(max_v1, G_FILE_TEST_EXISTS)) {
        g_autofree char *quota = cgroup_value(cg, "cpu.cfs_quota_us");
        ck_assert_str_eq(quota, "30000");
    }
    OK(vm_stop_flags(vm, VM_STOP_FORCE, 0));
    ck_assert(!g_file_test(cg, G_FILE_TEST_EXISTS));
    vm_destroy(vm);
    g_autofree char *top = g_path_get_dirname(parent);
    ck_assert_int_eq(rmdir(parent), 0);
    ck_assert_int_eq(rmdir(top), 0);

    /* A partition that cannot be made: below a file of the hierarchy. */
    vm = define(c, "<domain type='qemu'><name>cgp2</name><memory unit='MiB'>32</memory>"
                   "<vcpu>1</vcpu><resource><partition>/cgroup.procs/x</partition></resource>"
                   "<os><type arch='x86_64'>hvm</type></os></domain>");
    ck_assert_int_lt(vm_start(vm), 0);
    ck_assert_msg(strstr(qv_last_error()->message,
                         "VM 'cgp2': cannot put it in <resource><partition>/cgroup.procs/x"
                         "</partition>"),
                  "%s", qv_last_error()->message);
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_CREATED);
    vm_destroy(vm);
    qv_close(c);
}
END_TEST

/* <qemu:commandline> as libvirt honours it: the arguments end QEMU's
 * command line one by one and the variables are in QEMU's environment,
 * with no shell reading either; the VM says it is tainted. */
START_TEST(qemu_commandline_args_and_env)
{
    struct qv_conn *c = qv_connect(uri);
    struct vm *vm =
        define(c, "<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"
                  "<name>cust</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>"
                  "<os><type arch='x86_64' machine='pc'>hvm</type></os>"
                  "<qemu:commandline><qemu:arg value='-msg'/><qemu:arg value='timestamp=on'/>"
                  "<qemu:env name='QV_TEST_ENV' value='a b; $(touch /nonexistent/x) `id`'/>"
                  "<qemu:env name='QV_EMPTY'/></qemu:commandline></domain>");
    char *json = vm_get_json(vm);
    ck_assert_msg(strstr(json, "\"tainted\" : [\n    \"custom-argv\"\n  ]"), "%s", json);
    qv_free(json);
    OK(vm_start(vm));
    pid_t pid = qemu_pid("cust");
    g_autofree char *envf = g_strdup_printf("/proc/%d/environ", (int)pid);
    g_autofree char *cmdf = g_strdup_printf("/proc/%d/cmdline", (int)pid);
    g_autofree char *env = NULL, *cmd = NULL;
    gsize envn = 0, cmdn = 0;
    ck_assert(g_file_get_contents(envf, &env, &envn, NULL));
    ck_assert(g_file_get_contents(cmdf, &cmd, &cmdn, NULL));
    bool found = false, empty = false;
    for (gsize i = 0; i < envn; i += strlen(env + i) + 1) {
        found = found || strcmp(env + i, "QV_TEST_ENV=a b; $(touch /nonexistent/x) `id`") == 0;
        empty = empty || strcmp(env + i, "QV_EMPTY=") == 0;
    }
    ck_assert(found && empty);
    /* The two arguments, together, after everything qv gives QEMU but the
     * start-up switches. */
    g_autoptr(GPtrArray) args = g_ptr_array_new();
    for (gsize i = 0; i < cmdn; i += strlen(cmd + i) + 1)
        g_ptr_array_add(args, cmd + i);
    guint at = 0;
    for (guint i = 0; i + 1 < args->len; i++)
        if (strcmp(g_ptr_array_index(args, i), "-msg") == 0)
            at = i;
    ck_assert_uint_gt(at, 0);
    ck_assert_str_eq(g_ptr_array_index(args, at + 1), "timestamp=on");
    ck_assert_str_eq(g_ptr_array_index(args, at + 2), "-S");
    g_autofree char *log = g_build_filename(root, "qemu", "cust", "qv.log", NULL);
    g_autofree char *text = NULL;
    if (g_file_get_contents(log, &text, NULL, NULL))
        ck_assert_msg(strstr(text, "tainted: custom-argv"), "%s", text);
    OK(vm_stop_flags(vm, VM_STOP_FORCE, 0));
    vm_destroy(vm);

    /* The rest of libvirt's QEMU namespace is refused, naming it. */
    ck_assert_ptr_null(vm_define_xml(
        c, "<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"
           "<name>cust2</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>"
           "<os><type arch='x86_64'>hvm</type></os>\n"
           "<qemu:capabilities><qemu:add capability='blockdev'/></qemu:capabilities></domain>"));
    ck_assert_msg(strstr(qv_last_error()->message,
                         "the qemu driver cannot honour <qemu:capabilities> (line 2)"),
                  "%s", qv_last_error()->message);
    qv_close(c);
}
END_TEST

START_TEST(clone_has_its_own_disks)
{
    g_autofree char *disk = g_build_filename(root, "src.qcow2", NULL);
    char *mk[] = {"qemu-img", "create", "-q", "-f", "qcow2", disk, "16M", NULL};
    pid_t pid;
    int status;
    ck_assert_int_eq(proc_spawn(mk, NULL, &pid), 0);
    ck_assert_int_eq(proc_child_wait(pid, 10000, &status), 0);
    g_autofree char *xml = g_strdup_printf(
        "<domain type='qemu'><name>src</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64'>hvm</type></os><devices><disk type='file' device='disk'>"
        "<driver name='qemu' type='qcow2'/><source file='%s'/><target dev='vda' bus='virtio'/>"
        "</disk><interface type='user'><mac address='52:54:00:00:00:09'/></interface>"
        "</devices></domain>",
        disk);
    struct qv_conn *c = qv_connect(uri);
    struct vm *vm = define(c, xml);
    struct vm *cl = vm_clone(vm, "copy");
    ck_assert_msg(cl != NULL, "%s", qv_last_error()->message);
    ck_assert_int_eq(vm_get_state(cl), VM_STATE_CREATED);
    char *cxml = vm_get_xml(cl);
    g_autofree char *want = g_build_filename(root, "qemu", "copy", "vda.qcow2", NULL);
    ck_assert_msg(strstr(cxml, want), "%s", cxml);
    ck_assert_ptr_null(strstr(cxml, "52:54:00:00:00:09"));
    qv_free(cxml);
    ck_assert(g_file_test(want, G_FILE_TEST_IS_REGULAR));
    /* Both run at once, each on its own disk. */
    OK(vm_start(vm));
    OK(vm_start(cl));
    ck_assert_int_eq(vm_get_state(cl), VM_STATE_RUNNING);
    vm_destroy(cl);
    ck_assert(!g_file_test(want, G_FILE_TEST_EXISTS));
    ck_assert(g_file_test(disk, G_FILE_TEST_EXISTS));
    vm_destroy(vm);
    qv_close(c);
}
END_TEST

/* A qv killed in the middle of a start leaves QEMU running without a
 * runtime record; the next start kills that orphan instead of leaking it. */
START_TEST(interrupted_start_orphan_is_reaped)
{
    struct qv_conn *c = qv_connect(uri);
    struct vm *vm = define(c, XML("o2"));
    OK(vm_start(vm));
    pid_t pid = qemu_pid("o2");
    g_autofree char *rt = vm_path("o2", "runtime.json");
    ck_assert_int_eq(unlink(rt), 0); /* as if the starter died before writing it */
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_CREATED);
    OK(vm_start(vm));
    ck_assert(process_gone(pid));
    ck_assert_int_ne(qemu_pid("o2"), pid);
    g_autofree char *log = vm_path("o2", "qv.log");
    g_autofree char *text = NULL;
    ck_assert(g_file_get_contents(log, &text, NULL, NULL));
    ck_assert_ptr_nonnull(strstr(text, "left by an interrupted start"));
    vm_destroy(vm);
    qv_close(c);
}
END_TEST

/* A damaged runtime.json (edited by hand, a disk error) must not make the
 * VM impossible to destroy, nor leave its QEMU running: the pidfile still
 * names the process, and failing that its command line does. */
START_TEST(damaged_runtime_record_is_destroyable)
{
    struct qv_conn *c = qv_connect(uri);
    const char *names[] = {"r1", "r2"};
    for (int i = 0; i < 2; i++) {
        g_autofree char *xml = g_strdup_printf(
            "<domain type='qemu'><name>%s</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>"
            "<os><type arch='x86_64' machine='pc'>hvm</type></os></domain>",
            names[i]);
        struct vm *vm = define(c, xml);
        OK(vm_start(vm));
        pid_t pid = qemu_pid(names[i]);
        g_autofree char *rt = vm_path(names[i], "runtime.json");
        ck_assert(g_file_set_contents(rt, "{\"pid\": \"garbage", -1, NULL));
        if (i == 1) {
            /* The pidfile too, made a FIFO (which must not hang the reader),
             * and QEMU stopped so it could answer nothing: only its command
             * line is left to find it by. */
            g_autofree char *pf = vm_path(names[i], "qemu.pid");
            ck_assert_int_eq(unlink(pf), 0);
            ck_assert_int_eq(mkfifo(pf, 0600), 0);
            ck_assert_int_eq(kill(pid, SIGSTOP), 0);
        }
        /* Its state cannot be known, and the caller is told so. */
        ck_assert_int_eq(vm_get_state(vm), VM_STATE_DESTROYED);
        ck_assert_int_eq(qv_last_error()->code, QV_ERR_JSON);
        vm_destroy(vm);
        ck_assert_msg(qv_last_error()->code == QV_OK, "destroy: %s", qv_last_error()->message);
        ck_assert(process_gone(pid));
        g_autofree char *dir = g_build_filename(root, "qemu", names[i], NULL);
        ck_assert(!g_file_test(dir, G_FILE_TEST_EXISTS));
    }
    qv_close(c);
}
END_TEST

/* bps and iops QEMU reports for the block backend of a disk. */
static void block_limits(const char *name, const char *target, gint64 *bps, gint64 *iops)
{
    g_autofree char *sock = vm_path(name, "status.sock");
    struct qmp *m = qmp_connect(sock, "test", 5000);
    ck_assert_ptr_nonnull(m);
    JsonNode *ret = NULL;
    ck_assert_int_eq(qmp_command(m, "query-block", NULL, &ret, 5000), 0);
    g_autofree char *want = g_strdup_printf("/machine/peripheral/%s/", target);
    JsonArray *a = json_node_get_array(ret);
    *bps = *iops = -1;
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);
        if (!g_str_has_prefix(json_object_get_string_member_with_default(o, "qdev", ""), want))
            continue;
        JsonObject *ins = json_object_get_object_member(o, "inserted");
        *bps = json_object_get_int_member(ins, "bps");
        *iops = json_object_get_int_member(ins, "iops");
    }
    json_node_unref(ret);
    qmp_close(m);
}

/* The block nodes QEMU holds (query-named-block-nodes), as one string. */
static char *block_nodes(const char *name)
{
    g_autofree char *sock = vm_path(name, "status.sock");
    struct qmp *m = qmp_connect(sock, "test", 5000);
    ck_assert_ptr_nonnull(m);
    JsonNode *ret = NULL;
    ck_assert_int_eq(qmp_command(m, "query-named-block-nodes", NULL, &ret, 5000), 0);
    GString *s = g_string_new("");
    JsonArray *a = json_node_get_array(ret);
    for (guint i = 0; i < json_array_get_length(a); i++)
        g_string_append_printf(s, "%s ",
                               json_object_get_string_member_with_default(
                                   json_array_get_object_element(a, i), "node-name", ""));
    json_node_unref(ret);
    qmp_close(m);
    return g_string_free(s, FALSE);
}

/* The guest here is SeaBIOS with nothing to boot: it takes a device but
 * never answers a request to release one. The Linux guest's hot-plug is in
 * tests/integration/qemu. */
START_TEST(hot_plug_without_a_cooperating_guest)
{
    g_autofree char *disk = g_build_filename(root, "hp.raw", NULL);
    ck_assert(g_file_set_contents(disk, "", 0, NULL));
    ck_assert_int_eq(truncate(disk, 8 << 20), 0);
    struct qv_conn *c = qv_connect(uri);
    struct vm *vm = define(c, XML("hp1"));
    OK(vm_start(vm));
    g_autofree char *dxml = g_strdup_printf(
        "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='%s'/>"
        "<target dev='vdb' bus='virtio'/></disk>",
        disk);
    OK(vm_attach_device(vm, dxml));
    gint64 bps, iops;
    block_limits("hp1", "vdb", &bps, &iops);
    ck_assert_int_eq(bps, 0); /* QEMU has the disk, unthrottled */
    char *x = vm_get_xml(vm);
    ck_assert_ptr_nonnull(strstr(x, "vdb"));
    qv_free(x);

    /* A guest that does not release the disk keeps it, and so does the
     * definition. */
    g_setenv("QV_QEMU_UNPLUG_TIMEOUT_MS", "1500", TRUE);
    ck_assert_int_eq(vm_detach_device(vm, dxml), QV_ERR_TIMEOUT);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "stays attached"));
    g_unsetenv("QV_QEMU_UNPLUG_TIMEOUT_MS");
    x = vm_get_xml(vm);
    ck_assert_ptr_nonnull(strstr(x, "vdb"));
    qv_free(x);
    block_limits("hp1", "vdb", &bps, &iops);
    ck_assert_int_eq(bps, 0);

    /* A disk QEMU cannot open leaves nothing behind: no block node, no
     * definition entry. */
    g_autofree char *before = block_nodes("hp1");
    g_autofree char *bad = g_strdup_printf(
        "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='%s'/>"
        "<target dev='vdc' bus='virtio'/></disk>",
        disk);
    ck_assert_int_lt(vm_attach_device(vm, bad), 0);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "vdc"));
    g_autofree char *after = block_nodes("hp1");
    ck_assert_str_eq(before, after);
    x = vm_get_xml(vm);
    ck_assert_ptr_null(strstr(x, "vdc"));
    qv_free(x);

    /* What cannot be hot-plugged is refused and changes nothing. */
    g_autofree char *ide = g_strdup_printf(
        "<disk type='file' device='disk'><source file='%s'/><target dev='hdb' bus='ide'/></disk>",
        disk);
    ck_assert_int_eq(vm_attach_device(vm, ide), QV_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "virtio disks only"));

    /* A NIC is added live. */
    OK(vm_attach_device(vm, "<interface type='user'><mac address='52:54:00:00:00:42'/>"
                            "<model type='virtio'/></interface>"));
    x = vm_get_xml(vm);
    ck_assert_ptr_nonnull(strstr(x, "52:54:00:00:00:42"));
    qv_free(x);
    /* The new NIC got an SSH forward of its own. */
    g_autofree char *dir = g_build_filename(root, "qemu", "hp1", NULL);
    struct proc_runtime rt;
    OK(proc_runtime_read(dir, &rt));
    JsonArray *ports = json_object_get_array_member(rt.extra, "ssh_ports");
    ck_assert_uint_eq(json_array_get_length(ports), 2);
    ck_assert_int_gt(json_array_get_int_element(ports, 1), 0);
    proc_runtime_clear(&rt);
    vm_destroy(vm);
    qv_close(c);
}
END_TEST

/* vCPUs present in QEMU (query-hotpluggable-cpus entries with a path). */
static int present_vcpus(const char *name)
{
    g_autofree char *sock = vm_path(name, "status.sock");
    struct qmp *m = qmp_connect(sock, "test", 5000);
    ck_assert_ptr_nonnull(m);
    JsonNode *ret = NULL;
    ck_assert_int_eq(qmp_command(m, "query-hotpluggable-cpus", NULL, &ret, 5000), 0);
    int n = 0;
    JsonArray *a = json_node_get_array(ret);
    for (guint i = 0; i < json_array_get_length(a); i++)
        n += json_object_has_member(json_array_get_object_element(a, i), "qom-path");
    json_node_unref(ret);
    qmp_close(m);
    return n;
}

START_TEST(vcpus_hot_added)
{
    struct qv_conn *c = qv_connect(uri);
    struct vm *vm =
        define(c, "<domain type='qemu'><name>cpu1</name><memory unit='MiB'>32</memory>"
                  "<vcpu current='1'>3</vcpu><os><type arch='x86_64' machine='pc'>hvm</type></os>"
                  "<features><acpi/></features></domain>");
    OK(vm_start(vm));
    ck_assert_int_eq(present_vcpus("cpu1"), 1);
    OK(vm_set_vcpus(vm, 3));
    ck_assert_int_eq(present_vcpus("cpu1"), 3);
    struct vm_info info;
    OK(vm_get_info(vm, &info));
    ck_assert_uint_eq(info.vcpus, 3);
    /* With no OS to switch ACPI to QEMU's modern CPU hot-plug interface,
     * QEMU refuses to unplug (or the guest would not answer): the vCPU
     * stays, and so does the count. */
    g_setenv("QV_QEMU_UNPLUG_TIMEOUT_MS", "1000", TRUE);
    ck_assert_int_lt(vm_set_vcpus(vm, 2), 0);
    g_unsetenv("QV_QEMU_UNPLUG_TIMEOUT_MS");
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "3 vCPU(s) of VM 'cpu1' are present"));
    ck_assert_int_eq(present_vcpus("cpu1"), 3);
    OK(vm_get_info(vm, &info));
    ck_assert_uint_eq(info.vcpus, 3);
    /* The next start has them all from the beginning. */
    OK(vm_stop_flags(vm, VM_STOP_FORCE, 0));
    OK(vm_start(vm));
    ck_assert_int_eq(present_vcpus("cpu1"), 3);
    vm_destroy(vm);
    qv_close(c);
}
END_TEST

static int ssh_port_of(const char *name)
{
    g_autofree char *dir = g_build_filename(root, "qemu", name, NULL);
    struct proc_runtime rt;
    ck_assert_int_eq(proc_runtime_read(dir, &rt), 0);
    int port =
        (int)json_array_get_int_element(json_object_get_array_member(rt.extra, "ssh_ports"), 0);
    proc_runtime_clear(&rt);
    return port;
}

/* The SSH forward of a user NIC: 10022 + djb2(name) % 101, the next one
 * when that is taken, the same again at the next start. */
START_TEST(ssh_port_from_the_name)
{
    guint32 h = 5381;
    for (const char *p = "sshport1"; *p; p++)
        h = h * 33 + (guint32)*p;
    int want = 10022 + (int)(h % 101);
    struct qv_conn *c = qv_connect(uri);
    struct vm *vm = define(c, XML("sshport1"));
    /* Someone else holds the VM's port: it gets the next one. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)want)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    bool held = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 1) == 0;
    OK(vm_start(vm));
    int got = ssh_port_of("sshport1");
    ck_assert_int_ge(got, 10022);
    ck_assert_int_le(got, 10122);
    if (held)
        ck_assert_int_ne(got, want);
    close(fd);
    OK(vm_stop_flags(vm, VM_STOP_FORCE, 0));
    /* Free again: the VM's own port, at every start (unless another test's
     * VM holds it right now: checked just before). */
    int probe = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool free_now = bind(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(probe);
    OK(vm_start(vm));
    char *ip = NULL;
    int port = 0;
    OK(vm_guest_ip(vm, &ip, &port));
    ck_assert_int_eq(port, ssh_port_of("sshport1"));
    if (free_now)
        ck_assert_int_eq(port, want);
    qv_free(ip);
    vm_destroy(vm);

    /* Two user NICs while the first one's port is held: the first moves
     * to the port the second would start from, and the second must not
     * take it too. */
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    held = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 1) == 0;
    vm = define(c, "<domain type='qemu'><name>sshport1</name><memory unit='MiB'>32</memory>"
                   "<vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os><devices>"
                   "<interface type='user'><mac address='52:54:00:00:00:01'/></interface>"
                   "<interface type='user'><mac address='52:54:00:00:00:02'/></interface>"
                   "</devices></domain>");
    OK(vm_start(vm));
    g_autofree char *dir = g_build_filename(root, "qemu", "sshport1", NULL);
    struct proc_runtime rt;
    OK(proc_runtime_read(dir, &rt));
    JsonArray *ports = json_object_get_array_member(rt.extra, "ssh_ports");
    ck_assert_int_ne(json_array_get_int_element(ports, 0), json_array_get_int_element(ports, 1));
    if (held)
        ck_assert_int_ne(json_array_get_int_element(ports, 0), want);
    proc_runtime_clear(&rt);
    close(fd);
    vm_destroy(vm);
    qv_close(c);
}
END_TEST

/* A process binds the VM's SSH port after qv found it free but before
 * QEMU bound it (another qv starting a VM of the same name, say): QEMU
 * fails on it, and the start goes on with another port. The holder waits
 * for qv.log's "starting QEMU", which comes after the port is picked. */
struct port_thief {
    char *log;
    uint16_t port;
    int fd;
    bool held;
};

static gpointer steal_port(gpointer data)
{
    struct port_thief *t = data;
    for (int i = 0; i < 20000 && !t->held; i++) {
        g_autofree char *text = NULL;
        if (g_file_get_contents(t->log, &text, NULL, NULL) && strstr(text, "starting QEMU")) {
            struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(t->port)};
            sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            t->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            t->held = bind(t->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(t->fd, 1) == 0;
            return NULL;
        }
        g_usleep(200);
    }
    return NULL;
}

START_TEST(ssh_port_taken_while_qemu_starts)
{
    guint32 h = 5381;
    for (const char *p = "sshport2"; *p; p++)
        h = h * 33 + (guint32)*p;
    struct port_thief t = {
        .log = vm_path("sshport2", "qv.log"), .port = (uint16_t)(10022 + h % 101), .fd = -1};
    struct qv_conn *c = qv_connect(uri);
    struct vm *vm = define(c, XML("sshport2"));
    GThread *th = g_thread_new("thief", steal_port, &t);
    OK(vm_start(vm));
    g_thread_join(th);
    int got = ssh_port_of("sshport2");
    /* Where QEMU bound the port first the holder lost and the start had
     * nothing to work around. */
    if (t.held) {
        ck_assert_int_ne(got, t.port);
        g_autofree char *log = NULL;
        ck_assert(g_file_get_contents(t.log, &log, NULL, NULL));
        ck_assert_msg(strstr(log, "starting again with another"), "%s", log);
    }
    char *ip = NULL;
    int port = 0;
    OK(vm_guest_ip(vm, &ip, &port));
    ck_assert_int_eq(port, got);
    qv_free(ip);
    if (t.fd >= 0)
        close(t.fd);
    g_free(t.log);
    vm_destroy(vm);
    qv_close(c);
}
END_TEST

/* A start that fails says why, also when no swtpm or virtiofsd ran whose
 * clean-up could have cleared the error (it once said "success"). */
START_TEST(failed_start_says_why)
{
    struct qv_conn *c = qv_connect(uri);
    struct vm *vm = define(c, "<domain type='qemu'><name>nostart</name><memory unit='MiB'>32"
                              "</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os>"
                              "<devices><emulator>/nonexistent/qemu</emulator></devices>"
                              "</domain>");
    ck_assert_int_lt(vm_start(vm), 0);
    ck_assert_int_ne(qv_last_error()->code, QV_OK);
    ck_assert_msg(strstr(qv_last_error()->message, "/nonexistent/qemu"), "%s",
                  qv_last_error()->message);
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_CREATED);
    vm_destroy(vm);
    qv_close(c);
}
END_TEST

/* <numatune>: the start refuses a node the host lacks, and binds the
 * unpinned vCPU threads to the node's CPUs. */
START_TEST(numa_node_binding)
{
    struct qv_conn *c = qv_connect(uri);
    struct vm *bad = define(
        c, "<domain type='qemu'><name>numa9</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>"
           "<numatune><memory mode='strict' nodeset='4095'/></numatune>"
           "<os><type arch='x86_64'>hvm</type></os></domain>");
    ck_assert_int_eq(vm_start(bad), QV_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "NUMA node 4095"));
    ck_assert_int_eq(vm_get_state(bad), VM_STATE_CREATED);
    vm_destroy(bad);

    struct vm *vm = define(
        c, "<domain type='qemu'><name>numa0</name><memory unit='MiB'>32</memory><vcpu>2</vcpu>"
           "<numatune><memory mode='strict' nodeset='0'/></numatune>"
           "<cputune><vcpupin vcpu='1' cpuset='0'/></cputune>"
           "<os><type arch='x86_64'>hvm</type></os></domain>");
    OK(vm_start(vm));
    pid_t pid = qemu_pid("numa0");
    g_autofree char *node0 = NULL;
    if (g_file_get_contents("/sys/devices/system/node/node0/cpulist", &node0, NULL, NULL)) {
        g_autofree char *a0 = vcpu_affinity(pid, 0);
        ck_assert_str_eq(a0, g_strstrip(node0));
    }
    g_autofree char *a1 = vcpu_affinity(pid, 1);
    ck_assert_str_eq(a1, "0"); /* its own pin wins */
    vm_destroy(vm);
    qv_close(c);
}
END_TEST

START_TEST(io_limits_at_start_and_live)
{
    g_autofree char *disk = g_build_filename(root, "io.raw", NULL);
    ck_assert(g_file_set_contents(disk, "", 0, NULL));
    ck_assert_int_eq(truncate(disk, 8 << 20), 0);
    g_autofree char *xml = g_strdup_printf(
        "<domain type='qemu'><name>io1</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64'>hvm</type></os><devices><disk type='file' device='disk'>"
        "<driver name='qemu' type='raw'/><source file='%s'/><target dev='vda' bus='virtio'/>"
        "<iotune><total_bytes_sec>1048576</total_bytes_sec><total_iops_sec>100</total_iops_sec>"
        "</iotune></disk></devices></domain>",
        disk);
    struct qv_conn *c = qv_connect(uri);
    struct vm *vm = define(c, xml);
    OK(vm_start(vm));
    gint64 bps, iops;
    block_limits("io1", "vda", &bps, &iops);
    ck_assert_int_eq(bps, 1048576);
    ck_assert_int_eq(iops, 100);
    OK(vm_set_io_limit(vm, "vda", 2097152, 0));
    block_limits("io1", "vda", &bps, &iops);
    ck_assert_int_eq(bps, 2097152);
    ck_assert_int_eq(iops, 0);
    char *x = vm_get_xml(vm);
    ck_assert_ptr_nonnull(strstr(x, "2097152"));
    qv_free(x);
    ck_assert_int_eq(vm_set_io_limit(vm, "vdz", 1, 1), QV_ERR_NOT_FOUND);
    /* Kept across a restart. */
    OK(vm_stop_flags(vm, VM_STOP_FORCE, 0));
    OK(vm_start(vm));
    block_limits("io1", "vda", &bps, &iops);
    ck_assert_int_eq(bps, 2097152);
    vm_destroy(vm);
    qv_close(c);
}
END_TEST

/* Low finding 4: pid, start time and command line can all be copied from
 * any process of the user into runtime.json; the process must also run the
 * QEMU binary recorded at launch, and that record must name a QEMU. A
 * record naming a live sleep is not adopted, and the sleep is left alone,
 * also when the record's "exe" is altered to name sleep's binary. */
START_TEST(record_naming_a_non_qemu_process_is_not_adopted)
{
    struct qv_conn *c = qv_connect(uri);
    struct vm *vm = define(c, XML("f1"));
    OK(vm_start(vm));
    g_autofree char *dir = g_build_filename(root, "qemu", "f1", NULL);
    struct proc_runtime real;
    ck_assert_int_eq(proc_runtime_read(dir, &real), 0);
    g_autofree char *exe = proc_exe_read(real.id.pid);
    ck_assert_ptr_nonnull(exe);
    ck_assert_str_eq(qv_json_str(real.extra, "exe"), exe);
    pid_t qpid = real.id.pid;
    OK(vm_stop_flags(vm, VM_STOP_FORCE, 0));
    ck_assert(process_gone(qpid));

    char *argv[] = {"sleep", "60", NULL};
    pid_t other;
    ck_assert_int_eq(proc_spawn(argv, NULL, &other), 0);
    struct proc_identity sid;
    ck_assert_int_eq(proc_identity_read(other, &sid), 0);
    g_autofree char *sleep_exe = proc_exe_read(other);
    ck_assert_ptr_nonnull(sleep_exe);
    for (int i = 0; i < 2; i++) {
        struct proc_runtime fake = {
            .id = {.pid = sid.pid, .start_time = sid.start_time, .cmdline = g_strdup(sid.cmdline)},
            .extra = json_object_ref(real.extra)};
        if (i == 1)
            json_object_set_string_member(fake.extra, "exe", sleep_exe);
        ck_assert_int_eq(proc_runtime_write(dir, &fake), 0);
        ck_assert(proc_identity_alive(&fake.id)); /* the forgery itself is perfect */
        proc_runtime_clear(&fake);
        struct vm_info info;
        OK(vm_get_info(vm, &info));
        ck_assert_msg(info.state != VM_STATE_RUNNING && info.state != VM_STATE_PAUSED,
                      "record %d adopted a sleep as QEMU (state %s)", i, vm_state_name(info.state));
        vm_stop_flags(vm, VM_STOP_FORCE, 0);
        qv_reset_error();
        ck_assert_msg(kill(other, 0) == 0, "record %d: the sleep was signalled", i);
        g_autofree char *log = NULL;
        g_autofree char *log_path = vm_path("f1", "qv.log");
        ck_assert(g_file_get_contents(log_path, &log, NULL, NULL));
        ck_assert_ptr_nonnull(strstr(log, "which is not this VM's QEMU"));
    }
    /* A start is not refused as already running, and runs a real QEMU. */
    OK(vm_start(vm));
    ck_assert_int_ne(qemu_pid("f1"), other);
    kill(other, SIGKILL);
    int status;
    waitpid(other, &status, 0);
    proc_identity_clear(&sid);
    proc_runtime_clear(&real);
    vm_destroy(vm);
    qv_close(c);
}
END_TEST

/* A package upgrade replaces QEMU's binary under a running VM: the kernel
 * then shows its executable as "PATH (deleted)", and it is still the VM's
 * QEMU (adopted, stoppable). Here the VM runs from a copy of QEMU that is
 * removed while it runs: PREFIX/bin/qemu-system-x86_64, with PREFIX/lib and
 * PREFIX/share linked to the real ones (QEMU finds its modules and
 * firmware relative to its executable). */
START_TEST(qemu_binary_replaced_under_a_running_vm)
{
    g_autofree char *found = g_find_program_in_path("qemu-system-x86_64");
    ck_assert_ptr_nonnull(found);
    g_autofree char *sys = realpath(found, NULL);
    ck_assert_ptr_nonnull(sys);
    g_autofree char *sys_bin = g_path_get_dirname(sys);
    g_autofree char *sys_prefix = g_path_get_dirname(sys_bin);
    g_autofree char *prefix = g_build_filename(root, "prefix", NULL);
    g_autofree char *bin = g_build_filename(prefix, "bin", NULL);
    ck_assert_int_eq(g_mkdir_with_parents(bin, 0700), 0);
    const char *const linked[] = {"lib", "share"};
    for (size_t i = 0; i < G_N_ELEMENTS(linked); i++) {
        g_autofree char *to = g_build_filename(sys_prefix, linked[i], NULL);
        g_autofree char *at = g_build_filename(prefix, linked[i], NULL);
        ck_assert_int_eq(symlink(to, at), 0);
    }
    g_autofree char *copy = g_build_filename(bin, "qemu-system-x86_64", NULL);
    g_autofree char *data = NULL;
    gsize len = 0;
    ck_assert(g_file_get_contents(sys, &data, &len, NULL));
    ck_assert(g_file_set_contents(copy, data, (gssize)len, NULL));
    ck_assert_int_eq(chmod(copy, 0755), 0);
    g_autofree char *xml = g_strdup_printf(
        "<domain type='qemu'><name>u1</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64' machine='pc'>hvm</type></os><devices><emulator>%s</emulator>"
        "</devices></domain>",
        copy);
    struct qv_conn *c = qv_connect(uri);
    struct vm *vm = define(c, xml);
    OK(vm_start(vm));
    pid_t pid = qemu_pid("u1");
    ck_assert_int_eq(unlink(copy), 0);
    g_autofree char *exe = proc_exe_read(pid);
    g_autofree char *want = g_strdup_printf("%s (deleted)", copy);
    ck_assert_str_eq(exe, want);
    vm_free(vm);
    qv_close(c);
    c = qv_connect(uri);
    vm = vm_lookup(c, "u1");
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_RUNNING);
    OK(vm_pause(vm));
    OK(vm_stop_flags(vm, VM_STOP_FORCE, 0));
    ck_assert(process_gone(pid));
    vm_destroy(vm);
    qv_close(c);
    for (size_t i = 0; i < G_N_ELEMENTS(linked); i++) {
        g_autofree char *at = g_build_filename(prefix, linked[i], NULL);
        unlink(at);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("qemu_driver");
    TCase *tc = tcase_create("driver");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, define_lookup_list);
    tcase_add_test(tc, lifecycle);
    tcase_add_test(tc, crash_is_detected);
    tcase_add_test(tc, readoption_and_pid_reuse);
    tcase_add_test(tc, start_failure_is_explained);
    tcase_add_test(tc, serial_file_receives_guest_output);
    tcase_add_test(tc, overlay_made_on_first_start);
    tcase_add_test(tc, cloud_init_seed_attached);
    tcase_add_test(tc, cloud_init_from_definition);
    tcase_add_test(tc, vnc_address_read_back);
    tcase_add_test(tc, snapshots_in_qcow2);
    tcase_add_test(tc, snapshot_jobs_report_progress);
    tcase_add_test(tc, failed_snapshot_job_is_explained);
    tcase_add_test(tc, job_left_by_a_killed_caller_is_settled);
    tcase_add_test(tc, damaged_snapshot_record_is_listed);
    tcase_add_test(tc, concurrent_starts_serialise);
    tcase_add_test(tc, cpu_pinning_and_settings);
    tcase_add_test(tc, cpu_weight_and_cap_through_cgroup);
    tcase_add_test(tc, memtune_through_cgroup);
    tcase_add_test(tc, blkiotune_through_cgroup);
    tcase_add_test(tc, partition_holds_the_vm_cgroup);
    tcase_add_test(tc, qemu_commandline_args_and_env);
    tcase_add_test(tc, clone_has_its_own_disks);
    tcase_add_test(tc, interrupted_start_orphan_is_reaped);
    tcase_add_test(tc, damaged_runtime_record_is_destroyable);
    tcase_add_test(tc, io_limits_at_start_and_live);
    tcase_add_test(tc, hot_plug_without_a_cooperating_guest);
    tcase_add_test(tc, vcpus_hot_added);
    tcase_add_test(tc, ssh_port_from_the_name);
    tcase_add_test(tc, ssh_port_taken_while_qemu_starts);
    tcase_add_test(tc, failed_start_says_why);
    tcase_add_test(tc, numa_node_binding);
    suite_add_tcase(s, tc);
    /* Whose process a runtime record names (CK_RUN_CASE=identity). */
    TCase *ident = tcase_create("identity");
    tcase_add_checked_fixture(ident, setup, teardown);
    tcase_set_timeout(ident, 120);
    tcase_add_test(ident, record_naming_a_non_qemu_process_is_not_adopted);
    tcase_add_test(ident, qemu_binary_replaced_under_a_running_vm);
    suite_add_tcase(s, ident);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
