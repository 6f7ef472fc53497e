/* Built instead of console_ws.c when the propolis driver, the only one that
 * hands out websocket consoles, is left out: qv then has no libsoup, and a
 * ws:// console says so instead of failing obscurely. */
#include "cli.h"

int cli_console_ws(const char *url)
{
    return cli_error("console %s is a websocket, and this qv was built without its websocket "
                     "console (it comes with the propolis driver: configure with "
                     "-DQV_WITH_PROPOLIS=ON)",
                     url);
}
