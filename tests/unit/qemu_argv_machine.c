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

/* Boot menu, SeaBIOS serial output and reboot timeout, SMBIOS from
 * <sysinfo>, fw_cfg entries: QEMU starts with them. */
START_TEST(os_and_sysinfo)
{
    struct qemu_launch l = launch_for(tmp);
    char **argv = build(
        HEAD M0 "<os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/>"
                "<bootmenu enable='yes' timeout='3000'/><bios useserial='yes' rebootTimeout='0'/>"
                "<smbios mode='sysinfo'/></os><features><acpi/></features>"
                "<sysinfo type='smbios'><bios><entry name='vendor'>LENOVO</entry>"
                "<entry name='release'>1.2</entry></bios>"
                "<system><entry name='manufacturer'>Fedora, Inc</entry><entry name='uuid'>" UUID
                "</entry></system><baseBoard><entry name='asset'>A1</entry></baseBoard>"
                "<chassis><entry name='sku'>S</entry></chassis>"
                "<oemStrings><entry>myapp:some data</entry><entry>other:x</entry></oemStrings>"
                "</sysinfo><sysinfo type='fwcfg'><entry name='opt/com.example/name'>example value"
                "</entry></sysinfo></domain>",
        &l);
    has(argv, "-boot", "order=c,menu=on,splash-time=3000,reboot-timeout=0");
    has(argv, "-device", "sga");
    has(argv, "-smbios", "type=0,vendor=LENOVO,release=1.2");
    /* The comma in a value is doubled: QEMU's escaping. */
    has(argv, "-smbios", "type=1,manufacturer=Fedora,, Inc,uuid=" UUID);
    has(argv, "-smbios", "type=2,asset=A1");
    has(argv, "-smbios", "type=3,sku=S");
    has(argv, "-smbios", "type=11,value=myapp:some data,value=other:x");
    has(argv, "-fw_cfg", "name=opt/com.example/name,string=example value");
    qemu_accepts(argv);
    g_strfreev(argv);

    argv = build(HEAD M0 "<os><type arch='x86_64'>hvm</type><bootmenu enable='no'/>"
                         "<smbios mode='emulate'/><acpi><table type='slic'>/a,b.bin</table>"
                         "</acpi></os></domain>",
                 &l);
    has(argv, "-boot", "menu=off");
    has(argv, "-acpitable", "sig=SLIC,file=/a,,b.bin");
    lacks(argv, "-smbios");
    g_strfreev(argv);
}
END_TEST

START_TEST(os_and_sysinfo_refused)
{
    build_fails(HEAD M0 "<os><type arch='x86_64'>hvm</type><smbios mode='host'/></os></domain>",
                QV_ERR_UNSUPPORTED,
                "cannot honour <os><smbios> (line 1): mode='host': qv does not copy the host's");
    build_fails(HEAD M0 "<os><type arch='x86_64'>hvm</type></os>\n<sysinfo type='smbios'>\n"
                        "<bios><entry name='vendor'>x</entry></bios></sysinfo></domain>",
                QV_ERR_UNSUPPORTED,
                "<sysinfo> (line 2): its SMBIOS values reach the guest only with <os><smbios "
                "mode='sysinfo'/>");
    build_fails(HEAD M0 "<os><type arch='x86_64'>hvm</type><smbios mode='sysinfo'/></os>"
                        "<sysinfo type='smbios'><system>\n<entry name='uuid'>"
                        "00000000-0000-0000-0000-000000000001</entry></system></sysinfo></domain>",
                QV_ERR_UNSUPPORTED,
                "<sysinfo><system><entry> (line 2): the system UUID must be the domain's");
    build_fails(HEAD M0 "<os><type arch='x86_64'>hvm</type><smbios mode='sysinfo'/></os>"
                        "</domain>",
                QV_ERR_UNSUPPORTED, "mode='sysinfo' needs a <sysinfo type='smbios'>");
    build_fails(HEAD M0 "<os><type arch='x86_64'>hvm</type><bios rebootTimeout='-2'/></os>"
                        "</domain>",
                QV_ERR_UNSUPPORTED, "<os><bios> (line 1): rebootTimeout='-2' must be -1");
}
END_TEST

