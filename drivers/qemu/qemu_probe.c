/* Whether QEMU runs guest code with a given accelerator and CPU model on
 * this host. Not knowable from /dev/kvm alone: QEMU 7.2 with -cpu host
 * aborts on some KVM hosts (it cannot set an MSR the host CPU advertises)
 * while its default model runs. So the probe starts the real binary with
 * exactly that accelerator and model on a 64 KiB BIOS that only writes to
 * isa-debug-exit, and caches the verdict per boot and per binary. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../lib/proc/proc.h"
#include "../../lib/util/error.h"
#include "../../lib/util/fileio.h"
#include "../../lib/util/json.h"
#include "qemu_argv.h"

#define PROBE_TIMEOUT_MS 30000
#define PROBE_EXIT_VALUE 0x31 /* QEMU exits with (value << 1) | 1 */
#define PROBE_REASON_MAX 400

/* Reset vector at 0xffff0 of a 64 KiB BIOS: mov al, value; out 0xf4, al;
 * then hlt forever should the device be missing. */
static GBytes *probe_bios(void)
{
    guint8 *rom = g_malloc(65536);
    memset(rom, 0xf4, 65536);
    const guint8 code[] = {0xb0, PROBE_EXIT_VALUE, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd};
    memcpy(rom + 0xfff0, code, sizeof(code));
    return g_bytes_new_take(rom, 65536);
}

/* Boot, binary (resolved path, inode, size, mtime), accelerator and model:
 * any change makes another key. NULL when the binary cannot be found. */
static char *cache_key(const char *emulator, const char *accel, const char *cpu)
{
    g_autofree char *path = g_find_program_in_path(emulator);
    struct stat sb;
    if (!path || stat(path, &sb) != 0)
        return NULL;
    g_autofree char *boot = NULL;
    if (!g_file_get_contents("/proc/sys/kernel/random/boot_id", &boot, NULL, NULL))
        return NULL;
    g_strstrip(boot);
    g_autofree char *id =
        g_strdup_printf("%s\n%s\n%ju:%ju:%jd:%jd.%09ld\n%s\n%s", boot, path, (uintmax_t)sb.st_dev,
                        (uintmax_t)sb.st_ino, (intmax_t)sb.st_size, (intmax_t)sb.st_mtim.tv_sec,
                        sb.st_mtim.tv_nsec, accel, cpu ? cpu : "");
    return g_compute_checksum_for_string(G_CHECKSUM_SHA256, id, -1);
}

static int cache_read(const char *file, char **reason)
{
    g_autoptr(JsonNode) root = qv_json_load_file(file);
    if (!root) {
        qv_reset_error(); /* no usable cache entry: probe again */
        return -1;
    }
    JsonObject *o = root && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
    if (!o || !json_object_has_member(o, "usable"))
        return -1;
    bool usable = json_object_get_boolean_member(o, "usable");
    const char *why = qv_json_str(o, "reason");
    if (!usable && reason)
        *reason = g_strdup(why && *why ? why : "QEMU failed without a message");
    return usable ? 1 : 0;
}

static void cache_write(const char *file, int usable, const char *reason)
{
    g_autofree char *dir = g_path_get_dirname(file);
    if (qv_dir_ensure(dir, 0700) < 0) {
        qv_reset_error();
        return;
    }
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "usable");
    json_builder_add_boolean_value(b, usable == 1);
    json_builder_set_member_name(b, "reason");
    json_builder_add_string_value(b, usable == 1 ? "" : reason);
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autofree char *text = json_to_string(root, FALSE);
    if (qv_file_write_atomic(file, text, strlen(text), 0600) < 0)
        qv_reset_error();
}

/* QEMU's own words, one line, bounded: what a person needs to see. */
static char *first_lines(const char *log)
{
    g_autofree char *text = NULL;
    gsize len = 0;
    if (!g_file_get_contents(log, &text, &len, NULL) || len == 0)
        return NULL;
    GString *out = g_string_new(NULL);
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l && out->len < PROBE_REASON_MAX; l++) {
        g_strstrip(*l);
        if (!**l)
            continue;
        if (out->len)
            g_string_append(out, "; ");
        g_string_append(out, *l);
    }
    if (out->len > PROBE_REASON_MAX) {
        g_string_truncate(out, PROBE_REASON_MAX);
        g_string_append(out, "...");
    }
    for (gsize i = 0; i < out->len; i++)
        if ((guchar)out->str[i] < 0x20)
            out->str[i] = ' ';
    return g_string_free(out, out->len == 0);
}

/* Run QEMU once: 1 usable, 0 not (reason set), negative when QEMU could
 * not even be run (the error is set). */
