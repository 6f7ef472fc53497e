/* Built instead of the qemu driver when it is left out (-DQV_WITH_QEMU=OFF):
 * the public calls that live in the driver stay in libqv's ABI, so a program
 * linked against a full libqv still loads, and say why they cannot run. */
#include "../../include/qv/conn.h"
#include "../../lib/api/driver.h"
#include "../../lib/util/error.h"

int qv_qemu_probe(const char *emulator, const char *accel, const char *cpu_model, char **reason)
{
    (void)emulator, (void)accel, (void)cpu_model;
    qv_reset_error();
    if (reason)
        *reason = NULL;
    return qv_driver_not_built("qemu");
}
