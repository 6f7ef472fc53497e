/* QEMU's fw_cfg, legacy I/O interface (selector then data port; 0x510 and
 * 0x511 on a PC; no DMA):
 * signature, interface ID, UUID, RAM size, CPU counts and a file directory,
 * laid out as docs/specs/fw_cfg.rst describes. */
#include <glib.h>
#include <string.h>

#include "../../../lib/util/error.h"
#include "../snapshot/snap_buf.h"
#include "devices.h"

enum {
    FW_SIGNATURE = 0x00,
    FW_ID = 0x01,
    FW_UUID = 0x02,
    FW_RAM_SIZE = 0x03,
    FW_NB_CPUS = 0x05,
    FW_MAX_CPUS = 0x0f,
    FW_FILE_DIR = 0x19,
    FW_FILE_FIRST = 0x20,
    FW_KEY_MASK = 0x3fff,
};

struct item {
    uint16_t key;
    GBytes *data;
    char name[56];
};

struct kvm_fw_cfg {
    const struct kvm_dev_host *host;
    GMutex lock;
    GArray *items; /* struct item */
    uint16_t selector;
    uint32_t offset;
    const struct item *cur;
};

static void set_item(struct kvm_fw_cfg *f, uint16_t key, const void *data, size_t len)
{
    struct item it = {.key = key, .data = g_bytes_new(data, len)};
    g_array_append_val(f->items, it);
}

