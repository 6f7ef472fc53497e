/* A section of a snapshot as bytes: what a device, a vCPU or the board puts
 * in, and reads back on restore. Values are little-endian in a fixed order;
 * the section's version (snap_file.h) says which order. A snapshot file is
 * input libqv must not trust (it may be damaged or written by someone
 * else), so a reader never reads past the section's end: a short section
 * sets one sticky error naming the section and the field, every later get
 * returns 0, and snap_in_finish() reports it. A device still checks what it
 * reads as it checks what a guest writes (a queue size, a selector index). */
#ifndef QV_KVM_SNAP_BUF_H
#define QV_KVM_SNAP_BUF_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct snap_out {
    GByteArray *bytes;
};

void snap_out_init(struct snap_out *o);
/* The bytes, now the caller's (g_byte_array_unref); o is empty again. */
GByteArray *snap_out_steal(struct snap_out *o);
void snap_out_clear(struct snap_out *o);

void snap_put_u8(struct snap_out *o, uint8_t v);
void snap_put_u16(struct snap_out *o, uint16_t v);
void snap_put_u32(struct snap_out *o, uint32_t v);
void snap_put_u64(struct snap_out *o, uint64_t v);
void snap_put_bytes(struct snap_out *o, const void *p, size_t len);
/* len as a u32, then the bytes: for variable-length fields. */
void snap_put_blob(struct snap_out *o, const void *p, uint32_t len);

/* One named, versioned section as a saver hands it to the snapshot file
 * (snap_file.h). name says what it holds ("uart@0x3f8", "vcpu0.regs"). */
struct snap_section {
    char *name;
    uint32_t version;
    GByteArray *data;
};

/* Takes o's bytes (o is empty again). */
struct snap_section *snap_section_new(const char *name, uint32_t version, struct snap_out *o);
void snap_section_free(struct snap_section *s);

struct snap_in {
    const uint8_t *p;
    size_t len, pos;
    const char *section; /* names the section in errors; not owned */
    char *err;           /* the first failure, or NULL */
};

void snap_in_init(struct snap_in *in, const char *section, const void *p, size_t len);

uint8_t snap_get_u8(struct snap_in *in, const char *field);
uint16_t snap_get_u16(struct snap_in *in, const char *field);
uint32_t snap_get_u32(struct snap_in *in, const char *field);
uint64_t snap_get_u64(struct snap_in *in, const char *field);
/* Copy exactly len bytes into p (zeroed when the section is short). */
void snap_get_bytes(struct snap_in *in, const char *field, void *p, size_t len);
/* A snap_put_blob field: points into the section (no copy) and sets *len;
 * NULL with *len 0 when short or longer than max. */
const void *snap_get_blob(struct snap_in *in, const char *field, uint32_t max, uint32_t *len);

/* Record a value the reader found out of range ("queue 0 size 3 is not a
 * power of 2"); the first failure wins. */
void snap_in_fail(struct snap_in *in, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
bool snap_in_ok(const struct snap_in *in);
/* 0 when every byte was read and nothing failed; otherwise sets the qv
 * error (QV_ERR_PROTOCOL: "snapshot section 'uart@0x3f8': ...") and
 * returns it. Frees the error text either way. */
int snap_in_finish(struct snap_in *in);

#endif
