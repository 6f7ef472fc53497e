/* The qemu driver's arguments for the <devices> children libvirt writes
 * beyond qv's own (serial port models, watchdogs, sound, TPMs, ...): golden
 * argv for each, real QEMU started with it, and what QEMU cannot be given
 * refused naming the element, its line and the attribute. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drivers/qemu/qemu.h"
#include "drivers/qemu/qemu_vm.h"
#include "lib/conf/domain.h"
#include "lib/util/error.h"
#include "unit/qemu_argv_util.h"

#define OS_PC "<os><type arch='x86_64' machine='pc'>hvm</type></os>"
#define OS_Q35 "<os><type arch='x86_64' machine='q35'>hvm</type></os>"
#define XHCI "<controller type='usb' index='0' model='qemu-xhci'/>"

START_TEST(serial_models)
{
    struct qemu_launch l = launch_for(tmp);
    char **argv = build(HEAD MEM OS_Q35
                        "<devices>" XHCI "<serial type='pty'><target type='isa-serial' port='0'>"
                        "<model name='isa-serial'/></target></serial>"
                        "<serial type='null'><target type='isa-serial' port='2'/></serial>"
                        "<serial type='file'><source path='@T@/s2'/><target type='pci-serial' "
                        "port='2'><model name='pci-serial'/></target></serial>"
                        "<serial type='pty'><target type='usb-serial' port='3'/></serial>"
                        "<console type='pty'><target type='serial' port='0'/></console>"
                        "</devices></domain>",
                        &l);
    g_autofree char *log =
        g_strdup_printf("pty,id=serial0,logfile=%s/console.log,logappend=on", tmp);
    has(argv, "-chardev", log);
    has(argv, "-serial", "chardev:serial0");
    has(argv, "-chardev", "null,id=serial1");
    has(argv, "-device", "isa-serial,chardev=serial1,id=serial1,index=2");
    g_autofree char *file = g_strdup_printf("file,id=serial2,path=%s/s2", tmp);
    has(argv, "-chardev", file);
    has(argv, "-device", "pci-serial,chardev=serial2,id=serial2");
    has(argv, "-chardev", "pty,id=serial3");
    has(argv, "-device", "usb-serial,chardev=serial3,id=serial3,bus=usb.0");
    qemu_accepts(argv);
    g_strfreev(argv);

    /* The console on a PCI port: its log is still console.log. */
    argv = build(HEAD MEM OS_PC "<devices><serial type='pty'><target type='pci-serial'/></serial>"
                                "</devices></domain>",
                 &l);
    has(argv, "-chardev", log);
    has(argv, "-device", "pci-serial,chardev=serial0,id=serial0");
    lacks(argv, "-serial");
    qemu_accepts(argv);
    g_strfreev(argv);

    build_fails(HEAD MEM OS_PC "<devices><serial type='pty'><target type='isa-serial' port='4'/>"
                               "</serial></devices></domain>",
                QV_ERR_UNSUPPORTED,
                "<target type='isa-serial' port='4'>: the ISA bus has ports 0-3");
    build_fails(HEAD MEM OS_PC "<devices><serial type='pty'><target type='usb-serial'/></serial>"
                               "</devices></domain>",
                QV_ERR_UNSUPPORTED, "a usb-serial needs a <controller type='usb'>");
    build_fails(HEAD MEM OS_PC "<devices><serial type='pty'/><serial type='stdio'><target "
                               "port='1'/></serial></devices></domain>",
                QV_ERR_UNSUPPORTED,
                "<serial> 2 is not supported by the qemu driver: only the "
                "first port (the console) can be type 'stdio'");
    /* A model is the device of its target type, as libvirt has it. */
    g_autoptr(qv_domain) def =
        qv_domain_parse_xml(HEAD MEM OS_PC "<devices><serial type='pty'><target "
                                           "type='isa-serial'><model name='pci-serial'/></target>"
                                           "</serial></devices></domain>");
    ck_assert_ptr_nonnull(def);
    ck_assert_int_eq(qv_domain_validate(def), QV_ERR_INVALID_ARG);
    ck_assert_msg(strstr(qv_last_error()->message, "<model name='pci-serial'> needs <target "
                                                   "type='pci-serial'>, not 'isa-serial'"),
                  "%s", qv_last_error()->message);
    /* A board with one port (the kvm driver's) refuses the others. */
    const struct qv_chardev *c;
    g_autoptr(qv_domain) one = qv_domain_parse_xml(
        HEAD MEM OS_PC "<devices><serial type='pty'><target><model name='usb-serial'/></target>"
                       "</serial></devices></domain>");
    ck_assert_int_eq(qv_domain_serial_port(one, "kvm", &c), QV_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "<target type='usb-serial'>"));
}
END_TEST

