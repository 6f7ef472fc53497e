/* virtio-net over a real host tap, and a tap on a real bridge. Needs
 * /dev/net/tun and CAP_NET_ADMIN: without them the test reports itself
 * skipped (77) saying which is missing. */
#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "drivers/kvm/virtio/net_backend.h"
#include "lib/conf/domain.h"
#include "lib/host/host_net.h"
#include "lib/proc/proc.h"
#include "lib/util/error.h"
#include "net_frames.h"
#include "virtio_net_harness.h"

#define SKIP 77
#define WAIT_MS 5000
#define ETH_TEST 0x88b5 /* IEEE local experimental: nothing else sends it */

/* Names unique to this process: other tests make taps too. */
static uint8_t mac[6];
static char mac_str[18], tap[IFNAMSIZ], bridge[IFNAMSIZ];

static void names(void)
{
    unsigned p = (unsigned)getpid();
    uint8_t m[6] = {0x52, 0x54, 0x00, (uint8_t)(p >> 16), (uint8_t)(p >> 8), (uint8_t)p};
    memcpy(mac, m, 6);
    snprintf(mac_str, sizeof(mac_str), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3],
             m[4], m[5]);
    g_autofree char *t = host_tap_name(mac_str);
    g_strlcpy(tap, t, sizeof(tap));
    snprintf(bridge, sizeof(bridge), "qvbrn%06x", p & 0xffffff);
}

static int ifindex(const char *name)
{
    return (int)if_nametoindex(name);
}

static void link_up(const char *name)
{
    const char *argv[] = {"ip", "link", "set", "dev", name, "up", NULL};
    ck_assert_msg(host_net_tool(argv, NULL) == 0, "%s", qv_last_error()->message);
}

