/* noop driver, directory mode (noop:///ABS/DIR): one world seen from
 * several connections and processes, with atomic files. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qv/qv.h"

#define ASSERT_ERR(call, want)                                                                     \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        ck_assert_msg(rc_ == (want), "%s returned %d (%s), expected %d", #call, rc_,               \
                      qv_last_error()->message, (want));                                           \
    } while (0)
#define ASSERT_OK(call) ASSERT_ERR(call, 0)

static char *base;  /* a fresh temporary directory per test */
static char *world; /* base/world: the noop directory, created by the driver */
static char *uri;

static void setup(void)
{
    base = g_dir_make_tmp("qv-noop-XXXXXX", NULL);
    ck_assert_ptr_nonnull(base);
    world = g_build_filename(base, "world", NULL);
    uri = g_strconcat("noop://", world, NULL);
}

static int rm_one(const char *path)
{
    GDir *d = g_dir_open(path, 0, NULL);
    if (d) {
        const char *e;
        while ((e = g_dir_read_name(d))) {
            g_autofree char *p = g_build_filename(path, e, NULL);
            rm_one(p);
        }
        g_dir_close(d);
        return g_rmdir(path);
    }
    return g_unlink(path);
}

static void teardown(void)
{
    rm_one(base);
    g_free(uri);
    g_free(world);
    g_free(base);
}

static struct qv_conn *open_world(void)
{
    struct qv_conn *c = qv_connect(uri);
    ck_assert_msg(c, "%s: %s", uri, qv_last_error()->message);
    return c;
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    ck_assert_msg(lstat(path, &st) == 0, "%s: %s", path, g_strerror(errno));
    return st.st_mode & 07777;
}

/* Names left behind by an interrupted or failed write: temporary
 * directories (.tmp-*) and files (.name.XXXXXX). */
static void find_leftovers(const char *dir, GString *out)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    if (!d)
        return;
    const char *e;
    while ((e = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(dir, e, NULL);
        if (e[0] == '.' && strcmp(e, ".locks") != 0)
            g_string_append_printf(out, "%s ", p);
        if (g_file_test(p, G_FILE_TEST_IS_DIR) && !g_file_test(p, G_FILE_TEST_IS_SYMLINK))
            find_leftovers(p, out);
    }
    g_dir_close(d);
}

static void assert_no_leftovers(void)
{
    g_autoptr(GString) s = g_string_new(NULL);
    find_leftovers(world, s);
    ck_assert_msg(s->len == 0, "left behind: %s", s->str);
}

