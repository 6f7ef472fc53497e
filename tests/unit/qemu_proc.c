/* lib/proc: identity, pid reuse, runtime records, pidfiles, locks, spawn. */
#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/proc/cgroup.h"
#include "lib/proc/proc.h"
#include "lib/util/error.h"
#include "lib/util/fileio.h"

static char *tmpdir(void)
{
    return g_dir_make_tmp("qv-proc-XXXXXX", NULL);
}

START_TEST(identity_tells_reused_pid_apart)
{
    char *argv[] = {"sleep", "30", NULL};
    pid_t pid;
    ck_assert_int_eq(proc_spawn(argv, NULL, &pid), 0);
    struct proc_identity id;
    ck_assert_int_eq(proc_identity_read(pid, &id), 0);
    ck_assert_str_eq(id.cmdline, "sleep 30");
    ck_assert_uint_gt(id.start_time, 0);
    ck_assert(proc_identity_alive(&id));

    /* The same pid with another start time or command line is another
     * process: a reused pid. */
    struct proc_identity other = {
        .pid = pid, .start_time = id.start_time + 1, .cmdline = id.cmdline};
    ck_assert(!proc_identity_alive(&other));
    ck_assert_int_eq(proc_kill(&other, SIGKILL), QV_ERR_NOT_FOUND);
    other.start_time = id.start_time;
    other.cmdline = "sleep 31";
    ck_assert(!proc_identity_alive(&other));

    ck_assert_int_eq(proc_kill(&id, SIGKILL), 0);
    /* Our own child stays a zombie (never reaped by libqv): it counts as
     * gone. */
    ck_assert_int_eq(proc_wait_gone(&id, 5000), 0);
    ck_assert(!proc_identity_alive(&id));
    ck_assert_int_eq(proc_identity_read(pid, &other), QV_ERR_NOT_FOUND);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    proc_identity_clear(&id);
}
END_TEST

START_TEST(spawn_redirects_and_reports)
{
    g_autofree char *dir = tmpdir();
    g_autofree char *log = g_build_filename(dir, "out.log", NULL);
    /* No shell: the metacharacters reach the program as they are. */
    char *argv[] = {"/bin/echo", "a;b", "$(x)", NULL};
    pid_t pid;
    ck_assert_int_eq(proc_spawn(argv, log, &pid), 0);
    int status;
    ck_assert_int_eq(proc_child_wait(pid, 5000, &status), 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    g_autofree char *text = NULL;
    ck_assert(g_file_get_contents(log, &text, NULL, NULL));
    ck_assert_str_eq(text, "a;b $(x)\n");
    struct stat st;
    ck_assert_int_eq(stat(log, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);

    char *bad[] = {"/nonexistent/qemu", NULL};
    ck_assert_int_lt(proc_spawn(bad, log, &pid), 0);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "/nonexistent/qemu"));
    char *empty[] = {NULL};
    ck_assert_int_eq(proc_spawn(empty, log, &pid), QV_ERR_INVALID_ARG);

    char *slow[] = {"sleep", "5", NULL};
    ck_assert_int_eq(proc_spawn(slow, NULL, &pid), 0);
    ck_assert_int_eq(proc_child_wait(pid, 50, &status), QV_ERR_TIMEOUT);
    kill(pid, SIGKILL);
    ck_assert_int_eq(proc_child_wait(pid, 5000, &status), 0);
    qv_dir_remove_tree(dir);
}
END_TEST

/* A preload the caller put into itself (a sanitizer, a profiler) must not
 * reach QEMU: QEMU hung under a preloaded ASan runtime. */
START_TEST(spawn_drops_the_callers_preload)
{
    g_autofree char *dir = tmpdir();
    g_autofree char *log = g_build_filename(dir, "env.log", NULL);
    setenv("LD_PRELOAD", "/nonexistent/qv-test-preload.so", 1);
    setenv("QV_TEST_KEPT", "yes", 1);
    char *argv[] = {"/usr/bin/env", NULL};
    pid_t pid;
    int rc = proc_spawn(argv, log, &pid);
    unsetenv("LD_PRELOAD");
    ck_assert_int_eq(rc, 0);
    int status;
    ck_assert_int_eq(proc_child_wait(pid, 5000, &status), 0);
    g_autofree char *text = NULL;
    ck_assert(g_file_get_contents(log, &text, NULL, NULL));
    ck_assert_ptr_null(strstr(text, "LD_PRELOAD"));
    ck_assert_ptr_null(strstr(text, "qv-test-preload"));
    ck_assert_ptr_nonnull(strstr(text, "QV_TEST_KEPT=yes"));
    unsetenv("QV_TEST_KEPT");
    qv_dir_remove_tree(dir);
}
END_TEST

