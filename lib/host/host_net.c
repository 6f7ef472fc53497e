/* Host network interfaces for a VM's NICs (host_net.h). */
#include <glib.h>
#include <string.h>

#include "../proc/proc.h"
#include "../util/error.h"
#include "host_net.h"

char *host_net_mac_name(const char *prefix, const char *mac)
{
    GString *s = g_string_new(prefix);
    for (const char *c = mac; *c; c++)
        if (*c != ':')
            g_string_append_c(s, g_ascii_tolower(*c));
    return g_string_free(s, FALSE);
}

char *host_tap_name(const char *mac)
{
    return host_net_mac_name("qvt", mac);
}

bool host_net_admin(void)
{
    g_autofree char *status = NULL;
    if (!g_file_get_contents("/proc/self/status", &status, NULL, NULL))
        return false;
    const char *line = strstr(status, "\nCapEff:");
    if (!line)
        return false;
    guint64 caps = g_ascii_strtoull(line + strlen("\nCapEff:"), NULL, 16);
    return (caps >> 12) & 1; /* CAP_NET_ADMIN */
}

bool host_link_exists(const char *dev)
{
    g_autofree char *p = g_build_filename("/sys/class/net", dev, NULL);
    return g_file_test(p, G_FILE_TEST_EXISTS);
}

int host_net_tool(const char *const *argv, char **out)
{
    g_autofree char *path = g_find_program_in_path(argv[0]);
    if (!path)
        path = g_build_filename("/usr/sbin", argv[0], NULL);
    if (!g_file_test(path, G_FILE_TEST_IS_EXECUTABLE))
        return qv_error_set(QV_ERR_UNSUPPORTED, "%s (package iproute2) is not installed", argv[0]);
    guint n = g_strv_length((char **)argv);
    g_autofree const char **full = g_new0(const char *, n + 1);
    full[0] = path;
    for (guint i = 1; i < n; i++)
        full[i] = argv[i];
    return proc_run_tool(full, out);
}

int host_bridge_attach(const char *vm_name, const char *tap, const char *bridge)
{
    g_autofree char *br = g_build_filename("/sys/class/net", bridge, "bridge", NULL);
    if (!g_file_test(br, G_FILE_TEST_IS_DIR))
        return qv_error_set(QV_ERR_NOT_FOUND, "VM '%s': there is no bridge '%s' on this host",
                            vm_name, bridge);
    const char *master[] = {"ip", "link", "set", "dev", tap, "master", bridge, NULL};
    const char *up[] = {"ip", "link", "set", "dev", tap, "up", NULL};
    int rc = host_net_tool(master, NULL);
    if (rc == 0)
        rc = host_net_tool(up, NULL);
    if (rc < 0)
        qv_error_prefix("VM '%s': cannot put tap %s on bridge %s", vm_name, tap, bridge);
    return rc;
}
