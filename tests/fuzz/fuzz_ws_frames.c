/* libFuzzer target for what a websocket server sends qv's console: the
 * bytes go through the frame tracker of tools/qv/ws_guard.c whole and in
 * pieces, and both are held to a reference reading of RFC 6455 written
 * separately here. The first byte sets the message limit (small, so the
 * fuzzer reaches it), the second the piece sizes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tools/qv/ws_guard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ref_result {
    bool over;        /* a data message went over the limit */
    size_t at;        /* where the header announcing it starts */
    guint64 pings, pongs;
};

/* The plain reading: frame after frame over the whole buffer. */
static struct ref_result reference(const uint8_t *p, size_t n, guint64 max)
{
    struct ref_result r = {0};
    guint64 message = 0;
    size_t i = 0;
    while (i < n) {
        size_t start = i;
        if (n - i < 2)
            break;
        uint8_t b0 = p[i], b1 = p[i + 1];
        size_t ext = (b1 & 0x7f) == 126 ? 2 : (b1 & 0x7f) == 127 ? 8 : 0;
        size_t hdr = 2 + ext + ((b1 & 0x80) ? 4 : 0);
        if (n - i < hdr)
            break;
        guint64 len = b1 & 0x7f;
        if (ext) {
            len = 0;
            for (size_t k = 0; k < ext; k++)
                len = len << 8 | p[i + 2 + k];
        }
        unsigned op = b0 & 0x0f;
        if (op == 9)
            r.pings++;
        else if (op == 10)
            r.pongs++;
        else if (op < 8) {
            guint64 before = op ? 0 : message;
            if (len > max || before + len > max || before + len < before) {
                r.over = true;
                r.at = start;
                return r;
            }
            message = (b0 & 0x80) ? 0 : before + len;
        }
        i += hdr;
        if (len >= n - i)
            break;
        i += (size_t)len;
    }
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    guint64 max = 1 + (guint64)data[0] * 4;
    unsigned step_seed = data[1];
    const uint8_t *p = data + 2;
    size_t n = size - 2;
    struct ref_result want = reference(p, n, max);

    /* Whole. */
    struct cli_ws_track whole = {.max_message = max};
    gsize ok = 0;
    bool fine = cli_ws_track_feed(&whole, p, n, &ok);
    if (fine == want.over || (!fine && ok != want.at) || (fine && ok != n))
        abort();
    if (fine && (whole.pings != want.pings || whole.pongs != want.pongs))
        abort();

    /* In pieces of 1 to 16 bytes: a header split anywhere. The failure is
     * reported at the header's start, or at the piece's start when the
     * header began in an earlier piece. */
    struct cli_ws_track parts = {.max_message = max};
    size_t off = 0;
    bool failed = false;
    while (off < n) {
        step_seed = step_seed * 1103515245u + 12345u;
        size_t len = MIN((size_t)(1 + (step_seed >> 16) % 16), n - off);
        gsize got = 0;
        if (!cli_ws_track_feed(&parts, p + off, len, &got)) {
            if (!want.over || off + got != MAX(want.at, off) || got > len)
                abort();
            failed = true;
            break;
        }
        if (got != len)
            abort();
        off += len;
    }
    if (!failed && (want.over || parts.pings != whole.pings || parts.pongs != whole.pongs ||
                    parts.message != whole.message || parts.skip != whole.skip ||
                    parts.hdr_len != whole.hdr_len))
        abort();
    return 0;
}
