/* Helpers the domain XML parser uses to read libxml2 trees strictly: every
 * element and attribute is either understood or reported with its line. */
#ifndef QV_CONF_XML_UTIL_H
#define QV_CONF_XML_UTIL_H

#include <libxml/tree.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Documents larger than this are refused before libxml2 sees them. */
#define QV_XML_MAX_BYTES (4u * 1024 * 1024)
/* Elements with more attributes, or nested deeper, are refused before
 * libxml2 sees them (its duplicate-attribute check is quadratic). */
#define QV_XML_MAX_ATTRS 128
#define QV_XML_MAX_DEPTH 64

/* Check those limits on raw text (xml_limits.c); QV_ERR_XML
 * "<label> line N: element <disk> has more than 128 attributes". */
int qv_conf_xml_prescan(const char *xml, size_t len, const char *label);

/* Parse untrusted XML: no network, no DTD, no entity expansion. label
 * ("domain XML") starts every error message. Sets QV_ERR_XML on failure. */
xmlDoc *qv_conf_xml_read(const char *xml, const char *label);

/* Set QV_ERR_XML "<label> line N: <message>" for node n; returns QV_ERR_XML. */
int qv_conf_xml_err(const xmlNode *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

enum qv_xml_content {
    QV_XML_EMPTY, /* no children (comments are fine) */
    QV_XML_TEXT,  /* text only */
    QV_XML_ELEMS, /* elements only (blank text between them is fine) */
};

/* Check n's attributes are among `attrs` (space-separated names) and its
 * content is of the given kind. */
int qv_conf_xml_check(const xmlNode *n, enum qv_xml_content content, const char *attrs);

/* As qv_conf_xml_err, for what qv's model has no place for (an unknown
 * element or attribute, a value outside the ones qv models): the domain
 * parser keeps an optional element that fails this way instead of refusing
 * the document. qv_conf_xml_was_unmodelled() tells, since the last reset,
 * whether the failure was of this kind. */
int qv_conf_xml_unmodelled(const xmlNode *n, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void qv_conf_xml_unmodelled_reset(void);
bool qv_conf_xml_was_unmodelled(void);

/* "unknown element <x> in <parent>" */
int qv_conf_xml_unknown(const xmlNode *n);
/* Error when *slot is already set (a second <name>), else store n. */
int qv_conf_xml_once(const xmlNode *n, const xmlNode **slot);

/* Attribute value as a g_malloc'ed string, NULL when absent. */
char *qv_conf_xml_attr(const xmlNode *n, const char *name);
/* Text content as a g_malloc'ed string (never NULL). */
char *qv_conf_xml_text(const xmlNode *n);

/* The helpers below return 0 when the attribute is absent (leaving *out
 * alone), 1 when it was read, QV_ERR_XML on a bad value. */
int qv_conf_xml_attr_uint(const xmlNode *n, const char *name, uint64_t max, uint64_t *out);
int qv_conf_xml_attr_yesno(const xmlNode *n, const char *name, bool *out);
int qv_conf_xml_attr_enum(const xmlNode *n, const char *name, const char *const *list, int *out);
/* A string attribute checked with one of qv_conf_check_*; *out replaced. */
int qv_conf_xml_attr_str(const xmlNode *n, const char *name, const char *(*check)(const char *),
                         char **out);
/* Required variants: absent is an error. */
int qv_conf_xml_need_enum(const xmlNode *n, const char *name, const char *const *list, int *out);
int qv_conf_xml_need_str(const xmlNode *n, const char *name, const char *(*check)(const char *),
                         char **out);

/* Text element value checked with check; *out replaced. */
int qv_conf_xml_text_str(const xmlNode *n, const char *(*check)(const char *), char **out);
int qv_conf_xml_text_uint(const xmlNode *n, uint64_t max, uint64_t *out);
/* <memory unit='MiB'>512</memory> in KiB (default unit KiB). */
int qv_conf_xml_text_kib(const xmlNode *n, uint64_t *kib);

/* For the parsers: leave with QV_ERR_XML when a step fails (the step has
 * set the message), and walk only the element children of a node. */
#define TRY(expr)                                                                                  \
    do {                                                                                           \
        if ((expr) < 0)                                                                            \
            return QV_ERR_XML;                                                                     \
    } while (0)

#define FOR_EACH_ELEMENT(parent, c)                                                                \
    for (const xmlNode *c = (parent)->children; c; c = c->next)                                    \
        if (c->type == XML_ELEMENT_NODE)

#endif