START_TEST(watchdogs)
{
    struct qemu_launch l = launch_for(tmp);
    char **argv = build(HEAD MEM OS_PC "<devices><watchdog model='i6300esb' action='poweroff'>"
                                       "<address type='pci' domain='0x0000' bus='0x00' "
                                       "slot='0x05' function='0x0'/></watchdog>"
                                       "<watchdog model='ib700' action='poweroff'/>"
                                       "</devices></domain>",
                        &l);
    has(argv, "-device", "i6300esb,bus=pci.0,addr=0x5");
    has(argv, "-device", "ib700");
    has(argv, "-action", "watchdog=poweroff");
    ck_assert_int_eq(count_value(argv, "watchdog="), 1);
    qemu_accepts(argv);
    g_strfreev(argv);
    argv = build(HEAD MEM OS_Q35 "<devices><watchdog model='itco' action='inject-nmi'/>"
                                 "</devices></domain>",
                 &l);
    has(argv, "-global", "ICH9-LPC.noreboot=off");
    has(argv, "-action", "watchdog=inject-nmi");
    qemu_accepts(argv);
    g_strfreev(argv);
    /* libvirt's default action is reset. */
    argv = build(HEAD MEM OS_PC "<devices><watchdog model='ib700'/></devices></domain>", &l);
    has(argv, "-action", "watchdog=reset");
    g_strfreev(argv);

    build_fails(
        HEAD MEM OS_PC "<devices><watchdog model='itco'/></devices></domain>", QV_ERR_UNSUPPORTED,
        "cannot honour <watchdog> (line 1): model='itco' is q35's: this machine is not q35");
    build_fails(HEAD MEM OS_PC "<devices><watchdog model='i6300esb' action='dump'/></devices>"
                               "</domain>",
                QV_ERR_UNSUPPORTED, "<watchdog> (line 1): action='dump'");
    build_fails(HEAD MEM OS_PC "<devices><watchdog model='diag288'/></devices></domain>",
                QV_ERR_UNSUPPORTED, "model='diag288'");
    build_fails(HEAD MEM OS_PC "<devices><watchdog model='i6300esb'/><watchdog model='ib700' "
                               "action='pause'/></devices></domain>",
                QV_ERR_UNSUPPORTED, "action='pause' differs from another watchdog's 'reset'");
    build_fails(HEAD MEM OS_PC "<devices><watchdog model='ib700'><address type='isa' "
                               "iobase='0x443'/></watchdog></devices></domain>",
                QV_ERR_UNSUPPORTED, "takes no <address>");
}
END_TEST

