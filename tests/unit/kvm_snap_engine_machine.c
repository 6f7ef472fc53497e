/* The plain-memory machine of kvm_snap_engine_machine.h. It checks what
 * the engine must guarantee of the calls it makes (state only set while
 * paused, devices quiesced around a save) with ck_assert, so a broken
 * engine fails the test rather than the machine papering over it. */
#define _GNU_SOURCE
#include "kvm_snap_engine_machine.h"

#include <check.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "lib/util/error.h"

#define TM(m) ((struct tmach *)(m))
#define HIGH_GPA 0x100000000ull
#define HIGH_SIZE 0x10000ull

static void ram_alloc(struct tmach *t, uint64_t ram)
{
    t->nram = 2;
    t->ram[0] = (struct snap_mem_ram){.gpa = 0, .size = ram};
    t->ram[1] = (struct snap_mem_ram){.gpa = HIGH_GPA, .size = HIGH_SIZE};
    for (size_t i = 0; i < t->nram; i++) {
        t->ram[i].hva =
            mmap(NULL, t->ram[i].size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        ck_assert_ptr_ne(t->ram[i].hva, MAP_FAILED);
        t->dirty[i] = dirty_bitmap_new(t->ram[i].size / 4096);
    }
}

static void ram_free(struct tmach *t)
{
    for (size_t i = 0; i < t->nram; i++) {
        snap_mem_unmap(&t->ram[i], 1);
        dirty_bitmap_free(t->dirty[i]);
        t->dirty[i] = NULL;
    }
    t->nram = 0;
}

static void vcpus_init(struct tmach *t, uint32_t n)
{
    t->nvcpus = n;
    for (uint32_t i = 0; i < n; i++) {
        memset(&t->vcpu[i], 0, sizeof(t->vcpu[i]));
        t->vcpu[i].regs.rip = 0x1000 + i;
        t->vcpu[i].regs.rax = 0xabc0 + i;
        t->vcpu[i].sregs.cr0 = 0x11;
    }
}

void tm_init(struct tmach *t, uint32_t nvcpus, uint64_t ram, const char *tag)
{
    memset(t, 0, sizeof(*t));
    t->state = VM_STATE_RUNNING;
    vcpus_init(t, nvcpus);
    ram_alloc(t, ram);
    t->has_uart = true;
    t->def =
        g_strdup_printf("vcpus=%u ram=%llu uart=1 tag=%s", nvcpus, (unsigned long long)ram, tag);
}

void tm_fini(struct tmach *t)
{
    ram_free(t);
    for (size_t i = 0; i < t->ndisks; i++)
        g_free(t->disks[i]);
    g_free(t->def);
}

static void *hva(const struct tmach *t, uint64_t gpa, size_t len, size_t *region)
{
    for (size_t i = 0; i < t->nram; i++)
        if (gpa >= t->ram[i].gpa && gpa + len <= t->ram[i].gpa + t->ram[i].size) {
            if (region)
                *region = i;
            return (uint8_t *)t->ram[i].hva + (gpa - t->ram[i].gpa);
        }
    ck_abort_msg("gpa 0x%llx is not RAM", (unsigned long long)gpa);
    return NULL;
}

void tm_write(struct tmach *t, uint64_t gpa, const void *p, size_t len)
{
    ck_assert_int_eq(t->state, VM_STATE_RUNNING);
    size_t r;
    memcpy(hva(t, gpa, len, &r), p, len);
    if (t->logging)
        ck_assert_int_eq(dirty_bitmap_mark(t->dirty[r], gpa - t->ram[r].gpa, len), 0);
}

void tm_fill(struct tmach *t, uint64_t gpa, uint8_t byte, size_t len)
{
    g_autofree uint8_t *buf = g_malloc(len);
    memset(buf, byte, len);
    tm_write(t, gpa, buf, len);
}

uint8_t tm_byte(const struct tmach *t, uint64_t gpa)
{
    return *(uint8_t *)hva(t, gpa, 1, NULL);
}

/* ---- the ops ---- */

static void logop(struct tmach *t, const char *op)
{
    size_t n = strlen(t->log);
    ck_assert_uint_lt(n + strlen(op) + 2, sizeof(t->log));
    snprintf(t->log + n, sizeof(t->log) - n, "%s%s", n ? " " : "", op);
}

static int first_byte(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    int c = fgetc(f);
    fclose(f);
    return c;
}

static enum vm_state op_state(void *m)
{
    return TM(m)->state;
}

static int op_pause(void *m)
{
    logop(TM(m), "pause");
    ck_assert_int_eq(TM(m)->state, VM_STATE_RUNNING);
    TM(m)->state = VM_STATE_PAUSED;
    TM(m)->pauses++;
    return 0;
}

static int op_resume(void *m)
{
    logop(TM(m), "resume");
    ck_assert_int_eq(TM(m)->state, VM_STATE_PAUSED);
    TM(m)->state = VM_STATE_RUNNING;
    TM(m)->resumes++;
    return 0;
}

static int op_settle(void *m)
{
    struct tmach *t = TM(m);
    logop(t, "settle");
    ck_assert_int_ne(t->state, VM_STATE_RUNNING);
    if (t->pending) {
        size_t r;
        *(uint8_t *)hva(t, t->pending_gpa, 1, &r) = t->pending_byte;
        if (t->logging)
            ck_assert_int_eq(dirty_bitmap_mark(t->dirty[r], t->pending_gpa - t->ram[r].gpa, 1), 0);
        t->pending = false;
    }
    return 0;
}

static int op_quiesce(void *m)
{
    logop(TM(m), "quiesce");
    ck_assert(!TM(m)->quiesced);
    ck_assert_int_ne(TM(m)->state, VM_STATE_RUNNING);
    TM(m)->quiesced = true;
    return 0;
}

static void op_unquiesce(void *m)
{
    logop(TM(m), "unquiesce");
    ck_assert(TM(m)->quiesced);
    TM(m)->quiesced = false;
    struct tmach *t = TM(m);
    if (t->wake) {
        /* The vCPUs are still paused: a device's write, not tm_write's. */
        size_t r;
        *(uint8_t *)hva(t, t->wake_gpa, 1, &r) = t->wake_byte;
        if (t->logging)
            ck_assert_int_eq(dirty_bitmap_mark(t->dirty[r], t->wake_gpa - t->ram[r].gpa, 1), 0);
    }
}

static GPtrArray *op_devices_save(void *m)
{
    struct tmach *t = TM(m);
    ck_assert(t->quiesced);
    GPtrArray *a = g_ptr_array_new_with_free_func((GDestroyNotify)snap_section_free);
    if (t->has_uart) {
        struct snap_out o;
        snap_out_init(&o);
        snap_put_u32(&o, t->uart_count);
        g_ptr_array_add(a, snap_section_new("uart@0x3f8", 1, &o));
    }
    return a;
}

static int op_devices_check(void *m, struct snap_section *const *s, size_t n)
{
    struct tmach *t = TM(m);
    size_t want = t->has_uart ? 1 : 0;
    if (n > want)
        return qv_error_set(QV_ERR_INVALID_STATE, "the snapshot has device '%s', the VM not",
                            s[want]->name);
    if (n < want)
        return qv_error_set(QV_ERR_INVALID_STATE, "the VM has device 'uart@0x3f8', the snapshot "
                                                  "not");
    if (n && (strcmp(s[0]->name, "uart@0x3f8") != 0 || s[0]->version != 1))
        return qv_error_set(QV_ERR_INVALID_STATE, "device '%s' is not the VM's", s[0]->name);
    return 0;
}

static int op_devices_load(void *m, struct snap_section *const *s, size_t n)
{
    struct tmach *t = TM(m);
    ck_assert_int_ne(t->state, VM_STATE_RUNNING);
    if (op_devices_check(m, s, n) < 0)
        return qv_error_code();
    if (!n)
        return 0;
    struct snap_in in;
    snap_in_init(&in, s[0]->name, s[0]->data->data, s[0]->data->len);
    uint32_t c = snap_get_u32(&in, "count");
    if (snap_in_finish(&in) < 0)
        return qv_error_code();
    t->uart_count = c;
    return 0;
}

static uint32_t op_vcpu_count(void *m)
{
    return TM(m)->nvcpus;
}

static int op_vcpu_get(void *m, uint32_t i, struct snap_vcpu *v)
{
    ck_assert_int_ne(TM(m)->state, VM_STATE_RUNNING);
    ck_assert_uint_lt(i, TM(m)->nvcpus);
    *v = TM(m)->vcpu[i];
    return 0;
}

static int op_vcpu_set(void *m, uint32_t i, const struct snap_vcpu *v)
{
    ck_assert_int_ne(TM(m)->state, VM_STATE_RUNNING);
    ck_assert_uint_lt(i, TM(m)->nvcpus);
    TM(m)->vcpu[i] = *v;
    TM(m)->vcpu[i].xsave = NULL;
    return 0;
}

static size_t op_ram(void *m, struct snap_mem_ram *out, size_t max)
{
    struct tmach *t = TM(m);
    size_t n = t->nram < max ? t->nram : max;
    memcpy(out, t->ram, n * sizeof(*out));
    return n;
}

static int op_dirty_start(void *m)
{
    TM(m)->logging = true;
    return 0;
}

static int op_dirty_take(void *m, size_t i, struct dirty_bitmap *into)
{
    struct tmach *t = TM(m);
    ck_assert(t->logging);
    ck_assert_uint_lt(i, t->nram);
    int rc = dirty_bitmap_or(into, t->dirty[i]);
    dirty_bitmap_clear_all(t->dirty[i]);
    return rc;
}

static int op_ram_replace(void *m, struct snap_mem_ram *ram, size_t n)
{
    logop(TM(m), "ram_replace");
    struct tmach *t = TM(m);
    ck_assert_int_ne(t->state, VM_STATE_RUNNING);
    /* No device thread may touch the memory being swapped. */
    ck_assert(t->quiesced);
    ck_assert_uint_eq(n, t->nram);
    for (size_t i = 0; i < n; i++) {
        ck_assert_uint_eq(ram[i].gpa, t->ram[i].gpa);
        ck_assert_uint_eq(ram[i].size, t->ram[i].size);
        snap_mem_unmap(&t->ram[i], 1);
        t->ram[i] = ram[i];
        /* New memory slots start with a clean log. */
        dirty_bitmap_clear_all(t->dirty[i]);
    }
    return 0;
}

static char *op_xml(void *m)
{
    return g_strdup(TM(m)->def);
}

static int op_disks(void *m, GPtrArray *paths)
{
    for (size_t i = 0; i < TM(m)->ndisks; i++)
        g_ptr_array_add(paths, g_strdup(TM(m)->disks[i]));
    return 0;
}

static int op_define(void *m, const char *xml, bool rebuild, bool stopped)
{
    struct tmach *t = TM(m);
    unsigned nv = 0, uart = 0;
    unsigned long long ram = 0;
    if (sscanf(xml, "vcpus=%u ram=%llu uart=%u", &nv, &ram, &uart) != 3 || !nv || nv > TM_MAX_VCPUS)
        return qv_error_set(QV_ERR_PROTOCOL, "test machine: bad definition '%s'", xml);
    logop(t, stopped ? "define_stopped" : rebuild ? "rebuild" : "define");
    if (stopped) {
        t->state = VM_STATE_STOPPED;
        t->logging = false;
    } else if (rebuild) {
        if (!t->can_rebuild)
            return qv_error_set(QV_ERR_INVALID_STATE, "this test machine cannot be rebuilt");
        /* As kvm_machine_rebuild: fresh vCPUs, RAM and devices, paused. */
        /* The old devices go, the new ones start; old ones still
         * quiesced are discarded without taking another request. */
        if (t->quiesced)
            t->discarded_quiesced++;
        t->quiesced = false;
        for (size_t i = 0; i < t->ndisks; i++)
            t->opened[i] = first_byte(t->disks[i]);
        ram_free(t);
        ram_alloc(t, ram);
        vcpus_init(t, nv);
        t->has_uart = uart != 0;
        t->uart_count = 0;
        t->logging = false;
        t->state = VM_STATE_PAUSED;
        t->rebuilds++;
    }
    g_free(t->def);
    t->def = g_strdup(xml);
    return 0;
}

static void op_fail(void *m)
{
    TM(m)->state = VM_STATE_STOPPED;
    TM(m)->fails++;
    TM(m)->quiesced = false; /* stopped: its devices are gone */
}

const struct snap_machine_ops tm_ops = {
    .state = op_state,
    .pause = op_pause,
    .resume = op_resume,
    .settle = op_settle,
    .quiesce = op_quiesce,
    .unquiesce = op_unquiesce,
    .devices_save = op_devices_save,
    .devices_load = op_devices_load,
    .devices_check = op_devices_check,
    .vcpu_count = op_vcpu_count,
    .vcpu_get = op_vcpu_get,
    .vcpu_set = op_vcpu_set,
    .ram = op_ram,
    .dirty_start = op_dirty_start,
    .dirty_take = op_dirty_take,
    .ram_replace = op_ram_replace,
    .xml = op_xml,
    .disks = op_disks,
    .define = op_define,
    .fail = op_fail,
};
