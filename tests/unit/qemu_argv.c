#define _GNU_SOURCE
/* The qemu driver's command line: golden argv for each supported element,
 * clear errors for what QEMU cannot be given, and real QEMU started with
 * each golden command line (paused, then quit over QMP) to prove it
 * accepts it. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drivers/qemu/qemu.h"
#include "lib/conf/domain.h"
#include "lib/proc/proc.h"
#include "lib/util/cpuset.h"
#include "lib/qmp/qmp.h"
#include "lib/util/error.h"
#include "lib/util/fileio.h"
#include "unit/qemu_argv_util.h"

START_TEST(minimal_golden)
{
    char **argv = build(
        HEAD MEM "<os><type arch='x86_64' machine='pc'>hvm</type></os></domain>",
        &(struct qemu_launch){
            .dir = "/run/v,m", .emulator = "/usr/bin/qemu", .paused = true, .daemonize = true});
    const char *want[] = {"/usr/bin/qemu", "-name", "guest=g1,debug-threads=on", "-uuid", UUID,
                          "-nodefaults", "-no-user-config", "-no-shutdown", "-machine", "pc",
                          "-accel", "tcg", "-smp", "1,maxcpus=1", "-m", "size=64M", "-chardev",
                          /* The comma in the directory is doubled: QEMU's option escaping. */
                          "socket,id=qmp,path=/run/v,,m/qmp.sock,server=on,wait=off", "-mon",
                          "chardev=qmp,mode=control", "-chardev",
                          "socket,id=qmp-status,path=/run/v,,m/status.sock,server=on,wait=off",
                          "-mon", "chardev=qmp-status,mode=control", "-chardev",
                          "pty,id=serial0,logfile=/run/v,,m/console.log,logappend=on", "-serial",
                          "chardev:serial0", "-display", "none",
                          /* The balloon libvirt would add too. */
                          "-device", "virtio-balloon-pci,id=balloon0", "-S", "-daemonize",
                          "-pidfile", "/run/v,m/qemu.pid", NULL};
    g_autofree char *got = g_strjoinv("\n", argv);
    g_autofree char *exp = g_strjoinv("\n", (char **)want);
    ck_assert_str_eq(got, exp);
    g_strfreev(argv);

    struct qemu_launch l = launch_for(tmp);
    argv = build(HEAD MEM "<os><type arch='x86_64' machine='pc'>hvm</type></os>"
                          "<on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot>"
                          "<on_crash>coredump-destroy</on_crash></domain>",
                 &l);
    int noreboot = 0;
    for (char **a = argv; *a; a++)
        noreboot += strcmp(*a, "-no-reboot") == 0;
    ck_assert_int_eq(noreboot, 1);
    qemu_accepts(argv);
    g_strfreev(argv);
}
END_TEST

/* <disk><serial> is what the guest reads back (virtio-blk GET_ID, ATA
 * IDENTIFY); longer than those 20 bytes it would be cut, so it is refused. */
START_TEST(disk_serial)
{
    make_image("a.raw", "raw");
    struct qemu_launch l = launch_for(tmp);
    char **argv = build(HEAD MEM "<os><type arch='x86_64'>hvm</type></os><devices>"
                                 "<disk type='file' device='disk'><source file='@T@/a.raw'/>"
                                 "<target dev='vda' bus='virtio'/><serial>QV-0001 a+b</serial>"
                                 "</disk></devices></domain>",
                        &l);
    has(argv, "-device", "virtio-blk-pci,drive=disk0,id=vda,write-cache=on,serial=QV-0001 a+b");
    qemu_accepts(argv);
    g_strfreev(argv);
    build_fails(HEAD MEM "<os><type arch='x86_64'>hvm</type></os><devices>"
                         "<disk type='file' device='disk'><source file='/x'/>"
                         "<target dev='hda' bus='ide'/><serial>ABCDEFGHIJKLMNOPQRSTU</serial>"
                         "</disk></devices></domain>",
                QV_ERR_UNSUPPORTED, "longer than the 20 characters a ide disk");
}
END_TEST

START_TEST(machine_accel_cpu_topology)
{
    struct qemu_launch l = launch_for(tmp);
    char **argv = build("<domain type='qemu'><name>g1</name><memory unit='MiB'>128</memory>"
                        "<vcpu>4</vcpu><os><type arch='x86_64' machine='q35'>hvm</type></os>"
                        "<cpu mode='host-model'><topology sockets='2' cores='2' threads='1'/>"
                        "</cpu></domain>",
                        &l);
    has(argv, "-machine", "q35,acpi=off");
    has(argv, "-accel", "tcg");
    has(argv, "-cpu", "max");
    has(argv, "-smp", "4,maxcpus=4,sockets=2,cores=2,threads=1");
    has(argv, "-m", "size=128M");
    qemu_accepts(argv);
    g_strfreev(argv);

    argv = build(HEAD MEM "<os><type arch='x86_64'>hvm</type></os><cpu mode='custom'>"
                          "<model>Nehalem</model></cpu></domain>",
                 &l);
    has(argv, "-cpu", "Nehalem");
    has(argv, "-machine", "pc");
    qemu_accepts(argv);
    g_strfreev(argv);

    /* KVM: host-passthrough is -cpu host (QEMU started with it in
     * kvm_host_passthrough_runs, the qemu_argv_kvm test). */
    argv = build("<domain type='kvm'><name>g1</name>" MEM "<os><type arch='x86_64'>hvm</type></os>"
                 "<cpu mode='host-passthrough'/></domain>",
                 &l);
    has(argv, "-accel", "kvm");
    has(argv, "-cpu", "host");
    g_strfreev(argv);
}
END_TEST

/* What virsh dumpxml always writes: clock, timers, pm, CPU features and
 * check, pae; QEMU takes the result. What has no QEMU form is refused. */
