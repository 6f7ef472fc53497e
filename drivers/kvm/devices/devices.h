/* The legacy PC devices. Each is built from a kvm_dev_host and the plain
 * values it needs, and exposes bus handlers (kvm_bus_fn); where it sits and
 * which IRQ line it drives is the board's choice (board/board_pc.c), never
 * the device's. */
#ifndef QV_KVM_DEVICES_H
#define QV_KVM_DEVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "dev_host.h"

struct kvm_chardev;
struct snap_out;
struct snap_in;

/* Snapshot state. Each device has kvm_X_save, which appends its state to a
 * section (snapshot/snap_buf.h) in the layout KVM_X_STATE_VERSION names,
 * and kvm_X_load, which reads a section of that version (the board checks
 * the version), checks every value as it would a guest's write, and either
 * takes all of it or nothing: on failure the qv error names the section and
 * the field, and the device goes on as it was. A device is saved while no
 * vCPU runs (the machine is paused). */

/* 16550A UART: 8 registers. */
struct kvm_uart;
struct kvm_uart *kvm_uart_new(const struct kvm_dev_host *host, uint32_t irq);
void kvm_uart_free(struct kvm_uart *u);
void kvm_uart_io(void *u, uint64_t offset, uint8_t *data, uint32_t size, bool is_write);
/* Transmitted bytes go to chr (NULL: dropped). */
void kvm_uart_connect(struct kvm_uart *u, struct kvm_chardev *chr);
/* Bytes from the console for the guest. Returns how many fit. */
size_t kvm_uart_receive(struct kvm_uart *u, const uint8_t *buf, size_t len);
/* Every register, the receive FIFO's bytes and the THR-empty interrupt
 * still to be acknowledged; after a load the IRQ line is driven to the
 * level the restored registers ask for, whatever it was. */
#define KVM_UART_STATE_VERSION 1
int kvm_uart_save(const struct kvm_uart *u, struct snap_out *o);
int kvm_uart_load(struct kvm_uart *u, struct snap_in *in);

/* i8042: a data port (0x60 on a PC) and a command/status port (0x64). */
struct kvm_i8042;
struct kvm_i8042 *kvm_i8042_new(const struct kvm_dev_host *host);
void kvm_i8042_free(struct kvm_i8042 *k);
void kvm_i8042_data_io(void *k, uint64_t offset, uint8_t *data, uint32_t size, bool is_write);
void kvm_i8042_cmd_io(void *k, uint64_t offset, uint8_t *data, uint32_t size, bool is_write);
/* Status, command byte, output buffer, output port and a command waiting
 * for its data byte. */
#define KVM_I8042_STATE_VERSION 1
int kvm_i8042_save(const struct kvm_i8042 *k, struct snap_out *o);
int kvm_i8042_load(struct kvm_i8042 *k, struct snap_in *in);

/* isa-debug-exit. */
struct kvm_debug_exit;
struct kvm_debug_exit *kvm_debug_exit_new(const struct kvm_dev_host *host);
void kvm_debug_exit_free(struct kvm_debug_exit *d);
void kvm_debug_exit_io(void *d, uint64_t offset, uint8_t *data, uint32_t size, bool is_write);
/* isa-debug-exit keeps no state: its section is empty, and a load refuses
 * one that is not. It is saved all the same, so that a snapshot names every
 * device of the board and a board without one refuses it. */
#define KVM_DEBUG_EXIT_STATE_VERSION 1
int kvm_debug_exit_save(const struct kvm_debug_exit *d, struct snap_out *o);
int kvm_debug_exit_load(struct kvm_debug_exit *d, struct snap_in *in);

/* fw_cfg, legacy interface: selector at offset 0, data at offset 1. */
struct kvm_fw_cfg_info {
    const char *uuid; /* as in the definition; hex digits are taken in order */
    uint64_t ram_size;
    uint16_t vcpus, max_vcpus;
};
struct kvm_fw_cfg;
struct kvm_fw_cfg *kvm_fw_cfg_new(const struct kvm_dev_host *host,
                                  const struct kvm_fw_cfg_info *info);
void kvm_fw_cfg_free(struct kvm_fw_cfg *f);
void kvm_fw_cfg_io(void *f, uint64_t offset, uint8_t *data, uint32_t size, bool is_write);
/* Add a named file (copied); selectors are given in order from 0x20. */
int kvm_fw_cfg_add_file(struct kvm_fw_cfg *f, const char *name, const void *data, size_t len);
/* The selector, the offset into the selected item and, for a file, its
 * name. The items themselves are not saved: they are built from the
 * definition, so a load checks that a selected file exists under the same
 * selector and name. */
#define KVM_FW_CFG_STATE_VERSION 1
int kvm_fw_cfg_save(const struct kvm_fw_cfg *f, struct snap_out *o);
int kvm_fw_cfg_load(struct kvm_fw_cfg *f, struct snap_in *in);

/* MC146818 CMOS/RTC: index at offset 0, data at offset 1. */
struct kvm_cmos;
/* below/above: RAM bytes under 4 GiB and from 4 GiB, as the board maps it. */
struct kvm_cmos *kvm_cmos_new(const struct kvm_dev_host *host, uint64_t below, uint64_t above,
                              uint32_t vcpus);
void kvm_cmos_free(struct kvm_cmos *c);
void kvm_cmos_io(void *c, uint64_t offset, uint8_t *data, uint32_t size, bool is_write);
/* The index register and the 128 bytes. That is all the device keeps: the
 * clock is read from the host at each access, and the alarm cells and
 * register C are read-only here (a load checks they hold what this device
 * holds). */
#define KVM_CMOS_STATE_VERSION 1
int kvm_cmos_save(const struct kvm_cmos *c, struct snap_out *o);
int kvm_cmos_load(struct kvm_cmos *c, struct snap_in *in);

#endif