START_TEST(sound_and_audio)
{
    struct qemu_launch l = launch_for(tmp);
    /* ich9 with two codecs on the backend it names, ac97 on the first
     * <audio>, a USB one at its port; QEMU's wav writer for type='file'. */
    char **argv =
        build(HEAD MEM OS_Q35
              "<devices>" XHCI "<sound model='ich9'><codec type='micro'/><codec type='output'/>"
              "<audio id='2'/><address type='pci' domain='0x0000' bus='0x00' slot='0x1b' "
              "function='0x0'/></sound>"
              "<sound model='ac97'/>"
              "<sound model='usb' multichannel='yes'><address type='usb' bus='0' port='2'/></sound>"
              "<audio id='1' type='none' timerPeriod='10000'><input mixingEngine='no'/>"
              "<output voices='2' bufferLength='20000'><settings frequency='48000' channels='2' "
              "format='s16'/></output></audio>"
              "<audio id='2' type='file' path='@T@/out,1.wav'/></devices></domain>",
              &l);
    has(argv, "-device", "ich9-intel-hda,id=sound1,bus=pcie.0,addr=0x1b");
    has(argv, "-device", "hda-micro,id=sound1-codec0,bus=sound1.0,cad=0,audiodev=audio2");
    has(argv, "-device", "hda-output,id=sound1-codec1,bus=sound1.0,cad=1,audiodev=audio2");
    has(argv, "-device", "AC97,id=sound2,audiodev=audio1");
    has(argv, "-device", "usb-audio,id=sound3,audiodev=audio1,bus=usb.0,port=2,multi=on");
    has(argv, "-audiodev",
        "none,id=audio1,timer-period=10000,in.mixing-engine=off,out.voices=2,"
        "out.buffer-length=20000,out.frequency=48000,out.channels=2,out.format=s16");
    g_autofree char *wav = g_strdup_printf("wav,id=audio2,path=%s/out,,1.wav", tmp);
    has(argv, "-audiodev", wav);
    qemu_accepts(argv);
    g_strfreev(argv);

    /* Without <audio>, a silent backend, as libvirt gives; one codec by
     * default; the ISA cards and the PC speaker. */
    argv = build(HEAD MEM OS_PC "<devices><sound model='ich6'/><sound model='es1370'/>"
                                "<sound model='sb16'/><sound model='pcspk'/></devices></domain>",
                 &l);
    has(argv, "-audiodev", "none,id=audio0");
    ck_assert_int_eq(count_value(argv, "none,id=audio0"), 1);
    has(argv, "-device", "intel-hda,id=sound0");
    has(argv, "-device", "hda-duplex,id=sound0-codec0,bus=sound0.0,cad=0,audiodev=audio0");
    has(argv, "-device", "ES1370,id=sound1,audiodev=audio0");
    has(argv, "-device", "sb16,id=sound2,audiodev=audio0");
    has(argv, "-machine", "pcspk-audiodev=audio0");
    qemu_accepts(argv);
    g_strfreev(argv);

    build_fails(HEAD MEM OS_PC "<devices><sound model='ich7'/></devices></domain>",
                QV_ERR_UNSUPPORTED, "cannot honour <sound> (line 1): model='ich7'");
    build_fails(HEAD MEM OS_PC "<devices><sound model='ac97'><audio id='3'/></sound>"
                               "<audio id='1' type='none'/></devices></domain>",
                QV_ERR_UNSUPPORTED, "<audio id='3'> names no <audio> backend");
    build_fails(HEAD MEM OS_PC "<devices><audio id='1' type='alsa'/></devices></domain>",
                QV_ERR_UNSUPPORTED, "cannot honour <audio> (line 1): type='alsa'");
    build_fails(HEAD MEM OS_PC "<devices><audio id='1' type='file'/></devices></domain>",
                QV_ERR_UNSUPPORTED, "type='file' needs a path=");
    build_fails(HEAD MEM OS_PC "<devices><sound model='usb'/></devices></domain>",
                QV_ERR_UNSUPPORTED, "model='usb' needs a <controller type='usb'>");
    build_fails(HEAD MEM OS_PC "<devices><sound model='ac97'><codec type='duplex'/></sound>"
                               "</devices></domain>",
                QV_ERR_UNSUPPORTED, "<codec> is not passed on to QEMU for model='ac97'");
    build_fails(HEAD MEM OS_PC "<devices><audio id='1' type='none'><input voices='x'/></audio>"
                               "</devices></domain>",
                QV_ERR_UNSUPPORTED, "<input voices=> out of range");
}
END_TEST

