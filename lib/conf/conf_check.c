/* Value rules shared by the XML and JSON parsers. The character classes
 * follow the patterns in libvirt's basictypes.rng so that anything accepted
 * here formats to XML the schema accepts. */
#include "conf_check.h"

#include <glib.h>
#include <string.h>

#include "domain.h"

/* libvirt's schema's list; the order of the first three is enum qv_virt_type's. */
const char *const qv_conf_virt_types[] = {"kvm",    "qemu",   "test",  "kqemu", "xen",
                                          "lxc",    "uml",    "openvz", "vmware", "hyperv",
                                          "vbox",   "phyp",   "vz",    "bhyve", NULL};
const char *const qv_conf_timer_names[] = {
    "rtc", "pit", "hpet", "kvmclock", "tsc", "platform", "armvtimer", "hypervclock", NULL};
const char *const qv_conf_timer_tracks[] = {"", "boot", "guest", "wall", "realtime", NULL};
const char *const qv_conf_tsc_modes[] = {"",         "auto",    "native", "emulate",
                                         "paravirt", "smpsafe", NULL};
const char *const qv_conf_clock_bases[] = {"utc", "localtime", NULL};
const char *const qv_conf_tickpolicies[] = {"", "delay", "catchup", "merge", "discard", NULL};
const char *const qv_conf_cpu_modes[] = {"",       "host-passthrough", "host-model",
                                         "custom", "maximum",          NULL};
const char *const qv_conf_cpu_matches[] = {"minimum", "exact", "strict", NULL};
const char *const qv_conf_cpu_checks[] = {"none", "partial", "full", NULL};
const char *const qv_conf_onoff[] = {"on", "off", NULL};
const char *const qv_conf_cpu_fallbacks[] = {"allow", "forbid", NULL};
const char *const qv_conf_feature_policies[] = {"force",   "require", "optional",
                                                "disable", "forbid",  NULL};
const char *const qv_conf_clock_offsets[] = {"utc",      "localtime", "timezone",
                                             "variable", "absolute",  NULL};
const char *const qv_conf_vcpu_placements[] = {"static", "auto", NULL};
const char *const qv_conf_foreign_os_types[] = {"exe", "linux", "xen", "uml", NULL};
const char *const qv_conf_firmwares[] = {"bios", "efi", NULL};
const char *const qv_conf_disk_types[] = {"file", "block", NULL};
const char *const qv_conf_disk_devices[] = {"disk", "cdrom", NULL};
const char *const qv_conf_disk_buses[] = {"virtio", "scsi", "ide", "sata", NULL};
const char *const qv_conf_net_types[] = {"user", "bridge", "network", "direct", "ethernet", NULL};
const char *const qv_conf_direct_modes[] = {"vepa", "bridge", "private", "passthrough", NULL};
const char *const qv_conf_chr_types[] = {"pty", "file", "unix", "stdio", "null", "tcp", NULL};
const char *const qv_conf_graphics_types[] = {"vnc", "spice", NULL};
const char *const qv_conf_disk_formats[] = {"raw", "qcow2", "qcow", "qed",  "vmdk", "vdi",
                                            "vpc", "vhd",   "iso",  "luks", NULL};
const char *const qv_conf_disk_caches[] = {"default",    "none",   "writeback", "writethrough",
                                           "directsync", "unsafe", NULL};
const char *const qv_conf_disk_ios[] = {"threads", "native", "io_uring", NULL};
const char *const qv_conf_disk_discards[] = {"unmap", "ignore", NULL};
const char *const qv_conf_boot_devs[] = {"hd", "fd", "cdrom", "network", NULL};
const char *const qv_conf_off_actions[] = {"destroy", "restart", "preserve", "rename-restart",
                                           NULL};
const char *const qv_conf_crash_actions[] = {
    "destroy",          "restart",          "preserve", "rename-restart",
    "coredump-destroy", "coredump-restart", NULL};
const char *const qv_conf_serial_targets[] = {"isa-serial", "pci-serial", "usb-serial", NULL};
/* The <target><model name=> of each of those targets, in the same order. */
const char *const qv_conf_serial_models[] = {"isa-serial", "pci-serial", "usb-serial", NULL};
const char *const qv_conf_net_drivers[] = {"qemu", "vhost", NULL};

const char *qv_conf_rule_net_queues(uint64_t n)
{
    return n >= 1 && n <= 256 ? NULL : "must be from 1 to 256";
}

