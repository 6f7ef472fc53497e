/* The signal that interrupts a vCPU thread inside KVM_RUN. A real-time
 * signal near the top of the range, which applications rarely use. */
#ifndef QV_KVM_KICK_H
#define QV_KVM_KICK_H

#include <signal.h>

#define KVM_KICK_SIGNAL (SIGRTMAX - 3)

/* Install the (empty) handler once per process; returns the signal. */
int kvm_kick_signal(void);

#endif
