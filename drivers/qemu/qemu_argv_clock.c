/* <clock> and its <timer>s as QEMU options: the RTC's base and clock
 * (-rtc), the PIT and HPET (-machine), and the paravirtual clocks and TSC
 * frequency (-cpu flags, which only KVM gives a guest). An offset that
 * moves the RTC away from the host's clock is a date computed when QEMU
 * starts, as libvirt computes it; QEMU then runs the RTC from there. */
#include <string.h>

#include "../../lib/conf/conf_check.h"
#include "../../lib/util/error.h"
#include "qemu_argv_machine.h"

static int refuse(const struct qemu_argv *v, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static int refuse(const struct qemu_argv *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return qv_error_set(QV_ERR_UNSUPPORTED, "VM '%s': the qemu driver cannot honour %s",
                        v->def->name, what);
}

/* "YYYY-MM-DDTHH:MM:SS" of t seconds since the epoch, in UTC or in zone
 * (the host's local time when NULL and not utc). */
static char *rtc_date(gint64 t, bool utc, GTimeZone *zone)
{
    g_autoptr(GDateTime) d =
        utc ? g_date_time_new_from_unix_utc(t) : g_date_time_new_from_unix_local(t);
    if (d && zone) {
        GDateTime *z = g_date_time_to_timezone(d, zone);
        g_date_time_unref(d);
        d = z;
    }
    return d ? g_date_time_format(d, "%Y-%m-%dT%H:%M:%S") : NULL;
}

/* The -rtc base= value. */
static int rtc_base(const struct qemu_argv *v, char **out)
{
    const struct qv_domain *def = v->def;
    const char *off = def->clock_offset;
    gint64 now = v->l->clock_now ? v->l->clock_now : g_get_real_time() / G_USEC_PER_SEC;
    gint64 adj = 0;
    const char *a = def->clock_adjustment;
    if (a && strcmp(a, "reset") != 0 &&
        !g_ascii_string_to_signed(a, 10, -G_MAXINT32 * 1000LL, G_MAXINT32 * 1000LL, &adj, NULL))
        return refuse(v, "<clock adjustment='%s'>: not a number of seconds QEMU can use", a);
    if (strcmp(off, "absolute") == 0) {
        if (def->clock_start > (uint64_t)G_MAXINT32 * 1000)
            return refuse(v, "<clock start='%" G_GUINT64_FORMAT "'>: too far in the future",
                          def->clock_start);
        *out = rtc_date((gint64)def->clock_start, true, NULL);
    } else if (strcmp(off, "timezone") == 0) {
        /* QEMU's localtime is its TZ's: qemu_start sets TZ (qemu_clock_env). */
        *out = g_strdup("localtime");
    } else if (adj == 0 && strcmp(off, "variable") != 0) {
        *out = g_strdup(off);
    } else {
        bool utc = strcmp(off, "utc") == 0 ||
                   (strcmp(off, "variable") == 0 && g_strcmp0(def->clock_basis, "localtime") != 0);
        *out = rtc_date(now + adj, utc, NULL);
    }
    if (!*out)
        return refuse(v, "<clock>: the RTC's date is out of range");
    return 0;
}

int qemu_clock_env(const struct qv_domain *def, char **out)
{
    *out = NULL;
    if (!def->clock_offset || strcmp(def->clock_offset, "timezone") != 0 || !def->clock_timezone)
        return 0;
    /* glibc takes an unknown TZ for UTC without a word: check the zone's
     * file is there (glib would also take offsets such as "+05", which
     * glibc's TZ does not; the name has no ".." or leading '/'). */
    g_autofree char *file = g_build_filename("/usr/share/zoneinfo", def->clock_timezone, NULL);
    GTimeZone *z = g_file_test(file, G_FILE_TEST_IS_REGULAR)
                       ? g_time_zone_new_identifier(def->clock_timezone)
                       : NULL;
    if (!z)
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "VM '%s': <clock timezone='%s'> is no time zone this host knows "
                            "(/usr/share/zoneinfo)",
                            def->name, def->clock_timezone);
    g_time_zone_unref(z);
    *out = g_strdup_printf("TZ=%s", def->clock_timezone);
    return 0;
}

/* rtc: tickpolicy catchup is QEMU's slewing, delay its default (a late
 * tick comes late); track= picks the clock the RTC follows. */
static int rtc(const struct qemu_argv *v, const struct qv_timer *t, bool *slew, const char **clock)
{
    const char *policy = qv_conf_tickpolicies[t->tickpolicy];
    if (t->present == 0)
        return refuse(v, "<timer name='rtc' present='no'>: a PC always has its RTC");
    if (t->tickpolicy && strcmp(policy, "catchup") == 0)
        *slew = true;
    else if (t->tickpolicy && strcmp(policy, "delay") != 0)
        return refuse(v, "<timer name='rtc' tickpolicy='%s'>", policy);
    static const char *const clocks[][2] = {{"guest", "vm"}, {"wall", "host"}, {"realtime", "rt"}};
    for (size_t i = 0; t->track && i < G_N_ELEMENTS(clocks); i++)
        if (strcmp(qv_conf_timer_tracks[t->track], clocks[i][0]) == 0)
            *clock = clocks[i][1];
    if (t->track && !*clock)
        return refuse(v,
                      "<timer name='rtc' track='%s'>: QEMU's RTC follows the guest's, the "
                      "host's or the real-time clock",
                      qv_conf_timer_tracks[t->track]);
    return 0;
}

