/* The qemu-system-x86_64 command line for a domain definition: machine,
 * CPU, memory, firmware, monitors and console here; disks and devices in
 * qemu_argv_disk.c and qemu_argv_devices.c. Pure: it reads the definition
 * and the launch paths and touches nothing, so golden tests can compare
 * its output argument by argument. */
#include <string.h>

#include "../../lib/conf/conf_check.h"
#include "../../lib/util/cpuset.h"
#include "../../lib/util/error.h"
#include "qemu_argv.h"
#include "qemu_argv_machine.h"

void qemu_argv_add(struct qemu_argv *v, const char *s)
{
    g_ptr_array_add(v->a, g_strdup(s));
}

void qemu_argv_addf(struct qemu_argv *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_ptr_array_add(v->a, g_strdup_vprintf(fmt, ap));
    va_end(ap);
}

void qemu_argv_add2(struct qemu_argv *v, const char *opt, const char *val)
{
    qemu_argv_add(v, opt);
    qemu_argv_add(v, val);
}

int qemu_argv_unsupported(const struct qemu_argv *v, const char *what)
{
    return qv_error_set(QV_ERR_UNSUPPORTED, "VM '%s': %s is not supported by the qemu driver",
                        v->def->name, what);
}

char *qemu_opt_escape(const char *s)
{
    GString *out = g_string_new(NULL);
    for (; *s; s++) {
        if (*s == ',')
            g_string_append_c(out, ',');
        g_string_append_c(out, *s);
    }
    return g_string_free(out, FALSE);
}

/* Names that go into QEMU options unescaped: no commas, '=' or spaces. */
bool qemu_plain_word(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (!g_ascii_isalnum(*s) && !strchr("._-+", *s))
            return false;
    return true;
}

int qemu_disk_index(const char *target)
{
    static const char *const prefixes[] = {"xvd", "vd", "sd", "hd", NULL};
    if (!target)
        return -1;
    for (const char *const *p = prefixes; *p; p++) {
        if (!g_str_has_prefix(target, *p))
            continue;
        const char *s = target + strlen(*p);
        if (!*s || strlen(s) > 3)
            return -1;
        int idx = 0;
        for (; *s; s++) {
            if (*s < 'a' || *s > 'z')
                return -1;
            idx = idx * 26 + (*s - 'a' + 1);
        }
        return idx - 1;
    }
    return -1;
}

bool qemu_is_q35(const struct qv_domain *def)
{
    return def->os.machine && (g_str_has_prefix(def->os.machine, "q35") ||
                               g_str_has_prefix(def->os.machine, "pc-q35"));
}

char *qemu_json_text(JsonBuilder *b)
{
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    return json_to_string(root, FALSE);
}

void qemu_json_member_str(JsonBuilder *b, const char *k, const char *v)
{
    json_builder_set_member_name(b, k);
    json_builder_add_string_value(b, v);
}

void qemu_json_member_bool(JsonBuilder *b, const char *k, gboolean v)
{
    json_builder_set_member_name(b, k);
    json_builder_add_boolean_value(b, v);
}
const char *qemu_accel_of(const struct qv_domain *def)
{
    switch (def->type) {
    case QV_VIRT_KVM: return "kvm";
    case QV_VIRT_QEMU: return "tcg";
    default: return NULL;
    }
}

const char *qemu_cpu_of(const struct qv_domain *def)
{
    switch (def->cpu.mode) {
    case QV_CPU_MODE_HOST_PASSTHROUGH: return "host";
    /* QEMU's "max" is every feature the accelerator can give: the host's
     * under KVM, everything TCG emulates otherwise. */
    case QV_CPU_MODE_HOST_MODEL:
    case QV_CPU_MODE_MAXIMUM: return "max";
    case QV_CPU_MODE_CUSTOM: return def->cpu.model;
    default: return NULL;
    }
}

