/* The virtio devices a definition asks for (<disk>, <interface>, <rng>,
 * <console> with <target type='virtio'>),
 * each built over the machine's device host and placed in the board's next
 * virtio-mmio window. They are built at every power-on, so a start opens
 * the disks and binds the forwarded ports; the VM stopping releases them
 * (kvm_board_release_virtio, before the stop is reported); define only
 * checks (kvm_conf.c). */
#include <string.h>

#include "../../lib/conf/conf_check.h"
#include "../../lib/util/error.h"
#include "board/board.h"
#include "devices/chardev.h"
#include "kvm.h"
#include "virtio/virtio_blk.h"
#include "virtio/virtio_console.h"
#include "virtio/virtio_net.h"
#include "virtio/virtio_rng.h"

/* The board owns dev from here on, also when placing it fails. */
static int place(struct kvm_machine *m, const struct virtio_dev_ops *ops, void *dev)
{
    return kvm_board_add_virtio(m->board, &kvm_board_virtio_mmio, ops, dev);
}

static bool is_virtio_console(const struct qv_chardev *c)
{
    return g_strcmp0(c->target_type, "virtio") == 0;
}

static void vcon_out(void *opaque, const uint8_t *buf, size_t len)
{
    kvm_chardev_write(opaque, buf, len);
}

static void vcon_in(void *opaque, const uint8_t *buf, size_t len)
{
    /* What does not fit in the device's buffer is dropped, as a UART
     * whose FIFO is full drops it. */
    virtio_console_receive(opaque, buf, len);
}

static void vcon_release(void *opaque)
{
    kvm_chardev_close(opaque);
}

/* A virtio console: its own backend, opened at each power-on as the
 * device is, and closed with it. */
static int add_console(struct kvm_machine *m, const struct qv_chardev *cfg)
{
    struct kvm_chardev *chr = kvm_chardev_open(cfg, m->def->name);
    if (!chr)
        return qv_error_code();
    struct virtio_console *con = virtio_console_state_new(vcon_out, chr);
    if (!con) {
        kvm_chardev_close(chr);
        return qv_error_code();
    }
    virtio_console_set_release(con, vcon_release);
    if (place(m, &virtio_console_ops, con) < 0)
        return qv_error_code();
    kvm_chardev_start_input(chr, vcon_in, con);
    return 0;
}

int kvm_virtio_devices_add(struct kvm_machine *m)
{
    const struct qv_domain *def = m->def;
    for (guint i = 0; i < def->disks->len; i++) {
        const struct virtio_dev_ops *ops = NULL;
        void *dev = virtio_blk_state_new(&m->host, g_ptr_array_index(def->disks, i), &ops);
        if (!dev || place(m, ops, dev) < 0)
            return qv_error_code();
    }
    for (guint i = 0; i < def->nets->len; i++) {
        struct virtio_net *net = NULL;
        if (virtio_net_from_def(def->name, g_ptr_array_index(def->nets, i), 0, &net) < 0 ||
            place(m, &virtio_net_ops, net) < 0)
            return qv_error_code();
    }
    for (guint i = 0; i < def->rngs->len; i++)
        if (place(m, &virtio_rng_ops, virtio_rng_state_new()) < 0)
            return qv_error_code();
    for (guint i = 0; i < def->consoles->len; i++)
        if (is_virtio_console(g_ptr_array_index(def->consoles, i)) &&
            add_console(m, g_ptr_array_index(def->consoles, i)) < 0)
            return qv_error_code();
    return 0;
}

/* The backends a virtio console has (devices/chardev.c). stdio stays the
 * serial port's, which reads standard input; a pty's /dev/pts path would
 * be reported nowhere (the VM's console endpoint is the serial port's). */
static int check_console(const char *name, const struct qv_chardev *c, unsigned index)
{
    if (c->type != QV_CHR_FILE && c->type != QV_CHR_UNIX && c->type != QV_CHR_NULL)
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "VM '%s': <console type='%s'><target type='virtio'> is not supported "
                            "by the kvm driver (a virtio console is file, unix or null: stdio is "
                            "the serial port's, and a pty's path would be reported nowhere)",
                            name, qv_conf_chr_types[c->type]);
    /* Each virtio console is a device of one port: the guest's hvcN in
     * document order. A port number saying otherwise would be ignored. */
    if (c->port != index)
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "VM '%s': <console><target type='virtio' port='%u'> is not supported "
                            "by the kvm driver: virtio console %u is port %u (each is a device of "
                            "one port, hvc0, hvc1, ... in document order)",
                            name, c->port, index, index);
    return 0;
}

