/* virtio-net and its user network backend (libslirp), driven as a guest's
 * driver would drive them: no /dev/kvm needed. The slirp cases check the
 * host side for real: a TCP connection arriving at a socket the test
 * listens on, a forwarded host port reaching the guest. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "drivers/kvm/virtio/net_backend.h"
#include "lib/conf/domain.h"
#include "lib/util/error.h"
#include "net_frames.h"
#include "virtio_net_harness.h"

static const uint8_t guest_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
#define WAIT_MS 5000

/* ---- a backend that keeps what the device sends ---- */

struct keep_be {
    struct net_backend be;
    GMutex lock;
    GPtrArray *sent; /* GBytes * */
};

static int keep_start(struct net_backend *be)
{
    (void)be;
    return 0;
}

static int keep_send(struct net_backend *be, const uint8_t *frame, size_t len)
{
    struct keep_be *k = (struct keep_be *)be;
    g_mutex_lock(&k->lock);
    g_ptr_array_add(k->sent, g_bytes_new(frame, len));
    g_mutex_unlock(&k->lock);
    return 0;
}

static void keep_free(struct net_backend *be)
{
    struct keep_be *k = (struct keep_be *)be;
    g_ptr_array_free(k->sent, TRUE);
    g_mutex_clear(&k->lock);
    g_free(be->vm_name);
    g_free(k);
}

static const struct net_backend_ops keep_ops = {"keep", keep_start, keep_send, keep_free};

static struct keep_be *keep_new(void)
{
    struct keep_be *k = g_new0(struct keep_be, 1);
    k->be.ops = &keep_ops;
    k->be.vm_name = g_strdup("net-test");
    g_mutex_init(&k->lock);
    k->sent = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    return k;
}

static guint keep_count(struct keep_be *k)
{
    g_mutex_lock(&k->lock);
    guint n = k->sent->len;
    g_mutex_unlock(&k->lock);
    return n;
}

/* A frame from the network, as a backend hands it over. */
static void deliver(struct keep_be *k, size_t len, uint8_t fill)
{
    g_autofree uint8_t *f = g_malloc(len);
    memset(f, fill, len);
    k->be.deliver(k->be.deliver_opaque, f, len);
}

static struct virtio_net *net_new(struct net_backend *be)
{
    struct virtio_net *n = virtio_net_new(guest_mac, be);
    ck_assert_msg(n, "virtio_net_new: %s", qv_last_error()->message);
    return n;
}

/* ---- the device on its own ---- */

START_TEST(config_space_has_the_mac)
{
    struct nh *h = nh_new(net_new(&keep_new()->be));
    uint64_t f = nh_device_features(h);
    ck_assert(f & (1ull << VIRTIO_NET_F_MAC));
    ck_assert(f & (1ull << VIRTIO_NET_F_STATUS));
    uint8_t cfg[12];
    nh_config_read(h, 0, cfg, sizeof(cfg));
    ck_assert_mem_eq(cfg, guest_mac, 6);
    ck_assert_uint_eq(cfg[6] | cfg[7] << 8, VIRTIO_NET_S_LINK_UP);
    ck_assert_uint_eq(cfg[10] | cfg[11] << 8, 1500);
    /* One byte at a time reads the same as the driver's byte accesses. */
    uint8_t b;
    nh_config_read(h, 5, &b, 1);
    ck_assert_uint_eq(b, 0x56);
    nh_free(h);
}
END_TEST

START_TEST(tx_strips_the_header)
{
    struct keep_be *k = keep_new();
    struct virtio_net *n = net_new(&k->be);
    struct nh *h = nh_new(n);
    g_autoptr(GByteArray) f = nf_arp_request(guest_mac, nf_ip("10.0.2.15"), nf_ip("10.0.2.2"));
    nh_send(h, f);
    ck_assert_uint_eq(keep_count(k), 1);
    GBytes *sent = g_ptr_array_index(k->sent, 0);
    ck_assert_uint_eq(g_bytes_get_size(sent), f->len);
    ck_assert_mem_eq(g_bytes_get_data(sent, NULL), f->data, f->len);
    struct virtio_net_stats st;
    virtio_net_get_stats(n, &st);
    ck_assert_uint_eq(st.tx_packets, 1);
    ck_assert_uint_eq(st.tx_bytes, f->len);
    nh_free(h);
}
END_TEST

