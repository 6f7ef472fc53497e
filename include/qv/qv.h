/* libqv — one C API for virtual machines on many hypervisors.
 * Include this header; link with `pkg-config --libs qv`. */
#ifndef QV_QV_H
#define QV_QV_H

#include "conn.h"
#include "error.h"
#include "host.h"
#include "remote.h"
#include "snapshot.h"
#include "vcpu.h"
#include "vm.h"

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

#define QV_VERSION_MAJOR 1
#define QV_VERSION_MINOR 0
#define QV_VERSION_PATCH 0

/* The library's version, "1.0.0". */
const char *qv_version(void);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
