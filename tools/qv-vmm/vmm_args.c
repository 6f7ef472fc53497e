/* qv-vmm's command line and its state directory. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm.h"

static const char usage[] =
    "Usage: qv-vmm --dir STATE_DIR [--uri URI] [--definition FILE] [--checked]\n"
    "              [--paused] [--restore TAG]\n"
    "\n"
    "Host one VM in this process and serve QMP for it, as QEMU does, on\n"
    "STATE_DIR/qmp.sock (one client at a time; a second one waits until the\n"
    "first disconnects). STATE_DIR must exist, belong to you and be closed to\n"
    "others (mode 0700); it holds domain.xml, the VM's libvirt definition.\n"
    "The guest's console goes to STATE_DIR/console.log and, both ways, to\n"
    "STATE_DIR/console.sock. qv-vmm runs until QMP 'quit', SIGTERM, or the\n"
    "guest stops; the guest lives exactly as long as the process (the\n"
    "driver's snapshots of it stay, for the next qv-vmm and --restore).\n"
    "\n"
    "Options:\n"
    "  --dir STATE_DIR  the VM's state directory (required)\n"
    "  --uri URI        the in-process libqv driver that hosts the VM\n"
    "                   (default kvm:///embed; noop:/// hosts a test VM\n"
    "                   without /dev/kvm)\n"
    "  --definition FILE  read the definition from STATE_DIR/FILE instead of\n"
    "                   domain.xml (a plain file name: kvm:///session gives\n"
    "                   the part of its definition the VMM itself carries out)\n"
    "  --checked        the definition was written by libqv from one already\n"
    "                   checked against libvirt's schema (kvm:///session's):\n"
    "                   that check is not made again; qv's own still are\n"
    "  --paused         define the VM but do not start it: QMP query-status\n"
    "                   says 'prelaunch' until 'cont' (QEMU's -S)\n"
    "  --restore TAG    instead of booting, resume the guest from the hosted\n"
    "                   driver's snapshot TAG, running or paused as it was\n"
    "                   captured (QEMU's -loadvm); with --paused, at 'cont'\n"
    "  -h, --help       print this help and exit\n"
    "  --version        print the version and exit\n"
    "\n"
    "Exit status: 0 after quit, SIGTERM or a guest power-off; 1 when the VM\n"
    "could not be defined or started; 2 for bad arguments or state directory;\n"
    "3 when the VM crashed or its driver failed.\n";

/* "--opt VALUE" or "--opt=VALUE"; *i is advanced past what was used. */
static int take_value(int argc, char **argv, int *i, const char *opt, char **out)
{
    const char *a = argv[*i];
    size_t n = strlen(opt);
    const char *val = NULL;
    if (a[n] == '=') {
        val = a + n + 1;
    } else if (*i + 1 < argc) {
        val = argv[++*i];
    } else {
        fprintf(stderr, "qv-vmm: %s needs a value\n", opt);
        return -1;
    }
    if (!*val) {
        fprintf(stderr, "qv-vmm: %s needs a non-empty value\n", opt);
        return -1;
    }
    if (*out) {
        fprintf(stderr, "qv-vmm: %s given twice\n", opt);
        return -1;
    }
    *out = g_strdup(val);
    return 0;
}

static bool is_opt(const char *a, const char *opt)
{
    size_t n = strlen(opt);
    return strncmp(a, opt, n) == 0 && (a[n] == '\0' || a[n] == '=');
}

int vmm_args_parse(struct vmm *v, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return 1;
        }
        if (strcmp(a, "--version") == 0) {
            printf("qv-vmm (libqv) %s\n", qv_version());
            return 1;
        }
        if (strcmp(a, "--paused") == 0) {
            v->paused = true;
        } else if (strcmp(a, "--checked") == 0) {
            v->checked = true;
        } else if (is_opt(a, "--dir")) {
            if (take_value(argc, argv, &i, "--dir", &v->dir) < 0)
                return -1;
        } else if (is_opt(a, "--definition")) {
            if (take_value(argc, argv, &i, "--definition", &v->def_name) < 0)
                return -1;
            /* A name in STATE_DIR, opened below it with O_NOFOLLOW: no
             * path leads elsewhere. */
            if (strchr(v->def_name, '/') || strcmp(v->def_name, ".") == 0 ||
                strcmp(v->def_name, "..") == 0) {
                fprintf(stderr,
                        "qv-vmm: --definition '%s' must be a file name in STATE_DIR, not a "
                        "path\n",
                        v->def_name);
                return -1;
            }
        } else if (is_opt(a, "--restore")) {
            if (take_value(argc, argv, &i, "--restore", &v->restore) < 0)
                return -1;
        } else if (is_opt(a, "--uri")) {
            if (take_value(argc, argv, &i, "--uri", &v->uri) < 0)
                return -1;
        } else {
            fprintf(stderr, "qv-vmm: unknown argument '%s' (see qv-vmm --help)\n", a);
            return -1;
        }
    }
    if (!v->dir) {
        fprintf(stderr, "qv-vmm: --dir STATE_DIR is required (see qv-vmm --help)\n");
        return -1;
    }
    if (!v->uri)
        v->uri = g_strdup("kvm:///embed");
    if (!v->def_name)
        v->def_name = g_strdup("domain.xml");
    return 0;
}

