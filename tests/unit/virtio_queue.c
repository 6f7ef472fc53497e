/* Split virtqueues through the transport, with a probe device that records
 * what it is handed: chains as iovecs, interrupt suppression (EVENT_IDX,
 * NO_INTERRUPT), config space, reset with requests in flight, and a
 * hostile driver: every way to break a ring or a chain leaves that device
 * NEEDS_RESET (readable, with a config interrupt) while a device beside it
 * keeps working, and a reset and re-init make the broken one work again. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "drivers/kvm/virtio/virtio_rng.h"
#include "qv/error.h"
#include "unit/virtio_test_driver.h"

#define BASE 0xd0000000ull
#define GSI 5
#define RAM (8u << 20)
#define QSIZE 16

/* ---- the probe device ---- */

struct probe {
    struct virtio_dev *vd;
    int last_pop;
    unsigned kicks, resets, requests;
    uint32_t out_num, in_num;
    uint64_t out_len, in_len;
    uint8_t out[64];
    uint8_t config[8];
    int start_rc;
    bool hold; /* keep popped requests instead of answering */
    struct virtio_req *held;
    uint64_t features;
};

static void probe_bind(void *dev, struct virtio_dev *vd)
{
    ((struct probe *)dev)->vd = vd;
}

static void probe_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t size)
{
    memcpy(data, ((struct probe *)dev)->config + off, size);
}

static void probe_config_write(void *dev, uint32_t off, const uint8_t *data, uint32_t size)
{
    memcpy(((struct probe *)dev)->config + off, data, size);
}

static int probe_start(void *dev, uint64_t features)
{
    struct probe *p = dev;
    p->features = features;
    return p->start_rc;
}

static void probe_kick(void *dev, uint32_t q)
{
    struct probe *p = dev;
    p->kicks++;
    struct virtio_req *req;
    while ((p->last_pop = virtio_req_pop(p->vd, q, &req)) > 0) {
        p->requests++;
        p->out_num = req->out_num;
        p->in_num = req->in_num;
        p->out_len = req->out_len;
        p->in_len = req->in_len;
        memset(p->out, 0, sizeof(p->out));
        virtio_iov_to_buf(req->out, req->out_num, 0, p->out, sizeof(p->out));
        if (p->out_len && p->out[0] == '!') {
            /* A request the device itself finds malformed. */
            virtio_dev_fail(p->vd, "probe: a request starting with '!'");
            virtio_req_push(p->vd, q, req, 0);
            return;
        }
        if (p->hold) {
            p->held = req;
            return;
        }
        for (uint32_t i = 0; i < req->in_num; i++)
            memset(req->in[i].iov_base, 0xab, req->in[i].iov_len);
        /* Claiming more than the buffers hold is cut to what they hold. */
        virtio_req_done(p->vd, q, req, (uint32_t)req->in_len + 100);
    }
}

static void probe_reset(void *dev)
{
    struct probe *p = dev;
    p->resets++;
    p->held = NULL; /* the transport drops it */
}

static void probe_free(void *dev)
{
    (void)dev;
}

static const struct virtio_dev_ops probe_ops = {
    .name = "virtio-probe",
    .device_id = 0x42,
    .features = 1u << 5,
    .num_queues = 2,
    .queue_max = QSIZE,
    .config_size = sizeof(((struct probe *)0)->config),
    .bind = probe_bind,
    .config_read = probe_config_read,
    .config_write = probe_config_write,
    .start = probe_start,
    .kick = probe_kick,
    .reset = probe_reset,
    .free = probe_free,
};

static struct vtd_host h;
static struct probe p;
static struct vtd_dev a, b; /* a: the probe; b: an rng beside it */

static void setup(void)
{
    vtd_host_init(&h, RAM);
    memset(&p, 0, sizeof(p));
    struct virtio_dev *vd = virtio_mmio_new(&h.host, BASE, GSI, &probe_ops, &p);
    ck_assert_msg(vd, "%s", qv_last_error()->message);
    vtd_attach(&a, &h, vd, BASE, GSI);
    vd = virtio_rng_new(&h.host, BASE + 0x200, GSI + 1);
    ck_assert_ptr_nonnull(vd);
    vtd_attach(&b, &h, vd, BASE + 0x200, GSI + 1);
}

