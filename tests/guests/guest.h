/* The tiny runtime every C payload links: port I/O, the COM1 console and
 * leaving through isa-debug-exit. Freestanding; no libc. */
#ifndef QV_GUEST_H
#define QV_GUEST_H

#include <stdint.h>

static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outw(uint16_t port, uint16_t v)
{
    __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outl(uint16_t port, uint32_t v)
{
    __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
static inline uint16_t inw(uint16_t port)
{
    uint16_t v;
    __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
static inline uint32_t inl(uint16_t port)
{
    uint32_t v;
    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

void putc_serial(char c);
void puts_serial(const char *s);
void put_hex(uint32_t v);
void put_dec(uint32_t v);
/* Stop the VM through isa-debug-exit: exit status (code << 1) | 1. */
void guest_exit(uint32_t code) __attribute__((noreturn));

#endif
