/* The domain definition: one struct that libvirt domain XML and the
 * QuantaVirt JSON config both parse into and format from. Every string is
 * g_malloc'ed and owned by the struct; qv_domain_free() releases it all. */
#ifndef QV_CONF_DOMAIN_H
#define QV_CONF_DOMAIN_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/* kvm, qemu and test run here; the rest of libvirt's hypervisor types are
 * stored by noop (it runs nothing) and refused by every other driver. */
enum qv_virt_type {
    QV_VIRT_KVM,
    QV_VIRT_QEMU,
    QV_VIRT_TEST,
    QV_VIRT_FOREIGN, /* the first of kqemu, xen, lxc, ... (qv_conf_virt_types) */
};

enum qv_cpu_mode {
    QV_CPU_MODE_NONE,
    QV_CPU_MODE_HOST_PASSTHROUGH,
    QV_CPU_MODE_HOST_MODEL,
    QV_CPU_MODE_CUSTOM,
    QV_CPU_MODE_MAXIMUM
};

enum qv_disk_device { QV_DISK_DISK, QV_DISK_CDROM };
enum qv_disk_type { QV_DISK_TYPE_FILE, QV_DISK_TYPE_BLOCK };
enum qv_disk_bus { QV_DISK_BUS_VIRTIO, QV_DISK_BUS_SCSI, QV_DISK_BUS_IDE, QV_DISK_BUS_SATA };

enum qv_net_type { QV_NET_USER, QV_NET_BRIDGE, QV_NET_NETWORK, QV_NET_DIRECT, QV_NET_ETHERNET };

enum qv_chardev_type { QV_CHR_PTY, QV_CHR_FILE, QV_CHR_UNIX, QV_CHR_STDIO, QV_CHR_NULL,
                       QV_CHR_TCP };

enum qv_graphics_type { QV_GRAPHICS_VNC, QV_GRAPHICS_SPICE };

/* Where a device sits, as its <address> says (libvirt's PCI and drive
 * address types for disks and NICs; PCI for an rng or a pci-serial,
 * virtio-serial for a channel or virtio console, ISA for an isa-serial);
 * QV_ADDR_NONE leaves the placing to the driver. */
enum qv_addr_type { QV_ADDR_NONE, QV_ADDR_PCI, QV_ADDR_DRIVE, QV_ADDR_VIRTIO_SERIAL, QV_ADDR_ISA };

struct qv_addr {
    enum qv_addr_type type;
    int line;        /* of the <address> in the document read; 0 from JSON */
    uint16_t domain; /* pci: domain, bus, slot, function */
    uint32_t bus;    /* pci 0-0xff; drive: the controller's bus */
    uint8_t slot, function;
    int8_t multifunction;              /* pci: -1 not said, 0 off, 1 on */
    uint32_t controller, target, unit; /* drive; virtio-serial: controller, bus */
    uint32_t port;                     /* virtio-serial */
    int32_t iobase, irq;               /* isa: -1 when not given */
};

struct qv_disk {
    enum qv_disk_type type;
    enum qv_disk_device device;
    char *driver_type;  /* "raw", "qcow2", or NULL */
    char *cache;        /* none, writeback, writethrough, directsync, unsafe, or NULL */
    char *io;           /* native, threads, io_uring, or NULL */
    char *discard;      /* unmap, ignore, or NULL */
    char *source;       /* file or block device path; NULL for an empty cdrom */
    char *backing;      /* <backingStore><source file=/>: base image under an overlay */
    char *backing_format; /* <backingStore><format type=/>, NULL = raw */
    bool backing_end;     /* an empty <backingStore/>: the chain ends at source */
    char *target;       /* "vda" */
    char *serial;       /* <serial>: what the guest reads as the disk's serial, or NULL */
    enum qv_disk_bus bus;
    bool readonly;
    bool driver_written; /* a <driver> qv writes back even when it carries
                          * nothing more than name='qemu' (virt-install's) */
    uint32_t logical_block_size; /* <blockio>, 0 when absent */
    uint32_t boot_order;         /* <boot order=>, 0 when absent */
    uint32_t iothread;           /* <driver iothread=>: an <iothreads> id, 0 when absent */
    uint64_t total_bytes_sec;    /* <iotune>, 0 when absent */
    uint64_t total_iops_sec;
    struct qv_addr addr; /* <address> */
    char *alias;         /* <alias name='ua-...'/>, or NULL */
};

