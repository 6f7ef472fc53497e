/* Device addresses and user aliases of disks and NICs (<address>,
 * <alias name='ua-...'/>): how they are read, written and checked. */
#ifndef QV_CONF_ADDRESS_H
#define QV_CONF_ADDRESS_H

#include <libxml/tree.h>
#include <libxml/xmlwriter.h>

#include "domain.h"

/* <address type='pci' domain= bus= slot= function= multifunction=> or
 * <address type='drive' controller= bus= target= unit=>. Another type is
 * unmodelled (the device is kept whole); a value out of range is
 * QV_ERR_XML naming it. */
int qv_conf_xml_address(const xmlNode *n, struct qv_addr *out);
/* As that, for the address types in types (QV_ADDR_MASK()s). */
#define QV_ADDR_MASK(t) (1u << (t))
int qv_conf_xml_address_of(const xmlNode *n, unsigned types, struct qv_addr *out);
/* <alias name='ua-...'/>: a user alias (libvirt drops the ones it made). */
int qv_conf_xml_alias(const xmlNode *n, char **out);
/* Both as libvirt writes them (every attribute, PCI numbers in hex). */
void qv_conf_format_alias_address(xmlTextWriter *w, const char *alias, const struct qv_addr *a);

/* The JSON config's form: "pci:0000:03:00.0" (",multifunction=on|off"
 * may follow) and "drive:CONTROLLER:BUS:TARGET:UNIT". Parsing returns NULL
 * or why the text is not one. */
char *qv_conf_addr_string(const struct qv_addr *a);
const char *qv_conf_addr_parse(const char *s, struct qv_addr *out);
/* NULL, or why s is not a user alias ("ua-" then [A-Za-z0-9_-], at most
 * 64 characters). */
const char *qv_conf_check_alias(const char *s);

/* Rules every driver shares (libvirt's define has them too): aliases
 * unique among disks and NICs, no two of them at one PCI address, no two
 * disks at one drive address of the same controller type.
 * QV_ERR_INVALID_ARG naming both. */
int qv_conf_check_addresses(const struct qv_domain *def);
/* For a driver that places disks and NICs itself: the first <address>
 * or <alias> is QV_ERR_UNSUPPORTED "VM 'x': the <driver> driver cannot
 * honour <address> of <disk> 'vda' (line N): <why>". */
int qv_domain_refuse_addresses(const struct qv_domain *def, const char *driver, const char *why);

#endif
