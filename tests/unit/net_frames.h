/* Ethernet frames a guest would send and their parsing, for the
 * virtio-net tests: ARP, IPv4 with UDP (DHCP) and TCP, checksums included
 * (libslirp drops TCP segments whose checksum is wrong). */
#ifndef QV_TEST_NET_FRAMES_H
#define QV_TEST_NET_FRAMES_H

#include <arpa/inet.h>
#include <glib.h>
#include <stdint.h>
#include <string.h>

#define NF_ETH_LEN 14
#define NF_IP_LEN 20
#define NF_UDP_LEN 8
#define NF_TCP_LEN 20
#define NF_ETH_IP 0x0800
#define NF_ETH_ARP 0x0806
#define NF_TCP_SYN 0x02
#define NF_TCP_ACK 0x10
#define NF_BOOTP_LEN 548 /* 236 fixed bytes and 312 of options */

static const uint8_t nf_broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static inline void nf_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline uint16_t nf_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t nf_ip(const char *s)
{
    struct in_addr a;
    inet_pton(AF_INET, s, &a);
    return ntohl(a.s_addr);
}

static inline void nf_put32(uint8_t *p, uint32_t v)
{
    nf_put16(p, (uint16_t)(v >> 16));
    nf_put16(p + 2, (uint16_t)v);
}

static inline uint32_t nf_get32(const uint8_t *p)
{
    return (uint32_t)nf_get16(p) << 16 | nf_get16(p + 2);
}

/* The Internet checksum (RFC 1071) of data, continuing from sum. */
static inline uint32_t nf_sum(uint32_t sum, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += nf_get16(data + i);
    if (len & 1)
        sum += (uint32_t)data[len - 1] << 8;
    return sum;
}

static inline uint16_t nf_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static inline void nf_eth(GByteArray *f, const uint8_t dst[6], const uint8_t src[6], uint16_t type)
{
    uint8_t h[NF_ETH_LEN];
    memcpy(h, dst, 6);
    memcpy(h + 6, src, 6);
    nf_put16(h + 12, type);
    g_byte_array_append(f, h, sizeof(h));
}

/* An ARP request from (mac, sip) asking for tip. */
static inline GByteArray *nf_arp_request(const uint8_t mac[6], uint32_t sip, uint32_t tip)
{
    GByteArray *f = g_byte_array_new();
    nf_eth(f, nf_broadcast, mac, NF_ETH_ARP);
    uint8_t a[28] = {0, 1, 8, 0, 6, 4, 0, 1};
    memcpy(a + 8, mac, 6);
    nf_put32(a + 14, sip);
    nf_put32(a + 24, tip);
    g_byte_array_append(f, a, sizeof(a));
    return f;
}

/* An IPv4 packet carrying payload (already holding its L4 header, whose
 * checksum at l4_csum_off is filled in here; -1 for none). */
static inline GByteArray *nf_ipv4(const uint8_t dst_mac[6], const uint8_t src_mac[6], uint8_t proto,
                                  uint32_t src, uint32_t dst, uint8_t *l4, size_t l4_len,
                                  int l4_csum_off)
{
    if (l4_csum_off >= 0) {
        uint8_t pseudo[12];
        nf_put32(pseudo, src);
        nf_put32(pseudo + 4, dst);
        pseudo[8] = 0;
        pseudo[9] = proto;
        nf_put16(pseudo + 10, (uint16_t)l4_len);
        l4[l4_csum_off] = l4[l4_csum_off + 1] = 0;
        uint16_t c = nf_fold(nf_sum(nf_sum(0, pseudo, sizeof(pseudo)), l4, l4_len));
        nf_put16(l4 + l4_csum_off, proto == 17 && c == 0 ? 0xffff : c);
    }
    GByteArray *f = g_byte_array_new();
    nf_eth(f, dst_mac, src_mac, NF_ETH_IP);
    uint8_t ip[NF_IP_LEN] = {0x45, 0};
    nf_put16(ip + 2, (uint16_t)(NF_IP_LEN + l4_len));
    nf_put16(ip + 4, 0x1234);
    ip[8] = 64;
    ip[9] = proto;
    nf_put32(ip + 12, src);
    nf_put32(ip + 16, dst);
    nf_put16(ip + 10, nf_fold(nf_sum(0, ip, sizeof(ip))));
    g_byte_array_append(f, ip, sizeof(ip));
    g_byte_array_append(f, l4, (guint)l4_len);
    return f;
}

