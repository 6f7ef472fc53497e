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

int main(void)
{
    TCase *tc = tcase_create("kept");
    tcase_add_test(tc, serial_models);
    return run(tc);
}
