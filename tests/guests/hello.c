/* The first guest: greet on COM1, show what the loader passed, leave. */
#include "guest.h"

int guest_main(uint32_t magic, uint32_t info)
{
    (void)info;
    puts_serial("Hello from a qv guest!\n");
    puts_serial(magic == 0x2BADB002 ? "booted by a multiboot loader\n"
                                    : "not booted by a multiboot loader\n");
    return 0;
}
