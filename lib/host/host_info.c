/* The host facts `qv system info` reports: what passthrough, hugepages,
 * UEFI guests, cloud-init seeds and CPU limits need, each with what to do
 * when it is missing. KVM itself is probed by the kvm driver by ioctl
 * (qv_kvm_probe); the CPU flags here are shown for information only. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../util/fileio.h"
#include "host.h"

/* One fact: {"ok", "summary", "hint" (when not ok), extra members}. The
 * builder is left inside the object so callers add their own members. */
static void fact_begin(JsonBuilder *b, const char *key, bool ok, const char *summary,
                       const char *hint)
{
    json_builder_set_member_name(b, key);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "ok");
    json_builder_add_boolean_value(b, ok);
    json_builder_set_member_name(b, "summary");
    json_builder_add_string_value(b, summary);
    if (!ok && hint) {
        json_builder_set_member_name(b, "hint");
        json_builder_add_string_value(b, hint);
    }
}

static char *read_text(const char *path, size_t max)
{
    char *text = NULL;
    if (qv_file_read_text(path, max, &text, NULL) < 0)
        return NULL;
    return text;
}

static void cpu_flags(JsonBuilder *b, const char *root)
{
    g_autofree char *path = host_path(root, "/proc/cpuinfo");
    g_autofree char *text = read_text(path, 8 * 1024 * 1024);
    bool vmx = false, svm = false;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (!g_str_has_prefix(line, "flags"))
            continue;
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        g_auto(GStrv) words = g_strsplit_set(colon + 1, " \t", -1);
        for (char **w = words; *w; w++) {
            vmx |= strcmp(*w, "vmx") == 0;
            svm |= strcmp(*w, "svm") == 0;
        }
        break; /* every CPU lists the same flags */
    }
    g_autofree char *summary = NULL;
    if (!text)
        summary = g_strdup_printf("unknown (%s unreadable); for information only", path);
    else if (vmx || svm)
        summary = g_strdup_printf("%s (for information only: 'KVM usable' is the test)",
                                  vmx ? "vmx (Intel VT-x)" : "svm (AMD-V)");
    else
        summary = g_strdup("neither vmx nor svm (for information only: a hypervisor may hide "
                           "the flag while KVM still works)");
    fact_begin(b, "cpu_virt_flags", vmx || svm, summary,
               "enable VT-x or AMD-V in the firmware setup, or nested virtualization in the "
               "hypervisor running this machine");
    json_builder_set_member_name(b, "flags");
    json_builder_begin_array(b);
    if (vmx)
        json_builder_add_string_value(b, "vmx");
    if (svm)
        json_builder_add_string_value(b, "svm");
    json_builder_end_array(b);
    json_builder_end_object(b);
}

static gint64 count_numeric_entries(const char *dir)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    if (!d)
        return -1;
    gint64 n = 0;
    const char *name;
    while ((name = g_dir_read_name(d)))
        n += strspn(name, "0123456789") == strlen(name);
    g_dir_close(d);
    return n;
}

static void iommu_groups(JsonBuilder *b, const char *root)
{
    g_autofree char *dir = host_path(root, "/sys/kernel/iommu_groups");
    gint64 n = count_numeric_entries(dir);
    g_autofree char *summary =
        n > 0 ? g_strdup_printf("%" G_GINT64_FORMAT " group%s", n, n == 1 ? "" : "s")
              : g_strdup("none (no IOMMU is active)");
    fact_begin(b, "iommu_groups", n > 0, summary,
               "PCI passthrough needs an IOMMU: turn on VT-d (Intel) or AMD-Vi/IOMMU (AMD) in "
               "the firmware setup and boot with intel_iommu=on or amd_iommu=on");
    json_builder_set_member_name(b, "count");
    json_builder_add_int_value(b, MAX(n, 0));
    json_builder_end_object(b);
}

