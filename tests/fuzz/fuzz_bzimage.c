/* libFuzzer target for the Linux bzImage loader (see fuzz_loader.h). */
#define FUZZ_LOAD kvm_ld_bzimage
#include "fuzz_loader.h"