static int probe_run(const char *emulator, const char *accel, const char *cpu, char **reason)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *tmp = g_dir_make_tmp("qv-qemu-probe-XXXXXX", &err);
    if (!tmp)
        return qv_error_set(QV_ERR_IO, "cannot make a directory for the QEMU probe: %s",
                            err->message);
    g_autofree char *bios = g_build_filename(tmp, "probe.rom", NULL);
    g_autofree char *log = g_build_filename(tmp, "qemu.log", NULL);
    g_autoptr(GBytes) rom = probe_bios();
    gsize len = 0;
    const void *data = g_bytes_get_data(rom, &len);
    int rc = qv_file_write_atomic(bios, data, len, 0600);
    if (rc < 0) {
        qv_dir_remove_tree(tmp);
        return rc;
    }
    GPtrArray *a = g_ptr_array_new();
    const char *fixed[] = {emulator,
                           "-nodefaults",
                           "-no-user-config",
                           "-display",
                           "none",
                           "-machine",
                           "pc",
                           "-accel",
                           accel,
                           "-bios",
                           bios,
                           "-device",
                           "isa-debug-exit,iobase=0xf4,iosize=0x04"};
    for (size_t i = 0; i < G_N_ELEMENTS(fixed); i++)
        g_ptr_array_add(a, (gpointer)fixed[i]);
    if (cpu) {
        g_ptr_array_add(a, (gpointer) "-cpu");
        g_ptr_array_add(a, (gpointer)cpu);
    }
    g_ptr_array_add(a, NULL);
    pid_t pid;
    rc = proc_spawn((char *const *)a->pdata, log, &pid);
    g_ptr_array_free(a, TRUE);
    if (rc < 0) {
        qv_dir_remove_tree(tmp);
        return rc;
    }
    int status = 0;
    rc = proc_child_wait(pid, PROBE_TIMEOUT_MS, &status);
    if (rc < 0) {
        kill(pid, SIGKILL);
        proc_child_wait(pid, 5000, &status);
        qv_reset_error();
    }
    g_autofree char *said = first_lines(log);
    qv_dir_remove_tree(tmp);
    if (rc == 0 && WIFEXITED(status) && WEXITSTATUS(status) == ((PROBE_EXIT_VALUE << 1) | 1))
        return 1;
    if (rc < 0)
        *reason = g_strdup_printf("QEMU did not run a trivial guest within %d s%s%s",
                                  PROBE_TIMEOUT_MS / 1000, said ? ": " : "", said ? said : "");
    else if (WIFSIGNALED(status))
        *reason = g_strdup_printf("QEMU was killed by signal %d (%s)%s%s", WTERMSIG(status),
                                  strsignal(WTERMSIG(status)), said ? ": " : "", said ? said : "");
    else
        *reason = g_strdup_printf("QEMU exited with status %d: %s", WEXITSTATUS(status),
                                  said ? said : "(it printed nothing)");
    return 0;
}

/* What stops KVM before QEMU is asked: nothing to probe, nothing to cache
 * (the module may be loaded or the group granted later). */
static char *kvm_device_problem(void)
{
    const char *dev = "/dev/kvm";
    if (access(dev, F_OK) != 0)
        return g_strdup_printf("%s missing", dev);
    int fd = open(dev, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return g_strdup_printf("%s not accessible: %s", dev, g_strerror(errno));
    close(fd);
    return NULL;
}

int qemu_probe(const char *emulator, const char *accel, const char *cpu, char **reason)
{
    *reason = NULL;
    if (!emulator || !*emulator)
        emulator = QEMU_DEFAULT_BINARY;
    if (!accel || !qemu_plain_word(accel) || (cpu && !qemu_plain_word(cpu)))
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "QEMU probe: accelerator '%s' or CPU model '%s' "
                            "is not a plain name",
                            accel ? accel : "", cpu ? cpu : "");
    if (strcmp(accel, "kvm") == 0) {
        *reason = kvm_device_problem();
        if (*reason)
            return 0;
    }
    g_autofree char *key = cache_key(emulator, accel, cpu);
    if (!key)
        return qv_error_set(QV_ERR_NOT_FOUND, "QEMU probe: cannot find '%s' (or this boot's id)",
                            emulator);
    /* Per user, on a tmpfs where there is one: a reboot (new kernel, new
     * microcode, KVM module options) probes again. */
    g_autofree char *dir = proc_runtime_base();
    g_autofree char *name = g_strdup_printf("qemu-probe-%s.json", key);
    g_autofree char *file = g_build_filename(dir, name, NULL);
    int rc = cache_read(file, reason);
    if (rc >= 0)
        return rc;
    rc = probe_run(emulator, accel, cpu, reason);
    if (rc >= 0)
        cache_write(file, rc, *reason);
    return rc;
}

int qv_qemu_probe(const char *emulator, const char *accel, const char *cpu_model, char **reason)
{
    qv_reset_error();
    if (!reason)
        return qv_error_set(QV_ERR_INVALID_ARG, "qv_qemu_probe: reason is NULL");
    return qemu_probe(emulator, accel, cpu_model, reason);
}
