/* Host network interfaces for a VM's NICs, shared by the drivers that give
 * a NIC a tap (qemu, kvm): the tap's name, putting it on a bridge, and the
 * iproute2 tools (ip, tc) run as argv, never through a shell. */
#ifndef QV_LIB_HOST_NET_H
#define QV_LIB_HOST_NET_H

#include <stdbool.h>

/* prefix then the MAC's hex digits, lower case: "qvt525400123456". With
 * a 3-letter prefix it fits IFNAMSIZ. */
char *host_net_mac_name(const char *prefix, const char *mac);
/* The tap qv makes for a NIC: host_net_mac_name("qvt", mac). */
char *host_tap_name(const char *mac);
/* Whether this process holds CAP_NET_ADMIN (making taps, tc). */
bool host_net_admin(void);
/* Whether interface dev exists (/sys/class/net/DEV). */
bool host_link_exists(const char *dev);
/* ip or tc (argv[0]) from PATH, else /usr/sbin (a user's PATH often lacks
 * it); QV_ERR_UNSUPPORTED naming iproute2 when it is not installed. */
int host_net_tool(const char *const *argv, char **out);
/* Put tap on bridge and bring it up; QV_ERR_NOT_FOUND when the host has
 * no such bridge. Errors name the VM, the tap and the bridge. */
int host_bridge_attach(const char *vm_name, const char *tap, const char *bridge);

#endif
