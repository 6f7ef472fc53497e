/* A snapshot as the kvm driver will write one (a state file with two
 * sections, a guest memory file, the definition), made through snap_dir.h
 * and checked byte for byte, for the snapshot directory tests. */
#ifndef QV_TESTS_KVM_SNAP_FIXTURE_H
#define QV_TESTS_KVM_SNAP_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "drivers/kvm/snapshot/snap_dir.h"

struct snap_fixture {
    const char *name;
    size_t mem_len; /* bytes of the "memory" file */
    uint8_t seed;   /* what every byte is derived from */
    enum vm_state state;
    int64_t created_us;
};

/* Create fx in dir: state (snap_file), memory (snap_stage_write) and
 * domain.xml (snap_stage_open, written by the caller). On failure the
 * stage is aborted and the failing call's code returned. */
int fixture_create(const char *dir, const struct snap_fixture *fx, const struct snap_hook *hook);
/* Assert that fx is in dir, listed, complete and unchanged: info, every
 * section, every byte of memory and domain.xml, modes 0700/0600, no other
 * files. */
void fixture_check(const char *dir, const struct snap_fixture *fx);
/* Entries of dir whose names start with '.' (stages, half deletes). */
int fixture_hidden_count(const char *dir);
/* Whether dir holds an entry called name. */
int fixture_exists(const char *dir, const char *name);

#endif
