/* The propolis driver against the fake propolis-server: lifecycle, the
 * instance spec it sends, refusals that send nothing, every error path,
 * state-monitor waiting and the serial console websocket. */
#include <check.h>
#include <libsoup/soup.h>
#include <string.h>
#include <sys/stat.h>

#include "drivers/propolis/propolis.h"
#include "fake_client.h"
#include "lib/api/internal.h"
#include "lib/util/fileio.h"

static char *root;
static struct fake *fake;

static void setup(void)
{
    root = g_dir_make_tmp("qv-propolis-XXXXXX", NULL);
    ck_assert(root);
    fake = fake_start(root, NULL);
}

static void teardown(void)
{
    fake_stop(fake);
    fake = NULL;
    qv_dir_remove_tree(root);
    g_free(root);
}

static const char *errmsg(void)
{
    return qv_last_error()->message;
}

/* ---- Definitions built as structs (the XML parser is another area) ---- */

static struct qv_disk *disk(const char *target, const char *source, bool ro, uint32_t bs,
                            uint32_t boot)
{
    struct qv_disk *d = g_new0(struct qv_disk, 1);
    d->target = g_strdup(target);
    d->source = g_strdup(source);
    d->bus = QV_DISK_BUS_VIRTIO;
    d->readonly = ro;
    d->logical_block_size = bs;
    d->boot_order = boot;
    return d;
}

static struct qv_net *nic(enum qv_net_type type, const char *source, uint32_t boot)
{
    struct qv_net *n = g_new0(struct qv_net, 1);
    n->type = type;
    n->source = g_strdup(source);
    n->model = g_strdup("virtio");
    n->boot_order = boot;
    return n;
}

static struct qv_chardev *serial(uint32_t port)
{
    struct qv_chardev *c = g_new0(struct qv_chardev, 1);
    c->type = QV_CHR_PTY;
    c->port = port;
    return c;
}

static struct qv_domain *web01(void)
{
    struct qv_domain *d = qv_domain_new();
    d->name = g_strdup("web01");
    d->description = g_strdup("front end");
    d->vcpus = d->max_vcpus = 2;
    d->memory_kib = 1024 * 1024;
    g_ptr_array_add(d->disks, disk("vda", "/var/img/web01.raw", false, 4096, 1));
    g_ptr_array_add(d->disks, disk("vdb", "/var/img/seed.raw", true, 0, 0));
    g_ptr_array_add(d->nets, nic(QV_NET_DIRECT, "vnic0", 2));
    g_ptr_array_add(d->serials, serial(0));
    g_ptr_array_add(d->serials, serial(1));
    return d;
}

/* What the core does for vm_define_xml, from a struct. */
static struct vm *define(struct qv_conn *conn, struct qv_domain *def)
{
    qv_reset_error();
    qv_domain_fill_defaults(def);
    if (qv_domain_validate(def) < 0)
        return NULL;
    void *priv = NULL;
    if (conn->driver->vm_define(conn, def, &priv) < 0)
        return NULL;
    struct vm tmp = {.conn = conn, .priv = priv};
    conn->driver->vm_release(&tmp);
    return vm_lookup(conn, def->name);
}

static JsonObject *component(JsonObject *spec, const char *key, const char *type)
{
    JsonObject *comps = json_object_get_object_member(spec, "components");
    ck_assert_msg(json_object_has_member(comps, key), "spec has no component '%s'", key);
    JsonObject *c = json_object_get_object_member(comps, key);
    ck_assert_str_eq(json_object_get_string_member(c, "type"), type);
    return json_object_get_object_member(c, "component");
}

static void assert_no_invalid(void)
{
    g_autofree char *first = fake_first_error(fake);
    ck_assert_msg(fake_invalid(fake) == 0, "the server saw invalid requests: %s", first);
}

/* ---- Lifecycle ---- */

