/* libFuzzer target for the ELF64 loader (see fuzz_loader.h). */
#define FUZZ_LOAD kvm_ld_elf64
#define FUZZ_BOOT_INFO 0 /* ELF64 kernels take neither */
#include "fuzz_loader.h"