START_TEST(bus_controllers)
{
    struct qemu_launch l = launch_for(tmp);
    make_image("d.raw", "raw");
    /* libvirt's virtio-serial with ports and vectors carries the guest
     * agent channel; an lsilogic adapter carries qv's SCSI disk (no second
     * adapter); a second AHCI controller. */
    char **argv = build(
        HEAD MEM OS_Q35
        "<devices><controller type='virtio-serial' index='0' ports='16' vectors='4'>"
        "<driver iommu='off' packed='on'/></controller>"
        "<controller type='scsi' index='0' model='lsilogic'/>"
        "<controller type='scsi' index='1' model='virtio-scsi'><driver queues='4' "
        "cmd_per_lun='8' max_sectors='512' ioeventfd='on'/></controller>"
        "<controller type='sata' index='0'/><controller type='sata' index='1'/>"
        "<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
        "<source file='@T@/d.raw'/><target dev='sda' bus='scsi'/></disk>"
        "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>"
        "</devices></domain>",
        &l);
    has(argv, "-device",
        "virtio-serial-pci,id=virtio-serial0,max_ports=16,vectors=4,iommu_platform=off,"
        "packed=on");
    ck_assert_int_eq(count_value(argv, "virtio-serial-pci"), 1);
    has(argv, "-device", "lsi53c895a,id=scsi0");
    has(argv, "-device",
        "virtio-scsi-pci,id=scsi1,num_queues=4,cmd_per_lun=8,max_sectors=512,ioeventfd=on");
    ck_assert_int_eq(count_value(argv, "virtio-scsi-pci,id=scsi0"), 0);
    has(argv, "-device", "scsi-hd,bus=scsi0.0,channel=0,scsi-id=0,lun=0,drive=disk0,id=sda,write-cache=on");
    has(argv, "-device", "ich9-ahci,id=sata1");
    ck_assert_int_eq(count_value(argv, "ich9-ahci"), 1);
    qemu_accepts(argv);
    g_strfreev(argv);
    /* On pc the first SATA controller is an added AHCI too; libvirt's
     * default SCSI model is lsilogic; the others QEMU has. */
    argv = build(HEAD MEM OS_PC "<devices><controller type='sata' index='0'><address "
                                "type='pci' domain='0x0000' bus='0x00' slot='0x07' "
                                "function='0x0'/></controller><controller type='scsi' "
                                "index='0'/><controller type='scsi' index='1' "
                                "model='lsisas1078'/><controller type='scsi' index='2' "
                                "model='vmpvscsi'/></devices></domain>",
                 &l);
    has(argv, "-device", "ich9-ahci,id=sata0,bus=pci.0,addr=0x7");
    has(argv, "-device", "lsi53c895a,id=scsi0");
    has(argv, "-device", "megasas-gen2,id=scsi1");
    has(argv, "-device", "pvscsi,id=scsi2");
    qemu_accepts(argv);
    g_strfreev(argv);

    build_fails(HEAD MEM OS_PC "<devices><controller type='scsi' model='buslogic'/></devices>"
                               "</domain>",
                QV_ERR_UNSUPPORTED,
                "cannot honour <controller> (line 1): model='buslogic' is not a scsi controller");
    build_fails(HEAD MEM OS_PC "<devices><controller type='virtio-serial' ports='40'/>"
                               "</devices></domain>",
                QV_ERR_UNSUPPORTED, "ports= must be 1-31");
    build_fails(HEAD MEM OS_PC "<devices><controller type='scsi' model='virtio-scsi'>"
                               "<driver iothread='1'/></controller></devices></domain>",
                QV_ERR_UNSUPPORTED, "<driver iothread=> is not passed on to QEMU");
    build_fails(HEAD MEM OS_PC "<devices><controller type='scsi' model='lsilogic'><driver "
                               "queues='2'/></controller></devices></domain>",
                QV_ERR_UNSUPPORTED, "<driver> is not passed on to QEMU");
}
END_TEST