static void vfio_modules(JsonBuilder *b, const char *root)
{
    static const char *const names[] = {"vfio", "vfio_pci", "vfio_iommu_type1"};
    bool loaded[G_N_ELEMENTS(names)];
    bool all = true;
    GString *s = g_string_new(NULL);
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *dir = host_path(root, "/sys/module/%s", names[i]);
        loaded[i] = g_file_test(dir, G_FILE_TEST_IS_DIR);
        all &= loaded[i];
        g_string_append_printf(s, "%s%s %s", i ? ", " : "", names[i],
                               loaded[i] ? "loaded" : "not loaded");
    }
    fact_begin(b, "vfio_modules", all, s->str,
               "modprobe vfio-pci (it brings vfio and vfio_iommu_type1); to load it at boot, "
               "put vfio-pci in /etc/modules-load.d/vfio.conf");
    g_string_free(s, TRUE);
    json_builder_set_member_name(b, "modules");
    json_builder_begin_object(b);
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        json_builder_set_member_name(b, names[i]);
        json_builder_add_boolean_value(b, loaded[i]);
    }
    json_builder_end_object(b);
    json_builder_end_object(b);
}

/* /proc/mounts escapes space, tab, newline and backslash as \ooo. */
static char *unescape_mount(const char *s)
{
    GString *o = g_string_new(NULL);
    for (; *s; s++) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
            s[3] >= '0' && s[3] <= '7') {
            g_string_append_c(o, (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0')));
            s += 3;
        } else {
            g_string_append_c(o, *s);
        }
    }
    return g_string_free(o, FALSE);
}

/* Each /proc/mounts line as {mount point, fstype, options}. */
static GPtrArray *read_mounts(const char *root)
{
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
    g_autofree char *path = host_path(root, "/proc/mounts");
    g_autofree char *text = read_text(path, 4 * 1024 * 1024);
    if (!text)
        return out;
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        g_auto(GStrv) f = g_strsplit(*l, " ", -1);
        if (g_strv_length(f) < 4)
            continue;
        char **m = g_new0(char *, 4);
        m[0] = unescape_mount(f[1]);
        m[1] = g_strdup(f[2]);
        m[2] = g_strdup(f[3]);
        g_ptr_array_add(out, m);
    }
    return out;
}

static bool has_option(const char *opts, const char *opt)
{
    g_auto(GStrv) o = g_strsplit(opts, ",", -1);
    return g_strv_contains((const char *const *)o, opt);
}

static void hugetlbfs(JsonBuilder *b, GPtrArray *mounts)
{
    GString *s = g_string_new(NULL);
    for (guint i = 0; i < mounts->len; i++) {
        char **m = g_ptr_array_index(mounts, i);
        if (strcmp(m[1], "hugetlbfs") == 0)
            g_string_append_printf(s, "%s%s", s->len ? ", " : "", m[0]);
    }
    bool ok = s->len > 0;
    g_autofree char *summary =
        ok ? g_strdup_printf("mounted at %s", s->str) : g_strdup("not mounted");
    fact_begin(b, "hugetlbfs", ok, summary,
               "<memoryBacking><hugepages/> needs one: mount -t hugetlbfs hugetlbfs "
               "/dev/hugepages (systemd's dev-hugepages.mount does it at boot)");
    g_string_free(s, TRUE);
    json_builder_set_member_name(b, "mounts");
    json_builder_begin_array(b);
    for (guint i = 0; i < mounts->len; i++) {
        char **m = g_ptr_array_index(mounts, i);
        if (strcmp(m[1], "hugetlbfs") == 0)
            json_builder_add_string_value(b, m[0]);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
}

static gint64 read_count(const char *dir, const char *file)
{
    g_autofree char *path = g_build_filename(dir, file, NULL);
    g_autofree char *t = host_read_line(path);
    if (!t || !*t || strspn(t, "0123456789") != strlen(t) || strlen(t) > 18)
        return -1;
    return g_ascii_strtoll(t, NULL, 10);
}

static gint cmp_size(gconstpointer a, gconstpointer b)
{
    gint64 x = *(const gint64 *)a, y = *(const gint64 *)b;
    return x < y ? -1 : x > y;
}

static void hugepages(JsonBuilder *b, const char *root)
{
    g_autofree char *dir = host_path(root, "/sys/kernel/mm/hugepages");
    g_autoptr(GArray) sizes = g_array_new(FALSE, FALSE, sizeof(gint64));
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d))) {
        /* "hugepages-2048kB" */
        if (!g_str_has_prefix(name, "hugepages-") || !g_str_has_suffix(name, "kB"))
            continue;
        const char *num = name + strlen("hugepages-");
        size_t digits = strlen(num) - 2;
        if (digits < 1 || digits > 12 || strspn(num, "0123456789") != digits)
            continue;
        gint64 kib = g_ascii_strtoll(num, NULL, 10);
        if (kib > 0)
            g_array_append_val(sizes, kib);
    }
    if (d)
        g_dir_close(d);
    g_array_sort(sizes, cmp_size);
    GString *s = g_string_new(NULL);
    gint64 free_total = 0;
    g_autoptr(JsonBuilder) list = json_builder_new();
    json_builder_begin_array(list);
    for (guint i = 0; i < sizes->len; i++) {
        gint64 kib = g_array_index(sizes, gint64, i);
        g_autofree char *sub = g_strdup_printf("%s/hugepages-%" G_GINT64_FORMAT "kB", dir, kib);
        gint64 total = read_count(sub, "nr_hugepages"), free = read_count(sub, "free_hugepages");
        free_total += MAX(free, 0);
        g_string_append_printf(
            s, "%s%" G_GINT64_FORMAT " KiB: %" G_GINT64_FORMAT " free of %" G_GINT64_FORMAT,
            s->len ? "; " : "", kib, MAX(free, 0), MAX(total, 0));
        json_builder_begin_object(list);
        json_builder_set_member_name(list, "size_kib");
        json_builder_add_int_value(list, kib);
        json_builder_set_member_name(list, "total");
        json_builder_add_int_value(list, MAX(total, 0));
        json_builder_set_member_name(list, "free");
        json_builder_add_int_value(list, MAX(free, 0));
        json_builder_end_object(list);
    }
    json_builder_end_array(list);
    if (!sizes->len)
        g_string_assign(s, "not supported by this kernel");
    fact_begin(b, "hugepages", free_total > 0, s->str,
               "reserve some: echo N > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages "
               "(vm.nr_hugepages in /etc/sysctl.d to keep it), or hugepagesz=1G hugepages=N on "
               "the kernel command line");
    g_string_free(s, TRUE);
    json_builder_set_member_name(b, "sizes");
    json_builder_add_value(b, json_builder_get_root(list));
    json_builder_end_object(b);
}

