/* The connection the CLI opens when -c is not given. */
#include <fcntl.h>
#include <glib.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli.h"

static bool kvm_driver_built(void)
{
    char **names = NULL;
    size_t n = 0;
    bool found = false;
    if (qv_list_drivers(&names, &n) < 0)
        return false;
    for (size_t i = 0; i < n; i++)
        found = found || strcmp(names[i], "kvm") == 0;
    qv_strv_free(names);
    return found;
}

/* Usable means what KVM_CREATE_VM needs first: the device opens read-write
 * and speaks the one stable API version. */
static bool kvm_usable(void)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return false;
    int version = ioctl(fd, KVM_GET_API_VERSION, 0);
    close(fd);
    return version == KVM_API_VERSION;
}

const char *cli_default_uri(bool foreground)
{
    const char *env = g_getenv("QV_DEFAULT_URI");
    if (env && *env)
        return env;
    /* A VM a command leaves running must outlive that command, which
     * kvm:///embed's cannot (they live in the qv process): kvm:///session
     * runs each in its own qv-vmm. A foreground run (qv vm run) ends with
     * its command anyway and keeps the in-process VMM: no helper process,
     * and the guest's exit status comes back directly. */
    if (foreground)
        return "kvm:///embed";
    if (kvm_driver_built() && kvm_usable())
        return "kvm:///session";
    return NULL; /* libqv's own default, kvm:///embed */
}
