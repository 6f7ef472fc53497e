/* DRIVER+ssh://: one libssh session and exec channel per stream. Each
 * stream has a session of its own, so streams never share libssh state
 * between threads (a libssh session is not thread-safe). */
#include <errno.h>
#include <libssh/libssh.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "lib/util/error.h"
#include "remote.h"

struct ssh_stream {
    struct remote_stream base;
    ssh_session ses;
    ssh_channel ch;
    char *peer;
    GString *err; /* what the remote command wrote to stderr, bounded */
};

/* Read what waits on stderr: libssh does not notice the end of the stdout
 * stream while stderr data is pending, so a command that fails (qv not
 * found) would look silent rather than gone. */
static void drain_stderr(struct ssh_stream *s)
{
    char buf[512];
    int n;
    while ((n = ssh_channel_read_nonblocking(s->ch, buf, sizeof(buf), 1)) > 0)
        if (s->err->len < 2048)
            g_string_append_len(s->err, buf, MIN((gsize)n, 2048 - s->err->len));
}

static int slice_ms(gint64 deadline)
{
    if (deadline < 0)
        return 200;
    gint64 left = (deadline - g_get_monotonic_time()) / 1000;
    return (int)CLAMP(left, 0, 200);
}

static int lost(struct ssh_stream *s)
{
    g_autofree char *why = s->base.ops->describe_end(&s->base);
    return qv_error_set(QV_ERR_CONNECT, "connection to %s lost%s%s", s->peer, why ? ": " : "",
                        why ? why : "");
}

