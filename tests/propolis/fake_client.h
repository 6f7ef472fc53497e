/* Test side of the fake propolis-server: start it, steer it, read what it
 * saw. */
#ifndef QV_TESTS_FAKE_CLIENT_H
#define QV_TESTS_FAKE_CLIENT_H

#include <gio/gio.h>
#include <json-glib/json-glib.h>

struct fake {
    GSubprocess *proc;
    int port;
    char *uri; /* propolis://127.0.0.1:PORT?root=... */
};

/* Start the server; extra_query is appended to the URI ("&timeout=1"). */
struct fake *fake_start(const char *root, const char *extra_query);
void fake_stop(struct fake *f);
/* POST/GET a control endpoint; returns the parsed answer (may be NULL). */
JsonNode *fake_control(struct fake *f, const char *method, const char *path, const char *body,
                       gsize len);
/* GET /_fake/stats as an object (caller unrefs the node). */
JsonNode *fake_stats(struct fake *f);
gint64 fake_requests(struct fake *f);
gint64 fake_invalid(struct fake *f);
/* The first contract violation the server saw, or "". */
char *fake_first_error(struct fake *f);
void fake_fault(struct fake *f, const char *method, const char *path, const char *mode, int status);

#endif