const char *qv_conf_rule_net_ring(uint64_t n)
{
    return n == 256 || n == 512 || n == 1024 ? NULL : "must be 256, 512 or 1024";
}
const char *const qv_conf_console_targets[] = {"serial", "virtio", NULL};
const char *const qv_conf_rng_models[] = {"virtio", "virtio-transitional",
                                          "virtio-non-transitional", NULL};

int qv_conf_lookup(const char *const *list, const char *s)
{
    if (!s)
        return -1;
    for (int i = 0; list[i]; i++)
        if (strcmp(list[i], s) == 0)
            return i;
    return -1;
}

bool qv_conf_word_listed(const char *word, const char *list)
{
    size_t n = strlen(word);
    for (const char *p = list; *p;) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        if ((size_t)(e - p) == n && memcmp(p, word, n) == 0)
            return true;
        p = e;
    }
    return false;
}

char *qv_conf_list_join(const char *const *list)
{
    GString *s = g_string_new(NULL);
    int n = 0;
    while (list[n])
        n++;
    for (int i = 0, k = 0; i < n; i++) {
        if (!*list[i])
            continue;
        if (k++)
            g_string_append(s, i == n - 1 ? " or " : ", ");
        g_string_append(s, list[i]);
    }
    return g_string_free(s, FALSE);
}

/* XML 1.0 can carry only these code points; anything else could not be
 * written back out. */
static bool xml_char_ok(gunichar c)
{
    return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) ||
           (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
}

const char *qv_conf_check_text(const char *s)
{
    if (!g_utf8_validate(s, -1, NULL))
        return "is not valid UTF-8";
    for (const char *p = s; *p; p = g_utf8_next_char(p))
        if (!xml_char_ok(g_utf8_get_char(p)))
            return "contains a control character";
    return NULL;
}

const char *qv_conf_check_line(const char *s)
{
    if (!*s)
        return "must not be empty";
    if (strchr(s, '\n') || strchr(s, '\r'))
        return "must be a single line";
    return qv_conf_check_text(s);
}

const char *qv_conf_check_path(const char *s)
{
    if (s[0] != '/' || s[1] == '\0')
        return "must be an absolute path";
    return qv_conf_check_line(s);
}

static const char *check_chars(const char *s, const char *extra, const char *why)
{
    if (!*s)
        return "must not be empty";
    for (const char *p = s; *p; p++)
        if (!g_ascii_isalnum(*p) && !strchr(extra, *p))
            return why;
    return NULL;
}

const char *qv_conf_check_disk_serial(const char *s)
{
    if (strlen(s) > 256)
        return "is longer than 256 characters";
    return check_chars(s, "_.+- ", "may only contain letters, digits, spaces and _ . + -");
}

const char *qv_conf_check_devname(const char *s)
{
    return check_chars(s, "_.-\\:/", "may only contain letters, digits and _ . - \\ : /");
}

const char *qv_conf_check_token(const char *s)
{
    return check_chars(s, "_.-", "may only contain letters, digits and _ . -");
}

const char *qv_conf_check_vendor_id(const char *s)
{
    if (strlen(s) != 12)
        return "must be 12 characters (e.g. GenuineIntel)";
    for (const char *p = s; *p; p++)
        if (!g_ascii_isprint(*p) || *p == ',')
            return "may only contain printable characters other than ','";
    return NULL;
}

const char *qv_conf_check_disk_target(const char *s)
{
    static const char *const prefixes[] = {"xvd", "ubd", "fd", "hd", "sd", "vd"};
    for (guint i = 0; i < G_N_ELEMENTS(prefixes); i++) {
        size_t n = strlen(prefixes[i]);
        if (strncmp(s, prefixes[i], n) == 0 && s[n])
            return check_chars(s + n, "_", "may only contain letters, digits and _");
    }
    return "must be a guest disk name starting with vd, sd, hd, xvd, fd or ubd (\"vda\")";
}

const char *qv_conf_check_model(const char *s)
{
    return check_chars(s, "_-", "may only contain letters, digits, - and _");
}

const char *qv_conf_check_host(const char *s)
{
    return check_chars(s, ".-", "must be an IPv4 address or a host name");
}

#define QV_CPUSET_MAX 4096

