/* Finds the ACPI tables as an OS does (RSDP in the BIOS area, RSDT, FADT,
 * MADT, the DSDT's _S5_), reports them and powers off through S5. With
 * "wait-button" on the command line it first waits for the power button
 * (PM1 PWRBTN_STS), which a graceful stop from the host presses. */
#include "guest.h"

static int sig_is(const volatile uint8_t *p, const char *s)
{
    for (int i = 0; s[i]; i++)
        if (p[i] != (uint8_t)s[i])
            return 0;
    return 1;
}

static uint32_t rd32(const volatile uint8_t *p)
{
    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static int has_arg(uint32_t magic, uint32_t info, const char *arg)
{
    if (magic != 0x2BADB002 || !(*(volatile uint32_t *)info & 4))
        return 0;
    const char *c = (const char *)*(volatile uint32_t *)(info + 16);
    for (; *c; c++)
        if (sig_is((const volatile uint8_t *)c, arg))
            return 1;
    return 0;
}

static const volatile uint8_t *find_rsdp(void)
{
    for (uint32_t a = 0xe0000; a < 0x100000; a += 16) {
        const volatile uint8_t *p = (const volatile uint8_t *)a;
        if (!sig_is(p, "RSD PTR "))
            continue;
        uint8_t sum = 0;
        for (int i = 0; i < 20; i++)
            sum = (uint8_t)(sum + p[i]);
        if (sum == 0)
            return p;
    }
    return 0;
}

int guest_main(uint32_t magic, uint32_t info)
{
    const volatile uint8_t *rsdp = find_rsdp();
    if (!rsdp) {
        puts_serial("acpi: no RSDP\n");
        return 1;
    }
    puts_serial("acpi: RSDP found\n");
    const volatile uint8_t *rsdt = (const volatile uint8_t *)rd32(rsdp + 16);
    const volatile uint8_t *fadt = 0, *madt = 0;
    for (uint32_t off = 36; off + 4 <= rd32(rsdt + 4); off += 4) {
        const volatile uint8_t *t = (const volatile uint8_t *)rd32(rsdt + off);
        if (sig_is(t, "FACP"))
            fadt = t;
        if (sig_is(t, "APIC"))
            madt = t;
    }
    if (!fadt || !madt) {
        puts_serial("acpi: FADT or MADT missing\n");
        return 1;
    }
    uint32_t cpus = 0;
    for (uint32_t off = 44; off + 2 <= rd32(madt + 4) && madt[off + 1]; off += madt[off + 1])
        if (madt[off] == 0 && (rd32(madt + off + 4) & 1))
            cpus++;
    puts_serial("acpi: MADT lists ");
    put_dec(cpus);
    puts_serial(" processors\n");
    uint16_t evt = (uint16_t)rd32(fadt + 56), cnt = (uint16_t)rd32(fadt + 64);
    puts_serial("acpi: PM1a control at ");
    put_hex(cnt);
    putc_serial('\n');
    /* _S5_: NameOp "_S5_" PackageOp PkgLength NumElements SLP_TYPa ... */
    const volatile uint8_t *dsdt = (const volatile uint8_t *)rd32(fadt + 40);
    uint32_t slp_typ = 0xff;
    for (uint32_t off = 36; off + 8 < rd32(dsdt + 4); off++) {
        if (!sig_is(dsdt + off, "_S5_") || dsdt[off + 4] != 0x12)
            continue;
        const volatile uint8_t *e = dsdt + off + 5;
        e += (e[0] >> 6) + 1; /* PkgLength */
        e++;                  /* NumElements */
        slp_typ = e[0] == 0x0a ? e[1] : e[0] == 0x01 ? 1 : 0;
        break;
    }
    if (slp_typ == 0xff) {
        puts_serial("acpi: no _S5_\n");
        return 1;
    }
    if (has_arg(magic, info, "wait-button")) {
        outw(evt + 2, 0x0100); /* PWRBTN_EN, before saying so */
        puts_serial("acpi: waiting for the power button\n");
        while (!(inw(evt) & 0x0100))
            ;
        outw(evt, 0x0100); /* clear PWRBTN_STS */
        puts_serial("acpi: power button pressed\n");
    }
    puts_serial("acpi: powering off (S5)\n");
    outw(cnt, (uint16_t)(slp_typ << 10 | 1 << 13));
    /* QEMU carries out the power-off asynchronously: give it time. */
    for (volatile uint32_t i = 0; i < 20000000u; i++)
        __asm__ volatile("pause");
    puts_serial("acpi: still running after S5\n");
    return 9;
}