START_TEST(lifecycle)
{
    struct qv_conn *conn = qv_connect(fake->uri);
    ck_assert_msg(conn, "%s", errmsg());
    ck_assert_str_eq(qv_conn_get_driver(conn), "propolis");
    g_autoptr(qv_domain) def = web01();
    struct vm *vm = define(conn, def);
    ck_assert_msg(vm, "%s", errmsg());
    /* Defining is local: Propolis creates an instance only with its spec. */
    ck_assert_int_eq(fake_requests(fake), 0);
    g_autofree char *dir = g_strdup_printf("%s/propolis/127.0.0.1_%d/web01", root, fake->port);
    ck_assert(g_file_test(dir, G_FILE_TEST_IS_DIR));
    struct stat st;
    ck_assert_int_eq(stat(dir, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0700);

    ck_assert_int_eq(vm_get_state(vm), VM_STATE_CREATED);
    ck_assert_msg(vm_start(vm) == 0, "%s", errmsg());
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_RUNNING);

    /* The spec the server received. */
    g_autoptr(JsonNode) stats = fake_stats(fake);
    JsonObject *so = json_node_get_object(stats);
    JsonObject *spec =
        json_object_get_object_member(json_object_get_object_member(so, "spec"), "spec");
    JsonObject *board = json_object_get_object_member(spec, "board");
    ck_assert_int_eq(json_object_get_int_member(board, "cpus"), 2);
    ck_assert_int_eq(json_object_get_int_member(board, "memory_mb"), 1024);
    JsonObject *vda = component(spec, "vda", "virtio_disk");
    ck_assert_str_eq(json_object_get_string_member(vda, "backend_id"), "vda-backend");
    JsonObject *vdab = component(spec, "vda-backend", "file_storage_backend");
    ck_assert_str_eq(json_object_get_string_member(vdab, "path"), "/var/img/web01.raw");
    ck_assert_int_eq(json_object_get_int_member(vdab, "block_size"), 4096);
    ck_assert(!json_object_get_boolean_member(vdab, "readonly"));
    JsonObject *vdbb = component(spec, "vdb-backend", "file_storage_backend");
    ck_assert(json_object_get_boolean_member(vdbb, "readonly"));
    ck_assert_int_eq(json_object_get_int_member(vdbb, "block_size"), 512);
    component(spec, "net0", "virtio_nic");
    JsonObject *nb = component(spec, "net0-backend", "virtio_network_backend");
    ck_assert_str_eq(json_object_get_string_member(nb, "vnic_name"), "vnic0");
    ck_assert_str_eq(json_object_get_string_member(component(spec, "com1", "serial_port"), "num"),
                     "com1");
    component(spec, "com2", "serial_port");
    JsonObject *comps = json_object_get_object_member(spec, "components");
    ck_assert(!json_object_has_member(comps, "com3"));
    JsonArray *order =
        json_object_get_array_member(component(spec, "boot-settings", "boot_settings"), "order");
    ck_assert_int_eq(json_array_get_length(order), 2);
    ck_assert_str_eq(json_object_get_string_member(json_array_get_object_element(order, 0), "id"),
                     "vda");
    ck_assert_str_eq(json_object_get_string_member(json_array_get_object_element(order, 1), "id"),
                     "net0");

    g_autofree char *ep = vm_console_endpoint(vm);
    g_autofree char *want = g_strdup_printf("ws://127.0.0.1:%d/instance/serial", fake->port);
    ck_assert_str_eq(ep, want);

    ck_assert_msg(vm_reset(vm) == 0, "%s", errmsg());
    ck_assert_int_eq(vm_pause(vm), QV_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(errmsg(), "vm_pause") && strstr(errmsg(), "propolis"), "%s", errmsg());
    ck_assert_int_eq(snapshot_create(vm, "s1", 0), QV_ERR_UNSUPPORTED);
    ck_assert_int_eq(vm_set_vcpus(vm, 1), QV_ERR_UNSUPPORTED);
    ck_assert_int_eq(vm_add_vcpu(vm, 0), QV_ERR_UNSUPPORTED);

    ck_assert_msg(vm_stop(vm) == 0, "%s", errmsg());
    struct qv_vm_status vs;
    ck_assert_int_eq(conn->driver->vm_get_status(vm, &vs), 0);
    ck_assert_int_eq(vs.state, VM_STATE_STOPPED);
    ck_assert_int_eq(vs.reason, VM_REASON_USER);

    /* Propolis instances are one-shot. */
    gint64 before = fake_requests(fake);
    /* The reason survives into other processes. */
    struct qv_conn *other = qv_connect(fake->uri);
    struct vm *seen = vm_lookup(other, "web01");
    struct vm_info oi;
    ck_assert_msg(seen && vm_get_info(seen, &oi) == 0, "%s", errmsg());
    ck_assert_int_eq(oi.state, VM_STATE_STOPPED);
    ck_assert_int_eq(oi.reason, VM_REASON_USER);
    vm_free(seen);
    qv_close(other);

    ck_assert_int_eq(vm_start(vm), QV_ERR_INVALID_STATE);
    ck_assert_msg(strstr(errmsg(), "cannot run again once stopped"), "%s", errmsg());
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_STOPPED);
    g_autoptr(JsonNode) s2 = fake_stats(fake);
    JsonArray *log = json_object_get_array_member(json_node_get_object(s2), "log");
    for (guint i = (guint)before; i < json_array_get_length(log); i++)
        ck_assert_str_ne(json_array_get_string_element(log, i), "PUT /instance/state");

    char **names = NULL;
    size_t n = 0;
    ck_assert_int_eq(vm_list(conn, &names, &n), 0);
    ck_assert_int_eq(n, 1);
    qv_strv_free(names);
    vm_destroy(vm);
    ck_assert_msg(qv_last_error()->code == QV_OK, "%s", errmsg());
    ck_assert(!g_file_test(dir, G_FILE_TEST_EXISTS));
    ck_assert_int_eq(vm_list(conn, &names, &n), 0);
    ck_assert_int_eq(n, 0);
    qv_strv_free(names);
    assert_no_invalid();
    qv_close(conn);
}
END_TEST

START_TEST(create_on_and_lookup_elsewhere)
{
    struct qv_conn *a = qv_connect(fake->uri);
    ck_assert(a);
    struct vm *vm = vm_create_on(a, "tiny", 1, 256u << 20);
    ck_assert_msg(vm, "%s", errmsg());
    vm_free(vm);
    qv_close(a);
    /* Another connection (as another process would) finds it on disk. */
    struct qv_conn *b = qv_connect(fake->uri);
    vm = vm_lookup(b, "tiny");
    ck_assert_msg(vm, "%s", errmsg());
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_CREATED);
    ck_assert_msg(vm_start(vm) == 0, "%s", errmsg());
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_RUNNING);
    ck_assert_ptr_null(vm_lookup(b, "nosuch"));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_NOT_FOUND);
    vm_destroy(vm);
    ck_assert_msg(qv_last_error()->code == QV_OK, "%s", errmsg());
    assert_no_invalid();
    qv_close(b);
}
END_TEST

