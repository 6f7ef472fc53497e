/* Value rules shared by the XML and JSON parsers. Both formats feed the same
 * struct, and whatever reaches the struct must format to XML that libvirt's
 * schema accepts, so every string and number is checked here once. */
#ifndef QV_CONF_CHECK_H
#define QV_CONF_CHECK_H

#include <stdbool.h>
#include <stdint.h>

struct qv_domain;
struct qv_timer;

/* NULL-terminated lists of accepted spellings; an enum's value is its index. */
extern const char *const qv_conf_virt_types[];     /* enum qv_virt_type */
extern const char *const qv_conf_timer_names[];    /* rtc pit hpet kvmclock tsc ... */
extern const char *const qv_conf_timer_tracks[];   /* <timer track=>, [0] = "" */
extern const char *const qv_conf_tsc_modes[];      /* <timer name='tsc' mode=>, [0] = "" */
extern const char *const qv_conf_clock_bases[];    /* <clock offset='variable' basis=> */
extern const char *const qv_conf_tickpolicies[];   /* [0] = "" */
extern const char *const qv_conf_cpu_modes[];      /* enum qv_cpu_mode, [0] = "" */
extern const char *const qv_conf_cpu_matches[];    /* <cpu match=> */
extern const char *const qv_conf_cpu_checks[];     /* <cpu check=> */
extern const char *const qv_conf_onoff[];          /* <cpu migratable=> */
extern const char *const qv_conf_cpu_fallbacks[];  /* <model fallback=> */
extern const char *const qv_conf_feature_policies[]; /* <cpu><feature policy=> */
extern const char *const qv_conf_clock_offsets[];  /* <clock offset=> */
extern const char *const qv_conf_vcpu_placements[]; /* <vcpu placement=> */
extern const char *const qv_conf_firmwares[];      /* <os firmware=> */
/* <os><type> of the foreign domain types: LXC's exe, Xen PV's linux, ... */
extern const char *const qv_conf_foreign_os_types[];
extern const char *const qv_conf_disk_types[];     /* enum qv_disk_type */
extern const char *const qv_conf_disk_devices[];   /* enum qv_disk_device */
extern const char *const qv_conf_disk_buses[];     /* enum qv_disk_bus */
extern const char *const qv_conf_net_types[];      /* enum qv_net_type */
extern const char *const qv_conf_direct_modes[];   /* macvtap <source mode=> */
extern const char *const qv_conf_chr_types[];      /* enum qv_chardev_type */
extern const char *const qv_conf_graphics_types[]; /* enum qv_graphics_type */
extern const char *const qv_conf_disk_formats[];
extern const char *const qv_conf_disk_caches[];
extern const char *const qv_conf_disk_ios[];
extern const char *const qv_conf_disk_discards[];
extern const char *const qv_conf_boot_devs[];
extern const char *const qv_conf_off_actions[];   /* on_poweroff, on_reboot */
extern const char *const qv_conf_crash_actions[]; /* on_crash */
extern const char *const qv_conf_serial_targets[];
extern const char *const qv_conf_serial_models[];
extern const char *const qv_conf_net_drivers[];
/* NULL when n is a virtio-net queue count (1-256) or ring size (256, 512,
 * 1024), else why not. */
const char *qv_conf_rule_net_queues(uint64_t n);
const char *qv_conf_rule_net_ring(uint64_t n);
extern const char *const qv_conf_console_targets[];
extern const char *const qv_conf_rng_models[];

/* Index of s in list, or -1. */
int qv_conf_lookup(const char *const *list, const char *s);
/* Whether word is one of the blank-separated words of list ("a b c"). */
bool qv_conf_word_listed(const char *word, const char *list);
/* "a, b or c" for error messages; g_free the result. */
char *qv_conf_list_join(const char *const *list);

/* Each returns NULL when s is acceptable, else a short reason
 * ("must be an absolute path") to put after the field's name. */
const char *qv_conf_check_path(const char *s);        /* absolute, one line */
const char *qv_conf_check_line(const char *s);        /* non-empty, one line, XML-safe */
const char *qv_conf_check_text(const char *s);        /* XML-safe, may be empty */
const char *qv_conf_check_devname(const char *s);     /* [a-zA-Z0-9_.\-\\:/]+ */
const char *qv_conf_check_disk_serial(const char *s); /* libvirt's [A-Za-z0-9_.+- ]+ */
const char *qv_conf_check_token(const char *s);       /* [a-zA-Z0-9_.-]+ (machine, model) */
const char *qv_conf_check_vendor_id(const char *s);   /* CPUID's 12 characters, no ',' */
const char *qv_conf_check_model(const char *s);       /* [a-zA-Z0-9_-]+ (NIC model) */
const char *qv_conf_check_disk_target(const char *s); /* vda, sdb, hdc, xvda, fda, ubda */
const char *qv_conf_check_host(const char *s);        /* IPv4 address or DNS name */
const char *qv_conf_check_cpuset(const char *s);
const char *qv_conf_check_partition(const char *s);
    /* "/machine": cgroup path (xml_resource.c) */ /* "0-3,^2,8" with values < 4096 */

/* Rules on values that reach a definition from more than one door (XML,
 * JSON, the setters in lib/api): each lives here once. Each returns NULL when
 * the value is acceptable, else the reason to put after "WHAT VALUE "
 * ("is out of range (1-65535)"). */
#define QV_CPU_WEIGHT_MIN 1
#define QV_CPU_WEIGHT_MAX 65535
#define QV_CPU_CAP_MAX 100
const char *qv_conf_rule_cpu_weight(uint64_t weight); /* <shares>, "weight" */
/* <clock>'s attributes that go with its offset (libvirt's schema), and
 * the attributes each <timer> may have; the message or NULL. */
const char *qv_conf_rule_clock(const struct qv_domain *def);
const char *qv_conf_rule_timer(const struct qv_timer *t);
const char *qv_conf_rule_cpu_cap(uint64_t percent);   /* quota/period, "cap" */
/* <blockio logical_block_size>, "logical_block_size"; 0 means unset. */
const char *qv_conf_rule_block_size(uint64_t bytes);
/* The bus a disk target's name implies when none is given: hdX is IDE,
 * sdX SCSI, anything else virtio (libvirt's choice for these prefixes). */
int qv_conf_rule_bus_for_target(const char *target); /* enum qv_disk_bus */

/* Normalise into out (lower case, dashed UUID); false when malformed. */
bool qv_conf_norm_uuid(const char *s, char out[37]);
bool qv_conf_norm_mac(const char *s, char out[18]);

/* A whole-string unsigned decimal <= max, no sign, no blanks. */
bool qv_conf_parse_uint(const char *s, uint64_t max, uint64_t *out);
/* Bytes per libvirt unit ("b", "KiB", "k", "KB", "M", "GiB", ...; KB is
 * 1000, K and KiB 1024); 0 when unknown. */
uint64_t qv_conf_unit_bytes(const char *unit);
/* "512M", "2GiB", "1048576" (bytes) -> bytes; false on bad unit or
 * overflow. */
bool qv_conf_parse_size(const char *s, uint64_t *bytes);
/* value * unit bytes rounded up to KiB, false on overflow. */
bool qv_conf_scale_kib(uint64_t value, uint64_t unit_bytes, uint64_t *kib);
/* The single CPU a cpuset names, or -1 when it names several. */
int qv_conf_cpuset_single(const char *s);

#endif