static void teardown(void)
{
    virtio_mmio_free(a.vd);
    virtio_mmio_free(b.vd);
    vtd_detach(&a);
    vtd_detach(&b);
    vtd_host_clear(&h);
}

#define ALL_F                                                                                      \
    (VTD_F(VIRTIO_F_VERSION_1) | VTD_F(VIRTIO_F_RING_INDIRECT_DESC) |                              \
     VTD_F(VIRTIO_F_RING_EVENT_IDX))

/* One request on the probe: an out buffer with text, an in buffer of n. */
static uint32_t probe_request(struct vtd_dev *d, const char *text, uint32_t n, bool indirect)
{
    uint64_t o = vtd_alloc(&h, 64, 8), i = vtd_alloc(&h, n, 8);
    memcpy(vtd_ptr(&h, o), text, strlen(text));
    uint16_t head = vtd_add(d, 0, &(struct vtd_buf){o, (uint32_t)strlen(text)}, 1,
                            &(struct vtd_buf){i, n}, 1, indirect);
    vtd_kick(d, 0);
    uint32_t id, len;
    ck_assert(vtd_wait_used(d, 0, &id, &len, 1000));
    ck_assert_uint_eq(id, head);
    ck_assert_uint_eq(((uint8_t *)vtd_ptr(&h, i))[n - 1], 0xab);
    return len;
}

static void rng_works(struct vtd_dev *d)
{
    ck_assert(vtd_init(d, VTD_F(VIRTIO_F_VERSION_1), 1, 16));
    uint64_t buf = vtd_alloc(&h, 32, 8);
    vtd_add(d, 0, NULL, 0, &(struct vtd_buf){buf, 32}, 1, false);
    vtd_kick(d, 0);
    uint32_t len;
    ck_assert(vtd_wait_used(d, 0, NULL, &len, 1000));
    ck_assert_uint_eq(len, 32);
}

START_TEST(chains_reach_the_device)
{
    ck_assert(vtd_init(&a, ALL_F, 2, QSIZE));
    ck_assert_uint_eq(p.features, ALL_F);
    /* Two readable buffers then two writable ones, and a zero-length one
     * that carries nothing. */
    uint64_t o1 = vtd_alloc(&h, 8, 8), o2 = vtd_alloc(&h, 8, 8);
    uint64_t i1 = vtd_alloc(&h, 10, 8), i2 = vtd_alloc(&h, 6, 8);
    memcpy(vtd_ptr(&h, o1), "hello", 5);
    memcpy(vtd_ptr(&h, o2), "world", 5);
    struct vtd_buf out[] = {{o1, 5}, {o2, 5}, {o2, 0}};
    struct vtd_buf in[] = {{i1, 10}, {i2, 6}};
    for (int indirect = 0; indirect < 2; indirect++) {
        vtd_add(&a, 0, out, 3, in, 2, indirect);
        vtd_kick(&a, 0);
        uint32_t len;
        ck_assert(vtd_wait_used(&a, 0, NULL, &len, 1000));
        ck_assert_uint_eq(p.out_num, 2);
        ck_assert_uint_eq(p.out_len, 10);
        ck_assert_str_eq((char *)p.out, "helloworld");
        ck_assert_uint_eq(p.in_num, 2);
        ck_assert_uint_eq(p.in_len, 16);
        /* The device claimed 116 bytes; the driver sees what fits. */
        ck_assert_uint_eq(len, 16);
        ck_assert_uint_eq(((uint8_t *)vtd_ptr(&h, i2))[5], 0xab);
    }
    /* Queue 1 is separate from queue 0. */
    ck_assert(!vtd_used(&a, 1, NULL, NULL));
}
END_TEST