START_TEST(libvirt_clock_pm_cpu)
{
    struct qemu_launch l = launch_for(tmp);
    char **argv =
        build(HEAD MEM "<os><type arch='x86_64' machine='q35'>hvm</type></os>"

                       "<cpu mode='custom' match='exact' check='full'>"
                       "<model fallback='forbid'>qemu64</model>"
                       "<feature policy='require' name='lahf_lm'/>"
                       "<feature policy='disable' name='svm'/></cpu>"
                       "<clock offset='localtime'><timer name='rtc' tickpolicy='catchup'/>"
                       "<timer name='pit' tickpolicy='delay'/>"
                       "<timer name='hpet' present='no'/></clock>"
                       "<pm><suspend-to-mem enabled='no'/>"
                       "<suspend-to-disk enabled='yes'/></pm></domain>",
              &l);
    has(argv, "-cpu", "qemu64,+lahf_lm,-svm,enforce");
    has(argv, "-rtc", "base=localtime,driftfix=slew");
    has(argv, "-global", "ICH9-LPC.disable_s3=1");
    has(argv, "-global", "ICH9-LPC.disable_s4=0");
    qemu_accepts(argv);
    g_strfreev(argv);

    build_fails(HEAD MEM "<os><type arch='x86_64'>hvm</type></os>"
                         "<clock offset='utc'><timer name='tsc' present='no'/></clock></domain>",
                QV_ERR_UNSUPPORTED, "<timer name='tsc' present='no'>: QEMU always gives");
    build_fails(HEAD MEM
                "<os><type arch='x86_64'>hvm</type></os>"
                "<clock offset='utc'><timer name='rtc' tickpolicy='merge'/></clock></domain>",
                QV_ERR_UNSUPPORTED, "<timer name='rtc' tickpolicy='merge'>");
    build_fails(HEAD MEM
                "<os><type arch='x86_64'>hvm</type></os><cpu mode='custom' check='partial'>"
                "<model>qemu64</model><feature policy='optional' name='vmx'/></cpu></domain>",
                QV_ERR_UNSUPPORTED, "<cpu><feature policy='optional'> with <cpu check=");
    build_fails(HEAD MEM "<os><type arch='x86_64'>hvm</type></os><devices>"
                         "<controller type='scsi' index='0' model='buslogic'/></devices></domain>",
                QV_ERR_UNSUPPORTED, "the qemu driver cannot honour <controller> (line 1)");
}
END_TEST

/* Run as `qemu_argv kvm` only when the probe says QEMU runs with KVM and
 * -cpu host here. */
START_TEST(kvm_host_passthrough_runs)
{
    struct qemu_launch l = launch_for(tmp);
    char **argv =
        build("<domain type='kvm'><name>g1</name>" MEM "<os><type arch='x86_64'>hvm</type></os>"
              "<cpu mode='host-passthrough'/></domain>",
              &l);
    qemu_accepts(argv);
    g_strfreev(argv);
}
END_TEST

START_TEST(hugepages_memory_backend)
{
    struct qemu_launch l = launch_for(tmp);
    /* Any directory QEMU can create files in proves the syntax; the driver
     * passes the hugetlbfs mount it finds in /proc/mounts. */
    l.hugepage_dir = tmp;
    char **argv = build(HEAD MEM "<memoryBacking><hugepages/></memoryBacking>"
                                 "<os><type arch='x86_64'>hvm</type></os></domain>",
                        &l);
    has(argv, "-machine", "pc,memory-backend=ram0");
    g_autofree char *obj = g_strdup_printf(
        "memory-backend-file,id=ram0,size=64M,mem-path=%s,share=on,prealloc=on", tmp);
    has(argv, "-object", obj);
    qemu_accepts(argv);
    g_strfreev(argv);

    l.hugepage_dir = NULL;
    g_autoptr(qv_domain) def = parse(HEAD MEM "<memoryBacking><hugepages/></memoryBacking>"
                                              "<os><type arch='x86_64'>hvm</type></os></domain>");
    ck_assert_ptr_null(qemu_argv_build(def, &l));
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "no hugetlbfs is mounted"));
}
END_TEST

/* <numatune>: guest RAM bound to the host node (every host has node 0). */
START_TEST(numatune_binds_memory)
{
    struct qemu_launch l = launch_for(tmp);
    char **argv = build(HEAD MEM "<numatune><memory mode='strict' nodeset='0'/></numatune>"
                                 "<os><type arch='x86_64'>hvm</type></os></domain>",
                        &l);
    has(argv, "-machine", "pc,memory-backend=ram0");
    has(argv, "-object", "memory-backend-ram,id=ram0,size=64M,host-nodes=0,policy=bind");
    qemu_accepts(argv);
    g_strfreev(argv);
    l.hugepage_dir = tmp;
    argv = build(HEAD MEM "<memoryBacking><hugepages/></memoryBacking>"
                          "<numatune><memory mode='strict' nodeset='0'/></numatune>"
                          "<os><type arch='x86_64'>hvm</type></os></domain>",
                 &l);
    g_autofree char *obj = g_strdup_printf("memory-backend-file,id=ram0,size=64M,mem-path=%s,"
                                           "share=on,prealloc=on,host-nodes=0,policy=bind",
                                           tmp);
    has(argv, "-object", obj);
    g_strfreev(argv);
}
END_TEST

START_TEST(kernel_boot_and_bios)
{
    struct qemu_launch l = launch_for(tmp);
    g_autofree char *k = g_build_filename(tmp, "vmlinuz", NULL);
    g_autofree char *i = g_build_filename(tmp, "initrd", NULL);
    /* Not booted (-S): any files do for the parser. */
    ck_assert(g_file_set_contents(k, "kernel", -1, NULL));
    ck_assert(g_file_set_contents(i, "initrd", -1, NULL));
    char **argv = build(HEAD MEM "<os><type arch='x86_64'>hvm</type><kernel>@T@/vmlinuz</kernel>"
                                 "<initrd>@T@/initrd</initrd><cmdline>console=ttyS0 a=b,c</cmdline>"
                                 "</os></domain>",
                        &l);
    has(argv, "-kernel", k);
    has(argv, "-initrd", i);
    has(argv, "-append", "console=ttyS0 a=b,c");
    g_strfreev(argv);

    argv = build(HEAD MEM "<os><type arch='x86_64'>hvm</type>"
                          "<loader type='rom'>/usr/share/seabios/bios-256k.bin</loader>"
                          "<boot dev='cdrom'/><boot dev='hd'/></os></domain>",
                 &l);
    has(argv, "-bios", "/usr/share/seabios/bios-256k.bin");
    has(argv, "-boot", "order=dc");
    if (g_file_test("/usr/share/seabios/bios-256k.bin", G_FILE_TEST_EXISTS))
        qemu_accepts(argv);
    g_strfreev(argv);
}
END_TEST

START_TEST(ovmf_pflash_with_nvram)
{
    struct qemu_launch l = launch_for(tmp);
    /* Stand-ins for OVMF_CODE.fd/OVMF_VARS.fd: pflash needs whole sectors. */
    g_autofree char *code = g_build_filename(tmp, "CODE.fd", NULL);
    g_autofree char *vars = g_build_filename(tmp, "vars.fd", NULL);
    g_autofree char *zeros = g_malloc0(2 << 20);
    ck_assert(g_file_set_contents(code, zeros, 2 << 20, NULL));
    ck_assert(g_file_set_contents(vars, zeros, 128 << 10, NULL));
    l.nvram = vars;
    char **argv = build(HEAD MEM "<os><type arch='x86_64' machine='q35'>hvm</type>"
                                 "<loader readonly='yes' type='pflash'>@T@/CODE.fd</loader>"
                                 "<nvram template='@T@/VARS.fd'>@T@/vars.fd</nvram></os></domain>",
                        &l);
    has(argv, "-machine", "q35,pflash0=pflash0,pflash1=pflash1");
    g_autofree char *b0 = g_strdup_printf("{\"driver\":\"file\",\"filename\":\"%s\",\"node-name\":"
                                          "\"pflash0-file\",\"read-only\":true}",
                                          code);
    has(argv, "-blockdev", b0);
    has(argv, "-blockdev",
        "{\"driver\":\"raw\",\"file\":\"pflash0-file\",\"node-name\":\"pflash0\","
        "\"read-only\":true}");
    g_autofree char *b1 = g_strdup_printf("{\"driver\":\"file\",\"filename\":\"%s\",\"node-name\":"
                                          "\"pflash1-file\",\"read-only\":false}",
                                          vars);
    has(argv, "-blockdev", b1);
    qemu_accepts(argv);
    g_strfreev(argv);
}
END_TEST

