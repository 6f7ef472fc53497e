/* The launcher of bench/session_first_byte.sh: spawns a command and prints
 * the milliseconds from just before the spawn to the first byte appearing
 * in FILE (beyond the size FILE had before). A small dynamically linked
 * program, so that qv, QEMU and the static floor program are all started
 * and watched the same way.
 *
 * Usage: first_byte [--stdout] FILE TIMEOUT_MS -- COMMAND [ARG...]
 *   --stdout  the command's stdout goes to FILE (truncated first), for a
 *             program that prints its console there (the floor program)
 * Exit status: 0 and the figure on stdout; 1 when no byte came within
 * TIMEOUT_MS or the command could not be started; 2 for bad arguments. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static off_t size_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : 0;
}

int main(int argc, char **argv)
{
    int at = 1;
    int to_stdout = 0;
    if (at < argc && strcmp(argv[at], "--stdout") == 0) {
        to_stdout = 1;
        at++;
    }
    if (argc - at < 4 || strcmp(argv[at + 2], "--") != 0) {
        fprintf(stderr, "usage: first_byte [--stdout] FILE TIMEOUT_MS -- COMMAND [ARG...]\n");
        return 2;
    }
    const char *file = argv[at];
    char *end;
    long timeout = strtol(argv[at + 1], &end, 10);
    if (*end || timeout <= 0) {
        fprintf(stderr, "first_byte: TIMEOUT_MS '%s' is not a positive number\n", argv[at + 1]);
        return 2;
    }
    char **cmd = argv + at + 3;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (to_stdout)
        posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, file,
                                         O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);
    else
        posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    off_t before = to_stdout ? 0 : size_of(file);
    double t0 = now_ms();
    pid_t pid;
    int rc = posix_spawnp(&pid, cmd[0], &fa, NULL, cmd, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        fprintf(stderr, "first_byte: cannot start %s: %s\n", cmd[0], strerror(rc));
        return 1;
    }
    /* Polled, not inotify: the same cost for every contender, and a
     * file that does not exist yet needs no special case. */
    double got = -1;
    while (now_ms() - t0 < (double)timeout) {
        if (size_of(file) > before) {
            got = now_ms() - t0;
            break;
        }
        struct timespec nap = {0, 50 * 1000};
        nanosleep(&nap, NULL);
    }
    int status;
    waitpid(pid, &status, 0);
    if (got < 0) {
        fprintf(stderr, "first_byte: no byte in %s within %ld ms\n", file, timeout);
        return 1;
    }
    printf("%.2f\n", got);
    return 0;
}
