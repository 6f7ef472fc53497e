/* Directory mode: what interrupted operations leave behind. Every noop
 * write happens in a temporary (a ".tmp-NAME-XXXXXX" directory, a
 * ".FILE.XXXXXX" file, memory files of a generation state.json does not
 * name) while its writer holds a lock: the per-VM flock, or the names lock
 * for a VM still being defined or cloned. A temporary whose lock can be
 * taken has no live writer, so it is removed when a connection opens. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util/error.h"
#include "lib/util/fileio.h"
#include "lib/util/lock.h"
#include "lib/util/names.h"
#include "noop.h"

/* The VM name in ".tmp-NAME-XXXXXX" (noop_store_mkdtemp), or NULL. */
static char *tmp_owner(const char *entry)
{
    size_t len = strlen(entry);
    if (!g_str_has_prefix(entry, ".tmp-") || len <= 5 + 7 || entry[len - 7] != '-')
        return NULL;
    return g_strndup(entry + 5, len - 5 - 7);
}

static int try_lock(struct noop_conn *nc, const char *name)
{
    g_autofree char *base = g_strdup_printf("%s.lock", name);
    g_autofree char *path = g_build_filename(nc->dir, ".locks", base, NULL);
    return qv_lock_acquire(path, 0);
}

/* The memory generation a memory-GPA[.gN].bin or domain.gN.xml file
 * belongs to; -1 if the name is not one of them. */
static gint64 memory_file_gen(const char *e)
{
    unsigned long long gpa = 0, gen = 0;
    int end = 0;
    if (sscanf(e, "domain.g%llu.xml%n", &gen, &end) == 1 && e[end] == '\0' && gen <= G_MAXINT64)
        return (gint64)gen;
    end = 0;
    if (sscanf(e, "memory-%llx.bin%n", &gpa, &end) == 1 && e[end] == '\0')
        return 0;
    end = 0;
    if (sscanf(e, "memory-%llx.g%llu.bin%n", &gpa, &gen, &end) == 2 && e[end] == '\0' &&
        gen <= G_MAXINT64)
        return (gint64)gen;
    return -1;
}

static void remove_entry(const char *dir, const char *e)
{
    g_autofree char *p = g_build_filename(dir, e, NULL);
    struct stat st;
    if (lstat(p, &st) < 0)
        return;
    if (S_ISDIR(st.st_mode))
        qv_dir_remove_tree(p);
    else
        unlink(p);
}

/* Called with the VM's flock held. */
static void sweep_vm(const char *dir)
{
    uint64_t gen = 0;
    /* A damaged state.json names no generation: then no memory file is
     * touched (it may be all that is left of the guest). */
    bool gen_known = noop_store_read_memgen(dir, &gen) == 0;
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *e;
    while (d && (e = g_dir_read_name(d))) {
        gint64 fgen = memory_file_gen(e);
        if (e[0] == '.' || (gen_known && fgen >= 0 && (uint64_t)fgen != gen))
            remove_entry(dir, e);
    }
    if (d)
        g_dir_close(d);
    g_autofree char *snaps = g_build_filename(dir, "snapshots", NULL);
    d = g_dir_open(snaps, 0, NULL);
    while (d && (e = g_dir_read_name(d)))
        if (e[0] == '.')
            remove_entry(snaps, e);
    if (d)
        g_dir_close(d);
}

void noop_store_sweep(struct noop_conn *nc)
{
    g_autofree char *names_path = g_build_filename(nc->dir, ".locks", "@names.lock", NULL);
    int names_fd = qv_lock_acquire(names_path, 0);
    GDir *d = g_dir_open(nc->dir, 0, NULL);
    const char *e;
    while (d && (e = g_dir_read_name(d))) {
        g_autofree char *owner = tmp_owner(e);
        if (owner ? names_fd < 0 || !qv_name_check(owner, "VM")
                  : e[0] == '.' || !qv_name_check(e, "VM"))
            continue;
        int fd = try_lock(nc, owner ? owner : e);
        if (fd < 0)
            continue; /* at work: its writer cleans up, or the next open does */
        g_autofree char *path = g_build_filename(nc->dir, e, NULL);
        if (owner)
            qv_dir_remove_tree(path);
        else if (g_file_test(path, G_FILE_TEST_IS_DIR))
            sweep_vm(path);
        qv_lock_release(fd);
    }
    if (d)
        g_dir_close(d);
    qv_lock_release(names_fd);
    qv_reset_error(); /* nothing here is the caller's business */
}