START_TEST(disks)
{
    struct qemu_launch l = launch_for(tmp);
    make_image("a.raw", "raw");
    make_image("b.qcow2", "qcow2");
    make_image("c.raw", "raw");
    char **argv = build(
        HEAD MEM "<os><type arch='x86_64'>hvm</type></os><devices>"
                 "<disk type='file' device='disk'><driver name='qemu' type='raw' cache='none' "
                 "io='native' discard='unmap'/><source file='@T@/a.raw'/><target dev='vda' "
                 "bus='virtio'/><boot order='1'/></disk>"
                 "<disk type='file' device='disk'><driver name='qemu' type='qcow2' "
                 "cache='writethrough'/><source file='@T@/b.qcow2'/><target dev='sdb' bus='scsi'/>"
                 "<readonly/></disk>"
                 "<disk type='file' device='disk'><driver name='qemu' type='raw' cache='unsafe' "
                 "io='threads'/><source file='@T@/c.raw'/><target dev='hdb' bus='ide'/></disk>"
                 "<disk type='file' device='cdrom'><target dev='hdc' bus='ide'/><readonly/></disk>"
                 "</devices></domain>",
        &l);
    g_autofree char *f0 = g_strdup_printf(
        "{\"driver\":\"file\",\"node-name\":\"disk0-file\",\"read-only\":false,\"cache\":{"
        "\"direct\":true,\"no-flush\":false},\"discard\":\"unmap\",\"filename\":\"%s/a.raw\","
        "\"aio\":\"native\"}",
        tmp);
    has(argv, "-blockdev", f0);
    has(argv, "-blockdev",
        "{\"driver\":\"raw\",\"node-name\":\"disk0\",\"read-only\":false,\"cache\":{\"direct\":"
        "true,\"no-flush\":false},\"discard\":\"unmap\",\"file\":\"disk0-file\"}");
    has(argv, "-device", "virtio-blk-pci,drive=disk0,id=vda,write-cache=on,bootindex=1");
    has(argv, "-blockdev",
        "{\"driver\":\"qcow2\",\"node-name\":\"disk1\",\"read-only\":true,\"cache\":{\"direct\":"
        "false,\"no-flush\":false},\"file\":\"disk1-file\"}");
    has(argv, "-device", "virtio-scsi-pci,id=scsi0");
    has(argv, "-device",
        "scsi-hd,bus=scsi0.0,channel=0,scsi-id=1,lun=0,drive=disk1,id=sdb,"
        "write-cache=off");
    has(argv, "-blockdev",
        "{\"driver\":\"raw\",\"node-name\":\"disk2\",\"read-only\":false,\"cache\":{\"direct\":"
        "false,\"no-flush\":true},\"file\":\"disk2-file\"}");
    has(argv, "-device", "ide-hd,bus=ide.0,unit=1,drive=disk2,id=hdb,write-cache=on");
    has(argv, "-device", "ide-cd,bus=ide.1,unit=0,id=hdc");
    qemu_accepts(argv);
    g_strfreev(argv);

    /* q35: SATA ports on the AHCI controller. */
    argv = build(HEAD MEM "<os><type arch='x86_64' machine='q35'>hvm</type></os><devices>"
                          "<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
                          "<source file='@T@/a.raw'/><target dev='sdc' bus='sata'/></disk>"
                          "</devices></domain>",
                 &l);
    has(argv, "-device", "ide-hd,bus=ide.2,drive=disk0,id=sdc,write-cache=on");
    qemu_accepts(argv);
    g_strfreev(argv);
}
END_TEST

START_TEST(disk_overlay_on_base_image)
{
    make_image("base.raw", "raw");
    g_autofree char *base = g_build_filename(tmp, "base.raw", NULL);
    g_autofree char *ov = g_build_filename(tmp, "vda.qcow2", NULL);
    ck_assert_int_eq(qemu_overlay_create(ov, base, NULL), 0);
    g_autofree char *fmt = NULL;
    ck_assert_int_eq(qemu_image_format(ov, &fmt), 0);
    ck_assert_str_eq(fmt, "qcow2");
    const char *info[] = {"qemu-img", "info", "--output=json", ov, NULL};
    g_autofree char *out = NULL;
    ck_assert_int_eq(qemu_run_tool(info, &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "\"backing-filename-format\": \"raw\""));
    /* A declared format that disagrees with the image is refused. */
    g_autofree char *ov2 = g_build_filename(tmp, "vdb.qcow2", NULL);
    ck_assert_int_eq(qemu_overlay_create(ov2, base, "qcow2"), QV_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "qemu-img reports raw"));
    ck_assert(!g_file_test(ov2, G_FILE_TEST_EXISTS));
    ck_assert_int_lt(qemu_overlay_create(ov2, "/nonexistent/base", NULL), 0);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "/nonexistent/base"));

    /* The argv opens the overlay as qcow2 (the driver passes it per disk). */
    struct qemu_launch l = launch_for(tmp);
    const char *files[] = {ov, NULL};
    const char *formats[] = {"qcow2", NULL};
    l.disk_files = files;
    l.disk_formats = formats;
    char **argv = build(
        HEAD MEM "<os><type arch='x86_64'>hvm</type></os><devices>"
                 "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                 "<source file='@T@/vda.qcow2'/><backingStore type='file'><format type='raw'/>"
                 "<source file='@T@/base.raw'/></backingStore>"
                 "<target dev='vda' bus='virtio'/></disk></devices></domain>",
        &l);
    has(argv, "-blockdev",
        "{\"driver\":\"qcow2\",\"node-name\":\"disk0\",\"read-only\":false,\"cache\":{\"direct\":"
        "false,\"no-flush\":false},\"file\":\"disk0-file\"}");
    qemu_accepts(argv);
    g_strfreev(argv);
}
END_TEST

