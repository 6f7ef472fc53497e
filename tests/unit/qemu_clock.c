/* <clock> on real QEMU: the guest's RTC (QEMU's pc machine "rtc-time",
 * the date the guest reads from its CMOS clock) follows the offset, the
 * adjustment, the basis and the time zone; golden argv for the timers and
 * the refusals naming what QEMU cannot give. KVM-only flags are compared
 * as argv: this host may have no /dev/kvm. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "include/qv/qv.h"
#include "lib/qmp/qmp.h"
#include "lib/util/error.h"
#include "lib/util/fileio.h"
#include "lib/util/json.h"
#include "qemu_argv_util.h"

#define OS "<os><type arch='x86_64' machine='pc'>hvm</type></os>"
#define M0 "<memory unit='MiB'>32</memory><vcpu>1</vcpu>"
#define KVM_HEAD "<domain type='kvm'><name>g1</name><uuid>" UUID "</uuid>"
#define OK(call) ck_assert_msg((call) == 0, "%s: %s", #call, qv_last_error()->message)

/* Seconds since the epoch of the RTC's date, its fields read as UTC. */
static gint64 rtc_of(const char *uri_root, const char *name)
{
    g_autofree char *sock = g_build_filename(uri_root, "qemu", name, "qmp.sock", NULL);
    struct qmp *m = qmp_connect(sock, "test", 10000);
    ck_assert_msg(m != NULL, "%s", qv_last_error()->message);
    JsonNode *ret = NULL;
    OK(qmp_command_json(m, "qom-get", "{\"path\": \"/machine\", \"property\": \"rtc-time\"}", &ret,
                        10000));
    qmp_close(m);
    JsonObject *o = json_node_get_object(ret);
    g_autoptr(GDateTime) d = g_date_time_new_utc(
        (int)json_object_get_int_member(o, "tm_year") + 1900,
        (int)json_object_get_int_member(o, "tm_mon") + 1,
        (int)json_object_get_int_member(o, "tm_mday"),
        (int)json_object_get_int_member(o, "tm_hour"), (int)json_object_get_int_member(o, "tm_min"),
        (double)json_object_get_int_member(o, "tm_sec"));
    json_node_unref(ret);
    return g_date_time_to_unix(d);
}

/* Start a VM with clock, return its RTC minus the host's UTC now. */
static gint64 rtc_skew(const char *clock)
{
    g_autofree char *root = g_dir_make_tmp("qv-clock-XXXXXX", NULL);
    g_autofree char *uri = g_strdup_printf("qemu:///session?root=%s", root);
    struct qv_conn *c = qv_connect(uri);
    ck_assert_msg(c != NULL, "%s", qv_last_error()->message);
    g_autofree char *xml =
        g_strdup_printf("<domain type='qemu'><name>clk</name>" M0 OS "%s</domain>", clock);
    struct vm *vm = vm_define_xml(c, xml);
    ck_assert_msg(vm != NULL, "%s", qv_last_error()->message);
    OK(vm_start(vm));
    gint64 skew = rtc_of(root, "clk") - g_get_real_time() / G_USEC_PER_SEC;
    vm_destroy(vm);
    qv_close(c);
    qv_dir_remove_tree(root);
    return skew;
}

/* Within a minute: QEMU's start and the RTC's tick lie between. */
#define NEAR(skew, want)                                                                           \
    ck_assert_msg(ABS((skew) - (want)) < 60,                                                       \
                  "RTC off by %" G_GINT64_FORMAT " s, want %" G_GINT64_FORMAT, (gint64)(skew),     \
                  (gint64)(want))

START_TEST(rtc_follows_offset)
{
    NEAR(rtc_skew("<clock offset='utc'/>"), 0);
    NEAR(rtc_skew("<clock offset='utc' adjustment='86400'/>"), 86400);
    NEAR(rtc_skew("<clock offset='variable' adjustment='-7200' basis='utc'/>"), -7200);
    /* A zone of the user's: QEMU's localtime is taken in it. Needs the
     * host's zone files (tzdata), which scripts/setup.sh installs. */
    if (g_file_test("/usr/share/zoneinfo/Asia/Tokyo", G_FILE_TEST_IS_REGULAR)) {
        g_autoptr(GTimeZone) tokyo = g_time_zone_new_identifier("Asia/Tokyo");
        ck_assert_ptr_nonnull(tokyo);
        g_autoptr(GDateTime) now = g_date_time_new_now(tokyo);
        gint64 off = g_date_time_get_utc_offset(now) / G_USEC_PER_SEC;
        NEAR(rtc_skew("<clock offset='timezone' timezone='Asia/Tokyo'/>"), off);
    } else {
        printf("rtc_follows_offset: offset='timezone' not checked: no "
               "/usr/share/zoneinfo/Asia/Tokyo (tzdata)\n");
    }
    /* localtime and the variable clock's localtime basis follow the host's
     * zone (whatever it is where the test runs). */
    g_autoptr(GDateTime) here = g_date_time_new_now_local();
    gint64 local = g_date_time_get_utc_offset(here) / G_USEC_PER_SEC;
    NEAR(rtc_skew("<clock offset='localtime'/>"), local);
    NEAR(rtc_skew("<clock offset='variable' adjustment='3600' basis='localtime'/>"), local + 3600);
    /* absolute: a date of its own. */
    gint64 skew = rtc_skew("<clock offset='absolute' start='1000000000'/>");
    NEAR(skew + g_get_real_time() / G_USEC_PER_SEC, 1000000000);
}
END_TEST

