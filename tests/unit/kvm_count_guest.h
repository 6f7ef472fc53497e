/* The counting guest (tests/guests/count.elf) as the kvm snapshot and
 * clone tests watch it: its counter in guest memory, and the "count K"
 * lines it prints on its console. */
#ifndef QV_TESTS_KVM_COUNT_GUEST_H
#define QV_TESTS_KVM_COUNT_GUEST_H

#include <stdbool.h>
#include <stdint.h>

#include "qv/qv.h"

/* The guest's counter (at guest address 0x5000). */
uint32_t kvm_count_progress(struct vm *vm);
/* Wait (up to 20 s; the guest counts about 100 lines a second) until the
 * counter reaches at_least. */
void kvm_count_wait(struct vm *vm, uint32_t at_least);
/* The whole file at path (g_free), asserting it can be read. */
char *kvm_count_slurp(const char *path);
/* Whole "count K" lines, each the one after the one before (the first may
 * be the tail of a line when partial_ok); the last count, the first in
 * *first. */
uint32_t kvm_count_check_lines(const char *text, bool partial_ok, uint32_t *first);

#endif
