/* Says hello and then spins until stopped from outside: for pause, resume
 * and stop. Progress is a counter at guest physical 0x5000 that the host
 * can read, plus a byte to port 0x80 each round. */
#include "guest.h"

int guest_main(uint32_t magic, uint32_t info)
{
    (void)magic;
    (void)info;
    puts_serial("spin: running\n");
    volatile uint32_t *progress = (volatile uint32_t *)0x5000;
    for (uint32_t i = 0;; i++) {
        *progress = i;
        outb(0x80, (uint8_t)i);
    }
    return 0;
}
