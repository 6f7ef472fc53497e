/* A board's devices in a snapshot: one section per device, saved in a
 * fixed order and matched back by name, so a snapshot loads only into a
 * board with exactly its devices at the same addresses. */
#include "board_state.h"

#include <string.h>

#include "../../../lib/util/error.h"
#include "../snapshot/snap_buf.h"

/* How long a load waits for a virtio device to give back what it took
 * (a fresh board's devices have nothing in flight). */
#define LOAD_QUIESCE_MS 10000

static int no_transport_state(const struct kvm_board_state_dev *d)
{
    return qv_error_set(QV_ERR_UNSUPPORTED,
                        "device %s (%s): its transport cannot save or load its state", d->name,
                        d->what ? d->what : "virtio");
}

bool kvm_board_is_device_section(const char *name)
{
    const char *at = name ? strchr(name, '@') : NULL;
    if (!at || at == name || strncmp(at + 1, "0x", 2) != 0 || !at[3])
        return false;
    for (const char *p = name; p < at; p++)
        if (!g_ascii_islower(*p) && !g_ascii_isdigit(*p) && *p != '-' && *p != '_')
            return false;
    for (const char *p = at + 3; *p; p++)
        if (!g_ascii_isxdigit(*p) || g_ascii_isupper(*p))
            return false;
    return true;
}

/* Quiesce the virtio devices of devs[0..upto); on a failure, undo. */
static int quiesce(GArray *devs, int timeout_ms)
{
    for (guint i = 0; i < devs->len; i++) {
        const struct kvm_board_state_dev *d = &g_array_index(devs, struct kvm_board_state_dev, i);
        if (!d->t)
            continue;
        int rc = d->t->quiesce ? d->t->quiesce(d->vd, timeout_ms) : no_transport_state(d);
        if (rc < 0) {
            for (guint j = 0; j < i; j++) {
                const struct kvm_board_state_dev *e =
                    &g_array_index(devs, struct kvm_board_state_dev, j);
                if (e->t)
                    e->t->unquiesce(e->vd);
            }
            return rc;
        }
    }
    return 0;
}

static void unquiesce(GArray *devs)
{
    for (guint i = 0; i < devs->len; i++) {
        const struct kvm_board_state_dev *d = &g_array_index(devs, struct kvm_board_state_dev, i);
        if (d->t && d->t->unquiesce)
            d->t->unquiesce(d->vd);
    }
}

int kvm_board_quiesce(struct kvm_board *b, int timeout_ms)
{
    g_autoptr(GArray) devs = kvm_board_state_devs(b);
    return quiesce(devs, timeout_ms);
}

void kvm_board_unquiesce(struct kvm_board *b)
{
    g_autoptr(GArray) devs = kvm_board_state_devs(b);
    unquiesce(devs);
}

GPtrArray *kvm_board_save(struct kvm_board *b)
{
    g_autoptr(GArray) devs = kvm_board_state_devs(b);
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)snap_section_free);
    for (guint i = 0; i < devs->len; i++) {
        const struct kvm_board_state_dev *d = &g_array_index(devs, struct kvm_board_state_dev, i);
        struct snap_out o;
        snap_out_init(&o);
        int rc;
        if (d->t)
            rc = d->t->save ? d->t->save(d->vd, &o) : no_transport_state(d);
        else
            rc = d->save(d->dev, &o);
        if (rc < 0) {
            snap_out_clear(&o);
            g_ptr_array_unref(out);
            return NULL;
        }
        g_ptr_array_add(out, snap_section_new(d->name, d->version, &o));
        snap_out_clear(&o);
    }
    return out;
}

/* The board's device names, for an error: "uart@0x3f8, ...". */
static char *names(GArray *devs)
{
    GString *s = g_string_new(NULL);
    for (guint i = 0; i < devs->len; i++)
        g_string_append_printf(s, "%s%s", i ? ", " : "",
                               g_array_index(devs, struct kvm_board_state_dev, i).name);
    return g_string_free(s, FALSE);
}

/* Pair each device with its section: match[i] for devs[i]. Refuses any
 * difference between the two sets. */