struct qv_net {
    enum qv_net_type type;
    char *source;        /* bridge, network or direct dev name */
    char *source_mode;   /* direct (macvtap): vepa, bridge, private, passthrough, or NULL */
    char *model;         /* "virtio", "e1000", ... or NULL */
    char mac[18];        /* "52:54:00:..." lower case; "" means generate */
    uint64_t inbound_kbps;  /* <bandwidth><inbound average=> KiB/s, 0 when absent */
    uint64_t outbound_kbps;
    uint64_t inbound_peak_kbps, outbound_peak_kbps; /* peak= KiB/s, 0 when absent */
    uint64_t inbound_burst_kib, outbound_burst_kib; /* burst= KiB, 0 when absent */
    uint32_t boot_order;
    uint16_t host_port;  /* user networking: host port forwarded to guest 22, 0 = pick one */
    struct qv_addr addr; /* <address> */
    char *alias;         /* <alias name='ua-...'/>, or NULL */
    char *driver_name;   /* <driver name=>: "qemu", "vhost", or NULL */
    uint32_t queues;     /* <driver queues=> 1-256, 0 when absent */
    uint32_t rx_queue_size; /* <driver rx_queue_size=>: 256, 512 or 1024; 0 when absent */
};

struct qv_chardev {
    enum qv_chardev_type type;
    char *path;          /* file, unix socket or pty path; NULL when absent */
    char *host;          /* tcp */
    char *service;       /* tcp port */
    bool listen;         /* unix/tcp mode='bind' */
    uint32_t port;       /* <target port=> */
    char *target_type;   /* <target type=>: serial "isa-serial", console "serial"/"virtio"; NULL when absent */
    char *target_model;  /* serial <target><model name=>: "isa-serial", "pci-serial", "usb-serial",
                            or NULL */
    struct qv_addr addr; /* <address>: isa or pci (serial), virtio-serial (virtio console) */
};

struct qv_channel {
    enum qv_chardev_type type;
    char *path;
    char *target_type;   /* "virtio" */
    char *target_name;   /* "org.qemu.guest_agent.0" */
    struct qv_addr addr; /* <address type='virtio-serial'> */
};

struct qv_hostdev {
    uint16_t domain;
    uint8_t bus, slot, function;
    bool managed;
    char *driver;        /* "vfio" or NULL */
    char *role;          /* "gpu", "nic" (<qv:hostdev type=>, JSON type), or NULL */
};

struct qv_graphics {
    enum qv_graphics_type type;
    int port;            /* -1 autoport */
    char *listen;        /* address, default 127.0.0.1 */
    bool listen_elem;    /* a <listen type='address'> child, as libvirt writes */
};

struct qv_rng {
    char *model;         /* "virtio" */
    char *backend;       /* "/dev/urandom" */
    struct qv_addr addr; /* <address type='pci'> */
};

/* An element of a user's document that qv's model does not hold, kept as
 * written so formatting gives it back (docs/architecture.md, "Decisions":
 * unmodelled elements are kept in place). Drivers refuse those they cannot
 * honour (qv_domain_check_kept). */
struct qv_kept {
    char *parent; /* "" for <domain>, else "os", "features" or "devices" */
    char *name;   /* the element's name as written ("qemu:commandline") */
    char *xml;    /* the element, namespace declarations included */
    int line;     /* its line in the document it was read from */
    char *reason; /* why qv's model does not hold it */
};