START_TEST(rx_writes_header_and_frame)
{
    struct keep_be *k = keep_new();
    struct virtio_net *n = net_new(&k->be);
    struct nh *h = nh_new(n);
    nh_post_rx(h, 1, VIRTIO_NET_HDR_LEN + 1514);
    deliver(k, 60, 0xab);
    uint8_t hdr[VIRTIO_NET_HDR_LEN];
    g_autoptr(GBytes) got = nh_wait_rx(h, NULL, NULL, WAIT_MS, hdr);
    ck_assert(got);
    ck_assert_uint_eq(g_bytes_get_size(got), 60);
    ck_assert_uint_eq(((const uint8_t *)g_bytes_get_data(got, NULL))[59], 0xab);
    /* No offload: flags and gso_type 0; num_buffers 1. */
    static const uint8_t want[VIRTIO_NET_HDR_LEN] = {[10] = 1};
    ck_assert_mem_eq(hdr, want, sizeof(want));
    struct virtio_net_stats st;
    virtio_net_get_stats(n, &st);
    ck_assert_uint_eq(st.rx_packets, 1);
    ck_assert_uint_eq(st.rx_bytes, 60);
    nh_free(h);
}
END_TEST

START_TEST(rx_backlog_full_drops_and_counts)
{
    struct keep_be *k = keep_new();
    struct virtio_net *n = net_new(&k->be);
    struct nh *h = nh_new(n);
    /* No buffers posted: the first VIRTIO_NET_RX_BACKLOG frames wait. */
    for (int i = 0; i < VIRTIO_NET_RX_BACKLOG + 44; i++)
        deliver(k, 64, (uint8_t)i);
    struct virtio_net_stats st;
    virtio_net_get_stats(n, &st);
    ck_assert_uint_eq(st.rx_dropped, 44);
    ck_assert_uint_eq(st.rx_packets, 0);
    ck_assert_uint_eq(nh_rx_used(h, NULL), 0);
    /* The driver fills its ring: the backlog drains into it, in order. */
    nh_post_rx(h, VIRTIO_NET_RX_BACKLOG, VIRTIO_NET_HDR_LEN + 1514);
    ck_assert_uint_eq(nh_rx_used(h, NULL), VIRTIO_NET_RX_BACKLOG);
    virtio_net_get_stats(n, &st);
    ck_assert_uint_eq(st.rx_packets, VIRTIO_NET_RX_BACKLOG);
    ck_assert_uint_eq(st.rx_dropped, 44);
    deliver(k, 64, 0x66); /* no buffer left: it waits */
    virtio_net_get_stats(n, &st);
    ck_assert_uint_eq(st.rx_packets, VIRTIO_NET_RX_BACKLOG);
    /* Taking the first used buffer posts it again, which drains the one
     * waiting frame. */
    g_autoptr(GBytes) first = nh_wait_rx(h, NULL, NULL, WAIT_MS, NULL);
    ck_assert(first);
    ck_assert_uint_eq(((const uint8_t *)g_bytes_get_data(first, NULL))[0], 0);
    virtio_net_get_stats(n, &st);
    ck_assert_uint_eq(st.rx_packets, VIRTIO_NET_RX_BACKLOG + 1);
    ck_assert_uint_eq(st.rx_dropped, 44);
    g_autoptr(GBytes) second = nh_wait_rx(h, NULL, NULL, WAIT_MS, NULL);
    ck_assert(second);
    ck_assert_uint_eq(((const uint8_t *)g_bytes_get_data(second, NULL))[0], 1);
    /* The backlog is empty again: the next frame goes straight in. */
    deliver(k, 64, 0x77);
    virtio_net_get_stats(n, &st);
    ck_assert_uint_eq(st.rx_packets, VIRTIO_NET_RX_BACKLOG + 2);
    nh_free(h);
}
END_TEST

START_TEST(rx_buffer_too_small_is_returned_empty)
{
    struct keep_be *k = keep_new();
    struct virtio_net *n = net_new(&k->be);
    struct nh *h = nh_new(n);
    nh_post_rx(h, 1, 100);
    deliver(k, 1514, 1);
    uint32_t written = 99;
    ck_assert_uint_eq(nh_rx_used(h, &written), 1);
    ck_assert_uint_eq(written, 0);
    struct virtio_net_stats st;
    virtio_net_get_stats(n, &st);
    ck_assert_uint_eq(st.rx_dropped, 1);
    ck_assert_uint_eq(st.rx_packets, 0);
    nh_free(h);
}
END_TEST