static int add_machine(struct qemu_argv *v)
{
    const struct qv_domain *def = v->def;
    const char *machine = def->os.machine ? def->os.machine : "pc";
    if (!qemu_plain_word(machine) ||
        !(g_str_has_prefix(machine, "pc") || g_str_has_prefix(machine, "q35")))
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "VM '%s': machine type '%s' is not supported (use pc or q35)",
                            def->name, machine);
    GString *m = g_string_new(machine);
    if (!def->acpi)
        g_string_append(m, ",acpi=off");
    if (def->os.loader && def->os.loader_pflash) {
        g_string_append(m, ",pflash0=pflash0");
        if (v->l->nvram)
            g_string_append(m, ",pflash1=pflash1");
    }
    if (def->hugepages || def->numa_node >= 0)
        g_string_append(m, ",memory-backend=ram0");
    qemu_argv_add(v, "-machine");
    g_ptr_array_add(v->a, g_string_free(m, FALSE));

    const char *accel = qemu_accel_of(def);
    if (!accel)
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "VM '%s': domain type '%s' cannot run on QEMU (use 'kvm' or 'qemu')",
                            def->name, qv_conf_virt_types[def->type]);
    qemu_argv_add2(v, "-accel", accel);
    return 0;
}

static int add_cpu(struct qemu_argv *v)
{
    const struct qv_domain *def = v->def;
    if (def->cpu.mode == QV_CPU_MODE_HOST_PASSTHROUGH && def->type != QV_VIRT_KVM)
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "VM '%s': <cpu mode='host-passthrough'> needs <domain type='kvm'>; "
                            "under TCG use host-model or a named model",
                            def->name);
    if (def->cpu.mode == QV_CPU_MODE_CUSTOM && !qemu_plain_word(def->cpu.model))
        return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': CPU model '%s' is not a model name",
                            def->name, def->cpu.model ? def->cpu.model : "");
    const char *cpu = qemu_cpu_of(def);
    if (!cpu && (def->cpu.features || qemu_cpu_has_kept(def)))
        cpu = def->type == QV_VIRT_KVM ? "host" : "qemu64";
    if (cpu) {
        /* libvirt's feature policies: force/require turn a flag on,
         * disable/forbid off; check='partial'/'full' make a flag QEMU cannot
         * give an error at start rather than a silent omission. optional
         * is that omission: QEMU drops (with a warning) a flag its
         * accelerator cannot give, unless enforce asks it to fail. */
        bool enforce = def->cpu.check && strcmp(def->cpu.check, "none") != 0;
        GString *c = g_string_new(cpu);
        if (def->cpu.vendor_id)
            g_string_append_printf(c, ",vendor=%s", def->cpu.vendor_id);
        for (char **f = def->cpu.features; f && *f; f++) {
            const char *name = strchr(*f, ':') + 1;
            if (g_str_has_prefix(*f, "optional:") && enforce)
                return g_string_free(c, TRUE),
                       qemu_argv_unsupported(v, "<cpu><feature policy='optional'> with "
                                                "<cpu check='partial'> or 'full' (QEMU would "
                                                "fail on a flag it cannot give)");
            if (!qemu_plain_word(name))
                return g_string_free(c, TRUE),
                       qemu_argv_unsupported(v, "a <cpu><feature> name with ',' or '='");
            bool on = g_str_has_prefix(*f, "force:") || g_str_has_prefix(*f, "require:") ||
                      g_str_has_prefix(*f, "optional:");
            g_string_append_printf(c, ",%c%s", on ? '+' : '-', name);
        }
        int rc = qemu_argv_cpu_kept(v, c);
        if (rc < 0)
            return g_string_free(c, TRUE), rc;
        if (enforce)
            g_string_append(c, ",enforce");
        qemu_argv_add(v, "-cpu");
        g_ptr_array_add(v->a, g_string_free(c, FALSE));
    }
    GString *smp = g_string_new(NULL);
    g_string_printf(smp, "%u,maxcpus=%u", def->vcpus, def->max_vcpus);
    if (def->cpu.sockets) {
        g_string_append_printf(smp, ",sockets=%u", def->cpu.sockets);
        if (def->cpu.dies > 1)
            g_string_append_printf(smp, ",dies=%u", def->cpu.dies);
        g_string_append_printf(smp, ",cores=%u,threads=%u", def->cpu.cores, def->cpu.threads);
    }
    qemu_argv_add(v, "-smp");
    g_ptr_array_add(v->a, g_string_free(smp, FALSE));
    return 0;
}

