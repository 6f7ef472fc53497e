/* The qemu driver's arguments for the <devices> children libvirt writes
 * beyond qv's own (serial port models, watchdogs, sound, TPMs, ...): golden
 * argv for each, real QEMU started with it, and what QEMU cannot be given
 * refused naming the element, its line and the attribute. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/qemu/qemu.h"
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

int main(void)
{
    TCase *tc = tcase_create("kept");
    tcase_add_test(tc, serial_models);
    tcase_add_test(tc, watchdogs);
    tcase_add_test(tc, sound_and_audio);
    return run(tc);
}