static bool cpu_number(const char **p, uint64_t *v)
{
    const char *s = *p;
    if (!g_ascii_isdigit(*s))
        return false;
    uint64_t n = 0;
    while (g_ascii_isdigit(*s)) {
        n = n * 10 + (uint64_t)(*s - '0');
        if (n >= QV_CPUSET_MAX)
            return false;
        s++;
    }
    *p = s;
    *v = n;
    return true;
}

const char *qv_conf_check_cpuset(const char *s)
{
    const char *p = s;
    if (!*p)
        return "must not be empty";
    for (;;) {
        uint64_t a, b;
        if (*p == '^') {
            p++;
            if (!cpu_number(&p, &a))
                return "must be a list of CPU numbers below 4096 and ranges (\"0-3,^2\")";
        } else {
            if (!cpu_number(&p, &a))
                return "must be a list of CPU numbers below 4096 and ranges (\"0-3,^2\")";
            if (*p == '-') {
                p++;
                if (!cpu_number(&p, &b))
                    return "must be a list of CPU numbers below 4096 and ranges (\"0-3,^2\")";
                if (b < a)
                    return "has a range that ends before it starts";
            }
        }
        if (*p == '\0')
            return NULL;
        if (*p != ',')
            return "must be a list of CPU numbers below 4096 and ranges (\"0-3,^2\")";
        p++;
    }
}

int qv_conf_cpuset_single(const char *s)
{
    uint64_t v;
    if (qv_conf_parse_uint(s, QV_CPUSET_MAX - 1, &v))
        return (int)v;
    return -1;
}

bool qv_conf_norm_uuid(const char *s, char out[37])
{
    size_t n = strlen(s);
    char hex[33];
    size_t k = 0;
    if (n == 36) {
        for (size_t i = 0; i < 36; i++) {
            bool dash = i == 8 || i == 13 || i == 18 || i == 23;
            if (dash ? s[i] != '-' : !g_ascii_isxdigit(s[i]))
                return false;
            if (!dash)
                hex[k++] = g_ascii_tolower(s[i]);
        }
    } else if (n == 32) {
        for (size_t i = 0; i < 32; i++) {
            if (!g_ascii_isxdigit(s[i]))
                return false;
            hex[k++] = g_ascii_tolower(s[i]);
        }
    } else {
        return false;
    }
    hex[32] = '\0';
    g_snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
    return true;
}

bool qv_conf_norm_mac(const char *s, char out[18])
{
    if (strlen(s) != 17)
        return false;
    for (int i = 0; i < 17; i++) {
        if (i % 3 == 2 ? s[i] != ':' : !g_ascii_isxdigit(s[i]))
            return false;
        out[i] = g_ascii_tolower(s[i]);
    }
    out[17] = '\0';
    /* Only unicast addresses can name a NIC. */
    return (g_ascii_xdigit_value(out[1]) & 1) == 0;
}

bool qv_conf_parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    if (!s || !g_ascii_isdigit(s[0]))
        return false;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (!g_ascii_isdigit(*p))
            return false;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

uint64_t qv_conf_unit_bytes(const char *unit)
{
    static const char powers[] = "kmgtpe";
    if (!unit || !*unit)
        return 0;
    if (g_ascii_strcasecmp(unit, "b") == 0 || g_ascii_strcasecmp(unit, "byte") == 0 ||
        g_ascii_strcasecmp(unit, "bytes") == 0)
        return 1;
    const char *p = strchr(powers, g_ascii_tolower(unit[0]));
    if (!p || !*p)
        return 0;
    int exp = (int)(p - powers) + 1;
    uint64_t base;
    const char *rest = unit + 1;
    if (*rest == '\0' || g_ascii_strcasecmp(rest, "ib") == 0)
        base = 1024;
    else if (g_ascii_strcasecmp(rest, "b") == 0)
        base = 1000;
    else
        return 0;
    uint64_t v = 1;
    for (int i = 0; i < exp; i++)
        v *= base;
    return v;
}

bool qv_conf_scale_kib(uint64_t value, uint64_t unit_bytes, uint64_t *kib)
{
    if (unit_bytes % 1024 == 0) {
        uint64_t f = unit_bytes / 1024;
        if (value > UINT64_MAX / f)
            return false;
        *kib = value * f;
        return true;
    }
    if (unit_bytes > 1 && value > UINT64_MAX / unit_bytes)
        return false;
    uint64_t bytes = value * unit_bytes;
    *kib = bytes / 1024 + (bytes % 1024 != 0);
    return true;
}

