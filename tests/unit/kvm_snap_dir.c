/* A VM's snapshot directory (drivers/kvm/snapshot/snap_dir.h): snapshots are
 * written whole or not at all. A writer killed at every step in turn (a
 * child _exit()ing from the step hook) leaves the earlier snapshot intact
 * and the new one absent or complete, never partial, and a sweep clears
 * what it left; a delete killed at every step never leaves a half
 * snapshot under its name. A sweep in another process never removes a
 * live stage or a live delete's directory and never makes a create fail;
 * a damaged or oversized info lists as a damaged entry instead of hiding
 * the others. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drivers/kvm/snapshot/snap_dir.h"
#include "drivers/kvm/snapshot/snap_file.h"
#include "kvm_snap_fixture.h"
#include "lib/util/error.h"
#include "lib/util/fileio.h"
#include "qv/error.h"

static char *top;
static char *dir; /* top/snapshots, made by the first snapshot */

static void setup(void)
{
    top = g_dir_make_tmp("qv-snapdir-XXXXXX", NULL);
    ck_assert_ptr_nonnull(top);
    dir = g_build_filename(top, "snapshots", NULL);
}

static void teardown(void)
{
    qv_dir_remove_tree(top);
    g_free(dir);
    g_free(top);
}

static const struct snap_fixture s1 = {"s1", 300 * 1024 + 5, 1, VM_STATE_RUNNING, 1764000000000001};
/* Big enough that "memory" is written in three pieces. */
static const struct snap_fixture s2 = {"s2", (5u << 20) / 2, 2, VM_STATE_PAUSED, 1764000000000002};

static void create_ok(const struct snap_fixture *fx)
{
    int rc = fixture_create(dir, fx, NULL);
    ck_assert_msg(rc == 0, "%s: %s", fx->name, qv_last_error()->message);
}

START_TEST(create_list_read)
{
    create_ok(&s1);
    struct stat st;
    ck_assert_int_eq(stat(dir, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0700);
    fixture_check(dir, &s1);
    ck_assert_int_eq(fixture_hidden_count(dir), 0);

    /* Listed oldest first by the creation time recorded, not by name or
     * by when it was written. */
    struct snap_fixture older = {"b-older", 4096, 3, VM_STATE_STOPPED, 1700000000000000};
    create_ok(&older);
    struct snap_dir_entry *list = NULL;
    size_t n = 0;
    ck_assert_int_eq(snap_dir_list(dir, &list, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(list[0].name, "b-older");
    ck_assert_int_eq(list[0].meta.state, VM_STATE_STOPPED);
    ck_assert_int_eq(list[0].meta.created_us, 1700000000000000);
    ck_assert_str_eq(list[1].name, "s1");
    ck_assert_int_eq(list[1].meta.state, VM_STATE_RUNNING);
    /* Bytes occupied: the blocks of all its files, memory included. */
    ck_assert_uint_ge(list[1].bytes, s1.mem_len);
    ck_assert_uint_lt(list[1].bytes, s1.mem_len + (1u << 20));
    snap_dir_entries_free(list, n);

    /* A missing directory holds no snapshots. */
    g_autofree char *none = g_build_filename(top, "none", NULL);
    ck_assert_int_eq(snap_dir_list(none, &list, &n), 0);
    ck_assert_uint_eq(n, 0);
    struct snap_dir_entry e;
    ck_assert_int_eq(snap_dir_stat(dir, "s9", &e), QV_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "no snapshot 's9'"));
}
END_TEST

/* Bytes are what the files occupy, not their length: a sparse memory file
 * of an idle guest costs little. */
START_TEST(bytes_are_allocated_blocks)
{
    struct snap_meta meta = {VM_STATE_RUNNING, 1};
    struct snap_stage *st = NULL;
    ck_assert_int_eq(snap_stage_begin(dir, "sparse", &meta, NULL, &st), 0);
    int fd = snap_stage_open(st, "memory");
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, 64 << 20), 0);
    ck_assert_int_eq(pwrite(fd, "x", 1, 32 << 20), 1);
    ck_assert_int_eq(snap_stage_commit(st), 0);
    struct snap_dir_entry e;
    ck_assert_int_eq(snap_dir_stat(dir, "sparse", &e), 0);
    ck_assert_uint_gt(e.bytes, 0);
    ck_assert_uint_lt(e.bytes, 4u << 20);
    snap_dir_entry_clear(&e);
}
END_TEST