static uint64_t bytes_on_disk(const char *dir)
{
    uint64_t total = 0;
    GDir *d = g_dir_open(dir, 0, NULL);
    ck_assert_ptr_nonnull(d);
    const char *e;
    while ((e = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(dir, e, NULL);
        struct stat st;
        ck_assert_int_eq(lstat(p, &st), 0);
        total += (uint64_t)st.st_blocks * 512;
    }
    g_dir_close(d);
    return total;
}

START_TEST(test_layout_and_second_connection)
{
    struct qv_conn *a = open_world(), *b = open_world();
    ck_assert_uint_eq(mode_of(world), 0700);
    struct vm *va = vm_create_on(a, "web", 2, 1 << 20);
    ck_assert_msg(va, "%s", qv_last_error()->message);

    g_autofree char *vmdir = g_build_filename(world, "web", NULL);
    g_autofree char *xml = g_build_filename(vmdir, "domain.xml", NULL);
    g_autofree char *state = g_build_filename(vmdir, "state.json", NULL);
    ck_assert_uint_eq(mode_of(vmdir), 0700);
    ck_assert_uint_eq(mode_of(xml), 0600);
    ck_assert_uint_eq(mode_of(state), 0600);

    struct vm *vb = vm_lookup(b, "web");
    ck_assert_msg(vb, "%s", qv_last_error()->message);
    ck_assert_int_eq(vm_get_state(vb), VM_STATE_CREATED);
    ASSERT_OK(vm_start(va));
    ck_assert_int_eq(vm_get_state(vb), VM_STATE_RUNNING);
    ASSERT_OK(vm_pause(vb));
    ck_assert_int_eq(vm_get_state(va), VM_STATE_PAUSED);
    /* The second connection saw the pause, so the table refuses it again. */
    ASSERT_ERR(vm_pause(va), QV_ERR_INVALID_STATE);
    ck_assert_str_eq(qv_last_error()->message, "cannot pause VM 'web': it is paused");

    /* One memory, shared. */
    ASSERT_OK(vm_write_memory(va, 0x1000, "hello", 6));
    char buf[6] = {0};
    ASSERT_OK(vm_read_memory(vb, 0x1000, buf, 6));
    ck_assert_str_eq(buf, "hello");
    ASSERT_OK(vm_add_memory_region(va, 8 << 20, 4096, VM_MEM_READ | VM_MEM_WRITE));
    ASSERT_OK(vm_write_memory(vb, 8 << 20, "far", 4));
    ASSERT_OK(vm_read_memory(va, 8 << 20, buf, 4));
    ck_assert_str_eq(buf, "far");

    /* Settings persist in domain.xml. */
    ASSERT_OK(vm_set_cpu_weight(va, 300));
    g_autofree char *got = vm_get_xml(vb);
    ck_assert_ptr_nonnull(got);
    ck_assert_msg(strstr(got, "<shares>300</shares>"), "%s", got);
    g_autofree char *on_disk = NULL;
    ck_assert(g_file_get_contents(xml, &on_disk, NULL, NULL));
    ck_assert_ptr_nonnull(strstr(on_disk, "<shares>300</shares>"));

    ck_assert_ptr_null(vm_create_on(b, "web", 1, 1 << 20));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_EXISTS);

    char **names;
    size_t n;
    ASSERT_OK(vm_list(b, &names, &n));
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(names[0], "web");
    qv_strv_free(names);

    /* Destroyed from one side: gone for the other, files and all. */
    vm_destroy(va);
    ck_assert_int_eq(qv_last_error()->code, QV_OK);
    ck_assert(!g_file_test(vmdir, G_FILE_TEST_EXISTS));
    ck_assert_int_eq(vm_get_state(vb), VM_STATE_DESTROYED);
    ASSERT_ERR(vm_resume(vb), QV_ERR_INVALID_STATE);
    ASSERT_OK(vm_list(b, &names, &n));
    ck_assert_uint_eq(n, 0);
    qv_strv_free(names);
    vm_free(vb);

    /* Destroyed and defined again elsewhere: the old handle stays
     * destroyed, a new lookup finds the new VM. */
    va = vm_create_on(a, "web", 1, 1 << 20);
    vb = vm_lookup(b, "web");
    ck_assert_ptr_nonnull(vb);
    vm_destroy(va);
    va = vm_create_on(a, "web", 1, 1 << 20);
    ck_assert_ptr_nonnull(va);
    ASSERT_OK(vm_start(va));
    ck_assert_int_eq(vm_get_state(vb), VM_STATE_DESTROYED);
    struct vm *fresh = vm_lookup(b, "web");
    ck_assert_ptr_nonnull(fresh);
    ck_assert_ptr_ne(fresh, vb);
    ck_assert_int_eq(vm_get_state(fresh), VM_STATE_RUNNING);
    ck_assert_int_eq(vm_get_state(vb), VM_STATE_DESTROYED);
    vm_free(vb);
    vm_free(fresh);
    vm_destroy(va);

    assert_no_leftovers();
    qv_close(a);
    qv_close(b);
}
END_TEST

