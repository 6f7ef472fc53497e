/* The qemu driver: each VM is a qemu-system-x86_64 process driven over
 * QMP, with its state in <state_dir>/qemu/<name>/ (lib/proc). */
#ifndef QV_QEMU_H
#define QV_QEMU_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>

#include "../../lib/api/driver.h"
#include "../../lib/conf/domain.h"

#define QEMU_KIND "qemu"
#define QEMU_DEFAULT_BINARY "qemu-system-x86_64"
#define QEMU_STOP_TIMEOUT_MS 30000
#define QEMU_QMP_TIMEOUT_MS 10000
/* Free PCIe root ports a q35 VM gets for hot-plug, on top of one per
 * declared virtio disk and NIC; qv's root ports are named PREFIX0, 1... */
#define QEMU_SPARE_ROOT_PORTS 4
#define QEMU_ROOT_PORT_PREFIX "qvport"

/* Everything the argv needs besides the definition: where the VM's files
 * are and what was prepared for this start. Arrays are indexed like the
 * definition's disks and nets. */
struct qemu_launch {
    const char *dir;                 /* the VM's state directory */
    const char *emulator;            /* qemu-system-x86_64 or the definition's <emulator> */
    const char *hugepage_dir;        /* a hugetlbfs mount, for <hugepages/> */
    const char *const *disk_files;   /* per disk: the file QEMU opens (an overlay or the source) */
    const char *const *disk_formats; /* per disk: "raw", "qcow2" */
    const uint16_t *ssh_ports;       /* per NIC: host port forwarded to guest port 22, 0 = none */
    const char *const *tap_names;    /* per NIC: the tap QEMU makes for a bridge or ethernet NIC
                                        (qv puts it on the bridge), NULL = QEMU's choice */
    const char *nvram;               /* per-VM NVRAM file, or NULL */
    const char *seed_iso;            /* cloud-init NoCloud seed, or NULL */
    gint64 clock_now;                /* seconds since the epoch the RTC's date is counted
                                        from (<clock adjustment>), 0 = now */
    bool paused;                     /* -S: start with vCPUs stopped */
    bool daemonize;                  /* -daemonize -pidfile DIR/qemu.pid */
    bool check_only;                 /* define and settings: only whether QEMU could be given
                                        def; nothing of the host is claimed or probed (ports) */
};

/* The argv (NULL-terminated, g_strfreev) that runs def, or NULL with
 * QV_ERR_UNSUPPORTED / QV_ERR_INVALID_ARG naming the element QEMU cannot
 * be given. Never a shell string: each argument is one element. */
char **qemu_argv_build(const struct qv_domain *def, const struct qemu_launch *l);
/* libvirt's <qemu:commandline> (qemu_argv_custom.c): its arguments appended
 * to args and its "NAME=value" settings to env (either may be NULL); any
 * other element of libvirt's QEMU namespace is refused, naming it. A VM
 * with one is "tainted: custom-argv", as libvirt says. */
int qemu_custom_argv(const struct qv_domain *def, GPtrArray *args, GPtrArray *env);
bool qemu_tainted_custom_argv(const struct qv_domain *def);
/* "TZ=ZONE" for QEMU's environment under <clock offset='timezone'
 * timezone=ZONE> (*out NULL otherwise); a zone this host lacks is
 * refused rather than left to glibc, which would take it for UTC. */
int qemu_clock_env(const struct qv_domain *def, char **out);

/* The chardev of the first serial port: its <serial>, else a <console>
 * of target type serial, else NULL (a pty). Errors name what the qemu
 * driver cannot give QEMU. */
int qemu_serial_of(const struct qv_domain *def, const struct qv_chardev **out);
/* Where a running VM's console is: "file:PATH", "unix:PATH",
 * "tcp:HOST:PORT", the log (null), or NULL for a pty (pty, stdio or none
 * given), which only the running QEMU can name. */
char *qemu_console_endpoint_of(const struct qv_domain *def, const char *dir);

/* Whether def's VM has a balloon device: the qemu driver adds a virtio one
 * unless the definition says <memballoon model='none'/>. */
bool qemu_has_balloon(const struct qv_domain *def);
/* Whether def has <graphics type='spice'>, modelled or kept
 * (qemu_argv_spice.c). */
bool qemu_has_spice(const struct qv_domain *def);

/* "a,b" as a QEMU option value: commas doubled. */
char *qemu_opt_escape(const char *s);
/* The index a target name stands for: vda -> 0, sdb -> 1, hdaa -> 26; -1
 * when it is not <prefix><letters>. */
int qemu_disk_index(const char *target);

/* The format qemu-img reports for path ("raw", "qcow2"). */
int qemu_image_format(const char *path, char **format);
/* `qemu-img info` of path as a JSON object (shared: -U, for an image a
 * running QEMU holds); NULL with the error set. */