/* <memoryBacking>: one backend object for guest RAM. A plain directory
 * stands for the hugetlbfs mount (the driver finds the real one at start:
 * qemu_prepare). */
START_TEST(memory_backing)
{
    struct qemu_launch l = launch_for(tmp);
    char **argv = build(HEAD M0 OS_PC "<features><acpi/></features><memoryBacking><nosharepages/>"
                                      "<source type='memfd'/><access mode='shared'/>"
                                      "<allocation mode='immediate' threads='2'/></memoryBacking>"
                                      "</domain>",
                        &l);
    has(argv, "-machine", "pc,memory-backend=ram0,mem-merge=off");
    has(argv, "-object",
        "memory-backend-memfd,id=ram0,size=65536K,share=on,prealloc=on,prealloc-threads=2");
    qemu_accepts(argv);
    g_strfreev(argv);

    argv = build(HEAD M0 OS_PC "<features><acpi/></features><memoryBacking><source type='file'/>"
                               "<allocation mode='ondemand'/><discard/><locked/></memoryBacking>"
                               "</domain>",
                 &l);
    g_autofree char *obj = g_strdup_printf("memory-backend-file,id=ram0,mem-path=%s,size=65536K,"
                                           "share=off,prealloc=off,discard-data=on",
                                           tmp);
    has(argv, "-object", obj);
    has(argv, "-overcommit", "mem-lock=on");
    qemu_accepts(argv);
    g_strfreev(argv);

    /* Huge pages of a size, with <numatune>: one object, bound. */
    l.hugepage_dir = tmp;
    argv = build(HEAD M0 OS_PC "<features><acpi/></features><memoryBacking><hugepages>"
                               "<page size='2' unit='MiB'/></hugepages></memoryBacking>"
                               "<numatune><memory mode='strict' nodeset='0'/></numatune></domain>",
                 &l);
    g_free(obj);
    obj = g_strdup_printf("memory-backend-file,id=ram0,mem-path=%s,size=65536K,share=on,"
                          "prealloc=on,host-nodes=0,policy=bind",
                          tmp);
    has(argv, "-object", obj);
    ck_assert_int_eq(count_value(argv, "memory-backend"), 1);
    has(argv, "-machine", "pc,memory-backend=ram0");
    qemu_accepts(argv);
    g_strfreev(argv);
}
END_TEST

START_TEST(memory_backing_refused)
{
    /* No hugetlbfs of that size (launch_for gives none). */
    build_fails(HEAD M0 OS_PC "<memoryBacking><hugepages>\n<page size='1' unit='GiB'/>"
                              "</hugepages><locked/></memoryBacking></domain>",
                QV_ERR_UNSUPPORTED,
                "<memoryBacking><hugepages> (line 1): no hugetlbfs of 1048576 KiB pages");
    build_fails(HEAD M0 OS_PC "<memoryBacking><discard/><locked/></memoryBacking></domain>",
                QV_ERR_UNSUPPORTED, "QEMU discards only file-backed memory");
    build_fails(HEAD M0 OS_PC "<memoryBacking><hugepages><page size='2048' nodeset='1'/>"
                              "</hugepages><locked/></memoryBacking></domain>",
                QV_ERR_UNSUPPORTED, "<memoryBacking><hugepages><page> (line 1): one page size");
}
END_TEST

