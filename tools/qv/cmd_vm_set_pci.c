/* qv vm set --pci-add / --pci-remove: a PCI host device (<hostdev>) in the
 * VM's definition, through vm_attach_device() and vm_detach_device(). */
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Whether text has pattern's shape: 'x' a hex digit, anything else itself. */
static bool shaped(const char *text, const char *pattern)
{
    size_t i = 0;
    for (; pattern[i]; i++)
        if (pattern[i] == 'x' ? !g_ascii_isxdigit(text[i]) : text[i] != pattern[i])
            return false;
    return text[i] == '\0';
}

char *cli_parse_bdf(const struct cli_args *a, const char *opt, const char *text)
{
    g_autofree char *full = NULL;
    if (shaped(text, "xx:xx.x"))
        full = g_strconcat("0000:", text, NULL);
    else if (shaped(text, "xxxx:xx:xx.x"))
        full = g_ascii_strdown(text, -1);
    if (full) {
        unsigned slot = (unsigned)strtoul(full + 8, NULL, 16);
        if (slot <= 0x1f && g_ascii_xdigit_value(full[11]) <= 7)
            return g_ascii_strdown(full, -1);
    }
    cli_usage_error(a,
                    "option '%s': '%s' is not a PCI address (DDDD:BB:SS.F or BB:SS.F, slot at "
                    "most 1f, function at most 7)",
                    opt, text);
    return NULL;
}

int cli_vm_pci(struct vm *vm, const char *bdf, bool add)
{
    /* bdf is canonical (cli_parse_bdf): DDDD:BB:SS.F */
    g_autofree char *dom = g_strndup(bdf, 4), *bus = g_strndup(bdf + 5, 2),
                    *slot = g_strndup(bdf + 8, 2);
    g_autofree char *xml = g_strdup_printf(
        "<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x%s' "
        "bus='0x%s' slot='0x%s' function='0x%c'/></source></hostdev>",
        dom, bus, slot, bdf[11]);
    return add ? vm_attach_device(vm, xml) : vm_detach_device(vm, xml);
}
