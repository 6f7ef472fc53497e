/* Counts on the serial console, one line "count N" at a time, with a busy
 * pause between lines, and keeps N at guest physical 0x5000 (written
 * before its line): for snapshots, whose restore must continue the count
 * from the snapshot's with no line lost or repeated. */
#include "guest.h"

int guest_main(uint32_t magic, uint32_t info)
{
    (void)magic;
    (void)info;
    volatile uint32_t *progress = (volatile uint32_t *)0x5000;
    for (uint32_t i = 0;; i++) {
        *progress = i;
        puts_serial("count ");
        put_dec(i);
        puts_serial("\n");
        for (volatile uint32_t d = 0; d < 200000; d++)
            ;
    }
    return 0;
}