/* A child process works on the VM; the parent sees its work. */
START_TEST(test_forked_child)
{
    struct qv_conn *a = open_world();
    struct vm *vm = vm_create_on(a, "shared", 1, 2 << 20);
    ck_assert_ptr_nonnull(vm);
    ASSERT_OK(vm_start(vm));

    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct qv_conn *c = qv_connect(uri);
        struct vm *v = c ? vm_lookup(c, "shared") : NULL;
        if (!v)
            _exit(10);
        if (vm_get_state(v) != VM_STATE_RUNNING)
            _exit(11);
        if (vm_pause(v) < 0)
            _exit(12);
        if (vm_write_memory(v, 0x3000, "from the child", 15) < 0)
            _exit(13);
        if (snapshot_create(v, "by-child", 0) < 0)
            _exit(14);
        if (vm_create_on(c, "child-made", 1, 1 << 20) == NULL)
            _exit(15);
        _exit(0);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed at step %d",
                  WEXITSTATUS(status));

    ck_assert_int_eq(vm_get_state(vm), VM_STATE_PAUSED);
    char buf[15];
    ASSERT_OK(vm_read_memory(vm, 0x3000, buf, 15));
    ck_assert_str_eq(buf, "from the child");
    struct snapshot_info *list;
    size_t n;
    ASSERT_OK(snapshot_list(vm, &list, &n));
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(list[0].name, "by-child");
    ck_assert_int_eq(list[0].state, VM_STATE_PAUSED);
    snapshot_info_free(list, n);
    struct vm *made = vm_lookup(a, "child-made");
    ck_assert_ptr_nonnull(made);

    /* vm_wait sees a stop made by another process. */
    pid = fork();
    if (pid == 0) {
        g_usleep(200 * 1000);
        struct qv_conn *c = qv_connect(uri);
        struct vm *v = c ? vm_lookup(c, "shared") : NULL;
        _exit(v && vm_stop(v) == 0 ? 0 : 1);
    }
    ASSERT_ERR(vm_wait(vm, 20), QV_ERR_TIMEOUT);
    ASSERT_OK(vm_wait(vm, 10000));
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_STOPPED);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    vm_destroy(made);
    vm_destroy(vm);
    assert_no_leftovers();
    qv_close(a);
}
END_TEST

