/* The qemu driver's -cpu for libvirt's <cpu>: mode='maximum', <model
 * vendor_id>, <vendor>, <cache>, <maxphysaddr> and policy='optional'
 * features; golden argv, QEMU started with each under TCG, and the
 * refusals naming element, line and attribute. KVM-only flags are
 * compared as argv: this host may have no /dev/kvm. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/error.h"
#include "qemu_argv_util.h"

#define OS "<os><type arch='x86_64' machine='q35'>hvm</type></os>"
#define M0 "<memory unit='MiB'>64</memory><vcpu>1</vcpu>"
#define KVM_HEAD "<domain type='kvm'><name>g1</name><uuid>" UUID "</uuid>"

START_TEST(cpu_flags_tcg)
{
    struct qemu_launch l = launch_for(tmp);
    char **argv = build(HEAD M0 OS "<cpu mode='custom' match='exact'>"
                                   "<model fallback='allow' vendor_id='AuthenticAMD'>qemu64</model>"
                                   "<feature policy='optional' name='sse4.2'/>"
                                   "<feature policy='disable' name='svm'/>"
                                   "<cache level='3' mode='emulate'/>"
                                   "<maxphysaddr mode='emulate' bits='42'/></cpu></domain>",
                        &l);
    has(argv, "-cpu", "qemu64,vendor=AuthenticAMD,+sse4.2,-svm,l3-cache=on,phys-bits=42");
    qemu_accepts(argv);
    g_strfreev(argv);

    /* <vendor> by libvirt's name; mode='maximum' is QEMU's max. */
    argv = build(HEAD M0 OS "<cpu mode='maximum'><vendor>Intel</vendor><cache mode='disable'/>"
                            "</cpu></domain>",
                 &l);
    has(argv, "-cpu", "max,vendor=GenuineIntel,l3-cache=off");
    qemu_accepts(argv);
    g_strfreev(argv);

    /* Without mode: QEMU's default model carries the flags. */
    argv = build(HEAD M0 OS "<cpu><cache level='3' mode='emulate'/></cpu></domain>", &l);
    has(argv, "-cpu", "qemu64,l3-cache=on");
    qemu_accepts(argv);
    g_strfreev(argv);
}
END_TEST

START_TEST(cpu_flags_kvm_argv)
{
    struct qemu_launch l = launch_for(tmp);
    char **argv = build(KVM_HEAD M0 OS "<cpu mode='host-passthrough'><cache mode='passthrough'/>"
                                       "<maxphysaddr mode='passthrough' bits='46'/></cpu></domain>",
                        &l);
    has(argv, "-cpu",
        "host,l3-cache=off,host-cache-info=on,host-phys-bits=on,"
        "host-phys-bits-limit=46");
    g_strfreev(argv);
    argv = build(KVM_HEAD M0 OS "<cpu mode='maximum'><cache mode='disable'/>"
                                "<maxphysaddr mode='passthrough'/></cpu></domain>",
                 &l);
    has(argv, "-cpu", "max,l3-cache=off,host-cache-info=off,host-phys-bits=on");
    g_strfreev(argv);
}
END_TEST

START_TEST(cpu_flags_refused)
{
    build_fails(HEAD M0 OS "<cpu mode='custom'>\n<model>qemu64</model>\n<vendor>VIA</vendor>"
                           "</cpu></domain>",
                QV_ERR_UNSUPPORTED,
                "cannot honour <cpu><vendor> (line 3): vendor 'VIA' is not one qv can give");
    build_fails(HEAD M0 OS "<cpu mode='custom'><model vendor_id='GenuineIntel'>qemu64</model>"
                           "<vendor>AMD</vendor></cpu></domain>",
                QV_ERR_UNSUPPORTED, "<model vendor_id='GenuineIntel'> says otherwise");
    build_fails(KVM_HEAD M0 OS "<cpu mode='host-passthrough'><vendor>AMD</vendor></cpu></domain>",
                QV_ERR_UNSUPPORTED, "the guest sees the host's vendor");
    build_fails(HEAD M0 OS "<cpu mode='maximum'><cache mode='passthrough'/></cpu></domain>",
                QV_ERR_UNSUPPORTED, "<cpu><cache> (line 1): the host's cache information");
    build_fails(HEAD M0 OS "<cpu mode='maximum'><cache level='2' mode='emulate'/></cpu></domain>",
                QV_ERR_UNSUPPORTED, "only an emulated level 3 cache");
    build_fails(HEAD M0 OS "<cpu mode='maximum'><maxphysaddr mode='passthrough'/></cpu></domain>",
                QV_ERR_UNSUPPORTED, "the host's address width");
    build_fails(HEAD M0 OS "<cpu mode='maximum'><maxphysaddr mode='emulate' bits='20'/></cpu>"
                           "</domain>",
                QV_ERR_UNSUPPORTED, "bits='20': QEMU takes 32 to 52");
    build_fails(HEAD M0 OS "<cpu mode='maximum'><maxphysaddr mode='emulate'/></cpu></domain>",
                QV_ERR_UNSUPPORTED, "mode='emulate' needs bits=");
    build_fails(HEAD M0 OS "<cpu mode='custom' check='full'><model>qemu64</model>"
                           "<feature policy='optional' name='avx'/></cpu></domain>",
                QV_ERR_UNSUPPORTED, "policy='optional'> with <cpu check='partial'> or 'full'");
}
END_TEST

int main(void)
{
    TCase *tc = tcase_create("cpu");
    tcase_add_test(tc, cpu_flags_tcg);
    tcase_add_test(tc, cpu_flags_kvm_argv);
    tcase_add_test(tc, cpu_flags_refused);
    return run(tc);
}
