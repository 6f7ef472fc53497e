#include "guest.h"

#define COM1 0x3f8

void putc_serial(char c)
{
    /* Wait for THR empty, as a driver for real hardware must. */
    while (!(inb(COM1 + 5) & 0x20))
        ;
    outb(COM1, (uint8_t)c);
}

void puts_serial(const char *s)
{
    while (*s)
        putc_serial(*s++);
}

void put_hex(uint32_t v)
{
    static const char digits[] = "0123456789abcdef";
    puts_serial("0x");
    for (int i = 28; i >= 0; i -= 4)
        putc_serial(digits[(v >> i) & 0xf]);
}

void put_dec(uint32_t v)
{
    char buf[11];
    int n = 0;
    do {
        buf[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        putc_serial(buf[--n]);
}

void guest_exit(uint32_t code)
{
    outl(0xf4, code);
    for (;;)
        __asm__ volatile("cli; hlt");
}