static void le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void be(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static const struct item *find(struct kvm_fw_cfg *f, uint16_t key)
{
    for (guint i = 0; i < f->items->len; i++) {
        const struct item *it = &g_array_index(f->items, struct item, i);
        if (it->key == key)
            return it;
    }
    return NULL;
}

/* The directory is rebuilt whenever a file is added. */
static void rebuild_dir(struct kvm_fw_cfg *f)
{
    guint nfiles = 0;
    for (guint i = 0; i < f->items->len; i++)
        nfiles += g_array_index(f->items, struct item, i).key >= FW_FILE_FIRST;
    size_t len = 4 + (size_t)nfiles * 64;
    g_autofree uint8_t *dir = g_malloc0(len);
    be(dir, nfiles, 4);
    uint8_t *p = dir + 4;
    for (guint i = 0; i < f->items->len; i++) {
        struct item *it = &g_array_index(f->items, struct item, i);
        if (it->key < FW_FILE_FIRST)
            continue;
        be(p, g_bytes_get_size(it->data), 4);
        be(p + 4, it->key, 2);
        memcpy(p + 8, it->name, sizeof(it->name));
        p += 64;
    }
    for (guint i = 0; i < f->items->len; i++) {
        struct item *it = &g_array_index(f->items, struct item, i);
        if (it->key == FW_FILE_DIR) {
            g_bytes_unref(it->data);
            it->data = g_bytes_new(dir, len);
            return;
        }
    }
    set_item(f, FW_FILE_DIR, dir, len);
}

int kvm_fw_cfg_add_file(struct kvm_fw_cfg *f, const char *name, const void *data, size_t len)
{
    if (strlen(name) >= 56)
        return qv_error_set(QV_ERR_INVALID_ARG, "fw_cfg file name '%s' is too long", name);
    g_mutex_lock(&f->lock);
    uint16_t key = FW_FILE_FIRST;
    for (guint i = 0; i < f->items->len; i++) {
        const struct item *it = &g_array_index(f->items, struct item, i);
        if (it->key >= key)
            key = it->key + 1;
    }
    struct item it = {.key = key, .data = g_bytes_new(data, len)};
    g_strlcpy(it.name, name, sizeof(it.name));
    g_array_append_val(f->items, it);
    rebuild_dir(f);
    f->cur = find(f, f->selector);
    g_mutex_unlock(&f->lock);
    return 0;
}

void kvm_fw_cfg_io(void *dev, uint64_t offset, uint8_t *data, uint32_t size, bool is_write)
{
    struct kvm_fw_cfg *f = dev;
    g_mutex_lock(&f->lock);
    if (offset == 0 && is_write) {
        f->selector = (uint16_t)kvm_bus_get(data, size) & FW_KEY_MASK;
        f->offset = 0;
        f->cur = find(f, f->selector);
    } else if (offset == 0) {
        kvm_bus_put(data, size, 0);
    } else if (!is_write) {
        /* Each byte read from the data port is the next byte of the item;
         * past its end, zeroes. */
        for (uint32_t i = 0; i < size; i++) {
            size_t len = 0;
            const uint8_t *p = f->cur ? g_bytes_get_data(f->cur->data, &len) : NULL;
            data[i] = (p && f->offset < len) ? p[f->offset] : 0;
            if (f->offset < UINT32_MAX)
                f->offset++;
        }
    }
    /* Writes to the data port are ignored, as QEMU ignores them. */
    g_mutex_unlock(&f->lock);
}

static void free_item(gpointer p)
{
    g_bytes_unref(((struct item *)p)->data);
}

struct kvm_fw_cfg *kvm_fw_cfg_new(const struct kvm_dev_host *host,
                                  const struct kvm_fw_cfg_info *info)
{
    struct kvm_fw_cfg *f = g_new0(struct kvm_fw_cfg, 1);
    f->host = host;
    g_mutex_init(&f->lock);
    f->items = g_array_new(FALSE, TRUE, sizeof(struct item));
    g_array_set_clear_func(f->items, free_item);
    set_item(f, FW_SIGNATURE, "QEMU", 4);
    uint8_t b[8];
    le(b, 1, 4); /* traditional interface only */
    set_item(f, FW_ID, b, 4);
    uint8_t uuid[16] = {0};
    const char *s = info->uuid ? info->uuid : "";
    for (int i = 0, n = 0; s[i] && n < 32; i++) {
        if (!g_ascii_isxdigit(s[i]))
            continue;
        uuid[n / 2] |= (uint8_t)(g_ascii_xdigit_value(s[i]) << (n % 2 ? 0 : 4));
        n++;
    }
    set_item(f, FW_UUID, uuid, 16);
    le(b, info->ram_size, 8);
    set_item(f, FW_RAM_SIZE, b, 8);
    le(b, info->vcpus, 2);
    set_item(f, FW_NB_CPUS, b, 2);
    le(b, info->max_vcpus, 2);
    set_item(f, FW_MAX_CPUS, b, 2);
    rebuild_dir(f);
    return f;
}

void kvm_fw_cfg_free(struct kvm_fw_cfg *f)
{
    if (!f)
        return;
    g_array_free(f->items, TRUE);
    g_mutex_clear(&f->lock);
    g_free(f);
}

int kvm_fw_cfg_save(const struct kvm_fw_cfg *f, struct snap_out *o)
{
    GMutex *lock = (GMutex *)&f->lock; /* not the device's state */
    g_mutex_lock(lock);
    snap_put_u16(o, f->selector);
    snap_put_u32(o, f->offset);
    /* Which file, by name: the definition rebuilds the files, and a load
     * must find the same one under the selector. */
    const char *name = f->cur && f->cur->key >= FW_FILE_FIRST ? f->cur->name : "";
    snap_put_blob(o, name, (uint32_t)strlen(name));
    g_mutex_unlock(lock);
    return 0;
}

int kvm_fw_cfg_load(struct kvm_fw_cfg *f, struct snap_in *in)
{
    uint16_t selector = snap_get_u16(in, "selector");
    uint32_t offset = snap_get_u32(in, "offset");
    uint32_t name_len = 0;
    const char *name =
        snap_get_blob(in, "file name", sizeof(((struct item *)0)->name) - 1, &name_len);
    g_mutex_lock(&f->lock);
    const struct item *it = NULL;
    if (snap_in_ok(in)) {
        it = find(f, selector);
        if (selector > FW_KEY_MASK) {
            snap_in_fail(in, "selector 0x%x is past the largest key 0x%x", selector, FW_KEY_MASK);
        } else if (selector >= FW_FILE_FIRST) {
            if (!it)
                snap_in_fail(in, "selector 0x%x names a file this machine does not have", selector);
            else if (strlen(it->name) != name_len || memcmp(it->name, name, name_len) != 0)
                snap_in_fail(in, "selector 0x%x is file '%s' here, '%.*s' in the snapshot",
                             selector, it->name, (int)name_len, name);
        } else if (name_len) {
            snap_in_fail(in, "selector 0x%x is not a file, yet the snapshot names file '%.*s'",
                         selector, (int)name_len, name);
        }
    }
    int rc = snap_in_finish(in);
    if (rc == 0) {
        /* Any offset is one a guest can reach by reading on; past the
         * item's end it reads zeroes, as it would have. */
        f->selector = selector;
        f->offset = offset;
        f->cur = it;
    }
    g_mutex_unlock(&f->lock);
    return rc;
}
