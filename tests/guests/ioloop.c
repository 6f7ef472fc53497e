/* A tight loop of port writes, for measuring I/O exits per second. The
 * command line sets the count ("count=N", default 100000) and the port
 * ("port=N" in decimal, default 128: 0x80, the POST-code port). */
#include "guest.h"

static uint32_t arg(const char *cmdline, const char *key, uint32_t dflt)
{
    for (const char *p = cmdline; p && *p; p++) {
        unsigned k = 0;
        while (key[k] && p[k] == key[k])
            k++;
        if (key[k])
            continue;
        uint32_t v = 0;
        for (p += k; *p >= '0' && *p <= '9'; p++)
            v = v * 10 + (uint32_t)(*p - '0');
        return v;
    }
    return dflt;
}

int guest_main(uint32_t magic, uint32_t info)
{
    const char *cmdline = 0;
    if (magic == 0x2BADB002 && (*(volatile uint32_t *)info & 4))
        cmdline = (const char *)*(volatile uint32_t *)(info + 16);
    uint32_t n = arg(cmdline, "count=", 100000);
    uint16_t port = (uint16_t)arg(cmdline, "port=", 0x80);
    for (uint32_t i = 0; i < n; i++)
        outb(port, (uint8_t)i);
    puts_serial("ioloop: ");
    put_dec(n);
    puts_serial(" port writes\n");
    return 0;
}
