/* The run loop: entering the guest, decoding exits, dispatching port and
 * MMIO accesses to the buses, and the vCPU threads and lifecycle of booted
 * machines (start, pause, resume, stop, reset, wait). */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../../lib/util/error.h"
#include "board/board.h"
#include "kvm.h"
#include "kvm_pin.h"

static int enter_failed(struct kvm_vcpu *v, int e)
{
    return qv_error_set_errno(QV_ERR_KVM, e, "VM '%s' vCPU %u: KVM_RUN failed",
                              kvm_machine_name(v->m), v->index);
}

/* Port I/O: all count accesses go to one port. */
static int decode_io(struct kvm_vcpu *v, bool *handled)
{
    struct kvm_run *run = v->run;
    uint32_t size = run->io.size, count = run->io.count;
    uint64_t off = run->io.data_offset;
    if ((size != 1 && size != 2 && size != 4) || count == 0 || off > v->run_size ||
        (uint64_t)size * count > v->run_size - off)
        return qv_error_set(QV_ERR_INTERNAL, "VM '%s' vCPU %u: malformed I/O exit from KVM",
                            kvm_machine_name(v->m), v->index);
    uint8_t *data = (uint8_t *)run + off;
    bool write = run->io.direction == KVM_EXIT_IO_OUT;
    v->exit.reason = VCPU_EXIT_IO;
    v->exit.io.port = run->io.port;
    v->exit.io.size = (uint8_t)size;
    v->exit.io.direction = write ? VCPU_IO_OUT : VCPU_IO_IN;
    v->exit.io.count = count;
    v->exit.io.data = data;
    bool claimed = true;
    for (uint32_t i = 0; i < count && claimed; i++)
        claimed = kvm_bus_dispatch(&v->m->pio, run->io.port, data + i * size, size, write);
    if (!claimed && v->m->booted) {
        /* Like an ISA bus with nothing behind the port. */
        if (!write)
            memset(data, 0xff, (size_t)size * count);
        claimed = true;
    }
    *handled = claimed;
    return VCPU_EXIT_IO;
}

static int decode_mmio(struct kvm_vcpu *v, bool *handled)
{
    struct kvm_run *run = v->run;
    uint32_t len = run->mmio.len;
    if (len == 0 || len > 8)
        return qv_error_set(QV_ERR_INTERNAL, "VM '%s' vCPU %u: malformed MMIO exit from KVM",
                            kvm_machine_name(v->m), v->index);
    v->exit.reason = VCPU_EXIT_MMIO;
    v->exit.mmio.addr = run->mmio.phys_addr;
    v->exit.mmio.len = len;
    v->exit.mmio.is_write = run->mmio.is_write;
    v->exit.mmio.data = run->mmio.data;
    bool claimed =
        kvm_bus_dispatch(&v->m->mmio, run->mmio.phys_addr, run->mmio.data, len, run->mmio.is_write);
    if (!claimed && v->m->booted) {
        if (!run->mmio.is_write)
            memset(run->mmio.data, 0xff, len);
        claimed = true;
    }
    *handled = claimed;
    return VCPU_EXIT_MMIO;
}

