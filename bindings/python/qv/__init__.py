"""Python bindings for libqv: one API for virtual machines on many
hypervisors.

    import qv
    with qv.connect("noop:///") as conn:
        vm = conn.create_vm("web01", vcpus=2, memory=512 * qv.MiB)
        vm.start()
        print(vm.state)          # State.RUNNING

Every failing call raises a qv.Error subclass (qv.InvalidStateError,
qv.NotFoundError, ...) carrying libqv's message and .code.
"""

from ._native import ffi as _ffi, lib as _lib, library_path
from .connection import Connection, connect, list_drivers, qemu_probe
from .host import host_info, host_pci_list, kvm_probe
from .enums import ExitReason, IODirection, Reason, ShutdownReason, State
from .errors import (  # noqa: F401  (re-exported)
    ALL as _ALL_ERRORS, BackendError, BusyError, ConnectError, Error, ExistsError,
    InternalError, InvalidArgumentError, InvalidStateError, IOFailureError, JSONError,
    KVMError, NoMemoryError, NotFoundError, OutOfRangeError, PermissionDeniedError,
    ProtocolError, SystemCallError, TimeoutExpiredError, UnsupportedError, URIError, XMLError)
from .snapshot import Snapshot, Snapshots
from .vcpu import DTable, Exit, Regs, Segment, Sregs, VCPU
from .vm import MEM_EXEC, MEM_READ, MEM_RWX, MEM_WRITE, VM, Info, create_vm

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30

__version__ = "1.0.0"


def version():
    """The version of the loaded libqv, e.g. "1.0.0"."""
    return _ffi.string(_lib.qv_version()).decode()


def strerror(code):
    """libqv's short name for an error code, e.g. "invalid state"."""
    return _ffi.string(_lib.qv_strerror(code)).decode()


__all__ = [
    "connect", "Connection", "VM", "VCPU", "Info", "Snapshot", "Snapshots", "Exit",
    "Regs", "Sregs", "Segment", "DTable", "State", "Reason", "ExitReason", "IODirection",
    "ShutdownReason", "create_vm", "list_drivers", "qemu_probe", "kvm_probe", "host_info",
    "host_pci_list", "version", "strerror",
    "library_path",
    "MEM_READ", "MEM_WRITE", "MEM_EXEC", "MEM_RWX", "KiB", "MiB", "GiB", "Error",
] + [cls.__name__ for cls in _ALL_ERRORS]
