/* lib/proc/landlock.h on the running kernel: a forked child enters a
 * ruleset and tries what it grants and what it does not; it reports the
 * first step that went wrong by its exit status. Skips (77) where the
 * kernel has no Landlock. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/proc/landlock.h"
#include "lib/util/error.h"

static char *tmpdir, *granted, *other, *readable;

static void setup(void)
{
    tmpdir = g_dir_make_tmp("qv-landlock-XXXXXX", NULL);
    ck_assert_ptr_nonnull(tmpdir);
    granted = g_build_filename(tmpdir, "granted", NULL);
    other = g_build_filename(tmpdir, "other", NULL);
    readable = g_build_filename(tmpdir, "readable", NULL);
    ck_assert_int_eq(mkdir(granted, 0700), 0);
    ck_assert_int_eq(mkdir(other, 0700), 0);
    ck_assert(g_file_set_contents(readable, "r\n", -1, NULL));
}

static void teardown(void)
{
    const char *leftovers[] = {"granted/made", "granted/sub", "other/made"};
    for (size_t i = 0; i < G_N_ELEMENTS(leftovers); i++) {
        g_autofree char *p = g_build_filename(tmpdir, leftovers[i], NULL);
        remove(p);
    }
    remove(granted);
    remove(other);
    remove(readable);
    rmdir(tmpdir);
    g_free(granted);
    g_free(other);
    g_free(readable);
    g_free(tmpdir);
}

static int open_errno(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno;
    close(fd);
    return 0;
}

static int tcp_errno(bool bind_it, uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int rc = bind_it ? bind(fd, (struct sockaddr *)&sa, sizeof(sa))
                     : connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    int e = rc < 0 ? errno : 0;
    close(fd);
    return e;
}

/* A free loopback port, found before the child confines itself. */
static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static int child_status(pid_t pid)
{
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st), "child killed by signal %d", WTERMSIG(st));
    return WEXITSTATUS(st);
}

START_TEST(test_confines_to_the_rules)
{
    int abi = proc_landlock_abi();
    uint16_t port = free_port(), port2 = free_port();
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct proc_landlock_rules *r = proc_landlock_rules_new("test");
        proc_landlock_allow(r, granted, PROC_LL_TREE, "a tree of its own");
        /* Directory rights on a file are dropped, not refused. */
        proc_landlock_allow(r, readable, PROC_LL_READ | PROC_LL_MAKE_REG, "one file, read");
        proc_landlock_allow(r, "/nonexistent/qv-landlock", PROC_LL_READ, "skipped");
        proc_landlock_allow_bind(r, port);
        int rc = proc_landlock_enter(r);
        proc_landlock_rules_free(r);
        if (rc != abi) {
            fprintf(stderr, "enter: %d: %s\n", rc, qv_last_error()->message);
            _exit(10);
        }
        g_autofree char *made = g_build_filename(granted, "made", NULL);
        g_autofree char *made_other = g_build_filename(other, "made", NULL);
        g_autofree char *sub = g_build_filename(granted, "sub", NULL);
        if (open_errno(made, O_WRONLY | O_CREAT | O_EXCL) != 0 || open_errno(made, O_RDWR) != 0)
            _exit(11);
        if (mkdir(sub, 0700) != 0 || rmdir(sub) != 0)
            _exit(12);
        if (open_errno(readable, O_RDONLY) != 0 || open_errno(readable, O_WRONLY) != EACCES)
            _exit(13);
        if (open_errno(made_other, O_WRONLY | O_CREAT | O_EXCL) != EACCES)
            _exit(14);
        if (open_errno("/etc/passwd", O_RDONLY) != EACCES)
            _exit(15);
        /* No program: executing is handled and granted nowhere. */
        execl("/bin/true", "true", (char *)NULL);
        if (errno != EACCES)
            _exit(16);
        /* Moving a file out of its tree is a reparenting (REFER). */
        if (rename(made, made_other) == 0)
            _exit(17);
        if (abi >= 4) {
            if (tcp_errno(true, port) != 0 || tcp_errno(true, port2) != EACCES)
                _exit(18);
            if (tcp_errno(false, port) != EACCES)
                _exit(19);
        }
        _exit(0);
    }
    ck_assert_int_eq(child_status(pid), 0);
}
END_TEST

/* connect_any leaves TCP connect alone (user networking), bind still
 * limited. */
START_TEST(test_connect_any)
{
    if (proc_landlock_abi() < 4)
        return; /* no network rules before ABI 4: nothing to tell apart */
    int srv = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    ck_assert_int_eq(bind(srv, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(srv, 1), 0);
    ck_assert_int_eq(getsockname(srv, (struct sockaddr *)&sa, &len), 0);
    uint16_t port = ntohs(sa.sin_port), other = free_port();
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct proc_landlock_rules *r = proc_landlock_rules_new("test");
        r->connect_any = true;
        if (proc_landlock_enter(r) <= 0)
            _exit(10);
        if (tcp_errno(false, port) != 0)
            _exit(11);
        if (tcp_errno(true, other) != EACCES)
            _exit(12);
        _exit(0);
    }
    ck_assert_int_eq(child_status(pid), 0);
    close(srv);
}
END_TEST

static void *idle(void *arg)
{
    int *fds = arg;
    char c;
    (void)!read(fds[0], &c, 1);
    return NULL;
}

/* A thread running already would stay outside the domain: refused, and
 * nothing is enforced. */
START_TEST(test_refused_with_other_threads)
{
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fds[2];
        pthread_t t;
        if (pipe(fds) != 0 || pthread_create(&t, NULL, idle, fds) != 0)
            _exit(10);
        struct proc_landlock_rules *r = proc_landlock_rules_new("test");
        int rc = proc_landlock_enter(r);
        proc_landlock_rules_free(r);
        if (rc >= 0 || !strstr(qv_last_error()->message, "2 threads run already"))
            _exit(11);
        if (open_errno("/etc/passwd", O_RDONLY) != 0)
            _exit(12);
        (void)!write(fds[1], "x", 1);
        pthread_join(t, NULL);
        _exit(0);
    }
    ck_assert_int_eq(child_status(pid), 0);
}
END_TEST

int main(void)
{
    if (proc_landlock_abi() == 0) {
        fprintf(stderr, "this kernel has no Landlock: skipped\n");
        return 77;
    }
    Suite *s = suite_create("proc_landlock");
    TCase *tc = tcase_create("landlock");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_confines_to_the_rules);
    tcase_add_test(tc, test_connect_any);
    tcase_add_test(tc, test_refused_with_other_threads);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