START_TEST(event_idx_suppresses_interrupts)
{
    ck_assert(vtd_init(&a, VTD_F(VIRTIO_F_VERSION_1) | VTD_F(VIRTIO_F_RING_EVENT_IDX), 1, QSIZE));
    probe_request(&a, "x", 4, false);
    ck_assert_uint_eq(vtd_irq_count(&h, GSI), 1);
    /* The driver wants an interrupt only once used idx passes 4. */
    vtd_set_used_event(&a, 0, 4);
    for (int i = 2; i <= 4; i++) {
        probe_request(&a, "x", 4, false);
        ck_assert_uint_eq(vtd_irq_count(&h, GSI), 1);
    }
    probe_request(&a, "x", 4, false);
    ck_assert_uint_eq(vtd_irq_count(&h, GSI), 2);
    /* The device asks to be notified at the next buffer. */
    ck_assert_uint_eq(vtd_avail_event(&a, 0), 5);
}
END_TEST

START_TEST(no_interrupt_flag_suppresses_interrupts)
{
    ck_assert(vtd_init(&a, VTD_F(VIRTIO_F_VERSION_1), 1, QSIZE));
    vtd_avail_set_flags(&a, 0, VTD_AVAIL_NO_INTERRUPT);
    for (int i = 0; i < 3; i++)
        probe_request(&a, "x", 4, false);
    ck_assert_uint_eq(vtd_irq_count(&h, GSI), 0);
    ck_assert_uint_eq(vtd_read(&a, VTD_INTERRUPT_STATUS), 0);
    vtd_avail_set_flags(&a, 0, 0);
    probe_request(&a, "x", 4, false);
    ck_assert_uint_eq(vtd_irq_count(&h, GSI), 1);
}
END_TEST

