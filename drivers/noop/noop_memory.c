/* Guest memory of noop VMs: real host memory, so that what a test writes
 * it reads back. Every region is backed by a file descriptor (a memfd in
 * memory mode, a sparse file in directory mode, shared between processes)
 * and mapped MAP_NORESERVE on first use: a VM of many GiB costs nothing
 * until touched, and copies visit only the extents that hold data. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util/error.h"
#include "lib/util/fileio.h"
#include "noop.h"

#define PAGE 4096u

struct noop_region *noop_region_new(uint64_t gpa, uint64_t size, uint32_t flags, const char *path)
{
    struct noop_region *r = g_new0(struct noop_region, 1);
    r->gpa = gpa;
    r->size = size;
    r->flags = flags;
    r->path = g_strdup(path);
    r->fd = -1;
    return r;
}

void noop_region_free(struct noop_region *r)
{
    if (!r)
        return;
    if (r->hva)
        munmap(r->hva, r->size);
    if (r->fd >= 0)
        close(r->fd);
    g_free(r->path);
    g_free(r);
}

char *noop_region_file(const char *dir, uint64_t gpa, uint64_t gen)
{
    /* Generation 0 keeps the name older versions wrote. */
    if (gen == 0)
        return g_strdup_printf("%s/memory-%" G_GINT64_MODIFIER "x.bin", dir, gpa);
    return g_strdup_printf("%s/memory-%" G_GINT64_MODIFIER "x.g%" G_GUINT64_FORMAT ".bin", dir, gpa,
                           gen);
}

static int region_open(struct noop_region *r)
{
    if (r->fd >= 0)
        return 0;
    int fd = r->path ? qv_file_open_private(r->path, O_RDWR)
                     : memfd_create("qv-noop-memory", MFD_CLOEXEC);
    if (fd < 0)
        return qv_error_set_errno(QV_ERR_SYSTEM, errno, "cannot open guest memory %s",
                                  r->path ? r->path : "(memfd)");
    struct stat st;
    if (fstat(fd, &st) < 0 || ((uint64_t)st.st_size < r->size && ftruncate(fd, r->size) < 0)) {
        int err = errno;
        close(fd);
        return qv_error_set_errno(
            QV_ERR_SYSTEM, err, "cannot size guest memory of %" G_GUINT64_FORMAT " bytes", r->size);
    }
    r->fd = fd;
    return 0;
}

int noop_region_map(struct noop_region *r)
{
    if (r->hva)
        return 0;
    int rc = region_open(r);
    if (rc < 0)
        return rc;
    if (r->size > SIZE_MAX)
        return qv_error_set(QV_ERR_NOMEM, "guest memory region is larger than the address space");
    void *p = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, r->fd, 0);
    if (p == MAP_FAILED)
        return qv_error_set_errno(
            QV_ERR_NOMEM, errno, "cannot map %" G_GUINT64_FORMAT " bytes of guest memory", r->size);
    r->hva = p;
    return 0;
}

int noop_region_copy(struct noop_region *dst, struct noop_region *src)
{
    if (dst->size != src->size)
        return qv_error_set(QV_ERR_INTERNAL, "memory copy between regions of different sizes");
    int rc = region_open(dst);
    if (rc < 0)
        return rc;
    const char *dst_name = dst->path ? dst->path : "(memfd)";
    if (src->fd < 0 && !src->path)
        return 0; /* never touched: all zero */
    if ((rc = region_open(src)) < 0)
        return rc;
    /* Zero pages are skipped, so the copy stays as sparse as its source. */
    rc =
        qv_fd_copy_sparse(src->fd, dst->fd, src->size, src->path ? src->path : "(memfd)", dst_name);
    if (rc < 0)
        return rc;
    if (dst->path && fsync(dst->fd) < 0)
        return qv_error_set_errno(QV_ERR_IO, errno, "cannot write %s", dst->path);
    return 0;
}

int noop_region_swap(struct noop_region *r, struct noop_region *fresh)
{
    int rc = region_open(fresh);
    if (rc < 0)
        return rc;
    if (r->hva) {
        /* Mapped in place: pointers handed out by vm_gpa_to_hva stay valid
         * and now see the new contents. */
        void *p = mmap(r->hva, r->size, PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_NORESERVE | MAP_FIXED, fresh->fd, 0);
        if (p == MAP_FAILED)
            return qv_error_set_errno(QV_ERR_NOMEM, errno, "cannot map guest memory %s",
                                      fresh->path ? fresh->path : "(memfd)");
    }
    if (r->fd >= 0)
        close(r->fd);
    r->fd = fresh->fd;
    fresh->fd = -1;
    g_free(r->path);
    r->path = g_steal_pointer(&fresh->path);
    return 0;
}

