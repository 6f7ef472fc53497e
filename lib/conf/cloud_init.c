/* Cloud-init documents in a definition (<metadata><qv:cloud-init>, JSON
 * "cloud_init", vm_set_cloud_init). qv passes user-data and network-config
 * through untouched: they are the guest's business, and qv has no YAML
 * parser to judge them by. meta-data is the exception: qv owns its
 * instance-id, so that a clone (new UUID) is a new instance to cloud-init
 * and runs its first-boot modules again. */
#include <string.h>

#include "../util/error.h"
#include "conf_check.h"
#include "domain.h"
#include "qv/vm.h"

struct qv_cloud_init *qv_cloud_init_copy(const struct qv_cloud_init *s)
{
    struct qv_cloud_init *d = g_new0(struct qv_cloud_init, 1);
    d->user_data = g_strdup(s->user_data);
    d->meta_data = g_strdup(s->meta_data);
    d->network_config = g_strdup(s->network_config);
    return d;
}

void qv_cloud_init_free(struct qv_cloud_init *ci)
{
    if (!ci)
        return;
    g_free(ci->user_data);
    g_free(ci->meta_data);
    g_free(ci->network_config);
    g_free(ci);
}

/* A line of meta-data that starts with key (at column 0, so a key of the
 * top-level mapping). */
static bool has_top_key(const char *doc, const char *key)
{
    size_t n = strlen(key);
    for (const char *l = doc; l; l = strchr(l, '\n')) {
        if (*l == '\n')
            l++;
        if (strncmp(l, key, n) == 0 && (l[n] == ':' || l[n] == ' '))
            return true;
    }
    return false;
}

/* qv writes its keys in front of the user's, which is right only for a
 * block mapping in one document. */
static const char *meta_data_shape(const char *doc)
{
    if (has_top_key(doc, "instance-id") || has_top_key(doc, "\"instance-id\"") ||
        has_top_key(doc, "'instance-id'"))
        return "sets instance-id; qv sets it to the VM's UUID (so a clone is a new instance): "
               "leave it out";
    for (const char *l = doc; l; l = strchr(l, '\n')) {
        if (*l == '\n')
            l++;
        if (g_str_has_prefix(l, "---") || *l == '%')
            return "has a YAML document marker or directive; write one block mapping "
                   "(key: value lines)";
    }
    const char *p = doc;
    while (*p) {
        p += strspn(p, " \t\r\n");
        if (*p != '#')
            break;
        p += strcspn(p, "\n");
    }
    if (*p == '{' || *p == '[')
        return "is flow-style YAML or JSON; write it as a block mapping (key: value lines), "
               "which qv can add instance-id to";
    if (*p == ' ' || *p == '\t')
        return "does not start at column 0; write a block mapping (key: value lines)";
    return NULL;
}

static int check_doc(const char *doc, const char *what, bool required, const char *vm)
{
    if (!doc) {
        if (required)
            return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': cloud-init needs a %s document",
                                vm, what);
        return 0;
    }
    size_t len = strnlen(doc, QV_CLOUD_INIT_MAX_BYTES + 1);
    if (len > QV_CLOUD_INIT_MAX_BYTES)
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "VM '%s': cloud-init %s is larger than %u bytes", vm, what,
                            QV_CLOUD_INIT_MAX_BYTES);
    const char *why = qv_conf_check_text(doc);
    if (!why && doc[strspn(doc, " \t\r\n")] == '\0')
        why = "is empty";
    if (why)
        return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': cloud-init %s %s", vm, what, why);
    return 0;
}

int qv_conf_check_cloud_init(const struct qv_cloud_init *ci, const char *vm)
{
    if (!ci)
        return 0;
    int rc = check_doc(ci->user_data, "user-data", true, vm);
    if (rc == 0)
        rc = check_doc(ci->meta_data, "meta-data", false, vm);
    if (rc == 0)
        rc = check_doc(ci->network_config, "network-config", false, vm);
    const char *why = rc == 0 && ci->meta_data ? meta_data_shape(ci->meta_data) : NULL;
    if (why)
        return qv_error_set(QV_ERR_INVALID_ARG, "VM '%s': cloud-init meta-data %s", vm, why);
    return rc;
}

char *qv_conf_cloud_init_meta_data(const struct qv_domain *def)
{
    const char *user = def->cloud_init ? def->cloud_init->meta_data : NULL;
    GString *s = g_string_new(NULL);
    g_string_append_printf(s, "instance-id: %s\n", def->uuid);
    if (!user || !has_top_key(user, "local-hostname"))
        g_string_append_printf(s, "local-hostname: %s\n", def->name);
    if (user) {
        g_string_append(s, user);
        if (s->str[s->len - 1] != '\n')
            g_string_append_c(s, '\n');
    }
    return g_string_free(s, FALSE);
}
