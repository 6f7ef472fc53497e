#define _GNU_SOURCE
/* Helpers of the qemu argv tests (qemu_argv, qemu_argv_kept): a definition
 * parsed from a template, its argv built, and real QEMU started with it. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drivers/qemu/qemu.h"
#include "lib/conf/domain.h"
#include "lib/proc/proc.h"
#include "lib/qmp/qmp.h"
#include "lib/util/error.h"
#include "lib/util/fileio.h"
#include "unit/qemu_argv_util.h"

char *tmp;       /* per test: files QEMU opens, sockets */
GArray *spawned; /* QEMU pids, killed by teardown if a test failed */

struct qv_domain *parse(const char *xml_tmpl)
{
    /* @T@ stands for the test's temporary directory. */
    g_auto(GStrv) parts = g_strsplit(xml_tmpl, "@T@", -1);
    g_autofree char *xml = g_strjoinv(tmp, parts);
    struct qv_domain *def = qv_domain_parse_xml(xml);
    ck_assert_msg(def != NULL, "parse: %s", qv_last_error()->message);
    qv_domain_fill_defaults(def);
    ck_assert_msg(qv_domain_validate(def) == 0, "validate: %s", qv_last_error()->message);
    return def;
}

struct qemu_launch launch_for(const char *dir)
{
    struct qemu_launch l = {.dir = dir, .emulator = "qemu-system-x86_64", .paused = true};
    return l;
}

char **build(const char *xml, const struct qemu_launch *l)
{
    g_autoptr(qv_domain) def = parse(xml);
    char **argv = qemu_argv_build(def, l);
    ck_assert_msg(argv != NULL, "build: %s", qv_last_error()->message);
    return argv;
}

void build_fails(const char *xml, int code, const char *needle)
{
    g_autoptr(qv_domain) def = parse(xml);
    struct qemu_launch l = launch_for("/run/vm");
    char **argv = qemu_argv_build(def, &l);
    ck_assert_ptr_null(argv);
    ck_assert_int_eq(qv_last_error()->code, code);
    ck_assert_msg(strstr(qv_last_error()->message, needle), "'%s' not in '%s'", needle,
                  qv_last_error()->message);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "VM 'g1'"));
}

/* opt followed by val somewhere in argv. */
void has(char **argv, const char *opt, const char *val)
{
    for (char **a = argv; *a; a++)
        if (strcmp(*a, opt) == 0 && a[1] && strcmp(a[1], val) == 0)
            return;
    g_autofree char *all = g_strjoinv(" ", argv);
    ck_abort_msg("'%s %s' not in: %s", opt, val, all);
}

void lacks(char **argv, const char *opt)
{
    for (char **a = argv; *a; a++)
        ck_assert_msg(strcmp(*a, opt) != 0, "unexpected %s", opt);
}

/* Start QEMU on argv (paused, its sockets in tmp) and quit it over QMP. */
void qemu_accepts(char **argv)
{
    g_autofree char *log = g_build_filename(tmp, "qemu.log", NULL);
    g_autofree char *sock = g_build_filename(tmp, "qmp.sock", NULL);
    pid_t pid;
    ck_assert_int_eq(proc_spawn(argv, log, &pid), 0);
    g_array_append_val(spawned, pid);
    struct qmp *q = NULL;
    int status = 0;
    for (int i = 0; i < 1000 && !q; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            g_autofree char *text = NULL;
            g_file_get_contents(log, &text, NULL, NULL);
            g_autofree char *all = g_strjoinv(" ", argv);
            ck_abort_msg("QEMU refused the argv: %s\n%s", text ? text : "", all);
        }
        if (g_file_test(sock, G_FILE_TEST_EXISTS))
            q = qmp_connect(sock, "test QEMU", 10000);
        if (!q)
            g_usleep(10000);
    }
    ck_assert_msg(q != NULL, "no QMP: %s", qv_last_error()->message);
    JsonNode *ret = NULL;
    ck_assert_int_eq(qmp_command(q, "query-status", NULL, &ret, 10000), 0);
    ck_assert_str_eq(json_object_get_string_member(json_node_get_object(ret), "status"),
                     "prelaunch");
    json_node_unref(ret);
    ck_assert_int_eq(qmp_command(q, "quit", NULL, NULL, 10000), 0);
    qmp_close(q);
    ck_assert_int_eq(proc_child_wait(pid, 10000, &status), 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* QEMU parsed the options and failed only on the host resource, which
 * this machine lacks (a bridge, a PCI device). */
void qemu_parses_then_fails_on(char **argv, const char *needle)
{
    g_autofree char *log = g_build_filename(tmp, "qemu.log", NULL);
    pid_t pid;
    ck_assert_int_eq(proc_spawn(argv, log, &pid), 0);
    g_array_append_val(spawned, pid);
    int status;
    ck_assert_int_eq(proc_child_wait(pid, 20000, &status), 0);
    g_autofree char *text = NULL;
    g_file_get_contents(log, &text, NULL, NULL);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 0, "QEMU ran: %s", text);
    ck_assert_msg(strstr(text, needle), "'%s' not in QEMU's error: %s", needle, text);
    ck_assert_msg(!strstr(text, "Invalid parameter") && !strstr(text, "invalid option") &&
                      !strstr(text, "is not a valid"),
                  "QEMU rejected the syntax: %s", text);
}

void setup(void)
{
    tmp = g_dir_make_tmp("qv-argv-XXXXXX", NULL);
    spawned = g_array_new(FALSE, FALSE, sizeof(pid_t));
}

void teardown(void)
{
    for (guint i = 0; i < spawned->len; i++) {
        pid_t pid = g_array_index(spawned, pid_t, i);
        int status;
        if (waitpid(pid, &status, WNOHANG) == 0) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
        }
    }
    g_array_free(spawned, TRUE);
    qv_dir_remove_tree(tmp);
    g_free(tmp);
}

void make_image(const char *name, const char *fmt)
{
    g_autofree char *p = g_build_filename(tmp, name, NULL);
    const char *argv[] = {"qemu-img", "create", "-q", "-f", fmt, p, "16M", NULL};
    ck_assert_int_eq(qemu_run_tool(argv, NULL), 0);
}

int count_value(char **argv, const char *prefix)
{
    int n = 0;
    for (char **a = argv; *a; a++)
        n += g_str_has_prefix(*a, prefix);
    return n;
}

int run(TCase *tc)
{
    Suite *s = suite_create("qemu_argv");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