START_TEST(runtime_round_trip_and_bad_files)
{
    g_autofree char *dir = tmpdir();
    struct proc_runtime rt = {.id = {.pid = 1234,
                                     .start_time = 987654321,
                                     .cmdline = g_strdup("qemu-system-x86_64 -name x")}};
    rt.extra = json_object_new();
    json_object_set_int_member(rt.extra, "ssh_port", 2222);
    ck_assert_int_eq(proc_runtime_write(dir, &rt), 0);
    struct proc_runtime back;
    ck_assert_int_eq(proc_runtime_read(dir, &back), 0);
    ck_assert_int_eq(back.id.pid, 1234);
    ck_assert_uint_eq(back.id.start_time, 987654321);
    ck_assert_str_eq(back.id.cmdline, "qemu-system-x86_64 -name x");
    ck_assert_int_eq(json_object_get_int_member(back.extra, "ssh_port"), 2222);
    ck_assert_ptr_null(back.cgroup);
    proc_runtime_clear(&back);
    rt.cgroup = g_strdup("/sys/fs/cgroup/cpu/qv/qemu-x-12345678");
    ck_assert_int_eq(proc_runtime_write(dir, &rt), 0);
    ck_assert_int_eq(proc_runtime_read(dir, &back), 0);
    ck_assert_str_eq(back.cgroup, rt.cgroup);
    ck_assert_ptr_null(back.cgroups);
    proc_runtime_clear(&back);
    /* The groups in other v1 hierarchies (<memtune>). */
    const char *more[] = {"/sys/fs/cgroup/memory/qv/qemu-x-12345678", NULL};
    rt.cgroups = g_strdupv((char **)more);
    ck_assert_int_eq(proc_runtime_write(dir, &rt), 0);
    ck_assert_int_eq(proc_runtime_read(dir, &back), 0);
    ck_assert_int_eq(g_strv_length(back.cgroups), 1);
    ck_assert_str_eq(back.cgroups[0], more[0]);
    proc_runtime_clear(&back);
    proc_runtime_clear(&rt);

    g_autofree char *path = g_build_filename(dir, "runtime.json", NULL);
    const char *bad[] = {"", "[1]", "{\"pid\": \"12\", \"start_time\": 1, \"cmdline\": \"x\"}",
                         "{\"pid\": -5, \"start_time\": 1, \"cmdline\": \"x\"}",
                         "{\"pid\": 99999999999, \"start_time\": 1, \"cmdline\": \"x\"}"};
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        ck_assert(g_file_set_contents(path, bad[i], -1, NULL));
        ck_assert_int_eq(proc_runtime_read(dir, &back), QV_ERR_JSON);
        ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "runtime.json"));
    }
    ck_assert_int_eq(proc_runtime_remove(dir), 0);
    ck_assert_int_eq(proc_runtime_read(dir, &back), QV_ERR_NOT_FOUND);
    qv_dir_remove_tree(dir);
}
END_TEST

START_TEST(pidfiles)
{
    g_autofree char *dir = tmpdir();
    g_autofree char *path = g_build_filename(dir, "x.pid", NULL);
    pid_t pid;
    ck_assert(g_file_set_contents(path, "4321\n", -1, NULL));
    ck_assert_int_eq(proc_pidfile_read(path, &pid), 0);
    ck_assert_int_eq(pid, 4321);
    const char *bad[] = {"", "abc\n", "12x\n", "-3\n", "0\n", "99999999999\n"};
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        ck_assert(g_file_set_contents(path, bad[i], -1, NULL));
        ck_assert_int_eq(proc_pidfile_read(path, &pid), QV_ERR_PROTOCOL);
    }
    unlink(path);
    ck_assert_int_eq(proc_pidfile_read(path, &pid), QV_ERR_NOT_FOUND);
    /* Neither a FIFO (which would block) nor an endless device is read. */
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    ck_assert_int_eq(proc_pidfile_read(path, &pid), QV_ERR_IO);
    unlink(path);
    ck_assert_int_eq(symlink("/dev/zero", path), 0);
    ck_assert_int_eq(proc_pidfile_read(path, &pid), QV_ERR_IO);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "not a regular file"));
    unlink(path);
    qv_dir_remove_tree(dir);
}
END_TEST

