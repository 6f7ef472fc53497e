/* noop driver: snapshots capture and restore definition, state, registers
 * and memory; clones get a new identity. In memory (noop:///); the same
 * paths in directory mode are covered by noop_dir. */
#include <check.h>
#include <glib.h>
#include <string.h>

#include "qv/qv.h"

#define ASSERT_ERR(call, want)                                                                     \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        ck_assert_msg(rc_ == (want), "%s returned %d (%s), expected %d", #call, rc_,               \
                      qv_last_error()->message, (want));                                           \
    } while (0)
#define ASSERT_OK(call) ASSERT_ERR(call, 0)

static const char *xml_two_nics = "<domain type='test'>\n"
                                  "  <name>src</name>\n"
                                  "  <memory unit='KiB'>4096</memory>\n"
                                  "  <vcpu>2</vcpu>\n"
                                  "  <os><type arch='x86_64'>hvm</type></os>\n"
                                  "  <devices>\n"
                                  "    <interface type='user'><model type='virtio'/></interface>\n"
                                  "    <interface type='user'><model type='virtio'/></interface>\n"
                                  "  </devices>\n"
                                  "</domain>\n";

static struct qv_conn *conn;

static void setup(void)
{
    conn = qv_connect("noop:///");
    ck_assert_ptr_nonnull(conn);
}

static void teardown(void)
{
    qv_close(conn);
}

/* The MAC addresses in a domain XML document, in order. */
static GPtrArray *macs_of(const char *xml)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
    for (const char *p = xml; (p = strstr(p, "<mac address=")); p++)
        g_ptr_array_add(out, g_strndup(p + 14, 17)); /* after the quote, either kind */
    return out;
}

START_TEST(test_snapshot_restores_everything)
{
    struct vm *vm = vm_create_on(conn, "snap", 2, 2 << 20);
    ck_assert_ptr_nonnull(vm);
    struct vcpu *c0 = vcpu_create(vm, 0), *c1 = vcpu_create(vm, 1);
    ck_assert_ptr_nonnull(c0);
    ck_assert_ptr_nonnull(c1);
    vcpu_set_reg(c0, VCPU_REG_RIP, 0x1234);
    vcpu_set_reg(c1, VCPU_REG_R15, 0xabcdef);
    ASSERT_OK(vcpu_set_msr(c1, 0x174, 0x99));
    struct vcpu_sregs s1;
    ASSERT_OK(vcpu_get_sregs(c0, &s1));
    s1.cr3 = 0x7000;
    ASSERT_OK(vcpu_set_sregs(c0, &s1));
    char page[4096];
    memset(page, 'A', sizeof(page));
    ASSERT_OK(vm_write_memory(vm, 0x10000, page, sizeof(page)));
    ASSERT_OK(vm_write_memory(vm, (2 << 20) - 5, "tail", 5));
    ASSERT_OK(vm_add_memory_region(vm, 16 << 20, 8192, VM_MEM_READ | VM_MEM_WRITE));
    ASSERT_OK(vm_write_memory(vm, 16 << 20, "rom!", 4));
    ASSERT_OK(vm_set_cpu_weight(vm, 700));
    ASSERT_OK(vm_start(vm));
    ASSERT_OK(snapshot_create(vm, "s1", 0));
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_RUNNING);

    /* Change everything the snapshot holds. */
    vcpu_set_reg(c0, VCPU_REG_RIP, 0x9999);
    vcpu_set_reg(c1, VCPU_REG_R15, 1);
    ASSERT_OK(vcpu_set_msr(c1, 0x174, 0x1));
    s1.cr3 = 0x8000;
    ASSERT_OK(vcpu_set_sregs(c0, &s1));
    memset(page, 'B', sizeof(page));
    ASSERT_OK(vm_write_memory(vm, 0x10000, page, sizeof(page)));
    ASSERT_OK(vm_write_memory(vm, 0x100000, "new", 4)); /* was zero */
    ASSERT_OK(vm_write_memory(vm, 16 << 20, "RAM?", 4));
    ASSERT_OK(vm_set_cpu_weight(vm, 100));
    ASSERT_OK(vm_pause(vm));

    ASSERT_OK(snapshot_restore(vm, "s1"));
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_RUNNING);
    ck_assert_uint_eq(vcpu_get_reg(c0, VCPU_REG_RIP), 0x1234);
    ck_assert_uint_eq(vcpu_get_reg(c1, VCPU_REG_R15), 0xabcdef);
    uint64_t msr = 0;
    ASSERT_OK(vcpu_get_msr(c1, 0x174, &msr));
    ck_assert_uint_eq(msr, 0x99);
    ASSERT_OK(vcpu_get_sregs(c0, &s1));
    ck_assert_uint_eq(s1.cr3, 0x7000);
    char back[4096], want[4096];
    memset(want, 'A', sizeof(want));
    ASSERT_OK(vm_read_memory(vm, 0x10000, back, sizeof(back)));
    ck_assert_mem_eq(back, want, sizeof(want));
    char tail[5], newz[4], z[4] = {0}, rom[4];
    ASSERT_OK(vm_read_memory(vm, (2 << 20) - 5, tail, 5));
    ck_assert_str_eq(tail, "tail");
    ASSERT_OK(vm_read_memory(vm, 0x100000, newz, 4));
    ck_assert_mem_eq(newz, z, 4); /* written after the snapshot: zero again */
    ASSERT_OK(vm_read_memory(vm, 16 << 20, rom, 4));
    ck_assert_mem_eq(rom, "rom!", 4);
    g_autofree char *xml = vm_get_xml(vm);
    ck_assert_msg(strstr(xml, "<shares>700</shares>"), "%s", xml);

    vm_destroy(vm);
}
END_TEST

