/* The qemu driver's arguments for devices backed by something beside QEMU
 * (virtiofsd, a SPICE client, ...): golden argv, real QEMU started with them where this
 * host has the backend, and what QEMU 7.2 cannot do refused naming the
 * element, its line and the attribute. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drivers/qemu/qemu.h"
#include "drivers/qemu/qemu_vm.h"
#include "lib/conf/domain.h"
#include "lib/util/error.h"
#include "unit/qemu_argv_util.h"

#define OS_Q35 "<os><type arch='x86_64' machine='q35'>hvm</type></os>"
#define SHARED "<memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>"
#define VIRTIOFSD "/usr/lib/qemu/virtiofsd"

#define VIRTIOFS(binary, source)                                                                   \
    HEAD MEM SHARED OS_Q35 "<devices><filesystem type='mount' accessmode='passthrough'>"           \
                           "<driver type='virtiofs' queue='512' iommu='off' packed='on'/>" binary  \
                           "<source " source "/><target dir='share,1'/></filesystem>"              \
                           "</devices></domain>"

START_TEST(virtiofs)
{
    if (!g_file_test(VIRTIOFSD, G_FILE_TEST_IS_EXECUTABLE)) {
        build_fails(VIRTIOFS("", "dir='@T@'"), QV_ERR_UNSUPPORTED,
                    "Debian package qemu-system-common");
        return;
    }
    struct qemu_launch l = launch_for(tmp);
    const char *xml = VIRTIOFS("<binary xattr='on'><cache mode='none'/><sandbox mode='chroot'/>"
                               "<lock posix='off' flock='on'/><thread_pool size='0x10'/></binary>",
                               "dir='@T@'");
    char **argv = build(xml, &l);
    /* kept[0] is the <memoryBacking>: the filesystem is kept element 1. */
    g_autofree char *chr = g_strdup_printf("socket,id=chr-vu-fs1,path=%s/virtiofs1.sock", tmp);
    has(argv, "-chardev", chr);
    has(argv, "-device",
        "vhost-user-fs-pci,id=fs1,chardev=chr-vu-fs1,tag=share,,1,queue-size=512,"
        "iommu_platform=off,packed=on");
    /* The driver's own virtiofsd: its options from <binary>, its socket
     * 0600; QEMU connects, and virtiofsd ends when QEMU does. */
    struct qemu_vm q = {.name = "g1", .dir = tmp};
    g_autoptr(qv_domain) def = parse(xml);
    g_autoptr(GArray) kids = g_array_new(FALSE, FALSE, sizeof(pid_t));
    ck_assert_msg(qemu_virtiofs_start(&q, def, kids) == 0, "%s", qv_last_error()->message);
    ck_assert_int_eq(kids->len, 1);
    g_autofree char *cmdline = NULL;
    g_autofree char *cmdpath =
        g_strdup_printf("/proc/%d/cmdline", (int)g_array_index(kids, pid_t, 0));
    gsize len = 0;
    ck_assert(g_file_get_contents(cmdpath, &cmdline, &len, NULL));
    for (gsize i = 0; i < len; i++)
        cmdline[i] = cmdline[i] ? cmdline[i] : ' ';
    g_autofree char *want = g_strdup_printf(
        VIRTIOFSD " --daemonize -o source=%s -o xattr -o cache=none -o sandbox=chroot -o "
                  "no_posix_lock -o flock --thread-pool-size=16 --socket-path=%s/virtiofs1.sock",
        tmp, tmp);
    ck_assert_msg(g_str_has_prefix(cmdline, want), "%s", cmdline);
    struct stat sb;
    g_autofree char *sock = g_build_filename(tmp, "virtiofs1.sock", NULL);
    ck_assert_int_eq(lstat(sock, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0077, 0);
    qemu_accepts(argv);
    qemu_virtiofs_started(&q, kids);
    ck_assert_int_eq(kids->len, 0);
    g_strfreev(argv);
    /* A start QEMU never connects to kills it. */
    ck_assert_int_eq(qemu_virtiofs_start(&q, def, kids), 0);
    pid_t pid = g_array_index(kids, pid_t, 0);
    qemu_virtiofs_abort(kids);
    ck_assert_int_eq(kill(pid, 0), -1);

    /* Someone else's virtiofsd: only the socket. */
    argv = build(VIRTIOFS("", "socket='/run/vfs.sock'"), &l);
    has(argv, "-chardev", "socket,id=chr-vu-fs1,path=/run/vfs.sock");
    qemu_parses_then_fails_on(argv, "/run/vfs.sock");
    g_strfreev(argv);

    build_fails(HEAD MEM OS_Q35 "<devices><filesystem><driver type='virtiofs'/><source "
                                "dir='/srv'/><target dir='t'/></filesystem></devices></domain>",
                QV_ERR_UNSUPPORTED,
                "cannot honour <filesystem> (line 1): <driver type='virtiofs'> needs the guest's "
                "memory shared with virtiofsd: add <memoryBacking><source type='memfd'/>");
    build_fails(VIRTIOFS("<readonly/>", "dir='/srv'"), QV_ERR_UNSUPPORTED,
                "<readonly> is not passed on to QEMU with <driver type='virtiofs'> (virtiofsd in "
                "QEMU 7.2 has no read-only mode)");
    build_fails(HEAD MEM SHARED OS_Q35 "<devices><filesystem><driver type='virtiofs' "
                                       "queue='1000'/><source dir='/srv'/><target dir='t'/>"
                                       "</filesystem></devices></domain>",
                QV_ERR_UNSUPPORTED,
                "<devices><filesystem><driver> (line 1): queue='1000' must be a power of two");
    build_fails(VIRTIOFS("", "dir='/srv,x'"), QV_ERR_UNSUPPORTED, "without ','");
    /* virtiofsd would read "\\d" as an escape and share /srvdir. */
    build_fails(VIRTIOFS("", "dir='/srv\\dir'"), QV_ERR_UNSUPPORTED, "without ',' or '\\'");
    build_fails(VIRTIOFS("<binary path='/usr/lib/qemu/virtiofsd'/>", "socket='/run/v.sock'"),
                QV_ERR_UNSUPPORTED, "with <source socket=> someone else runs it");
    build_fails(HEAD MEM SHARED OS_Q35 "<devices><filesystem accessmode='mapped'><driver "
                                       "type='virtiofs'/><source dir='/srv'/><target dir='t'/>"
                                       "</filesystem></devices></domain>",
                QV_ERR_UNSUPPORTED, "accessmode='mapped'");
}
END_TEST

