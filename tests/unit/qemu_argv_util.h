/* Helpers of the qemu argv tests (qemu_argv_util.c). */
#ifndef QV_TEST_QEMU_ARGV_UTIL_H
#define QV_TEST_QEMU_ARGV_UTIL_H

#include <check.h>
#include <glib.h>

#include "drivers/qemu/qemu.h"

#define UUID "4dea22b3-1d52-d8f3-2516-782e98ab3fa0"
#define HEAD "<domain type='qemu'><name>g1</name><uuid>" UUID "</uuid>"
#define MEM "<memory unit='MiB'>64</memory><vcpu>1</vcpu><features><acpi/></features>"

extern char *tmp;       /* per test: files QEMU opens, sockets */
extern GArray *spawned; /* QEMU pids, killed by teardown if a test failed */

/* Parse, fill in and validate a definition; @T@ stands for tmp. */
struct qv_domain *parse(const char *xml_tmpl);
struct qemu_launch launch_for(const char *dir);
char **build(const char *xml, const struct qemu_launch *l);
/* The argv is refused with code and a message holding needle. */
void build_fails(const char *xml, int code, const char *needle);
/* opt followed by val somewhere in argv. */
void has(char **argv, const char *opt, const char *val);
void lacks(char **argv, const char *opt);
/* Arguments starting with prefix. */
int count_value(char **argv, const char *prefix);
/* Start QEMU on argv (paused, its sockets in tmp) and quit it over QMP. */
void qemu_accepts(char **argv);
/* QEMU parsed the options and failed only on the host resource, which
 * this machine lacks (a bridge, a PCI device). */
void qemu_parses_then_fails_on(char **argv, const char *needle);
/* A 16 MiB image in tmp. */
void make_image(const char *name, const char *fmt);
void setup(void);
void teardown(void);
/* Run tc with setup/teardown; the exit status. */
int run(TCase *tc);

#endif
