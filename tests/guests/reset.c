/* Asks for a reset through the i8042 (0xFE to port 0x64), as Linux's
 * reboot=k does. The VM stops with reason "reset" (QEMU with -no-reboot
 * exits 0). */
#include "guest.h"

int guest_main(uint32_t magic, uint32_t info)
{
    (void)magic;
    (void)info;
    puts_serial("reset: asking the keyboard controller\n");
    while (inb(0x64) & 0x02) /* input buffer full: wait */
        ;
    outb(0x64, 0xfe);
    /* QEMU carries out the reset asynchronously: give it time. */
    for (volatile uint32_t i = 0; i < 20000000u; i++)
        __asm__ volatile("pause");
    puts_serial("reset: still here\n");
    return 6;
}