int kvm_vcpu_enter(struct kvm_vcpu *v, bool *handled)
{
    *handled = false;
    memset(&v->exit, 0, sizeof(v->exit));
    g_mutex_lock(&v->kick_lock);
    v->in_run = true;
    v->runner = pthread_self();
    g_mutex_unlock(&v->kick_lock);
    int rc = ioctl(v->fd, KVM_RUN, 0);
    int e = errno;
    g_mutex_lock(&v->kick_lock);
    v->in_run = false;
    g_mutex_unlock(&v->kick_lock);
    struct kvm_coalesced_mmio_ring *ring = v->m->pio_ring;
    if (ring)
        __atomic_store_n(&ring->first, __atomic_load_n(&ring->last, __ATOMIC_ACQUIRE),
                         __ATOMIC_RELEASE);
    if (rc < 0) {
        if (e == EINTR || e == EAGAIN) {
            __atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
            v->exit.reason = VCPU_EXIT_INTR;
            return VCPU_EXIT_INTR;
        }
        return enter_failed(v, e);
    }
    struct kvm_run *run = v->run;
    switch (run->exit_reason) {
    case KVM_EXIT_IO: return decode_io(v, handled);
    case KVM_EXIT_MMIO: return decode_mmio(v, handled);
    case KVM_EXIT_HLT: v->exit.reason = VCPU_EXIT_HLT; return VCPU_EXIT_HLT;
    case KVM_EXIT_SHUTDOWN:
        v->exit.reason = VCPU_EXIT_SHUTDOWN;
        v->exit.shutdown.reason = VCPU_SHUTDOWN_TRIPLE_FAULT;
        v->exit.shutdown.exit_status = -1;
        return VCPU_EXIT_SHUTDOWN;
    case KVM_EXIT_DEBUG:
        v->exit.reason = VCPU_EXIT_DEBUG;
        v->exit.debug.exception = run->debug.arch.exception;
        v->exit.debug.pc = run->debug.arch.pc;
        v->exit.debug.dr6 = run->debug.arch.dr6;
        v->exit.debug.dr7 = run->debug.arch.dr7;
        return VCPU_EXIT_DEBUG;
    case KVM_EXIT_INTR: v->exit.reason = VCPU_EXIT_INTR; return VCPU_EXIT_INTR;
    case KVM_EXIT_IRQ_WINDOW_OPEN: *handled = true; return VCPU_EXIT_INTR;
    case KVM_EXIT_SYSTEM_EVENT:
        v->exit.reason = VCPU_EXIT_SYSTEM_EVENT;
        v->exit.system_event.type = run->system_event.type;
        v->exit.system_event.data = run->system_event.ndata ? run->system_event.data[0] : 0;
        return VCPU_EXIT_SYSTEM_EVENT;
    case KVM_EXIT_FAIL_ENTRY:
        v->exit.reason = VCPU_EXIT_INTERNAL_ERROR;
        v->exit.internal.suberror = (uint32_t)run->fail_entry.hardware_entry_failure_reason;
        return VCPU_EXIT_INTERNAL_ERROR;
    case KVM_EXIT_INTERNAL_ERROR:
        v->exit.reason = VCPU_EXIT_INTERNAL_ERROR;
        v->exit.internal.suberror = run->internal.suberror;
        return VCPU_EXIT_INTERNAL_ERROR;
    default:
        v->exit.reason = VCPU_EXIT_INTERNAL_ERROR;
        v->exit.internal.suberror = 0x10000 | run->exit_reason;
        return VCPU_EXIT_INTERNAL_ERROR;
    }
}

int kvm_vcpu_run_user(struct kvm_vcpu *v)
{
    for (;;) {
        bool handled;
        int rc = kvm_vcpu_enter(v, &handled);
        if (rc < 0 || !handled)
            return rc;
    }
}

/* ---- Booted machines: one thread per vCPU ---- */

static void kick_all(struct kvm_machine *m)
{
    for (uint32_t i = 0; i < m->nvcpus; i++)
        if (m->vcpus[i])
            kvm_vcpu_kick(m->vcpus[i]);
}

void kvm_machine_request_stop(struct kvm_machine *m, enum vm_state_reason reason, int exit_status)
{
    g_mutex_lock(&m->lock);
    if (!m->stop_req) {
        m->stop_req = true;
        m->reason = reason;
        m->exit_status = exit_status;
    }
    g_cond_broadcast(&m->cond);
    g_mutex_unlock(&m->lock);
    kick_all(m);
}

/* Under m->lock, so m->def is not replaced (and freed) while read. The
 * pins were checked against this process's CPUs at launch (pins_check):
 * a failure here is the host's CPU set changing meanwhile. */
static int apply_pin(struct kvm_vcpu *v)
{
    cpu_set_t allowed, set;
    if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0)
        return qv_error_set_errno(QV_ERR_SYSTEM, errno, "cannot read this thread's CPU set");
    int rc = kvm_pin_mask(v->m->def, v->index, &allowed, &set);
    if (rc > 0 && sched_setaffinity(0, sizeof(set), &set) < 0)
        rc = qv_error_set_errno(QV_ERR_SYSTEM, errno, "VM '%s': cannot pin vCPU %u",
                                kvm_machine_name(v->m), v->index);
    return rc < 0 ? rc : 0;
}