static inline GByteArray *nf_udp(const uint8_t dst_mac[6], const uint8_t src_mac[6], uint32_t src,
                                 uint16_t sport, uint32_t dst, uint16_t dport,
                                 const uint8_t *payload, size_t len)
{
    g_autofree uint8_t *u = g_malloc0(NF_UDP_LEN + len);
    nf_put16(u, sport);
    nf_put16(u + 2, dport);
    nf_put16(u + 4, (uint16_t)(NF_UDP_LEN + len));
    memcpy(u + NF_UDP_LEN, payload, len);
    return nf_ipv4(dst_mac, src_mac, 17, src, dst, u, NF_UDP_LEN + len, 6);
}

static inline GByteArray *nf_tcp(const uint8_t dst_mac[6], const uint8_t src_mac[6], uint32_t src,
                                 uint16_t sport, uint32_t dst, uint16_t dport, uint32_t seq,
                                 uint32_t ack, uint8_t flags)
{
    uint8_t t[NF_TCP_LEN] = {0};
    nf_put16(t, sport);
    nf_put16(t + 2, dport);
    nf_put32(t + 4, seq);
    nf_put32(t + 8, ack);
    t[12] = (NF_TCP_LEN / 4) << 4;
    t[13] = flags;
    nf_put16(t + 14, 65535); /* window */
    return nf_ipv4(dst_mac, src_mac, 6, src, dst, t, sizeof(t), 16);
}

/* A DHCPDISCOVER from mac, broadcast from 0.0.0.0:68 to port 67. */
static inline GByteArray *nf_dhcp_discover(const uint8_t mac[6], uint32_t xid)
{
    uint8_t b[NF_BOOTP_LEN] = {1, 1, 6, 0};
    nf_put32(b + 4, xid);
    nf_put16(b + 10, 0x8000); /* broadcast the answer */
    memcpy(b + 28, mac, 6);
    static const uint8_t opts[] = {99, 130, 83, 99, 53, 1, 1, 255};
    memcpy(b + 236, opts, sizeof(opts));
    return nf_udp(nf_broadcast, mac, 0, 68, 0xffffffff, 67, b, sizeof(b));
}

/* What a test looks for in a frame the device delivered. */
struct nf_parsed {
    uint16_t ethertype;
    uint8_t src_mac[6];
    uint8_t proto; /* IPv4: 6 TCP, 17 UDP */
    uint32_t src, dst;
    uint16_t sport, dport;
    uint8_t tcp_flags;
    uint32_t seq;
    const uint8_t *payload;
    size_t payload_len;
    uint16_t arp_op;
    uint32_t arp_sip, arp_tip;
};

/* false when the frame is too short for what its headers say. */
static inline bool nf_parse(const uint8_t *f, size_t len, struct nf_parsed *p)
{
    memset(p, 0, sizeof(*p));
    if (len < NF_ETH_LEN)
        return false;
    p->ethertype = nf_get16(f + 12);
    memcpy(p->src_mac, f + 6, 6);
    f += NF_ETH_LEN;
    len -= NF_ETH_LEN;
    if (p->ethertype == NF_ETH_ARP) {
        if (len < 28)
            return false;
        p->arp_op = nf_get16(f + 6);
        p->arp_sip = nf_get32(f + 14);
        p->arp_tip = nf_get32(f + 24);
        return true;
    }
    if (p->ethertype != NF_ETH_IP || len < NF_IP_LEN)
        return p->ethertype != NF_ETH_IP;
    size_t ihl = (size_t)(f[0] & 0xf) * 4, total = nf_get16(f + 2);
    if (ihl < NF_IP_LEN || total > len || total < ihl)
        return false;
    p->proto = f[9];
    p->src = nf_get32(f + 12);
    p->dst = nf_get32(f + 16);
    const uint8_t *l4 = f + ihl;
    size_t l4_len = total - ihl;
    if (p->proto == 17 && l4_len >= NF_UDP_LEN) {
        p->sport = nf_get16(l4);
        p->dport = nf_get16(l4 + 2);
        p->payload = l4 + NF_UDP_LEN;
        p->payload_len = l4_len - NF_UDP_LEN;
    } else if (p->proto == 6 && l4_len >= NF_TCP_LEN) {
        p->sport = nf_get16(l4);
        p->dport = nf_get16(l4 + 2);
        p->seq = nf_get32(l4 + 4);
        p->tcp_flags = l4[13];
    }
    return true;
}

#endif
