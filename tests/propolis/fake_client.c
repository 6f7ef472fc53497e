#include "fake_client.h"

#include <check.h>
#include <libsoup/soup.h>
#include <string.h>

struct fake *fake_start(const char *root, const char *extra_query)
{
    g_autoptr(GError) err = NULL;
    struct fake *f = g_new0(struct fake, 1);
    f->proc = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE, &err, FAKE_PROPOLIS_SERVER,
                               "--openapi", PROPOLIS_OPENAPI, "--step-ms", "30", NULL);
    ck_assert_msg(f->proc, "cannot start %s: %s", FAKE_PROPOLIS_SERVER, err ? err->message : "?");
    g_autoptr(GDataInputStream) in = g_data_input_stream_new(g_subprocess_get_stdout_pipe(f->proc));
    g_autofree char *line = g_data_input_stream_read_line(in, NULL, NULL, &err);
    ck_assert_msg(line, "fake server printed no port: %s", err ? err->message : "EOF");
    f->port = atoi(line);
    ck_assert_int_gt(f->port, 0);
    f->uri = g_strdup_printf("propolis://127.0.0.1:%d?root=%s%s", f->port, root,
                             extra_query ? extra_query : "");
    return f;
}

void fake_stop(struct fake *f)
{
    if (!f)
        return;
    g_subprocess_force_exit(f->proc);
    g_subprocess_wait(f->proc, NULL, NULL);
    g_object_unref(f->proc);
    g_free(f->uri);
    g_free(f);
}

JsonNode *fake_control(struct fake *f, const char *method, const char *path, const char *body,
                       gsize len)
{
    g_autofree char *url = g_strdup_printf("http://127.0.0.1:%d%s", f->port, path);
    g_autoptr(SoupSession) s = soup_session_new_with_options("timeout", 10u, NULL);
    g_autoptr(SoupMessage) msg = soup_message_new(method, url);
    if (body) {
        g_autoptr(GBytes) b = g_bytes_new(body, len);
        soup_message_set_request_body_from_bytes(msg, "application/json", b);
    }
    g_autoptr(GError) err = NULL;
    g_autoptr(GBytes) out = soup_session_send_and_read(s, msg, NULL, &err);
    ck_assert_msg(out, "control %s %s failed: %s", method, path, err ? err->message : "?");
    guint status = soup_message_get_status(msg);
    ck_assert_msg(status < 300, "control %s %s answered %u: %.*s", method, path, status,
                  (int)g_bytes_get_size(out), (const char *)g_bytes_get_data(out, NULL));
    if (g_bytes_get_size(out) == 0)
        return NULL;
    g_autoptr(JsonParser) p = json_parser_new();
    gsize n = 0;
    const char *data = g_bytes_get_data(out, &n);
    ck_assert(json_parser_load_from_data(p, data, (gssize)n, NULL));
    return json_node_copy(json_parser_get_root(p));
}

JsonNode *fake_stats(struct fake *f)
{
    return fake_control(f, "GET", "/_fake/stats", NULL, 0);
}

static gint64 stat_int(struct fake *f, const char *key)
{
    g_autoptr(JsonNode) s = fake_stats(f);
    return json_object_get_int_member(json_node_get_object(s), key);
}

gint64 fake_requests(struct fake *f)
{
    return stat_int(f, "requests");
}

gint64 fake_invalid(struct fake *f)
{
    return stat_int(f, "invalid");
}

char *fake_first_error(struct fake *f)
{
    g_autoptr(JsonNode) s = fake_stats(f);
    JsonArray *e = json_object_get_array_member(json_node_get_object(s), "errors");
    return g_strdup(json_array_get_length(e) ? json_array_get_string_element(e, 0) : "");
}

void fake_fault(struct fake *f, const char *method, const char *path, const char *mode, int status)
{
    g_autofree char *body = g_strdup_printf(
        "{\"method\":\"%s\",\"path\":\"%s\",\"mode\":\"%s\",\"status\":%d,\"count\":1}", method,
        path, mode, status);
    g_autoptr(JsonNode) r = fake_control(f, "POST", "/_fake/fault", body, strlen(body));
}