bool qv_conf_parse_size(const char *s, uint64_t *bytes)
{
    const char *p = s;
    while (g_ascii_isdigit(*p))
        p++;
    if (p == s || p - s > 20)
        return false;
    g_autofree char *digits = g_strndup(s, (gsize)(p - s));
    uint64_t v;
    if (!qv_conf_parse_uint(digits, UINT64_MAX, &v))
        return false;
    uint64_t scale = *p ? qv_conf_unit_bytes(p) : 1;
    if (scale == 0 || (scale > 1 && v > UINT64_MAX / scale))
        return false;
    *bytes = v * scale;
    return true;
}

const char *qv_conf_rule_cpu_weight(uint64_t weight)
{
    if (weight < QV_CPU_WEIGHT_MIN || weight > QV_CPU_WEIGHT_MAX)
        return "is out of range (" G_STRINGIFY(QV_CPU_WEIGHT_MIN) "-" G_STRINGIFY(
            QV_CPU_WEIGHT_MAX) ")";
    return NULL;
}

const char *qv_conf_rule_cpu_cap(uint64_t percent)
{
    return percent > QV_CPU_CAP_MAX ? "is out of range (0-" G_STRINGIFY(QV_CPU_CAP_MAX) ")" : NULL;
}

/* libvirt's timeDelta: an optional sign and digits. */
static bool time_delta(const char *s)
{
    if (*s == '+' || *s == '-')
        s++;
    return *s && strspn(s, "0123456789") == strlen(s) && strlen(s) <= 18;
}

const char *qv_conf_rule_clock(const struct qv_domain *def)
{
    const char *off = def->clock_offset;
    if (!off)
        return NULL;
    bool fixed = strcmp(off, "utc") == 0 || strcmp(off, "localtime") == 0;
    bool variable = strcmp(off, "variable") == 0;
    const char *adj = def->clock_adjustment;
    if (adj && !(fixed || variable))
        return "adjustment= goes with offset='utc', 'localtime' or 'variable'";
    if (adj && !time_delta(adj) && !(fixed && strcmp(adj, "reset") == 0))
        return fixed ? "adjustment= must be 'reset' or seconds (e.g. -3600)"
                     : "adjustment= must be seconds (e.g. -3600)";
    if (def->clock_basis && !variable)
        return "basis= goes with offset='variable'";
    if (def->clock_timezone) {
        if (strcmp(off, "timezone") != 0)
            return "timezone= goes with offset='timezone'";
        const char *tz = def->clock_timezone;
        if (!*tz ||
            strspn(tz, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.+-/") !=
                strlen(tz))
            return "timezone= may only contain letters, digits and _ . + - /";
        if (tz[0] == '/' || strstr(tz, "..") || strstr(tz, "//"))
            return "timezone= must be a time zone name (e.g. Europe/Paris)";
    }
    if (def->clock_start && strcmp(off, "absolute") != 0)
        return "start= goes with offset='absolute'";
    return NULL;
}

const char *qv_conf_rule_timer(const struct qv_timer *t)
{
    const char *name = qv_conf_timer_names[t->name];
    bool rtc = strcmp(name, "rtc") == 0 || strcmp(name, "platform") == 0;
    bool tsc = strcmp(name, "tsc") == 0;
    if (t->track && !rtc)
        return "track= goes with the rtc and platform timers";
    if ((t->frequency || t->mode) && !tsc)
        return "frequency= and mode= go with the tsc timer";
    if (t->tickpolicy && (strcmp(name, "kvmclock") == 0 || strcmp(name, "hypervclock") == 0))
        return "tickpolicy= does not go with the kvmclock and hypervclock timers";
    return NULL;
}

const char *qv_conf_rule_block_size(uint64_t bytes)
{
    if (bytes && (bytes < 512 || bytes > 65536 || (bytes & (bytes - 1))))
        return "is not a power of two from 512 to 65536";
    return NULL;
}

int qv_conf_rule_bus_for_target(const char *target)
{
    if (target && g_str_has_prefix(target, "hd"))
        return QV_DISK_BUS_IDE;
    if (target && g_str_has_prefix(target, "sd"))
        return QV_DISK_BUS_SCSI;
    return QV_DISK_BUS_VIRTIO;
}