START_TEST(test_snapshot_files_and_restore_elsewhere)
{
    struct qv_conn *a = open_world(), *b = open_world();
    struct vm *va = vm_create_on(a, "snap", 2, 64 << 20);
    ck_assert_ptr_nonnull(va);
    struct vcpu *c0 = vcpu_create(va, 1);
    ck_assert_ptr_nonnull(c0);
    vcpu_set_reg(c0, VCPU_REG_RSP, 0x7000);
    vcpu_set_reg(c0, VCPU_REG_RFLAGS, 0x246);
    ASSERT_OK(vcpu_set_msr(c0, 0xc0000102, 0xffffffff81000000ull));
    ASSERT_OK(vm_write_memory(va, 0x2000000, "kept", 5));
    ASSERT_OK(vm_set_vcpus(va, 1));
    ASSERT_OK(snapshot_create(va, "s1", 0));

    g_autofree char *sdir = g_build_filename(world, "snap", "snapshots", "s1", NULL);
    const char *files[] = {"domain.xml", "regs.json", "meta.json", "memory-0.bin"};
    for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
        g_autofree char *p = g_build_filename(sdir, files[i], NULL);
        ck_assert_msg(g_file_test(p, G_FILE_TEST_IS_REGULAR), "%s missing", p);
    }
    g_autofree char *mem = g_build_filename(sdir, "memory-0.bin", NULL);
    struct stat st;
    ck_assert_int_eq(stat(mem, &st), 0);
    ck_assert_uint_eq(st.st_size, 64 << 20);
    ck_assert_uint_lt((uint64_t)st.st_blocks * 512, 1 << 20); /* sparse: one page of data */

    struct snapshot_info *list;
    size_t n;
    ASSERT_OK(snapshot_list(va, &list, &n));
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(list[0].size, bytes_on_disk(sdir));
    ck_assert_int_eq(list[0].state, VM_STATE_CREATED);
    snapshot_info_free(list, n);

    /* Change things, then restore from a connection that has no vCPUs. */
    ASSERT_OK(vm_write_memory(va, 0x2000000, "lost", 5));
    ASSERT_OK(vm_set_vcpus(va, 2));
    ASSERT_OK(vm_start(va));
    struct vm *vb = vm_lookup(b, "snap");
    ck_assert_ptr_nonnull(vb);
    ASSERT_OK(snapshot_restore(vb, "s1"));
    ck_assert_int_eq(vm_get_state(va), VM_STATE_CREATED);
    char buf[5];
    ASSERT_OK(vm_read_memory(va, 0x2000000, buf, 5));
    ck_assert_str_eq(buf, "kept");
    struct vm_info info;
    ASSERT_OK(vm_get_info(va, &info));
    ck_assert_uint_eq(info.vcpus, 1);
    struct vcpu *cb = vm_get_vcpu(vb, 1);
    ck_assert_msg(cb, "%s", qv_last_error()->message);
    ck_assert_uint_eq(vcpu_get_reg(cb, VCPU_REG_RSP), 0x7000);
    ck_assert_uint_eq(vcpu_get_reg(cb, VCPU_REG_RFLAGS), 0x246);
    uint64_t msr = 0;
    ASSERT_OK(vcpu_get_msr(cb, 0xc0000102, &msr));
    ck_assert_uint_eq(msr, 0xffffffff81000000ull);

    ASSERT_ERR(snapshot_create(vb, "s1", 0), QV_ERR_EXISTS);
    /* Oldest first, whichever connection took them. */
    ASSERT_OK(snapshot_create(va, "zeta", SNAPSHOT_DISK_ONLY));
    ASSERT_OK(snapshot_create(vb, "alpha", SNAPSHOT_DISK_ONLY));
    ASSERT_OK(snapshot_list(vb, &list, &n));
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(list[0].name, "s1");
    ck_assert_str_eq(list[1].name, "zeta");
    ck_assert_str_eq(list[2].name, "alpha");
    ck_assert_int_eq(list[2].state, VM_STATE_CREATED);
    snapshot_info_free(list, n);
    ASSERT_ERR(snapshot_restore(va, "s2"), QV_ERR_NOT_FOUND);
    ASSERT_OK(snapshot_delete(va, "s1"));
    ck_assert(!g_file_test(sdir, G_FILE_TEST_EXISTS));
    ASSERT_ERR(snapshot_restore(vb, "s1"), QV_ERR_NOT_FOUND);

    /* A clone copies definition and memory into its own directory. */
    struct vm *cl = vm_clone(va, "snap-copy");
    ck_assert_msg(cl, "%s", qv_last_error()->message);
    ASSERT_OK(vm_read_memory(cl, 0x2000000, buf, 5));
    ck_assert_str_eq(buf, "kept");
    struct vm_info ci;
    ASSERT_OK(vm_get_info(cl, &ci));
    ck_assert_str_ne(ci.uuid, info.uuid);
    struct vm *clb = vm_lookup(b, "snap-copy");
    ck_assert_ptr_nonnull(clb);
    ck_assert_int_eq(vm_get_state(clb), VM_STATE_CREATED);
    vm_free(clb);
    vm_destroy(cl);

    vm_free(vb);
    vm_destroy(va);
    assert_no_leftovers();
    qv_close(a);
    qv_close(b);
}
END_TEST

/* Writes fail for real in a child limited to tiny files (RLIMIT_FSIZE):
 * the failing call reports it, and the old files survive intact. */