START_TEST(iothreads_seclabel)
{
    struct qemu_launch l = launch_for(tmp);
    char **argv = build(HEAD M0 OS_PC "<iothreads>2</iothreads><seclabel type='none' "
                                      "model='none'/></domain>",
                        &l);
    has(argv, "-object", "iothread,id=iothread1");
    has(argv, "-object", "iothread,id=iothread2");
    qemu_accepts(argv);
    g_strfreev(argv);
    argv = build(HEAD M0 OS_PC "<iothreads>2</iothreads><iothreadids><iothread id='3' "
                               "thread_pool_min='1' thread_pool_max='4'/><iothread id='5'/>"
                               "</iothreadids><defaultiothread thread_pool_max='8'/></domain>",
                 &l);
    has(argv, "-object", "iothread,id=iothread3,thread-pool-min=1,thread-pool-max=4");
    has(argv, "-object", "iothread,id=iothread5");
    has(argv, "-object", "main-loop,id=main-loop,thread-pool-max=8");
    ck_assert_int_eq(count_value(argv, "iothread,"), 2);
    qemu_accepts(argv);
    g_strfreev(argv);

    /* libvirt's DAC label of a running domain: QEMU runs as the caller. */
    argv = build(HEAD M0 OS_PC "<seclabel type='dynamic' model='dac' relabel='yes'/></domain>", &l);
    g_strfreev(argv);
    build_fails(HEAD M0 OS_PC "<seclabel type='static' model='dac' relabel='no'>"
                              "<label>+107:+107</label></seclabel></domain>",
                QV_ERR_UNSUPPORTED, "static DAC labels");
    build_fails(HEAD M0 OS_PC "<seclabel type='dynamic' model='selinux'/></domain>",
                QV_ERR_UNSUPPORTED,
                "<seclabel> (line 1): qv applies no SELinux, AppArmor or static DAC");
    build_fails(HEAD M0 OS_PC "<launchSecurity type='sev'><policy>0x0003</policy>"
                              "</launchSecurity></domain>",
                QV_ERR_UNSUPPORTED, "does not set up AMD SEV");
}
END_TEST

/* <cpu><numa>: a memory backend and a -numa node per cell, the backend of
 * the kind guest RAM has (<memoryBacking>), distances for every pair. */
START_TEST(numa_cells)
{
    struct qemu_launch l = launch_for(tmp);
    char **argv = build(
        HEAD "<memory unit='MiB'>128</memory><vcpu>4</vcpu>" OS_PC "<features><acpi/></features>"
             "<cpu mode='custom'><model>qemu64</model><topology sockets='2' cores='2' threads='1'/>"
             "<numa><cell id='0' cpus='0-1' memory='64' unit='MiB'>"
             "<distances><sibling id='0' value='10'/><sibling id='1' value='21'/></distances>"
             "</cell><cell id='1' cpus='2,3' memory='65536' unit='KiB' memAccess='shared'/>"
             "</numa></cpu></domain>",
        &l);
    has(argv, "-object", "memory-backend-ram,id=ram-node0,size=65536K");
    has(argv, "-object", "memory-backend-ram,id=ram-node1,size=65536K,share=on");
    has(argv, "-numa", "node,nodeid=0,cpus=0-1,memdev=ram-node0");
    has(argv, "-numa", "node,nodeid=1,cpus=2-3,memdev=ram-node1");
    has(argv, "-numa", "dist,src=0,dst=1,val=21");
    has(argv, "-numa", "dist,src=1,dst=0,val=21"); /* the reverse direction's */
    has(argv, "-numa", "dist,src=1,dst=1,val=10");
    has(argv, "-cpu", "qemu64");
    has(argv, "-machine", "pc");
    qemu_accepts(argv);
    g_strfreev(argv);

    /* On the <memoryBacking> object: memfd, shared, preallocated; a cell
     * of only memory (no cpus=). */
    argv = build(HEAD "<memory unit='MiB'>96</memory><vcpu>2</vcpu>" OS_Q35
                      "<features><acpi/></features><memoryBacking><source type='memfd'/>"
                      "<access mode='shared'/><allocation mode='immediate'/></memoryBacking>"
                      "<cpu><numa><cell cpus='0-1' memory='64' unit='MiB' memAccess='private'/>"
                      "<cell memory='32' unit='MiB'/></numa></cpu></domain>",
                 &l);
    has(argv, "-object", "memory-backend-memfd,id=ram-node0,size=65536K,prealloc=on,share=off");
    has(argv, "-object", "memory-backend-memfd,id=ram-node1,size=32768K,share=on,prealloc=on");
    has(argv, "-numa", "node,nodeid=1,memdev=ram-node1");
    has(argv, "-machine", "q35");
    ck_assert_int_eq(count_value(argv, "memory-backend-memfd,id=ram0"), 0);
    ck_assert_int_eq(count_value(argv, "dist,"), 0);
    qemu_accepts(argv);
    g_strfreev(argv);

    /* A file backend may discard a cell's memory; <numatune> binds each. */
    argv = build(HEAD "<memory unit='MiB'>64</memory><vcpu>1</vcpu>" OS_PC
                      "<features><acpi/></features><memoryBacking><source type='file'/>"
                      "</memoryBacking><numatune><memory mode='strict' nodeset='0'/></numatune>"
                      "<cpu><numa><cell id='0' cpus='0' memory='64' unit='MiB' discard='yes'/>"
                      "</numa></cpu></domain>",
                 &l);
    g_autofree char *obj = g_strdup_printf("memory-backend-file,id=ram-node0,size=65536K,"
                                           "mem-path=%s,share=off,prealloc=off,host-nodes=0,"
                                           "policy=bind,discard-data=on",
                                           tmp);
    has(argv, "-object", obj);
    qemu_accepts(argv);
    g_strfreev(argv);
}
END_TEST