int vmm_state_dir_open(struct vmm *v)
{
    /* O_NOFOLLOW: a symlink planted at STATE_DIR would send the sockets
     * and the log elsewhere. */
    int fd = open(v->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            fprintf(stderr, "qv-vmm: state directory '%s' does not exist\n", v->dir);
        else if (e == ELOOP || e == ENOTDIR)
            fprintf(stderr, "qv-vmm: state directory '%s' is not a directory (or is a symlink)\n",
                    v->dir);
        else
            fprintf(stderr, "qv-vmm: cannot open state directory '%s': %s\n", v->dir,
                    g_strerror(e));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        fprintf(stderr, "qv-vmm: cannot stat state directory '%s': %s\n", v->dir,
                g_strerror(errno));
        close(fd);
        return -1;
    }
    if (st.st_uid != geteuid()) {
        fprintf(stderr, "qv-vmm: state directory '%s' belongs to uid %u, not to you (uid %u)\n",
                v->dir, (unsigned)st.st_uid, (unsigned)geteuid());
        close(fd);
        return -1;
    }
    if (st.st_mode & 077) {
        fprintf(stderr,
                "qv-vmm: state directory '%s' has mode %04o: others may reach the VM's sockets; "
                "make it 0700\n",
                v->dir, (unsigned)(st.st_mode & 07777));
        close(fd);
        return -1;
    }
    v->dir_fd = fd;
    return 0;
}

char *vmm_read_definition(struct vmm *v)
{
    /* O_NONBLOCK: a FIFO planted there must not hang the open (while we
     * hold the directory's lock); it is refused below as not a regular
     * file, and for a regular file the flag changes nothing. */
    int fd =
        openat(v->dir_fd, v->def_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            fprintf(stderr,
                    "qv-vmm: %s/%s does not exist: it must hold the VM's libvirt "
                    "domain XML\n",
                    v->dir, v->def_name);
        else
            fprintf(stderr, "qv-vmm: cannot open %s/%s: %s\n", v->dir, v->def_name,
                    e == ELOOP ? "it is a symlink" : g_strerror(e));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        fprintf(stderr, "qv-vmm: %s/%s is not a regular file\n", v->dir, v->def_name);
        close(fd);
        return NULL;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK); /* a plain blocking read from here */
    if ((guint64)st.st_size > QV_DEFINITION_MAX_BYTES) {
        fprintf(stderr, "qv-vmm: %s/%s is %lld bytes, over the %u-byte limit\n", v->dir,
                v->def_name, (long long)st.st_size, QV_DEFINITION_MAX_BYTES);
        close(fd);
        return NULL;
    }
    /* Read until EOF with a bound, not st_size bytes: the file may change. */
    GString *s = g_string_sized_new((gsize)st.st_size + 1);
    char buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "qv-vmm: cannot read %s/%s: %s\n", v->dir, v->def_name,
                    g_strerror(errno));
            close(fd);
            g_string_free(s, TRUE);
            return NULL;
        }
        if (n == 0)
            break;
        if (s->len + (size_t)n > QV_DEFINITION_MAX_BYTES) {
            fprintf(stderr, "qv-vmm: %s/%s grew over the %u-byte limit\n", v->dir, v->def_name,
                    QV_DEFINITION_MAX_BYTES);
            close(fd);
            g_string_free(s, TRUE);
            return NULL;
        }
        g_string_append_len(s, buf, n);
    }
    close(fd);
    if (memchr(s->str, '\0', s->len)) {
        fprintf(stderr, "qv-vmm: %s/%s contains a NUL byte\n", v->dir, v->def_name);
        g_string_free(s, TRUE);
        return NULL;
    }
    return g_string_free(s, FALSE);
}