START_TEST(networks)
{
    struct qemu_launch l = launch_for(tmp);
    uint16_t port;
    ck_assert_int_eq(qemu_free_port(&port), 0);
    ck_assert_uint_gt(port, 0);
    uint16_t ports[] = {port, 0};
    l.ssh_ports = ports;
    char **argv = build(HEAD MEM "<os><type arch='x86_64'>hvm</type></os><devices>"
                                 "<interface type='user'><mac address='52:54:00:aa:bb:01'/>"
                                 "<model type='virtio'/></interface>"
                                 "<interface type='user'><mac address='52:54:00:aa:bb:02'/>"
                                 "<model type='e1000'/><boot order='2'/></interface>"
                                 "</devices></domain>",
                        &l);
    g_autofree char *nd = g_strdup_printf("user,id=net0,hostfwd=tcp:127.0.0.1:%u-:22", port);
    has(argv, "-netdev", nd);
    has(argv, "-device", "virtio-net-pci,netdev=net0,id=nic0,mac=52:54:00:aa:bb:01");
    has(argv, "-netdev", "user,id=net1");
    has(argv, "-device", "e1000,netdev=net1,id=nic1,mac=52:54:00:aa:bb:02,bootindex=2");
    qemu_accepts(argv);
    g_strfreev(argv);

    /* <portForward> fixes the host port. */
    l.ssh_ports = NULL;
    argv = build(HEAD MEM "<os><type arch='x86_64'>hvm</type></os><devices>"
                          "<interface type='user'><mac address='52:54:00:aa:bb:01'/>"
                          "<portForward proto='tcp'><range start='2222' to='22'/></portForward>"
                          "</interface></devices></domain>",
                 &l);
    has(argv, "-netdev", "user,id=net0,hostfwd=tcp:127.0.0.1:2222-:22");
    g_strfreev(argv);

    argv = build(HEAD MEM "<os><type arch='x86_64'>hvm</type></os><devices>"
                          "<interface type='bridge'><mac address='52:54:00:aa:bb:03'/>"
                          "<source bridge='qvtestbr9'/></interface></devices></domain>",
                 &l);
    has(argv, "-netdev", "bridge,id=net0,br=qvtestbr9");
    has(argv, "-device", "virtio-net-pci,netdev=net0,id=nic0,mac=52:54:00:aa:bb:03");
    /* No such bridge here: QEMU takes the options and fails on the bridge. */
    qemu_parses_then_fails_on(argv, "bridge helper");
    g_strfreev(argv);

    argv = build(HEAD MEM "<os><type arch='x86_64'>hvm</type></os><devices>"
                          "<interface type='ethernet'><mac address='52:54:00:aa:bb:04'/>"
                          "</interface></devices></domain>",
                 &l);
    has(argv, "-netdev", "tap,id=net0,script=no,downscript=no");
    if (access("/dev/net/tun", R_OK | W_OK) == 0 && geteuid() == 0)
        qemu_accepts(argv);
    else
        fprintf(stderr, "SKIP: starting QEMU with a tap NIC needs root and /dev/net/tun\n");
    g_strfreev(argv);

    /* A tap name from the start (qv has CAP_NET_ADMIN): QEMU makes the tap
     * and qv puts it on the bridge; <bandwidth> is then tc's business. */
    const char *taps[] = {"qvt525400aabb03", NULL};
    l.tap_names = taps;
    argv = build(HEAD MEM "<os><type arch='x86_64'>hvm</type></os><devices>"
                          "<interface type='bridge'><mac address='52:54:00:aa:bb:03'/>"
                          "<source bridge='qvtestbr9'/><bandwidth><inbound average='100' "
                          "peak='200' burst='64'/></bandwidth></interface></devices></domain>",
                 &l);
    has(argv, "-netdev", "tap,id=net0,ifname=qvt525400aabb03,script=no,downscript=no");
    if (access("/dev/net/tun", R_OK | W_OK) == 0 && geteuid() == 0)
        qemu_accepts(argv);
    g_strfreev(argv);
    l.tap_names = NULL;
    /* slirp has no host interface to shape. */
    build_fails(HEAD MEM "<os><type arch='x86_64'>hvm</type></os><devices>"
                         "<interface type='user'><mac address='52:54:00:aa:bb:05'/><bandwidth>"
                         "<outbound average='100'/></bandwidth></interface></devices></domain>",
                QV_ERR_UNSUPPORTED, "NIC 52:54:00:aa:bb:05 is user-mode (type='user')");
}
END_TEST

START_TEST(rng_vnc_hostdev)
{
    struct qemu_launch l = launch_for(tmp);
    char **argv =
        build(HEAD MEM "<os><type arch='x86_64'>hvm</type></os><devices>"
                       "<graphics type='vnc' port='-1' autoport='yes'/>"
                       "<rng model='virtio'><backend model='random'>/dev/urandom</backend>"
                       "</rng></devices></domain>",
              &l);
    has(argv, "-object", "rng-random,id=rng0,filename=/dev/urandom");
    has(argv, "-device", "virtio-rng-pci,rng=rng0,id=rngdev0");
    has(argv, "-vnc", "127.0.0.1:0,to=99");
    has(argv, "-device", "VGA");
    lacks(argv, "-display");
    qemu_accepts(argv);
    g_strfreev(argv);

    argv =
        build(HEAD MEM "<os><type arch='x86_64'>hvm</type></os><devices>"
                       "<graphics type='vnc' port='5977' listen='127.0.0.1'/></devices></domain>",
              &l);
    has(argv, "-vnc", "127.0.0.1:77");
    qemu_accepts(argv);
    g_strfreev(argv);

    argv = build(HEAD MEM "<os><type arch='x86_64'>hvm</type></os><devices>"
                          "<hostdev mode='subsystem' type='pci' managed='yes'><driver name='vfio'/>"
                          "<source><address domain='0x0000' bus='0x3f' slot='0x1f' "
                          "function='0x7'/></source></hostdev></devices></domain>",
                 &l);
    has(argv, "-device", "vfio-pci,host=0000:3f:1f.7,id=hostdev0");
    /* No such PCI device on this machine: QEMU parses it, then says so. */
    qemu_parses_then_fails_on(argv, "0000:3f:1f.7");
    g_strfreev(argv);
}
END_TEST

/* A listening socket for QEMU's client chardevs to connect to. */
static int listen_unix(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    g_strlcpy(a.sun_path, path, sizeof(a.sun_path));
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(fd, 1), 0);
    return fd;
}

static int listen_tcp(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(fd, 1), 0);
    socklen_t len = sizeof(a);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* Each <serial> type: golden -chardev, and QEMU started with it. */
