"""Enumerations mirroring the C enums; values are taken from the library's
declarations so they cannot drift."""

import enum

from ._native import lib


class _CEnum(enum.IntEnum):
    def __str__(self):
        return self.name.lower()


def _from_c(name, prefix, members, doc):
    cls = _CEnum(name, {m: getattr(lib, prefix + m) for m in members}, module="qv")
    cls.__doc__ = doc
    return cls


State = _from_c("State", "VM_STATE_",
                ["CREATED", "RUNNING", "PAUSED", "STOPPED", "MIGRATING", "DESTROYED"],
                "A VM's lifecycle state (enum vm_state).")
Reason = _from_c("Reason", "VM_REASON_",
                 ["NONE", "USER", "SHUTDOWN", "CRASHED", "FAILED", "RESET"],
                 "Why a VM is in its state (enum vm_state_reason).")
ExitReason = _from_c("ExitReason", "VCPU_EXIT_",
                     ["IO", "MMIO", "HLT", "SHUTDOWN", "DEBUG", "INTR", "SYSTEM_EVENT",
                      "INTERNAL_ERROR"],
                     "Why VCPU.run() or VCPU.step() returned (enum vcpu_exit).")
IODirection = _from_c("IODirection", "VCPU_IO_", ["IN", "OUT"],
                      "Direction of a port I/O exit.")
ShutdownReason = _from_c("ShutdownReason", "VCPU_SHUTDOWN_",
                         ["TRIPLE_FAULT", "RESET", "POWEROFF", "DEBUG_EXIT"],
                         "Why a guest stopped (enum vcpu_shutdown_reason).")


def coerce(cls, value):
    """value as a member of cls, or the plain int if libqv returned a value
    this version of the bindings does not know."""
    try:
        return cls(value)
    except ValueError:
        return value
