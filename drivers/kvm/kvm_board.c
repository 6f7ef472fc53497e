/* A booted machine's board: built from the machine's shape as plain values,
 * and powered on with the machine's kernel loader and console settings. */
#include <glib.h>

#include "../../lib/util/error.h"
#include "board/board.h"
#include "kvm.h"
#include "loaders/loader.h"

int kvm_machine_board_new(struct kvm_machine *m)
{
    g_autofree uint32_t *apic = g_new0(uint32_t, m->nvcpus ? m->nvcpus : 1);
    for (uint32_t i = 0; i < m->nvcpus; i++)
        apic[i] = m->vcpus[i] ? m->vcpus[i]->apic_id : i;
    struct kvm_board_config cfg = {.ram_size = m->def->memory_kib * 1024,
                                   .ncpus = m->nvcpus,
                                   .max_cpus = m->def->max_vcpus,
                                   .apic_ids = apic,
                                   .uuid = m->def->uuid};
    m->board = kvm_board_pc_new(&m->host, &cfg, &m->pio, &m->mmio);
    return m->board ? 0 : qv_error_code();
}

static int load_kernel(void *opaque, const char *announce)
{
    return kvm_load_kernel_announce(opaque, announce);
}

static int console_config(void *opaque, const struct qv_chardev **cfg)
{
    struct kvm_machine *m = opaque;
    /* Checked at define time; a definition that got past it some other way
     * is still refused rather than half-honoured. */
    *cfg = NULL;
    return qv_domain_serial_port(m->def, "kvm", cfg);
}

int kvm_machine_power_on(struct kvm_machine *m)
{
    struct kvm_board_boot boot = {
        .load_kernel = load_kernel, .console_config = console_config, .opaque = m};
    if (kvm_virtio_devices_add(m) < 0)
        return qv_error_code();
    return kvm_board_power_on(m->board, &boot);
}