START_TEST(serial_types)
{
    struct qemu_launch l = launch_for(tmp);
#define OS "<os><type arch='x86_64'>hvm</type></os>"
    struct {
        const char *devices, *want;
    } cases[] = {
        {"", "pty,id=serial0"},
        {"<serial type='pty'/>", "pty,id=serial0"},
        {"<serial type='stdio'/>", "pty,id=serial0"},
        {"<console type='pty'><target type='serial'/></console>", "pty,id=serial0"},
        {"<serial type='null'/>", "null,id=serial0"},
        {"<serial type='file'><source path='@T@/out,1.txt'/></serial>"
         "<console type='file'><source path='@T@/out,1.txt'/><target type='serial'/></console>",
         "file,id=serial0,path=@T@/out,,1.txt"},
        {"<serial type='unix'><source mode='bind' path='@T@/ser.sock'/></serial>",
         "socket,id=serial0,path=@T@/ser.sock,server=on,wait=off"},
        {"<serial type='unix'><source mode='connect' path='@T@/peer.sock'/></serial>",
         "socket,id=serial0,path=@T@/peer.sock,server=off"},
        {"<serial type='tcp'><source mode='bind' host='127.0.0.1' service='@P@'/></serial>",
         "socket,id=serial0,host=127.0.0.1,port=@P@,server=on,wait=off"},
        {"<serial type='tcp'><source mode='connect' host='127.0.0.1' service='@C@'/></serial>",
         "socket,id=serial0,host=127.0.0.1,port=@C@,server=off"},
    };
    g_autofree char *peer = g_build_filename(tmp, "peer.sock", NULL);
    int ufd = listen_unix(peer);
    uint16_t cport, bport;
    int tfd = listen_tcp(&cport);
    ck_assert_int_eq(qemu_free_port(&bport), 0);
    g_autofree char *cp = g_strdup_printf("%u", cport);
    g_autofree char *bp = g_strdup_printf("%u", bport);
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *xml =
            g_strdup_printf(HEAD MEM OS "<devices>%s</devices></domain>", cases[i].devices);
        g_auto(GStrv) p1 = g_strsplit(xml, "@P@", -1);
        g_autofree char *x1 = g_strjoinv(bp, p1);
        g_auto(GStrv) p2 = g_strsplit(x1, "@C@", -1);
        g_autofree char *x2 = g_strjoinv(cp, p2);
        g_auto(GStrv) w0 = g_strsplit(cases[i].want, "@T@", -1);
        g_autofree char *w1 = g_strjoinv(tmp, w0);
        g_auto(GStrv) w2 = g_strsplit(w1, "@P@", -1);
        g_autofree char *w3 = g_strjoinv(bp, w2);
        g_auto(GStrv) w4 = g_strsplit(w3, "@C@", -1);
        g_autofree char *w5 = g_strjoinv(cp, w4);
        g_autofree char *want = g_strdup_printf("%s,logfile=%s/console.log,logappend=on", w5, tmp);
        char **argv = build(x2, &l);
        has(argv, "-chardev", want);
        has(argv, "-serial", "chardev:serial0");
        qemu_accepts(argv);
        g_strfreev(argv);
    }
    close(ufd);
    close(tfd);

    /* What QEMU cannot be given here is refused, naming it. */
    /* More ports: qemu_argv_kept's serial_models. */
    build_fails(HEAD MEM OS "<devices><serial type='pty'><target port='1'/></serial>"
                            "<serial type='null'><target port='1'/></serial></devices>"
                            "</domain>",
                QV_ERR_UNSUPPORTED, "<serial> 1 has isa-serial port 1 too");
    /* Without port=, libvirt's numbering: COM1, COM2. */
    char **com = build(HEAD MEM OS "<devices><serial type='pty'/><serial type='null'/></devices>"
                                   "</domain>",
                       &l);
    has(com, "-serial", "chardev:serial0");
    has(com, "-device", "isa-serial,chardev=serial1,id=serial1,index=1");
    g_strfreev(com);
    /* A virtio console is the guest's hvc0, beside the serial console. */
    char **argv = build(HEAD MEM OS "<devices><console type='pty'><target type='virtio'/>"
                                    "</console></devices></domain>",
                        &l);
    has(argv, "-device", "virtio-serial-pci,id=virtio-serial0");
    has(argv, "-chardev", "pty,id=charconsole0");
    has(argv, "-device", "virtconsole,bus=virtio-serial0.0,chardev=charconsole0,id=console0");
    has(argv, "-serial", "chardev:serial0");
    qemu_accepts(argv);
    g_strfreev(argv);
    build_fails(HEAD MEM OS "<devices><serial type='file'><source path='/a'/></serial>"
                            "<console type='file'><source path='/b'/></console></devices>"
                            "</domain>",
                QV_ERR_INVALID_ARG, "must repeat the first <serial>");
#undef OS
}
END_TEST

START_TEST(refused_elements)
{
    build_fails(HEAD MEM "<os><type arch='x86_64'>hvm</type></os>"
                         "<cpu mode='host-passthrough'/></domain>",
                QV_ERR_UNSUPPORTED, "host-passthrough");
    build_fails(HEAD MEM "<os><type arch='x86_64'>hvm</type></os><devices>"
                         "<graphics type='spice' defaultMode='secure'/></devices></domain>",
                QV_ERR_UNSUPPORTED, "defaultMode='secure': qv sets up no SPICE TLS");
    build_fails(HEAD MEM "<os><type arch='x86_64'>hvm</type></os><devices>"
                         "<disk type='file' device='disk'><driver name='qemu' type='raw' "
                         "io='native'/><source file='/x'/><target dev='vda' bus='virtio'/></disk>"
                         "</devices></domain>",
                QV_ERR_INVALID_ARG, "io='native' needs cache='none'");
    build_fails(HEAD MEM "<os><type arch='x86_64' machine='pc'>hvm</type></os><devices>"
                         "<disk type='file' device='disk'><source file='/x'/>"
                         "<target dev='sda' bus='sata'/></disk></devices></domain>",
                QV_ERR_UNSUPPORTED, "SATA");
    build_fails(HEAD MEM "<os><type arch='x86_64'>hvm</type></os>"
                         "<on_poweroff>preserve</on_poweroff></domain>",
                QV_ERR_UNSUPPORTED, "<on_poweroff>preserve</on_poweroff>");
    build_fails(HEAD MEM "<os><type arch='x86_64'>hvm</type></os>"
                         "<on_crash>restart</on_crash></domain>",
                QV_ERR_UNSUPPORTED, "<on_crash>restart</on_crash>");
    build_fails("<domain type='test'><name>g1</name>" MEM
                "<os><type arch='x86_64'>hvm</type></os></domain>",
                QV_ERR_UNSUPPORTED, "type 'test'");
    build_fails(HEAD "<memory unit='MiB'>64</memory><vcpu cpuset='1'>1</vcpu>"
                     "<os><type arch='x86_64'>hvm</type></os></domain>",
                QV_ERR_UNSUPPORTED, "<vcpu cpuset=...>");
    build_fails(HEAD "<memory unit='MiB'>64</memory><vcpu placement='auto'>1</vcpu>"
                     "<os><type arch='x86_64'>hvm</type></os></domain>",
                QV_ERR_UNSUPPORTED, "<vcpu placement='auto'>");
    /* Two PCI controllers with one index; and index= written before type=
     * is still taken before unnumbered controllers get theirs. */
    build_fails(HEAD MEM "<os><type arch='x86_64' machine='q35'>hvm</type></os><devices>"
                         "<controller type='pci' index='1' model='pcie-root-port'/>"
                         "<controller type='pci' index='1' model='pcie-root-port'>"
                         "<target chassis='2'/></controller></devices></domain>",
                QV_ERR_UNSUPPORTED, "another PCI controller has the same index");
    {
        struct qemu_launch l2 = launch_for(tmp);
        char **a2 = build(HEAD MEM "<os><type arch='x86_64' machine='q35'>hvm</type></os><devices>"
                                   "<controller index='1' type='pci' model='pcie-root-port'/>"
                                   "<controller type='pci' model='pcie-root-port'/></devices>"
                                   "</domain>",
                          &l2);
        has(a2, "-device", "pcie-root-port,port=0x9,chassis=2,id=pci.2");
        g_strfreev(a2);
    }
    /* Video <model> attributes QEMU is not given are refused, not dropped. */
    build_fails(HEAD MEM "<os><type arch='x86_64'>hvm</type></os><devices><video>"
                         "<model type='vga' vgamem='16384'/></video></devices></domain>",
                QV_ERR_UNSUPPORTED, "<model vgamem=> is not passed on to QEMU");
    build_fails(HEAD MEM "<os><type arch='x86_64'>hvm</type></os><devices><video>"
                         "<model type='cirrus' vram='8192'/></video></devices></domain>",
                QV_ERR_UNSUPPORTED, "vram= other than 16384 is supported on model 'vga' only");
    build_fails("<domain type='lxc'><name>g1</name>" MEM
                "<os><type arch='x86_64'>hvm</type></os></domain>",
                QV_ERR_UNSUPPORTED, "domain type 'lxc' cannot run on QEMU");
}
END_TEST