START_TEST(test_snapshot_list_and_errors)
{
    struct vm *vm = vm_create_on(conn, "lst", 1, 1 << 20);
    ASSERT_OK(snapshot_create(vm, "first", 0));
    ASSERT_OK(vm_write_memory(vm, 0, "x", 1));
    ASSERT_OK(vm_start(vm));
    ASSERT_OK(snapshot_create(vm, "second", 0));
    ASSERT_OK(vm_pause(vm));
    ASSERT_OK(snapshot_create(vm, "a-third", SNAPSHOT_DISK_ONLY));
    /* noop tracks no written pages: an increment is refused, saying so. */
    ck_assert_int_eq(snapshot_create(vm, "inc", SNAPSHOT_INCREMENTAL), QV_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "does not track written pages"));
    ck_assert_int_eq(snapshot_create(vm, "bad", 0x80), QV_ERR_INVALID_ARG);

    struct snapshot_info *list = NULL;
    size_t n = 0;
    ASSERT_OK(snapshot_list(vm, &list, &n));
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(list[0].name, "first"); /* oldest first, not by name */
    ck_assert_str_eq(list[1].name, "second");
    ck_assert_str_eq(list[2].name, "a-third");
    ck_assert_int_eq(list[0].state, VM_STATE_CREATED);
    ck_assert_int_eq(list[1].state, VM_STATE_RUNNING);
    ck_assert_int_eq(list[2].state, VM_STATE_PAUSED);
    gint64 now = g_get_real_time() / G_USEC_PER_SEC;
    ck_assert_int_le(list[0].created, now);
    ck_assert_int_ge(list[0].created, now - 60);
    ck_assert_uint_gt(list[0].size, 0);
    ck_assert_uint_ge(list[1].size, 4096);         /* holds a page of memory */
    ck_assert_uint_lt(list[2].size, list[1].size); /* no memory */
    snapshot_info_free(list, n);

    ASSERT_ERR(snapshot_create(vm, "second", 0), QV_ERR_EXISTS);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "second"));
    ASSERT_ERR(snapshot_restore(vm, "nope"), QV_ERR_NOT_FOUND);
    ck_assert_str_eq(qv_last_error()->message, "VM 'lst' has no snapshot 'nope'");
    ASSERT_ERR(snapshot_delete(vm, "nope"), QV_ERR_NOT_FOUND);
    ASSERT_ERR(snapshot_create(vm, "../evil", 0), QV_ERR_INVALID_ARG);

    /* A disk-only snapshot keeps memory as it is. */
    ASSERT_OK(vm_write_memory(vm, 0, "y", 1));
    ASSERT_OK(snapshot_restore(vm, "a-third"));
    char c = 0;
    ASSERT_OK(vm_read_memory(vm, 0, &c, 1));
    ck_assert_int_eq(c, 'y');
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_PAUSED);
    ASSERT_OK(snapshot_restore(vm, "first"));
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_CREATED);
    ASSERT_OK(vm_read_memory(vm, 0, &c, 1));
    ck_assert_int_eq(c, 0);

    ASSERT_OK(snapshot_delete(vm, "second"));
    ASSERT_OK(snapshot_list(vm, &list, &n));
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(list[0].name, "first");
    ck_assert_str_eq(list[1].name, "a-third");
    snapshot_info_free(list, n);
    vm_destroy(vm);
}
END_TEST

