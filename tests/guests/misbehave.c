/* A hostile guest: garbage to every device port at every size, reads at
 * every size, string I/O, then a clean UART and a goodbye. The host must
 * neither crash nor hang. Values that would reset the machine through the
 * i8042 are avoided so the run reaches its end. */
#include "guest.h"

static uint32_t seed = 0x12345678;

static uint32_t rnd(void)
{
    seed = seed * 1103515245u + 12345u;
    return seed >> 1;
}

static const uint16_t ports[] = {0x3f8, 0x3f9, 0x3fa, 0x3fb, 0x3fc, 0x3fd, 0x3fe, 0x3ff,
                                 0x60,  0x70,  0x71,  0x510, 0x511, 0x512, 0x80,  0x100};

int guest_main(uint32_t magic, uint32_t info)
{
    (void)magic;
    (void)info;
    for (unsigned round = 0; round < 8; round++) {
        for (unsigned i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
            uint16_t p = ports[i];
            uint32_t v = rnd();
            outb(p, (uint8_t)v);
            outw(p, (uint16_t)(v >> 3));
            outl(p, v ^ 0xa5a5a5a5u);
            (void)inb(p);
            (void)inw(p);
            (void)inl(p);
        }
        /* The i8042 command port, minus the reset commands (0xd1 and
         * 0xf0-0xff), and a selector past every fw_cfg item. */
        uint8_t c = (uint8_t)rnd();
        if (c != 0xd1 && c < 0xf0)
            outb(0x64, c);
        (void)inb(0x64);
        outw(0x510, 0x3fff);
        for (int k = 0; k < 8; k++)
            (void)inl(0x511);
    }
    /* String I/O with a long count at a device port. */
    static uint8_t buf[512];
    __asm__ volatile("cld; rep insb" : : "D"(buf), "c"(sizeof(buf)), "d"(0x511) : "memory");
    __asm__ volatile("cld; rep outsb" : : "S"(buf), "c"(sizeof(buf)), "d"(0x71) : "memory");
    /* Leave the UART sane again: 8N1, no loopback, no interrupts, FIFO on. */
    outb(0x3fb, 0x03);
    outb(0x3fc, 0x03);
    outb(0x3f9, 0x00);
    outb(0x3fa, 0x07);
    puts_serial("\nmisbehave: survived\n");
    return 2;
}