#define SPICE_DOC(graphics, devices)                                                               \
    HEAD MEM OS_Q35                                                                                \
        "<devices><controller type='usb' index='0' model='qemu-xhci'/>" graphics devices           \
        "</devices></domain>"

/* The -spice argument of argv, its port= replaced by P. */
static char *spice_arg(char **argv)
{
    for (int i = 0; argv[i] && argv[i + 1]; i++)
        if (strcmp(argv[i], "-spice") == 0) {
            GString *s = g_string_new(argv[i + 1]);
            if (g_str_has_prefix(s->str, "port=") && strcmp(s->str, "port=0") != 0 &&
                !g_str_has_prefix(s->str, "port=0,")) {
                gsize end = strcspn(s->str, ",");
                g_string_erase(s, 5, (gssize)end - 5);
                g_string_insert(s, 5, "P");
            }
            return g_string_free(s, FALSE);
        }
    return NULL;
}

START_TEST(spice)
{
    struct qemu_launch l = launch_for(tmp);
    char **argv = build(
        SPICE_DOC("<graphics type='spice' autoport='yes' tlsPort='-1' defaultMode='any'>"
                  "<listen type='address' address='127.0.0.1'/><channel name='main' "
                  "mode='insecure'/><channel name='display' mode='any'/>"
                  "<image compression='auto_glz'/><jpeg compression='never'/>"
                  "<zlib compression='always'/><playback compression='off'/>"
                  "<streaming mode='filter'/><mouse mode='client'/><clipboard copypaste='no'/>"
                  "<filetransfer enable='no'/><gl enable='no'/></graphics>",
                  "<video><model type='qxl' ram='65536' vram='32768' vgamem='16384' heads='1' "
                  "primary='yes'><resolution x='1024' y='768'/></model></video>"
                  "<channel type='spicevmc'><target type='virtio' name='com.redhat.spice.0'/>"
                  "<address type='virtio-serial' controller='0' bus='0' port='3'/></channel>"
                  "<redirdev bus='usb' type='spicevmc'><address type='usb' bus='0' port='2'/>"
                  "</redirdev><audio id='1' type='spice'/>"
                  "<sound model='ich9'><audio id='1'/></sound>"),
        &l);
    g_autofree char *sp = spice_arg(argv);
    ck_assert_str_eq(sp, "port=P,addr=127.0.0.1,disable-ticketing=on,image-compression=auto_glz,"
                         "jpeg-wan-compression=never,zlib-glz-wan-compression=always,"
                         "streaming-video=filter,playback-compression=off,disable-copy-paste=on,"
                         "disable-agent-file-xfer=on,agent-mouse=on,gl=off,"
                         "plaintext-channel=main");
    has(argv, "-device",
        "qxl-vga,id=video0,ram_size=67108864,vram_size=33554432,vgamem_mb=16,"
        "max_outputs=1,xres=1024,yres=768");
    has(argv, "-chardev", "spicevmc,id=charchannel0,name=vdagent");
    has(argv, "-device",
        "virtserialport,bus=virtio-serial0.0,nr=3,chardev=charchannel0,"
        "id=channel0,name=com.redhat.spice.0");
    has(argv, "-chardev", "spicevmc,id=charredir4,name=usbredir");
    has(argv, "-device", "usb-redir,chardev=charredir4,id=redir4,bus=usb.0,port=2");
    has(argv, "-audiodev", "spice,id=audio1");
    qemu_accepts(argv);
    g_strfreev(argv);

    /* No <video>: libvirt's QXL; a port given; on a socket; no listener. */
    argv = build(
        SPICE_DOC("<graphics type='spice' port='5977' autoport='no' listen='0.0.0.0'/>", ""), &l);
    has(argv, "-spice", "port=5977,addr=0.0.0.0,disable-ticketing=on");
    has(argv, "-device", "qxl-vga,id=video0");
    g_strfreev(argv);
    argv = build(SPICE_DOC("<graphics type='spice'><listen type='socket'/></graphics>", ""), &l);
    g_autofree char *unix_opt =
        g_strdup_printf("unix=on,addr=%s/spice.sock,disable-ticketing=on", tmp);
    has(argv, "-spice", unix_opt);
    qemu_accepts(argv);
    g_strfreev(argv);
    argv = build(SPICE_DOC("<graphics type='spice'><listen type='none'/></graphics>", ""), &l);
    has(argv, "-spice", "port=0,disable-ticketing=on");
    qemu_accepts(argv);
    g_strfreev(argv);

    /* TLS, passwords, OpenGL, networks: refused naming what and where. */
    build_fails(SPICE_DOC("<graphics type='spice' tlsPort='5901' autoport='no' port='5900'/>", ""),
                QV_ERR_UNSUPPORTED,
                "cannot honour <devices><graphics> (line 1): tlsPort='5901': qv sets up no SPICE "
                "TLS certificates");
    build_fails(SPICE_DOC("<graphics type='spice' defaultMode='secure'/>", ""), QV_ERR_UNSUPPORTED,
                "defaultMode='secure'");
    build_fails(SPICE_DOC("<graphics type='spice'><channel name='inputs' mode='secure'/>"
                          "</graphics>",
                          ""),
                QV_ERR_UNSUPPORTED,
                "<devices><graphics><channel> (line 1): mode='secure' needs TLS");
    build_fails(SPICE_DOC("<graphics type='spice'><gl enable='yes'/></graphics>", ""),
                QV_ERR_UNSUPPORTED, "<graphics><gl> (line 1): SPICE OpenGL needs a render node");
    build_fails(SPICE_DOC("<graphics type='spice' passwd='secret'/>", ""), QV_ERR_UNSUPPORTED,
                "attribute passwd= is not passed on");
    build_fails(SPICE_DOC("<graphics type='spice'><listen type='network' network='default'/>"
                          "</graphics>",
                          ""),
                QV_ERR_UNSUPPORTED, "attribute network= is not passed on");
    build_fails(SPICE_DOC("<graphics type='spice'><image compression='jpeg'/></graphics>", ""),
                QV_ERR_UNSUPPORTED, "compression='jpeg' is not one QEMU has");
    build_fails(SPICE_DOC("", "<channel type='spicevmc'><target type='virtio' "
                              "name='com.redhat.spice.0'/></channel>"),
                QV_ERR_UNSUPPORTED,
                "cannot honour <channel> (line 1): type='spicevmc' needs <graphics type='spice'>");
    build_fails(SPICE_DOC("", "<audio id='1' type='spice'/>"), QV_ERR_UNSUPPORTED,
                "type='spice' needs <graphics type='spice'>");
    build_fails(SPICE_DOC("<graphics type='spice'/>",
                          "<video><model type='qxl'><acceleration accel3d='yes'/></model>"
                          "</video>"),
                QV_ERR_UNSUPPORTED,
                "<video><model><acceleration> (line 1): this element is not "
                "passed on");
}
END_TEST