/* Cloud-init NoCloud documents, as the user wrote them (line ends LF).
 * qv adds instance-id (the VM's UUID, so a clone gets a new one) and
 * local-hostname to meta-data; see qv_conf_cloud_init_meta_data(). */
struct qv_cloud_init {
    char *user_data;      /* required */
    char *meta_data;      /* NULL: qv's two keys only */
    char *network_config; /* NULL: none (the guest's default DHCP) */
};

struct qv_vcpupin {
    uint32_t vcpu;
    int pcpu;            /* one host CPU; -1 when cpuset is not a single CPU */
    char *cpuset;        /* as written, e.g. "4" or "0-3,^2" */
};

struct qv_domain {
    enum qv_virt_type type;
    char *name;
    char uuid[37];           /* "" means generate */
    char *title;
    char *description;
    uint64_t memory_kib;     /* <memory>, the maximum */
    uint64_t current_memory_kib; /* <currentMemory>, 0 = same as memory */
    uint32_t vcpus;          /* <vcpu current=> or the <vcpu> value */
    uint32_t max_vcpus;      /* <vcpu> value */
    char *vcpu_placement;    /* <vcpu placement=>: "static", "auto" or NULL */
    char *vcpu_cpuset;       /* <vcpu cpuset=>: host CPUs for every vCPU, or NULL */

    struct {
        enum qv_cpu_mode mode;
        char *model;         /* named model for custom mode */
        uint32_t sockets, dies, cores, threads; /* 0 when no <topology> */
        char *match;                            /* <cpu match=>: minimum, exact, strict, or NULL */
        char *check;                            /* <cpu check=>: none, partial, full, or NULL */
        char *migratable;                       /* <cpu migratable=>: on, off, or NULL */
        char *fallback;                         /* <model fallback=>: allow, forbid, or NULL */
        char *vendor_id; /* <model vendor_id=>: the 12 characters CPUID gives, or NULL */
        char **features; /* NULL-terminated "policy:name" ("require:lahf_lm"), or NULL */
    } cpu;
    bool pae; /* <features><pae/> */

    /* <clock offset=> and its <timer>s; libvirt's writes name the timers
     * it lists explicitly. Indexes into qv_conf_timer_names etc. */
    char *clock_offset;     /* qv_conf_clock_offsets' utc, localtime, timezone, variable,
                               absolute, or NULL (no <clock>) */
    char *clock_adjustment; /* adjustment=: seconds as written ("-3600") or "reset" */
    char *clock_basis;      /* offset='variable' basis=: utc, localtime, or NULL */
    char *clock_timezone;   /* offset='timezone' timezone=, or NULL (the host's) */
    uint64_t clock_start;   /* offset='absolute' start=: seconds since the epoch */
    struct qv_timer {
        uint8_t name;       /* qv_conf_timer_names */
        uint8_t tickpolicy; /* qv_conf_tickpolicies, 0 = none */
        int8_t present;     /* -1 not said, 0 no, 1 yes */
        uint8_t track;      /* qv_conf_timer_tracks, 0 = none (rtc, platform) */
        uint8_t mode;       /* qv_conf_tsc_modes, 0 = none (tsc) */
        uint64_t frequency; /* Hz, 0 = none (tsc) */
    } timers[8];
    uint8_t ntimers;
    int8_t pm_s3, pm_s4;     /* <pm><suspend-to-mem/disk enabled=>: -1 not said, 0 no, 1 yes */
    int numa_node;           /* <numatune><memory nodeset=>, -1 when absent */
    char *partition;         /* <resource><partition>: the VM's cgroup parent, or NULL */