JsonNode *qemu_image_info(const char *path, bool shared);
/* Create overlay as a qcow2 image on top of base (format detected). */
int qemu_overlay_create(const char *overlay, const char *base, const char *declared_format);
/* The same without opening base (of format, virtual size size). */
int qemu_overlay_create_sized(const char *overlay, const char *base, const char *format,
                              guint64 size);

/* A TCP port the OS considers free on 127.0.0.1 (bind to 0, read, close). */
int qemu_free_port(uint16_t *port);
/* The host port forwarded to guest port 22 of a user-mode NIC: the first
 * free one of 10022-10122 from a hash of the VM's name plus the NIC's
 * index, as vmctl does, so it is the same at every start while free; any
 * free port when the whole range is taken. Never one of taken[] (the
 * ports the VM's other NICs got, not bound yet). */
#define QEMU_SSH_PORT_FIRST 10022
#define QEMU_SSH_PORT_LAST 10122
int qemu_ssh_port(const char *vm_name, guint nic, const uint16_t *taken, guint ntaken,
                  uint16_t *port);
/* Whether QEMU's output (log) says it could not bind the SSH forward of a
 * NIC whose port qv picked (ports[i], the NIC asking for none itself):
 * another process took it between qv's check and QEMU's bind, and a new
 * start picks another. A port the definition names is the user's. */
bool qemu_hostfwd_lost(const char *log, const struct qv_domain *def, const uint16_t *ports);
/* The IPv4 address of mac from the ARP table, then dnsmasq's leases. */
int qemu_ip_for_mac(const char *mac, char **ip);

/* Cloud-init NoCloud seed. */
struct qemu_cloudinit_net {
    char *mac;     /* matched by MAC */
    char *address; /* CIDR, e.g. 192.168.122.10/24 */
    char *gateway; /* or NULL */
    char **dns;    /* NULL-terminated or NULL */
};
struct qemu_cloudinit_user {
    char *name;
    char **ssh_keys; /* NULL-terminated */
};
struct qemu_cloudinit {
    char *instance_id;
    char *hostname;
    GPtrArray *users; /* struct qemu_cloudinit_user * */
    GPtrArray *nets;  /* struct qemu_cloudinit_net * */
};
/* Parse the VM's cloud-init.json; errors name the JSON path. */
struct qemu_cloudinit *qemu_cloudinit_parse(const char *json, const char *origin);
void qemu_cloudinit_free(struct qemu_cloudinit *ci);
/* The three NoCloud documents. */
char *qemu_cloudinit_meta_data(const struct qemu_cloudinit *ci);
char *qemu_cloudinit_user_data(const struct qemu_cloudinit *ci);
char *qemu_cloudinit_network_config(const struct qemu_cloudinit *ci);
/* Write them into an ISO 9660 volume labelled "cidata" with genisoimage. */
int qemu_cloudinit_build_iso(const struct qemu_cloudinit *ci, const char *iso_path);
/* A NoCloud seed of meta-data, user-data and network-config (NULL: none). */
int qemu_cloudinit_write_seed(const char *const docs[3], const char *iso_path);

/* qv_qemu_probe() (qemu_probe.c): 1 usable, 0 not with *reason (g_free). */
int qemu_probe(const char *emulator, const char *accel, const char *cpu, char **reason);
/* The accelerator and -cpu value the argv gives def (cpu NULL: QEMU's
 * default model). */
const char *qemu_accel_of(const struct qv_domain *def);
const char *qemu_cpu_of(const struct qv_domain *def);

/* Run a helper (qemu-img, genisoimage) to completion; its stderr goes into
 * the error message on failure. *out receives stdout when not NULL. */
int qemu_run_tool(const char *const *argv, char **out);
/* Copy a small file (NVRAM) whole into `to`, written atomically, 0600. */
int qemu_copy_small(const char *from, const char *to);
/* qemu_snapshot_size.c: the metadata a qcow2 image of virtual_size bytes
 * needs, and the guest data internal snapshot tag of file references
 * (qemu-img measure, less that metadata). */
int qemu_image_meta_bytes(guint64 virtual_size, guint64 *bytes);
int qemu_snapshot_disk_bytes(const char *file, const char *tag, guint64 meta, guint64 *bytes);

/* swtpm's control socket in the VM's directory (qemu_tpm.c). */
#define QEMU_TPM_SOCKET "swtpm.sock"
/* virtiofsd's vhost-user socket for the kept <filesystem> of that index
 * (qemu_virtiofs.c). */
#define QEMU_VIRTIOFS_SOCKET "virtiofs%u.sock"

/* Whether a libvirt network name is one qv can look up as a file name
 * (qemu_network.c). */
bool qemu_network_name_ok(const char *s);

#endif
