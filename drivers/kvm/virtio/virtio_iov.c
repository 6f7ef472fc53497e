/* Copying between a request's iovecs and a flat buffer, starting `skip`
 * bytes into the iovecs (a virtio header, then a payload). */
#include <string.h>

#include "virtio.h"

static size_t iov_copy(const struct iovec *iov, uint32_t n, size_t skip, uint8_t *buf, size_t len,
                       bool to_buf)
{
    size_t done = 0;
    for (uint32_t i = 0; i < n && done < len; i++) {
        size_t l = iov[i].iov_len;
        if (skip >= l) {
            skip -= l;
            continue;
        }
        size_t take = l - skip;
        if (take > len - done)
            take = len - done;
        uint8_t *p = (uint8_t *)iov[i].iov_base + skip;
        if (to_buf)
            memcpy(buf + done, p, take);
        else
            memcpy(p, buf + done, take);
        done += take;
        skip = 0;
    }
    return done;
}

size_t virtio_iov_to_buf(const struct iovec *iov, uint32_t n, size_t skip, void *buf, size_t len)
{
    return iov_copy(iov, n, skip, buf, len, true);
}

size_t virtio_iov_from_buf(const struct iovec *iov, uint32_t n, size_t skip, const void *buf,
                           size_t len)
{
    return iov_copy(iov, n, skip, (uint8_t *)buf, len, false);
}
