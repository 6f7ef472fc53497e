/* virtio-net from the guest side, through the user network (libslirp):
 * DHCP (DISCOVER, OFFER, REQUEST, ACK), ARP for the gateway, then a TCP
 * connection to the gateway's port given as "port=N" on the command line
 * (10.0.2.2: the host's 127.0.0.1), "vnet: hello over virtio-net\n" sent
 * on it and the connection closed. The test listens on that port. */
#include "virtio_guest.h"

#define F_MAC (1u << 5)
#define NRX 4
#define BUF 2048
#define HDR 12 /* struct virtio_net_hdr with num_buffers (VERSION_1) */

static struct vg_queue rxq __attribute__((aligned(4096)));
static struct vg_queue txq __attribute__((aligned(4096)));
static uint8_t rxbuf[NRX][BUF] __attribute__((aligned(16)));
static uint8_t txbuf[BUF] __attribute__((aligned(16)));
static uint8_t mac[6], gw_mac[6];
static uint32_t my_ip, gw_ip = 0x0a000202, server_ip;
static uint32_t xid = 0x51560001;

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v;
}
static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16)), put16(p + 2, (uint16_t)v);
}
static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)get16(p) << 16 | get16(p + 2);
}
static void copy(void *d, const void *s, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        ((uint8_t *)d)[i] = ((const uint8_t *)s)[i];
}
static void zero(void *d, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        ((uint8_t *)d)[i] = 0;
}

static uint32_t sum(const uint8_t *p, uint32_t n, uint32_t acc)
{
    for (uint32_t i = 0; i + 1 < n; i += 2)
        acc += get16(p + i);
    if (n & 1)
        acc += (uint32_t)p[n - 1] << 8;
    return acc;
}
static uint16_t fold(uint32_t acc)
{
    while (acc >> 16)
        acc = (acc & 0xffff) + (acc >> 16);
    return (uint16_t)~acc;
}

static void rx_post(unsigned i)
{
    rxq.desc[i].addr = (uint32_t)(uintptr_t)rxbuf[i];
    rxq.desc[i].len = BUF;
    rxq.desc[i].flags = VG_F_WRITE;
    rxq.avail.ring[rxq.avail.idx % VG_QSIZE] = (uint16_t)i;
    vg_barrier();
    rxq.avail.idx++;
    vg_barrier();
    vg_wr(rxq.base, VG_QUEUE_NOTIFY, 0);
}

/* The next frame received (its Ethernet header on), or 0 after a long
 * wait; *slot is to be given back with rx_post. */
static uint8_t *rx_frame(uint32_t *len, unsigned *slot)
{
    for (uint32_t spin = 0; spin < 200000000u; spin++) {
        if (*(volatile uint16_t *)&rxq.used.idx != rxq.last_used) {
            vg_barrier();
            uint32_t id = rxq.used.ring[rxq.last_used % VG_QSIZE].id;
            uint32_t l = rxq.used.ring[rxq.last_used % VG_QSIZE].len;
            rxq.last_used++;
            if (id >= NRX || l < HDR + 14 || l > BUF) {
                puts_serial("vnet: bad used entry\n");
                guest_exit(1);
            }
            *slot = id;
            *len = l - HDR;
            return rxbuf[id] + HDR;
        }
    }
    return 0;
}

static void tx(uint32_t len)
{
    void *b[1] = {txbuf};
    uint32_t l[1] = {HDR + len};
    uint8_t w[1] = {0};
    if (vg_run(&txq, 1, 1, b, l, w) < 0) {
        puts_serial("vnet: transmit NEEDS_RESET\n");
        guest_exit(1);
    }
}

/* Ethernet + IPv4 headers into txbuf for a payload of n bytes; returns
 * where the payload goes. */
static uint8_t *ip_out(const uint8_t *dmac, uint32_t dst, uint8_t proto, uint32_t n)
{
    zero(txbuf, HDR);
    uint8_t *e = txbuf + HDR;
    copy(e, dmac, 6);
    copy(e + 6, mac, 6);
    put16(e + 12, 0x0800);
    uint8_t *ip = e + 14;
    zero(ip, 20);
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(20 + n));
    ip[8] = 64;
    ip[9] = proto;
    put32(ip + 12, my_ip);
    put32(ip + 16, dst);
    put16(ip + 10, fold(sum(ip, 20, 0)));
    return ip + 20;
}

