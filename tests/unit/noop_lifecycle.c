/* noop driver: lifecycle, the transition table as a user meets it, URIs,
 * lookup/list, wait and settings, on noop:/// (in memory). */
#include <check.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "qv/qv.h"

static struct qv_conn *conn;

static void setup(void)
{
    conn = qv_connect("noop:///");
    ck_assert_msg(conn, "noop:///: %s", qv_last_error()->message);
}

static void teardown(void)
{
    qv_close(conn);
}

#define ASSERT_ERR(call, want)                                                                     \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        ck_assert_msg(rc_ == (want), "%s returned %d (%s), expected %d", #call, rc_,               \
                      qv_last_error()->message, (want));                                           \
        ck_assert_int_eq(qv_last_error()->code, (want));                                           \
    } while (0)

#define ASSERT_OK(call) ASSERT_ERR(call, 0)

static struct vm *make(const char *name)
{
    struct vm *vm = vm_create_on(conn, name, 2, 4 << 20);
    ck_assert_msg(vm, "vm_create_on(%s): %s", name, qv_last_error()->message);
    return vm;
}

/* Bring a fresh (CREATED) VM to the wanted state by legal moves. */
static void drive(struct vm *vm, enum vm_state want)
{
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_CREATED);
    if (want != VM_STATE_CREATED)
        ASSERT_OK(vm_start(vm));
    if (want == VM_STATE_PAUSED)
        ASSERT_OK(vm_pause(vm));
    if (want == VM_STATE_STOPPED)
        ASSERT_OK(vm_stop(vm));
    ck_assert_int_eq(vm_get_state(vm), want);
}

START_TEST(test_lifecycle_happy_path)
{
    struct vm *vm = make("web01");
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_CREATED);
    ASSERT_OK(vm_start(vm));
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_RUNNING);
    ASSERT_OK(vm_pause(vm));
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_PAUSED);
    ASSERT_OK(vm_reset(vm));
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_PAUSED);
    ASSERT_OK(vm_resume(vm));
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_RUNNING);
    ASSERT_OK(vm_reset(vm));
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_RUNNING);
    ASSERT_OK(vm_stop(vm));
    struct vm_info info;
    ASSERT_OK(vm_get_info(vm, &info));
    ck_assert_int_eq(info.state, VM_STATE_STOPPED);
    ck_assert_int_eq(info.reason, VM_REASON_USER);
    ck_assert_int_eq(info.exit_status, -1);
    ck_assert_int_eq(info.max_vcpus, 2);
    ck_assert_uint_eq(info.max_memory, 4 << 20);
    ck_assert(g_uuid_string_is_valid(info.uuid));
    ASSERT_OK(vm_start(vm));
    ASSERT_OK(vm_stop_flags(vm, VM_STOP_FORCE, 0));
    ASSERT_OK(vm_get_info(vm, &info));
    ck_assert_int_eq(info.state, VM_STATE_STOPPED);
    ck_assert_int_eq(info.reason, VM_REASON_USER);
    ASSERT_ERR(vm_stop_flags(vm, 0x80, 0), QV_ERR_INVALID_STATE); /* stopped wins */
    ASSERT_OK(vm_start(vm));
    ASSERT_ERR(vm_stop_flags(vm, 0x80, 0), QV_ERR_INVALID_ARG);
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_RUNNING);
    vm_destroy(vm);
    ck_assert_int_eq(qv_last_error()->code, QV_OK);
}
END_TEST

/* Every operation in every state: allowed ones succeed with the right
 * result, refused ones fail with the exact message and change nothing. */