START_TEST(memballoon_default_written_none)
{
    struct qemu_launch l = launch_for(tmp);
    /* Implied, as libvirt implies it; <currentMemory> is then honoured. */
    char **argv = build(HEAD MEM "<currentMemory unit='MiB'>32</currentMemory>"
                                 "<os><type arch='x86_64'>hvm</type></os></domain>",
                        &l);
    has(argv, "-device", "virtio-balloon-pci,id=balloon0");
    ck_assert_int_eq(count_value(argv, "virtio-balloon"), 1);
    qemu_accepts(argv);
    g_strfreev(argv);
    /* A written one keeps its address and options, and is the only one. */
    argv = build(HEAD MEM "<os><type arch='x86_64' machine='pc'>hvm</type></os><devices>"
                          "<memballoon model='virtio' autodeflate='on'><address type='pci' "
                          "domain='0x0000' bus='0x00' slot='0x07' function='0x0'/></memballoon>"
                          "</devices></domain>",
                 &l);
    has(argv, "-device", "virtio-balloon-pci,id=balloon0,deflate-on-oom=on,bus=pci.0,addr=0x7");
    ck_assert_int_eq(count_value(argv, "virtio-balloon"), 1);
    qemu_accepts(argv);
    g_strfreev(argv);
    argv = build(HEAD MEM "<os><type arch='x86_64'>hvm</type></os><devices>"
                          "<memballoon model='none'/></devices></domain>",
                 &l);
    ck_assert_int_eq(count_value(argv, "virtio-balloon"), 0);
    g_strfreev(argv);
    build_fails(HEAD MEM "<currentMemory unit='MiB'>32</currentMemory>"
                         "<os><type arch='x86_64'>hvm</type></os><devices>"
                         "<memballoon model='none'/></devices></domain>",
                QV_ERR_UNSUPPORTED, "<currentMemory> below <memory> needs a balloon");
    build_fails(HEAD MEM "<os><type arch='x86_64'>hvm</type></os><devices>"
                         "<memballoon model='virtio' autodeflate='maybe'/></devices></domain>",
                QV_ERR_UNSUPPORTED, "take on or off");
}
END_TEST

START_TEST(q35_root_ports)
{
    struct qemu_launch l = launch_for(tmp);
    g_autofree char *disk = g_build_filename(tmp, "d.raw", NULL);
    make_image("d.raw", "raw");
    g_autofree char *xml = g_strdup_printf(
        HEAD MEM "<os><type arch='x86_64' machine='q35'>hvm</type></os><devices>"
                 "<controller type='pci' index='0' model='pcie-root'/>"
                 "<controller type='pci' index='1' model='pcie-root-port'>"
                 "<target chassis='1' port='0x10'/></controller>"
                 "<disk type='file' device='disk'><source file='%s'/>"
                 "<target dev='vda' bus='virtio'/></disk>"
                 "<interface type='user'><mac address='52:54:00:aa:bb:01'/></interface>"
                 "</devices></domain>",
        disk);
    char **argv = build(xml, &l);
    /* libvirt's port keeps chassis 1; qv's take the next free numbers. */
    has(argv, "-device", "pcie-root-port,port=0x10,chassis=1,id=pci.1");
    has(argv, "-device",
        "pcie-root-port,id=qvport0,chassis=2,bus=pcie.0,addr=0x1,multifunction=on");
    has(argv, "-device", "virtio-blk-pci,bus=qvport0,drive=disk0,id=vda,write-cache=on");
    has(argv, "-device", "pcie-root-port,id=qvport1,chassis=3,bus=pcie.0,addr=0x1.0x1");
    has(argv, "-device", "virtio-net-pci,netdev=net0,id=nic0,mac=52:54:00:aa:bb:01,bus=qvport1");
    /* One port each for the disk and the NIC, and four spare. */
    ck_assert_int_eq(count_value(argv, "pcie-root-port,id=qvport"), 2 + QEMU_SPARE_ROOT_PORTS);
    has(argv, "-device", "pcie-root-port,id=qvport5,chassis=7,bus=pcie.0,addr=0x1.0x5");
    qemu_accepts(argv);
    g_strfreev(argv);
    /* pc has hot-pluggable slots on pci.0: no ports. */
    argv = build(HEAD MEM "<os><type arch='x86_64' machine='pc'>hvm</type></os><devices>"
                          "<interface type='user'><mac address='52:54:00:aa:bb:01'/></interface>"
                          "</devices></domain>",
                 &l);
    ck_assert_int_eq(count_value(argv, "pcie-root-port"), 0);
    has(argv, "-device", "virtio-net-pci,netdev=net0,id=nic0,mac=52:54:00:aa:bb:01");
    g_strfreev(argv);
    build_fails(HEAD MEM "<os><type arch='x86_64' machine='q35'>hvm</type></os><devices>"
                         "<controller type='pci' index='1' model='pcie-root-port'>"
                         "<target chassis='5'/></controller>"
                         "<controller type='pci' index='2' model='pcie-root-port'>"
                         "<target chassis='5'/></controller></devices></domain>",
                QV_ERR_UNSUPPORTED, "same chassis number");
}
END_TEST

/* Index of "-device val" in argv, -1 when absent. */
static int device_index(char **argv, const char *val)
{
    for (int i = 0; argv[i]; i++)
        if (strcmp(argv[i], "-device") == 0 && argv[i + 1] && strcmp(argv[i + 1], val) == 0)
            return i;
    g_autofree char *all = g_strjoinv(" ", argv);
    ck_abort_msg("'-device %s' not in: %s", val, all);
    return -1;
}