static char *mem_size(uint64_t kib)
{
    if (kib % 1024 == 0)
        return g_strdup_printf("%" G_GUINT64_FORMAT "M", kib / 1024);
    return g_strdup_printf("%" G_GUINT64_FORMAT "K", kib);
}

static int add_memory(struct qemu_argv *v)
{
    const struct qv_domain *def = v->def;
    /* The balloon is inflated to <currentMemory> once QEMU runs
     * (qemu_balloon_apply). */
    if (def->current_memory_kib && def->current_memory_kib != def->memory_kib &&
        !qemu_has_balloon(def))
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "VM '%s': <currentMemory> below <memory> needs a balloon, and "
                            "<memballoon model='none'/> removes it",
                            def->name);
    /* <memory> counts the memory devices; they are plugged in apart. */
    g_autofree char *size = mem_size(qemu_initial_kib(def));
    qemu_argv_add(v, "-m");
    qemu_argv_addf(v, "size=%s", size);
    /* <numatune>: guest RAM comes only from that host node (the vCPU
     * threads are bound to its CPUs at start, qemu_apply_numa). */
    g_autofree char *bind = def->numa_node >= 0
                                ? g_strdup_printf(",host-nodes=%d,policy=bind", def->numa_node)
                                : g_strdup("");
    if (def->hugepages) {
        if (!v->l->hugepage_dir)
            return qv_error_set(QV_ERR_UNSUPPORTED,
                                "VM '%s' asks for hugepages but no hugetlbfs is mounted",
                                def->name);
        g_autofree char *path = qemu_opt_escape(v->l->hugepage_dir);
        qemu_argv_add(v, "-object");
        qemu_argv_addf(v, "memory-backend-file,id=ram0,size=%s,mem-path=%s,share=on,prealloc=on%s",
                       size, path, bind);
    } else if (def->numa_node >= 0) {
        qemu_argv_add(v, "-object");
        qemu_argv_addf(v, "memory-backend-ram,id=ram0,size=%s%s", size, bind);
    }
    return 0;
}

static int add_firmware(struct qemu_argv *v)
{
    const struct qv_domain *def = v->def;
    if (def->os.loader) {
        if (!def->os.loader_pflash) {
            qemu_argv_add2(v, "-bios", def->os.loader);
        } else {
            const char *files[2] = {def->os.loader, v->l->nvram};
            for (int i = 0; i < 2 && files[i]; i++) {
                g_autoptr(JsonBuilder) b = json_builder_new();
                json_builder_begin_object(b);
                qemu_json_member_str(b, "driver", "file");
                qemu_json_member_str(b, "filename", files[i]);
                g_autofree char *file_node = g_strdup_printf("pflash%d-file", i);
                qemu_json_member_str(b, "node-name", file_node);
                qemu_json_member_bool(b, "read-only", i == 0 && def->os.loader_readonly);
                json_builder_end_object(b);
                qemu_argv_add(v, "-blockdev");
                g_ptr_array_add(v->a, qemu_json_text(b));
                g_autoptr(JsonBuilder) f = json_builder_new();
                json_builder_begin_object(f);
                qemu_json_member_str(f, "driver", "raw");
                qemu_json_member_str(f, "file", file_node);
                g_autofree char *node = g_strdup_printf("pflash%d", i);
                qemu_json_member_str(f, "node-name", node);
                qemu_json_member_bool(f, "read-only", i == 0 && def->os.loader_readonly);
                json_builder_end_object(f);
                qemu_argv_add(v, "-blockdev");
                g_ptr_array_add(v->a, qemu_json_text(f));
            }
        }
    }
    if (qemu_argv_secure_boot(v) < 0)
        return QV_ERR_UNSUPPORTED;
    if (def->os.kernel) {
        qemu_argv_add2(v, "-kernel", def->os.kernel);
        if (def->os.initrd)
            qemu_argv_add2(v, "-initrd", def->os.initrd);
        if (def->os.cmdline)
            qemu_argv_add2(v, "-append", def->os.cmdline);
    } else if (def->os.initrd || def->os.cmdline) {
        return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': <initrd> and <cmdline> need a <kernel>",
                            def->name);
    }
    if (def->os.boot_devs && def->os.boot_devs[0]) {
        GString *order = g_string_new(NULL);
        for (char **d = def->os.boot_devs; *d; d++) {
            if (strcmp(*d, "hd") == 0)
                g_string_append_c(order, 'c');
            else if (strcmp(*d, "cdrom") == 0)
                g_string_append_c(order, 'd');
            else if (strcmp(*d, "network") == 0)
                g_string_append_c(order, 'n');
            else if (strcmp(*d, "fd") == 0)
                g_string_append_c(order, 'a');
            else {
                g_string_free(order, TRUE);
                return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': unknown boot device '%s'",
                                    def->name, *d);
            }
        }
        qemu_argv_add(v, "-boot");
        qemu_argv_addf(v, "order=%s", order->str);
        g_string_free(order, TRUE);
    }
    return 0;
}