START_TEST(numa_refused)
{
#define NUMA(cells)                                                                                \
    HEAD "<memory unit='MiB'>128</memory><vcpu>2</vcpu>" OS_PC "<cpu>\n<numa>" cells               \
         "</numa></cpu></domain>"
    build_fails(NUMA("<cell id='0' cpus='0' memory='64' unit='MiB'/>"
                     "<cell id='1' cpus='0' memory='64' unit='MiB'/>"),
                QV_ERR_UNSUPPORTED, "<cpu><numa><cell> (line 2): vCPU 0 is in another cell too");
    build_fails(NUMA("<cell id='0' cpus='0' memory='128' unit='MiB'/>"), QV_ERR_UNSUPPORTED,
                "<cpu><numa> (line 2): the cells' cpus= hold 1 of the VM's 2 vCPUs");
    build_fails(NUMA("<cell id='0' cpus='0-2' memory='128' unit='MiB'/>"), QV_ERR_UNSUPPORTED,
                "vCPU 2 is not one of the VM's 2");
    build_fails(NUMA("<cell id='0' cpus='0-1' memory='64' unit='MiB'/>"), QV_ERR_UNSUPPORTED,
                "the cells' memory adds up to 65536 KiB, <memory> is 131072 KiB");
    build_fails(NUMA("<cell id='1' cpus='0-1' memory='128' unit='MiB'/>"), QV_ERR_UNSUPPORTED,
                "cells are numbered from 0 in order");
    build_fails(NUMA("<cell id='0' cpus='0-1' memory='128' unit='MiB' discard='yes'/>"),
                QV_ERR_UNSUPPORTED, "QEMU discards only file-backed memory");
    build_fails(NUMA("<cell id='0' cpus='0-1' memory='128' unit='MiB'><distances>"
                     "<sibling id='0' value='20'/></distances></cell>"),
                QV_ERR_UNSUPPORTED, "<cpu><numa><cell><distances><sibling> (line 2): a cell's");
    build_fails(NUMA("<cell id='0' cpus='0-1' memory='128' unit='MiB'><distances>"
                     "<sibling id='3' value='20'/></distances></cell>"),
                QV_ERR_UNSUPPORTED, "a <sibling id='3'> names no cell");
    build_fails(NUMA("<interconnects><latency initiator='0' target='0' type='access' "
                     "value='5'/></interconnects><cell id='0' cpus='0-1' memory='128' "
                     "unit='MiB'/>"),
                QV_ERR_UNSUPPORTED, "<cpu><numa><interconnects> (line 2): this element");
#undef NUMA
}
END_TEST