START_TEST(test_failed_writes_keep_old_state)
{
    struct qv_conn *a = open_world();
    struct vm *vm = vm_create_on(a, "atomic", 1, 1 << 20);
    ck_assert_ptr_nonnull(vm);
    ASSERT_OK(vm_start(vm));
    ASSERT_OK(vm_write_memory(vm, 0, "x", 1)); /* create the memory file first */
    g_autofree char *state = g_build_filename(world, "atomic", "state.json", NULL);
    g_autofree char *before = NULL;
    ck_assert(g_file_get_contents(state, &before, NULL, NULL));

    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {16, 16};
        setrlimit(RLIMIT_FSIZE, &rl);
        struct qv_conn *c = qv_connect(uri);
        struct vm *v = c ? vm_lookup(c, "atomic") : NULL;
        if (!v)
            _exit(10);
        if (vm_pause(v) != QV_ERR_IO || !strstr(qv_last_error()->message, "state.json"))
            _exit(11);
        if (snapshot_create(v, "s", 0) != QV_ERR_IO)
            _exit(12);
        if (vm_create_on(c, "never", 1, 1 << 20) || qv_last_error()->code != QV_ERR_IO)
            _exit(13);
        if (vm_set_cpu_weight(v, 999) != QV_ERR_IO)
            _exit(14);
        _exit(0);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed at step %d",
                  WEXITSTATUS(status));

    g_autofree char *after = NULL;
    ck_assert(g_file_get_contents(state, &after, NULL, NULL));
    ck_assert_str_eq(after, before);
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_RUNNING);
    g_autofree char *xml = vm_get_xml(vm);
    /* The refused weight never reached the definition. (Not a bare "999":
     * the random UUID or MAC may contain that.) */
    ck_assert_ptr_null(strstr(xml, "<shares>999</shares>"));
    struct snapshot_info *list;
    size_t n;
    ASSERT_OK(snapshot_list(vm, &list, &n));
    ck_assert_uint_eq(n, 0);
    snapshot_info_free(list, n);
    ck_assert_ptr_null(vm_lookup(a, "never"));
    assert_no_leftovers();
    vm_destroy(vm);
    qv_close(a);
}
END_TEST

/* Files edited by hand into nonsense give errors naming them. */
START_TEST(test_corrupt_files)
{
    struct qv_conn *a = open_world();
    struct vm *vm = vm_create_on(a, "bad", 1, 1 << 20);
    ck_assert_ptr_nonnull(vm);
    g_autofree char *state = g_build_filename(world, "bad", "state.json", NULL);
    static const char *garbage[] = {
        "{",
        "[]",
        "{\"state\":\"flying\",\"reason\":\"none\"}",
        "{\"state\":\"running\",\"reason\":7}",
        "{\"state\":\"stopped\",\"reason\":\"none\",\"regions\":[{\"gpa\":\"0x1\"}]}",
        "{\"state\":\"stopped\",\"reason\":\"none\",\"regions\":{}}",
        "{\"state\":\"stopped\",\"reason\":\"none\",\"regions\":[{\"gpa\":\"0x0\",\"size\":"
        "\"0x1000\",\"flags\":3}]}", /* overlaps RAM */
    };
    for (size_t i = 0; i < G_N_ELEMENTS(garbage); i++) {
        ck_assert(g_file_set_contents(state, garbage[i], -1, NULL));
        int rc = vm_start(vm);
        ck_assert_msg(rc == QV_ERR_JSON, "%s: %d %s", garbage[i], rc, qv_last_error()->message);
        ck_assert_msg(strstr(qv_last_error()->message, "state.json"), "%s",
                      qv_last_error()->message);
    }
    ck_assert_int_eq(g_unlink(state), 0);
    ASSERT_ERR(vm_start(vm), QV_ERR_IO);
    ck_assert_msg(strstr(qv_last_error()->message, "state.json is missing"), "%s",
                  qv_last_error()->message);
    ck_assert(g_file_set_contents(state, "{\"state\":\"stopped\",\"reason\":\"user\"}", -1, NULL));
    ASSERT_OK(vm_start(vm));

    g_autofree char *xml = g_build_filename(world, "bad", "domain.xml", NULL);
    ck_assert(g_file_set_contents(xml, "<domain type='test'><name>bad</name>", -1, NULL));
    char *got = vm_get_xml(vm);
    ck_assert_ptr_null(got);
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_XML);
    ck_assert_msg(strstr(qv_last_error()->message, "domain.xml"), "%s", qv_last_error()->message);
    vm_destroy(vm); /* still possible: the directory goes */
    ck_assert_int_eq(qv_last_error()->code, QV_OK);
    g_autofree char *dir = g_build_filename(world, "bad", NULL);
    ck_assert(!g_file_test(dir, G_FILE_TEST_EXISTS));
    qv_close(a);
}
END_TEST

/* Several processes at once on one directory: each call succeeds or fails
 * with an error its race explains; the world stays consistent. */
