/* Limits libxml2 does not enforce the way libqv needs, checked on the raw
 * text before libxml2 parses it. libxml2 compares each attribute of an
 * element with every earlier one (100,000 attributes take minutes), and its
 * own depth limit (256, or none with XML_PARSE_HUGE) speaks of options a
 * user cannot set. The scan reads markup as libxml2 does: comments, CDATA
 * sections and processing instructions hide nothing, and quoted attribute
 * values may hold '>' and '/'. Anything it cannot make sense of is left for
 * libxml2 to refuse, so the scan only needs to never count too few. */
#include <glib.h>
#include <string.h>

#include "../util/error.h"
#include "xml_util.h"

struct xscan {
    const char *s, *end, *p;
    int line;
};

/* Skip past the terminator; false (p at end) when it never comes. */
static bool skip_past(struct xscan *x, const char *term)
{
    size_t n = strlen(term);
    for (; x->p + n <= x->end; x->p++) {
        if (memcmp(x->p, term, n) == 0) {
            x->p += n;
            return true;
        }
        x->line += *x->p == '\n';
    }
    x->p = x->end;
    return false;
}

static bool starts(const struct xscan *x, const char *lit)
{
    size_t n = strlen(lit);
    return (size_t)(x->end - x->p) >= n && memcmp(x->p, lit, n) == 0;
}

/* The tag starting at x->p ('<' of a start or end tag). Returns 1 for a
 * start tag that stays open, 0 for a self-closing or end tag, or
 * QV_ERR_XML. */
static int scan_tag(struct xscan *x, const char *label)
{
    int line = x->line;
    const char *name = x->p + 1;
    bool end_tag = name < x->end && *name == '/';
    const char *q = name;
    while (q < x->end && !strchr(" \t\r\n/>\"'", *q))
        q++;
    int name_len = (int)MIN(q - name, 40);
    unsigned attrs = 0;
    char quote = 0, last = 0;
    for (x->p = q; x->p < x->end; x->p++) {
        char c = *x->p;
        x->line += c == '\n';
        if (quote) {
            if (c == quote)
                quote = 0;
            continue;
        }
        if (c == '"' || c == '\'') {
            quote = c;
            if (++attrs > QV_XML_MAX_ATTRS)
                return qv_error_set(QV_ERR_XML,
                                    "%s line %d: element <%.*s> has more than %d "
                                    "attributes",
                                    label, line, name_len, name, QV_XML_MAX_ATTRS);
            continue;
        }
        if (c == '>') {
            x->p++;
            return !end_tag && last != '/';
        }
        if (!g_ascii_isspace(c))
            last = c;
    }
    return 0;
}

int qv_conf_xml_prescan(const char *xml, size_t len, const char *label)
{
    struct xscan x = {.s = xml, .end = xml + len, .p = xml, .line = 1};
    int depth = 0;
    while (x.p < x.end) {
        if (*x.p != '<') {
            x.line += *x.p == '\n';
            x.p++;
            continue;
        }
        bool ended;
        if (starts(&x, "<!--")) {
            x.p += 4;
            ended = skip_past(&x, "-->");
        } else if (starts(&x, "<![CDATA[")) {
            x.p += 9;
            ended = skip_past(&x, "]]>");
        } else if (starts(&x, "<?")) {
            x.p += 2;
            ended = skip_past(&x, "?>");
        } else if (starts(&x, "<!")) {
            /* A DOCTYPE (refused once libxml2 reaches it) or an error: read
             * on as text, so nothing after it escapes the counting. */
            x.p += 2;
            continue;
        } else {
            int line = x.line;
            bool closing = x.p + 1 < x.end && x.p[1] == '/';
            int rc = scan_tag(&x, label);
            if (rc < 0)
                return rc;
            if (closing && depth > 0)
                depth--;
            if (rc == 1 && ++depth > QV_XML_MAX_DEPTH)
                return qv_error_set(QV_ERR_XML, "%s line %d: elements nest deeper than %d levels",
                                    label, line, QV_XML_MAX_DEPTH);
            continue;
        }
        if (!ended)
            break;
    }
    return 0;
}
