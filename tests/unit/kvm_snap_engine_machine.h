/* A machine in plain memory for the snapshot engine's tests: RAM regions in
 * anonymous memory whose "guest" writes mark a dirty log as KVM's would,
 * vCPUs whose registers are plain structs, one device (a counter saved as
 * the section "uart@0x3f8") and disk image files. */
#ifndef QV_TESTS_KVM_SNAP_ENGINE_MACHINE_H
#define QV_TESTS_KVM_SNAP_ENGINE_MACHINE_H

#include <stdbool.h>
#include <stdint.h>

#include "drivers/kvm/snapshot/snap_engine.h"

#define TM_MAX_REGIONS 4
#define TM_MAX_VCPUS 4
#define TM_MAX_DISKS 2

struct tmach {
    enum vm_state state;
    uint32_t nvcpus;
    struct snap_vcpu vcpu[TM_MAX_VCPUS];
    size_t nram;
    struct snap_mem_ram ram[TM_MAX_REGIONS];
    struct dirty_bitmap *dirty[TM_MAX_REGIONS];
    bool logging;
    bool has_uart;
    uint32_t uart_count;
    char *disks[TM_MAX_DISKS]; /* writable images */
    size_t ndisks;
    bool can_rebuild;
    bool quiesced;
    int pauses, resumes, rebuilds, fails;
    /* Rebuilds that found the old devices still quiesced (discarded so). */
    int discarded_quiesced;
    char *def; /* the "definition": "vcpus=N ram=BYTES uart=0|1 tag=WORD" */
    /* The ops called, in order ("pause quiesce ram_replace ..."), and the
     * first byte of each disk as the last rebuild opened it (a block
     * backend opens its image when the devices are made). */
    char log[1024];
    int opened[TM_MAX_DISKS];
    /* A vCPU's pending string-input exit: settle writes this byte at
     * pending_gpa (as KVM completing an INS would), then clears it. */
    bool pending;
    uint64_t pending_gpa;
    uint8_t pending_byte;
    /* A device woken by unquiesce that fills a buffer the guest posted
     * before (as virtio does): writes wake_byte at wake_gpa, marked as a
     * device's host write is, when wake is set. */
    bool wake;
    uint64_t wake_gpa;
    uint8_t wake_byte;
};

extern const struct snap_machine_ops tm_ops;

/* A running machine of nvcpus vCPUs and one region of ram bytes at gpa 0
 * (plus one of 64 KiB at 4 GiB), a uart, no disks. */
void tm_init(struct tmach *t, uint32_t nvcpus, uint64_t ram, const char *tag);
void tm_fini(struct tmach *t);
/* A guest write: into RAM, marked in the dirty log when logging. */
void tm_write(struct tmach *t, uint64_t gpa, const void *p, size_t len);
void tm_fill(struct tmach *t, uint64_t gpa, uint8_t byte, size_t len);
uint8_t tm_byte(const struct tmach *t, uint64_t gpa);

#endif