/* <maxMemory> and DIMMs: -m gives what is left of <memory> at start, the
 * slots and the maximum; each DIMM a backend and a pc-dimm. */
START_TEST(memory_hotplug)
{
    struct qemu_launch l = launch_for(tmp);
    char **argv = build(HEAD "<maxMemory slots='4' unit='MiB'>1024</maxMemory>"
                             "<memory unit='MiB'>192</memory><vcpu>2</vcpu>" OS_PC
                             "<features><acpi/></features>"
                             "<cpu><numa><cell id='0' cpus='0' memory='64' unit='MiB'/>"
                             "<cell id='1' cpus='1' memory='64' unit='MiB'/></numa></cpu>"
                             "<devices><memory model='dimm' access='shared'><source>"
                             "<nodemask>0</nodemask></source><target><size unit='MiB'>64</size>"
                             "<node>1</node></target><address type='dimm' slot='2'/></memory>"
                             "</devices></domain>",
                        &l);
    has(argv, "-m", "size=128M,slots=4,maxmem=1048576K");
    has(argv, "-object",
        "memory-backend-ram,id=memdimm0,size=65536K,share=on,host-nodes=0,policy=bind");
    has(argv, "-device", "pc-dimm,memdev=memdimm0,id=dimm0,node=1,slot=2");
    has(argv, "-numa", "node,nodeid=1,cpus=1,memdev=ram-node1");
    qemu_accepts(argv);
    g_strfreev(argv);

    /* Without NUMA cells QEMU gives the guest one node; the DIMM takes
     * after guest RAM's memfd backend. */
    argv = build(HEAD "<maxMemory slots='2' unit='MiB'>512</maxMemory>"
                      "<memory unit='MiB'>128</memory><vcpu>1</vcpu>" OS_Q35
                      "<features><acpi/></features><memoryBacking><source type='memfd'/>"
                      "</memoryBacking><devices><memory model='dimm'><target>"
                      "<size unit='MiB'>64</size></target></memory></devices></domain>",
                 &l);
    has(argv, "-m", "size=64M,slots=2,maxmem=524288K");
    has(argv, "-object", "memory-backend-memfd,id=ram0,size=65536K,share=off,prealloc=off");
    has(argv, "-object", "memory-backend-memfd,id=memdimm0,size=65536K,share=off,prealloc=off");
    has(argv, "-device", "pc-dimm,memdev=memdimm0,id=dimm0");
    qemu_accepts(argv);
    g_strfreev(argv);

    /* NVDIMM (a file, a label area), virtio-pmem (a file) and virtio-mem
     * (guest RAM's kind of backend, resized by the guest's driver). */
    argv = build(HEAD "<maxMemory slots='2' unit='MiB'>1024</maxMemory>"
                      "<memory unit='MiB'>320</memory><vcpu>1</vcpu>" OS_PC
                      "<features><acpi/></features><devices>"
                      "<memory model='nvdimm' access='shared'><source><path>@T@/nv.img</path>"
                      "</source><target><size unit='MiB'>64</size><label><size unit='KiB'>128"
                      "</size></label></target></memory>"
                      "<memory model='virtio-pmem'><source><path>@T@/pm.img</path></source>"
                      "<target><size unit='MiB'>64</size></target></memory>"
                      "<memory model='virtio-mem'><target><size unit='MiB'>128</size>"
                      "<node>0</node><block unit='MiB'>2</block><requested unit='MiB'>0"
                      "</requested></target></memory></devices></domain>",
                 &l);
    has(argv, "-m", "size=64M,slots=2,maxmem=1048576K");
    g_autofree char *nv = g_strdup_printf(
        "memory-backend-file,id=memnvdimm0,mem-path=%s/nv.img,size=65536K,share=on", tmp);
    has(argv, "-object", nv);
    has(argv, "-device", "nvdimm,memdev=memnvdimm0,id=nvdimm0,label-size=128K");
    ck_assert_int_eq(count_value(argv, "pc,nvdimm=on"), 1);
    has(argv, "-object", "memory-backend-ram,id=memvirtiomem2,size=131072K");
    ck_assert_int_eq(count_value(argv, "virtio-pmem-pci,memdev=memvirtiopmem1,id=virtiopmem1"), 1);
    ck_assert_int_eq(count_value(argv, "virtio-mem-pci,memdev=memvirtiomem2,id=virtiomem2,"
                                       "block-size=2048K,requested-size=0K,node=0"),
                     1);
    qemu_accepts(argv);
    g_strfreev(argv);

    /* Slots alone: room to hot-plug later. */
    argv = build(HEAD "<maxMemory slots='16' unit='GiB'>1</maxMemory>" M0 OS_PC "</domain>", &l);
    has(argv, "-m", "size=64M,slots=16,maxmem=1048576K");
    qemu_accepts(argv);
    g_strfreev(argv);
}
END_TEST