START_TEST(locks_serialise_callers)
{
    g_autofree char *dir = tmpdir();
    int a = proc_lock(dir, "qemu", "web01", 1000);
    ck_assert_int_ge(a, 0);
    struct stat st;
    g_autofree char *kind = g_build_filename(dir, "qemu", NULL);
    ck_assert_int_eq(stat(kind, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0700);
    /* Another open file description, as another process would have. */
    ck_assert_int_eq(proc_lock(dir, "qemu", "web01", 50), QV_ERR_BUSY);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "VM 'web01' is busy"));
    int other = proc_lock(dir, "qemu", "web02", 50);
    ck_assert_int_ge(other, 0);
    proc_unlock(other);
    proc_unlock(a);
    a = proc_lock(dir, "qemu", "web01", 50);
    ck_assert_int_ge(a, 0);
    proc_unlock(a);
    qv_dir_remove_tree(dir);
}
END_TEST

START_TEST(log_and_cleanup)
{
    g_autofree char *dir = tmpdir();
    proc_log(dir, "step %d", 1);
    proc_log(dir, "step %d", 2);
    g_autofree char *log = g_build_filename(dir, "qv.log", NULL);
    g_autofree char *text = NULL;
    ck_assert(g_file_get_contents(log, &text, NULL, NULL));
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    ck_assert_uint_eq(g_strv_length(lines), 3);
    ck_assert(g_str_has_suffix(lines[1], "Z step 2"));
    g_autofree char *sock = g_build_filename(dir, "qmp.sock", NULL);
    g_autofree char *keep = g_build_filename(dir, "disk.img", NULL);
    ck_assert(g_file_set_contents(sock, "", 0, NULL));
    ck_assert(g_file_set_contents(keep, "", 0, NULL));
    proc_cleanup_runtime(dir);
    ck_assert(!g_file_test(sock, G_FILE_TEST_EXISTS));
    ck_assert(g_file_test(keep, G_FILE_TEST_EXISTS));
    qv_dir_remove_tree(dir);
}
END_TEST

/* A hybrid host (v1 controllers, an empty unified hierarchy: this
 * project's CI machine), a delegated v2 host, and a container whose
 * hierarchy is mounted from a sub-tree. */
START_TEST(cgroup_located_from_proc_files)
{
    const char *hybrid_mi =
        "30 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n"
        "31 30 0:27 / /sys/fs/cgroup/unified rw,relatime shared:10 - cgroup2 cgroup2 rw\n"
        "33 30 0:29 / /sys/fs/cgroup/cpu rw,relatime shared:12 - cgroup cgroup rw,cpu\n"
        "34 30 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
        "35 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n";
    const char *hybrid_cg = "4:memory:/some/job\n3:cpuacct:/\n1:cpu:/user.slice\n0::/user.slice\n";
    struct proc_cgroup_host h;
    proc_cgroup_locate(hybrid_mi, hybrid_cg, &h);
    ck_assert_str_eq(h.v1_dir, "/sys/fs/cgroup/cpu/user.slice");
    ck_assert_str_eq(h.v2_dir, "/sys/fs/cgroup/unified/user.slice");
    proc_cgroup_host_clear(&h);

    const char *v2_mi = "29 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 "
                        "rw,nsdelegate,memory_recursiveprot\n";
    const char *v2_cg = "0::/user.slice/user-1000.slice/user@1000.service/app.slice/qv.scope\n";
    proc_cgroup_locate(v2_mi, v2_cg, &h);
    ck_assert_ptr_null(h.v1_dir);
    ck_assert_str_eq(h.v2_dir, "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/"
                               "app.slice/qv.scope");
    proc_cgroup_host_clear(&h);

    /* A mount of /docker/abc at /sys/fs/cgroup, with an escaped blank. */
    const char *ct_mi = "40 30 0:26 /docker/abc /sys/fs/cgroup\\040x rw - cgroup2 cgroup2 rw\n"
                        "garbage without the separator\n";
    proc_cgroup_locate(ct_mi, "0::/docker/abc/inner\n", &h);
    ck_assert_str_eq(h.v2_dir, "/sys/fs/cgroup x/inner");
    proc_cgroup_host_clear(&h);

    proc_cgroup_locate("", "", &h);
    ck_assert_ptr_null(h.v1_dir);
    ck_assert_ptr_null(h.v2_dir);
    proc_cgroup_locate(NULL, NULL, &h);
    ck_assert_ptr_null(h.v2_dir);
}
END_TEST

