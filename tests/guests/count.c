/* Counts on the serial console, one line "count N" at a time, with a busy
 * pause between lines, and keeps N at guest physical 0x5000 (written
 * before its line): for snapshots, whose restore must continue the count
 * from the snapshot's with no line lost or repeated.
 *
 * The pause is timed by the TSC (about 10 ms at 2 GHz), not by a number of
 * loop turns: where guest kernel code runs a thousand times slower than
 * on hardware (software nested virtualization such as PVM), a fixed loop
 * made each line take a second and the tests wait for tens of lines. */
#include "guest.h"

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t)hi << 32 | lo;
}

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
        uint64_t start = rdtsc();
        while (rdtsc() - start < 20000000)
            ;
    }
    return 0;
}