#define TPM_EMU(model, version)                                                                    \
    HEAD MEM OS_Q35 "<devices><tpm model='" model "'><backend type='emulator' version='" version   \
                    "'/></tpm></devices></domain>"

/* The swtpm pid of a VM directory, 0 when none runs. */
static pid_t swtpm_pid(const char *dir)
{
    g_autofree char *pidfile = g_build_filename(dir, "swtpm.pid", NULL);
    g_autofree char *text = NULL;
    if (!g_file_get_contents(pidfile, &text, NULL, NULL))
        return 0;
    pid_t pid = (pid_t)atoi(text);
    return pid > 0 && kill(pid, 0) == 0 ? pid : 0;
}

START_TEST(tpm_emulator)
{
    g_autofree char *swtpm = g_find_program_in_path("swtpm");
    if (!swtpm) {
        /* Refused, naming the package, where swtpm is missing. */
        build_fails(TPM_EMU("tpm-crb", "2.0"), QV_ERR_UNSUPPORTED, "Debian package swtpm");
        return;
    }
    struct qemu_launch l = launch_for(tmp);
    char **argv = build(TPM_EMU("tpm-crb", "2.0"), &l);
    g_autofree char *chr = g_strdup_printf("socket,id=chrtpm,path=%s/swtpm.sock", tmp);
    has(argv, "-chardev", chr);
    has(argv, "-tpmdev", "emulator,id=tpm0,chardev=chrtpm");
    has(argv, "-device", "tpm-crb,tpmdev=tpm0,id=tpm0");
    /* The driver's own swtpm start: state private in DIR/tpm, socket 0600;
     * QEMU takes it, and swtpm ends when QEMU does. */
    struct qemu_vm q = {.name = "g1", .dir = tmp};
    g_autoptr(qv_domain) def = parse(TPM_EMU("tpm-crb", "2.0"));
    ck_assert_msg(qemu_tpm_start(&q, def) == 0, "%s", qv_last_error()->message);
    pid_t pid = swtpm_pid(tmp);
    ck_assert_int_gt(pid, 0);
    ck_assert_int_eq(qemu_tpm_check(&q, def), 0);
    struct stat sb;
    g_autofree char *state = g_build_filename(tmp, "tpm", NULL);
    ck_assert_int_eq(lstat(state, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 07777, 0700);
    g_autofree char *sock = g_build_filename(tmp, "swtpm.sock", NULL);
    ck_assert_int_eq(lstat(sock, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0077, 0);
    qemu_accepts(argv);
    g_strfreev(argv);
    for (int i = 0; i < 200 && swtpm_pid(tmp); i++)
        g_usleep(10000);
    ck_assert_int_eq(swtpm_pid(tmp), 0);
    /* Its state outlives it: the next start has the same TPM. */
    g_autofree char *permall = g_build_filename(state, "tpm2-00.permall", NULL);
    ck_assert_msg(g_file_test(permall, G_FILE_TEST_EXISTS), "no TPM state in %s", state);
    /* A swtpm that died while the VM runs is reported. */
    ck_assert_int_eq(qemu_tpm_start(&q, def), 0);
    pid = swtpm_pid(tmp);
    kill(pid, SIGKILL);
    for (int i = 0; i < 200 && swtpm_pid(tmp); i++)
        g_usleep(10000);
    ck_assert_int_eq(qemu_tpm_check(&q, def), QV_ERR_BACKEND);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "TPM emulator (swtpm) is no longer"));
    qemu_tpm_stop(&q);

    /* TPM 1.2 on tpm-tis; libvirt's defaults. */
    argv = build(TPM_EMU("tpm-tis", "1.2"), &l);
    has(argv, "-device", "tpm-tis,tpmdev=tpm0,id=tpm0");
    g_strfreev(argv);
    build_fails(TPM_EMU("tpm-crb", "1.2"), QV_ERR_UNSUPPORTED, "TPM 2.0 interface");
    build_fails(HEAD MEM OS_Q35 "<devices><tpm model='tpm-tis'><backend type='emulator' "
                                "version='2.0' persistent_state='yes'/></tpm></devices></domain>",
                QV_ERR_UNSUPPORTED, "cannot honour <tpm> (line 1): persistent_state='yes'");
    build_fails(HEAD MEM OS_Q35 "<devices><tpm model='tpm-tis'><backend type='emulator' "
                                "version='2.0'><encryption secret='6dd3e4a5-1d76-44ce-961f-"
                                "f119f5aad935'/></backend></tpm></devices></domain>",
                QV_ERR_UNSUPPORTED, "<backend type='emulator'><encryption>");
    build_fails(HEAD MEM OS_Q35 "<devices><tpm model='tpm-spapr'><backend type='emulator'/>"
                                "</tpm></devices></domain>",
                QV_ERR_UNSUPPORTED, "model='tpm-spapr'");
}
END_TEST

