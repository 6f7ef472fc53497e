#include "kvm_conf.h"

#include <string.h>

#include "../../lib/conf/address.h"
#include "../../lib/conf/conf_check.h"
#include "../../lib/util/error.h"

static int refuse(const struct qv_domain *def, const char *element)
{
    return qv_error_set(QV_ERR_UNSUPPORTED, "VM '%s': %s is not supported by the kvm driver yet",
                        def->name ? def->name : "", element);
}

/* The UART backends the board's serial port has (devices/chardev.c). */
static bool chardev_ok(enum qv_chardev_type t)
{
    return t == QV_CHR_PTY || t == QV_CHR_FILE || t == QV_CHR_UNIX || t == QV_CHR_STDIO ||
           t == QV_CHR_NULL;
}

/* The board's one 16550, with a backend its chardev code has. */
static int check_console(const struct qv_domain *def)
{
    const struct qv_chardev *c = NULL;
    int rc = qv_domain_serial_port(def, "kvm", &c);
    if (rc < 0)
        return rc;
    if (c && !chardev_ok(c->type)) {
        g_autofree char *what = g_strdup_printf(
            "<%s type='%s'>", def->serials->len ? "serial" : "console", qv_conf_chr_types[c->type]);
        return refuse(def, what);
    }
    return 0;
}

static bool is_destroy(const char *action)
{
    return !action || strcmp(action, "destroy") == 0;
}

int kvm_domain_check(const struct qv_domain *def)
{
    /* Elements qv keeps without modelling them: the VMM knows none. */
    if (qv_domain_check_kept(def, "kvm", NULL) < 0)
        return qv_error_code();
    if (qv_domain_refuse_addresses(def, "kvm", "the VMM places its devices itself") < 0)
        return qv_error_code();
    if (def->partition)
        return refuse(def, "<resource><partition>");
    if (def->cpu.features)
        return refuse(def, "<cpu><feature>");
    if (def->ntimers)
        return refuse(def, "<clock><timer>");
    if (def->clock_offset && strcmp(def->clock_offset, "utc") != 0)
        return refuse(def, "<clock offset> other than utc (the RTC keeps UTC)");
    if (def->clock_adjustment && strcmp(def->clock_adjustment, "reset") != 0)
        return refuse(def, "<clock adjustment> (the RTC keeps UTC)");
    if (def->pm_s3 >= 0 || def->pm_s4 >= 0)
        return refuse(def, "<pm>");
    if (def->cloud_init)
        return refuse(def, "<metadata><qv:cloud-init> (the seed is a disk, and the VMM has none "
                           "yet)");
    /* virtio-mmio disks, NICs, rngs and virtio consoles. */
    if (kvm_virtio_devices_check(def) < 0)
        return qv_error_code();
    if (def->hostdevs->len)
        return refuse(def, "<hostdev>");
    if (def->channels->len)
        return refuse(def, "<channel>");
    if (def->graphics->len)
        return refuse(def, "<graphics>");
    int rc = check_console(def);
    if (rc < 0)
        return rc;

    if (def->type == QV_VIRT_QEMU)
        return refuse(def, "<domain type='qemu'> (TCG)");
    if (def->vcpu_cpuset)
        return refuse(def, "<vcpu cpuset=...>");
    if (g_strcmp0(def->vcpu_placement, "auto") == 0)
        return refuse(def, "<vcpu placement='auto'>");
    if (def->type != QV_VIRT_KVM) {
        g_autofree char *what =
            g_strdup_printf("<domain type='%s'>", qv_conf_virt_types[def->type]);
        return refuse(def, what);
    }
    /* Memory: one memfd of <memory>, 4 KiB pages, no balloon, no node. */
    if (def->hugepages)
        return refuse(def, "<memoryBacking><hugepages/>");
    if (def->numa_node >= 0)
        return refuse(def, "<numatune>");
    if (def->current_memory_kib && def->current_memory_kib != def->memory_kib)
        return refuse(def, "<currentMemory> below <memory> (a balloon)");
    /* CPU: KVM's supported CPUID with the <topology>; pins are honoured,
     * weight and cap need a cgroup of the VM's own, which only a VM in its
     * own process has (kvm:///session enforces them outside qv-vmm and
     * gives it a definition without them). */
    if (def->cpu.mode == QV_CPU_MODE_CUSTOM || def->cpu.model)
        return refuse(def, "a named <cpu><model> (the guest sees KVM's host CPUID)");
    if (def->cpu.mode == QV_CPU_MODE_HOST_MODEL)
        return refuse(def, "<cpu mode='host-model'> (the guest sees KVM's host CPUID: use "
                           "host-passthrough)");
    if (def->cputune.shares)
        return refuse(def, "a CPU weight (<cputune><shares>)");
    if (def->cputune.cap)
        return refuse(def, "a CPU cap (<cputune><quota>)");
    /* Board: pc-like, direct kernel boot only. */
    if (def->os.arch && strcmp(def->os.arch, "x86_64") != 0)
        return refuse(def, "an <os><type arch> other than x86_64");
    if (def->os.machine && strcmp(def->os.machine, "pc") != 0 &&
        !g_str_has_prefix(def->os.machine, "pc-i440fx"))
        return refuse(def, "an <os><type machine> other than pc");
    if (def->os.loader)
        return refuse(def, "<loader> (firmware)");
    if (def->os.nvram || def->os.nvram_template)
        return refuse(def, "<nvram>");
    if (def->os.boot_devs && def->os.boot_devs[0])
        return refuse(def, "<boot dev> (there is no firmware to boot devices; use <kernel>)");
    if (!def->os.kernel && (def->os.initrd || def->os.cmdline))
        return refuse(def, "<initrd> or <cmdline> without <kernel>");
    if (def->emulator)
        return refuse(def, "<emulator>");
    /* The VM stops whatever ends it (vm_wait reports why). */
    if (!is_destroy(def->on_poweroff))
        return refuse(def, "<on_poweroff> other than destroy");
    if (!is_destroy(def->on_reboot))
        return refuse(def, "<on_reboot> other than destroy (a guest reset stops the VM)");
    if (!is_destroy(def->on_crash))
        return refuse(def, "<on_crash> other than destroy");
    return 0;
}

struct qv_domain *kvm_setting_apply(const struct qv_domain *def, const struct qv_setting *set,
                                    const char *vm_name)
{
    g_autoptr(qv_domain) copy = qv_domain_copy(def);
    if (qv_setting_apply(copy, set, vm_name) < 0 || kvm_domain_check(copy) < 0)
        return NULL;
    return g_steal_pointer(&copy);
}
