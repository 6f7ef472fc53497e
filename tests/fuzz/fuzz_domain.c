/* libFuzzer target for the definition parsers (built with -DQV_FUZZ=ON and
 * clang). Every input goes to the domain XML, device XML and JSON parsers;
 * whatever parses must format, and the formatted text must parse again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/conf/domain.h"
#include "lib/util/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = g_strndup((const char *)data, size);
    {
        struct qv_domain *d = qv_domain_parse_xml(text);
        if (d) {
            char *x = qv_domain_format_xml(d);
            struct qv_domain *again = qv_domain_parse_xml(x);
            if (!again)
                abort(); /* our own output must always parse */
            qv_domain_free(again);
            g_free(x);
            qv_domain_free(d);
        }
    }
    {
        struct qv_disk *disk;
        struct qv_net *net;
        struct qv_hostdev *hd;
        if (qv_domain_parse_device_xml(text, &disk, &net, &hd) == 0) {
            qv_disk_free(disk);
            qv_net_free(net);
            qv_hostdev_free(hd);
        }
    }
    {
        struct qv_domain *d = qv_domain_parse_json(text);
        if (d) {
            char *j = qv_domain_format_json(d);
            struct qv_domain *again = qv_domain_parse_json(j);
            if (!again)
                abort();
            qv_domain_free(again);
            g_free(j);
            char *x = qv_domain_format_xml(d);
            g_free(x);
            qv_domain_free(d);
        }
    }
    g_free(text);
    qv_reset_error();
    return 0;
}
