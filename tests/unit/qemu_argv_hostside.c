/* The qemu driver's arguments for devices backed by something beside QEMU
 * (virtiofsd, a SPICE client, ...): golden argv, real QEMU started with them where this
 * host has the backend, and what QEMU 7.2 cannot do refused naming the
 * element, its line and the attribute. */
#include <check.h>
#include <signal.h>
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

int main(void)
{
    TCase *tc = tcase_create("hostside");
    tcase_add_test(tc, virtiofs);
    tcase_add_test(tc, spice);
    return run(tc);
}