static void program(JsonBuilder *b, const char *key, const char *name, const char *hint)
{
    g_autofree char *path = g_find_program_in_path(name);
    g_autofree char *summary =
        path ? g_strdup(path) : g_strdup_printf("%s not found in PATH", name);
    fact_begin(b, key, path != NULL, summary, hint);
    json_builder_set_member_name(b, "path");
    if (path)
        json_builder_add_string_value(b, path);
    else
        json_builder_add_null_value(b);
    json_builder_end_object(b);
}

static void ovmf(JsonBuilder *b, const char *root)
{
    /* Where Debian (ovmf), Fedora (edk2-ovmf) and QEMU's own build put it. */
    static const char *const candidates[] = {
        "/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_CODE.fd",
        "/usr/share/edk2/ovmf/OVMF_CODE.fd", "/usr/share/qemu/OVMF.fd", "/usr/share/ovmf/OVMF.fd"};
    const char *found = NULL;
    for (size_t i = 0; i < G_N_ELEMENTS(candidates) && !found; i++) {
        g_autofree char *p = host_path(root, "%s", candidates[i]);
        if (g_file_test(p, G_FILE_TEST_IS_REGULAR))
            found = candidates[i];
    }
    g_autofree char *summary = found
                                   ? g_strdup(found)
                                   : g_strdup("not found in /usr/share/OVMF, /usr/share/edk2/ovmf "
                                              "or /usr/share/qemu");
    fact_begin(b, "ovmf", found != NULL, summary,
               "UEFI guests (<loader type='pflash'>) need it: apt-get install ovmf");
    json_builder_set_member_name(b, "path");
    if (found)
        json_builder_add_string_value(b, found);
    else
        json_builder_add_null_value(b);
    json_builder_end_object(b);
}

/* This process's cgroup path in hierarchy `want` of /proc/self/cgroup:
 * "" for v2 ("0::/x"), else a v1 controller name ("cpu" in "3:cpu,cpuacct:/x"). */
static char *own_cgroup(const char *root, const char *want)
{
    g_autofree char *path = host_path(root, "/proc/self/cgroup");
    g_autofree char *text = read_text(path, 1024 * 1024);
    if (!text)
        return NULL;
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        g_auto(GStrv) f = g_strsplit(*l, ":", 3);
        if (g_strv_length(f) != 3 || f[2][0] != '/')
            continue;
        if (*want ? has_option(f[1], want) : strcmp(f[0], "0") == 0 && !f[1][0])
            return g_strdup(f[2]);
    }
    return NULL;
}

