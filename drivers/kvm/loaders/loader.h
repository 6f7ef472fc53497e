/* Kernel loading for a machine. kvm_load_kernel() reads <os><kernel/
 * initrd/cmdline>, loads them into the machine's RAM (image.h: the loaders
 * work on plain memory) and leaves the boot vCPU ready. */
#ifndef QV_KVM_LOADER_H
#define QV_KVM_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"

struct kvm_machine;

int kvm_load_kernel(struct kvm_machine *m);
/* The same with the board's parameters for the kernel's command line
 * (kvm_ld_cmdline_join; NULL: none). */
int kvm_load_kernel_announce(struct kvm_machine *m, const char *announce);
/* Read a whole file (kernel or initrd), naming it in errors. */
int kvm_loader_read(const char *path, const char *role, uint8_t **data, size_t *len);

#endif
