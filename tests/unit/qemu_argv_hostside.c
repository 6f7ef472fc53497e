/* The qemu driver's arguments for devices backed by something beside QEMU
 * (virtiofsd, ...): golden argv, real QEMU started with them where this
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

int main(void)
{
    TCase *tc = tcase_create("hostside");
    tcase_add_test(tc, virtiofs);
    return run(tc);
}