/* /dev/random and /dev/urandom give the same bytes once the kernel's pool
 * is initialised (Linux 5.6 and later), which getrandom() waits for. */
static bool rng_backend_ok(const char *path)
{
    return !path || strcmp(path, "/dev/urandom") == 0 || strcmp(path, "/dev/random") == 0;
}

/* A path two backends would each open for themselves: a file is
 * truncated by the second open, a listening socket unlinked and bound
 * again by it. */
static bool owns_path(const struct qv_chardev *c)
{
    return c->path && (c->type == QV_CHR_FILE || (c->type == QV_CHR_UNIX && c->listen));
}

/* Virtio console c against the serial port and the virtio consoles before
 * it: no two of them on one file or listening socket. */
static int check_shared_path(const struct qv_domain *def, const struct qv_chardev *c)
{
    if (!owns_path(c))
        return 0;
    const char *name = def->name ? def->name : "";
    for (guint i = 0; i < def->serials->len; i++) {
        const struct qv_chardev *s = g_ptr_array_index(def->serials, i);
        if (owns_path(s) && strcmp(s->path, c->path) == 0)
            return qv_error_set(QV_ERR_INVALID_ARG,
                                "VM '%s': the virtio <console> and the <serial> both name %s; "
                                "each needs a file or socket of its own",
                                name, c->path);
    }
    for (guint i = 0; i < def->consoles->len; i++) {
        const struct qv_chardev *o = g_ptr_array_index(def->consoles, i);
        if (o == c)
            break;
        if (is_virtio_console(o) && owns_path(o) && strcmp(o->path, c->path) == 0)
            return qv_error_set(QV_ERR_INVALID_ARG,
                                "VM '%s': two virtio <console>s both name %s; each needs a file "
                                "or socket of its own",
                                name, c->path);
    }
    return 0;
}

int kvm_virtio_devices_check(const struct qv_domain *def)
{
    const char *name = def->name ? def->name : "";
    for (guint i = 0; i < def->disks->len; i++)
        if (virtio_blk_check(name, g_ptr_array_index(def->disks, i)) < 0)
            return qv_error_code();
    for (guint i = 0; i < def->nets->len; i++)
        if (virtio_net_check_def(name, g_ptr_array_index(def->nets, i)) < 0)
            return qv_error_code();
    for (guint i = 0; i < def->rngs->len; i++) {
        const struct qv_rng *r = g_ptr_array_index(def->rngs, i);
        if (g_strcmp0(r->model, "virtio") != 0)
            return qv_error_set(QV_ERR_UNSUPPORTED,
                                "VM '%s': <rng model='%s'> is not supported by the kvm driver "
                                "(only virtio)",
                                name, r->model ? r->model : "");
        if (!rng_backend_ok(r->backend))
            return qv_error_set(QV_ERR_UNSUPPORTED,
                                "VM '%s': <rng><backend model='random'>%s</backend> is not "
                                "supported by the kvm driver: its virtio-rng reads getrandom(), "
                                "as /dev/urandom or /dev/random",
                                name, r->backend);
    }
    guint n = def->disks->len + def->nets->len + def->rngs->len, ncons = 0;
    for (guint i = 0; i < def->consoles->len; i++) {
        const struct qv_chardev *c = g_ptr_array_index(def->consoles, i);
        if (is_virtio_console(c) &&
            (check_console(name, c, ncons++) < 0 || check_shared_path(def, c) < 0))
            return qv_error_code();
    }
    n += ncons;
    if (n > KVM_BOARD_VIRTIO_MAX)
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "VM '%s' has %u virtio devices (disks, interfaces, rngs and virtio "
                            "consoles); the kvm "
                            "driver's board has %u virtio-mmio slots",
                            name, n, KVM_BOARD_VIRTIO_MAX);
    return 0;
}