static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static void dhcp_send(uint8_t type, uint32_t req_ip)
{
    uint32_t n = 8 + 240 + 16;
    uint8_t *udp = ip_out(bcast, 0xffffffffu, 17, n);
    put16(udp, 68);
    put16(udp + 2, 67);
    put16(udp + 4, (uint16_t)n);
    put16(udp + 6, 0); /* no UDP checksum */
    uint8_t *d = udp + 8;
    zero(d, 240 + 16);
    d[0] = 1, d[1] = 1, d[2] = 6;
    put32(d + 4, xid);
    copy(d + 28, mac, 6);
    put32(d + 236, 0x63825363);
    uint8_t *o = d + 240;
    *o++ = 53, *o++ = 1, *o++ = type;
    if (req_ip) {
        *o++ = 50, *o++ = 4;
        put32(o, req_ip);
        o += 4;
        *o++ = 54, *o++ = 4;
        put32(o, server_ip);
        o += 4;
    }
    *o = 255;
    tx(14 + 20 + n);
}

/* A DHCP reply of the given type for us: its yiaddr, or 0. */
static uint32_t dhcp_reply(const uint8_t *f, uint32_t len, uint8_t want)
{
    if (len < 14 + 20 + 8 + 240 || get16(f + 12) != 0x0800 || f[14 + 9] != 17)
        return 0;
    const uint8_t *udp = f + 14 + (f[14] & 15) * 4;
    const uint8_t *d = udp + 8;
    if (get16(udp + 2) != 68 || get32(d + 4) != xid || get32(d + 236) != 0x63825363)
        return 0;
    uint8_t type = 0;
    for (const uint8_t *o = d + 240; o < f + len && *o != 255;) {
        if (*o == 0) {
            o++;
            continue;
        }
        if (o + 2 > f + len)
            break;
        if (o[0] == 53 && o[1] >= 1)
            type = o[2];
        if (o[0] == 54 && o[1] == 4)
            server_ip = get32(o + 2);
        o += 2 + o[1];
    }
    return type == want ? get32(d + 16) : 0;
}

static uint32_t wait_dhcp(uint8_t want)
{
    for (int tries = 0; tries < 64; tries++) {
        uint32_t len;
        unsigned slot;
        uint8_t *f = rx_frame(&len, &slot);
        if (!f)
            break;
        uint32_t ip = dhcp_reply(f, len, want);
        rx_post(slot);
        if (ip)
            return ip;
    }
    return 0;
}

static int arp_gateway(void)
{
    zero(txbuf, HDR);
    uint8_t *e = txbuf + HDR;
    copy(e, bcast, 6);
    copy(e + 6, mac, 6);
    put16(e + 12, 0x0806);
    uint8_t *a = e + 14;
    put16(a, 1), put16(a + 2, 0x0800), a[4] = 6, a[5] = 4, put16(a + 6, 1);
    copy(a + 8, mac, 6);
    put32(a + 14, my_ip);
    zero(a + 18, 6);
    put32(a + 24, gw_ip);
    tx(14 + 28);
    for (int tries = 0; tries < 64; tries++) {
        uint32_t len;
        unsigned slot;
        uint8_t *f = rx_frame(&len, &slot);
        if (!f)
            return -1;
        int ok = len >= 42 && get16(f + 12) == 0x0806 && get16(f + 14 + 6) == 2 &&
                 get32(f + 14 + 14) == gw_ip;
        if (ok)
            copy(gw_mac, f + 14 + 8, 6);
        rx_post(slot);
        if (ok)
            return 0;
    }
    return -1;
}

static void tcp_send(uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags,
                     const char *data, uint32_t n)
{
    uint8_t *t = ip_out(gw_mac, gw_ip, 6, 20 + n);
    zero(t, 20);
    put16(t, sport);
    put16(t + 2, dport);
    put32(t + 4, seq);
    put32(t + 8, ack);
    t[12] = 5 << 4;
    t[13] = flags;
    put16(t + 14, 8192);
    copy(t + 20, data, n);
    uint8_t pseudo[12];
    put32(pseudo, my_ip);
    put32(pseudo + 4, gw_ip);
    pseudo[8] = 0, pseudo[9] = 6;
    put16(pseudo + 10, (uint16_t)(20 + n));
    put16(t + 16, fold(sum(t, 20 + n, sum(pseudo, 12, 0))));
    tx(14 + 20 + 20 + n);
}