START_TEST(tpm_passthrough_external)
{
    struct qemu_launch l = launch_for(tmp);
    char **argv = build(HEAD MEM OS_PC "<devices><tpm model='tpm-tis'><backend "
                                       "type='passthrough'><device path='@T@/tpm0'/></backend>"
                                       "</tpm></devices></domain>",
                        &l);
    g_autofree char *pt = g_strdup_printf("passthrough,id=tpm0,path=%s/tpm0", tmp);
    has(argv, "-tpmdev", pt);
    has(argv, "-device", "tpm-tis,tpmdev=tpm0,id=tpm0");
    /* No TPM here: QEMU takes the options and fails on the device. */
    qemu_parses_then_fails_on(argv, "tpm0");
    g_strfreev(argv);
    argv = build(HEAD MEM OS_PC "<devices><tpm model='tpm-crb'><backend type='external'>"
                                "<source type='unix' mode='connect' path='@T@/ext.sock'/>"
                                "</backend></tpm></devices></domain>",
                 &l);
    g_autofree char *chr = g_strdup_printf("socket,id=chrtpm,path=%s/ext.sock", tmp);
    has(argv, "-chardev", chr);
    has(argv, "-tpmdev", "emulator,id=tpm0,chardev=chrtpm");
    g_strfreev(argv);
    build_fails(HEAD MEM OS_PC "<devices><tpm model='tpm-tis'><backend type='passthrough'>"
                               "<device path='/dev/tpm0'/></backend></tpm><tpm "
                               "model='tpm-tis'><backend type='passthrough'/></tpm></devices>"
                               "</domain>",
                QV_ERR_UNSUPPORTED, "a second <tpm>");
}
END_TEST