static int child_hammer(unsigned seed)
{
    static const char *const names[] = {"p0", "p1", "p2"};
    struct qv_conn *c = qv_connect(uri);
    if (!c)
        return 2;
    GRand *r = g_rand_new_with_seed(seed);
    int bad = 0, ok = 0;
    for (int i = 0; i < 150 && !bad; i++) {
        const char *name = names[g_rand_int_range(r, 0, 3)];
        int op = g_rand_int_range(r, 0, 10), rc = 0;
        if (op == 0) {
            struct vm *vm = vm_create_on(c, name, 1, 1 << 20);
            rc = vm ? 0 : qv_last_error()->code;
            vm_free(vm);
        } else {
            struct vm *vm = vm_lookup(c, name);
            rc = vm ? 0 : qv_last_error()->code;
            uint64_t word = seed;
            switch (vm ? op : -1) {
            case 1: rc = vm_start(vm); break;
            case 2: rc = vm_stop(vm); break;
            case 3: rc = vm_pause(vm); break;
            case 4: rc = vm_resume(vm); break;
            case 5: rc = snapshot_create(vm, "s", 0); break;
            case 6:
                rc = g_rand_boolean(r) ? snapshot_restore(vm, "s") : snapshot_delete(vm, "s");
                break;
            case 7: rc = vm_write_memory(vm, 8 * (seed % 16), &word, 8); break;
            case 8: {
                char *xml = vm_get_xml(vm);
                rc = xml ? 0 : qv_last_error()->code;
                qv_free(xml);
                break;
            }
            case 9:
                vm_destroy(vm);
                rc = qv_last_error()->code;
                vm = NULL;
                break;
            }
            vm_free(vm);
        }
        ok += rc == 0;
        if (rc != 0 && rc != QV_ERR_INVALID_STATE && rc != QV_ERR_NOT_FOUND &&
            rc != QV_ERR_EXISTS) {
            fprintf(stderr, "process %u, op %d on %s: %d %s\n", seed, op, name, rc,
                    qv_last_error()->message);
            bad = 1;
        }
    }
    g_rand_free(r);
    qv_close(c);
    if (!bad && ok < 10) {
        fprintf(stderr, "process %u: only %d of 150 operations succeeded\n", seed, ok);
        bad = 3;
    }
    return bad;
}

START_TEST(test_concurrent_processes)
{
    enum { PROCS = 4 };
    pid_t pids[PROCS];
    for (int i = 0; i < PROCS; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0)
            _exit(child_hammer(1000 + (unsigned)i));
    }
    for (int i = 0; i < PROCS; i++) {
        int status = 0;
        ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "process %d failed (status 0x%x); see its message above", i, status);
    }
    struct qv_conn *c = open_world();
    char **names;
    size_t n;
    ASSERT_OK(vm_list(c, &names, &n));
    for (size_t i = 0; i < n; i++) {
        struct vm *vm = vm_lookup(c, names[i]);
        ck_assert_msg(vm, "%s: %s", names[i], qv_last_error()->message);
        ck_assert_int_le(vm_get_state(vm), VM_STATE_STOPPED);
        char *xml = vm_get_xml(vm);
        ck_assert_msg(xml, "%s: %s", names[i], qv_last_error()->message);
        qv_free(xml);
        struct snapshot_info *list;
        size_t k;
        ASSERT_OK(snapshot_list(vm, &list, &k));
        snapshot_info_free(list, k);
        vm_destroy(vm);
        ck_assert_int_eq(qv_last_error()->code, QV_OK);
    }
    qv_strv_free(names);
    assert_no_leftovers();
    qv_close(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("noop_dir");
    TCase *tc = tcase_create("dir");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_layout_and_second_connection);
    tcase_add_test(tc, test_forked_child);
    tcase_add_test(tc, test_snapshot_files_and_restore_elsewhere);
    tcase_add_test(tc, test_failed_writes_keep_old_state);
    tcase_add_test(tc, test_corrupt_files);
    tcase_add_test(tc, test_concurrent_processes);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
