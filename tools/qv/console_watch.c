/* `qv vm console` ends when the VM stops, not only when its console
 * closes: QEMU (run with -no-shutdown) keeps its pty open after the guest
 * powers off until the driver next looks at the VM, so a console that only
 * waited for the pty to close would wait for another qv command. A thread
 * waits on the VM; vm_wait is also what lets the driver finish a powered-off
 * QEMU, whose pty then closes by itself. */
#include <glib-unix.h>
#include <glib.h>
#include <unistd.h>

#include "cli.h"

/* vm_wait in slices, so that a detach (Ctrl+]) does not wait on a VM that
 * keeps running. */
#define WATCH_SLICE_MS 250
/* After the VM stopped, the last bytes still in flight get this long. */
#define WATCH_DRAIN_MS 500

struct cli_console_watch {
    struct vm *vm;
    int pipe[2]; /* [0] readable once the VM stopped */
    gint quit;
    GThread *thread;
};

static gpointer watch_main(gpointer data)
{
    struct cli_console_watch *w = data;
    while (!g_atomic_int_get(&w->quit)) {
        int rc = vm_wait(w->vm, WATCH_SLICE_MS);
        if (rc == QV_ERR_TIMEOUT)
            continue;
        if (rc < 0)
            return NULL; /* the driver cannot tell: the console's close ends it */
        for (int waited = 0; waited < WATCH_DRAIN_MS && !g_atomic_int_get(&w->quit); waited += 10)
            g_usleep(10 * 1000);
        ssize_t n = write(w->pipe[1], "x", 1);
        (void)n;
        return NULL;
    }
    return NULL;
}

struct cli_console_watch *cli_console_watch_start(struct vm *vm)
{
    struct cli_console_watch *w = g_new0(struct cli_console_watch, 1);
    w->vm = vm;
    if (!g_unix_open_pipe(w->pipe, FD_CLOEXEC, NULL)) {
        vm_free(vm);
        g_free(w);
        return NULL; /* no watch: the console's close still ends it */
    }
    w->thread = g_thread_new("qv-console-watch", watch_main, w);
    return w;
}

int cli_console_watch_fd(const struct cli_console_watch *w)
{
    return w ? w->pipe[0] : -1;
}

void cli_console_watch_end(struct cli_console_watch *w)
{
    if (!w)
        return;
    g_atomic_int_set(&w->quit, 1);
    g_thread_join(w->thread);
    close(w->pipe[0]);
    close(w->pipe[1]);
    vm_free(w->vm);
    g_free(w);
}