START_TEST(one_instance_per_server)
{
    struct qv_conn *conn = qv_connect(fake->uri);
    struct vm *a = vm_create_on(conn, "a", 1, 256u << 20);
    struct vm *b = vm_create_on(conn, "b", 1, 256u << 20);
    ck_assert(a && b);
    ck_assert_msg(vm_start(a) == 0, "%s", errmsg());
    ck_assert_int_eq(vm_start(b), QV_ERR_BUSY);
    ck_assert_msg(strstr(errmsg(), "already hosts instance 'a'"), "%s", errmsg());
    ck_assert_int_eq(vm_get_state(b), VM_STATE_CREATED);
    ck_assert_int_eq(vm_get_state(a), VM_STATE_RUNNING);
    ck_assert_ptr_null(vm_create_on(conn, "a", 1, 256u << 20));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_EXISTS);
    /* The server keys instances by UUID: two definitions may not share one. */
    g_autoptr(qv_domain) twin = web01();
    struct vm_info ia;
    ck_assert_int_eq(vm_get_info(a, &ia), 0);
    g_strlcpy(twin->uuid, ia.uuid, sizeof(twin->uuid));
    ck_assert_ptr_null(define(conn, twin));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_EXISTS);
    ck_assert_msg(strstr(errmsg(), "VM 'a' already has UUID"), "%s", errmsg());
    /* Destroying a running VM stops its instance first. */
    vm_destroy(a);
    ck_assert_msg(qv_last_error()->code == QV_OK, "%s", errmsg());
    g_autoptr(JsonNode) stats = fake_stats(fake);
    const char *left = json_object_get_string_member(json_node_get_object(stats), "state");
    ck_assert_msg(!strcmp(left, "Stopped") || !strcmp(left, "Destroyed"), "server left %s", left);
    vm_free(b);
    assert_no_invalid();
    qv_close(conn);
}
END_TEST

/* ---- Refusals: nothing is sent ---- */

struct refusal {
    const char *element; /* must appear in the message */
    void (*edit)(struct qv_domain *d);
};

static void bridge_nic(struct qv_domain *d)
{
    g_ptr_array_add(d->nets, nic(QV_NET_BRIDGE, "br0", 0));
}
static void hostdev(struct qv_domain *d)
{
    struct qv_hostdev *h = g_new0(struct qv_hostdev, 1);
    h->bus = 3;
    g_ptr_array_add(d->hostdevs, h);
}
static void disk_serial(struct qv_domain *d)
{
    struct qv_disk *k = g_ptr_array_index(d->disks, 0);
    k->serial = g_strdup("QV0001");
}
static void xen(struct qv_domain *d)
{
    d->type = QV_VIRT_FOREIGN + 1; /* qv_conf_virt_types: kqemu, xen, ... */
}
static void graphics(struct qv_domain *d)
{
    struct qv_graphics *g = g_new0(struct qv_graphics, 1);
    g->type = QV_GRAPHICS_VNC;
    g->port = -1;
    g_ptr_array_add(d->graphics, g);
}
static void sata_disk(struct qv_domain *d)
{
    struct qv_disk *k = disk("sda", "/img/x.raw", false, 0, 0);
    k->bus = QV_DISK_BUS_SATA;
    g_ptr_array_add(d->disks, k);
}
static void five_serials(struct qv_domain *d)
{
    for (uint32_t i = 2; i < 5; i++)
        g_ptr_array_add(d->serials, serial(i));
}
static void serial_port4(struct qv_domain *d)
{
    g_ptr_array_add(d->serials, serial(4));
}
static void file_serial(struct qv_domain *d)
{
    struct qv_chardev *c = serial(2);
    c->type = QV_CHR_FILE;
    c->path = g_strdup("/tmp/x.log");
    g_ptr_array_add(d->serials, c);
}
static void kernel(struct qv_domain *d)
{
    d->os.kernel = g_strdup("/boot/vmlinuz");
}
static void qcow2(struct qv_domain *d)
{
    struct qv_disk *k = g_ptr_array_index(d->disks, 0);
    k->driver_type = g_strdup("qcow2");
}
static void cdrom(struct qv_domain *d)
{
    struct qv_disk *k = disk("vdc", "/img/cd.iso", true, 0, 0);
    k->device = QV_DISK_CDROM;
    g_ptr_array_add(d->disks, k);
}
static void odd_block(struct qv_domain *d)
{
    ((struct qv_disk *)g_ptr_array_index(d->disks, 0))->logical_block_size = 1000;
}
static void balloon(struct qv_domain *d)
{
    d->current_memory_kib = 512 * 1024;
}
static void q35(struct qv_domain *d)
{
    d->os.machine = g_strdup("q35");
}
static void rng(struct qv_domain *d)
{
    struct qv_rng *r = g_new0(struct qv_rng, 1);
    r->model = g_strdup("virtio");
    g_ptr_array_add(d->rngs, r);
}
static void e1000(struct qv_domain *d)
{
    struct qv_net *n = g_ptr_array_index(d->nets, 0);
    g_free(n->model);
    n->model = g_strdup("e1000");
}
static void odd_memory(struct qv_domain *d)
{
    d->memory_kib = 1024 * 1024 + 4;
}

static const struct refusal refusals[] = {
    {"<interface type='bridge'>", bridge_nic},
    {"<hostdev>", hostdev},
    {"<graphics type='vnc'>", graphics},
    {"bus 'sata'", sata_disk},
    {"5 <serial> elements", five_serials},
    {"<target port='4'>", serial_port4},
    {"<serial type='file'>", file_serial},
    {"<kernel>", kernel},
    {"<driver type='qcow2'>", qcow2},
    {"<disk device='cdrom'>", cdrom},
    {"<currentMemory>", balloon},
    {"machine='q35'", q35},
    {"<rng>", rng},
    {"<model type='e1000'>", e1000},
    {"whole MiB", odd_memory},
    {"<domain type='xen'>", xen},
    {"<serial>", disk_serial},
};

