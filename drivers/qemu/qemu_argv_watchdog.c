/* <watchdog model= action=> as QEMU 7.2 devices. i6300esb is a PCI card,
 * ib700 an ISA one, itco the TCO timer q35's ICH9 LPC bridge has built in
 * (QEMU straps it not to reset the machine unless told: noreboot=off). The
 * action is QEMU's one -action watchdog= for every watchdog, so two
 * watchdogs must agree on it. libvirt's dump (a core dump of the guest,
 * then the action) has no QEMU equivalent and is refused. */
#include <string.h>

#include "../../lib/util/error.h"
#include "qemu_argv.h"

static const char *const actions[] = {"reset", "shutdown",   "poweroff", "pause",
                                      "none",  "inject-nmi", NULL};

int qemu_kept_watchdog(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    static const char *const known[] = {"address", "alias", NULL};
    const char *extra = qemu_xml_other_child(n, known);
    if (extra)
        return qemu_kept_refuse(v, k, "<%s> is not passed on to QEMU", extra);
    for (const xmlAttr *a = n->properties; a; a = a->next)
        if (a->ns || (strcmp((const char *)a->name, "model") != 0 &&
                      strcmp((const char *)a->name, "action") != 0))
            return qemu_kept_refuse(v, k, "attribute %s= is not passed on to QEMU", a->name);
    g_autofree char *model = qemu_xml_prop(n, "model"), *action = qemu_xml_prop(n, "action");
    if (!action)
        action = g_strdup("reset");
    if (!g_strv_contains(actions, action))
        return qemu_kept_refuse(v, k,
                                "action='%s': QEMU's watchdog actions are reset, shutdown, "
                                "poweroff, pause, none, inject-nmi",
                                action);
    if (v->watchdog_action && strcmp(v->watchdog_action, action) != 0)
        return qemu_kept_refuse(v, k,
                                "action='%s' differs from another watchdog's '%s' (QEMU has one "
                                "watchdog action)",
                                action, v->watchdog_action);
    int rc;
    if (model && strcmp(model, "i6300esb") == 0) {
        rc = qemu_kept_add_placed(v, k, n, "i6300esb");
    } else if (model && (strcmp(model, "ib700") == 0 || strcmp(model, "itco") == 0)) {
        bool itco = model[1] == 't';
        if (qemu_xml_child(n, "address"))
            return qemu_kept_refuse(v, k, "model='%s' is not on a bus: it takes no <address>",
                                    model);
        if (itco && !qemu_is_q35(v->def))
            return qemu_kept_refuse(v, k, "model='itco' is q35's: this machine is not q35");
        if (itco)
            qemu_argv_add2(v, "-global", "ICH9-LPC.noreboot=off");
        else
            qemu_argv_add2(v, "-device", "ib700");
        rc = 0;
    } else {
        return qemu_kept_refuse(v, k, "model='%s': QEMU's x86 watchdogs are i6300esb, ib700, itco",
                                model ? model : "");
    }
    if (rc == 0 && !v->watchdog_action) {
        for (const char *const *a = actions; *a; a++)
            if (strcmp(*a, action) == 0)
                v->watchdog_action = *a; /* static: outlives this element */
        qemu_argv_add(v, "-action");
        qemu_argv_addf(v, "watchdog=%s", action);
    }
    return rc;
}
