/* The UART receive path: reads lines from COM1 and echoes them back in
 * upper case until a line "quit". Polls LSR.DR, as a simple driver does. */
#include "guest.h"

static char getc_serial(void)
{
    while (!(inb(0x3f8 + 5) & 0x01))
        ;
    return (char)inb(0x3f8);
}

int guest_main(uint32_t magic, uint32_t info)
{
    (void)magic;
    (void)info;
    puts_serial("echo: ready\n");
    char line[80];
    for (;;) {
        unsigned n = 0;
        char c;
        while ((c = getc_serial()) != '\n' && c != '\r')
            if (n < sizeof(line) - 1)
                line[n++] = c;
        line[n] = 0;
        if (n == 4 && line[0] == 'q' && line[1] == 'u' && line[2] == 'i' && line[3] == 't')
            break;
        puts_serial("echo: ");
        for (unsigned i = 0; i < n; i++)
            putc_serial(line[i] >= 'a' && line[i] <= 'z' ? (char)(line[i] - 32) : line[i]);
        putc_serial('\n');
    }
    puts_serial("echo: bye\n");
    return 0;
}