START_TEST(test_clone)
{
    struct vm *src = vm_define_xml(conn, xml_two_nics);
    ck_assert_msg(src, "%s", qv_last_error()->message);
    ASSERT_OK(vm_write_memory(src, 0x2000, "clone me", 9));
    ASSERT_OK(vm_start(src));
    ASSERT_OK(snapshot_create(src, "s", 0));

    struct vm *dst = vm_clone(src, "dst");
    ck_assert_msg(dst, "%s", qv_last_error()->message);
    ck_assert_str_eq(vm_get_name(dst), "dst");
    ck_assert_int_eq(vm_get_state(dst), VM_STATE_CREATED);
    ck_assert_int_eq(vm_get_state(src), VM_STATE_RUNNING);

    struct vm_info a, b;
    ASSERT_OK(vm_get_info(src, &a));
    ASSERT_OK(vm_get_info(dst, &b));
    ck_assert_str_ne(a.uuid, b.uuid);
    ck_assert(g_uuid_string_is_valid(b.uuid));
    ck_assert_uint_eq(a.max_memory, b.max_memory);

    g_autofree char *xa = vm_get_xml(src), *xb = vm_get_xml(dst);
    g_autoptr(GPtrArray) ma = macs_of(xa), mb = macs_of(xb);
    ck_assert_uint_eq(ma->len, 2);
    ck_assert_uint_eq(mb->len, 2);
    for (guint i = 0; i < 2; i++)
        for (guint j = 0; j < 2; j++)
            ck_assert_str_ne(g_ptr_array_index(ma, i), g_ptr_array_index(mb, j));
    ck_assert_str_ne(g_ptr_array_index(mb, 0), g_ptr_array_index(mb, 1));

    char buf[9];
    ASSERT_OK(vm_read_memory(dst, 0x2000, buf, 9));
    ck_assert_str_eq(buf, "clone me");
    /* Separate memory from then on. */
    ASSERT_OK(vm_write_memory(dst, 0x2000, "CLONE", 5));
    ASSERT_OK(vm_read_memory(src, 0x2000, buf, 9));
    ck_assert_str_eq(buf, "clone me");

    struct snapshot_info *list;
    size_t n = 9;
    ASSERT_OK(snapshot_list(dst, &list, &n));
    ck_assert_uint_eq(n, 0);
    snapshot_info_free(list, n);

    ck_assert_ptr_null(vm_clone(src, "dst"));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_EXISTS);
    ck_assert_ptr_null(vm_clone(src, "bad/name"));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_INVALID_ARG);

    struct vm *again = vm_lookup(conn, "dst");
    ck_assert_ptr_eq(again, dst);
    vm_free(again);
    vm_destroy(dst);
    vm_destroy(src);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("noop_snapshot");
    TCase *tc = tcase_create("snapshot");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_snapshot_restores_everything);
    tcase_add_test(tc, test_snapshot_list_and_errors);
    tcase_add_test(tc, test_clone);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
