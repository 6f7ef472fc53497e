/* Built instead of the kvm driver when it is left out (-DQV_WITH_KVM=OFF):
 * its public call stays in libqv's ABI and says why it cannot run. */
#include "../../include/qv/host.h"
#include "../../lib/api/driver.h"
#include "../../lib/util/error.h"

int qv_kvm_probe(char **detail)
{
    qv_reset_error();
    if (detail)
        *detail = NULL;
    return qv_driver_not_built("kvm");
}