uint64_t noop_region_bytes(struct noop_region *r)
{
    struct stat st;
    if (r->fd >= 0 ? fstat(r->fd, &st) < 0 : !r->path || stat(r->path, &st) < 0)
        return 0;
    return (uint64_t)st.st_blocks * 512;
}

/* ---- The VM's region list ---- */

static int add_region(struct noop_vm *v, uint64_t gpa, uint64_t size, uint32_t flags)
{
    for (guint i = 0; i < v->regions->len; i++) {
        struct noop_region *r = g_ptr_array_index(v->regions, i);
        if (gpa < r->gpa + r->size && r->gpa < gpa + size)
            return qv_error_set(
                QV_ERR_INVALID_ARG,
                "VM '%s': memory region 0x%" G_GINT64_MODIFIER "x-0x%" G_GINT64_MODIFIER
                "x overlaps the region 0x%" G_GINT64_MODIFIER "x-0x%" G_GINT64_MODIFIER "x",
                v->name, gpa, gpa + size - 1, r->gpa, r->gpa + r->size - 1);
    }
    g_autofree char *path = v->dir ? noop_region_file(v->dir, gpa, v->memgen) : NULL;
    guint at = 0;
    while (at < v->regions->len &&
           ((struct noop_region *)g_ptr_array_index(v->regions, at))->gpa < gpa)
        at++;
    g_ptr_array_insert(v->regions, (gint)at, noop_region_new(gpa, size, flags, path));
    return 0;
}

int noop_memory_init(struct noop_vm *v)
{
    uint64_t size = (v->def->memory_kib * 1024 + PAGE - 1) & ~(uint64_t)(PAGE - 1);
    return add_region(v, 0, size, VM_MEM_READ | VM_MEM_WRITE | VM_MEM_EXEC);
}

int noop_memory_sync(struct noop_vm *v, GArray *regions)
{
    for (guint i = 0; i < regions->len; i++) {
        struct noop_region *want = &g_array_index(regions, struct noop_region, i);
        if (noop_memory_find(v, want->gpa, want->size))
            continue;
        int rc = add_region(v, want->gpa, want->size, want->flags);
        if (rc < 0) {
            /* Only a damaged file lists an impossible region. */
            g_autofree char *why = g_strdup(qv_last_error()->message);
            return qv_error_set(QV_ERR_JSON, "%s/state.json: $.regions[%u]: %s", v->dir, i, why);
        }
    }
    return 0;
}

int noop_memory_regen(struct noop_vm *v, uint64_t gen)
{
    for (guint i = 0; i < v->regions->len; i++) {
        struct noop_region *r = g_ptr_array_index(v->regions, i);
        g_autofree char *path = noop_region_file(v->dir, r->gpa, gen);
        struct stat st;
        if (stat(path, &st) < 0 || (uint64_t)st.st_size != r->size) {
            /* The new generation changed the layout (a restore across a
             * memory resize): start over from the files. */
            noop_memory_clear(v);
            break;
        }
        struct noop_region *fresh = noop_region_new(r->gpa, r->size, r->flags, path);
        int rc = r->fd >= 0 || r->hva ? noop_region_swap(r, fresh) : 0;
        if (rc == 0 && r->fd < 0) {
            g_free(r->path);
            r->path = g_steal_pointer(&path);
        }
        noop_region_free(fresh);
        if (rc < 0)
            return rc;
    }
    v->memgen = gen;
    return 0;
}

struct noop_region *noop_memory_find(struct noop_vm *v, uint64_t gpa, uint64_t size)
{
    for (guint i = 0; i < v->regions->len; i++) {
        struct noop_region *r = g_ptr_array_index(v->regions, i);
        if (r->gpa == gpa && r->size == size)
            return r;
    }
    return NULL;
}

void noop_memory_clear(struct noop_vm *v)
{
    g_ptr_array_set_size(v->regions, 0);
}

