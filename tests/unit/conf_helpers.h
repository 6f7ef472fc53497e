/* Shared by the conf tests: sample files, libvirt's RelaxNG schema, and the
 * round-trip checks every accepted definition must pass. */
#ifndef QV_TESTS_CONF_HELPERS_H
#define QV_TESTS_CONF_HELPERS_H

#include <glib.h>
#include <stdbool.h>

#include "lib/conf/domain.h"

#define QV_DOMAIN_RNG "/usr/share/libvirt/schemas/domain.rng"

/* Contents of tests/data/<rel> (under $QV_SOURCE_DIR); aborts the test
 * when missing. */
char *conf_read_data(const char *rel);
/* Sorted file names (full paths) in tests/data/<dir> ending in suffix. */
GPtrArray *conf_list_data(const char *dir, const char *suffix);

/* Validate xml against libvirt's domain.rng with libxml2's RelaxNG API.
 * Returns NULL when valid, else a g_malloc'ed description of the errors. */
char *conf_rng_errors(const char *xml);

/* format(def) validates against the schema and is a fixed point:
 * format(parse(format(def))) == format(def). On failure returns a
 * g_malloc'ed reason; NULL when everything holds. */
char *conf_check_roundtrip(const struct qv_domain *def);

#endif