START_TEST(refuses_inexpressible)
{
    const struct refusal *r = &refusals[_i];
    struct qv_conn *conn = qv_connect(fake->uri);
    g_autoptr(qv_domain) def = web01();
    r->edit(def);
    struct vm *vm = define(conn, def);
    ck_assert_ptr_null(vm);
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(errmsg(), r->element), "'%s' not named in: %s", r->element, errmsg());
    ck_assert_msg(strstr(errmsg(), "web01"), "%s", errmsg());
    ck_assert_int_eq(fake_requests(fake), 0);
    char **names = NULL;
    size_t n = 99;
    ck_assert_int_eq(vm_list(conn, &names, &n), 0);
    ck_assert_int_eq(n, 0);
    qv_strv_free(names);
    qv_close(conn);
}
END_TEST

/* A block size no disk can have is refused by the one lib/conf rule, before
 * the driver is asked, and no request reaches the server. */
START_TEST(odd_block_size_refused_before_the_driver)
{
    struct qv_conn *conn = qv_connect(fake->uri);
    g_autoptr(qv_domain) def = web01();
    odd_block(def);
    ck_assert_ptr_null(define(conn, def));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_INVALID_ARG);
    ck_assert_msg(strstr(errmsg(), "block size 1000"), "%s", errmsg());
    ck_assert_int_eq(fake_requests(fake), 0);
    qv_close(conn);
}
END_TEST

/* ---- Error paths ---- */

START_TEST(server_error_carries_message_and_request_id)
{
    struct qv_conn *conn = qv_connect(fake->uri);
    struct vm *vm = vm_create_on(conn, "e1", 1, 256u << 20);
    fake_fault(fake, "PUT", "/instance/state", "fail", 503);
    ck_assert_int_eq(vm_start(vm), QV_ERR_BACKEND);
    ck_assert_msg(strstr(errmsg(), "injected failure for PUT /instance/state"), "%s", errmsg());
    ck_assert_msg(strstr(errmsg(), "request id fake-req-"), "%s", errmsg());
    ck_assert_msg(strstr(errmsg(), "HTTP 503"), "%s", errmsg());
    ck_assert_msg(strstr(errmsg(), "VM 'e1'"), "%s", errmsg());
    /* Created but not running: the next start picks it up. */
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_CREATED);
    ck_assert_msg(vm_start(vm) == 0, "%s", errmsg());
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_RUNNING);
    vm_free(vm);
    assert_no_invalid();
    qv_close(conn);
}
END_TEST

START_TEST(connection_refused)
{
    /* A port nobody listens on: bind one, learn it, close it. */
    GSocket *s = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, 0, NULL);
    g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) any = g_inet_socket_address_new(lo, 0);
    ck_assert(g_socket_bind(s, any, TRUE, NULL));
    g_autoptr(GSocketAddress) got = g_socket_get_local_address(s, NULL);
    int port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(got));
    g_object_unref(s);
    g_autofree char *uri = g_strdup_printf("propolis://127.0.0.1:%d?root=%s", port, root);
    struct qv_conn *conn = qv_connect(uri);
    ck_assert_msg(conn, "%s", errmsg());
    struct vm *vm = vm_create_on(conn, "lonely", 1, 256u << 20);
    ck_assert_msg(vm, "%s", errmsg());
    ck_assert_int_eq(vm_start(vm), QV_ERR_CONNECT);
    ck_assert_msg(strstr(errmsg(), "cannot reach propolis-server at 127.0.0.1:"), "%s", errmsg());
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_DESTROYED); /* unreachable, per vm.h */
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_CONNECT);
    /* Nothing local changed. */
    g_autofree char *dir = g_strdup_printf("%s/propolis/127.0.0.1_%d/lonely", root, port);
    ck_assert(g_file_test(dir, G_FILE_TEST_IS_DIR));
    vm_destroy(vm);
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_CONNECT);
    ck_assert(g_file_test(dir, G_FILE_TEST_IS_DIR));
    qv_close(conn);
}
END_TEST

START_TEST(timeout)
{
    fake_stop(fake);
    fake = fake_start(root, "&timeout=1");
    struct qv_conn *conn = qv_connect(fake->uri);
    ck_assert_msg(conn, "%s", errmsg());
    struct vm *vm = vm_create_on(conn, "slow", 1, 256u << 20);
    fake_fault(fake, "PUT", "/instance", "hang", 0);
    gint64 t0 = g_get_monotonic_time();
    ck_assert_int_eq(vm_start(vm), QV_ERR_TIMEOUT);
    gint64 ms = (g_get_monotonic_time() - t0) / 1000;
    ck_assert_msg(strstr(errmsg(), "did not answer PUT /instance within 1000 ms"), "%s", errmsg());
    ck_assert_msg(ms >= 900 && ms < 10000, "timed out after %" G_GINT64_FORMAT " ms", ms);
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_CREATED);
    vm_free(vm);
    qv_close(conn);
}
END_TEST

