/* <tpm model='tpm-tis|tpm-crb'> as QEMU 7.2 arguments. Its backend is
 * swtpm started with the VM (type='emulator', qemu_tpm.c), the host's TPM
 * (type='passthrough'), or a TPM emulator someone else runs (type=
 * 'external', a unix socket). What needs libvirt's own machinery (secrets
 * for encrypted state, state kept after the VM is deleted, swtpm_setup's
 * PCR bank choice) is refused, naming it. */
#include <string.h>

#include "../../lib/util/error.h"
#include "qemu_argv.h"

static int refuse_attrs(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n,
                        const char *const *known)
{
    for (const xmlAttr *a = n->properties; a; a = a->next)
        if (a->ns || !g_strv_contains(known, (const char *)a->name))
            return qemu_kept_refuse(v, k, "<%s %s=> is not passed on to QEMU", n->name, a->name);
    return 0;
}

static int emulator(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *b,
                    const char *model)
{
    static const char *const attrs[] = {"type", "version", "persistent_state", NULL};
    static const char *const none[] = {NULL};
    int rc = refuse_attrs(v, k, b, attrs);
    if (rc < 0)
        return rc;
    const char *extra = qemu_xml_other_child(b, none);
    if (extra)
        return qemu_kept_refuse(v, k,
                                "<backend type='emulator'><%s> needs libvirt's own setup "
                                "(secrets, swtpm_setup); qv runs swtpm with its defaults",
                                extra);
    if (qemu_xml_prop_is(b, "persistent_state", "yes"))
        return qemu_kept_refuse(v, k, "persistent_state='yes': the TPM's state is part of the VM "
                                      "and goes when it is deleted");
    g_autofree char *version = qemu_xml_prop(b, "version");
    /* libvirt's default: 2.0 for tpm-crb (a TPM 2.0 interface), else 1.2. */
    if (!version)
        version = g_strdup(strcmp(model, "tpm-crb") == 0 ? "2.0" : "1.2");
    if (strcmp(version, "2.0") != 0 && strcmp(version, "1.2") != 0)
        return qemu_kept_refuse(v, k, "version='%s': swtpm emulates TPM 1.2 and 2.0", version);
    if (strcmp(model, "tpm-crb") == 0 && strcmp(version, "2.0") != 0)
        return qemu_kept_refuse(v, k, "model='tpm-crb' is a TPM 2.0 interface: version='1.2' "
                                      "cannot use it");
    g_autofree char *swtpm = g_find_program_in_path("swtpm");
    if (!swtpm)
        return qemu_kept_refuse(v, k, "type='emulator' needs swtpm, which is not installed "
                                      "(Debian package swtpm)");
    g_autofree char *dir = qemu_opt_escape(v->l->dir);
    qemu_argv_add(v, "-chardev");
    qemu_argv_addf(v, "socket,id=chrtpm,path=%s/" QEMU_TPM_SOCKET, dir);
    qemu_argv_add2(v, "-tpmdev", "emulator,id=tpm0,chardev=chrtpm");
    return 0;
}

static int passthrough(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *b)
{
    static const char *const attrs[] = {"type", NULL};
    static const char *const children[] = {"device", NULL};
    int rc = refuse_attrs(v, k, b, attrs);
    if (rc < 0)
        return rc;
    const char *extra = qemu_xml_other_child(b, children);
    if (extra)
        return qemu_kept_refuse(v, k, "<backend type='passthrough'><%s> is not passed on", extra);
    const xmlNode *d = qemu_xml_child(b, "device");
    g_autofree char *path = d ? qemu_xml_prop(d, "path") : g_strdup("/dev/tpm0");
    if (!path || path[0] != '/')
        return qemu_kept_refuse(v, k, "<device path=> must be an absolute path");
    g_autofree char *esc = qemu_opt_escape(path);
    qemu_argv_add(v, "-tpmdev");
    qemu_argv_addf(v, "passthrough,id=tpm0,path=%s", esc);
    return 0;
}

static int external(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *b)
{
    static const char *const attrs[] = {"type", NULL};
    static const char *const children[] = {"source", NULL};
    int rc = refuse_attrs(v, k, b, attrs);
    if (rc < 0)
        return rc;
    const xmlNode *s = qemu_xml_child(b, "source");
    if (qemu_xml_other_child(b, children) || !s || !qemu_xml_prop_is(s, "type", "unix"))
        return qemu_kept_refuse(v, k, "type='external' needs a <source type='unix' path=>");
    g_autofree char *mode = qemu_xml_prop(s, "mode");
    if (mode && strcmp(mode, "connect") != 0)
        return qemu_kept_refuse(v, k, "<source mode='%s'>: QEMU connects to the emulator", mode);
    g_autofree char *path = qemu_xml_prop(s, "path");
    if (!path || path[0] != '/')
        return qemu_kept_refuse(v, k, "<source path=> must be an absolute path");
    g_autofree char *esc = qemu_opt_escape(path);
    qemu_argv_add(v, "-chardev");
    qemu_argv_addf(v, "socket,id=chrtpm,path=%s", esc);
    qemu_argv_add2(v, "-tpmdev", "emulator,id=tpm0,chardev=chrtpm");
    return 0;
}

int qemu_kept_tpm(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    static const char *const attrs[] = {"model", NULL};
    static const char *const children[] = {"backend", "alias", NULL};
    int rc = refuse_attrs(v, k, n, attrs);
    if (rc < 0)
        return rc;
    const char *extra = qemu_xml_other_child(n, children);
    if (extra)
        return qemu_kept_refuse(v, k, "<%s> is not passed on to QEMU", extra);
    if (v->tpm)
        return qemu_kept_refuse(v, k, "a second <tpm>: a VM has one");
    g_autofree char *model = qemu_xml_prop(n, "model");
    if (!model)
        model = g_strdup("tpm-tis"); /* libvirt's default on x86 */
    if (strcmp(model, "tpm-tis") != 0 && strcmp(model, "tpm-crb") != 0)
        return qemu_kept_refuse(v, k, "model='%s': QEMU's x86 TPMs are tpm-tis and tpm-crb",
                                model);
    const xmlNode *b = qemu_xml_child(n, "backend");
    g_autofree char *type = b ? qemu_xml_prop(b, "type") : NULL;
    if (!type)
        return qemu_kept_refuse(v, k, "it needs a <backend type=>");
    if (strcmp(type, "emulator") == 0)
        rc = emulator(v, k, b, model);
    else if (strcmp(type, "passthrough") == 0)
        rc = passthrough(v, k, b);
    else if (strcmp(type, "external") == 0)
        rc = external(v, k, b);
    else
        rc = qemu_kept_refuse(v, k, "<backend type='%s'> is not one QEMU has", type);
    if (rc < 0)
        return rc;
    v->tpm = true;
    qemu_argv_add(v, "-device");
    qemu_argv_addf(v, "%s,tpmdev=tpm0,id=tpm0", model);
    return 0;
}
