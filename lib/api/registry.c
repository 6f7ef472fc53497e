/* The driver registry: the one place in libqv that names the drivers, built
 * or left out of this build (-DQV_WITH_<DRIVER>, set by CMakeLists.txt). */
#include <glib.h>
#include <string.h>

#include "../util/error.h"
#include "driver.h"

#ifndef QV_WITH_NOOP
#error "QV_WITH_<DRIVER> come from CMakeLists.txt"
#endif

/* A driver left out of the build keeps its row with no table, so that a URI
 * meant for it gets "not built, configure with ..." rather than "unknown
 * scheme". Its schemes then come from `absent_schemes` (globs): a built
 * driver's own .schemes are the ones that count. The conditional folds to a
 * constant, so a left-out driver's table is never referenced. */
struct registry_row {
    const char *name;
    const char *option;
    const struct qv_driver *driver;
    const char *const *absent_schemes;
};

/* The option's name doubles as the 0/1 it is defined to. */
#define REGISTRY_ROW(name_, with_, table_, ...)                                                    \
    {                                                                                              \
        .name = name_, .option = #with_, .driver = (with_) ? &(table_) : NULL,                     \
        .absent_schemes = REGISTRY_SCHEMES(__VA_ARGS__)                                            \
    }
#define REGISTRY_SCHEMES(...) ((const char *const[]){__VA_ARGS__, NULL})

static const struct registry_row registry_rows[] = {
    REGISTRY_ROW("noop", QV_WITH_NOOP, qv_noop_driver, "noop"),
    REGISTRY_ROW("kvm", QV_WITH_KVM, qv_kvm_driver, "kvm"),
    REGISTRY_ROW("qemu", QV_WITH_QEMU, qv_qemu_driver, "qemu"),
    REGISTRY_ROW("propolis", QV_WITH_PROPOLIS, qv_propolis_driver, "propolis"),
    /* DRIVER+TRANSPORT, for every DRIVER (the remote host has its own). */
    REGISTRY_ROW("remote", QV_WITH_REMOTE, qv_remote_driver, "*+ssh", "*+pipe"),
};

const struct qv_driver *const *qv_registry_drivers(void)
{
    static const struct qv_driver *built[G_N_ELEMENTS(registry_rows) + 1];
    static gsize once;
    if (g_once_init_enter(&once)) {
        size_t n = 0;
        for (size_t i = 0; i < G_N_ELEMENTS(registry_rows); i++)
            if (registry_rows[i].driver)
                built[n++] = registry_rows[i].driver;
        built[n] = NULL;
        g_once_init_leave(&once, 1);
    }
    return built;
}

static const struct registry_row *row_named(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(registry_rows); i++)
        if (strcmp(registry_rows[i].name, name) == 0)
            return &registry_rows[i];
    return NULL;
}

int qv_driver_not_built(const char *name)
{
    const struct registry_row *row = row_named(name);
    return qv_error_set(QV_ERR_UNSUPPORTED,
                        "the %s driver is not built into this libqv (configure with -D%s=ON)", name,
                        row ? row->option : "QV_WITH_<DRIVER>");
}

const struct qv_driver *qv_registry_for_scheme(const char *scheme, const char *uri)
{
    for (const struct qv_driver *const *d = qv_registry_drivers(); *d; d++)
        for (const char *const *s = (*d)->schemes; s && *s; s++)
            if (g_ascii_strcasecmp(*s, scheme) == 0)
                return *d;

    g_autofree char *lower = g_ascii_strdown(scheme, -1);
    for (size_t i = 0; i < G_N_ELEMENTS(registry_rows); i++) {
        const struct registry_row *row = &registry_rows[i];
        if (row->driver)
            continue;
        for (const char *const *g = row->absent_schemes; *g; g++)
            if (g_pattern_match_simple(*g, lower)) {
                qv_driver_not_built(row->name);
                qv_error_prefix("cannot open '%s'", uri);
                return NULL;
            }
    }

    GString *known = g_string_new(NULL);
    for (const struct qv_driver *const *d = qv_registry_drivers(); *d; d++)
        for (const char *const *s = (*d)->schemes; s && *s; s++)
            g_string_append_printf(known, "%s%s:", known->len ? ", " : "", *s);
    qv_error_set(QV_ERR_URI, "no driver for URI scheme '%s' in '%s' (known: %s)", scheme, uri,
                 known->len ? known->str : "none");
    g_string_free(known, TRUE);
    return NULL;
}