START_TEST(config_space)
{
    memcpy(p.config, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    ck_assert_uint_eq(vtd_config_read(&a, 0, 1), 0x01);
    ck_assert_uint_eq(vtd_config_read(&a, 2, 2), 0x0403);
    ck_assert_uint_eq(vtd_config_read(&a, 4, 4), 0x08070605);
    ck_assert_uint_eq(vtd_config_read(&a, 0, 8), 0x0807060504030201ull);
    /* Past the device's 8 bytes: zero, and the device is not asked. */
    ck_assert_uint_eq(vtd_config_read(&a, 6, 4), 0);
    ck_assert_uint_eq(vtd_config_read(&a, 8, 1), 0);
    ck_assert_uint_eq(vtd_config_read(&a, 0xff, 1), 0);
    vtd_config_write(&a, 0, 4, 0xdeadbeef);
    ck_assert_uint_eq(vtd_config_read(&a, 0, 4), 0xdeadbeef);
    vtd_config_write(&a, 7, 2, 0xffff);
    ck_assert_uint_eq(p.config[7], 0x08);
    /* A change bumps the generation and interrupts with the config bit. */
    virtio_config_changed(a.vd);
    ck_assert_uint_eq(vtd_read(&a, VTD_CONFIG_GENERATION), 1);
    ck_assert_uint_eq(vtd_read(&a, VTD_INTERRUPT_STATUS), VTD_INT_CONFIG);
    ck_assert_int_eq(vtd_irq_level(&h, GSI), 1);
}
END_TEST

START_TEST(start_failure_needs_reset)
{
    p.start_rc = QV_ERR_IO;
    ck_assert(!vtd_init(&a, ALL_F, 2, QSIZE));
    ck_assert(vtd_status(&a) & VTD_S_NEEDS_RESET);
    ck_assert(vtd_read(&a, VTD_INTERRUPT_STATUS) & VTD_INT_CONFIG);
    p.start_rc = 0;
    ck_assert(vtd_init(&a, ALL_F, 2, QSIZE));
    probe_request(&a, "x", 4, false);
}
END_TEST

/* The probe device holds one request of queue 0, then the driver
 * disables that queue. Returns the request's buffer. */
static uint64_t hold_one_then_disable(void)
{
    ck_assert(vtd_init(&a, ALL_F, 2, QSIZE));
    p.hold = true;
    uint64_t o = vtd_alloc(&h, 8, 8);
    vtd_add(&a, 0, &(struct vtd_buf){o, 8}, 1, NULL, 0, false);
    vtd_kick(&a, 0);
    ck_assert_ptr_nonnull(p.held);
    vtd_write(&a, VTD_QUEUE_SEL, 0);
    vtd_write(&a, VTD_QUEUE_READY, 0);
    return o;
}

START_TEST(reset_drops_requests_in_flight)
{
    uint64_t o = hold_one_then_disable();
    /* Disabling the queue with a request held: its push goes nowhere. */
    virtio_req_done(a.vd, 0, p.held, 0);
    p.held = NULL;
    ck_assert_uint_eq(vtd_used_idx(&a, 0), 0);
    /* Held again across a device reset: the transport frees it (the
     * sanitizer build checks nothing leaks). */
    ck_assert(vtd_init(&a, ALL_F, 2, QSIZE));
    vtd_add(&a, 0, &(struct vtd_buf){o, 8}, 1, NULL, 0, true);
    vtd_kick(&a, 0);
    ck_assert_ptr_nonnull(p.held);
    vtd_write(&a, VTD_STATUS, 0);
    ck_assert_uint_eq(p.resets, 3);
    ck_assert_ptr_null(p.held);
    p.hold = false;
    ck_assert(vtd_init(&a, ALL_F, 2, QSIZE));
    probe_request(&a, "x", 4, false);
}
END_TEST

/* A request popped from a ring the driver then disabled and set up anew
 * is not completed into the new ring (whose entries it never was). */
START_TEST(request_from_old_ring_not_pushed_into_new)
{
    hold_one_then_disable();
    ck_assert(vtd_queue_setup(&a, 0, QSIZE));
    virtio_req_done(a.vd, 0, p.held, 0);
    p.held = NULL;
    uint32_t id, len;
    ck_assert(!vtd_used(&a, 0, &id, &len));
    ck_assert_uint_eq(vtd_used_idx(&a, 0), 0);
    /* The new ring itself works. */
    p.hold = false;
    probe_request(&a, "y", 4, false);
}
END_TEST

START_TEST(used_ring_starts_clean)
{
    /* Whatever the memory held, a queue made ready has used idx 0 and no
     * NO_NOTIFY flag, so requests are numbered from 0. */
    ck_assert(vtd_negotiate(&a, ALL_F));
    uint64_t r = vtd_alloc(&h, 4096, 4096);
    memset(vtd_ptr(&h, r + 2048), 0x5a, 1024);
    ck_assert(vtd_queue_setup_at(&a, 0, QSIZE, r, r + 1024, r + 2048));
    ck_assert_uint_eq(*(uint16_t *)vtd_ptr(&h, r + 2048), 0);
    ck_assert_uint_eq(vtd_used_idx(&a, 0), 0);
    vtd_driver_ok(&a);
    probe_request(&a, "x", 4, false);
    ck_assert_uint_eq(vtd_used_idx(&a, 0), 1);
}
END_TEST

START_TEST(iov_copies)
{
    uint8_t a1[3] = {0}, a2[1] = {0}, a3[5] = {0};
    struct iovec iov[] = {{a1, 3}, {a2, 0}, {a3, 5}};
    /* Into the iovecs from offset 2: across the empty one, cut at the end. */
    ck_assert_uint_eq(virtio_iov_from_buf(iov, 3, 2, "abcdefghij", 10), 6);
    ck_assert_mem_eq(a1 + 2, "a", 1);
    ck_assert_mem_eq(a3, "bcdef", 5);
    uint8_t out[16] = {0};
    ck_assert_uint_eq(virtio_iov_to_buf(iov, 3, 0, out, sizeof(out)), 8);
    ck_assert_mem_eq(out + 2, "abcdef", 6);
    ck_assert_uint_eq(virtio_iov_to_buf(iov, 3, 4, out, 2), 2);
    ck_assert_mem_eq(out, "cd", 2);
    /* Skipping past the end copies nothing. */
    ck_assert_uint_eq(virtio_iov_to_buf(iov, 3, 8, out, 4), 0);
    ck_assert_uint_eq(virtio_iov_to_buf(iov, 3, 100, out, 4), 0);
    ck_assert_uint_eq(virtio_iov_from_buf(iov, 0, 0, "x", 1), 0);
}
END_TEST

/* ---- the hostile driver ---- */

/* The queue 0 descriptor table of the probe, for hand-made chains. */
static uint64_t wbuf(void)
{
    return vtd_alloc(&h, 64, 8);
}

static void h_out_of_ram_descriptor(void)
{
    vtd_desc_set(&a, 0, 0, RAM - 8, 64, VTD_D_WRITE, 0);
    vtd_avail_publish(&a, 0, 0);
}

static void h_descriptor_past_4g(void)
{
    vtd_desc_set(&a, 0, 0, 0xfffffffffffff000ull, 0x2000, VTD_D_WRITE, 0);
    vtd_avail_publish(&a, 0, 0);
}

static void h_looping_chain(void)
{
    uint64_t w = wbuf();
    vtd_desc_set(&a, 0, 0, w, 8, VTD_D_WRITE | VTD_D_NEXT, 1);
    vtd_desc_set(&a, 0, 1, w, 8, VTD_D_WRITE | VTD_D_NEXT, 0);
    vtd_avail_publish(&a, 0, 0);
}

static void h_self_loop(void)
{
    vtd_desc_set(&a, 0, 3, wbuf(), 8, VTD_D_NEXT, 3);
    vtd_avail_publish(&a, 0, 3);
}

static void h_huge_length(void)
{
    vtd_desc_set(&a, 0, 0, 0x1000, 0xffffffff, VTD_D_WRITE, 0);
    vtd_avail_publish(&a, 0, 0);
}

static void h_over_4g_in_total(void)
{
    /* 1024 descriptors of nearly all of RAM each: 8 GiB in one request. */
    uint32_t n = 1024;
    uint64_t t = vtd_alloc(&h, 16ull * n, 16);
    uint8_t *tp = vtd_ptr(&h, t);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t addr = 0x1000;
        uint32_t len = RAM - 0x1000;
        uint16_t flags = VTD_D_WRITE | (i + 1 < n ? VTD_D_NEXT : 0), next = (uint16_t)(i + 1);
        memcpy(tp + 16 * i, &addr, 8);
        memcpy(tp + 16 * i + 8, &len, 4);
        memcpy(tp + 16 * i + 12, &flags, 2);
        memcpy(tp + 16 * i + 14, &next, 2);
    }
    vtd_desc_set(&a, 0, 0, t, 16 * n, VTD_D_INDIRECT, 0);
    vtd_avail_publish(&a, 0, 0);
}