START_TEST(test_every_invalid_transition)
{
    static const enum vm_state states[] = {VM_STATE_CREATED, VM_STATE_RUNNING, VM_STATE_PAUSED,
                                           VM_STATE_STOPPED};
    static const struct {
        const char *verb;
        int (*fn)(struct vm *);
        unsigned allowed; /* bit per state */
        int result;       /* resulting state, -1: unchanged */
    } ops[] = {
        {"start", vm_start, 1u << VM_STATE_CREATED | 1u << VM_STATE_STOPPED, VM_STATE_RUNNING},
        {"stop", vm_stop, 1u << VM_STATE_RUNNING | 1u << VM_STATE_PAUSED, VM_STATE_STOPPED},
        {"pause", vm_pause, 1u << VM_STATE_RUNNING, VM_STATE_PAUSED},
        {"resume", vm_resume, 1u << VM_STATE_PAUSED, VM_STATE_RUNNING},
        {"reset", vm_reset, 1u << VM_STATE_RUNNING | 1u << VM_STATE_PAUSED, -1},
    };
    int refused = 0;
    for (size_t si = 0; si < G_N_ELEMENTS(states); si++) {
        for (size_t oi = 0; oi < G_N_ELEMENTS(ops); oi++) {
            struct vm *vm = make("x");
            drive(vm, states[si]);
            int rc = ops[oi].fn(vm);
            if (ops[oi].allowed & (1u << states[si])) {
                ck_assert_msg(rc == 0, "%s from %s: %s", ops[oi].verb, vm_state_name(states[si]),
                              qv_last_error()->message);
                ck_assert_int_eq(vm_get_state(vm),
                                 ops[oi].result < 0 ? states[si] : (enum vm_state)ops[oi].result);
            } else {
                g_autofree char *want = g_strdup_printf("cannot %s VM 'x': it is %s", ops[oi].verb,
                                                        vm_state_name(states[si]));
                ck_assert_int_eq(rc, QV_ERR_INVALID_STATE);
                ck_assert_int_eq(qv_last_error()->code, QV_ERR_INVALID_STATE);
                ck_assert_str_eq(qv_last_error()->message, want);
                ck_assert_int_eq(vm_get_state(vm), states[si]);
                refused++;
            }
            vm_destroy(vm);
            ck_assert_int_eq(qv_last_error()->code, QV_OK);
        }
    }
    ck_assert_int_eq(refused, 20 - 8);

    struct vm *vm = make("x");
    drive(vm, VM_STATE_STOPPED);
    ASSERT_ERR(vm_pause(vm), QV_ERR_INVALID_STATE);
    ck_assert_str_eq(qv_last_error()->message, "cannot pause VM 'x': it is stopped");
    vm_destroy(vm);
}
END_TEST

START_TEST(test_destroyed_handle)
{
    struct vm *vm = make("gone");
    struct vm *other = vm_lookup(conn, "gone");
    ck_assert_ptr_nonnull(other);
    ASSERT_OK(vm_start(vm));
    vm_destroy(vm);
    ck_assert_int_eq(qv_last_error()->code, QV_OK);
    ck_assert_int_eq(vm_get_state(other), VM_STATE_DESTROYED);
    ASSERT_ERR(vm_start(other), QV_ERR_INVALID_STATE);
    ck_assert_str_eq(qv_last_error()->message, "cannot start VM 'gone': it has been destroyed");
    ck_assert_ptr_null(vm_lookup(conn, "gone"));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "gone"));
    vm_free(other);
    /* The name is free again. */
    vm = make("gone");
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_CREATED);
    vm_destroy(vm);
}
END_TEST

START_TEST(test_define_lookup_list)
{
    struct vm *b = make("bravo"), *a = make("alpha");
    ck_assert_ptr_null(vm_create_on(conn, "alpha", 1, 1 << 20));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_EXISTS);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "alpha"));

    struct vm *again = vm_lookup(conn, "alpha");
    ck_assert_ptr_nonnull(again);
    ASSERT_OK(vm_start(again));
    ck_assert_int_eq(vm_get_state(a), VM_STATE_RUNNING);
    vm_free(again);

    char **names = NULL;
    size_t n = 0;
    ASSERT_OK(vm_list(conn, &names, &n));
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(names[0], "alpha");
    ck_assert_str_eq(names[1], "bravo");
    ck_assert_ptr_null(names[2]);
    qv_strv_free(names);

    /* Every noop:/// connection is a world of its own. */
    struct qv_conn *c2 = qv_connect("noop:///");
    ck_assert_ptr_nonnull(c2);
    ASSERT_OK(vm_list(c2, &names, &n));
    ck_assert_uint_eq(n, 0);
    qv_strv_free(names);
    ck_assert_ptr_null(vm_lookup(c2, "alpha"));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_NOT_FOUND);
    qv_close(c2);

    vm_destroy(a);
    vm_destroy(b);
    ASSERT_OK(vm_list(conn, &names, &n));
    ck_assert_uint_eq(n, 0);
    qv_strv_free(names);
}
END_TEST

START_TEST(test_uri_errors)
{
    static const struct {
        const char *uri, *names;
    } bad[] = {
        {"noop:relative/dir", "relative/dir"},
        {"noop:///?bogus=1", "bogus"},
        {"noop:///tmp/x?root=/tmp", "root"},
        {"noop://somehost/", "somehost"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        ck_assert_ptr_null(qv_connect(bad[i].uri));
        ck_assert_int_eq(qv_last_error()->code, QV_ERR_URI);
        ck_assert_msg(strstr(qv_last_error()->message, bad[i].names), "%s: '%s' lacks '%s'",
                      bad[i].uri, qv_last_error()->message, bad[i].names);
    }
    struct qv_conn *c = qv_connect("noop:///");
    ck_assert_str_eq(qv_conn_get_driver(c), "noop");
    qv_close(c);
}
END_TEST

static gpointer stop_later(gpointer data)
{
    g_usleep(100 * 1000);
    struct vm *vm = data;
    int rc = vm_stop(vm);
    return GINT_TO_POINTER(rc);
}

START_TEST(test_wait)
{
    struct vm *vm = make("w");
    ASSERT_OK(vm_wait(vm, -1)); /* created: not running, returns at once */
    ASSERT_OK(vm_start(vm));
    gint64 t0 = g_get_monotonic_time();
    ASSERT_ERR(vm_wait(vm, 50), QV_ERR_TIMEOUT);
    ck_assert_int_ge(g_get_monotonic_time() - t0, 50 * 1000);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "'w'"));
    ASSERT_OK(vm_pause(vm));
    GThread *t = g_thread_new("stopper", stop_later, vm);
    ASSERT_OK(vm_wait(vm, -1));
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_STOPPED);
    ck_assert_int_eq(GPOINTER_TO_INT(g_thread_join(t)), 0);
    vm_destroy(vm);
}
END_TEST