START_TEST(garbage)
{
    struct qv_conn *conn = qv_connect(fake->uri);
    struct vm *vm = vm_create_on(conn, "g", 1, 256u << 20);
    ck_assert_msg(vm_start(vm) == 0, "%s", errmsg());
    fake_fault(fake, "GET", "/instance", "garbage", 200);
    ck_assert_int_eq(vm_stop(vm), QV_ERR_PROTOCOL);
    ck_assert_msg(strstr(errmsg(), "GET /instance with malformed JSON"), "%s", errmsg());
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_RUNNING);
    /* An error status with no Propolis error body is malformed too. */
    fake_fault(fake, "GET", "/instance", "garbage", 500);
    ck_assert_int_eq(vm_reset(vm), QV_ERR_PROTOCOL);
    ck_assert_msg(strstr(errmsg(), "HTTP 500"), "%s", errmsg());
    /* A body no Propolis answer comes near is cut off, not buffered. */
    fake_fault(fake, "GET", "/instance", "huge", 200);
    ck_assert_int_eq(vm_stop(vm), QV_ERR_PROTOCOL);
    ck_assert_msg(strstr(errmsg(), "more than 4194304 bytes"), "%s", errmsg());
    ck_assert_int_eq(vm_get_state(vm), VM_STATE_RUNNING);
    /* A small body nested a million deep crashed json-glib's recursive
     * parser; trailing data and data after a NUL were taken as valid. */
    const char *modes[] = {"deep", "trailing", "nul"};
    const char *why[] = {"nesting deeper than", "after the end of the JSON value", "NUL"};
    for (int i = 0; i < 3; i++) {
        fake_fault(fake, "GET", "/instance", modes[i], 200);
        ck_assert_int_eq(vm_stop(vm), QV_ERR_PROTOCOL);
        ck_assert_msg(strstr(errmsg(), "GET /instance with malformed JSON") &&
                          strstr(errmsg(), why[i]),
                      "%s: %s", modes[i], errmsg());
        ck_assert_int_eq(vm_get_state(vm), VM_STATE_RUNNING);
    }
    /* An error answer that is deep is no Propolis error either. */
    fake_fault(fake, "GET", "/instance", "deep", 500);
    ck_assert_int_eq(vm_reset(vm), QV_ERR_PROTOCOL);
    ck_assert_msg(strstr(errmsg(), "HTTP 500"), "%s", errmsg());
    vm_free(vm);
    qv_close(conn);
}
END_TEST