/* A raw socket on the tap's host side, for frames of type ETH_TEST. */
static int packet_socket(const char *name)
{
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_TEST));
    ck_assert_int_ge(fd, 0);
    struct sockaddr_ll sa = {
        .sll_family = AF_PACKET, .sll_protocol = htons(ETH_TEST), .sll_ifindex = ifindex(name)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static GByteArray *test_frame(const uint8_t dst[6], const uint8_t src[6], uint8_t fill)
{
    GByteArray *f = g_byte_array_new();
    nf_eth(f, dst, src, ETH_TEST);
    for (int i = 0; i < 50; i++)
        g_byte_array_append(f, &fill, 1);
    return f;
}

static bool is_test_frame(const struct nf_parsed *p, void *arg)
{
    (void)arg;
    return p->ethertype == ETH_TEST;
}

START_TEST(tap_carries_frames_both_ways)
{
    struct net_backend *be = net_tap_new("net-test", tap, NULL);
    ck_assert_msg(be, "net_tap_new: %s", qv_last_error()->message);
    struct nh *h = nh_new(virtio_net_new(mac, be));
    nh_post_rx(h, 16, VIRTIO_NET_HDR_LEN + 1514);
    link_up(tap);
    int ps = packet_socket(tap);

    /* guest -> host */
    static const uint8_t peer[6] = {0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc};
    g_autoptr(GByteArray) out = test_frame(peer, mac, 0x5a);
    nh_send(h, out);
    struct pollfd p = {.fd = ps, .events = POLLIN};
    ck_assert_msg(poll(&p, 1, WAIT_MS) == 1, "the guest's frame did not reach tap %s", tap);
    uint8_t buf[2048];
    ssize_t n = recv(ps, buf, sizeof(buf), 0);
    ck_assert_int_eq(n, out->len);
    ck_assert_mem_eq(buf, out->data, out->len);

    /* host -> guest */
    g_autoptr(GByteArray) in = test_frame(mac, peer, 0xa5);
    ck_assert_int_eq(send(ps, in->data, in->len, 0), in->len);
    g_autoptr(GBytes) got = nh_wait_rx(h, is_test_frame, NULL, WAIT_MS, NULL);
    ck_assert_msg(got, "the host's frame did not reach the guest");
    ck_assert_uint_eq(g_bytes_get_size(got), in->len);
    ck_assert_mem_eq(g_bytes_get_data(got, NULL), in->data, in->len);
    close(ps);
    nh_free(h);
    /* qv made the tap, so it goes with the device. */
    ck_assert_int_eq(ifindex(tap), 0);
}
END_TEST

static char *master_of(const char *dev)
{
    g_autofree char *p = g_strdup_printf("/sys/class/net/%s/master", dev);
    g_autofree char *target = g_file_read_link(p, NULL);
    return target ? g_path_get_basename(target) : NULL;
}

START_TEST(bridge_gets_the_tap)
{
    const char *add[] = {"ip", "link", "add", "name", bridge, "type", "bridge", NULL};
    ck_assert_msg(host_net_tool(add, NULL) == 0, "%s", qv_last_error()->message);
    struct qv_net n = {.type = QV_NET_BRIDGE, .source = bridge};
    g_strlcpy(n.mac, mac_str, sizeof(n.mac));
    struct virtio_net *dev = NULL;
    int rc = virtio_net_from_def("net-test", &n, 0, &dev);
    ck_assert_msg(rc == 0, "%s", qv_last_error()->message);
    g_autofree char *m = master_of(tap);
    ck_assert_str_eq(m ? m : "(none)", bridge);
    virtio_net_free(dev);
    ck_assert_int_eq(ifindex(tap), 0);
    const char *del[] = {"ip", "link", "del", "dev", bridge, NULL};
    ck_assert_int_eq(host_net_tool(del, NULL), 0);
}
END_TEST

START_TEST(missing_bridge_is_refused_and_leaves_no_tap)
{
    struct qv_net n = {.type = QV_NET_BRIDGE, .source = bridge};
    g_strlcpy(n.mac, mac_str, sizeof(n.mac));
    struct virtio_net *dev = NULL;
    ck_assert_int_eq(virtio_net_from_def("net-test", &n, 0, &dev), QV_ERR_NOT_FOUND);
    ck_assert_ptr_null(dev);
    g_autofree char *want = g_strdup_printf("no bridge '%s'", bridge);
    ck_assert_msg(strstr(qv_last_error()->message, want), "%s", qv_last_error()->message);
    ck_assert_int_eq(ifindex(tap), 0);
}
END_TEST

START_TEST(ethernet_makes_the_named_tap)
{
    struct qv_net n = {.type = QV_NET_ETHERNET};
    g_strlcpy(n.mac, mac_str, sizeof(n.mac));
    struct virtio_net *dev = NULL;
    ck_assert_msg(virtio_net_from_def("net-test", &n, 0, &dev) == 0, "%s",
                  qv_last_error()->message);
    ck_assert_int_ne(ifindex(tap), 0);
    /* A second device cannot take the same tap. */
    struct virtio_net *again = NULL;
    ck_assert_int_eq(virtio_net_from_def("net-test", &n, 0, &again), QV_ERR_BUSY);
    ck_assert_msg(strstr(qv_last_error()->message, tap), "%s", qv_last_error()->message);
    virtio_net_free(dev);
    ck_assert_int_eq(ifindex(tap), 0);
}
END_TEST

int main(void)
{
    if (access("/dev/net/tun", R_OK | W_OK) != 0) {
        printf("SKIP: /dev/net/tun is missing or not accessible (module tun)\n");
        return SKIP;
    }
    if (!host_net_admin()) {
        printf("SKIP: making taps and bridges needs CAP_NET_ADMIN (run as root)\n");
        return SKIP;
    }
    names();
    Suite *s = suite_create("kvm_virtio_net_tap");
    TCase *t = tcase_create("tap");
    tcase_set_timeout(t, 30);
    tcase_add_test(t, tap_carries_frames_both_ways);
    tcase_add_test(t, bridge_gets_the_tap);
    tcase_add_test(t, missing_bridge_is_refused_and_leaves_no_tap);
    tcase_add_test(t, ethernet_makes_the_named_tap);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
