#define _GNU_SOURCE
/* The qemu driver's command line for libvirt's machine-level elements
 * (features, os extras, sysinfo, memory backing and hot-plug, NUMA,
 * iothreads): golden argv, QEMU started with each under TCG, and the
 * refusals naming element, line and attribute. KVM-only options are
 * compared as argv: this host may have no /dev/kvm. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/error.h"
#include "qemu_argv_util.h"

#define OS_Q35 "<os><type arch='x86_64' machine='q35'>hvm</type></os>"
#define OS_PC "<os><type arch='x86_64' machine='pc'>hvm</type></os>"
#define M0 "<memory unit='MiB'>64</memory><vcpu>1</vcpu>"
#define KVM_HEAD "<domain type='kvm'><name>g1</name><uuid>" UUID "</uuid>"

START_TEST(features_tcg)
{
    struct qemu_launch l = launch_for(tmp);
    char **argv =
        build(HEAD M0 OS_Q35 "<features><acpi/><smm state='on'><tseg unit='MiB'>48</tseg></smm>"
                             "<vmport state='off'/><ioapic driver='qemu'/>"
                             "<kvm><hidden state='on'/><pv-ipi state='off'/></kvm>"
                             "<hyperv mode='custom'><relaxed state='off'/></hyperv>"
                             "<pmu state='off'/><vmcoreinfo state='on'/>"
                             "<tcg><tb-cache unit='MiB'>64</tb-cache></tcg></features></domain>",
              &l);
    has(argv, "-machine", "q35,smm=on,vmport=off");
    has(argv, "-accel", "tcg,tb-size=64");
    has(argv, "-global", "mch.extended-tseg-mbytes=48");
    /* No <cpu>: QEMU's default model, with the flags. */
    has(argv, "-cpu", "qemu64,kvm=off,pmu=off");
    has(argv, "-device", "vmcoreinfo");
    qemu_accepts(argv);
    g_strfreev(argv);

    argv = build(HEAD M0 OS_PC "<cpu mode='custom'><model>Nehalem</model></cpu>"
                               "<features><acpi/><smm state='off'/><vmport/></features></domain>",
                 &l);
    has(argv, "-machine", "pc,smm=off,vmport=on");
    has(argv, "-cpu", "Nehalem");
    qemu_accepts(argv);
    g_strfreev(argv);
}
END_TEST

START_TEST(features_kvm_argv)
{
    struct qemu_launch l = launch_for(tmp);
    char **argv = build(
        KVM_HEAD M0 OS_Q35
        "<cpu mode='host-passthrough'/>"
        "<features><acpi/><ioapic driver='qemu'/><pmu state='on'/><apic eoi='on'/><pvspinlock/>"
        "<hyperv mode='custom'><relaxed state='on'/><vapic state='on'/>"
        "<spinlocks state='on' retries='8191'/><vpindex state='on'/><synic state='on'/>"
        "<stimer state='on'><direct state='on'/></stimer><vendor_id state='on' value='KVMKVM'/>"
        "<tlbflush state='off'/></hyperv>"
        "<kvm><hint-dedicated state='on'/><poll-control state='on'/>"
        "<dirty-ring state='on' size='4096'/></kvm></features></domain>",
        &l);
    has(argv, "-machine", "q35,kernel-irqchip=split");
    has(argv, "-accel", "kvm,dirty-ring-size=4096");
    has(argv, "-cpu",
        "host,pmu=on,kvm-pv-eoi=on,kvm-pv-unhalt=on,hv-relaxed=on,hv-vapic=on,"
        "hv-spinlocks=0x1fff,hv-vpindex=on,hv-synic=on,hv-stimer=on,hv-stimer-direct=on,"
        "hv-vendor-id=KVMKVM,hv-tlbflush=off,kvm-hint-dedicated=on,kvm-poll-control=on");
    g_strfreev(argv);

    argv = build(
        KVM_HEAD M0 OS_PC
        "<features><acpi/><ioapic driver='kvm'/><hyperv mode='passthrough'/></features></domain>",
        &l);
    has(argv, "-machine", "pc,kernel-irqchip=on");
    has(argv, "-cpu", "qemu64,hv-passthrough=on");
    g_strfreev(argv);
}
END_TEST

/* What TCG cannot give the guest is refused, naming element, line and
 * reason; so is what has no x86 QEMU form. */
START_TEST(features_refused)
{
    build_fails(HEAD M0 OS_Q35 "<features>\n<acpi/>\n<hyperv mode='custom'>\n"
                               "<relaxed state='on'/>\n</hyperv>\n</features></domain>",
                QV_ERR_UNSUPPORTED,
                "cannot honour <features><hyperv><relaxed> (line 4): a Hyper-V enlightenment; "
                "QEMU's TCG gives the guest none of them");
    build_fails(HEAD M0 OS_Q35 "<features><acpi/><hyperv mode='passthrough'/></features></domain>",
                QV_ERR_UNSUPPORTED, "<features><hyperv> (line 1)");
    build_fails(HEAD M0 OS_Q35 "<features><acpi/><ioapic driver='kvm'/></features></domain>",
                QV_ERR_UNSUPPORTED, "KVM's in-kernel IOAPIC needs <domain type='kvm'>");
    build_fails(HEAD M0 OS_Q35 "<features><acpi/><pmu state='on'/></features></domain>",
                QV_ERR_UNSUPPORTED, "no performance counters");
    build_fails(HEAD M0 OS_Q35 "<features><acpi/><kvm><hint-dedicated state='on'/></kvm></features>"
                               "</domain>",
                QV_ERR_UNSUPPORTED, "<features><kvm><hint-dedicated>");
    build_fails(HEAD M0 OS_PC "<features><acpi/><smm><tseg unit='MiB'>8</tseg></smm></features>"
                              "</domain>",
                QV_ERR_UNSUPPORTED, "an extended TSEG is q35's");
    build_fails(HEAD M0 OS_Q35 "<features><acpi/><gic version='3'/></features></domain>",
                QV_ERR_UNSUPPORTED, "<features><gic> (line 1): not a feature of an x86");
    build_fails(KVM_HEAD M0 OS_Q35 "<features><acpi/><hyperv><spinlocks state='on' retries='10'/>"
                                   "</hyperv></features></domain>",
                QV_ERR_UNSUPPORTED, "retries= from 4095");
    build_fails(KVM_HEAD M0 OS_Q35
                "<features><acpi/><tcg><tb-cache>1024</tb-cache></tcg></features>"
                "</domain>",
                QV_ERR_UNSUPPORTED, "the translation cache is TCG's");
}
END_TEST

int main(void)
{
    TCase *tc = tcase_create("machine");
    tcase_add_test(tc, features_tcg);
    tcase_add_test(tc, features_kvm_argv);
    tcase_add_test(tc, features_refused);
    return run(tc);
}