static int add_chardevs(struct qemu_argv *v)
{
    g_autofree char *dir = qemu_opt_escape(v->l->dir);
    qemu_argv_add(v, "-chardev");
    qemu_argv_addf(v, "socket,id=qmp,path=%s/qmp.sock,server=on,wait=off", dir);
    qemu_argv_add2(v, "-mon", "chardev=qmp,mode=control");
    /* A second monitor answers state queries while an operation holds the
     * first (a QMP socket serves one client at a time). */
    qemu_argv_add(v, "-chardev");
    qemu_argv_addf(v, "socket,id=qmp-status,path=%s/status.sock,server=on,wait=off", dir);
    qemu_argv_add2(v, "-mon", "chardev=qmp-status,mode=control");
    return qemu_argv_add_serials(v, dir);
}

static int check_tuning(struct qemu_argv *v)
{
    const struct qv_domain *def = v->def;
    /* A default placement for every vCPU (cpuset=) and numad's automatic
     * one are not applied by qv: refused rather than accepted and left
     * undone. <vcpupin> per vCPU is. */
    if (def->vcpu_cpuset)
        return qemu_argv_unsupported(v, "<vcpu cpuset=...> (pin each vCPU with <vcpupin>)");
    if (g_strcmp0(def->vcpu_placement, "auto") == 0)
        return qemu_argv_unsupported(v, "<vcpu placement='auto'> (numad)");
    /* Pins are applied to QEMU's vCPU threads at start, weight and quota
     * through the VM's cgroup (qemu_cgroup.c): neither is argv. */
    for (guint i = 0; i < def->cputune.pins->len; i++) {
        const struct qv_vcpupin *p = &g_array_index(def->cputune.pins, struct qv_vcpupin, i);
        cpu_set_t set;
        if (p->pcpu < 0 && qv_cpuset_parse(p->cpuset, &set) < 0) {
            qv_error_prefix("VM '%s': <vcpupin vcpu='%u'>", def->name, p->vcpu);
            return qv_error_code();
        }
    }
    return 0;
}

/* What the driver does when the guest powers off (the VM stops), reboots
 * (QEMU resets it, or with on_reboot=destroy stops it) or panics (the VM is
 * reported crashed and its QEMU ended). Other actions are refused. */
static int check_lifecycle_actions(struct qemu_argv *v)
{
    const struct qv_domain *def = v->def;
    static const char *const poweroff[] = {"destroy", NULL};
    static const char *const reboot[] = {"restart", "destroy", NULL};
    static const char *const crash[] = {"destroy", "coredump-destroy", NULL};
    const struct {
        const char *elem, *value;
        const char *const *ok;
    } acts[] = {{"on_poweroff", def->on_poweroff, poweroff},
                {"on_reboot", def->on_reboot, reboot},
                {"on_crash", def->on_crash, crash}};
    for (size_t i = 0; i < G_N_ELEMENTS(acts); i++)
        if (acts[i].value && !g_strv_contains(acts[i].ok, acts[i].value))
            return qv_error_set(QV_ERR_UNSUPPORTED,
                                "VM '%s': <%s>%s</%s> is not supported by the qemu driver",
                                def->name, acts[i].elem, acts[i].value, acts[i].elem);
    return 0;
}

