/* Kept elements outside <devices> (features, os extras, sysinfo, memory,
 * tuning), honoured by reading the XML qv stored for them, as the kept
 * devices are. Each handler either turns its element into QEMU arguments
 * or refuses it naming the element, its line and the attribute. */
#ifndef QV_QEMU_ARGV_MACHINE_H
#define QV_QEMU_ARGV_MACHINE_H

#include <libxml/tree.h>

#include "../../lib/conf/domain.h"
#include "qemu_argv.h"

typedef int (*qemu_machine_fn)(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n);

/* QV_ERR_UNSUPPORTED "VM 'x': the qemu driver cannot honour
 * <features><hyperv><vpindex> (line 12): <why>"; n is any node of k's
 * stored XML, its line counted in the user's document. */
int qemu_machine_refuse(const struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n,
                        const char *fmt, ...) G_GNUC_PRINTF(4, 5);
/* Refuses (naming it) an attribute of n not in attrs or a child element
 * not in children (space-separated names). */
int qemu_machine_only(const struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n,
                      const char *attrs, const char *children);
/* An on/off attribute: 1 on, 0 off, dflt when absent; <0 refused. */
int qemu_machine_onoff(const struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n,
                       const char *attr, int dflt);
/* A whole number attribute up to max; 0 absent, 1 read, <0 refused. */
int qemu_machine_uint(const struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n,
                      const char *attr, uint64_t max, uint64_t *out);
/* The element's size (libvirt's unit= and value) in KiB; <0 refused. */
int qemu_machine_kib(const struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n,
                     uint64_t *kib);

/* Options added to the -machine, -cpu and -accel arguments already built
 * (a -cpu is added, with the model qv would give, when there is none). */
void qemu_argv_machine_opt(struct qemu_argv *v, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
void qemu_argv_cpu_opt(struct qemu_argv *v, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
void qemu_argv_accel_opt(struct qemu_argv *v, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
bool qemu_is_tcg(const struct qv_domain *def);

/* Whether name is one of list's space-separated names. */
bool qemu_machine_listed(const char *list, const char *name);

/* One child of <features> (qemu_argv_features.c). */
int qemu_argv_feature(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n);
/* One kept child of <os> (qemu_argv_os.c); <os><smbios> and <sysinfo>
 * (qemu_argv_smbios.c). */
int qemu_argv_os_extra(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n);
/* <loader secure='yes'> (qemu_argv_os.c), from add_firmware. */
int qemu_argv_secure_boot(struct qemu_argv *v);
int qemu_argv_os_smbios(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n);
int qemu_argv_sysinfo(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n);
/* <memoryBacking> (qemu_argv_memory.c); whether guest RAM is on huge
 * pages, and their size in KiB (0: the host's default). */
int qemu_argv_memory_backing(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n);
bool qemu_memory_hugepages(const struct qv_domain *def, uint64_t *page_kib);
/* Whether guest RAM is shared memory another process (virtiofsd) can map. */
bool qemu_memory_shared(const struct qv_domain *def);
/* <iothreads>, <iothreadids>, <defaultiothread> (qemu_argv_iothreads.c). */
int qemu_argv_iothreads(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n);
int qemu_argv_iothreadids(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n);
int qemu_argv_default_iothread(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n);
/* Whether the VM has IOThread id (iothreadN): listed in <iothreadids>,
 * else 1..<iothreads>. */
bool qemu_iothread_exists(const struct qv_domain *def, uint32_t id);
/* <cpu><numa> (qemu_argv_numa.c): the handler notes it; the nodes are
 * added once every other element outside <devices> has set up guest RAM,
 * whose backend each cell's takes after. */
int qemu_argv_numa(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n);
int qemu_argv_add_numa(struct qemu_argv *v);
/* <clock> and its <timer>s (qemu_argv_clock.c), after -machine and -cpu. */
int qemu_argv_add_clock(struct qemu_argv *v);
/* <cpu><vendor>, <cache>, <maxphysaddr> (qemu_argv_cpu.c): flags of -cpu,
 * appended to c by add_cpu(); the kept-element walk only notes them. */
int qemu_argv_cpu_noted(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n);
int qemu_argv_cpu_kept(struct qemu_argv *v, GString *c);
bool qemu_cpu_has_kept(const struct qv_domain *def);
/* The kind ("memory-backend-file") and options (without id= and size=) of
 * the one guest RAM object built so far; "memory-backend-ram" and none
 * when there is none. take: remove it, and -machine memory-backend=. */
GPtrArray *qemu_ram_template(struct qemu_argv *v, char **kind, bool take);
/* <maxMemory> and <devices><memory> (qemu_argv_memdev.c): guest RAM at
 * start is <memory> less the memory devices' sizes. */
int qemu_argv_max_memory(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n);
int qemu_kept_memory(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n);
uint64_t qemu_initial_kib(const struct qv_domain *def);
/* <memtune> (qemu_memtune.c): checked here, applied through the cgroup. */
int qemu_argv_memtune(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n);
/* <blkiotune> (qemu_blkiotune.c): checked here, applied through the cgroup. */
int qemu_argv_blkiotune(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n);
/* <seclabel type='none'>, and the reasons for what is not carried out
 * (qemu_argv_unhonoured.c). */
int qemu_argv_seclabel(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n);
int qemu_argv_unhonoured(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n);

#endif
