/* Writing firmware tables into guest RAM through the device host. */
#include <string.h>

#include "../../../lib/util/error.h"
#include "firmware.h"

int kvm_fw_put(const struct kvm_fw_machine *fm, const char *file, uint64_t gpa, const void *src,
               size_t len, const char *what)
{
    if (len == 0)
        return 0;
    void *dst = fm->host->guest_ram(fm->host->opaque, gpa, len);
    if (!dst)
        return qv_error_set(QV_ERR_INVALID_ARG,
                            "%s: %s (0x%zx bytes at 0x%llx) does not fit in the VM's %llu MiB "
                            "of RAM",
                            file, what, len, (unsigned long long)gpa,
                            (unsigned long long)(fm->ram_size >> 20));
    if (src)
        memcpy(dst, src, len);
    else
        memset(dst, 0, len);
    /* Tables are written at power-on, before any dirty log; marked all
     * the same, so no path writes RAM unseen. */
    if (fm->host->mark_dirty)
        fm->host->mark_dirty(fm->host->opaque, gpa, len);
    return 0;
}