int noop_memory_add(struct noop_vm *v, uint64_t gpa, uint64_t size, uint32_t flags)
{
    int rc = add_region(v, gpa, size, flags);
    if (rc < 0 || !v->dir)
        return rc;
    rc = noop_store_save_state(v);
    if (rc < 0)
        g_ptr_array_remove(v->regions, noop_memory_find(v, gpa, size));
    return rc;
}

static struct noop_region *region_at(struct noop_vm *v, uint64_t gpa)
{
    for (guint i = 0; i < v->regions->len; i++) {
        struct noop_region *r = g_ptr_array_index(v->regions, i);
        if (gpa >= r->gpa && gpa - r->gpa < r->size)
            return r;
    }
    return NULL;
}

/* ---- Slots ---- */

int noop_vm_add_memory_region(struct vm *vm, uint64_t gpa, uint64_t size, uint32_t flags)
{
    struct noop_vm *v = NOOP_VM(vm);
    int rc = noop_vm_begin(v);
    if (rc < 0)
        return rc;
    rc = noop_memory_add(v, gpa, size, flags);
    noop_vm_end(v);
    return rc;
}

void *noop_vm_gpa_to_hva(struct vm *vm, uint64_t gpa)
{
    struct noop_vm *v = NOOP_VM(vm);
    if (noop_vm_begin(v) < 0)
        return NULL;
    void *p = NULL;
    struct noop_region *r = region_at(v, gpa);
    if (!r)
        qv_error_set(QV_ERR_OUT_OF_RANGE,
                     "guest address 0x%" G_GINT64_MODIFIER "x is outside the memory of VM '%s'",
                     gpa, v->name);
    else if (noop_region_map(r) == 0)
        p = r->hva + (gpa - r->gpa);
    noop_vm_end(v);
    return p;
}

/* Check the whole range first so that a failing call copies nothing. */
static int check_range(struct noop_vm *v, uint64_t gpa, size_t len, bool write)
{
    const char *verb = write ? "write" : "read";
    uint64_t at = gpa, left = len;
    while (left > 0) {
        struct noop_region *r = region_at(v, at);
        if (!r)
            return qv_error_set(QV_ERR_OUT_OF_RANGE,
                                "cannot %s %zu bytes at guest address 0x%" G_GINT64_MODIFIER
                                "x of VM '%s': 0x%" G_GINT64_MODIFIER "x is not guest memory",
                                verb, len, gpa, v->name, at);
        if (write && !(r->flags & VM_MEM_WRITE))
            return qv_error_set(QV_ERR_PERMISSION,
                                "cannot write guest address 0x%" G_GINT64_MODIFIER
                                "x of VM '%s': region 0x%" G_GINT64_MODIFIER
                                "x-0x%" G_GINT64_MODIFIER "x is read-only",
                                at, v->name, r->gpa, r->gpa + r->size - 1);
        uint64_t n = MIN(left, r->size - (at - r->gpa));
        int rc = noop_region_map(r);
        if (rc < 0)
            return rc;
        at += n;
        left -= n;
    }
    return 0;
}

static int memory_rw(struct vm *vm, uint64_t gpa, uint8_t *buf, size_t len, bool write)
{
    struct noop_vm *v = NOOP_VM(vm);
    int rc = noop_vm_begin(v);
    if (rc < 0)
        return rc;
    rc = check_range(v, gpa, len, write);
    for (uint64_t at = gpa, left = len; rc == 0 && left > 0;) {
        struct noop_region *r = region_at(v, at);
        uint64_t off = at - r->gpa, n = MIN(left, r->size - off);
        int err;
        if (write && (err = qv_pwrite_all(r->fd, buf, n, (off_t)off)) < 0)
            /* Not memcpy: on a full file system that would be a SIGBUS. */
            rc = qv_error_set_errno(
                QV_ERR_IO, -err,
                "cannot write guest memory of VM '%s' at 0x%" G_GINT64_MODIFIER "x", v->name, at);
        else if (!write)
            memcpy(buf, r->hva + off, n);
        buf += n;
        at += n;
        left -= n;
    }
    noop_vm_end(v);
    return rc;
}

int noop_vm_read_memory(struct vm *vm, uint64_t gpa, void *buf, size_t len)
{
    return memory_rw(vm, gpa, buf, len, false);
}

int noop_vm_write_memory(struct vm *vm, uint64_t gpa, const void *buf, size_t len)
{
    return memory_rw(vm, gpa, (void *)buf, len, true);
}
