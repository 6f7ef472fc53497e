/* Prints the CMOS bytes QEMU's pc machine uses for memory sizes and the
 * CPU count, and checks the RTC reads as valid BCD. */
#include "guest.h"

static uint8_t cmos(uint8_t idx)
{
    outb(0x70, idx);
    return inb(0x71);
}

static void show(const char *what, uint32_t v)
{
    puts_serial(what);
    put_dec(v);
    putc_serial('\n');
}

int guest_main(uint32_t magic, uint32_t info)
{
    (void)magic;
    (void)info;
    show("base KiB: ", cmos(0x15) | cmos(0x16) << 8);
    show("ext KiB: ", cmos(0x17) | cmos(0x18) << 8);
    show("ext KiB (0x30): ", cmos(0x30) | cmos(0x31) << 8);
    show("above 16M, 64K units: ", cmos(0x34) | cmos(0x35) << 8);
    show("above 4G, 64K units: ", cmos(0x5b) | cmos(0x5c) << 8 | (uint32_t)cmos(0x5d) << 16);
    show("cpus-1: ", cmos(0x5f));
    uint8_t sec = cmos(0x00), min = cmos(0x02), hour = cmos(0x04);
    int bcd_ok = (sec & 0xf) < 10 && (sec >> 4) < 6 && (min & 0xf) < 10 && (min >> 4) < 6 &&
                 (hour & 0xf) < 10 && (hour >> 4) < 3;
    puts_serial(bcd_ok ? "rtc: valid BCD time\n" : "rtc: bad time\n");
    show("status D: ", cmos(0x0d));
    return 0;
}
