/* The virtio devices a definition asks for (<disk>, <interface>, <rng>),
 * each built over the machine's device host and placed in the board's next
 * virtio-mmio window. They are built at every power-on, so a start opens
 * the disks and binds the forwarded ports; the VM stopping releases them
 * (kvm_board_release_virtio, before the stop is reported); define only
 * checks (kvm_conf.c). */
#include <string.h>

#include "../../lib/util/error.h"
#include "board/board.h"
#include "kvm.h"
#include "virtio/virtio_blk.h"
#include "virtio/virtio_net.h"
#include "virtio/virtio_rng.h"

/* The board owns dev from here on, also when placing it fails. */
static int place(struct kvm_machine *m, const struct virtio_dev_ops *ops, void *dev)
{
    return kvm_board_add_virtio(m->board, &kvm_board_virtio_mmio, ops, dev);
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
    return 0;
}

/* /dev/random and /dev/urandom give the same bytes once the kernel's pool
 * is initialised (Linux 5.6 and later), which getrandom() waits for. */
static bool rng_backend_ok(const char *path)
{
    return !path || strcmp(path, "/dev/urandom") == 0 || strcmp(path, "/dev/random") == 0;
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
    guint n = def->disks->len + def->nets->len + def->rngs->len;
    if (n > KVM_BOARD_VIRTIO_MAX)
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "VM '%s' has %u virtio devices (disks, interfaces and rngs); the kvm "
                            "driver's board has %u virtio-mmio slots",
                            name, n, KVM_BOARD_VIRTIO_MAX);
    return 0;
}
