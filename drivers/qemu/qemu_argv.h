/* Internal to the argv builder (qemu_argv*.c): the argument list being
 * built and the helpers its files share. */
#ifndef QV_QEMU_ARGV_H
#define QV_QEMU_ARGV_H

#include <libxml/tree.h>

#include "qemu.h"

/* A PCI <address> given (qemu_argv_place.c), for the multifunction check. */
struct qemu_pci_fn {
    uint8_t bus, slot, function;
    int8_t multifunction;
    int line;
    char *what;
};

struct qemu_argv {
    GPtrArray *a;
    const struct qv_domain *def;
    const struct qemu_launch *l;
    uint32_t chassis_used[8]; /* PCIe chassis numbers the root ports have */
    uint32_t pci_index_used[8]; /* <controller type='pci' index=> taken */
    unsigned ports;           /* qv's root ports so far */
    uint32_t pci_buses[8];    /* bus indexes kept PCI controllers add */
    uint32_t one_slot_buses[8]; /* those that are PCIe root ports */
    GHashTable *taken;          /* place -> what is there (qemu_argv_place.c) */
    GArray *functions;          /* struct qemu_pci_fn: PCI <address>es placed */
    bool scsi_added;            /* virtio-scsi-pci,id=scsi0 is on the command line */
    uint32_t sata_added[8];     /* ich9-ahci,id=sataN for these N > 0 (q35) */
    uint8_t vserial_ports[256]; /* virtio-serial controller N's max_ports, 0 when absent */
    const char *watchdog_action; /* -action watchdog= once one is given */
    bool silent_audio;           /* -audiodev none,id=audio0 is given */
    bool tpm;                    /* the one <tpm> is given */
    const struct qv_kept *numa;  /* <cpu><numa>, for qemu_argv_add_numa() */
    bool spice;                  /* the one -spice is given */
    struct {                     /* <maxMemory> and memory devices (qemu_argv_memdev.c) */
        uint64_t max_kib;        /* 0: no <maxMemory> */
        uint32_t slots, used[8]; /* slots and those taken */
        unsigned n, dimms;       /* memory devices so far, and those in slots */
        bool nvdimm;             /* -machine nvdimm=on is given */
    } memdev;
};

