/* A tight loop of port writes, for measuring I/O exits per second. The
 * count comes from the command line ("... count=N"), default 100000. */
#include "guest.h"

static uint32_t count_from(const char *cmdline)
{
    for (const char *p = cmdline; p && *p; p++) {
        if (p[0] == 'c' && p[1] == 'o' && p[2] == 'u' && p[3] == 'n' && p[4] == 't' &&
            p[5] == '=') {
            uint32_t v = 0;
            for (p += 6; *p >= '0' && *p <= '9'; p++)
                v = v * 10 + (uint32_t)(*p - '0');
            return v;
        }
    }
    return 100000;
}

int guest_main(uint32_t magic, uint32_t info)
{
    const char *cmdline = 0;
    if (magic == 0x2BADB002 && (*(volatile uint32_t *)info & 4))
        cmdline = (const char *)*(volatile uint32_t *)(info + 16);
    uint32_t n = count_from(cmdline);
    for (uint32_t i = 0; i < n; i++)
        outb(0x80, (uint8_t)i); /* port 0x80: POST codes, no device behind it */
    puts_serial("ioloop: ");
    put_dec(n);
    puts_serial(" port writes\n");
    return 0;
}