START_TEST(smartcard)
{
    struct qemu_launch l = launch_for(tmp);
    char **argv = build(SPICE_DOC("<graphics type='spice'><listen type='none'/></graphics>",
                                  "<smartcard mode='passthrough' type='unix'><source mode='bind' "
                                  "path='@T@/sc.sock'/><protocol type='raw'/><address type='ccid' "
                                  "controller='0' slot='0'/></smartcard>"
                                  "<smartcard mode='passthrough' type='spicevmc'/>"),
                        &l);
    g_autofree char *chr =
        g_strdup_printf("socket,id=charsmartcard2,path=%s/sc.sock,server=on,wait=off", tmp);
    has(argv, "-chardev", chr);
    has(argv, "-device", "usb-ccid,id=ccid-sc2,bus=usb.0");
    has(argv, "-device", "ccid-card-passthru,chardev=charsmartcard2,id=smartcard2,bus=ccid-sc2.0");
    has(argv, "-chardev", "spicevmc,id=charsmartcard3,name=smartcard");
    has(argv, "-device", "ccid-card-passthru,chardev=charsmartcard3,id=smartcard3,bus=ccid-sc3.0");
    qemu_accepts(argv);
    g_strfreev(argv);
    argv = build(SPICE_DOC("", "<smartcard mode='passthrough' type='tcp'><source mode='connect' "
                               "host='127.0.0.1' service='1'/></smartcard>"),
                 &l);
    has(argv, "-chardev", "socket,id=charsmartcard1,host=127.0.0.1,port=1,server=off");
    /* QEMU connects as it starts: no card server, no start. */
    qemu_parses_then_fails_on(argv, "127.0.0.1:1");
    g_strfreev(argv);
    /* libvirt reads numbers in decimal: a leading zero is not octal. */
    argv = build(SPICE_DOC("", "<smartcard mode='passthrough' type='tcp'><source mode='connect' "
                               "host='127.0.0.1' service='02000'/></smartcard>"),
                 &l);
    has(argv, "-chardev", "socket,id=charsmartcard1,host=127.0.0.1,port=2000,server=off");
    g_strfreev(argv);
    /* ccid-card-emulated fails to initialise on this QEMU: refused so. */
    build_fails(SPICE_DOC("", "<smartcard mode='host'/>"), QV_ERR_UNSUPPORTED,
                "cannot honour <smartcard> (line 1): mode='host': QEMU 7.2's ccid-card-emulated "
                "fails to start here (\"failed to initialize vcard\"");
    build_fails(SPICE_DOC("", "<smartcard mode='host-certificates'><certificate>a</certificate>"
                              "<certificate>b</certificate><certificate>c</certificate>"
                              "<database>/nonexistent/nssdb</database></smartcard>"),
                QV_ERR_UNSUPPORTED, "the NSS database /nonexistent/nssdb does not exist");
    build_fails(SPICE_DOC("", "<smartcard mode='passthrough' type='spicevmc'/>"),
                QV_ERR_UNSUPPORTED, "type='spicevmc' needs <graphics type='spice'>");
    build_fails(HEAD MEM OS_Q35 "<devices><smartcard mode='passthrough' type='spicevmc'/>"
                                "<graphics type='spice'/></devices></domain>",
                QV_ERR_UNSUPPORTED, "it needs a <controller type='usb'>");
}
END_TEST