static void h_avail_idx_jump(void)
{
    vtd_avail_set_idx(&a, 0, QSIZE + 1);
}

static void h_avail_head_past_queue(void)
{
    vtd_avail_publish(&a, 0, 99);
}

static void h_next_past_queue(void)
{
    vtd_desc_set(&a, 0, 0, wbuf(), 8, VTD_D_WRITE | VTD_D_NEXT, QSIZE);
    vtd_avail_publish(&a, 0, 0);
}

static void h_readable_after_writable(void)
{
    uint64_t w = wbuf();
    vtd_desc_set(&a, 0, 0, w, 8, VTD_D_WRITE | VTD_D_NEXT, 1);
    vtd_desc_set(&a, 0, 1, w, 8, 0, 0);
    vtd_avail_publish(&a, 0, 0);
}

static void indirect_with(uint16_t flags0, uint32_t table_len)
{
    uint64_t t = vtd_alloc(&h, 64, 16), w = wbuf();
    uint8_t *tp = vtd_ptr(&h, t);
    uint32_t len = 8;
    memcpy(tp, &w, 8);
    memcpy(tp + 8, &len, 4);
    memcpy(tp + 12, &flags0, 2);
    vtd_desc_set(&a, 0, 0, t, table_len, VTD_D_INDIRECT, 0);
    vtd_avail_publish(&a, 0, 0);
}