START_TEST(filesystems_9p)
{
    struct qemu_launch l = launch_for(tmp);
    char **argv = build(HEAD MEM OS_PC
                        "<devices><filesystem type='mount' accessmode='passthrough'>"
                        "<driver type='path' wrpolicy='immediate'/><source dir='@T@'/>"
                        "<target dir='share,1'/><readonly/><address type='pci' domain='0x0000' "
                        "bus='0x00' slot='0x06' function='0x0'/></filesystem>"
                        "<filesystem accessmode='mapped' fmode='644' dmode='755' "
                        "multidevs='remap'><source dir='@T@'/><target dir='data'/>"
                        "<model type='virtio-non-transitional'/></filesystem>"
                        "<filesystem accessmode='squash'><source dir='@T@'/><target dir='sq'/>"
                        "</filesystem></devices></domain>",
                        &l);
    g_autofree char *fs0 = g_strdup_printf(
        "local,id=fsdev0,path=%s,security_model=passthrough,readonly=on,writeout=immediate", tmp);
    has(argv, "-fsdev", fs0);
    has(argv, "-device", "virtio-9p-pci,id=fs0,fsdev=fsdev0,mount_tag=share,,1,bus=pci.0,addr=0x6");
    g_autofree char *fs1 = g_strdup_printf(
        "local,id=fsdev1,path=%s,security_model=mapped-xattr,fmode=644,dmode=755,multidevs=remap",
        tmp);
    has(argv, "-fsdev", fs1);
    has(argv, "-device", "virtio-9p-pci-non-transitional,id=fs1,fsdev=fsdev1,mount_tag=data");
    g_autofree char *fs2 = g_strdup_printf("local,id=fsdev2,path=%s,security_model=none", tmp);
    has(argv, "-fsdev", fs2);
    qemu_accepts(argv);
    g_strfreev(argv);

    build_fails(HEAD MEM OS_PC "<devices><filesystem type='mount'><driver type='virtiofs'/>"
                               "<source dir='/srv'/><target dir='t'/></filesystem></devices>"
                               "</domain>",
                QV_ERR_UNSUPPORTED,
                "cannot honour <filesystem> (line 1): <driver type='virtiofs'> needs the guest's "
                "memory shared");
    build_fails(HEAD MEM OS_PC "<devices><filesystem type='mount'><driver type='handle'/>"
                               "<source dir='/srv'/><target dir='t'/></filesystem></devices>"
                               "</domain>",
                QV_ERR_UNSUPPORTED, "<driver type='handle'>");
    build_fails(HEAD MEM OS_PC "<devices><filesystem type='ram'><source usage='1024'/>"
                               "<target dir='t'/></filesystem></devices></domain>",
                QV_ERR_UNSUPPORTED, "type='ram'");
    build_fails(HEAD MEM OS_PC "<devices><filesystem fmode='644'><source dir='/srv'/>"
                               "<target dir='t'/></filesystem></devices></domain>",
                QV_ERR_UNSUPPORTED, "fmode= must be an octal mode, with accessmode='mapped'");
    build_fails(HEAD MEM OS_PC "<devices><filesystem><source dir='srv'/><target dir='t'/>"
                               "</filesystem></devices></domain>",
                QV_ERR_UNSUPPORTED, "<source dir=> with an absolute path");
}
END_TEST

START_TEST(nic_driver_queues)
{
    struct qemu_launch l = launch_for(tmp);
    /* A tap NIC: four queue pairs on QEMU's multi-queue tap, with the
     * kernel's vhost where the host has it. */
#define TAP_NIC(name)                                                                              \
    HEAD MEM OS_PC "<devices><interface type='ethernet'><mac address='52:54:00:aa:bb:04'/>"        \
                   "<model type='virtio'/><driver name='" name "' queues='4' "                     \
                   "rx_queue_size='512'/></interface></devices></domain>"
    char **argv = build(TAP_NIC("qemu"), &l);
    has(argv, "-netdev", "tap,id=net0,script=no,downscript=no,vhost=off,queues=4");
    has(argv, "-device",
        "virtio-net-pci,netdev=net0,id=nic0,mac=52:54:00:aa:bb:04,mq=on,"
        "vectors=10,rx_queue_size=512");
    bool tun = access("/dev/net/tun", R_OK | W_OK) == 0 && geteuid() == 0;
    if (tun)
        qemu_accepts(argv);
    g_strfreev(argv);
    if (access("/dev/vhost-net", R_OK | W_OK) == 0) {
        argv = build(TAP_NIC("vhost"), &l);
        has(argv, "-netdev", "tap,id=net0,script=no,downscript=no,vhost=on,queues=4");
        if (tun)
            qemu_accepts(argv);
        g_strfreev(argv);
    } else {
        build_fails(TAP_NIC("vhost"), QV_ERR_UNSUPPORTED, "needs the host's /dev/vhost-net");
    }
    /* name='qemu' is QEMU's own virtio-net, the ring size for any. */
    argv = build(HEAD MEM OS_PC "<devices><interface type='user'><mac "
                                "address='52:54:00:aa:bb:05'/><driver name='qemu' "
                                "rx_queue_size='1024'/></interface></devices></domain>",
                 &l);
    has(argv, "-device",
        "virtio-net-pci,netdev=net0,id=nic0,mac=52:54:00:aa:bb:05,"
        "rx_queue_size=1024");
    qemu_accepts(argv);
    g_strfreev(argv);

    build_fails(HEAD MEM OS_PC "<devices><interface type='user'><mac address='52:54:00:aa:bb:06'/>"
                               "<driver queues='2'/></interface></devices></domain>",
                QV_ERR_UNSUPPORTED,
                "cannot honour <interface> 52:54:00:aa:bb:06 <driver>: user-mode networking has "
                "one queue");
    build_fails(HEAD MEM OS_PC "<devices><interface type='ethernet'><mac "
                               "address='52:54:00:aa:bb:07'/><model type='e1000'/><driver "
                               "name='vhost'/></interface></devices></domain>",
                QV_ERR_UNSUPPORTED, "are virtio-net's");
    /* Values outside virtio-net's are the definition's error. */
    ck_assert_ptr_null(qv_domain_parse_xml(HEAD MEM OS_PC "<devices><interface type='user'>"
                                                          "<driver queues='0'/></interface>"
                                                          "</devices></domain>"));
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "must be from 1 to 256"));
    ck_assert_ptr_null(qv_domain_parse_xml(HEAD MEM OS_PC "<devices><interface type='user'>"
                                                          "<driver rx_queue_size='300'/>"
                                                          "</interface></devices></domain>"));
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "must be 256, 512 or 1024"));
    /* What the model does not hold keeps the interface whole, refused. */
    build_fails(HEAD MEM OS_PC "<devices><interface type='user'><driver txmode='iothread'/>"
                               "</interface></devices></domain>",
                QV_ERR_UNSUPPORTED, "cannot honour <interface> (line 1)");
}
END_TEST

