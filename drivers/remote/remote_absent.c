/* Built instead of the remote driver when it is left out
 * (-DQV_WITH_REMOTE=OFF): the public call that lives in the driver stays in
 * libqv's ABI, so `qv remote-helper` and programs linked against a full
 * libqv still load, and says why it cannot run. */
#include "../../include/qv/remote.h"
#include "../../lib/api/driver.h"
#include "../../lib/util/error.h"

int qv_remote_serve(int in_fd, int out_fd)
{
    (void)in_fd, (void)out_fd;
    qv_reset_error();
    return qv_driver_not_built("remote");
}
