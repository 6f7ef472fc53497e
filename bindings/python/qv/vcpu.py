"""Register-level vCPU access (kvm:///embed, and noop's simulated registers)."""

from ._native import ffi, lib
from ._struct import Struct
from .enums import ExitReason, IODirection, ShutdownReason, coerce
from .errors import check, check_void, closed, InvalidStateError


class Regs(Struct):
    """General-purpose registers: rax ... r15, rip, rflags (struct vcpu_regs).
    VCPU.regs returns one bound to the vCPU: assigning a field writes it."""
    __slots__ = ()
    _ctype = "struct vcpu_regs"


class Segment(Struct):
    """A segment register (struct vcpu_segment)."""
    __slots__ = ()
    _ctype = "struct vcpu_segment"


class DTable(Struct):
    """A descriptor table register, GDTR or IDTR (struct vcpu_dtable)."""
    __slots__ = ()
    _ctype = "struct vcpu_dtable"


class Sregs(Struct):
    """Segment and control registers (struct vcpu_sregs). VCPU.sregs returns
    one bound to the vCPU: assigning a field, or a field of a segment, writes
    the whole set back."""
    __slots__ = ()
    _ctype = "struct vcpu_sregs"
    _NESTED = {s: Segment for s in ("cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt")}
    _NESTED.update(gdt=DTable, idt=DTable)

    def _nested(self):
        return self._NESTED


class _Access:
    """Data of a port I/O or MMIO exit. .data holds the bytes the guest wrote
    (OUT, MMIO write); for IN or an MMIO read, call respond() before the next
    run() to give the guest what it reads."""

    def __init__(self, vcpu, ptr, length):
        self._vcpu = vcpu
        self._gen = vcpu._runs()
        self._ptr = ptr
        self._len = length
        self.data = bytes(ffi.buffer(ptr, length)) if ptr != ffi.NULL and length else b""

    def respond(self, data):
        """Fill the guest's read with data (bytes, or an int, little-endian)."""
        if self._vcpu._runs() != self._gen:
            raise InvalidStateError("this exit is stale: the vCPU has run since",
                                    lib.QV_ERR_INVALID_STATE)
        if isinstance(data, int):
            data = data.to_bytes(self._len, "little")
        data = bytes(data)
        if len(data) != self._len:
            raise ValueError("the guest reads %d bytes here, not %d" % (self._len, len(data)))
        if self._ptr == ffi.NULL:
            raise InvalidStateError("the driver gave no buffer for this exit's data",
                                    lib.QV_ERR_INVALID_STATE)
        ffi.memmove(self._ptr, data, self._len)
        self.data = data


class IOAccess(_Access):
    def __init__(self, vcpu, c):
        self.port = c.port
        self.size = c.size
        self.direction = coerce(IODirection, c.direction)
        self.count = c.count
        super().__init__(vcpu, c.data, c.size * c.count)

    @property
    def value(self):
        """The first access's data as an int (OUT)."""
        return int.from_bytes(self.data[:self.size], "little")

    def __repr__(self):
        return "IOAccess(port=0x%x, size=%d, direction=%s, count=%d, data=%r)" % (
            self.port, self.size, self.direction.name if hasattr(self.direction, "name")
            else self.direction, self.count, self.data)


class MMIOAccess(_Access):
    def __init__(self, vcpu, c):
        self.addr = c.addr
        self.len = c.len
        self.is_write = bool(c.is_write)
        super().__init__(vcpu, c.data, c.len)

    def __repr__(self):
        return "MMIOAccess(addr=0x%x, len=%d, is_write=%s, data=%r)" % (
            self.addr, self.len, self.is_write, self.data)


class Shutdown:
    def __init__(self, c):
        self.reason = coerce(ShutdownReason, c.reason)
        self.exit_status = c.exit_status

    @property
    def debug_exit_value(self):
        """The value written to isa-debug-exit (exit_status == value<<1 | 1)."""
        return self.exit_status >> 1 if self.reason == ShutdownReason.DEBUG_EXIT else None

    def __repr__(self):
        return "Shutdown(reason=%s, exit_status=%d)" % (getattr(self.reason, "name", self.reason),
                                                        self.exit_status)


class Debug:
    def __init__(self, c):
        self.exception, self.pc, self.dr6, self.dr7 = c.exception, c.pc, c.dr6, c.dr7

    def __repr__(self):
        return "Debug(exception=%d, pc=0x%x)" % (self.exception, self.pc)


class Exit:
    """Why run() or step() returned. Exactly one of io, mmio, shutdown, debug,
    system_event, internal_suberror is set, according to reason."""

    def __init__(self, vcpu, reason, info):
        self.reason = coerce(ExitReason, reason)
        self.io = self.mmio = self.shutdown = self.debug = None
        self.system_event = self.internal_suberror = None
        if info == ffi.NULL:
            return
        if reason == lib.VCPU_EXIT_IO:
            self.io = IOAccess(vcpu, info.io)
        elif reason == lib.VCPU_EXIT_MMIO:
            self.mmio = MMIOAccess(vcpu, info.mmio)
        elif reason == lib.VCPU_EXIT_SHUTDOWN:
            self.shutdown = Shutdown(info.shutdown)
        elif reason == lib.VCPU_EXIT_DEBUG:
            self.debug = Debug(info.debug)
        elif reason == lib.VCPU_EXIT_SYSTEM_EVENT:
            self.system_event = (info.system_event.type, info.system_event.data)
        elif reason == lib.VCPU_EXIT_INTERNAL_ERROR:
            self.internal_suberror = info.internal.suberror

    def __repr__(self):
        detail = self.io or self.mmio or self.shutdown or self.debug or self.system_event
        if detail is None and self.internal_suberror is not None:
            detail = "suberror=%d" % self.internal_suberror
        name = getattr(self.reason, "name", self.reason)
        return "Exit(%s%s)" % (name, ", %s" % (detail,) if detail is not None else "")