#define PCI_AT(bus, slot, fn)                                                                      \
    "<address type='pci' domain='0x0000' bus='" bus "' slot='" slot "' function='" fn "'/>"

/* Disks and NICs go where their <address> says; the devices QEMU places
 * itself come after them so the slots are still free; clashes and places
 * that cannot be had are refused at define, naming the device and line. */
START_TEST(addresses_placed)
{
    struct qemu_launch l = launch_for(tmp);
    make_image("a.raw", "raw");
    make_image("b.qcow2", "qcow2");
    /* pc: vda lets QEMU pick; vdb and the NIC ask for slots 3 and 4. */
    char **argv = build(
        HEAD MEM
        "<os><type arch='x86_64' machine='pc'>hvm</type></os><devices>"
        "<disk type='file' device='disk'><source file='@T@/a.raw'/>"
        "<target dev='vda' bus='virtio'/></disk>"
        "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        "<source file='@T@/b.qcow2'/><backingStore/><target dev='vdb' bus='virtio'/>"
        "<alias name='ua-data'/>" PCI_AT(
            "0x00", "0x03",
            "0x0") "</disk>"
                   "<disk type='file' device='cdrom'><target dev='hda' bus='ide'/><readonly/>"
                   "<address type='drive' controller='0' bus='1' target='0' unit='1'/></disk>"
                   "<interface type='user'><mac address='52:54:00:aa:bb:01'/>"
                   "<address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x0' "
                   "multifunction='on'/></interface>"
                   "</devices></domain>",
        &l);
    int vdb = device_index(argv, "virtio-blk-pci,bus=pci.0,addr=0x3,drive=disk1,id=vdb,"
                                 "write-cache=on");
    int nic = device_index(argv, "virtio-net-pci,netdev=net0,id=nic0,mac=52:54:00:aa:bb:01,"
                                 "bus=pci.0,addr=0x4,multifunction=on");
    int vda = device_index(argv, "virtio-blk-pci,drive=disk0,id=vda,write-cache=on");
    ck_assert_int_lt(vdb, vda);
    ck_assert_int_lt(nic, vda);
    device_index(argv, "ide-cd,bus=ide.1,unit=1,id=hda");
    /* <backingStore/>: the qcow2 is opened alone. */
    has(argv, "-blockdev",
        "{\"driver\":\"qcow2\",\"node-name\":\"disk1\",\"read-only\":false,\"cache\":{\"direct\":"
        "false,\"no-flush\":false},\"file\":\"disk1-file\",\"backing\":null}");
    qemu_accepts(argv);
    g_strfreev(argv);

    /* q35: on libvirt's root ports and the root bus, no port of qv's for
     * them; SATA and SCSI drive addresses; the SCSI controller as written. */
    argv = build(HEAD MEM
                 "<os><type arch='x86_64' machine='q35'>hvm</type></os><devices>"
                 "<controller type='pci' index='1' model='pcie-root-port'><target chassis='1' "
                 "port='0x10'/>" PCI_AT(
                     "0x00", "0x02",
                     "0x0") "</controller>"
                            "<controller type='scsi' index='0' model='virtio-scsi'>" PCI_AT(
                                "0x00", "0x03",
                                "0x0") "</controller>"
                                       "<disk type='file' device='disk'><source file='@T@/a.raw'/>"
                                       "<target dev='vda' bus='virtio'/>" PCI_AT(
                                           "0x01", "0x00",
                                           "0x0") "</disk>"
                                                  "<disk type='file' device='cdrom'><target "
                                                  "dev='sda' bus='sata'/><readonly/>"
                                                  "<address type='drive' controller='0' bus='0' "
                                                  "target='0' unit='3'/></disk>"
                                                  "<disk type='file' device='cdrom'><target "
                                                  "dev='sdb' bus='scsi'/><readonly/>"
                                                  "<address type='drive' controller='0' bus='0' "
                                                  "target='2' unit='1'/></disk>"
                                                  "<interface type='user'><mac "
                                                  "address='52:54:00:aa:bb:01'/>" PCI_AT(
                                                      "0x00", "0x05", "0x0") "</interface>"
                                                                             "</devices></domain>",
                 &l);
    device_index(argv, "virtio-blk-pci,bus=pci.1,addr=0x0,drive=disk0,id=vda,write-cache=on");
    device_index(argv, "virtio-scsi-pci,id=scsi0,bus=pcie.0,addr=0x3");
    ck_assert_int_eq(count_value(argv, "virtio-scsi-pci"), 1);
    device_index(argv, "ide-cd,bus=ide.3,id=sda");
    device_index(argv, "scsi-cd,bus=scsi0.0,channel=0,scsi-id=2,lun=1,id=sdb");
    nic = device_index(argv, "virtio-net-pci,netdev=net0,id=nic0,mac=52:54:00:aa:bb:01,"
                             "bus=pcie.0,addr=0x5");
    ck_assert_int_eq(count_value(argv, "pcie-root-port,id=qvport"), QEMU_SPARE_ROOT_PORTS);
    ck_assert_int_lt(nic, device_index(argv, "pcie-root-port,id=qvport0,chassis=2,bus=pcie.0,"
                                             "addr=0x1,multifunction=on"));
    qemu_accepts(argv);
    g_strfreev(argv);

#define PC_DEV(devices)                                                                            \
    HEAD MEM "<os><type arch='x86_64' machine='pc'>hvm</type></os><devices>" devices               \
             "</devices></domain>"
#define Q35_DEV(devices)                                                                           \
    HEAD MEM "<os><type arch='x86_64' machine='q35'>hvm</type></os><devices>" devices              \
             "</devices></domain>"
#define VDA(addr)                                                                                  \
    "<disk type='file' device='disk'><source file='/i/a'/><target dev='vda'/>" addr "</disk>"
    build_fails(PC_DEV(VDA(PCI_AT("0x00", "0x03", "0x0")) "<memballoon model='virtio'>" PCI_AT(
                    "0x00", "0x03", "0x0") "</memballoon>"),
                QV_ERR_UNSUPPORTED,
                "<disk> 'vda' <address> (line 1): bus 0x00 slot 0x03 function 0 is already "
                "<memballoon>'s place");
    build_fails(PC_DEV(VDA(PCI_AT("0x00", "0x01", "0x1"))), QV_ERR_UNSUPPORTED,
                "slot 0x01 function 1 of bus 0 is the machine's IDE controller");
    build_fails(Q35_DEV(VDA(PCI_AT("0x00", "0x1f", "0x2"))), QV_ERR_UNSUPPORTED,
                "is the machine's SATA controller");
    build_fails(PC_DEV(VDA(PCI_AT("0x07", "0x00", "0x0"))), QV_ERR_UNSUPPORTED,
                "no <controller type='pci' index='7'> adds bus 0x07");
    build_fails(Q35_DEV("<controller type='pci' index='1' model='pcie-root-port'/>" VDA(
                    PCI_AT("0x01", "0x02", "0x0"))),
                QV_ERR_UNSUPPORTED, "bus 0x01 is a PCIe root port, whose one slot is 0x00");
    build_fails(PC_DEV(VDA("<address type='drive' controller='0' bus='0' target='0' unit='0'/>")),
                QV_ERR_UNSUPPORTED, "a PCI device takes <address type='pci'>");
    build_fails(PC_DEV("<disk type='file' device='cdrom'><target dev='hdc'/>" PCI_AT(
                    "0x00", "0x03", "0x0") "</disk>"),
                QV_ERR_UNSUPPORTED, "an ide disk sits on its controller");
    build_fails(PC_DEV("<disk type='file' device='cdrom'><target dev='hdc'/><address "
                       "type='drive' controller='1' bus='0' target='0' unit='0'/></disk>"),
                QV_ERR_UNSUPPORTED, "one IDE/SATA controller, controller='0'");
    build_fails(PC_DEV("<disk type='file' device='cdrom'><target dev='hdc'/><address "
                       "type='drive' controller='0' bus='2' target='0' unit='0'/></disk>"),
                QV_ERR_UNSUPPORTED, "bus= 0 or 1, target='0' and unit= 0 or 1");
    /* hdb's place from its name is where hda's address puts it. */
    build_fails(PC_DEV("<disk type='file' device='cdrom'><target dev='hdb'/></disk>"
                       "<disk type='file' device='cdrom'><target dev='hda'/><address "
                       "type='drive' controller='0' bus='0' target='0' unit='1'/></disk>"),
                QV_ERR_UNSUPPORTED, "IDE bus 0 unit 1 is already <disk> 'hdb''s place");
#undef PC_DEV
#undef Q35_DEV
#undef VDA
}
END_TEST

