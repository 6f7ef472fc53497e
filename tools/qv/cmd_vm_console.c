/* vm console: attach this terminal to wherever the VM's serial console is. */
#include <errno.h>
#include <glib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char console_help[] =
    "Usage: qv vm console NAME\n"
    "\n"
    "Attach this terminal to the serial console of VM NAME: what the guest\n"
    "prints appears here and what you type goes to the guest. The terminal is\n"
    "in raw mode while attached; Ctrl+] detaches and leaves the VM running.\n"
    "When standard input is not a terminal, bytes are copied as they are and\n"
    "qv keeps printing the console after the input ends, until it closes or\n"
    "the VM stops.\n"
    "\n"
    "Works with consoles on a unix socket, a pty and a websocket (ws://); a\n"
    "console written to a file is printed.\n"
    "\n"
    "When the driver keeps a log of the console (qemu:///session), qv first\n"
    "prints what the guest wrote since the VM started, then what it writes\n"
    "from then on, each byte once: output from before anyone attached is not\n"
    "lost.\n"
    "\n"
    "Options:\n"
    "  -h, --help   print this help and exit\n";

static bool is_fd_endpoint(const char *ep)
{
    return g_str_has_prefix(ep, "unix:") || g_str_has_prefix(ep, "pty:");
}

static int attach(const char *ep, const char *vm_name, int stop_fd, struct cli_console_log *log)
{
    if (is_fd_endpoint(ep)) {
        int fd = cli_console_open(ep, log == NULL);
        if (fd < 0 && log && (errno == ENOENT || errno == ECONNREFUSED || errno == EIO)) {
            /* Gone between asking and attaching: the guest finished (a
             * qv-vmm removes its socket as it exits). Its log still has
             * the run's output. */
            if (cli_console_log_copy(log) < 0)
                return CLI_EXIT_ERROR;
            fprintf(stderr,
                    "qv: the console of VM '%s' closed as qv attached; above is its log (%s)\n",
                    vm_name, cli_console_log_path(log));
            return CLI_EXIT_OK;
        }
        if (fd < 0 && log)
            fd = cli_console_open(ep, true); /* again, to say why */
        if (fd < 0)
            return CLI_EXIT_ERROR;
        int rc = cli_console_fd(fd, ep, stop_fd, log);
        close(fd);
        return rc;
    }
    if (g_str_has_prefix(ep, "ws://") || g_str_has_prefix(ep, "wss://"))
        return cli_console_ws(ep);
    if (g_str_has_prefix(ep, "file:")) {
        /* A log is not interactive: show what the guest wrote so far. */
        /* Copied, not read whole: a log has no size limit. */
        FILE *f = fopen(ep + 5, "rb");
        if (!f)
            return cli_error("cannot read '%s': %s", ep + 5, g_strerror(errno));
        char buf[65536];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
            fwrite(buf, 1, n, stdout);
        bool failed = ferror(f);
        fclose(f);
        if (failed)
            return cli_error("cannot read '%s'", ep + 5);
        fprintf(stderr, "qv: that is the console log of VM '%s' (%s); it takes no input\n", vm_name,
                ep + 5);
        return CLI_EXIT_OK;
    }
    if (strcmp(ep, "stdio") == 0)
        return cli_error("VM '%s' has its console on the standard input and output of the "
                         "process running it ('qv vm run'); there is nothing to attach to",
                         vm_name);
    return cli_error("VM '%s': unknown console endpoint '%s'", vm_name, ep);
}

int cli_cmd_vm_console(struct cli *cli, int argc, char **argv)
{
    int rc;
    struct vm *vm = cli_vm_only_arg(cli, "qv vm console", console_help, argc, argv, &rc);
    if (!vm)
        return rc;
    char *ep = vm_console_endpoint(vm);
    if (!ep) {
        rc = cli_fail();
        vm_free(vm);
        return rc;
    }
    g_autofree char *name = g_strdup(vm_get_name(vm));
    /* What the guest printed since it started, then live: the driver's log
     * of the console has all of it, the pty only what comes once we hold
     * it open. Asked before the handle goes to the watch. */
    struct cli_console_log *log = is_fd_endpoint(ep) ? cli_console_log_open(vm) : NULL;
    /* The handle goes to the watch, which only waits on the VM (vm_wait
     * locks nothing meanwhile). */
    struct cli_console_watch *w =
        g_str_has_prefix(ep, "file:") ? NULL : cli_console_watch_start(vm);
    if (g_str_has_prefix(ep, "file:"))
        vm_free(vm);
    signal(SIGPIPE, SIG_IGN);
    rc = attach(ep, name, cli_console_watch_fd(w), log);
    cli_console_watch_end(w);
    cli_console_log_close(log);
    qv_free(ep);
    return rc;
}