START_TEST(memory_hotplug_refused)
{
#define HOT(max, devs)                                                                             \
    HEAD max "<memory unit='MiB'>192</memory><vcpu>1</vcpu>" OS_PC                                 \
             "<features><acpi/></features><devices>\n" devs "</devices></domain>"
#define DIMM(size) "<memory model='dimm'><target><size unit='MiB'>" size "</size></target></memory>"
    build_fails(HEAD "<maxMemory slots='2' unit='MiB'>1024</maxMemory><memory unit='MiB'>192"
                     "</memory><vcpu>1</vcpu>" OS_PC "<devices>\n" DIMM("64") "</devices></domain>",
                QV_ERR_UNSUPPORTED, "<devices><memory> (line 2): QEMU plugs a DIMM in");
    build_fails(HOT("", DIMM("64")), QV_ERR_UNSUPPORTED,
                "<devices><memory> (line 2): a memory device needs <maxMemory>");
    build_fails(HOT("<maxMemory slots='1' unit='MiB'>1024</maxMemory>", DIMM("32") DIMM("32")),
                QV_ERR_UNSUPPORTED, "more DIMMs than <maxMemory>'s 1 slots");
    build_fails(HOT("<maxMemory slots='2' unit='MiB'>1024</maxMemory>", DIMM("3")),
                QV_ERR_UNSUPPORTED,
                "<devices><memory><target><size> (line 2): QEMU needs this device's size in whole "
                "2048 KiB");
    build_fails(HOT("<maxMemory slots='2' unit='MiB'>1024</maxMemory>", DIMM("192")),
                QV_ERR_UNSUPPORTED, "leave no memory of <memory>");
    build_fails(HOT("<maxMemory unit='MiB'>1024</maxMemory>", ""), QV_ERR_UNSUPPORTED,
                "<maxMemory> (line 1): slots= (1-256) is needed");
    build_fails(HOT("<maxMemory slots='2' unit='MiB'>128</maxMemory>", ""), QV_ERR_UNSUPPORTED,
                "is less than <memory>");
    build_fails(HOT("<maxMemory slots='2' unit='MiB'>1024</maxMemory>",
                    "<memory model='dimm'><target><size unit='MiB'>64</size><node>1</node>"
                    "</target></memory>"),
                QV_ERR_UNSUPPORTED, "the guest NUMA node must be one of its 1");
    build_fails(HOT("<maxMemory slots='2' unit='MiB'>1024</maxMemory>",
                    "<memory model='dimm'><target><size unit='MiB'>64</size></target>"
                    "<address type='dimm' slot='2'/></memory>"),
                QV_ERR_UNSUPPORTED, "slot 2 is not one of <maxMemory>'s 2");
    build_fails(HOT("<maxMemory slots='2' unit='MiB'>1024</maxMemory>",
                    "<memory model='sgx-epc'><target><size unit='MiB'>64</size></target>"
                    "</memory>"),
                QV_ERR_UNSUPPORTED, "model='sgx-epc' is not supported");
    build_fails(HOT("<maxMemory slots='2' unit='MiB'>1024</maxMemory>",
                    "<memory model='virtio-mem'><target><size unit='MiB'>64</size>"
                    "<block unit='MiB'>3</block></target></memory>"),
                QV_ERR_UNSUPPORTED, "<block> is required: a power of two from 2 MiB");
    build_fails(HOT("<maxMemory slots='2' unit='MiB'>1024</maxMemory>",
                    "<memory model='virtio-pmem'><target><size unit='MiB'>64</size></target>"
                    "</memory>"),
                QV_ERR_UNSUPPORTED, "<source><path> naming the backing file is required");
#undef HOT
#undef DIMM
}
END_TEST