#define SB_CODE "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
#define SB_VARS "/usr/share/OVMF/OVMF_VARS_4M.ms.fd"
#define SECURE_BOOT(machine, loader_attrs, features, smm)                                          \
    HEAD "<memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type arch='x86_64' machine='" machine   \
         "'>hvm</type>" features "<loader readonly='yes' " loader_attrs " type='pflash'>" SB_CODE  \
         "</loader><nvram template='" SB_VARS "'>@T@/vars.fd</nvram></os><features><acpi/>" smm    \
         "</features></domain>"
#define SB_FEATURES                                                                                \
    "<firmware><feature enabled='yes' name='secure-boot'/><feature enabled='yes' "                 \
    "name='enrolled-keys'/></firmware>"

START_TEST(secure_boot)
{
    if (!g_file_test(SB_CODE, G_FILE_TEST_EXISTS) || !g_file_test(SB_VARS, G_FILE_TEST_EXISTS)) {
        fprintf(stderr, "secure_boot: %s or %s missing (package ovmf): skipped\n", SB_CODE,
                SB_VARS);
        return;
    }
    struct qemu_launch l = launch_for(tmp);
    g_autofree char *vars = g_build_filename(tmp, "vars.fd", NULL);
    g_autofree char *tmpl = NULL;
    gsize len = 0;
    ck_assert(g_file_get_contents(SB_VARS, &tmpl, &len, NULL));
    ck_assert(g_file_set_contents(vars, tmpl, (gssize)len, NULL));
    l.nvram = vars;
    char **argv = build(SECURE_BOOT("q35", "secure='yes'", SB_FEATURES, "<smm state='on'/>"), &l);
    has(argv, "-global", "driver=cfi.pflash01,property=secure,value=on");
    ck_assert_int_eq(count_value(argv, "q35,pflash0=pflash0,pflash1=pflash1,smm=on"), 1);
    /* QEMU starts with the SMM-protected flash (TCG emulates SMM). */
    qemu_accepts(argv);
    g_strfreev(argv);

    build_fails(SECURE_BOOT("q35", "secure='yes'", "", ""), QV_ERR_UNSUPPORTED,
                "cannot honour <os><loader secure='yes'>: it needs <features><smm state='on'/>");
    build_fails(SECURE_BOOT("pc", "secure='yes'", "", "<smm state='on'/>"), QV_ERR_UNSUPPORTED,
                "it needs machine='q35'");
    build_fails(SECURE_BOOT("q35", "secure='no'", SB_FEATURES, "<smm state='on'/>"),
                QV_ERR_UNSUPPORTED,
                "cannot honour <os><firmware><feature> (line 1): enabled='yes' contradicts "
                "<loader secure='no'>");
    build_fails(HEAD MEM "<os><type arch='x86_64' machine='q35'>hvm</type>" SB_FEATURES
                         "</os></domain>",
                QV_ERR_UNSUPPORTED, "qv does not choose firmware by its features");
}
END_TEST