static const char *value_of(const struct proc_cgroup_file *f, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(f[i].name, name) == 0)
            return f[i].value;
    return NULL;
}

START_TEST(cgroup_cpu_values)
{
    struct proc_cgroup_file f[3];
    /* v1: the kernel's normal 1024 shares is qv's 256; a 30 % cap per vCPU
     * of a 2-vCPU VM is 60 % of one CPU for the group. */
    int n = proc_cgroup_cpu_files(PROC_CGROUP_V1, 512, 30, 2, f);
    ck_assert_int_eq(n, 3);
    ck_assert_str_eq(value_of(f, n, "cpu.shares"), "2048");
    ck_assert_str_eq(value_of(f, n, "cpu.cfs_period_us"), "100000");
    ck_assert_str_eq(value_of(f, n, "cpu.cfs_quota_us"), "60000");
    n = proc_cgroup_cpu_files(PROC_CGROUP_V1, 0, 0, 4, f);
    ck_assert_str_eq(value_of(f, n, "cpu.shares"), "1024");
    ck_assert_str_eq(value_of(f, n, "cpu.cfs_quota_us"), "-1");
    n = proc_cgroup_cpu_files(PROC_CGROUP_V1, 65535, 100, 1, f);
    ck_assert_str_eq(value_of(f, n, "cpu.shares"), "262140");

    /* v2: normal is 100. */
    n = proc_cgroup_cpu_files(PROC_CGROUP_V2, 512, 30, 2, f);
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(value_of(f, n, "cpu.weight"), "200");
    ck_assert_str_eq(value_of(f, n, "cpu.max"), "60000 100000");
    n = proc_cgroup_cpu_files(PROC_CGROUP_V2, 1, 0, 1, f);
    ck_assert_str_eq(value_of(f, n, "cpu.weight"), "1");
    ck_assert_str_eq(value_of(f, n, "cpu.max"), "max 100000");
    n = proc_cgroup_cpu_files(PROC_CGROUP_V2, 25600, 0, 1, f);
    ck_assert_str_eq(value_of(f, n, "cpu.weight"), "10000");
    /* More than cpu.weight can say is refused, not clamped. */
    ck_assert_int_eq(proc_cgroup_cpu_files(PROC_CGROUP_V2, 30000, 0, 1, f), QV_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "cgroup v2"));
    ck_assert_int_eq(proc_cgroup_cpu_files(PROC_CGROUP_NONE, 512, 0, 1, f), QV_ERR_UNSUPPORTED);
}
END_TEST

/* <memtune> as the memory controller's files, per version. */
START_TEST(cgroup_memory_values)
{
    struct proc_cgroup_file f[3];
    struct proc_cgroup_memory m = {
        .hard_kib = 524288, .soft_kib = 262144, .swap_hard_kib = 1048576};
    int n = proc_cgroup_memory_files(PROC_CGROUP_V1, &m, true, f);
    ck_assert_int_eq(n, 3);
    /* The memory limit first: memsw may not be below it. */
    ck_assert_str_eq(f[0].name, "memory.limit_in_bytes");
    ck_assert_str_eq(f[0].value, "536870912");
    ck_assert_str_eq(value_of(f, n, "memory.memsw.limit_in_bytes"), "1073741824");
    ck_assert_str_eq(value_of(f, n, "memory.soft_limit_in_bytes"), "268435456");
    n = proc_cgroup_memory_files(PROC_CGROUP_V2, &m, true, f);
    ck_assert_int_eq(n, 3);
    ck_assert_str_eq(value_of(f, n, "memory.max"), "536870912");
    ck_assert_str_eq(value_of(f, n, "memory.swap.max"), "536870912"); /* swap alone */
    ck_assert_str_eq(value_of(f, n, "memory.high"), "268435456");
    /* libvirt's "unlimited" (2^53-1 KiB). */
    struct proc_cgroup_memory u = {.hard_kib = 9007199254740991ULL};
    n = proc_cgroup_memory_files(PROC_CGROUP_V1, &u, false, f);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(f[0].value, "-1");
    n = proc_cgroup_memory_files(PROC_CGROUP_V2, &u, false, f);
    ck_assert_str_eq(f[0].value, "max");
    /* No swap accounting, a swap limit below the memory limit, v2 swap
     * without a memory limit: refused, saying why. */
    ck_assert_int_eq(proc_cgroup_memory_files(PROC_CGROUP_V1, &m, false, f), QV_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "memory.memsw.limit_in_bytes"));
    struct proc_cgroup_memory low = {.hard_kib = 2048, .swap_hard_kib = 1024};
    ck_assert_int_eq(proc_cgroup_memory_files(PROC_CGROUP_V1, &low, true, f), QV_ERR_INVALID_ARG);
    struct proc_cgroup_memory swap_only = {.swap_hard_kib = 1024};
    ck_assert_int_eq(proc_cgroup_memory_files(PROC_CGROUP_V2, &swap_only, true, f),
                     QV_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "needs a hard_limit"));
    ck_assert_int_eq(proc_cgroup_memory_files(PROC_CGROUP_NONE, &m, true, f), QV_ERR_UNSUPPORTED);
}
END_TEST