START_TEST(names_refused)
{
    static const char *const bad[] = {"",   "../x", ".hidden",           "a/b",
                                      "-x", "s\n1", ".s1.partial-abcdef"};
    struct snap_meta meta = {VM_STATE_RUNNING, 1};
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        struct snap_stage *st = NULL;
        ck_assert_int_eq(snap_stage_begin(dir, bad[i], &meta, NULL, &st), QV_ERR_INVALID_ARG);
        ck_assert_ptr_null(st);
        ck_assert_int_eq(snap_dir_delete(dir, bad[i], NULL), QV_ERR_INVALID_ARG);
    }
    struct snap_stage *st = NULL;
    ck_assert_int_eq(snap_stage_begin(dir, "ok", &meta, NULL, &st), 0);
    ck_assert_int_eq(snap_stage_write(st, "info", "x", 1), QV_ERR_INVALID_ARG);
    ck_assert_int_eq(snap_stage_write(st, "../escape", "x", 1), QV_ERR_INVALID_ARG);
    ck_assert_int_eq(snap_stage_open(st, "a/b"), QV_ERR_INVALID_ARG);
    ck_assert(!fixture_exists(top, "escape"));
    snap_stage_abort(st);
    /* Nothing was made: the stage went with the abort. */
    ck_assert_int_eq(fixture_hidden_count(dir), 0);
    ck_assert(!fixture_exists(dir, "ok"));

    struct snap_meta bad_meta = {(enum vm_state)42, 1};
    ck_assert_int_eq(snap_stage_begin(dir, "m", &bad_meta, NULL, &st), QV_ERR_INVALID_ARG);
}
END_TEST

START_TEST(existing_name_refused)
{
    create_ok(&s1);
    struct snap_meta meta = {VM_STATE_RUNNING, 5};
    struct snap_stage *st = NULL;
    ck_assert_int_eq(snap_stage_begin(dir, "s1", &meta, NULL, &st), QV_ERR_EXISTS);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "snapshot 's1' already exists"));

    /* Taken between begin and commit (another creator): the commit is
     * refused, its stage removed, and the snapshot that won untouched. */
    struct snap_fixture late = s2;
    late.name = "s3";
    ck_assert_int_eq(snap_stage_begin(dir, "s3", &meta, NULL, &st), 0);
    ck_assert_int_eq(snap_stage_write(st, "memory", "loser", 5), 0);
    create_ok(&late);
    ck_assert_int_eq(snap_stage_commit(st), QV_ERR_EXISTS);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "snapshot 's3' already exists"));
    ck_assert_int_eq(fixture_hidden_count(dir), 0);
    fixture_check(dir, &late);
    fixture_check(dir, &s1);
}
END_TEST

START_TEST(abort_and_failed_write)
{
    struct snap_meta meta = {VM_STATE_RUNNING, 5};
    struct snap_stage *st = NULL;
    ck_assert_int_eq(snap_stage_begin(dir, "gone", &meta, NULL, &st), 0);
    ck_assert_int_eq(fixture_hidden_count(dir), 1);
    ck_assert_int_eq(snap_stage_write(st, "memory", "abc", 3), 0);
    /* A second file of the same name fails (O_EXCL); after a failure
     * the stage cannot be committed. */
    ck_assert_int_eq(snap_stage_write(st, "memory", "abc", 3), QV_ERR_IO);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "file 'memory' of snapshot 'gone'"));
    ck_assert_int_eq(snap_stage_write(st, "other", "abc", 3), QV_ERR_INVALID_STATE);
    ck_assert_int_eq(snap_stage_commit(st), QV_ERR_INVALID_STATE);
    ck_assert_int_eq(fixture_hidden_count(dir), 0);
    ck_assert(!fixture_exists(dir, "gone"));

    ck_assert_int_eq(snap_stage_begin(dir, "gone", &meta, NULL, &st), 0);
    ck_assert_int_eq(snap_stage_write(st, "memory", "abc", 3), 0);
    snap_stage_abort(st);
    ck_assert_int_eq(fixture_hidden_count(dir), 0);
    ck_assert(!fixture_exists(dir, "gone"));
}
END_TEST

/* A sweep removes what dead writers left and nothing else: a live stage
 * (its flock held) survives it and still commits. */
