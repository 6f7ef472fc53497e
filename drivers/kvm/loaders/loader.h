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

/* Copy len bytes to guest memory, failing with a message naming the file
 * when they do not fit in RAM (the firmware tables use this). */
int kvm_loader_put(struct kvm_machine *m, const char *file, uint64_t gpa, const void *src,
                   size_t len, const char *what);
/* Read a whole file (kernel or initrd), naming it in errors. */
int kvm_loader_read(const char *path, const char *role, uint8_t **data, size_t *len);

#endif