/* <blkiotune> as the blkio (v1) or io (v2) controller's files. */
START_TEST(cgroup_blkio_values)
{
    struct proc_cgroup_blkio_dev devs[] = {
        {.major = 8, .minor = 0, .weight = 500, .read_bps = 1048576, .write_iops = 200},
        {.major = 254, .minor = 16, .write_bps = 4096, .read_iops = 10}};
    struct proc_cgroup_blkio b = {.weight = 800, .devs = devs, .ndevs = 2};
    g_autoptr(GArray) f = g_array_new(FALSE, TRUE, sizeof(struct proc_cgroup_file));
    int n = proc_cgroup_blkio_files(PROC_CGROUP_V1, &b, "blkio.weight", f);
    ck_assert_int_eq(n, 6);
    const struct proc_cgroup_file *v = (const struct proc_cgroup_file *)(void *)f->data;
    ck_assert_str_eq(value_of(v, n, "blkio.weight"), "800");
    ck_assert_str_eq(value_of(v, n, "blkio.weight_device"), "8:0 500");
    ck_assert_str_eq(value_of(v, n, "blkio.throttle.read_bps_device"), "8:0 1048576");
    ck_assert_str_eq(value_of(v, n, "blkio.throttle.write_iops_device"), "8:0 200");
    ck_assert_str_eq(value_of(v, n, "blkio.throttle.write_bps_device"), "254:16 4096");
    ck_assert_str_eq(value_of(v, n, "blkio.throttle.read_iops_device"), "254:16 10");
    /* BFQ's files where CFQ's are missing. */
    g_array_set_size(f, 0);
    n = proc_cgroup_blkio_files(PROC_CGROUP_V1, &b, "blkio.bfq.weight", f);
    v = (const struct proc_cgroup_file *)(void *)f->data;
    ck_assert_str_eq(value_of(v, n, "blkio.bfq.weight"), "800");
    ck_assert_str_eq(value_of(v, n, "blkio.bfq.weight_device"), "8:0 500");
    /* v2: io.weight with "default", io.max one key at a time. */
    g_array_set_size(f, 0);
    n = proc_cgroup_blkio_files(PROC_CGROUP_V2, &b, "io.weight", f);
    ck_assert_int_eq(n, 6);
    v = (const struct proc_cgroup_file *)(void *)f->data;
    ck_assert_str_eq(v[0].name, "io.weight");
    ck_assert_str_eq(v[0].value, "default 800");
    ck_assert_str_eq(v[1].value, "8:0 500");
    ck_assert_str_eq(v[2].name, "io.max");
    ck_assert_str_eq(v[2].value, "8:0 rbps=1048576");
    ck_assert_str_eq(v[3].value, "8:0 wiops=200");
    ck_assert_str_eq(v[4].value, "254:16 wbps=4096");
    /* A weight on a host whose scheduler has none: refused naming the files. */
    g_array_set_size(f, 0);
    ck_assert_int_eq(proc_cgroup_blkio_files(PROC_CGROUP_V1, &b, NULL, f), QV_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(
        strstr(qv_last_error()->message, "neither blkio.weight nor blkio.bfq.weight"));
    /* Limits alone need no weight file. */
    struct proc_cgroup_blkio_dev lim = {.major = 7, .minor = 0, .read_bps = 1};
    struct proc_cgroup_blkio only = {.devs = &lim, .ndevs = 1};
    ck_assert_int_eq(proc_cgroup_blkio_files(PROC_CGROUP_V1, &only, NULL, f), 1);
}
END_TEST

/* A runtime record can be edited by hand: only a group named qv/<leaf> in
 * a cgroup file system is ever removed. */
START_TEST(cgroup_remove_refuses_other_directories)
{
    g_autofree char *dir = tmpdir();
    g_autofree char *qv = g_build_filename(dir, "qv", NULL);
    g_autofree char *victim = g_build_filename(qv, "victim", NULL);
    ck_assert_int_eq(g_mkdir_with_parents(victim, 0700), 0);
    proc_cgroup_remove(victim, dir);
    ck_assert(g_file_test(victim, G_FILE_TEST_IS_DIR));
    g_autofree char *log = g_build_filename(dir, "qv.log", NULL);
    g_autofree char *text = NULL;
    ck_assert(g_file_get_contents(log, &text, NULL, NULL));
    ck_assert_ptr_nonnull(strstr(text, "not a qv cgroup"));
    ck_assert_int_eq(proc_cgroup_check_recorded(victim, ""), QV_ERR_PERMISSION);
    ck_assert_int_eq(proc_cgroup_check_recorded(NULL, ""), QV_ERR_PERMISSION);

    /* A real cgroup file system reached through a link named qv: refused
     * although statfs, which follows links, sees a cgroup there. */
    const char *cg = NULL;
    if (proc_cgroup_version_of("/sys/fs/cgroup/cpu") == PROC_CGROUP_V1)
        cg = "/sys/fs/cgroup/cpu";
    else if (proc_cgroup_version_of("/sys/fs/cgroup") == PROC_CGROUP_V2)
        cg = "/sys/fs/cgroup";
    if (cg && access(cg, W_OK) == 0) {
        g_autofree char *linkdir = g_build_filename(dir, "l", NULL);
        g_autofree char *link = g_build_filename(linkdir, "qv", NULL);
        ck_assert_int_eq(g_mkdir_with_parents(linkdir, 0700), 0);
        ck_assert_int_eq(symlink(cg, link), 0);
        g_autofree char *leaf = g_strdup_printf("qv-test-%d", (int)getpid());
        g_autofree char *real_qv = g_build_filename(cg, "qv", NULL);
        g_autofree char *real = g_build_filename(real_qv, leaf, NULL);
        g_autofree char *via_link = g_build_filename(linkdir, "qv", "..", "qv", leaf, NULL);
        g_mkdir_with_parents(real, 0755);
        ck_assert(g_file_test(real, G_FILE_TEST_IS_DIR));
        ck_assert_int_eq(proc_cgroup_check_recorded(real, "qv-test-"), 0);
        ck_assert_int_eq(proc_cgroup_check_recorded(real, "qemu-"), QV_ERR_PERMISSION);
        ck_assert_int_eq(proc_cgroup_check_recorded(via_link, ""), QV_ERR_PERMISSION);
        g_autofree char *sneaky = g_build_filename(link, leaf, NULL); /* not under a real qv/ */
        ck_assert_int_eq(proc_cgroup_check_recorded(sneaky, ""), QV_ERR_PERMISSION);
        proc_cgroup_remove(sneaky, dir);
        ck_assert(g_file_test(real, G_FILE_TEST_IS_DIR));
        proc_cgroup_remove(real, dir);
        ck_assert(!g_file_test(real, G_FILE_TEST_EXISTS));
    }
    qv_dir_remove_tree(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("qemu_proc");
    TCase *tc = tcase_create("proc");
    tcase_add_test(tc, identity_tells_reused_pid_apart);
    tcase_add_test(tc, spawn_redirects_and_reports);
    tcase_add_test(tc, spawn_drops_the_callers_preload);
    tcase_add_test(tc, runtime_round_trip_and_bad_files);
    tcase_add_test(tc, pidfiles);
    tcase_add_test(tc, locks_serialise_callers);
    tcase_add_test(tc, log_and_cleanup);
    tcase_add_test(tc, cgroup_located_from_proc_files);
    tcase_add_test(tc, cgroup_cpu_values);
    tcase_add_test(tc, cgroup_memory_values);
    tcase_add_test(tc, cgroup_blkio_values);
    tcase_add_test(tc, cgroup_remove_refuses_other_directories);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