static void clear_pci_fn(void *p)
{
    g_free(((struct qemu_pci_fn *)p)->what);
}

char **qemu_argv_build(const struct qv_domain *def, const struct qemu_launch *l)
{
    g_autoptr(GHashTable) taken = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_autoptr(GArray) functions = g_array_new(FALSE, TRUE, sizeof(struct qemu_pci_fn));
    g_array_set_clear_func(functions, clear_pci_fn);
    struct qemu_argv v = {.a = g_ptr_array_new_with_free_func(g_free),
                          .def = def,
                          .l = l,
                          .taken = taken,
                          .functions = functions};
    qemu_argv_add(&v, l->emulator ? l->emulator : QEMU_DEFAULT_BINARY);
    g_autofree char *name = qemu_opt_escape(def->name);
    qemu_argv_add(&v, "-name");
    qemu_argv_addf(&v, "guest=%s,debug-threads=on", name);
    if (def->uuid[0])
        qemu_argv_add2(&v, "-uuid", def->uuid);
    qemu_argv_add(&v, "-nodefaults");
    qemu_argv_add(&v, "-no-user-config");
    /* A guest power-off leaves QEMU in state "shutdown" rather than exiting,
     * so a process that vanishes on its own is always a crash. */
    qemu_argv_add(&v, "-no-shutdown");
    if (def->on_reboot && strcmp(def->on_reboot, "destroy") == 0)
        qemu_argv_add(&v, "-no-reboot");
    int rc = check_lifecycle_actions(&v);
    if (rc == 0)
        rc = add_machine(&v);
    if (rc == 0)
        rc = add_cpu(&v);
    if (rc == 0)
        rc = add_memory(&v);
    if (rc == 0)
        rc = check_tuning(&v);
    if (rc == 0)
        rc = add_firmware(&v);
    if (rc == 0)
        rc = qemu_argv_add_libvirt(&v);
    if (rc == 0)
        rc = qemu_argv_add_numa(&v);
    for (guint i = 0; rc == 0 && i < def->disks->len; i++)
        rc = qemu_argv_add_disk(&v, i);
    for (guint i = 0; rc == 0 && i < def->nets->len; i++)
        rc = qemu_argv_add_net(&v, i);
    if (rc == 0)
        rc = add_chardevs(&v);
    if (rc == 0)
        rc = qemu_argv_add_channels(&v);
    if (rc == 0)
        rc = qemu_argv_add_devices(&v);
    if (rc == 0)
        rc = qemu_argv_add_balloon(&v);
    if (rc == 0)
        rc = qemu_argv_add_spare_ports(&v);
    if (rc == 0)
        rc = qemu_argv_check_multifunction(&v);
    if (rc == 0)
        rc = qemu_argv_place_ports(&v);
    if (rc == 0)
        qemu_argv_pci_order(&v);
    /* <qemu:commandline> comes last, as libvirt puts it. */
    if (rc == 0)
        rc = qemu_custom_argv(def, v.a, NULL);
    if (rc == 0 && l->paused)
        qemu_argv_add(&v, "-S");
    if (rc == 0 && l->daemonize) {
        qemu_argv_add(&v, "-daemonize");
        qemu_argv_add(&v, "-pidfile");
        g_ptr_array_add(v.a, g_build_filename(l->dir, "qemu.pid", NULL));
    }
    if (rc < 0) {
        g_ptr_array_free(v.a, TRUE);
        return NULL;
    }
    g_ptr_array_add(v.a, NULL);
    return (char **)g_ptr_array_free(v.a, FALSE);
}