static int pit(struct qemu_argv *v, const struct qv_timer *t)
{
    const char *policy = qv_conf_tickpolicies[t->tickpolicy];
    if (t->tickpolicy && strcmp(policy, "delay") != 0)
        return refuse(v, "<timer name='pit' tickpolicy='%s'>", policy);
    if (t->present >= 0)
        qemu_argv_machine_opt(v, ",pit=%s", t->present ? "on" : "off");
    return 0;
}

/* QEMU 7.2's pc and q35 have an HPET unless told otherwise. */
static int hpet(struct qemu_argv *v, const struct qv_timer *t)
{
    if (t->tickpolicy)
        return refuse(v, "<timer name='hpet' tickpolicy='%s'>",
                      qv_conf_tickpolicies[t->tickpolicy]);
    if (t->present == 0)
        qemu_argv_add(v, "-no-hpet");
    return 0;
}

/* kvmclock and hypervclock are KVM's: under TCG the guest has neither, so
 * present='no' is what it gets and present='yes' cannot be given. */
static int pv_clock(struct qemu_argv *v, const struct qv_timer *t, const char *flag)
{
    const char *name = qv_conf_timer_names[t->name];
    if (t->present < 0)
        return 0;
    if (qemu_is_tcg(v->def)) {
        if (t->present)
            return refuse(v,
                          "<timer name='%s' present='yes'>: QEMU's TCG has no %s; this needs "
                          "<domain type='kvm'>",
                          name, name);
        return 0;
    }
    qemu_argv_cpu_opt(v, ",%s=%s", flag, t->present ? "on" : "off");
    return 0;
}

static int tsc(struct qemu_argv *v, const struct qv_timer *t)
{
    if (t->present == 0)
        return refuse(v, "<timer name='tsc' present='no'>: QEMU always gives the guest a TSC");
    if (t->tickpolicy)
        return refuse(v, "<timer name='tsc' tickpolicy='%s'>", qv_conf_tickpolicies[t->tickpolicy]);
    const char *mode = qv_conf_tsc_modes[t->mode];
    if (t->mode && strcmp(mode, "auto") != 0 && strcmp(mode, "native") != 0)
        return refuse(v, "<timer name='tsc' mode='%s'>: QEMU runs the guest's TSC natively", mode);
    if (t->frequency) {
        if (qemu_is_tcg(v->def))
            return refuse(v,
                          "<timer name='tsc' frequency='%" G_GUINT64_FORMAT
                          "'>: TCG's TSC runs at the host's rate; this needs <domain "
                          "type='kvm'>",
                          t->frequency);
        qemu_argv_cpu_opt(v, ",tsc-frequency=%" G_GUINT64_FORMAT, t->frequency);
    }
    return 0;
}

int qemu_argv_add_clock(struct qemu_argv *v)
{
    const struct qv_domain *def = v->def;
    if (!def->clock_offset)
        return 0;
    bool slew = false;
    const char *clock = NULL;
    for (uint8_t i = 0; i < def->ntimers; i++) {
        const struct qv_timer *t = &def->timers[i];
        const char *name = qv_conf_timer_names[t->name];
        int rc = strcmp(name, "rtc") == 0           ? rtc(v, t, &slew, &clock)
                 : strcmp(name, "pit") == 0         ? pit(v, t)
                 : strcmp(name, "hpet") == 0        ? hpet(v, t)
                 : strcmp(name, "kvmclock") == 0    ? pv_clock(v, t, "kvmclock")
                 : strcmp(name, "hypervclock") == 0 ? pv_clock(v, t, "hv-time")
                 : strcmp(name, "tsc") == 0         ? tsc(v, t)
                                                    : refuse(v,
                                                             "<timer name='%s'>: not a timer "
                                                                     "of an x86 QEMU guest",
                                                             name);
        if (rc < 0)
            return rc;
    }
    g_autofree char *base = NULL;
    int rc = rtc_base(v, &base);
    if (rc < 0)
        return rc;
    /* The zone is checked at define too, not only when QEMU starts. */
    g_autofree char *tz = NULL;
    if ((rc = qemu_clock_env(def, &tz)) < 0)
        return rc;
    qemu_argv_add(v, "-rtc");
    qemu_argv_addf(v, "base=%s%s%s%s", base, clock ? ",clock=" : "", clock ? clock : "",
                   slew ? ",driftfix=slew" : "");
    return 0;
}
