/* Reads QEMU's fw_cfg through the legacy ports and prints what it found. */
#include "guest.h"

static void select_item(uint16_t key)
{
    outw(0x510, key);
}

static uint32_t read_le(int n)
{
    uint32_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint32_t)inb(0x511) << (8 * i);
    return v;
}

static uint32_t read_be(int n)
{
    uint32_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | inb(0x511);
    return v;
}

int guest_main(uint32_t magic, uint32_t info)
{
    (void)magic;
    (void)info;
    char sig[5] = {0};
    select_item(0x0000);
    for (int i = 0; i < 4; i++)
        sig[i] = (char)inb(0x511);
    puts_serial("fw_cfg signature: ");
    puts_serial(sig);
    putc_serial('\n');
    if (sig[0] != 'Q' || sig[1] != 'E' || sig[2] != 'M' || sig[3] != 'U')
        return 1;
    select_item(0x0003);
    uint32_t lo = read_le(4), hi = read_le(4);
    puts_serial("ram: ");
    put_dec((lo >> 20) | (hi << 12));
    puts_serial(" MiB\n");
    select_item(0x0005);
    puts_serial("cpus: ");
    put_dec(read_le(2));
    select_item(0x000f);
    puts_serial(" max: ");
    put_dec(read_le(2));
    putc_serial('\n');
    /* Walk the file directory looking for the e820 map. */
    select_item(0x0019);
    uint32_t count = read_be(4);
    int found = 0;
    for (uint32_t f = 0; f < count && f < 1024; f++) {
        read_be(4);
        read_be(2);
        read_be(2);
        char name[56];
        for (int i = 0; i < 56; i++)
            name[i] = (char)inb(0x511);
        const char *want = "etc/e820";
        int i = 0;
        while (want[i] && name[i] == want[i])
            i++;
        if (!want[i] && !name[i])
            found = 1;
    }
    puts_serial(found ? "etc/e820: present\n" : "etc/e820: missing\n");
    return 0;
}
