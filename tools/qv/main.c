/* qv's entry point; the command line is handled by cli_main() so the fuzz
 * target (tests/fuzz/fuzz_cli.c) can run it too. */
#include "cli.h"

int main(int argc, char **argv)
{
    cli_setup_process();
    struct cli cli = {0};
    return cli_main(&cli, argc, argv);
}