/* A virtio disk in one of the VM's IOThreads. */
START_TEST(disk_iothread)
{
    struct qemu_launch l = launch_for(tmp);
    make_image("a.qcow2", "qcow2");
    char **argv = build(HEAD M0 OS_PC "<features><acpi/></features><iothreads>2</iothreads>"
                                      "<devices><disk type='file' device='disk'>"
                                      "<driver name='qemu' type='qcow2' iothread='2'/>"
                                      "<source file='@T@/a.qcow2'/><target dev='vda' bus='virtio'/>"
                                      "</disk></devices></domain>",
                        &l);
    ck_assert_int_eq(count_value(argv, "virtio-blk-pci,"), 1);
    bool found = false;
    for (char **a = argv; *a; a++)
        found =
            found || (g_str_has_prefix(*a, "virtio-blk-pci,") && strstr(*a, ",iothread=iothread2"));
    ck_assert(found);
    qemu_accepts(argv);
    g_strfreev(argv);

    build_fails(HEAD M0 OS_PC "<iothreads>1</iothreads><devices><disk type='file' device='disk'>"
                              "<driver name='qemu' iothread='2'/><source file='/x.img'/>"
                              "<target dev='vda' bus='virtio'/></disk></devices></domain>",
                QV_ERR_UNSUPPORTED, "<disk> 'vda' <driver iothread='2'>: the VM has no IOThread 2");
    build_fails(HEAD M0 OS_PC "<iothreads>1</iothreads><iothreadids><iothread id='4'/>"
                              "</iothreadids><devices><disk type='file' device='disk'>"
                              "<driver name='qemu' iothread='1'/><source file='/x.img'/>"
                              "<target dev='vda' bus='virtio'/></disk></devices></domain>",
                QV_ERR_UNSUPPORTED, "the VM has no IOThread 1");
    build_fails(HEAD M0 OS_PC "<iothreads>1</iothreads><devices><disk type='file' device='disk'>"
                              "<driver name='qemu' iothread='1'/><source file='/x.img'/>"
                              "<target dev='hda' bus='ide'/></disk></devices></domain>",
                QV_ERR_UNSUPPORTED, "only a virtio disk runs in an IOThread");
}
END_TEST

int main(void)
{
    TCase *tc = tcase_create("machine");
    tcase_add_test(tc, features_tcg);
    tcase_add_test(tc, features_kvm_argv);
    tcase_add_test(tc, features_refused);
    tcase_add_test(tc, os_and_sysinfo);
    tcase_add_test(tc, os_and_sysinfo_refused);
    tcase_add_test(tc, memory_backing);
    tcase_add_test(tc, memory_backing_refused);
    tcase_add_test(tc, iothreads_seclabel);
    tcase_add_test(tc, numa_cells);
    tcase_add_test(tc, numa_refused);
    tcase_add_test(tc, memory_hotplug);
    tcase_add_test(tc, memory_hotplug_refused);
    tcase_add_test(tc, disk_iothread);
    return run(tc);
}