    struct {
        char *type;          /* <os><type>: NULL for hvm; exe, linux, xen or uml
                              * on a foreign domain type (noop stores those) */
        char *arch;          /* "x86_64" */
        char *machine;       /* "pc", "q35", or NULL */
        char *firmware;      /* <os firmware=>: "bios", "efi" or NULL */
        char *kernel, *initrd, *cmdline;
        char *loader;        /* firmware path, NULL for the default BIOS */
        bool loader_readonly;
        bool loader_pflash;
        bool loader_secure;  /* <loader secure='yes'>: SMM-protected flash (secure boot) */
        char *nvram;         /* NVRAM file, or template when nvram_template */
        char *nvram_template;
        char **boot_devs;    /* NULL-terminated: "hd", "cdrom", "network" */
    } os;

    struct {
        uint32_t shares;     /* CPU weight, 0 = default (256) */
        uint32_t cap;        /* percent, 0 = none; formatted as period/quota */
        GArray *pins;        /* struct qv_vcpupin */
    } cputune;

    bool hugepages;          /* <memoryBacking><hugepages/> */
    bool acpi;               /* <features><acpi/> */
    bool apic;

    char *on_poweroff, *on_reboot, *on_crash; /* destroy, restart, ... or NULL */
    char *emulator;          /* <devices><emulator> */

    GPtrArray *disks;        /* struct qv_disk * */
    GPtrArray *nets;         /* struct qv_net * */
    GPtrArray *serials;      /* struct qv_chardev * */
    GPtrArray *consoles;     /* struct qv_chardev * */
    GPtrArray *channels;     /* struct qv_channel * */
    GPtrArray *hostdevs;     /* struct qv_hostdev * */
    GPtrArray *graphics;     /* struct qv_graphics * */
    GPtrArray *rngs;         /* struct qv_rng * */
    GPtrArray *kept;         /* struct qv_kept *: unmodelled elements, in document order */
    char *metadata;          /* <metadata> children other than qv's own, as written, or NULL */
    struct qv_cloud_init *cloud_init; /* <metadata><qv:cloud-init>, or NULL */
};

/* An empty definition with every array allocated. */
struct qv_domain *qv_domain_new(void);
void qv_domain_free(struct qv_domain *def);
typedef struct qv_domain qv_domain;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(qv_domain, qv_domain_free)
struct qv_domain *qv_domain_copy(const struct qv_domain *def);
/* clone_chardevs.c: point a clone's file-backed serials and consoles at
 * DIR/serialN.log and its listening unix ones at DIR/serialN.sock. */
void qv_domain_clone_chardevs(struct qv_domain *def, const char *dir);

/* Parse libvirt domain XML. On error returns NULL and sets QV_ERR_XML with
 * "domain XML line N: ..." naming the element or attribute. An optional
 * element qv's model cannot hold (unknown, or with values qv does not
 * model) is kept whole in def->kept rather than refused; <name>, <uuid>,
 * <title>, <description>, <memory>, <currentMemory>, <vcpu> and <os><type>
 * must be understood. No schema check: this reads stored definitions. */
struct qv_domain *qv_domain_parse_xml(const char *xml);
/* Parse domain XML a user supplies (define): what describes only a running
 * domain is dropped (<domain id=>, generated aliases, dynamic labels),
 * it is parsed as above (qv's refusals come first, naming the rule), then
 * checked against libvirt's domain.rng (QV_ERR_XML with the line of the
 * element or attribute the schema refuses, and libxml2's reason). */
struct qv_domain *qv_domain_parse_user_xml(const char *xml);
/* The first kept element for which honoured() is false (NULL = none is) is
 * refused: QV_ERR_UNSUPPORTED "VM 'x': the <driver> driver cannot honour
 * <elem> (line N): <reason>". */
int qv_domain_check_kept(const struct qv_domain *def, const char *driver,
                         bool (*honoured)(const struct qv_kept *k));
/* Format as libvirt domain XML that validates against domain.rng. */
char *qv_domain_format_xml(const struct qv_domain *def);
/* Parse a QuantaVirt JSON config; errors name the JSON path ("$.cpu.topology.cores"). */
struct qv_domain *qv_domain_parse_json(const char *json);
char *qv_domain_format_json(const struct qv_domain *def);