/* <qemu:commandline>: its arguments, one each and as written, after what
 * qv builds (the environment is set at spawn, not on the command line). */
START_TEST(qemu_commandline_appended)
{
    struct qemu_launch l = launch_for(tmp);
#define QNS "xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'"
    char **argv = build("<domain type='qemu' " QNS "><name>g1</name><uuid>" UUID "</uuid>" MEM
                        "<os><type arch='x86_64'>hvm</type></os><qemu:commandline>"
                        "<qemu:arg value='-msg'/><qemu:arg value='timestamp=on'/>"
                        "<qemu:env name='A_B' value='x'/></qemu:commandline></domain>",
                        &l);
    guint n = g_strv_length(argv);
    ck_assert_str_eq(argv[n - 3], "-msg");
    ck_assert_str_eq(argv[n - 2], "timestamp=on");
    ck_assert_str_eq(argv[n - 1], "-S");
    for (char **a = argv; *a; a++)
        ck_assert_msg(!strstr(*a, "A_B"), "%s", *a);
    qemu_accepts(argv);
    g_strfreev(argv);
    build_fails("<domain type='qemu' " QNS "><name>g1</name>" MEM
                "<os><type arch='x86_64'>hvm</type></os><qemu:commandline>"
                "<qemu:env name='1X' value='x'/></qemu:commandline></domain>",
                QV_ERR_UNSUPPORTED, "<qemu:arg value=...> and <qemu:env name=...>");
    build_fails("<domain type='qemu' " QNS "><name>g1</name>" MEM
                "<os><type arch='x86_64'>hvm</type></os><qemu:override/></domain>",
                QV_ERR_UNSUPPORTED, "cannot honour <qemu:override>");
#undef QNS
}
END_TEST

START_TEST(helpers)
{
    ck_assert_int_eq(qemu_disk_index("vda"), 0);
    ck_assert_int_eq(qemu_disk_index("sdb"), 1);
    ck_assert_int_eq(qemu_disk_index("hdz"), 25);
    ck_assert_int_eq(qemu_disk_index("vdaa"), 26);
    ck_assert_int_eq(qemu_disk_index("xvdc"), 2);
    ck_assert_int_eq(qemu_disk_index("vd"), -1);
    ck_assert_int_eq(qemu_disk_index("vd1"), -1);
    ck_assert_int_eq(qemu_disk_index("nvme0"), -1);
    cpu_set_t set;
    ck_assert_int_eq(qv_cpuset_parse("0-3,^2", &set), 0);
    ck_assert_int_eq(CPU_COUNT(&set), 3);
    ck_assert(CPU_ISSET(0, &set) && CPU_ISSET(1, &set) && !CPU_ISSET(2, &set));
    ck_assert_int_eq(qv_cpuset_parse("5", &set), 0);
    ck_assert(CPU_ISSET(5, &set) && CPU_COUNT(&set) == 1);
    const char *bad[] = {"", "a", "3-1", "^2", "0-99999", "1,,2", "-1", "1-"};
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
        ck_assert_msg(qv_cpuset_parse(bad[i], &set) == QV_ERR_INVALID_ARG, "'%s'", bad[i]);
    g_autofree char *e = qemu_opt_escape("a,b,,c");
    ck_assert_str_eq(e, "a,,b,,,,c");
}
END_TEST

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "kvm") == 0) {
        /* The argvs that need QEMU with KVM: skipped (77) with QEMU's own
         * words where it cannot run them here. */
        g_autofree char *why = NULL;
        int rc = qemu_probe(QEMU_DEFAULT_BINARY, "kvm", "host", &why);
        if (rc != 1) {
            printf("SKIP: QEMU with -accel kvm -cpu host is unusable here: %s\n",
                   rc < 0 ? qv_last_error()->message : why);
            return 77;
        }
        TCase *tc = tcase_create("kvm");
        tcase_add_test(tc, kvm_host_passthrough_runs);
        return run(tc);
    }
    TCase *tc = tcase_create("argv");
    tcase_add_test(tc, minimal_golden);
    tcase_add_test(tc, machine_accel_cpu_topology);
    tcase_add_test(tc, disk_serial);
    tcase_add_test(tc, hugepages_memory_backend);
    tcase_add_test(tc, numatune_binds_memory);
    tcase_add_test(tc, kernel_boot_and_bios);
    tcase_add_test(tc, ovmf_pflash_with_nvram);
    tcase_add_test(tc, disks);
    tcase_add_test(tc, disk_overlay_on_base_image);
    tcase_add_test(tc, networks);
    tcase_add_test(tc, rng_vnc_hostdev);
    tcase_add_test(tc, serial_types);
    tcase_add_test(tc, refused_elements);
    tcase_add_test(tc, libvirt_clock_pm_cpu);
    tcase_add_test(tc, helpers);
    tcase_add_test(tc, memballoon_default_written_none);
    tcase_add_test(tc, q35_root_ports);
    tcase_add_test(tc, addresses_placed);
    tcase_add_test(tc, qemu_commandline_appended);
    return run(tc);
}