static int ssh_send(struct remote_stream *base, const void *buf, size_t len, gint64 deadline)
{
    struct ssh_stream *s = (struct ssh_stream *)base;
    (void)deadline; /* libssh bounds a blocked write by the session timeout */
    const char *b = buf;
    while (len) {
        int n = ssh_channel_write(s->ch, b, (uint32_t)MIN(len, 32768));
        if (n == SSH_ERROR)
            return qv_error_set(QV_ERR_CONNECT, "connection to %s lost: %s", s->peer,
                                ssh_get_error(s->ses));
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

static int ssh_recv(struct remote_stream *base, void *buf, size_t len, gint64 deadline)
{
    struct ssh_stream *s = (struct ssh_stream *)base;
    char *b = buf;
    while (len) {
        int n =
            ssh_channel_read_timeout(s->ch, b, (uint32_t)MIN(len, 65536), 0, slice_ms(deadline));
        if (n == SSH_ERROR)
            return qv_error_set(QV_ERR_CONNECT, "connection to %s lost: %s", s->peer,
                                ssh_get_error(s->ses));
        if (n > 0) {
            b += n;
            len -= (size_t)n;
            continue;
        }
        drain_stderr(s);
        if (ssh_channel_is_eof(s->ch) || ssh_channel_is_closed(s->ch) || !ssh_is_connected(s->ses))
            return lost(s);
        if (deadline >= 0 && g_get_monotonic_time() >= deadline)
            return qv_error_set(QV_ERR_TIMEOUT, "%s did not answer in time", s->peer);
    }
    return 0;
}

static char *ssh_describe_end(struct remote_stream *base)
{
    struct ssh_stream *s = (struct ssh_stream *)base;
    GString *out = g_string_new(NULL);
    drain_stderr(s);
    if (s->err->len) {
        g_autofree char *said = g_strstrip(g_strdup(s->err->str));
        g_string_append_printf(out, "it said \"%s\"", said);
    }
    int status = ssh_is_connected(s->ses) ? ssh_channel_get_exit_status(s->ch) : -1;
    if (status == 127)
        g_string_append_printf(out,
                               "%sthe remote shell found no qv (exit status 127): install "
                               "qv there or give its path with qv=",
                               out->len ? "; " : "");
    else if (status >= 0)
        g_string_append_printf(out, "%sthe helper exited with status %d", out->len ? "; " : "",
                               status);
    else if (!ssh_is_connected(s->ses))
        g_string_append_printf(out, "%sthe SSH connection closed", out->len ? "; " : "");
    return out->len ? g_string_free(out, FALSE) : (g_string_free(out, TRUE), NULL);
}

/* The session is this thread's alone (one per stream), so it can be read
 * without blocking and its socket polled beside fd. */
static void ssh_pump(struct remote_stream *base, int fd, int stop_fd)
{
    struct ssh_stream *s = (struct ssh_stream *)base;
    char buf[16384];
    for (;;) {
        int n = ssh_channel_read_nonblocking(s->ch, buf, sizeof(buf), 0);
        if (n == SSH_ERROR)
            return;
        if (n > 0) {
            if (remote_write_fd(fd, buf, (size_t)n, stop_fd) < 0)
                return;
            continue;
        }
        drain_stderr(s);
        if (ssh_channel_is_eof(s->ch) || ssh_channel_is_closed(s->ch) || !ssh_is_connected(s->ses))
            return;
        /* The timeout only bounds what libssh may hold already decoded
         * without its socket becoming readable again. */
        struct pollfd p[3] = {
            {.fd = ssh_get_fd(s->ses), .events = POLLIN},
            {.fd = fd, .events = POLLIN},
            {.fd = stop_fd, .events = POLLIN},
        };
        if (poll(p, 3, 100) < 0 && errno != EINTR)
            return;
        if (p[2].revents)
            return;
        if (p[1].revents) {
            ssize_t r = read(fd, buf, sizeof(buf));
            if (r < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (r <= 0 || ssh_send(base, buf, (size_t)r, -1) < 0)
                return;
        }
    }
}

static void ssh_close(struct remote_stream *base)
{
    struct ssh_stream *s = (struct ssh_stream *)base;
    if (s->ch) {
        /* EOF tells the helper to finish what it does and exit. */
        if (ssh_channel_is_open(s->ch))
            ssh_channel_send_eof(s->ch);
        ssh_channel_free(s->ch);
    }
    if (s->ses) {
        ssh_disconnect(s->ses);
        ssh_free(s->ses);
    }
    g_string_free(s->err, TRUE);
    g_free(s->peer);
    g_free(s);
}

static const struct remote_stream_ops ssh_ops = {
    .send = ssh_send,
    .recv = ssh_recv,
    .describe_end = ssh_describe_end,
    .pump = ssh_pump,
    .close = ssh_close,
};

static char *known_hosts_path(const struct remote_target *t)
{
    return t->known_hosts ? g_strdup(t->known_hosts)
                          : g_build_filename(g_get_home_dir(), ".ssh", "known_hosts", NULL);
}

static int verify_host(struct ssh_stream *s, const struct remote_target *t)
{
    enum ssh_known_hosts_e known = ssh_session_is_known_server(s->ses);
    if (known == SSH_KNOWN_HOSTS_OK || t->no_verify)
        return 0;
    g_autofree char *file = known_hosts_path(t);
    ssh_key key = NULL;
    unsigned char *hash = NULL;
    size_t hlen = 0;
    char *fp = NULL;
    if (ssh_get_server_publickey(s->ses, &key) == SSH_OK &&
        ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) == 0)
        fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
    const char *type = key ? ssh_key_type_to_char(ssh_key_type(key)) : "?";
    g_autofree char *hostport =
        t->port && t->port != 22 ? g_strdup_printf("[%s]:%d", t->host, t->port) : g_strdup(t->host);
    int rc;
    if (known == SSH_KNOWN_HOSTS_CHANGED || known == SSH_KNOWN_HOSTS_OTHER)
        rc = qv_error_set(QV_ERR_CONNECT,
                          "the host key of %s has changed: it is now %s %s, and %s holds a "
                          "different one. Refused: someone may be impersonating the host. If "
                          "the change is expected, remove the old key (ssh-keygen -R '%s' -f "
                          "%s) and check the new fingerprint",
                          hostport, type, fp ? fp : "?", file, hostport, file);
    else if (known == SSH_KNOWN_HOSTS_ERROR)
        rc = qv_error_set(QV_ERR_CONNECT, "cannot check the host key of %s against %s: %s",
                          hostport, file, ssh_get_error(s->ses));
    else
        rc = qv_error_set(QV_ERR_CONNECT,
                          "the host key of %s (%s %s) is not in %s: refused. Check the "
                          "fingerprint, then add the key to %s (ssh-keyscan, or one ssh login), "
                          "or put no_verify=1 in the URI to skip the check",
                          hostport, type, fp ? fp : "?", file, file);
    ssh_string_free_char(fp);
    ssh_clean_pubkey_hash(&hash);
    ssh_key_free(key);
    return rc;
}

static int authenticate(struct ssh_stream *s, const struct remote_target *t)
{
    const char *user = NULL;
    char *u = NULL;
    if (ssh_options_get(s->ses, SSH_OPTIONS_USER, &u) == SSH_OK)
        user = u;
    int rc = SSH_AUTH_DENIED;
    /* "none" first: it also fetches the methods the server offers. */
    ssh_userauth_none(s->ses, NULL);
    int methods = ssh_userauth_list(s->ses, NULL);
    if (t->keyfile) {
        ssh_key key = NULL;
        if (ssh_pki_import_privkey_file(t->keyfile, NULL, NULL, NULL, &key) != SSH_OK) {
            int r = qv_error_set(QV_ERR_CONNECT,
                                 "cannot read the private key %s (keyfile=): missing, unreadable "
                                 "or protected by a passphrase (load such a key into ssh-agent "
                                 "instead)",
                                 t->keyfile);
            ssh_string_free_char(u);
            return r;
        }
        rc = ssh_userauth_publickey(s->ses, NULL, key);
        ssh_key_free(key);
    } else {
        /* The agent, then ~/.ssh/config's IdentityFile and the default
         * keys; never a prompt (no passphrase callback is set). */
        rc = ssh_userauth_publickey_auto(s->ses, NULL, NULL);
    }
    if (rc == SSH_AUTH_SUCCESS) {
        ssh_string_free_char(u);
        return 0;
    }
    g_autofree char *offered =
        g_strdup_printf("%s%s%s", methods & SSH_AUTH_METHOD_PUBLICKEY ? "publickey " : "",
                        methods & SSH_AUTH_METHOD_PASSWORD ? "password " : "",
                        methods & SSH_AUTH_METHOD_INTERACTIVE ? "keyboard-interactive" : "");
    int r = qv_error_set(QV_ERR_PERMISSION,
                         "SSH authentication as '%s' on %s failed: no key %s was accepted "
                         "(the server offers: %s). qv logs in with public keys only (ssh-agent, "
                         "keyfile= or ~/.ssh/config's IdentityFile); password and "
                         "keyboard-interactive logins are refused",
                         user ? user : "?", t->host,
                         t->keyfile ? t->keyfile : "from the agent or ~/.ssh",
                         *offered ? g_strstrip(offered) : "nothing");
    ssh_string_free_char(u);
    return r;
}

struct remote_stream *remote_ssh_open(const struct remote_target *t)
{
    g_autofree char *kh = known_hosts_path(t);
    g_autofree char *cmd = g_strdup_printf("%s remote-helper", t->qv);
    struct ssh_stream *s = g_new0(struct ssh_stream, 1);
    s->base.ops = &ssh_ops;
    s->peer = g_strdup(t->peer);
    s->err = g_string_new(NULL);
    s->ses = ssh_new();
    if (!s->ses) {
        qv_error_set(QV_ERR_NOMEM, "cannot create an SSH session");
        goto fail;
    }
    long secs = MAX(t->timeout_ms / 1000, 1);
    ssh_options_set(s->ses, SSH_OPTIONS_HOST, t->host);
    if (t->user)
        ssh_options_set(s->ses, SSH_OPTIONS_USER, t->user);
    if (t->port)
        ssh_options_set(s->ses, SSH_OPTIONS_PORT, &t->port);
    ssh_options_set(s->ses, SSH_OPTIONS_TIMEOUT, &secs);
    int nodelay = 1; /* requests are small and want an answer at once */
    ssh_options_set(s->ses, SSH_OPTIONS_NODELAY, &nodelay);
    /* Host aliases, User, Port, IdentityFile; what the URI set wins. */
    if (ssh_options_parse_config(s->ses, NULL) < 0) {
        qv_error_set(QV_ERR_CONNECT, "cannot read ~/.ssh/config: %s", ssh_get_error(s->ses));
        goto fail;
    }
    if (t->user)
        ssh_options_set(s->ses, SSH_OPTIONS_USER, t->user);
    if (t->port)
        ssh_options_set(s->ses, SSH_OPTIONS_PORT, &t->port);
    ssh_options_set(s->ses, SSH_OPTIONS_KNOWNHOSTS, kh);
    /* No global known_hosts either: one file, the one messages name. */
    ssh_options_set(s->ses, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null");
    if (ssh_connect(s->ses) != SSH_OK) {
        qv_error_set(QV_ERR_CONNECT, "cannot connect to %s over SSH: %s", t->host,
                     ssh_get_error(s->ses));
        goto fail;
    }
    if (verify_host(s, t) < 0 || authenticate(s, t) < 0)
        goto fail;
    s->ch = ssh_channel_new(s->ses);
    if (!s->ch || ssh_channel_open_session(s->ch) != SSH_OK) {
        qv_error_set(QV_ERR_CONNECT, "cannot open an SSH channel to %s: %s", t->host,
                     ssh_get_error(s->ses));
        goto fail;
    }
    /* A fixed command line: the qv path was checked to hold no shell
     * syntax, and the URI the helper opens travels inside the protocol. */
    if (ssh_channel_request_exec(s->ch, cmd) != SSH_OK) {
        qv_error_set(QV_ERR_CONNECT, "%s refused to run '%s': %s", t->host, cmd,
                     ssh_get_error(s->ses));
        goto fail;
    }
    return &s->base;
fail:
    ssh_close(&s->base);
    return NULL;
}
