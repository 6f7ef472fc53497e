/* Domain XML parse + format time per document of the libvirt corpus:
 * qv_domain_parse_user_xml (schema check included, compiled once before
 * timing) then qv_domain_format_xml, N rounds over the files given.
 * Prints microseconds per document; bench/xml_bench.sh compares it with
 * virsh define + dumpxml. */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/conf/domain.h"
#include "lib/util/error.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s ROUNDS FILE.xml...\n", argv[0]);
        return 2;
    }
    int rounds = atoi(argv[1]);
    int n = argc - 2;
    char **docs = g_new0(char *, n);
    for (int i = 0; i < n; i++)
        if (!g_file_get_contents(argv[i + 2], &docs[i], NULL, NULL))
            return 1;
    gint64 t0 = g_get_monotonic_time();
    struct qv_domain *warm = qv_domain_parse_user_xml(docs[0]); /* compiles domain.rng */
    gint64 compile_us = g_get_monotonic_time() - t0;
    qv_domain_free(warm);
    t0 = g_get_monotonic_time();
    for (int r = 0; r < rounds; r++)
        for (int i = 0; i < n; i++) {
            struct qv_domain *d = qv_domain_parse_user_xml(docs[i]);
            if (!d) {
                fprintf(stderr, "%s: %s\n", argv[i + 2], qv_last_error()->message);
                return 1;
            }
            g_free(qv_domain_format_xml(d));
            qv_domain_free(d);
        }
    double per = (double)(g_get_monotonic_time() - t0) / ((double)rounds * n);
    printf("%.1f\n", per);
    fprintf(stderr,
            "qv: first document (schema compile included) %.1f ms; then %.1f us per "
            "document (parse, schema, format) over %d x %d\n",
            compile_us / 1000.0, per, rounds, n);
    for (int i = 0; i < n; i++)
        g_free(docs[i]);
    g_free(docs);
    return 0;
}