/* Every vCPU's pin names CPUs this process may run on: a start with a pin
 * that cannot be applied fails, naming the vCPU and the CPU. */
static int pins_check(struct kvm_machine *m)
{
    cpu_set_t allowed, set;
    if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0)
        return qv_error_set_errno(QV_ERR_SYSTEM, errno, "cannot read this process's CPU set");
    g_mutex_lock(&m->lock);
    int rc = 0;
    for (uint32_t i = 0; rc == 0 && i < m->nvcpus; i++)
        rc = kvm_pin_mask(m->def, i, &allowed, &set) < 0 ? qv_error_code() : 0;
    g_mutex_unlock(&m->lock);
    if (rc < 0)
        qv_error_prefix("cannot start VM '%s'", kvm_machine_name(m));
    return rc;
}

static gpointer vcpu_thread(gpointer data)
{
    struct kvm_vcpu *v = data;
    struct kvm_machine *m = v->m;
    /* A vm_set_cpu_pin meanwhile (see kvm_set) either finds the tid and
     * pins this thread itself, or has already put its pin in m->def. */
    g_mutex_lock(&m->lock);
    __atomic_store_n(&v->tid, (int)gettid(), __ATOMIC_SEQ_CST);
    bool pinned = apply_pin(v) == 0;
    g_mutex_unlock(&m->lock);
    if (!pinned) {
        g_warning("%s", qv_last_error()->message);
        kvm_machine_request_stop(m, VM_REASON_FAILED, -1);
    }
    for (;;) {
        g_mutex_lock(&m->lock);
        while (m->pause_req && !m->stop_req) {
            m->threads_parked++;
            g_cond_broadcast(&m->cond);
            g_cond_wait(&m->cond, &m->lock);
            m->threads_parked--;
        }
        bool stop = m->stop_req;
        g_mutex_unlock(&m->lock);
        if (stop)
            break;
        bool handled;
        int rc = kvm_vcpu_enter(v, &handled);
        if (rc < 0) {
            g_warning("VM '%s' vCPU %u: %s", kvm_machine_name(m), v->index,
                      qv_last_error()->message);
            kvm_machine_request_stop(m, VM_REASON_CRASHED, -1);
            break;
        }
        if (handled)
            continue;
        switch (rc) {
        case VCPU_EXIT_SHUTDOWN: {
            /* A triple fault. QEMU's pc resets; without firmware to run
             * again a direct-boot guest would only loop, so it stops. */
            struct vcpu_regs r = {0};
            kvm_vcpu_get_regs(v, &r);
            g_warning("VM '%s' vCPU %u: triple fault (rip 0x%llx, rsp 0x%llx)", kvm_machine_name(m),
                      v->index, (unsigned long long)r.rip, (unsigned long long)r.rsp);
            kvm_machine_request_stop(m, VM_REASON_CRASHED, -1);
            break;
        }
        case VCPU_EXIT_SYSTEM_EVENT:
            if (v->exit.system_event.type == KVM_SYSTEM_EVENT_RESET)
                kvm_machine_request_stop(m, VM_REASON_RESET, 0);
            else if (v->exit.system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN)
                kvm_machine_request_stop(m, VM_REASON_SHUTDOWN, 0);
            else
                kvm_machine_request_stop(m, VM_REASON_CRASHED, -1);
            break;
        case VCPU_EXIT_INTERNAL_ERROR: {
            struct vcpu_regs r = {0};
            kvm_vcpu_get_regs(v, &r);
            g_warning("VM '%s' vCPU %u: KVM internal error 0x%x at rip 0x%llx", kvm_machine_name(m),
                      v->index, v->exit.internal.suberror, (unsigned long long)r.rip);
            kvm_machine_request_stop(m, VM_REASON_CRASHED, -1);
            break;
        }
        default: break; /* HLT without an in-kernel LAPIC, kicks, debug */
        }
    }
    g_mutex_lock(&m->lock);
    bool last = --m->threads_live == 0;
    g_cond_broadcast(&m->cond);
    g_mutex_unlock(&m->lock);
    if (!last)
        return NULL;
    /* The devices go before STOPPED is seen, so a stopped VM's images are
     * no longer written; outside the lock, as a disk's reset waits for its
     * I/O thread. Every other vCPU thread has left the guest. */
    kvm_board_release_virtio(m->board);
    g_mutex_lock(&m->lock);
    m->state = VM_STATE_STOPPED;
    kvm_board_stopped(m->board);
    g_cond_broadcast(&m->cond);
    g_mutex_unlock(&m->lock);
    return NULL;
}

