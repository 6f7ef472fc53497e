/* lib/proc: identity, pid reuse, runtime records, pidfiles, locks, spawn. */
#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
