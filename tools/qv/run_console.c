/* The console of `vm run` when the driver keeps it elsewhere than on qv's
 * own standard input and output (qemu's unix socket, a pty): a thread
 * relays it to the terminal while the main thread waits for the guest. */
#include <fcntl.h>
#include <glib-unix.h>
#include <glib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* How long the relay may go on printing after the guest stopped, for the
 * last bytes still in flight (the backend closing the socket ends it
 * sooner). */
#define CLI_RELAY_DRAIN_MS 500

struct cli_relay {
    int fd;
    struct cli_console_log *log; /* NULL: print what fd delivers */
    int stop[2];
    char *endpoint;
    GThread *thread;
    gint done;
};

static gpointer relay_main(gpointer data)
{
    struct cli_relay *r = data;
    /* No detach key: the run ends when the guest does, or on Ctrl-C. */
    cli_console_pump(r->fd, r->endpoint, r->stop[0], false, r->log);
    g_atomic_int_set(&r->done, 1);
    return NULL;
}

/* The endpoint a qemu VM that no longer runs gives: its log itself. */
static bool is_log_endpoint(const char *ep, const struct cli_console_log *log)
{
    return log && g_str_has_prefix(ep, "file:") && strcmp(ep + 5, cli_console_log_path(log)) == 0;
}

struct cli_relay *cli_relay_start(struct vm *vm)
{
    char *ep = vm_console_endpoint(vm);
    if (!ep)
        return NULL; /* the driver has none: nothing to show */
    /* The guest has been running since vm_start returned, printing into a
     * pty nobody held: its first bytes are only in the driver's log. */
    struct cli_console_log *log = cli_console_log_open(vm);
    bool fd_ep = g_str_has_prefix(ep, "unix:") || g_str_has_prefix(ep, "pty:");
    /* A guest that stopped at once (before we looked) has no pty left. */
    bool log_only = is_log_endpoint(ep, log);
    if (!fd_ep && !log_only) {
        if (strcmp(ep, "stdio") != 0 && strcmp(ep, "null") != 0)
            fprintf(stderr, "qv: the console of VM '%s' is at %s; attach with 'qv vm console %s'\n",
                    vm_get_name(vm), ep, vm_get_name(vm));
        cli_console_log_close(log);
        qv_free(ep);
        return NULL;
    }
    int fd = -1;
    if (fd_ep) {
        /* Gone already when the guest stopped meanwhile. With the log
         * that is no error: the output is all there, and what could not
         * be opened would only have taken the input. */
        fd = cli_console_open(ep, !log);
        if (fd < 0 && !log) {
            qv_free(ep);
            return NULL;
        }
    }
    struct cli_relay *r = g_new0(struct cli_relay, 1);
    g_autoptr(GError) err = NULL;
    if (!g_unix_open_pipe(r->stop, FD_CLOEXEC, &err)) {
        cli_error("cannot relay the console %s: %s", ep, err->message);
        if (fd >= 0)
            close(fd);
        cli_console_log_close(log);
        qv_free(ep);
        g_free(r);
        return NULL;
    }
    r->fd = fd;
    r->log = log;
    r->endpoint = g_strdup(ep);
    qv_free(ep);
    r->thread = g_thread_new("qv-console", relay_main, r);
    return r;
}

void cli_relay_finish(struct cli_relay *r)
{
    if (!r)
        return;
    /* Following the log alone, nothing closes to say the guest is done;
     * it is (the caller waited for it), and the log complete. */
    for (int waited = 0; r->fd >= 0 && waited < CLI_RELAY_DRAIN_MS && !g_atomic_int_get(&r->done);
         waited += 10)
        g_usleep(10 * 1000);
    if (!g_atomic_int_get(&r->done)) {
        ssize_t n = write(r->stop[1], "x", 1);
        (void)n;
    }
    g_thread_join(r->thread);
    if (r->fd >= 0)
        close(r->fd);
    cli_console_log_close(r->log);
    close(r->stop[0]);
    close(r->stop[1]);
    g_free(r->endpoint);
    g_free(r);
}
