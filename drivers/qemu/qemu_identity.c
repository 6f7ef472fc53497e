/* Whether the process a VM's runtime.json names is its QEMU. The record
 * sits in the VM's directory, which QEMU itself may write: pid, start time
 * and command line can all be copied from any process of the user, so a
 * record is believed only when the live process's executable
 * (/proc/PID/exe) is also the QEMU binary recorded at launch ("exe").
 *
 * "PATH (deleted)" counts as PATH: a package upgrade replaces the binary
 * under a running QEMU, which is still the process that was started;
 * refusing it would orphan every VM across an upgrade. Only root (or the
 * binary's owner) can make a process show that name.
 *
 * Since "exe" is in the same file, it must itself name a QEMU: a program
 * called qemu* or the emulator the definition names (<emulator>,
 * $QV_QEMU_BINARY, as resolved in PATH). A record from before "exe" was
 * kept is judged by that test alone. */
#include <string.h>

#include "../../lib/proc/proc.h"
#include "../../lib/util/error.h"
#include "../../lib/util/json.h"
#include "qemu_vm.h"

static char *undeleted_base(const char *path)
{
    g_autofree char *base = g_path_get_basename(path);
    if (g_str_has_suffix(base, " (deleted)"))
        base[strlen(base) - strlen(" (deleted)")] = '\0';
    return g_steal_pointer(&base);
}

/* Whether exe is a QEMU binary by name, or the definition's emulator. */
static bool names_qemu(struct qemu_vm *q, const char *exe)
{
    g_autofree char *base = undeleted_base(exe);
    if (g_str_has_prefix(base, "qemu"))
        return true;
    g_autoptr(qv_domain) def = qemu_vm_load_def(q);
    if (!def) {
        qv_reset_error();
        return false;
    }
    const char *emu = qemu_emulator_of(def);
    g_autofree char *found = g_find_program_in_path(emu);
    g_autofree char *real = found ? realpath(found, NULL) : NULL;
    return proc_exe_same(exe, emu) || (found && proc_exe_same(exe, found)) ||
           (real && proc_exe_same(exe, real));
}

bool qemu_runtime_alive(struct qemu_vm *q, const struct proc_runtime *rt)
{
    if (!proc_identity_alive(&rt->id))
        return false;
    g_autofree char *exe = proc_exe_read(rt->id.pid);
    const char *want = qv_json_str(rt->extra, "exe");
    if (exe && (!want || proc_exe_same(exe, want)) && names_qemu(q, want ? want : exe))
        return true;
    proc_log(q->dir,
             "runtime.json names process %d (%s), which is not this VM's QEMU (recorded: %s): "
             "left alone",
             (int)rt->id.pid, exe ? exe : "executable unreadable", want ? want : "none");
    return false;
}

int qemu_runtime_record_exe(struct proc_runtime *rt)
{
    g_autofree char *exe = proc_exe_read(rt->id.pid);
    if (!exe)
        return qv_error_set(QV_ERR_SYSTEM, "cannot read the executable of QEMU process %d",
                            (int)rt->id.pid);
    if (!rt->extra)
        rt->extra = json_object_new();
    json_object_set_string_member(rt->extra, "exe", exe);
    return 0;
}
