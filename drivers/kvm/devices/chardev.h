/* Console backends for the UART: stdio, file, pty, unix socket, null. */
#ifndef QV_KVM_CHARDEV_H
#define QV_KVM_CHARDEV_H

#include <stddef.h>
#include <stdint.h>

#include "../../../lib/conf/domain.h"

struct kvm_chardev;
typedef void (*kvm_chardev_input_fn)(void *opaque, const uint8_t *buf, size_t len);

/* cfg NULL: output is discarded. */
struct kvm_chardev *kvm_chardev_open(const struct qv_chardev *cfg, const char *vm_name);
void kvm_chardev_write(struct kvm_chardev *c, const uint8_t *buf, size_t len);
void kvm_chardev_flush(struct kvm_chardev *c);
/* Start a thread feeding input to fn. */
void kvm_chardev_start_input(struct kvm_chardev *c, kvm_chardev_input_fn fn, void *opaque);
void kvm_chardev_close(struct kvm_chardev *c);
/* "stdio", "file:/p", "pty:/dev/pts/N", "unix:/p", "null". Owned by c. */
const char *kvm_chardev_endpoint(struct kvm_chardev *c);

#endif
