/* The body of the kernel loader fuzz targets (fuzz_multiboot.c,
 * fuzz_bzimage.c, fuzz_elf64.c define FUZZ_LOAD and include this): the
 * input is the kernel image, loaded into a plain buffer standing for 32 MiB
 * of guest RAM, with a command line and a small initrd, by its own loader
 * and then by the format dispatcher. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/kvm/loaders/image.h"
#include "lib/util/error.h"

#define FUZZ_RAM (32u << 20)
#ifndef FUZZ_BOOT_INFO /* whether to pass a command line and an initrd */
#define FUZZ_BOOT_INFO 1
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run(const uint8_t *data, size_t size, int (*fn)(struct kvm_ld *, const uint8_t *,
                                                            size_t))
{
    static uint8_t *ram;
    static const uint8_t initrd[4096] = {'I', 'N', 'I', 'T'};
    if (!ram)
        ram = calloc(1, FUZZ_RAM);
    struct kvm_ld ld;
    kvm_ld_init(&ld, ram, FUZZ_RAM, "fuzz.img");
    if (FUZZ_BOOT_INFO) {
        ld.cmdline = "console=ttyS0";
        ld.initrd = "fuzz.initrd";
        ld.initrd_data = initrd;
        ld.initrd_len = sizeof(initrd);
    }
    int rc = fn(&ld, data, size);
    /* A refusal names the file, and what was loaded sits in RAM. */
    if (rc < 0 && !strstr(qv_last_error()->message, "fuzz."))
        abort();
    if (rc == 0 && ld.entry.long_mode && ld.entry.rsp != BOOT_STACK)
        abort();
    kvm_ld_clear(&ld);
    qv_reset_error();
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run(data, size, FUZZ_LOAD);
    run(data, size, kvm_ld_load);
    return 0;
}