void qemu_argv_add(struct qemu_argv *v, const char *s);
void qemu_argv_addf(struct qemu_argv *v, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
void qemu_argv_add2(struct qemu_argv *v, const char *opt, const char *val);
/* QV_ERR_UNSUPPORTED: "VM 'x': <what> is not supported by the qemu driver". */
int qemu_argv_unsupported(const struct qemu_argv *v, const char *what);
/* Names that go into QEMU options unescaped: no commas, '=' or spaces. */
bool qemu_plain_word(const char *s);
bool qemu_is_q35(const struct qv_domain *def);

char *qemu_json_text(JsonBuilder *b);
void qemu_json_member_str(JsonBuilder *b, const char *k, const char *v);
void qemu_json_member_bool(JsonBuilder *b, const char *k, gboolean v);
/* Open a -blockdev node object with the members every node carries. */
/* libvirt's cache= as QEMU's three switches. */
int qemu_disk_cache_mode(const char *vm_name, const char *cache, gboolean *direct,
                         gboolean *no_flush, gboolean *write_cache);
void qemu_blockdev_begin(JsonBuilder *b, const char *driver, const char *node, gboolean ro,
                         gboolean direct, gboolean no_flush, const char *discard);

/* Disk i (qemu_argv_disk.c); the SCSI controller is added once. */
int qemu_argv_add_disk(struct qemu_argv *v, guint i);
/* NIC i, then rng, graphics, hostdevs and the cloud-init seed
 * (qemu_argv_devices.c). */
int qemu_argv_add_net(struct qemu_argv *v, guint i);
int qemu_argv_add_devices(struct qemu_argv *v);
/* NIC n's <driver> on its -netdev and -device specs (qemu_argv_netdrv.c). */
int qemu_argv_net_driver(struct qemu_argv *v, const struct qv_net *n, GString *netdev,
                         GString *device);
/* <clock>, <pm> and the libvirt devices qv keeps as written
 * (qemu_argv_libvirt.c); refuses, naming it, what QEMU cannot be given. */
int qemu_argv_add_libvirt(struct qemu_argv *v);
/* The virtio balloon every VM gets unless its <memballoon model='none'/>
 * says otherwise; a written <memballoon> is placed by
 * qemu_argv_add_libvirt(), so there is only ever one. */
int qemu_argv_add_balloon(struct qemu_argv *v);

/* The <serial> ports, the first as the console (qemu_argv_serial.c);
 * dir is the VM's directory, escaped for QEMU. */
int qemu_argv_add_serials(struct qemu_argv *v, const char *dir);

/* For the handlers of kept devices (qemu_argv_kept.c). */
/* Whether the definition has the USB controller (bus usb.0) a USB device
 * is plugged into: a kept <controller type='usb' index='0'> of a model
 * other than none. */
bool qemu_has_usb_bus(const struct qv_domain *def);
/* The ports of that controller's root hub for USB 1/2 devices, 0 without
 * one. */
unsigned qemu_usb_ports(const struct qv_domain *def);
/* QV_ERR_UNSUPPORTED "VM 'x': the qemu driver cannot honour <elem> (line
 * N): <why>". */
int qemu_kept_refuse(const struct qemu_argv *v, const struct qv_kept *k, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
/* "-device DEVICE<placement>", or the refusal of an address it cannot use. */
int qemu_kept_add_placed(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n,
                         const char *device);
char *qemu_xml_prop(const xmlNode *n, const char *name); /* NULL when absent */
bool qemu_xml_has_prop(const xmlNode *n, const char *name);
/* value NULL: true when the attribute is absent. */
bool qemu_xml_prop_is(const xmlNode *n, const char *name, const char *value);
/* The first un-namespaced child element of that name, or NULL. */
const xmlNode *qemu_xml_child(const xmlNode *n, const char *name);
/* The name of a child element not in known (NULL-terminated), or NULL:
 * children a handler does not list mean something it does not do. */
const char *qemu_xml_other_child(const xmlNode *n, const char *const *known);
/* An unsigned attribute (decimal or 0x hex) up to max; false when absent
 * or not one. */
bool qemu_xml_hex(const xmlNode *a, const char *name, uint64_t max, uint64_t *out);
bool qemu_parse_uint(const char *s, uint64_t max, uint64_t *out);

/* The handlers, one file each, dispatched by kept_device(). */
int qemu_kept_watchdog(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n);
int qemu_kept_sound(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n);
int qemu_kept_audio(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n);
/* <controller type='virtio-serial|scsi|sata'> (qemu_argv_controllers.c). */
int qemu_kept_bus_controller(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n);
int qemu_kept_tpm(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n);
int qemu_kept_filesystem(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n);
/* <filesystem><driver type='virtiofs'> (qemu_argv_virtiofs.c), index its
 * place in def->kept; and the virtiofsd command line for it, listening on
 * sock (NULL for a <source socket=> someone else serves). */
int qemu_kept_virtiofs(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n, guint index);
GPtrArray *qemu_virtiofsd_argv(const xmlNode *n, const char *sock);
/* <graphics type='spice'> kept or modelled, the SPICE agent's <channel
 * type='spicevmc'> (validated here, given on the bus by add_spicevmc from
 * qemu_argv_add_channels with ids from first), <video model='qxl'>
 * (qemu_argv_spice.c, qemu_argv_qxl.c). */
int qemu_kept_graphics(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n);
int qemu_argv_spice_graphics(struct qemu_argv *v, const struct qv_graphics *g);
int qemu_kept_channel(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n);
guint qemu_spicevmc_channels(const struct qv_domain *def);
int qemu_argv_spicevmc_add(struct qemu_argv *v, guint first);
int qemu_kept_video_qxl(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n,
                        const xmlNode *model);
/* <smartcard> (qemu_argv_smartcard.c). */
int qemu_kept_smartcard(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n);
int qemu_kept_ccid_controller(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n);
/* <interface type='hostdev'> (qemu_argv_hostdev_net.c). */
int qemu_kept_interface(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n);
int qemu_kept_redirdev(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n);
/* q35's root ports (qemu_argv_pcie.c). device_bus gives a disk or NIC
 * ",bus=PORT" for a new root port of its own on q35, "" on pc; spare_ports
 * adds the QEMU_SPARE_ROOT_PORTS free ones; chassis_take records a kept
 * root port's chassis (false when another port has it). */
int qemu_argv_device_bus(struct qemu_argv *v, char **placement);
int qemu_argv_add_spare_ports(struct qemu_argv *v);
bool qemu_argv_chassis_take(struct qemu_argv *v, unsigned chassis);
/* Give qv's root ports their pcie.0 slots, eight to a slot, once every
 * <address> has taken its place (before qemu_argv_pci_order). */
int qemu_argv_place_ports(struct qemu_argv *v);

/* <channel>s as virtserialports on a virtio-serial bus (qemu_argv_channel.c). */
int qemu_argv_add_channels(struct qemu_argv *v);

/* Placement (qemu_argv_place.c). pci_at gives ",bus=...,addr=0xS[.0xF]"
 * for a PCI <address> once its bus exists and the slot is free; device_at
 * does that for a disk or NIC with one and qemu_argv_device_bus() for one
 * without; drive_at gives an IDE, SATA or SCSI disk's ",bus=..." from its
 * drive <address> or, without one, its target name (idx). what names the
 * device in errors ("<disk> 'vda'"). pci_bus_add records a bus a kept
 * controller adds; pci_order moves the -devices with a root-bus slot of
 * their own before the first one QEMU places itself. */
int qemu_argv_pci_at(struct qemu_argv *v, const struct qv_addr *a, const char *what, char **out);
int qemu_argv_device_at(struct qemu_argv *v, const struct qv_addr *a, const char *what, char **out);
int qemu_argv_drive_at(struct qemu_argv *v, const struct qv_disk *d, int idx, char **out);
void qemu_argv_pci_bus_add(struct qemu_argv *v, unsigned index, bool one_slot);
void qemu_argv_pci_order(struct qemu_argv *v);
/* A USB device of the definition at <address type='usb' bus='0'
 * port=>: refused unless usb.0 exists, has that port and nothing else is
 * there. */
int qemu_argv_usb_at(struct qemu_argv *v, unsigned port, const char *what, int line);
/* At the end: every function N>0 <address> is in a slot whose function 0
 * says multifunction='on' (or is the machine's). */
int qemu_argv_check_multifunction(struct qemu_argv *v);

/* libvirt's <qemu:commandline> element, kept as written (qemu_argv_custom.c). */
bool qemu_kept_is_custom(const struct qv_kept *k);

#endif
