/* swtpm for <tpm><backend type='emulator'>: started before QEMU at every
 * start, on a control socket in the VM's directory, with the TPM's state
 * in DIR/tpm (0700, files 0600) so it persists across starts and goes with
 * the VM. swtpm runs with --terminate: it exits when QEMU, its one client,
 * closes the connection, so it stops with the VM whichever way QEMU ends.
 * A start that fails after swtpm runs kills it (qemu_tpm_stop). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../lib/conf/xml_util.h"
#include "../../lib/proc/proc.h"
#include "../../lib/util/error.h"
#include "qemu_vm.h"

#define SWTPM_START_TIMEOUT_MS 10000

/* 1 with *tpm2 when def has an emulator TPM, 0 when it has none. */
static int emulator_tpm(const struct qv_domain *def, bool *tpm2)
{
    for (guint i = 0; i < def->kept->len; i++) {
        const struct qv_kept *k = g_ptr_array_index(def->kept, i);
        if (strcmp(k->name, "tpm") != 0 || strcmp(k->parent, "devices") != 0)
            continue;
        xmlDoc *doc = qv_conf_xml_read(k->xml, "kept XML");
        if (!doc)
            return qv_error_code();
        int found = 0;
        const xmlNode *n = xmlDocGetRootElement(doc);
        for (const xmlNode *b = n->children; b; b = b->next) {
            if (b->type != XML_ELEMENT_NODE || !xmlStrEqual(b->name, (const xmlChar *)"backend"))
                continue;
            g_autofree char *type = qv_conf_xml_attr(b, "type");
            g_autofree char *version = qv_conf_xml_attr(b, "version");
            g_autofree char *model = qv_conf_xml_attr(n, "model");
            if (type && strcmp(type, "emulator") == 0) {
                /* The same default as the argv (qemu_argv_tpm.c). */
                *tpm2 = version ? strcmp(version, "2.0") == 0
                                : g_strcmp0(model, "tpm-crb") == 0;
                found = 1;
            }
        }
        xmlFreeDoc(doc);
        return found;
    }
    return 0;
}

/* The swtpm a pidfile in dir names, if it is still that swtpm. */
static int swtpm_process(const char *dir, struct proc_identity *id)
{
    g_autofree char *pidfile = g_build_filename(dir, "swtpm.pid", NULL);
    g_autofree char *sock = g_build_filename(dir, QEMU_TPM_SOCKET, NULL);
    pid_t pid;
    memset(id, 0, sizeof(*id));
    if (proc_pidfile_read(pidfile, &pid) < 0 || proc_identity_read(pid, id) < 0) {
        qv_reset_error();
        return -1;
    }
    /* A recycled pid is some other program's: only an swtpm on this VM's
     * socket is this VM's. */
    if (!strstr(id->cmdline, "swtpm") || !strstr(id->cmdline, sock)) {
        proc_identity_clear(id);
        return -1;
    }
    return 0;
}

void qemu_tpm_stop(struct qemu_vm *q)
{
    struct proc_identity id;
    if (swtpm_process(q->dir, &id) == 0) {
        proc_kill(&id, SIGTERM);
        if (proc_wait_gone(&id, 5000) < 0) {
            qv_reset_error();
            proc_kill(&id, SIGKILL);
            proc_wait_gone(&id, 5000);
            qv_reset_error();
        }
        proc_identity_clear(&id);
    }
    g_autofree char *pidfile = g_build_filename(q->dir, "swtpm.pid", NULL);
    unlink(pidfile);
}

/* DIR/tpm as a private directory, never through a symlink. */
static int state_dir(const char *dir, char **out)
{
    g_autofree char *path = g_build_filename(dir, "tpm", NULL);
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return qv_error_set_errno(QV_ERR_IO, errno, "cannot create the TPM state directory %s",
                                  path);
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return qv_error_set_errno(QV_ERR_IO, errno, "cannot open the TPM state directory %s",
                                  path);
    int rc = fchmod(fd, 0700);
    close(fd);
    if (rc < 0)
        return qv_error_set_errno(QV_ERR_IO, errno, "cannot make %s private", path);
    *out = g_steal_pointer(&path);
    return 0;
}

int qemu_tpm_start(struct qemu_vm *q, const struct qv_domain *def)
{
    bool tpm2 = false;
    int rc = emulator_tpm(def, &tpm2);
    if (rc <= 0)
        return rc;
    /* swtpm's options are comma-separated with no escape. */
    if (strchr(q->dir, ','))
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "VM '%s': swtpm cannot be given a state directory whose path has a "
                            "comma (%s)",
                            q->name, q->dir);
    qemu_tpm_stop(q); /* one a killed start left */
    g_autofree char *tpmdir = NULL;
    if ((rc = state_dir(q->dir, &tpmdir)) < 0)
        return rc;
    g_autofree char *sock = g_build_filename(q->dir, QEMU_TPM_SOCKET, NULL);
    g_autofree char *pidfile = g_build_filename(q->dir, "swtpm.pid", NULL);
    g_autofree char *log = g_build_filename(q->dir, "swtpm.log", NULL);
    unlink(sock);
    g_autofree char *state = g_strdup_printf("dir=%s,mode=0600", tpmdir);
    g_autofree char *ctrl = g_strdup_printf("type=unixio,path=%s,mode=0600", sock);
    g_autofree char *pid = g_strdup_printf("file=%s", pidfile);
    g_autofree char *logopt = g_strdup_printf("file=%s", log);
    char *argv[] = {"swtpm", "socket", "--tpmstate", state, "--ctrl", ctrl, "--pid", pid, "--log",
                    logopt, "--terminate", "--daemon", tpm2 ? "--tpm2" : NULL, NULL};
    proc_log(q->dir, "starting swtpm (TPM %s)", tpm2 ? "2.0" : "1.2");
    pid_t child;
    if ((rc = proc_spawn(argv, log, &child)) < 0)
        return rc;
    /* With --daemon the process we ran exits once swtpm listens. */
    int status = 0;
    rc = proc_child_wait(child, SWTPM_START_TIMEOUT_MS, &status);
    if (rc < 0) {
        kill(child, SIGKILL);
        proc_child_wait(child, 5000, &status);
    }
    struct stat sb;
    if (rc < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || lstat(sock, &sb) < 0 ||
        !S_ISSOCK(sb.st_mode)) {
        g_autofree char *text = NULL;
        g_file_get_contents(log, &text, NULL, NULL);
        qemu_tpm_stop(q);
        return qv_error_set(QV_ERR_BACKEND, "swtpm could not start for VM '%s': %s", q->name,
                            text && *g_strstrip(text) ? text : "(it printed nothing)");
    }
    return 0;
}

int qemu_tpm_check(struct qemu_vm *q, const struct qv_domain *def)
{
    bool tpm2;
    int rc = emulator_tpm(def, &tpm2);
    if (rc <= 0) {
        qv_reset_error();
        return 0;
    }
    struct proc_identity id;
    if (swtpm_process(q->dir, &id) == 0) {
        proc_identity_clear(&id);
        return 0;
    }
    return qv_error_set(QV_ERR_BACKEND,
                        "VM '%s': its TPM emulator (swtpm) is no longer running; the guest's "
                        "TPM fails until the VM is restarted (see %s/swtpm.log)",
                        q->name, q->dir);
}