START_TEST(timers_argv)
{
    struct qemu_launch l = launch_for(tmp);
    l.clock_now = 1700000000;
    char **argv =
        build(HEAD M0 OS "<clock offset='variable' adjustment='-3600' basis='utc'>"
                         "<timer name='rtc' track='guest' tickpolicy='catchup'/>"
                         "<timer name='pit' present='no'/><timer name='hpet' present='no'/>"
                         "<timer name='kvmclock' present='no'/>"
                         "<timer name='tsc' mode='native'/></clock></domain>",
              &l);
    has(argv, "-rtc", "base=2023-11-14T21:13:20,clock=vm,driftfix=slew");
    has(argv, "-machine", "pc,acpi=off,pit=off");
    ck_assert_int_eq(count_value(argv, "-no-hpet"), 1);
    qemu_accepts(argv);
    g_strfreev(argv);

    argv = build(HEAD M0 OS "<clock offset='utc' adjustment='reset'>"
                            "<timer name='rtc' track='realtime'/></clock></domain>",
                 &l);
    has(argv, "-rtc", "base=utc,clock=rt");
    qemu_accepts(argv);
    g_strfreev(argv);

    argv = build(KVM_HEAD M0 OS "<clock offset='utc'><timer name='kvmclock' present='no'/>"
                                "<timer name='hypervclock' present='yes'/>"
                                "<timer name='tsc' frequency='2500000000'/></clock></domain>",
                 &l);
    has(argv, "-cpu", "qemu64,kvmclock=off,hv-time=on,tsc-frequency=2500000000");
    g_strfreev(argv);
}
END_TEST

/* Refused by the parser (libvirt's schema does not allow them either). */
static void parse_fails(const char *xml, const char *needle)
{
    g_autoptr(qv_domain) d = qv_domain_parse_user_xml(xml);
    ck_assert_ptr_null(d);
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_XML);
    ck_assert_msg(strstr(qv_last_error()->message, needle), "'%s' not in '%s'", needle,
                  qv_last_error()->message);
}

START_TEST(timers_refused)
{
    build_fails(HEAD M0 OS "<clock offset='utc'><timer name='tsc' frequency='1000'/></clock>"
                           "</domain>",
                QV_ERR_UNSUPPORTED, "TCG's TSC runs at the host's rate");
    build_fails(HEAD M0 OS "<clock offset='utc'><timer name='kvmclock' present='yes'/></clock>"
                           "</domain>",
                QV_ERR_UNSUPPORTED, "QEMU's TCG has no kvmclock");
    build_fails(HEAD M0 OS "<clock offset='utc'><timer name='rtc' track='boot'/></clock></domain>",
                QV_ERR_UNSUPPORTED, "<timer name='rtc' track='boot'>");
    build_fails(HEAD M0 OS "<clock offset='utc'><timer name='platform'/></clock></domain>",
                QV_ERR_UNSUPPORTED, "<timer name='platform'>: not a timer of an x86 QEMU guest");
    build_fails(HEAD M0 OS "<clock offset='utc'><timer name='tsc' mode='emulate'/></clock>"
                           "</domain>",
                QV_ERR_UNSUPPORTED, "<timer name='tsc' mode='emulate'>");
    build_fails(HEAD M0 OS "<clock offset='timezone' timezone='Nowhere/Atlantis'/></domain>",
                QV_ERR_UNSUPPORTED,
                "<clock timezone='Nowhere/Atlantis'> is no time zone this host");
    parse_fails(HEAD M0 OS "<clock offset='timezone' timezone='../../etc/passwd'/></domain>",
                "timezone= must be a time zone name");
    parse_fails(HEAD M0 OS "<clock offset='utc' basis='utc'/></domain>",
                "basis= goes with offset='variable'");
    parse_fails(HEAD M0 OS "<clock offset='variable' adjustment='reset'/></domain>",
                "adjustment= must be seconds");
    parse_fails(HEAD M0 OS "<clock offset='utc'><timer name='pit' track='guest'/></clock>"
                           "</domain>",
                "track= goes with the rtc and platform timers");
    parse_fails(HEAD M0 OS "<clock offset='absolute'/></domain>",
                "<clock offset='absolute'> needs start=");
}
END_TEST

int main(void)
{
    TCase *tc = tcase_create("clock");
    tcase_add_test(tc, timers_argv);
    tcase_add_test(tc, timers_refused);
    tcase_add_test(tc, rtc_follows_offset);
    return run(tc);
}