static void h_indirect_in_indirect(void)
{
    indirect_with(VTD_D_INDIRECT, 16);
}

static void h_indirect_bad_length(void)
{
    indirect_with(VTD_D_WRITE, 24);
}

static void h_indirect_loop(void)
{
    indirect_with(VTD_D_WRITE | VTD_D_NEXT, 16); /* next 0: itself */
}

static void h_indirect_out_of_ram(void)
{
    vtd_desc_set(&a, 0, 0, RAM - 16, 32, VTD_D_INDIRECT, 0);
    vtd_avail_publish(&a, 0, 0);
}

static void h_indirect_with_next(void)
{
    vtd_desc_set(&a, 0, 0, vtd_alloc(&h, 16, 16), 16, VTD_D_INDIRECT | VTD_D_NEXT, 1);
    vtd_avail_publish(&a, 0, 0);
}

static void h_device_finds_request_malformed(void)
{
    uint64_t o = wbuf();
    memcpy(vtd_ptr(&h, o), "!", 1);
    vtd_add(&a, 0, &(struct vtd_buf){o, 1}, 1, NULL, 0, false);
}

/* Queue set-up faults: the ring is refused at QueueReady. */
static bool ring_at(uint16_t size, uint64_t desc, uint64_t avail, uint64_t used)
{
    return vtd_queue_setup_at(&a, 0, size, desc, avail, used);
}

static bool q_misaligned_desc(void)
{
    uint64_t r = vtd_alloc(&h, 4096, 4096);
    return ring_at(QSIZE, r + 8, r + 1024, r + 2048);
}

static bool q_misaligned_used(void)
{
    uint64_t r = vtd_alloc(&h, 4096, 4096);
    return ring_at(QSIZE, r, r + 1024, r + 2050);
}

static bool q_not_power_of_2(void)
{
    return vtd_queue_setup(&a, 0, 12);
}

static bool q_over_max(void)
{
    return vtd_queue_setup(&a, 0, QSIZE * 2);
}

static bool q_zero(void)
{
    return vtd_queue_setup(&a, 0, 0);
}

static bool q_ring_past_ram(void)
{
    uint64_t r = vtd_alloc(&h, 4096, 4096);
    return ring_at(QSIZE, r, r + 1024, RAM - 64);
}

static bool q_ring_above_4g(void)
{
    uint64_t r = vtd_alloc(&h, 4096, 4096);
    return ring_at(QSIZE, r | (1ull << 32), r + 1024, r + 2048);
}

static const struct {
    const char *name;
    void (*chain)(void); /* breaks a chain on a working queue 0 */
    bool (*queue)(void); /* or sets queue 0 up wrongly */
    uint64_t features;
} hostile[] = {
    {"out-of-RAM descriptor", h_out_of_ram_descriptor, NULL, ALL_F},
    {"descriptor wrapping the address space", h_descriptor_past_4g, NULL, ALL_F},
    {"looping chain", h_looping_chain, NULL, ALL_F},
    {"descriptor pointing at itself", h_self_loop, NULL, ALL_F},
    {"huge length", h_huge_length, NULL, ALL_F},
    {"over 4 GiB in one request", h_over_4g_in_total, NULL, ALL_F},
    {"avail idx jump", h_avail_idx_jump, NULL, ALL_F},
    {"avail head past the queue", h_avail_head_past_queue, NULL, ALL_F},
    {"next past the queue", h_next_past_queue, NULL, ALL_F},
    {"readable after writable", h_readable_after_writable, NULL, ALL_F},
    {"indirect in indirect", h_indirect_in_indirect, NULL, ALL_F},
    {"indirect table length 24", h_indirect_bad_length, NULL, ALL_F},
    {"loop in an indirect table", h_indirect_loop, NULL, ALL_F},
    {"indirect table out of RAM", h_indirect_out_of_ram, NULL, ALL_F},
    {"indirect with NEXT", h_indirect_with_next, NULL, ALL_F},
    {"indirect not negotiated", h_indirect_in_indirect, NULL, VTD_F(VIRTIO_F_VERSION_1)},
    {"device-detected malformed request", h_device_finds_request_malformed, NULL, ALL_F},
    {"misaligned descriptor table", NULL, q_misaligned_desc, ALL_F},
    {"misaligned used ring", NULL, q_misaligned_used, ALL_F},
    {"queue size not a power of 2", NULL, q_not_power_of_2, ALL_F},
    {"queue size over QueueNumMax", NULL, q_over_max, ALL_F},
    {"queue size 0", NULL, q_zero, ALL_F},
    {"used ring past RAM", NULL, q_ring_past_ram, ALL_F},
    {"descriptor table above RAM", NULL, q_ring_above_4g, ALL_F},
};