START_TEST(sweep_spares_live_stage)
{
    create_ok(&s1);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct snap_meta meta = {VM_STATE_RUNNING, 5};
        struct snap_stage *st = NULL;
        if (snap_stage_begin(dir, "dead", &meta, NULL, &st) < 0 ||
            snap_stage_write(st, "memory", "abc", 3) < 0)
            _exit(1);
        _exit(0); /* killed: no abort, no commit */
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_int_eq(fixture_hidden_count(dir), 1);

    struct snap_meta meta = {VM_STATE_PAUSED, 6};
    struct snap_stage *live = NULL;
    ck_assert_int_eq(snap_stage_begin(dir, "live", &meta, NULL, &live), 0);
    ck_assert_int_eq(snap_stage_write(live, "memory", "xyz", 3), 0);
    ck_assert_int_eq(fixture_hidden_count(dir), 2);

    /* Listing never shows a stage. */
    struct snap_dir_entry *list = NULL;
    size_t n = 0;
    ck_assert_int_eq(snap_dir_list(dir, &list, &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(list[0].name, "s1");
    snap_dir_entries_free(list, n);

    ck_assert_int_eq(snap_dir_sweep(dir), 0);
    ck_assert_int_eq(fixture_hidden_count(dir), 1);
    ck_assert_int_eq(snap_stage_commit(live), 0);
    ck_assert_int_eq(fixture_hidden_count(dir), 0);
    struct snap_dir_entry e;
    ck_assert_int_eq(snap_dir_stat(dir, "live", &e), 0);
    ck_assert_int_eq(e.meta.state, VM_STATE_PAUSED);
    snap_dir_entry_clear(&e);
    fixture_check(dir, &s1);

    /* Something of the user's that only looks hidden is left alone. */
    g_autofree char *mine = g_build_filename(dir, ".notes", NULL);
    ck_assert(g_file_set_contents(mine, "x", 1, NULL));
    ck_assert_int_eq(snap_dir_sweep(dir), 0);
    ck_assert(fixture_exists(dir, ".notes"));
    /* A missing directory sweeps clean. */
    g_autofree char *none = g_build_filename(top, "none", NULL);
    ck_assert_int_eq(snap_dir_sweep(none), 0);
}
END_TEST

/* A sweep in another process, started at one step of a writer and given
 * up to a second: the exit status of the sweep, or -1 while it is still
 * running (it waits for the writer's short lock), then reaped later. */
struct racer {
    const char *at; /* the step to start the sweep at */
    pid_t pid;
    int status;   /* the sweep's exit status when it finished in time */
    int hidden;   /* hidden entries of dir when the sweep finished or gave up */
    bool started; /* the step came */
};

static void sweep_at_hook(void *opaque, const char *step)
{
    struct racer *r = opaque;
    if (r->started || strcmp(step, r->at) != 0)
        return;
    r->started = true;
    r->status = -1;
    r->pid = fork();
    ck_assert_int_ge(r->pid, 0);
    if (r->pid == 0)
        _exit(snap_dir_sweep(dir) == 0 ? 0 : 1);
    for (int i = 0; i < 100; i++) {
        int st;
        if (waitpid(r->pid, &st, WNOHANG) == r->pid) {
            r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 2;
            r->pid = 0;
            break;
        }
        g_usleep(10 * 1000);
    }
    r->hidden = fixture_hidden_count(dir);
}

static void racer_reap(struct racer *r)
{
    if (r->pid > 0) {
        int st;
        ck_assert_int_eq(waitpid(r->pid, &st, 0), r->pid);
        r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 2;
        r->pid = 0;
    }
}

START_TEST(sweep_never_takes_a_stage_being_made)
{
    /* The stage exists and is not yet flock()ed: a sweep now must not
     * take it for a dead writer's. It waits (the writer holds the
     * directory's lock over this window) and then leaves it alone. */
    struct racer r = {.at = "lock stage"};
    struct snap_hook hook = {sweep_at_hook, &r};
    struct snap_meta meta = {VM_STATE_RUNNING, 7};
    struct snap_stage *st = NULL;
    int rc = snap_stage_begin(dir, "racy", &meta, &hook, &st);
    ck_assert(r.started);
    ck_assert_msg(rc == 0, "%s", qv_last_error()->message);
    ck_assert_int_eq(snap_stage_write(st, "memory", "abc", 3), 0);
    racer_reap(&r);
    ck_assert_int_eq(r.status, 0);
    ck_assert_int_eq(fixture_hidden_count(dir), 1);
    ck_assert_int_eq(snap_stage_commit(st), 0);
    struct snap_dir_entry e;
    ck_assert_int_eq(snap_dir_stat(dir, "racy", &e), 0);
    ck_assert_int_eq(e.meta.created_us, 7);
    snap_dir_entry_clear(&e);
    ck_assert_int_eq(fixture_hidden_count(dir), 0);
}
END_TEST

START_TEST(sweep_spares_live_delete)
{
    /* A sweep while a delete is removing the hidden directory leaves it
     * to the deleter: the hidden directory is still there when the sweep
     * has finished, and the delete then completes. */
    create_ok(&s1);
    create_ok(&s2);
    struct racer r = {.at = "unlink memory"};
    struct snap_hook hook = {sweep_at_hook, &r};
    ck_assert_int_eq(snap_dir_delete(dir, "s1", &hook), 0);
    ck_assert(r.started);
    racer_reap(&r);
    ck_assert_int_eq(r.status, 0);
    ck_assert_int_eq(r.hidden, 1);
    ck_assert_int_eq(fixture_hidden_count(dir), 0);
    ck_assert(!fixture_exists(dir, "s1"));
    fixture_check(dir, &s2);
}
END_TEST

START_TEST(creates_against_a_sweeping_process)
{
    /* As a second process would: sweep without pause while this one
     * creates and deletes snapshots. None of them may fail. */
    ck_assert_int_eq(qv_dir_ensure(dir, 0700), 0);
    pid_t sw = fork();
    ck_assert_int_ge(sw, 0);
    if (sw == 0)
        for (;;)
            if (snap_dir_sweep(dir) < 0)
                _exit(1);
    int fails = 0;
    char first[256] = "";
    for (int i = 0; i < 600; i++) {
        char name[32];
        snprintf(name, sizeof name, "s%d", i);
        struct snap_meta m = {VM_STATE_RUNNING, i};
        struct snap_stage *st = NULL;
        int rc = snap_stage_begin(dir, name, &m, NULL, &st);
        if (rc == 0)
            rc = snap_stage_write(st, "state", "abc", 3);
        if (rc == 0)
            rc = snap_stage_commit(st);
        else
            snap_stage_abort(st);
        if (rc == 0 && i % 2)
            rc = snap_dir_delete(dir, name, NULL);
        if (rc < 0 && fails++ == 0)
            g_strlcpy(first, qv_last_error()->message, sizeof first);
    }
    int status;
    ck_assert_int_eq(waitpid(sw, &status, WNOHANG), 0); /* the sweeper never failed */
    kill(sw, SIGKILL);
    ck_assert_int_eq(waitpid(sw, &status, 0), sw);
    ck_assert_msg(fails == 0, "%d of 600 failed, first: %s", fails, first);
    struct snap_dir_entry *list = NULL;
    size_t n = 0;
    ck_assert_int_eq(snap_dir_list(dir, &list, &n), 0);
    ck_assert_uint_eq(n, 300);
    snap_dir_entries_free(list, n);
    ck_assert_int_eq(snap_dir_sweep(dir), 0);
    ck_assert_int_eq(fixture_hidden_count(dir), 0);
}
END_TEST

START_TEST(delete_and_damaged_info)
{
    create_ok(&s1);
    create_ok(&s2);
    ck_assert_int_eq(snap_dir_delete(dir, "s1", NULL), 0);
    ck_assert(!fixture_exists(dir, "s1"));
    ck_assert_int_eq(fixture_hidden_count(dir), 0);
    ck_assert_int_eq(snap_dir_delete(dir, "s1", NULL), QV_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "no snapshot 's1'"));
    fixture_check(dir, &s2);

    /* A damaged info file is reported by name, not skipped or misread,
     * and it does not hide the good snapshots: the listing gives it, last,
     * saying why. s1 is older than s2, so the order shows the rule. */
    create_ok(&s1);
    g_autofree char *info = snap_dir_file(dir, "s2", "info");
    int fd = open(info, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, "\xff", 1, 100), 1);
    close(fd);
    struct snap_dir_entry *list = NULL;
    size_t n = 0;
    ck_assert_int_eq(snap_dir_list(dir, &list, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(list[0].name, "s1");
    ck_assert_ptr_null(list[0].damage);
    ck_assert_int_eq(list[0].meta.created_us, s1.created_us);
    ck_assert_str_eq(list[1].name, "s2");
    const char *msg = list[1].damage;
    ck_assert_ptr_nonnull(msg);
    ck_assert_msg(strstr(msg, "snapshot 's2'") && strstr(msg, info) && strstr(msg, "checksum"),
                  "%s", msg);
    ck_assert_int_eq(list[1].meta.created_us, 0);
    ck_assert_uint_gt(list[1].bytes, 0); /* what it occupies, to be deleted */
    snap_dir_entries_free(list, n);
    /* Asked for by name, it is refused with the same error. */
    struct snap_dir_entry e;
    ck_assert_int_eq(snap_dir_stat(dir, "s2", &e), QV_ERR_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "checksum"));
    ck_assert_ptr_null(e.name);

    /* An info made huge and sparse (256 MiB apparent, nothing on disk)
     * is refused by its size, not read: the error gives the cap. */
    ck_assert_int_eq(truncate(info, SNAP_FILE_MAX_BYTES), 0);
    gint64 t0 = g_get_monotonic_time();
    ck_assert_int_eq(snap_dir_list(dir, &list, &n), 0);
    gint64 took = g_get_monotonic_time() - t0;
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(list[1].name, "s2");
    ck_assert_ptr_nonnull(list[1].damage);
    ck_assert_msg(strstr(list[1].damage, "268435456 bytes, more than the 4096"), "%s",
                  list[1].damage);
    snap_dir_entries_free(list, n);
    /* Reading 256 MiB of zeros takes far longer than refusing by size;
     * a loose bound so that a loaded machine does not fail it. */
    ck_assert_msg(took < 2 * G_USEC_PER_SEC, "listing took %" G_GINT64_FORMAT " us", took);
    /* An info that is not a regular file is damage too, not an abort. */
    ck_assert_int_eq(unlink(info), 0);
    ck_assert_int_eq(mkfifo(info, 0600), 0);
    ck_assert_int_eq(snap_dir_list(dir, &list, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_ptr_nonnull(list[1].damage);
    ck_assert_ptr_nonnull(strstr(list[1].damage, "not a regular file"));
    snap_dir_entries_free(list, n);

    /* It can still be deleted. */
    ck_assert_int_eq(snap_dir_delete(dir, "s2", NULL), 0);
    ck_assert_int_eq(snap_dir_delete(dir, "s1", NULL), 0);
    ck_assert_int_eq(snap_dir_list(dir, &list, &n), 0);
    ck_assert_uint_eq(n, 0);

    /* A directory without an info file is not a snapshot. */
    g_autofree char *stray = g_build_filename(dir, "lost+found", NULL);
    ck_assert_int_eq(mkdir(stray, 0700), 0);
    ck_assert_int_eq(snap_dir_list(dir, &list, &n), 0);
    ck_assert_uint_eq(n, 0);
}
END_TEST

struct killer {
    int at;     /* the step to die at, counting from 1 */
    int n;      /* steps seen so far */
    int report; /* pipe: the step's name goes here before dying */
};

static void kill_hook(void *opaque, const char *step)
{
    struct killer *k = opaque;
    if (++k->n == k->at) {
        ssize_t w = write(k->report, step, strlen(step));
        (void)w;
        _exit(99);
    }
}

/* Run fn in a child that dies at step `at`. Returns 0 when the child
 * finished (no step `at`), 1 when it died there (*step says where). */
static int run_killed(int at, int (*fn)(const struct snap_hook *), char step[64])
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(p[0]);
        struct killer k = {at, 0, p[1]};
        struct snap_hook hook = {kill_hook, &k};
        int rc = fn(&hook);
        _exit(rc == 0 ? 0 : 1);
    }
    close(p[1]);
    memset(step, 0, 64);
    ssize_t got = 0, r;
    while ((r = read(p[0], step + got, 63 - (size_t)got)) > 0)
        got += r;
    close(p[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_msg(WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 99, "child failed at step %d",
                  at);
    return WEXITSTATUS(status) == 99;
}

static int create_s2(const struct snap_hook *hook)
{
    return fixture_create(dir, &s2, hook);
}

static int delete_s1(const struct snap_hook *hook)
{
    return snap_dir_delete(dir, "s1", hook);
}

START_TEST(kill_create_at_every_step)
{
    create_ok(&s1);
    bool saw_rename = false, saw_write = false, saw_fsync = false;
    int at;
    for (at = 1; at < 200; at++) {
        char step[64];
        int died = run_killed(at, create_s2, step);
        /* What a lister sees before any cleanup: s1, and s2 only whole. */
        struct snap_dir_entry *list = NULL;
        size_t n = 0;
        ck_assert_msg(snap_dir_list(dir, &list, &n) == 0, "step %d (%s): %s", at, step,
                      qv_last_error()->message);
        for (size_t i = 0; i < n; i++) {
            ck_assert(strcmp(list[i].name, "s1") == 0 || strcmp(list[i].name, "s2") == 0);
            ck_assert_msg(!list[i].damage, "step %d (%s): %s", at, step, list[i].damage);
        }
        snap_dir_entries_free(list, n);
        ck_assert_int_eq(snap_dir_sweep(dir), 0);
        ck_assert_int_eq(fixture_hidden_count(dir), 0);
        fixture_check(dir, &s1);
        if (!died) {
            fixture_check(dir, &s2);
            break;
        }
        saw_rename |= strcmp(step, "rename") == 0;
        saw_write |= strcmp(step, "write memory") == 0;
        saw_fsync |= strcmp(step, "fsync stage") == 0;
        if (fixture_exists(dir, "s2")) {
            /* Only the last step (syncing the directory) comes after the
             * rename that makes it visible. */
            ck_assert_msg(strcmp(step, "fsync dir") == 0, "s2 present after death at '%s'", step);
            fixture_check(dir, &s2);
            ck_assert_int_eq(snap_dir_delete(dir, "s2", NULL), 0);
        } else {
            ck_assert_msg(strcmp(step, "fsync dir") != 0, "s2 absent after its rename");
        }
    }
    /* 18 steps, each a place to die: mkdir, lock stage, create and write state,
     * create and 3 writes of memory, create domain.xml, create and write
     * info, 4 file fsyncs, fsync stage, rename, fsync dir. */
    ck_assert_int_eq(at, 19);
    ck_assert(saw_rename && saw_write && saw_fsync);
}
END_TEST

START_TEST(kill_delete_at_every_step)
{
    create_ok(&s2);
    int at;
    for (at = 1; at < 100; at++) {
        if (!fixture_exists(dir, "s1"))
            create_ok(&s1);
        char step[64];
        int died = run_killed(at, delete_s1, step);
        struct snap_dir_entry *list = NULL;
        size_t n = 0;
        ck_assert_msg(snap_dir_list(dir, &list, &n) == 0, "step %d (%s): %s", at, step,
                      qv_last_error()->message);
        bool listed = false;
        for (size_t i = 0; i < n; i++) {
            listed |= strcmp(list[i].name, "s1") == 0;
            ck_assert_msg(!list[i].damage, "step %d (%s): %s", at, step, list[i].damage);
        }
        snap_dir_entries_free(list, n);
        if (listed)
            fixture_check(dir, &s1);
        /* Dying before the rename leaves it whole; after, it is gone. */
        ck_assert_int_eq(listed, died && strcmp(step, "rename") == 0);
        ck_assert_int_eq(snap_dir_sweep(dir), 0);
        ck_assert_int_eq(fixture_hidden_count(dir), 0);
        fixture_check(dir, &s2);
        if (!died)
            break;
    }
    /* rename, fsync dir, 4 unlinks, rmdir, fsync dir. */
    ck_assert_int_eq(at, 9);
    ck_assert(!fixture_exists(dir, "s1"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kvm_snap_dir");
    TCase *tc = tcase_create("snap_dir");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, create_list_read);
    tcase_add_test(tc, bytes_are_allocated_blocks);
    tcase_add_test(tc, names_refused);
    tcase_add_test(tc, existing_name_refused);
    tcase_add_test(tc, abort_and_failed_write);
    tcase_add_test(tc, sweep_spares_live_stage);
    tcase_add_test(tc, sweep_never_takes_a_stage_being_made);
    tcase_add_test(tc, sweep_spares_live_delete);
    tcase_add_test(tc, creates_against_a_sweeping_process);
    tcase_add_test(tc, delete_and_damaged_info);
    tcase_add_test(tc, kill_create_at_every_step);
    tcase_add_test(tc, kill_delete_at_every_step);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