/* Parse one <disk>, <interface> or <hostdev> element for hot-plug. Exactly
 * one of *disk, *net, *hostdev is set on success. */
int qv_domain_parse_device_xml(const char *xml, struct qv_disk **disk, struct qv_net **net,
                               struct qv_hostdev **hostdev);
/* The reverse: one <disk>, <interface> or <hostdev> element, from the
 * first of disk, net, hostdev that is not NULL. */
char *qv_domain_format_device_xml(const struct qv_disk *disk, const struct qv_net *net,
                                  const struct qv_hostdev *hostdev);

/* Check semantic rules shared by every input format (name valid, memory and
 * vCPUs non-zero, vcpus <= max_vcpus, topology product == max_vcpus, unique
 * disk targets and MACs, pins in range). Sets QV_ERR_INVALID_ARG. */
int qv_domain_validate(const struct qv_domain *def);
/* The serial port of a board with one 16550 (isa-serial, port 0), as the
 * kvm and qemu drivers build it: the first <serial>, or a <console> of
 * target type serial standing for it (a console that repeats the serial
 * must agree with it). *out is NULL when the definition asks for none.
 * <console>s of target type virtio are the caller's (virtio consoles).
 * Anything the board lacks is QV_ERR_UNSUPPORTED naming the element and
 * driver; a console that contradicts the serial is QV_ERR_INVALID_ARG. */
int qv_domain_serial_port(const struct qv_domain *def, const char *driver,
                          const struct qv_chardev **out);
/* The console half of that, for a board with more serial ports: *out is
 * the first <serial>, or the <console> standing for it; what the serials
 * themselves are is the caller's to check. virtio_apart: <console>s of
 * target type virtio are the caller's (virtio consoles), not refused. */
int qv_domain_serial_console(const struct qv_domain *def, const char *driver, bool virtio_apart,
                             const struct qv_chardev **out);
/* The device a <serial> is: its target type, else its model, else the
 * board's isa-serial. */
const char *qv_domain_serial_device(const struct qv_chardev *c);
/* Fill in what the user may leave out: a random UUID, unique locally
 * administered MACs (52:54:00 prefix, distinct within the domain). */
void qv_domain_fill_defaults(struct qv_domain *def);
/* Give the copy a new UUID and new MACs (for clone). */
void qv_domain_regenerate_ids(struct qv_domain *def);

struct qv_disk *qv_disk_copy(const struct qv_disk *d);
struct qv_net *qv_net_copy(const struct qv_net *n);
struct qv_hostdev *qv_hostdev_copy(const struct qv_hostdev *h);
void qv_disk_free(struct qv_disk *d);
void qv_net_free(struct qv_net *n);
void qv_chardev_free(struct qv_chardev *c);
void qv_channel_free(struct qv_channel *c);
void qv_hostdev_free(struct qv_hostdev *h);
void qv_graphics_free(struct qv_graphics *g);
void qv_rng_free(struct qv_rng *r);
void qv_kept_free(struct qv_kept *k);
/* The first element kept as written named name whose parent is parent
 * ("" for a child of <domain>, "devices" for a device), or NULL. */
const struct qv_kept *qv_domain_kept_find(const struct qv_domain *def, const char *parent,
                                          const char *name);
struct qv_cloud_init *qv_cloud_init_copy(const struct qv_cloud_init *ci);
void qv_cloud_init_free(struct qv_cloud_init *ci);
/* The rules for cloud-init documents; a message naming the document. */
int qv_conf_check_cloud_init(const struct qv_cloud_init *ci, const char *vm);
/* The meta-data qv puts on the seed: instance-id and local-hostname
 * first, then the user's (which must not set instance-id). */
char *qv_conf_cloud_init_meta_data(const struct qv_domain *def);

#endif