static int match_sections(GArray *devs, struct snap_section *const *sections, size_t n,
                          const struct snap_section **match)
{
    for (size_t k = 0; k < n; k++) {
        const struct snap_section *s = sections[k];
        if (!s || !kvm_board_is_device_section(s->name))
            continue;
        guint i = 0;
        while (i < devs->len &&
               strcmp(g_array_index(devs, struct kvm_board_state_dev, i).name, s->name) != 0)
            i++;
        if (i == devs->len) {
            g_autofree char *have = names(devs);
            return qv_error_set(QV_ERR_INVALID_ARG,
                                "the snapshot holds device %s, which this VM's board does not "
                                "have (it has %s)",
                                s->name, have);
        }
        if (match[i])
            return qv_error_set(QV_ERR_PROTOCOL, "the snapshot holds device %s twice", s->name);
        match[i] = s;
    }
    for (guint i = 0; i < devs->len; i++) {
        const struct kvm_board_state_dev *d = &g_array_index(devs, struct kvm_board_state_dev, i);
        if (!match[i])
            return qv_error_set(QV_ERR_INVALID_ARG,
                                "the snapshot has no state for device %s%s%s%s, which this "
                                "VM's board has",
                                d->name, d->what ? " (" : "", d->what ? d->what : "",
                                d->what ? ")" : "");
        if (match[i]->version != d->version)
            return qv_error_set(QV_ERR_UNSUPPORTED,
                                "snapshot section '%s' is version %u; this libqv reads version "
                                "%u of it",
                                d->name, match[i]->version, d->version);
        if (d->t && !d->t->load)
            return no_transport_state(d);
    }
    return 0;
}

/* Load section s into device d. */
static int load_one(const struct kvm_board_state_dev *d, const char *name, const GByteArray *data)
{
    struct snap_in in;
    static const uint8_t empty[1];
    snap_in_init(&in, name, data ? data->data : empty, data ? data->len : 0);
    return d->t ? d->t->load(d->vd, &in) : d->load(d->dev, &in);
}

/* Each device's state as it was before the load, a section per device in
 * devs order; NULL with the error set. */
static GPtrArray *save_all(GArray *devs)
{
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)snap_section_free);
    for (guint i = 0; i < devs->len; i++) {
        const struct kvm_board_state_dev *d = &g_array_index(devs, struct kvm_board_state_dev, i);
        struct snap_out o;
        snap_out_init(&o);
        int rc = d->t ? d->t->save(d->vd, &o) : d->save(d->dev, &o);
        if (rc < 0) {
            snap_out_clear(&o);
            g_ptr_array_unref(out);
            return NULL;
        }
        g_ptr_array_add(out, snap_section_new(d->name, d->version, &o));
        snap_out_clear(&o);
    }
    return out;
}

int kvm_board_load(struct kvm_board *b, struct snap_section *const *sections, size_t n)
{
    g_autoptr(GArray) devs = kvm_board_state_devs(b);
    g_autofree const struct snap_section **match = g_new0(const struct snap_section *, devs->len);
    int rc = match_sections(devs, sections, n, match);
    if (rc < 0)
        return rc;
    if ((rc = quiesce(devs, LOAD_QUIESCE_MS)) < 0)
        return rc;
    /* All or nothing: each device checks its section before changing
     * anything, but a later one may refuse after earlier ones have loaded,
     * so every device's state is kept first and put back on a refusal.
     * A state just saved from a device always loads back into it. */
    g_autoptr(GPtrArray) before = NULL;
    for (guint i = 0; i < devs->len; i++) {
        const struct kvm_board_state_dev *d = &g_array_index(devs, struct kvm_board_state_dev, i);
        if (d->t && !d->t->save) {
            rc = no_transport_state(d);
            break;
        }
    }
    if (rc == 0 && !(before = save_all(devs)))
        rc = qv_error_code();
    /* Devices [0, done) may have changed: the loaded ones and the one
     * that refused (should its check have missed something). */
    guint done = 0;
    while (rc == 0 && done < devs->len) {
        const struct kvm_board_state_dev *d =
            &g_array_index(devs, struct kvm_board_state_dev, done);
        rc = load_one(d, match[done]->name, match[done]->data);
        done++;
    }
    if (rc < 0 && before) {
        struct qv_error_saved why;
        qv_error_save(&why);
        g_autoptr(GString) stuck = g_string_new(NULL);
        for (guint i = 0; i < done; i++) {
            const struct kvm_board_state_dev *d =
                &g_array_index(devs, struct kvm_board_state_dev, i);
            const struct snap_section *s = g_ptr_array_index(before, i);
            if (load_one(d, s->name, s->data) < 0)
                g_string_append_printf(stuck, "%s%s (%s)", stuck->len ? ", " : "", d->name,
                                       qv_last_error()->message);
        }
        rc = qv_error_restore(&why);
        if (stuck->len) {
            g_autofree char *first = g_strdup(qv_last_error()->message);
            qv_error_set(rc,
                         "%s; and device %s could not be put back: the board is half loaded, "
                         "do not resume it",
                         first, stuck->str);
        }
    }
    unquiesce(devs);
    return rc;
}