START_TEST(hostile_driver)
{
    const char *name = hostile[_i].name;
    ck_assert_msg(vtd_negotiate(&a, hostile[_i].features), "%s", name);
    if (hostile[_i].queue) {
        ck_assert_msg(!hostile[_i].queue(), "%s: queue accepted", name);
        ck_assert_uint_eq(vtd_read(&a, VTD_QUEUE_READY), 0);
        vtd_driver_ok(&a);
    } else {
        ck_assert(vtd_queue_setup(&a, 0, QSIZE));
        vtd_driver_ok(&a);
        ck_assert_uint_eq(vtd_status(&a) & VTD_S_NEEDS_RESET, 0);
        hostile[_i].chain();
        vtd_kick(&a, 0);
        ck_assert_msg(p.last_pop < 0 || p.out[0] == '!', "%s: pop gave %d", name, p.last_pop);
    }
    /* The device says it needs a reset, by status and interrupt. */
    ck_assert_msg(vtd_status(&a) & VTD_S_NEEDS_RESET, "%s: status 0x%x", name, vtd_status(&a));
    ck_assert(vtd_read(&a, VTD_INTERRUPT_STATUS) & VTD_INT_CONFIG);
    ck_assert_int_eq(vtd_irq_level(&h, GSI), 1);
    ck_assert_uint_eq(vtd_used_idx(&a, 0) == 0 || p.out[0] == '!', 1);
    /* Further kicks do nothing; the device beside it works. */
    unsigned before = p.requests;
    vtd_kick(&a, 0);
    vtd_kick(&a, 1);
    ck_assert_uint_eq(p.requests, before);
    rng_works(&b);
    /* Reset and re-init: the probe works again. */
    vtd_write(&a, VTD_STATUS, 0);
    ck_assert_uint_eq(vtd_status(&a), 0);
    ck_assert_int_eq(vtd_irq_level(&h, GSI), 0);
    ck_assert(vtd_init(&a, ALL_F, 2, QSIZE));
    ck_assert_uint_eq(probe_request(&a, "ok", 8, true), 8);
    ck_assert_uint_eq(probe_request(&a, "ok", 8, false), 8);
}
END_TEST

static unsigned warnings;

static void count_warning(const gchar *domain, GLogLevelFlags level, const gchar *msg,
                          gpointer data)
{
    (void)domain;
    (void)level;
    (void)msg;
    (void)data;
    warnings++;
}

START_TEST(faults_do_not_flood_the_log)
{
    /* A guest breaking and resetting its device in a loop gets a bounded
     * number of log lines. */
    g_log_set_handler("qv", G_LOG_LEVEL_WARNING, count_warning, NULL);
    for (int i = 0; i < 100; i++) {
        ck_assert(vtd_init(&a, ALL_F, 2, QSIZE));
        h_avail_idx_jump();
        vtd_kick(&a, 0);
        ck_assert(vtd_status(&a) & VTD_S_NEEDS_RESET);
        ck_assert(!vtd_negotiate(&a, 0));
    }
    ck_assert_uint_ge(warnings, 16);
    ck_assert_uint_le(warnings, 17);
}
END_TEST