START_TEST(server_dies_mid_call)
{
    struct qv_conn *conn = qv_connect(fake->uri);
    struct vm *vm = vm_create_on(conn, "d", 1, 256u << 20);
    fake_fault(fake, "PUT", "/instance", "die", 0);
    ck_assert_int_eq(vm_start(vm), QV_ERR_CONNECT);
    ck_assert_msg(strstr(errmsg(), "closed the connection during PUT /instance"), "%s", errmsg());
    vm_free(vm);
    qv_close(conn);
    /* A new server: the definition is intact and starts there. */
    fake_stop(fake);
    fake = fake_start(root, NULL);
    conn = qv_connect(fake->uri);
    g_autofree char *old = g_strdup_printf("%s/propolis", root);
    vm = vm_create_on(conn, "d", 1, 256u << 20);
    ck_assert_msg(vm, "%s", errmsg());
    fake_fault(fake, "PUT", "/instance/state", "die", 0);
    ck_assert_int_eq(vm_start(vm), QV_ERR_CONNECT);
    char **names = NULL;
    size_t n = 0;
    ck_assert_int_eq(vm_list(conn, &names, &n), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(names[0], "d");
    qv_strv_free(names);
    vm_free(vm);
    qv_close(conn);
}
END_TEST

/* ---- Waiting on the state monitor ---- */

static gpointer poweroff_later(gpointer data)
{
    g_usleep(400 * 1000);
    const char *ev = data;
    g_autofree char *body = g_strdup_printf("{\"event\":\"%s\"}", ev);
    g_autoptr(JsonNode) r = fake_control(fake, "POST", "/_fake/guest", body, strlen(body));
    return NULL;
}

START_TEST(wait_for_guest_poweroff)
{
    struct qv_conn *conn = qv_connect(fake->uri);
    struct vm *vm = vm_create_on(conn, "w", 1, 256u << 20);
    ck_assert_msg(vm_start(vm) == 0, "%s", errmsg());
    ck_assert_int_eq(vm_wait(vm, 0), QV_ERR_TIMEOUT);
    ck_assert_msg(strstr(errmsg(), "still Running"), "%s", errmsg());
    gint64 w0 = g_get_monotonic_time();
    ck_assert_int_eq(vm_wait(vm, 150), QV_ERR_TIMEOUT);
    gint64 wms = (g_get_monotonic_time() - w0) / 1000;
    ck_assert_msg(wms >= 140 && wms < 1000, "a 150 ms wait took %" G_GINT64_FORMAT " ms", wms);
    ck_assert_msg(strstr(errmsg(), "still Running"), "%s", errmsg());
    GThread *t = g_thread_new("poweroff", poweroff_later, (gpointer) "poweroff");
    gint64 t0 = g_get_monotonic_time();
    ck_assert_msg(vm_wait(vm, 10000) == 0, "%s", errmsg());
    gint64 ms = (g_get_monotonic_time() - t0) / 1000;
    g_thread_join(t);
    ck_assert_msg(ms >= 300, "vm_wait returned after %" G_GINT64_FORMAT " ms", ms);
    struct vm_info info;
    g_usleep(200 * 1000); /* let Propolis finish tearing down */
    struct qv_vm_status vs;
    ck_assert_int_eq(conn->driver->vm_get_status(vm, &vs), 0);
    ck_assert_int_eq(vs.state, VM_STATE_STOPPED);
    ck_assert_int_eq(vs.reason, VM_REASON_SHUTDOWN);
    (void)info;
    g_autoptr(JsonNode) stats = fake_stats(fake);
    JsonArray *log = json_object_get_array_member(json_node_get_object(stats), "log");
    guint monitors = 0;
    for (guint i = 0; i < json_array_get_length(log); i++)
        monitors += !strcmp(json_array_get_string_element(log, i), "GET /instance/state-monitor");
    ck_assert_uint_ge(monitors, 2);
    vm_free(vm);
    assert_no_invalid();
    qv_close(conn);
}
END_TEST

START_TEST(guest_failure)
{
    struct qv_conn *conn = qv_connect(fake->uri);
    struct vm *vm = vm_create_on(conn, "f", 1, 256u << 20);
    ck_assert_msg(vm_start(vm) == 0, "%s", errmsg());
    g_autoptr(JsonNode) r = fake_control(fake, "POST", "/_fake/guest", "{\"event\":\"fail\"}", 16);
    struct qv_vm_status vs;
    ck_assert_int_eq(conn->driver->vm_get_status(vm, &vs), 0);
    ck_assert_int_eq(vs.state, VM_STATE_STOPPED);
    ck_assert_int_eq(vs.reason, VM_REASON_FAILED);
    ck_assert_msg(vm_wait(vm, 1000) == 0, "%s", errmsg());
    ck_assert_int_eq(vm_start(vm), QV_ERR_INVALID_STATE);
    vm_free(vm);
    qv_close(conn);
}
END_TEST

/* ---- Console ---- */

struct ws_ctx {
    GMainLoop *loop;
    SoupWebsocketConnection *ws;
    GError *error;
    GByteArray *got;
    const char *until;
};

static void ws_connected(GObject *src, GAsyncResult *res, gpointer data)
{
    struct ws_ctx *c = data;
    c->ws = soup_session_websocket_connect_finish(SOUP_SESSION(src), res, &c->error);
    g_main_loop_quit(c->loop);
}

static void ws_got(SoupWebsocketConnection *ws, gint type, GBytes *msg, gpointer data)
{
    (void)ws;
    struct ws_ctx *c = data;
    ck_assert_int_eq(type, SOUP_WEBSOCKET_DATA_BINARY);
    gsize n = 0;
    const guint8 *p = g_bytes_get_data(msg, &n);
    g_byte_array_append(c->got, p, (guint)n);
    g_byte_array_append(c->got, (const guint8 *)"", 1);
    c->got->len--;
    if (strstr((const char *)c->got->data, c->until))
        g_main_loop_quit(c->loop);
}

static gboolean give_up(gpointer data)
{
    g_main_loop_quit(data);
    return G_SOURCE_REMOVE;
}

static void ws_connect(const char *url, bool with_version, struct ws_ctx *c)
{
    g_autoptr(SoupSession) s = soup_session_new();
    g_autoptr(SoupMessage) msg = soup_message_new("GET", url);
    if (with_version)
        soup_message_headers_replace(soup_message_get_request_headers(msg),
                                     PROPOLIS_API_VERSION_HEADER, PROPOLIS_API_VERSION);
    c->loop = g_main_loop_new(NULL, FALSE);
    soup_session_websocket_connect_async(s, msg, NULL, NULL, G_PRIORITY_DEFAULT, NULL, ws_connected,
                                         c);
    guint id = g_timeout_add(5000, give_up, c->loop);
    g_main_loop_run(c->loop);
    g_source_remove(id);
}

START_TEST(console_websocket_round_trip)
{
    struct qv_conn *conn = qv_connect(fake->uri);
    g_autoptr(qv_domain) def = web01();
    struct vm *vm = define(conn, def);
    ck_assert_msg(vm && vm_start(vm) == 0, "%s", errmsg());
    g_autofree char *url = vm_console_endpoint(vm);
    ck_assert_msg(url, "%s", errmsg());

    /* Without the API version header dropshot refuses the upgrade. */
    struct ws_ctx bad = {.got = g_byte_array_new()};
    ws_connect(url, false, &bad);
    ck_assert_ptr_null(bad.ws);
    ck_assert_ptr_nonnull(bad.error);
    g_clear_error(&bad.error);
    g_main_loop_unref(bad.loop);
    g_byte_array_unref(bad.got);
    ck_assert_int_eq(fake_invalid(fake), 1);
    g_autofree char *why = fake_first_error(fake);
    ck_assert_str_eq(why, "missing expected header \"api-version\"");

    struct ws_ctx c = {.got = g_byte_array_new(), .until = "hello propolis\r\n"};
    ws_connect(url, true, &c);
    ck_assert_msg(c.ws, "websocket connect failed: %s", c.error ? c.error->message : "timeout");
    g_signal_connect(c.ws, "message", G_CALLBACK(ws_got), &c);
    soup_websocket_connection_send_binary(c.ws, "hello propolis\r\n", 16);
    guint id = g_timeout_add(5000, give_up, c.loop);
    g_main_loop_run(c.loop);
    g_source_remove(id);
    g_byte_array_append(c.got, (const guint8 *)"", 1);
    ck_assert_msg(strstr((const char *)c.got->data, "hello propolis"), "got '%s'",
                  (const char *)c.got->data);
    soup_websocket_connection_close(c.ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
    g_object_unref(c.ws);
    g_main_loop_unref(c.loop);
    g_byte_array_unref(c.got);

    /* Asking the websocket for the backlog replays what came before. */
    g_autofree char *replay_url = g_strconcat(url, "?from_start=0", NULL);
    struct ws_ctx r = {.got = g_byte_array_new(), .until = "hello propolis\r\n"};
    ws_connect(replay_url, true, &r);
    ck_assert_msg(r.ws, "replay connect failed: %s", r.error ? r.error->message : "timeout");
    g_signal_connect(r.ws, "message", G_CALLBACK(ws_got), &r);
    id = g_timeout_add(5000, give_up, r.loop);
    g_main_loop_run(r.loop);
    g_source_remove(id);
    g_byte_array_append(r.got, (const guint8 *)"", 1);
    ck_assert_msg(g_str_has_prefix((const char *)r.got->data, "fake guest: booted\r\n"),
                  "replay '%s'", (const char *)r.got->data);
    soup_websocket_connection_close(r.ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
    g_object_unref(r.ws);
    g_main_loop_unref(r.loop);
    g_byte_array_unref(r.got);

    /* What the server saw, and the history that fills in earlier output. */
    g_autoptr(JsonNode) stats = fake_stats(fake);
    JsonArray *in = json_object_get_array_member(json_node_get_object(stats), "ws_input");
    ck_assert_int_eq(json_array_get_length(in), 16);
    ck_assert_int_eq(json_array_get_int_element(in, 0), 'h');
    struct propolis_conn *pc = conn->priv;
    guint8 *data = NULL;
    size_t len = 0;
    guint64 next = 0;
    ck_assert_msg(propolis_console_history(pc->client, 0, 0, &data, &len, &next) == 0, "%s",
                  errmsg());
    g_autofree char *text = g_strndup((const char *)data, len);
    g_free(data);
    ck_assert_msg(g_str_has_prefix(text, "fake guest: booted\r\n"), "history '%s'", text);
    ck_assert_msg(strstr(text, "hello propolis\r\n"), "history '%s'", text);
    ck_assert_uint_eq(next, len);
    /* Paging: a bounded read, then the rest from where it stopped. */
    ck_assert_int_eq(propolis_console_history(pc->client, 0, 5, &data, &len, &next), 0);
    ck_assert_uint_eq(len, 5);
    ck_assert_uint_eq(next, 5);
    g_free(data);
    ck_assert_int_eq(propolis_console_history(pc->client, next, 0, &data, &len, &next), 0);
    ck_assert(len > 0 && data[0] == 'g');
    g_free(data);
    /* A history of 200 KiB, one JSON number per byte, would pass the
     * bounded reader's value limit: it comes in pieces of 64 KiB. */
    guint64 from = next;
    g_autofree char *lots = g_strnfill(200 << 10, 'z');
    g_autoptr(JsonNode) posted = fake_control(fake, "POST", "/_fake/serial", lots, 200 << 10);
    size_t total = 0;
    do {
        ck_assert_msg(propolis_console_history(pc->client, from, 0, &data, &len, &next) == 0, "%s",
                      errmsg());
        ck_assert_uint_le(len, PROPOLIS_HISTORY_MAX);
        ck_assert(len == 0 || data[len - 1] == 'z');
        g_free(data);
        total += len;
        from = next;
    } while (len == PROPOLIS_HISTORY_MAX);
    ck_assert_uint_eq(total, 200 << 10);
    vm_free(vm);
    ck_assert_int_eq(fake_invalid(fake), 1); /* only the refused handshake */
    qv_close(conn);
}
END_TEST

/* ---- From libvirt domain XML, through the public API ---- */

static const char db01_xml[] =
    "<domain type='kvm'>\n"
    "  <name>db01</name>\n"
    "  <uuid>6f1c2a8e-3f3b-4a53-9d4f-4b0e8f2d9a11</uuid>\n"
    "  <description>database</description>\n"
    "  <memory unit='MiB'>2048</memory>\n"
    "  <vcpu>4</vcpu>\n"
    "  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>\n"
    "  <devices>\n"
    "    <disk type='file' device='disk'>\n"
    "      <driver name='qemu' type='raw'/>\n"
    "      <source file='/rpool/db01.raw'/>\n"
    "      <target dev='vda' bus='virtio'/>\n"
    "      <blockio logical_block_size='4096'/>\n"
    "    </disk>\n"
    "    <interface type='direct'>\n"
    "      <source dev='vnic1'/>\n"
    "      <model type='virtio'/>\n"
    "    </interface>\n"
    "    <serial type='pty'><target port='0'/></serial>\n"
    "    <serial type='pty'/>\n"
    "    <console type='pty'><target type='serial' port='0'/></console>\n"
    "  </devices>\n"
    "</domain>\n";

START_TEST(from_xml)
{
    struct qv_conn *conn = qv_connect(fake->uri);
    struct vm *vm = vm_define_xml(conn, db01_xml);
    ck_assert_msg(vm, "%s", errmsg());
    ck_assert_int_eq(fake_requests(fake), 0);
    ck_assert_msg(vm_start(vm) == 0, "%s", errmsg());
    g_autoptr(JsonNode) stats = fake_stats(fake);
    JsonObject *spec = json_object_get_object_member(
        json_object_get_object_member(json_node_get_object(stats), "spec"), "spec");
    JsonObject *board = json_object_get_object_member(spec, "board");
    ck_assert_int_eq(json_object_get_int_member(board, "cpus"), 4);
    ck_assert_int_eq(json_object_get_int_member(board, "memory_mb"), 2048);
    JsonObject *b = component(spec, "vda-backend", "file_storage_backend");
    ck_assert_str_eq(json_object_get_string_member(b, "path"), "/rpool/db01.raw");
    ck_assert_int_eq(json_object_get_int_member(b, "block_size"), 4096);
    ck_assert_str_eq(json_object_get_string_member(
                         component(spec, "net0-backend", "virtio_network_backend"), "vnic_name"),
                     "vnic1");
    component(spec, "com1", "serial_port");
    component(spec, "com2", "serial_port");
    JsonArray *order =
        json_object_get_array_member(component(spec, "boot-settings", "boot_settings"), "order");
    ck_assert_int_eq(json_array_get_length(order), 1);
    vm_free(vm);
    qv_close(conn);

    /* Another connection reads the stored definition back. */
    conn = qv_connect(fake->uri);
    vm = vm_lookup(conn, "db01");
    ck_assert_msg(vm, "%s", errmsg());
    struct vm_info info;
    ck_assert_msg(vm_get_info(vm, &info) == 0, "%s", errmsg());
    ck_assert_int_eq(info.state, VM_STATE_RUNNING);
    ck_assert_int_eq(info.vcpus, 4);
    ck_assert_str_eq(info.uuid, "6f1c2a8e-3f3b-4a53-9d4f-4b0e8f2d9a11");
    g_autofree char *xml = vm_get_xml(vm);
    ck_assert_msg(xml && strstr(xml, "vnic1"), "%s", xml ? xml : errmsg());
    vm_free(vm);
    assert_no_invalid();
    qv_close(conn);
}
END_TEST

START_TEST(from_xml_refused)
{
    static const struct {
        const char *device, *named;
    } cases[] = {
        {"<interface type='bridge'><source bridge='br0'/></interface>",
         "<interface type='bridge'>"},
        {"<graphics type='vnc' port='-1'/>", "<graphics type='vnc'>"},
        {"<disk type='file' device='disk'><source file='/x.img'/>"
         "<target dev='sda' bus='sata'/></disk>",
         "bus 'sata'"},
        {"<serial type='pty'/><serial type='pty'/><serial type='pty'/><serial type='pty'/>"
         "<serial type='pty'/>",
         "5 <serial> elements"},
    };
    struct qv_conn *conn = qv_connect(fake->uri);
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *xml =
            g_strdup_printf("<domain type='kvm'><name>x%zu</name><memory "
                            "unit='MiB'>256</memory><vcpu>1</vcpu><os><type>hvm</type></os>"
                            "<devices>%s</devices></domain>",
                            i, cases[i].device);
        ck_assert_ptr_null(vm_define_xml(conn, xml));
        ck_assert_msg(qv_last_error()->code == QV_ERR_UNSUPPORTED, "%s: %s", cases[i].device,
                      errmsg());
        ck_assert_msg(strstr(errmsg(), cases[i].named), "'%s' not named in: %s", cases[i].named,
                      errmsg());
    }
    ck_assert_int_eq(fake_requests(fake), 0);
    qv_close(conn);
}
END_TEST

/* ---- The fake itself holds the client to the contract ---- */

START_TEST(fake_rejects_contract_violations)
{
    struct propolis_client *c = propolis_client_new("127.0.0.1", fake->port, 5);
    /* A body that misses a required field. */
    g_autoptr(JsonParser) p = json_parser_new();
    ck_assert(json_parser_load_from_data(
        p,
        "{\"properties\":{\"id\":\"not-a-uuid\",\"name\":\"x\",\"description\":\"\"},"
        "\"init\":{\"method\":\"Spec\",\"value\":{\"spec\":{}}}}",
        -1, NULL));
    ck_assert_int_eq(
        propolis_request(c, "PUT", "/instance", json_parser_get_root(p), 201, false, 0, NULL, NULL),
        QV_ERR_BACKEND);
    ck_assert_msg(strstr(errmsg(), "InstanceEnsureRequest"), "%s", errmsg());
    ck_assert_int_eq(fake_invalid(fake), 1);
    /* An unknown state request. */
    g_autoptr(JsonNode) bogus = json_node_new(JSON_NODE_VALUE);
    json_node_set_string(bogus, "Pause");
    ck_assert_int_eq(
        propolis_request(c, "PUT", "/instance/state", bogus, 204, false, 0, NULL, NULL),
        QV_ERR_BACKEND);
    ck_assert_msg(strstr(errmsg(), "\"Pause\" is not one of"), "%s", errmsg());
    ck_assert_int_eq(fake_invalid(fake), 2);
    propolis_client_free(c);

    /* No api-version header. */
    g_autofree char *url = g_strdup_printf("http://127.0.0.1:%d/instance", fake->port);
    g_autoptr(SoupSession) s = soup_session_new();
    g_autoptr(SoupMessage) msg = soup_message_new("GET", url);
    g_autoptr(GBytes) out = soup_session_send_and_read(s, msg, NULL, NULL);
    ck_assert_int_eq(soup_message_get_status(msg), 400);
    ck_assert_int_eq(fake_invalid(fake), 3);
}
END_TEST

START_TEST(bad_uris)
{
    ck_assert_ptr_null(qv_connect("propolis://127.0.0.1"));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_URI);
    ck_assert_ptr_null(qv_connect("propolis://127.0.0.1:1234/some/path"));
    ck_assert_int_eq(qv_last_error()->code, QV_ERR_URI);
    g_autofree char *u = g_strdup_printf("propolis://127.0.0.1:1234?root=%s&timeout=0", root);
    ck_assert_ptr_null(qv_connect(u));
    ck_assert_msg(strstr(errmsg(), "timeout=0"), "%s", errmsg());
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("propolis");
    TCase *tc = tcase_create("driver");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, lifecycle);
    tcase_add_test(tc, create_on_and_lookup_elsewhere);
    tcase_add_test(tc, one_instance_per_server);
    tcase_add_loop_test(tc, refuses_inexpressible, 0, G_N_ELEMENTS(refusals));
    tcase_add_test(tc, odd_block_size_refused_before_the_driver);
    tcase_add_test(tc, server_error_carries_message_and_request_id);
    tcase_add_test(tc, connection_refused);
    tcase_add_test(tc, timeout);
    tcase_add_test(tc, garbage);
    tcase_add_test(tc, server_dies_mid_call);
    tcase_add_test(tc, wait_for_guest_poweroff);
    tcase_add_test(tc, guest_failure);
    tcase_add_test(tc, console_websocket_round_trip);
    tcase_add_test(tc, from_xml);
    tcase_add_test(tc, from_xml_refused);
    tcase_add_test(tc, fake_rejects_contract_violations);
    tcase_add_test(tc, bad_uris);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