START_TEST(usb_redirection)
{
    struct qemu_launch l = launch_for(tmp);
    /* A usbredir server for QEMU to connect to. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(fd, 1), 0);
    socklen_t len = sizeof(sa);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    g_autofree char *xml = g_strdup_printf(
        HEAD MEM OS_PC "<devices>" XHCI "<redirdev bus='usb' type='tcp'><source mode='connect' "
                       "host='127.0.0.1' service='%u'/><protocol type='raw'/><boot order='3'/>"
                       "<address type='usb' bus='0' port='2'/></redirdev></devices></domain>",
        ntohs(sa.sin_port));
    char **argv = build(xml, &l);
    g_autofree char *chr = g_strdup_printf("socket,id=charredir1,host=127.0.0.1,port=%u,server=off",
                                           ntohs(sa.sin_port));
    has(argv, "-chardev", chr);
    has(argv, "-device", "usb-redir,chardev=charredir1,id=redir1,bus=usb.0,port=2,bootindex=3");
    qemu_accepts(argv);
    g_strfreev(argv);
    close(fd);

    build_fails(HEAD MEM OS_PC "<devices>" XHCI "<redirdev bus='usb' type='spicevmc'/>"
                               "</devices></domain>",
                QV_ERR_UNSUPPORTED, "cannot honour <redirdev> (line 1): type='spicevmc'");
    build_fails(HEAD MEM OS_PC "<devices><redirdev bus='usb' type='tcp'><source mode='connect' "
                               "host='127.0.0.1' service='4000'/></redirdev></devices></domain>",
                QV_ERR_UNSUPPORTED, "it needs a <controller type='usb'>");
}
END_TEST

int main(void)
{
    TCase *tc = tcase_create("kept");
    tcase_add_test(tc, serial_models);
    tcase_add_test(tc, watchdogs);
    tcase_add_test(tc, sound_and_audio);
    tcase_add_test(tc, bus_controllers);
    tcase_add_test(tc, tpm_emulator);
    tcase_add_test(tc, tpm_passthrough_external);
    tcase_add_test(tc, filesystems_9p);
    tcase_add_test(tc, nic_driver_queues);
    tcase_add_test(tc, usb_redirection);
    return run(tc);
}
