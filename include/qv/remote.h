/* libqv — the far end of a remote connection.
 *
 * DRIVER+ssh:// URIs start `qv remote-helper` on the remote host over SSH;
 * that command calls qv_remote_serve on its stdin and stdout. Applications
 * do not need this: it is public so that the qv tool, which uses only the
 * public API, can serve the protocol.
 */
#ifndef QV_REMOTE_H_PUBLIC
#define QV_REMOTE_H_PUBLIC

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

/* Serve libqv's remote protocol: requests arrive on in_fd, replies go to
 * out_fd, until the peer closes in_fd. Returns 0 on a clean end, else a
 * QV_ERR_* code with qv_last_error() describing why it stopped
 * (QV_ERR_UNSUPPORTED at once in a libqv built without the remote driver). */
int qv_remote_serve(int in_fd, int out_fd);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
