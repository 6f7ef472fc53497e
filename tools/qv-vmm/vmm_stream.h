/* Splitting a QMP client's byte stream into JSON values, as QEMU's
 * json-streamer does: a value may span lines and a line may hold several.
 * Only the framing is decided here (brackets, strings, escapes); each
 * value is then parsed strictly by qv_json_parse_bounded. */
#ifndef QV_VMM_STREAM_H
#define QV_VMM_STREAM_H

#include <stddef.h>

struct vmm_stream;

/* max: the longest value accepted (QMP_MAX_LINE). */
struct vmm_stream *vmm_stream_new(size_t max);
void vmm_stream_free(struct vmm_stream *s);
void vmm_stream_feed(struct vmm_stream *s, const char *buf, size_t len);
/* The next complete top-level value: 1 with *msg (a copy, g_free) and
 * *len; 0 when more input is needed; -1 when a value grew beyond max, in
 * which case its bytes are dropped and so is the rest of that line (the
 * stream resumes after the next newline). A top-level value that is not
 * an object or array (a string, a number, garbage) runs to the end of its
 * line or the next '{', and is returned for the parser to refuse. */
int vmm_stream_next(struct vmm_stream *s, char **msg, size_t *len);
/* Bytes held, for tests. */
size_t vmm_stream_pending(const struct vmm_stream *s);

#endif
