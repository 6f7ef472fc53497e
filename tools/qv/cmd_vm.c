/* The "vm" group. */
#include "cli.h"

static const struct cli_command vm_commands[] = {
    {"create", "define a new VM from XML, a JSON config or a few options", cli_cmd_vm_create},
    {"list", "list VMs (running and paused ones unless --all)", cli_cmd_vm_list},
    {"start", "start a created or stopped VM", cli_cmd_vm_start},
    {"stop", "stop a VM, gracefully unless --force", cli_cmd_vm_stop},
    {"pause", "pause a running VM", cli_cmd_vm_pause},
    {"resume", "resume a paused VM", cli_cmd_vm_resume},
    {"reset", "reset a running or paused VM", cli_cmd_vm_reset},
    {"destroy", "remove a VM and everything it owns", cli_cmd_vm_destroy},
    {"show", "show a VM's state, definition or CPU pinning", cli_cmd_vm_show},
    {"stats", "print a VM's statistics as virsh domstats does", cli_cmd_vm_stats},
    {"set", "change CPU, memory and I/O settings", cli_cmd_vm_set},
    {"disk-add", "add a disk (live where the driver can)", cli_cmd_vm_disk_add},
    {"disk-remove", "remove a disk (live where the driver can)", cli_cmd_vm_disk_remove},
    {"nic-add", "add a NIC (live where the driver can)", cli_cmd_vm_nic_add},
    {"nic-remove", "remove a NIC (live where the driver can)", cli_cmd_vm_nic_remove},
    {"snapshot", "create, list, restore and delete snapshots", cli_cmd_vm_snapshot},
    {"clone", "copy a VM under a new name", cli_cmd_vm_clone},
    {"run", "run one VM in the foreground on this terminal", cli_cmd_vm_run},
    {"console", "attach this terminal to a VM's serial console", cli_cmd_vm_console},
    {NULL, NULL, NULL},
};

int cli_cmd_vm(struct cli *cli, int argc, char **argv)
{
    return cli_dispatch(cli, "qv vm", "Define, run, inspect and change virtual machines.",
                        vm_commands, argc, argv);
}