START_TEST(hostdev_interface)
{
    struct qemu_launch l = launch_for(tmp);
    const char *xml = HEAD MEM OS_Q35
        "<devices><interface type='hostdev' managed='yes'><mac address='52:54:00:6d:90:02'/>"
        "<driver name='vfio'/><source><address type='pci' domain='0x0000' bus='0x04' "
        "slot='0x10' function='0x1'/></source><vlan><tag id='42'/></vlan><boot order='2'/>"
        "<rom bar='off'/></interface></devices></domain>";
    char **argv = build(xml, &l);
    has(argv, "-device", "vfio-pci,host=0000:04:10.1,id=hostdevnet0,bootindex=2,rombar=0");
    /* No such device here: QEMU parses it, then fails on the host device. */
    qemu_parses_then_fails_on(argv, "0000:04:10.1");
    g_strfreev(argv);
    /* The start names the missing device before binding anything. */
    struct qemu_vm q = {.name = "g1", .dir = tmp};
    g_autoptr(qv_domain) def = parse(xml);
    ck_assert_int_eq(qemu_vfio_prepare(&q, def), QV_ERR_NOT_FOUND);
    ck_assert_msg(strstr(qv_last_error()->message,
                         "cannot start VM 'g1': <interface type='hostdev'>: the host has no PCI "
                         "device 0000:04:10.1"),
                  "%s", qv_last_error()->message);
    build_fails(HEAD MEM OS_Q35 "<devices><interface type='hostdev'><source><address type='pci' "
                                "domain='0x0000' bus='0x04' slot='0x10' function='0x1'/></source>"
                                "<virtualport type='802.1Qbh'/></interface></devices></domain>",
                QV_ERR_UNSUPPORTED,
                "<devices><interface><virtualport> (line 1): this element is "
                "not passed on");
    build_fails(HEAD MEM OS_Q35 "<devices><interface type='hostdev'><source><address type='pci' "
                                "domain='0x0000' bus='0x04' slot='0x10' function='0x1'/></source>"
                                "<vlan trunk='yes'><tag id='42'/><tag id='43'/></vlan></interface>"
                                "</devices></domain>",
                QV_ERR_UNSUPPORTED, "no trunk");
}
END_TEST

int main(void)
{
    TCase *tc = tcase_create("hostside");
    tcase_add_test(tc, virtiofs);
    tcase_add_test(tc, spice);
    tcase_add_test(tc, smartcard);
    tcase_add_test(tc, secure_boot);
    tcase_add_test(tc, hostdev_interface);
    return run(tc);
}