static void cgroup_cpu(JsonBuilder *b, const char *root, GPtrArray *mounts)
{
    g_autofree char *summary = NULL, *version = NULL, *dir = NULL;
    const char *v2_mount = NULL, *v1_mount = NULL;
    for (guint i = 0; i < mounts->len; i++) {
        char **m = g_ptr_array_index(mounts, i);
        if (strcmp(m[1], "cgroup2") == 0 && !v2_mount)
            v2_mount = m[0];
        else if (strcmp(m[1], "cgroup") == 0 && has_option(m[2], "cpu") && !v1_mount)
            v1_mount = m[0];
    }
    g_autofree char *why_v2 = NULL;
    if (v2_mount) {
        g_autofree char *own = own_cgroup(root, "");
        g_autofree char *d = own ? host_path(root, "%s%s", v2_mount, own) : NULL;
        g_autofree char *ctl_path = d ? g_build_filename(d, "cgroup.controllers", NULL) : NULL;
        g_autofree char *ctl = ctl_path ? host_read_line(ctl_path) : NULL;
        g_auto(GStrv) ctls = g_strsplit(ctl ? ctl : "", " ", -1);
        if (!own)
            why_v2 =
                g_strdup_printf("cgroup v2 at %s, but this process's cgroup is unknown", v2_mount);
        else if (!g_strv_contains((const char *const *)ctls, "cpu"))
            why_v2 =
                g_strdup_printf("cgroup v2 at %s without the cpu controller in %s", v2_mount, own);
        else if (access(d, W_OK) != 0)
            why_v2 = g_strdup_printf("cgroup v2 at %s, but %s is not delegated to this user",
                                     v2_mount, own);
        else {
            version = g_strdup("v2");
            dir = g_strdup_printf("%s%s", v2_mount, own);
            summary = g_strdup_printf("v2, cpu controller delegated (%s)", dir);
        }
    }
    if (!version && v1_mount) {
        g_autofree char *own = own_cgroup(root, "cpu");
        g_autofree char *d = host_path(root, "%s%s", v1_mount, own ? own : "/");
        if (access(d, W_OK) == 0) {
            version = g_strdup("v1");
            dir = g_strdup_printf("%s%s", v1_mount, own && strcmp(own, "/") ? own : "");
            summary = g_strdup_printf("v1, cpu controller mounted at %s (this process in %s)",
                                      v1_mount, own ? own : "/");
        } else if (!why_v2) {
            why_v2 = g_strdup_printf("cgroup v1 cpu controller at %s, not writable by this "
                                     "user",
                                     v1_mount);
        }
    }
    if (!version)
        summary = why_v2 ? g_strdup(why_v2) : g_strdup("no cgroup cpu controller mounted");
    fact_begin(b, "cgroup_cpu", version != NULL, summary,
               "--cpu-weight and --cpu-cap need a cgroup with the cpu controller: with cgroup "
               "v2 run qv where systemd delegates one (systemd-run --user -p Delegate=yes, or a "
               "service with Delegate=cpu); with v1, mount it (mount -t cgroup -o cpu cgroup "
               "/sys/fs/cgroup/cpu)");
    json_builder_set_member_name(b, "version");
    if (version)
        json_builder_add_string_value(b, version);
    else
        json_builder_add_null_value(b);
    json_builder_set_member_name(b, "path");
    if (dir)
        json_builder_add_string_value(b, dir);
    else
        json_builder_add_null_value(b);
    json_builder_end_object(b);
}

JsonNode *host_info_build(const char *root)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GPtrArray) mounts = read_mounts(root);
    json_builder_begin_object(b);
    cpu_flags(b, root);
    iommu_groups(b, root);
    vfio_modules(b, root);
    hugetlbfs(b, mounts);
    hugepages(b, root);
    program(b, "qemu", "qemu-system-x86_64", "apt-get install qemu-system-x86");
    program(b, "qemu_img", "qemu-img",
            "disk images, snapshots and clones need it: apt-get install qemu-utils");
    program(b, "genisoimage", "genisoimage",
            "cloud-init seed ISOs need it: apt-get install genisoimage");
    ovmf(b, root);
    cgroup_cpu(b, root, mounts);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}