START_TEST(test_settings_persist)
{
    struct vm *vm = make("s");
    ASSERT_OK(vm_set_cpu_pin(vm, 1, 0));
    int pcpu = -7;
    ASSERT_OK(vm_get_cpu_pin(vm, 1, &pcpu));
    ck_assert_int_eq(pcpu, 0);
    ASSERT_OK(vm_get_cpu_pin(vm, 0, &pcpu));
    ck_assert_int_eq(pcpu, -1);
    ASSERT_ERR(vm_set_cpu_pin(vm, 5, 0), QV_ERR_NOT_FOUND);
    ASSERT_OK(vm_set_vcpus(vm, 1));
    ASSERT_ERR(vm_set_vcpus(vm, 3), QV_ERR_INVALID_ARG);
    ASSERT_OK(vm_set_memory(vm, 2 << 20));
    struct vm_info info;
    ASSERT_OK(vm_get_info(vm, &info));
    ck_assert_uint_eq(info.vcpus, 1);
    ck_assert_uint_eq(info.memory, 2 << 20);
    ck_assert_uint_eq(info.max_memory, 4 << 20);
    ASSERT_OK(vm_set_cpu_weight(vm, 512));
    ASSERT_OK(vm_set_cpu_cap(vm, 50));
    g_autofree char *xml = vm_get_xml(vm);
    ck_assert_ptr_nonnull(xml);
    ck_assert_msg(strstr(xml, "<shares>512</shares>"), "%s", xml);
    vm_destroy(vm);
}
END_TEST

/* One UUID names one VM, as in libvirt: in memory and in a directory. */
static void check_duplicate_uuid(struct qv_conn *c)
{
    const char *fmt = "<domain type='test'><name>%s</name>"
                      "<uuid>0b3c1f4e-5d6a-4b7c-8d9e-0f1a2b3c4d5e</uuid>"
                      "<memory unit='MiB'>64</memory><vcpu>1</vcpu>"
                      "<os><type arch='x86_64'>hvm</type></os></domain>";
    g_autofree char *a = g_strdup_printf(fmt, "uuid-a");
    g_autofree char *b = g_strdup_printf(fmt, "uuid-b");
    struct vm *first = vm_define_xml(c, a);
    ck_assert_msg(first, "%s", qv_last_error()->message);
    ck_assert_ptr_null(vm_define_xml(c, b));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_EXISTS);
    ck_assert_str_eq(qv_last_error()->message,
                     "cannot define VM 'uuid-b': VM 'uuid-a' already has UUID "
                     "0b3c1f4e-5d6a-4b7c-8d9e-0f1a2b3c4d5e");
    /* Once the owner is gone the UUID is free again. */
    vm_destroy(first);
    struct vm *second = vm_define_xml(c, b);
    ck_assert_msg(second, "%s", qv_last_error()->message);
    vm_destroy(second);
}

START_TEST(test_duplicate_uuid)
{
    check_duplicate_uuid(conn);
    g_autofree char *dir = g_dir_make_tmp("qv-noop-uuid-XXXXXX", NULL);
    g_autofree char *uri = g_strdup_printf("noop://%s", dir);
    struct qv_conn *dc = qv_connect(uri);
    ck_assert_msg(dc, "%s", qv_last_error()->message);
    check_duplicate_uuid(dc);
    qv_close(dc);
    g_autofree char *locks = g_build_filename(dir, ".locks", NULL);
    g_autoptr(GDir) d = g_dir_open(locks, 0, NULL);
    for (const char *e; d && (e = g_dir_read_name(d));) {
        g_autofree char *p = g_build_filename(locks, e, NULL);
        g_remove(p);
    }
    g_rmdir(locks);
    ck_assert_int_eq(g_rmdir(dir), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("noop_lifecycle");
    TCase *tc = tcase_create("lifecycle");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_lifecycle_happy_path);
    tcase_add_test(tc, test_every_invalid_transition);
    tcase_add_test(tc, test_destroyed_handle);
    tcase_add_test(tc, test_define_lookup_list);
    tcase_add_test(tc, test_uri_errors);
    tcase_add_test(tc, test_wait);
    tcase_add_test(tc, test_settings_persist);
    tcase_add_test(tc, test_duplicate_uuid);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