START_TEST(random_rings)
{
    /* A driver writing garbage everywhere: registers, descriptors, ring
     * indices, in any order. Nothing crashes (the sanitizer build checks
     * memory), and afterwards a reset gives a working device. */
    g_log_set_handler("qv", G_LOG_LEVEL_WARNING, count_warning, NULL);
    GRand *r = g_rand_new_with_seed(1234);
    ck_assert(vtd_init(&a, ALL_F, 2, QSIZE));
    uint64_t pool = vtd_alloc(&h, 1 << 16, 16);
    unsigned broken = 0;
    for (int round = 0; round < 20000; round++) {
        bool failed = vtd_status(&a) & VTD_S_NEEDS_RESET;
        broken += failed;
        if (failed || g_rand_int_range(r, 0, 200) == 0) {
            ck_assert(
                vtd_init(&a, g_rand_boolean(r) ? ALL_F : VTD_F(VIRTIO_F_VERSION_1), 2, QSIZE));
        }
        uint32_t q = (uint32_t)g_rand_int_range(r, 0, 2);
        switch (g_rand_int_range(r, 0, 8)) {
        case 0:
        case 1: {
            /* A descriptor: mostly plausible, sometimes wild. */
            uint64_t addr = g_rand_int_range(r, 0, 4) ? pool + g_rand_int_range(r, 0, 1 << 16)
                                                      : ((uint64_t)g_rand_int(r) << 20);
            uint32_t len =
                g_rand_int_range(r, 0, 4) ? (uint32_t)g_rand_int_range(r, 0, 4096) : g_rand_int(r);
            vtd_desc_set(&a, q, (uint16_t)g_rand_int_range(r, 0, QSIZE), addr, len,
                         (uint16_t)g_rand_int_range(r, 0, 8),
                         (uint16_t)g_rand_int_range(r, 0, QSIZE + 2));
            break;
        }
        case 2: vtd_avail_publish(&a, q, (uint16_t)g_rand_int_range(r, 0, QSIZE + 2)); break;
        case 3:
            vtd_avail_set_idx(&a, q, (uint16_t)(a.q[q]->avail_idx + g_rand_int_range(r, -2, 20)));
            break;
        case 4: vtd_kick(&a, (uint32_t)g_rand_int_range(r, 0, 3)); break;
        case 5: {
            uint32_t off = (uint32_t)g_rand_int_range(r, 0, 0x210);
            uint32_t size = 1u << g_rand_int_range(r, 0, 4);
            if (g_rand_boolean(r))
                vtd_write_sized(&a, off & ~3u, 4, g_rand_int_range(r, 0, 4) ? g_rand_int(r) : 1);
            else
                vtd_read_sized(&a, off, size);
            break;
        }
        case 6: vtd_set_used_event(&a, q, (uint16_t)g_rand_int(r)); break;
        default: vtd_avail_set_flags(&a, q, (uint16_t)g_rand_int_range(r, 0, 2)); break;
        }
    }
    g_rand_free(r);
    /* Both outcomes happened many times: requests served, devices failed. */
    fprintf(stderr, "random_rings: %u requests served, %u failures\n", p.requests, broken);
    ck_assert_uint_gt(p.requests, 100);
    ck_assert_uint_gt(broken, 100);
    p.hold = false;
    ck_assert(vtd_init(&a, ALL_F, 2, QSIZE));
    ck_assert_uint_eq(probe_request(&a, "ok", 8, true), 8);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("virtio_queue");
    TCase *tc = tcase_create("queue");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, chains_reach_the_device);
    tcase_add_test(tc, iov_copies);
    tcase_add_test(tc, used_ring_starts_clean);
    tcase_add_test(tc, event_idx_suppresses_interrupts);
    tcase_add_test(tc, no_interrupt_flag_suppresses_interrupts);
    tcase_add_test(tc, config_space);
    tcase_add_test(tc, start_failure_needs_reset);
    tcase_add_test(tc, reset_drops_requests_in_flight);
    tcase_add_test(tc, request_from_old_ring_not_pushed_into_new);
    tcase_add_loop_test(tc, hostile_driver, 0, G_N_ELEMENTS(hostile));
    tcase_add_test(tc, faults_do_not_flood_the_log);
    tcase_add_test(tc, random_rings);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