/* The next TCP segment from dport to sport: its flags, *seq and *ack. */
static int tcp_wait(uint16_t sport, uint16_t dport, uint32_t *seq, uint32_t *ack, uint32_t *dlen)
{
    for (int tries = 0; tries < 64; tries++) {
        uint32_t len;
        unsigned slot;
        uint8_t *f = rx_frame(&len, &slot);
        if (!f)
            return -1;
        int flags = -1;
        if (len >= 54 && get16(f + 12) == 0x0800 && f[14 + 9] == 6) {
            uint32_t ihl = (f[14] & 15) * 4u, tot = get16(f + 16);
            const uint8_t *t = f + 14 + ihl;
            if (get16(t) == dport && get16(t + 2) == sport) {
                flags = t[13];
                *seq = get32(t + 4);
                *ack = get32(t + 8);
                *dlen = tot - ihl - (uint32_t)(t[12] >> 4) * 4;
            }
        }
        rx_post(slot);
        if (flags >= 0)
            return flags;
    }
    return -1;
}

static uint32_t cmdline_port(uint32_t info)
{
    const volatile uint32_t *mbi = (const volatile uint32_t *)(uintptr_t)info;
    if (!(mbi[0] & 4))
        return 0;
    const char *c = (const char *)(uintptr_t)mbi[4];
    for (; *c; c++)
        if (c[0] == 'p' && c[1] == 'o' && c[2] == 'r' && c[3] == 't' && c[4] == '=') {
            uint32_t v = 0;
            for (c += 5; *c >= '0' && *c <= '9'; c++)
                v = v * 10 + (uint32_t)(*c - '0');
            return v;
        }
    return 0;
}

static void ip_line(const char *what, uint32_t ip)
{
    puts_serial(what);
    for (int i = 3; i >= 0; i--) {
        put_dec((ip >> (i * 8)) & 255);
        if (i)
            putc_serial('.');
    }
    putc_serial('\n');
}

int guest_main(uint32_t magic, uint32_t info)
{
    (void)magic;
    uint32_t port = cmdline_port(info);
    uint32_t base = vg_find(1);
    if (!base || !port) {
        puts_serial(base ? "vnet: no port=N on the command line\n" : "vnet: no virtio-net device\n");
        return 1;
    }
    int64_t feat = vg_negotiate(base, F_MAC);
    if (feat < 0 || !(feat & F_MAC) || vg_queue(base, &rxq, 0) < 0 || vg_queue(base, &txq, 1) < 0) {
        puts_serial("vnet: the device refused the driver\n");
        return 1;
    }
    for (int i = 0; i < 6; i++)
        mac[i] = *(volatile uint8_t *)(uintptr_t)(base + VG_CONFIG + i);
    vg_driver_ok(base);
    for (unsigned i = 0; i < NRX; i++)
        rx_post(i);

    dhcp_send(1, 0); /* DISCOVER */
    uint32_t offered = wait_dhcp(2);
    if (!offered) {
        puts_serial("vnet: no DHCP offer\n");
        return 1;
    }
    dhcp_send(3, offered); /* REQUEST */
    my_ip = wait_dhcp(5);
    if (!my_ip) {
        puts_serial("vnet: no DHCP ack\n");
        return 1;
    }
    ip_line("vnet: dhcp gave ", my_ip);
    if (arp_gateway() < 0) {
        puts_serial("vnet: the gateway did not answer ARP\n");
        return 1;
    }
    puts_serial("vnet: gateway answered ARP\n");

    const uint16_t sport = 40000;
    uint32_t iss = 1000, seq, ack, dlen;
    tcp_send(sport, (uint16_t)port, iss, 0, 0x02, 0, 0); /* SYN */
    int fl = tcp_wait(sport, (uint16_t)port, &seq, &ack, &dlen);
    if (fl < 0 || (fl & 0x12) != 0x12 || ack != iss + 1) {
        puts_serial("vnet: no SYN-ACK\n");
        return 1;
    }
    puts_serial("vnet: connected\n");
    static const char msg[] = "vnet: hello over virtio-net\n";
    uint32_t n = sizeof(msg) - 1;
    tcp_send(sport, (uint16_t)port, iss + 1, seq + 1, 0x18, msg, n); /* PSH|ACK */
    for (int i = 0; i < 8; i++) {
        fl = tcp_wait(sport, (uint16_t)port, &seq, &ack, &dlen);
        if (fl >= 0 && (fl & 0x10) && ack == iss + 1 + n)
            break;
    }
    if (fl < 0 || ack != iss + 1 + n) {
        puts_serial("vnet: the data was not acknowledged\n");
        return 1;
    }
    puts_serial("vnet: sent and acknowledged\n");
    tcp_send(sport, (uint16_t)port, iss + 1 + n, seq + dlen, 0x11, 0, 0); /* FIN|ACK */
    return 0;
}