class VCPU:
    """One vCPU of a VM; get it with VM.vcpu(i). It stays usable while its VM
    handle is open and the VM is not destroyed. One thread at a time, except
    kick()."""

    def __init__(self, vm, ptr):
        self._vm = vm
        self._raw = ptr
        self.id = lib.vcpu_get_id(ptr)

    @property
    def _ptr(self):
        if self._raw is None:
            raise closed("vCPU %d of VM '%s'" % (self.id, self._vm._name))
        self._vm._handle()  # raises once the VM handle is gone
        return self._raw

    @property
    def vm(self):
        return self._vm

    def __repr__(self):
        return "<qv.VCPU %d of VM %r>" % (self.id, self._vm._name)

    # ---- registers ----
    @property
    def regs(self):
        c = ffi.new("struct vcpu_regs *")
        check(lib.vcpu_get_regs(self._ptr, c))
        return Regs._bound(c, self._set_regs_c)

    @regs.setter
    def regs(self, value):
        if isinstance(value, dict):
            value = Regs(**value)
        if not isinstance(value, Regs):
            raise TypeError("regs must be a qv.Regs or a dict, not %s" % type(value).__name__)
        self._set_regs_c(value._c)

    def _set_regs_c(self, c):
        check(lib.vcpu_set_regs(self._ptr, c))

    @property
    def sregs(self):
        c = ffi.new("struct vcpu_sregs *")
        check(lib.vcpu_get_sregs(self._ptr, c))
        return Sregs._bound(c, self._set_sregs_c)

    @sregs.setter
    def sregs(self, value):
        if not isinstance(value, Sregs):
            raise TypeError("sregs must be a qv.Sregs, not %s" % type(value).__name__)
        self._set_sregs_c(value._c)

    def _set_sregs_c(self, c):
        check(lib.vcpu_set_sregs(self._ptr, c))

    def get_reg(self, name):
        """One register by name ("rip"), via vcpu_get_reg."""
        v = lib.vcpu_get_reg(self._ptr, _reg_index(name))
        check_void()
        return v

    def set_reg(self, name, value):
        lib.vcpu_set_reg(self._ptr, _reg_index(name), value)
        check_void()

    def get_msr(self, index):
        v = ffi.new("uint64_t *")
        check(lib.vcpu_get_msr(self._ptr, index, v))
        return v[0]

    def set_msr(self, index, value):
        check(lib.vcpu_set_msr(self._ptr, index, value))

    # ---- execution ----
    def reset(self, boot_ip):
        """Architectural reset in real mode, first fetch at physical boot_ip."""
        check(lib.vcpu_reset(self._ptr, boot_ip))

    def _runs(self):
        return self._vm._exit_gen.get(self.id, 0)

    def _exit(self, rc):
        self._vm._exit_gen[self.id] = self._runs() + 1
        check(rc)
        info = lib.vcpu_exit_info(self._raw)
        if info == ffi.NULL:
            check_void()
        return Exit(self, rc, info)

    def run(self):
        """Enter the guest until an exit the VM's devices do not handle."""
        return self._exit(lib.vcpu_run(self._ptr))

    def step(self):
        """Execute one instruction; usually returns an Exit with reason DEBUG."""
        return self._exit(lib.vcpu_step(self._ptr))

    def kick(self):
        """Make a run() in another thread return ExitReason.INTR soon."""
        lib.vcpu_kick(self._ptr)

    # ---- events ----
    def queue_interrupt(self, vector):
        check(lib.vcpu_queue_interrupt(self._ptr, _u8(vector)))

    def queue_exception(self, vector, error_code=0):
        check(lib.vcpu_queue_exception(self._ptr, _u8(vector), error_code))

    def queue_nmi(self):
        check(lib.vcpu_queue_nmi(self._ptr))

    def inject_gp(self, error_code=0):
        check(lib.vcpu_inject_gp(self._ptr, error_code))

    def inject_ud(self):
        check(lib.vcpu_inject_ud(self._ptr))

    def inject_pf(self, addr, error_code=0):
        check(lib.vcpu_inject_pf(self._ptr, addr, error_code))

    def destroy(self):
        """Remove this vCPU from its VM."""
        lib.vcpu_destroy(self._ptr)
        check_void()
        self._vm._vcpus.pop(self.id, None)
        self._raw = None


def _u8(vector):
    if not 0 <= vector <= 255:
        raise ValueError("vector %d is not 0-255" % vector)
    return vector


def _reg_index(name):
    try:
        return getattr(lib, "VCPU_REG_" + name.upper())
    except AttributeError:
        raise ValueError("unknown register %r" % name) from None