void kvm_machine_halt_threads(struct kvm_machine *m)
{
    bool any = false;
    for (uint32_t i = 0; i < m->nvcpus; i++)
        any |= m->vcpus[i] && m->vcpus[i]->thread;
    if (!any)
        return;
    kvm_machine_request_stop(m, VM_REASON_USER, -1);
    for (uint32_t i = 0; i < m->nvcpus; i++) {
        struct kvm_vcpu *v = m->vcpus[i];
        if (v && v->thread) {
            g_thread_join(v->thread);
            v->thread = NULL;
        }
    }
}

static int launch(struct kvm_machine *m, bool paused)
{
    /* Even a power-on that fails part-way has placed devices and loaded
     * RAM: the next start begins from a fresh machine. */
    if (pins_check(m) < 0)
        return qv_error_code();
    g_mutex_lock(&m->lock);
    m->used = true;
    g_mutex_unlock(&m->lock);
    if (kvm_machine_power_on(m) < 0)
        return qv_error_code();
    g_mutex_lock(&m->lock);
    m->stop_req = false;
    m->pause_req = paused;
    m->reason = VM_REASON_NONE;
    m->exit_status = -1;
    m->state = paused ? VM_STATE_PAUSED : VM_STATE_RUNNING;
    m->threads_live = m->nvcpus;
    m->threads_parked = 0;
    g_mutex_unlock(&m->lock);
    for (uint32_t i = 0; i < m->nvcpus; i++) {
        g_autofree char *name = g_strdup_printf("qv-vcpu%u", i);
        m->vcpus[i]->thread = g_thread_new(name, vcpu_thread, m->vcpus[i]);
    }
    return 0;
}

int kvm_machine_start(struct kvm_machine *m)
{
    if (!m->booted)
        return qv_error_set(QV_ERR_UNSUPPORTED,
                            "cannot start VM '%s': it has no kernel to boot (<os><kernel>); a VM "
                            "made by vm_create is driven register by register with vcpu_run",
                            kvm_machine_name(m));
    kvm_machine_halt_threads(m);
    if (m->used && kvm_machine_rebuild(m) < 0)
        return qv_error_code();
    return launch(m, false);
}

int kvm_machine_start_paused(struct kvm_machine *m)
{
    kvm_machine_halt_threads(m);
    if (m->used && kvm_machine_rebuild(m) < 0)
        return qv_error_code();
    return launch(m, true);
}

int kvm_machine_wait(struct kvm_machine *m, int timeout_ms)
{
    gint64 deadline = timeout_ms >= 0 ? g_get_monotonic_time() + (gint64)timeout_ms * 1000 : 0;
    int rc = 0;
    g_mutex_lock(&m->lock);
    while (m->state == VM_STATE_RUNNING || m->state == VM_STATE_PAUSED) {
        if (timeout_ms < 0) {
            g_cond_wait(&m->cond, &m->lock);
        } else if (!g_cond_wait_until(&m->cond, &m->lock, deadline)) {
            if (m->state == VM_STATE_RUNNING || m->state == VM_STATE_PAUSED)
                rc = qv_error_set(QV_ERR_TIMEOUT, "VM '%s' was still %s after %d ms",
                                  kvm_machine_name(m), vm_state_name(m->state), timeout_ms);
            break;
        }
    }
    g_mutex_unlock(&m->lock);
    return rc;
}