START_TEST(tx_header_too_short_fails_the_device)
{
    struct keep_be *k = keep_new();
    struct virtio_net *n = net_new(&k->be);
    struct nh *h = nh_new(n);
    static const uint8_t shorty[8] = {0};
    nh_send_raw(h, shorty, sizeof(shorty));
    ck_assert(nh_failed(h));
    ck_assert_uint_eq(keep_count(k), 0);
    /* Failed, the device takes nothing more and drops what arrives. */
    g_autoptr(GByteArray) f = nf_arp_request(guest_mac, nf_ip("10.0.2.15"), nf_ip("10.0.2.2"));
    nh_send(h, f);
    ck_assert_uint_eq(keep_count(k), 0);
    deliver(k, 64, 0);
    struct virtio_net_stats st;
    virtio_net_get_stats(n, &st);
    ck_assert_uint_eq(st.rx_dropped, 1);
    nh_free(h);
}
END_TEST

START_TEST(tx_runt_frame_dropped)
{
    struct keep_be *k = keep_new();
    struct virtio_net *n = net_new(&k->be);
    struct nh *h = nh_new(n);
    /* A header and 6 bytes: no Ethernet header; dropped, device fine. */
    static const uint8_t runt[VIRTIO_NET_HDR_LEN + 6] = {0};
    nh_send_raw(h, runt, sizeof(runt));
    ck_assert(!nh_failed(h));
    ck_assert_uint_eq(keep_count(k), 0);
    struct virtio_net_stats st;
    virtio_net_get_stats(n, &st);
    ck_assert_uint_eq(st.tx_dropped, 1);
    nh_free(h);
}
END_TEST

/* ---- through libslirp ---- */

static bool is_dhcp_offer(const struct nf_parsed *p, void *arg)
{
    uint32_t xid = *(uint32_t *)arg;
    if (p->proto != 17 || p->sport != 67 || p->dport != 68 || p->payload_len < 240)
        return false;
    return p->payload[0] == 2 && nf_get32(p->payload + 4) == xid;
}

/* The DHCP message type in the options of a BOOTP payload. */
static int dhcp_type(const uint8_t *b, size_t len)
{
    for (size_t i = 240; i + 1 < len && b[i] != 255;) {
        if (b[i] == 0) {
            i++;
            continue;
        }
        if (b[i] == 53 && i + 2 < len)
            return b[i + 2];
        i += 2 + (size_t)b[i + 1];
    }
    return -1;
}

/* The device behind the transport's notification thread, as on KVM with
 * ioeventfd: tx then runs there, rx on libslirp's thread. */
static struct nh *slirp_nh(uint16_t ssh_port)
{
    struct net_backend *be = net_slirp_new("net-test", ssh_port);
    ck_assert_msg(be, "net_slirp_new: %s", qv_last_error()->message);
    struct nh *h = nh_new_notified(net_new(be));
    nh_post_rx(h, 64, VIRTIO_NET_HDR_LEN + 1514);
    return h;
}

START_TEST(slirp_dhcp_offers_10_0_2_15)
{
    struct nh *h = slirp_nh(0);
    uint32_t xid = 0x51a7e;
    g_autoptr(GByteArray) d = nf_dhcp_discover(guest_mac, xid);
    nh_send(h, d);
    g_autoptr(GBytes) offer = nh_wait_rx(h, is_dhcp_offer, &xid, WAIT_MS, NULL);
    ck_assert_msg(offer, "no DHCPOFFER within %d ms", WAIT_MS);
    struct nf_parsed p;
    ck_assert(nf_parse(g_bytes_get_data(offer, NULL), g_bytes_get_size(offer), &p));
    ck_assert_uint_eq(nf_get32(p.payload + 16), nf_ip("10.0.2.15")); /* yiaddr */
    ck_assert_int_eq(dhcp_type(p.payload, p.payload_len), 2);        /* OFFER */
    ck_assert_uint_eq(p.src, nf_ip("10.0.2.2"));
    nh_free(h);
}
END_TEST

static bool is_arp_reply(const struct nf_parsed *p, void *arg)
{
    (void)arg;
    return p->ethertype == NF_ETH_ARP && p->arp_op == 2 && p->arp_sip == nf_ip("10.0.2.2");
}