int kvm_machine_stop(struct kvm_machine *m, bool force, int timeout_ms)
{
    g_mutex_lock(&m->lock);
    bool paused = m->state == VM_STATE_PAUSED;
    g_mutex_unlock(&m->lock);
    /* A paused guest cannot answer; nor can one without ACPI listening. */
    if (!force && !paused && kvm_board_power_button(m->board)) {
        /* The guest has been asked; give it the time it was promised. */
        if (kvm_machine_wait(m, timeout_ms < 0 ? 30000 : timeout_ms) == 0) {
            kvm_machine_halt_threads(m);
            return 0;
        }
        qv_reset_error();
    }
    kvm_machine_request_stop(m, VM_REASON_USER, -1);
    kvm_machine_halt_threads(m);
    g_mutex_lock(&m->lock);
    m->state = VM_STATE_STOPPED;
    g_mutex_unlock(&m->lock);
    return 0;
}

int kvm_machine_pause(struct kvm_machine *m)
{
    g_mutex_lock(&m->lock);
    m->pause_req = true;
    g_mutex_unlock(&m->lock);
    kick_all(m);
    g_mutex_lock(&m->lock);
    while (m->threads_parked < m->threads_live && !m->stop_req)
        g_cond_wait(&m->cond, &m->lock);
    /* A guest that stopped meanwhile is not paused: its last vCPU thread
     * may still be releasing the devices, which a caller going on as if
     * paused would race with. */
    bool gone = m->stop_req || (m->booted && m->threads_live == 0);
    if (gone)
        m->pause_req = false;
    else if (m->state == VM_STATE_RUNNING)
        m->state = VM_STATE_PAUSED;
    g_mutex_unlock(&m->lock);
    if (gone)
        return qv_error_set(QV_ERR_INVALID_STATE, "VM '%s' stopped while being paused", m->name);
    return 0;
}

int kvm_machine_resume(struct kvm_machine *m)
{
    g_mutex_lock(&m->lock);
    m->pause_req = false;
    if (m->state == VM_STATE_PAUSED)
        m->state = VM_STATE_RUNNING;
    g_cond_broadcast(&m->cond);
    g_mutex_unlock(&m->lock);
    return 0;
}

int kvm_machine_reset(struct kvm_machine *m)
{
    g_mutex_lock(&m->lock);
    bool paused = m->state == VM_STATE_PAUSED;
    g_mutex_unlock(&m->lock);
    kvm_machine_halt_threads(m);
    if (kvm_machine_rebuild(m) < 0) {
        g_mutex_lock(&m->lock);
        m->state = VM_STATE_STOPPED;
        m->reason = VM_REASON_FAILED;
        g_mutex_unlock(&m->lock);
        return qv_error_code();
    }
    return launch(m, paused);
}

void kvm_machine_status(struct kvm_machine *m, struct qv_vm_status *st)
{
    g_mutex_lock(&m->lock);
    st->state = m->state;
    st->reason = m->state == VM_STATE_STOPPED ? m->reason : VM_REASON_NONE;
    st->exit_status = m->state == VM_STATE_STOPPED ? m->exit_status : -1;
    g_mutex_unlock(&m->lock);
}

int kvm_machine_pin(struct kvm_machine *m, uint32_t index, int pcpu)
{
    if (index >= m->nvcpus || !m->vcpus[index] || !m->vcpus[index]->thread)
        return 0; /* applied by the thread when it starts */
    int tid = __atomic_load_n(&m->vcpus[index]->tid, __ATOMIC_SEQ_CST);
    if (tid <= 0)
        return 0;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (pcpu >= 0)
        CPU_SET(pcpu, &set);
    else if (sched_getaffinity(0, sizeof(set), &set) < 0)
        return qv_error_set_errno(QV_ERR_SYSTEM, errno, "cannot read this process's CPU set");
    if (sched_setaffinity(tid, sizeof(set), &set) < 0) {
        if (errno == EINVAL && pcpu >= 0)
            return qv_error_set(QV_ERR_INVALID_ARG,
                                "VM '%s': cannot pin vCPU %u: host CPU %d does not exist or is "
                                "not allowed here",
                                kvm_machine_name(m), index, pcpu);
        return qv_error_set_errno(QV_ERR_SYSTEM, errno, "VM '%s': cannot pin vCPU %u to CPU %d",
                                  kvm_machine_name(m), index, pcpu);
    }
    return 0;
}