/* The guest asks for the gateway's MAC, as it does before its first
 * packet; libslirp learns the guest's address from the question. */
static void arp_gateway(struct nh *h, uint8_t gw_mac[6])
{
    g_autoptr(GByteArray) a = nf_arp_request(guest_mac, nf_ip("10.0.2.15"), nf_ip("10.0.2.2"));
    nh_send(h, a);
    g_autoptr(GBytes) r = nh_wait_rx(h, is_arp_reply, NULL, WAIT_MS, NULL);
    ck_assert_msg(r, "no ARP reply for 10.0.2.2 within %d ms", WAIT_MS);
    struct nf_parsed p;
    nf_parse(g_bytes_get_data(r, NULL), g_bytes_get_size(r), &p);
    memcpy(gw_mac, p.src_mac, 6);
}

static int listen_loopback(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(fd, 4), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

START_TEST(slirp_tcp_connect_reaches_the_host)
{
    struct nh *h = slirp_nh(0);
    uint8_t gw[6];
    arp_gateway(h, gw);
    uint16_t port;
    int lfd = listen_loopback(&port);
    g_autoptr(GByteArray) syn = nf_tcp(gw, guest_mac, nf_ip("10.0.2.15"), 40000, nf_ip("10.0.2.2"),
                                       port, 1000, 0, NF_TCP_SYN);
    nh_send(h, syn);
    struct pollfd pfd = {.fd = lfd, .events = POLLIN};
    ck_assert_msg(poll(&pfd, 1, WAIT_MS) == 1, "no connection to 127.0.0.1:%u within %d ms", port,
                  WAIT_MS);
    int c = accept(lfd, NULL, NULL);
    ck_assert_int_ge(c, 0);
    close(c);
    close(lfd);
    nh_free(h);
}
END_TEST

struct syn_want {
    uint16_t dport;
};

static bool is_syn_to_guest(const struct nf_parsed *p, void *arg)
{
    struct syn_want *w = arg;
    return p->proto == 6 && p->dst == nf_ip("10.0.2.15") && p->dport == w->dport &&
           (p->tcp_flags & (NF_TCP_SYN | NF_TCP_ACK)) == NF_TCP_SYN;
}

static uint16_t free_port(void)
{
    uint16_t port;
    close(listen_loopback(&port));
    return port;
}

START_TEST(slirp_port_forward_reaches_the_guest)
{
    uint16_t port = free_port();
    struct nh *h = slirp_nh(port);
    uint8_t gw[6];
    arp_gateway(h, gw);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = connect(c, (struct sockaddr *)&sa, sizeof(sa));
    ck_assert_msg(rc == 0 || errno == EINPROGRESS, "connect to 127.0.0.1:%u: %s", port,
                  g_strerror(errno));
    struct syn_want w = {22};
    g_autoptr(GBytes) syn = nh_wait_rx(h, is_syn_to_guest, &w, WAIT_MS, NULL);
    ck_assert_msg(syn, "no SYN for the guest's port 22 within %d ms", WAIT_MS);
    close(c);
    nh_free(h);
}
END_TEST

START_TEST(slirp_port_forward_taken_is_refused)
{
    uint16_t port;
    int lfd = listen_loopback(&port);
    struct net_backend *be = net_slirp_new("net-test", port);
    ck_assert(!be);
    g_autofree char *want = g_strdup_printf("127.0.0.1:%u", port);
    ck_assert_msg(strstr(qv_last_error()->message, want), "%s", qv_last_error()->message);
    ck_assert_msg(strstr(qv_last_error()->message, "net-test"), "%s", qv_last_error()->message);
    close(lfd);
}
END_TEST

/* ---- from the definition ---- */

struct refusal {
    void (*set)(struct qv_net *n);
    const char *says;
};

static void set_e1000(struct qv_net *n)
{
    n->model = g_strdup("e1000");
}
static void set_network(struct qv_net *n)
{
    n->type = QV_NET_NETWORK;
    n->source = g_strdup("default");
}
static void set_direct(struct qv_net *n)
{
    n->type = QV_NET_DIRECT;
    n->source = g_strdup("eth0");
}
static void set_bandwidth(struct qv_net *n)
{
    n->inbound_kbps = 100;
}
static void set_vhost(struct qv_net *n)
{
    n->driver_name = g_strdup("vhost");
}
static void set_queues(struct qv_net *n)
{
    n->queues = 2;
}
static void set_ring(struct qv_net *n)
{
    n->rx_queue_size = 512;
}
static void set_boot(struct qv_net *n)
{
    n->boot_order = 1;
}
static void set_pci(struct qv_net *n)
{
    n->addr.type = QV_ADDR_PCI;
}

static const struct refusal refusals[] = {
    {set_e1000, "<model> is not virtio"},
    {set_network, "type='network'"},
    {set_direct, "type='direct'"},
    {set_bandwidth, "<bandwidth>"},
    {set_vhost, "vhost"},
    {set_queues, "<driver queues>"},
    {set_ring, "rx_queue_size"},
    {set_boot, "<boot order>"},
    {set_pci, "<address>"},
};

START_TEST(def_refusals_name_the_interface)
{
    const struct refusal *r = &refusals[_i];
    struct qv_net *n = g_new0(struct qv_net, 1);
    n->type = QV_NET_USER;
    g_strlcpy(n->mac, "52:54:00:ab:cd:ef", sizeof(n->mac));
    r->set(n);
    struct virtio_net *dev = (struct virtio_net *)n; /* must be reset to NULL */
    ck_assert_int_eq(virtio_net_from_def("web01", n, 0, &dev), QV_ERR_UNSUPPORTED);
    ck_assert_ptr_null(dev);
    const char *msg = qv_last_error()->message;
    ck_assert_msg(strstr(msg, "VM 'web01'") && strstr(msg, "52:54:00:ab:cd:ef") &&
                      strstr(msg, r->says),
                  "%s", msg);
    ck_assert_int_eq(virtio_net_check_def("web01", n), QV_ERR_UNSUPPORTED);
    qv_net_free(n);
}
END_TEST

START_TEST(def_user_forwards_its_port)
{
    uint16_t port = free_port();
    struct qv_net n = {.type = QV_NET_USER, .model = "virtio", .host_port = port};
    g_strlcpy(n.mac, "52:54:00:ab:cd:ef", sizeof(n.mac));
    struct virtio_net *dev = NULL;
    ck_assert_msg(virtio_net_from_def("web01", &n, 0, &dev) == 0, "%s", qv_last_error()->message);
    struct nh *h = nh_new(dev);
    uint8_t cfg[6];
    nh_config_read(h, 0, cfg, sizeof(cfg));
    static const uint8_t want[6] = {0x52, 0x54, 0x00, 0xab, 0xcd, 0xef};
    ck_assert_mem_eq(cfg, want, 6);
    /* libslirp listens on the port: a connection is accepted at once. */
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_msg(connect(c, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect to %u: %s", port,
                  g_strerror(errno));
    close(c);
    nh_free(h);
}
END_TEST

START_TEST(def_bad_mac_is_refused)
{
    struct qv_net n = {.type = QV_NET_USER};
    g_strlcpy(n.mac, "53:54:00:ab:cd:ef", sizeof(n.mac)); /* multicast */
    struct virtio_net *dev = NULL;
    ck_assert_int_eq(virtio_net_from_def("web01", &n, 0, &dev), QV_ERR_INVALID_ARG);
    ck_assert_ptr_null(dev);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("kvm_virtio_net");
    TCase *t = tcase_create("device");
    tcase_add_test(t, config_space_has_the_mac);
    tcase_add_test(t, tx_strips_the_header);
    tcase_add_test(t, rx_writes_header_and_frame);
    tcase_add_test(t, rx_backlog_full_drops_and_counts);
    tcase_add_test(t, rx_buffer_too_small_is_returned_empty);
    tcase_add_test(t, tx_header_too_short_fails_the_device);
    tcase_add_test(t, tx_runt_frame_dropped);
    suite_add_tcase(s, t);
    t = tcase_create("slirp");
    tcase_set_timeout(t, 30);
    tcase_add_test(t, slirp_dhcp_offers_10_0_2_15);
    tcase_add_test(t, slirp_tcp_connect_reaches_the_host);
    tcase_add_test(t, slirp_port_forward_reaches_the_guest);
    tcase_add_test(t, slirp_port_forward_taken_is_refused);
    suite_add_tcase(s, t);
    t = tcase_create("definition");
    tcase_add_loop_test(t, def_refusals_name_the_interface, 0, G_N_ELEMENTS(refusals));
    tcase_add_test(t, def_user_forwards_its_port);
    tcase_add_test(t, def_bad_mac_is_refused);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
