"""VM handles."""

import json as _json
import weakref

from ._native import encode, ffi, flush_pending, gc_free, lib, string
from .enums import Reason, State, coerce
from .errors import check, check_ptr, check_void, closed, InvalidStateError, last_error
from .snapshot import Snapshots
from .vcpu import VCPU

# Flags for add_memory_region().
MEM_READ = lib.VM_MEM_READ
MEM_WRITE = lib.VM_MEM_WRITE
MEM_EXEC = lib.VM_MEM_EXEC
MEM_RWX = MEM_READ | MEM_WRITE | MEM_EXEC


_vm_free = gc_free(lib.vm_free)


class Info:
    """What vm_get_info reports."""

    def __init__(self, c):
        self.state = coerce(State, c.state)
        self.reason = coerce(Reason, c.reason)
        self.vcpus = c.vcpus
        self.max_vcpus = c.max_vcpus
        self.memory = c.memory
        self.max_memory = c.max_memory
        self.exit_status = None if c.exit_status < 0 else c.exit_status
        self.uuid = ffi.string(c.uuid).decode()

    def __repr__(self):
        return "<qv.Info %s>" % ", ".join("%s=%r" % kv for kv in vars(self).items())


def _c_string(ptr, what):
    """A str from a libqv-allocated string, which is freed."""
    check_ptr(ptr, what)
    try:
        return ffi.string(ptr).decode("utf-8", "replace")
    finally:
        lib.qv_free(ptr)


class VM:
    """A handle on one VM. The handle is released by close(), when the
    object is collected, when its Connection is closed, or by destroy()
    (which also removes the VM)."""

    def __init__(self, ptr, conn=None):
        self._raw = ffi.gc(ptr, _vm_free)
        self._addr = int(ffi.cast("uintptr_t", ptr))
        self._name = string(lib.vm_get_name(ptr))
        self._conn = conn
        # VCPU objects point at their VM; the VM points back only weakly so
        # that dropping the last reference frees the handle at once, without
        # waiting for the cycle collector.
        self._vcpus = weakref.WeakValueDictionary()
        self._exit_gen = {}  # vCPU id -> runs so far, to spot stale exits
        self._destroyed = False

    def _handle(self):
        flush_pending()
        if self._raw is None:
            if self._destroyed:
                raise InvalidStateError("cannot use VM '%s': it has been destroyed"
                                        % self._name, lib.QV_ERR_INVALID_STATE)
            raise closed("the handle on VM '%s'" % self._name)
        return self._raw

    def _release(self):
        """Drop the handle's reference (idempotent)."""
        raw, self._raw = self._raw, None
        self._vcpus.clear()
        if raw is not None:
            if self._conn is not None:
                self._conn._forget(self)
            ffi.release(raw)  # runs vm_free now

    # ---- identity ----
    @property
    def name(self):
        return self._name

    @property
    def closed(self):
        return self._raw is None

    @property
    def snapshots(self):
        """The VM's snapshots: create(), list(), restore(), delete()."""
        return Snapshots(self)

    @property
    def connection(self):
        return self._conn

    @property
    def info(self):
        c = ffi.new("struct vm_info *")
        check(lib.vm_get_info(self._handle(), c))
        return Info(c)

    def _key_values(self, fn):
        out = ffi.new("struct vm_stat **")
        count = ffi.new("size_t *")
        check(fn(self._handle(), out, count))
        try:
            result = {}
            for i in range(count[0]):
                s = out[0][i]
                key = ffi.string(s.key).decode()
                if s.type == lib.VM_STAT_STRING:
                    result[key] = ffi.string(s.string_value).decode("utf-8", "replace")
                else:
                    result[key] = int(s.uint_value)
            return result
        finally:
            lib.vm_stats_free(out[0], count[0])

    def stats(self):
        """vm_get_stats: a dict of the `virsh domstats` keys the driver knows
        ("cpu.time": ns, "balloon.current": KiB, "block.0.name": "vda", ...),
        in virsh's order. Values are int, or str for the .name and .path keys."""
        return self._key_values(lib.vm_get_stats)

    def live_settings(self):
        """vm_get_live_settings: what is in force on the running VM, read back
        from the backend ("vcpu.0.cpus": "0-3", "block.0.bytes_sec": 0, ...)."""
        return self._key_values(lib.vm_get_live_settings)

    @property
    def uuid(self):
        return self.info.uuid

    @property
    def state(self):
        s = lib.vm_get_state(self._handle())
        check_void()  # DESTROYED plus an error means "could not ask"
        return coerce(State, s)

    @property
    def xml(self):
        """The definition as libvirt domain XML."""
        return _c_string(lib.vm_get_xml(self._handle()), "vm_get_xml")

    @property
    def json(self):
        """The definition as QuantaVirt JSON text (see also config)."""
        return _c_string(lib.vm_get_json(self._handle()), "vm_get_json")

    @property
    def config(self):
        """The definition as QuantaVirt JSON, parsed."""
        return _json.loads(self.json)

    def __repr__(self):
        if self._raw is None:
            return "<qv.VM %r (%s)>" % (self._name,
                                        "destroyed" if self._destroyed else "closed")
        return "<qv.VM %r>" % self._name

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Release this handle; the VM itself lives on."""
        self._release()

    # ---- lifecycle ----
    def start(self):
        check(lib.vm_start(self._handle()))

    def stop(self, force=False, timeout=None):
        """Stop gracefully, escalating to force after timeout seconds (None:
        the driver's default; 0 or force=True: at once)."""
        timeout_ms = -1 if timeout is None else int(timeout * 1000)
        if timeout_ms < -1:
            raise ValueError("timeout must be >= 0 seconds, not %r" % timeout)
        flags = lib.VM_STOP_FORCE if force else 0
        check(lib.vm_stop_flags(self._handle(), flags, timeout_ms))

    def pause(self):
        check(lib.vm_pause(self._handle()))

    def resume(self):
        check(lib.vm_resume(self._handle()))

    def reset(self):
        check(lib.vm_reset(self._handle()))

    def wait(self, timeout=None):
        """Wait until the VM is neither running nor paused; raises
        qv.TimeoutExpiredError after timeout seconds (None: no limit)."""
        timeout_ms = -1 if timeout is None else int(timeout * 1000)
        check(lib.vm_wait(self._handle(), timeout_ms))
        return self.info

    def destroy(self):
        """Remove the VM and everything it owns. The handle is consumed
        whether or not that succeeds (vm_destroy releases it)."""
        raw = self._handle()
        self._raw = None
        self._vcpus.clear()
        if self._conn is not None:
            self._conn._forget(self)
        ffi.gc(raw, None)  # vm_destroy frees the handle itself: no vm_free
        lib.vm_destroy(raw)
        err = lib.qv_last_error()
        if err.code != lib.QV_OK:
            raise last_error()
        self._destroyed = True

    def clone(self, name):
        """Define a copy called name (new UUID and MACs); returns its VM."""
        ptr = check_ptr(lib.vm_clone(self._handle(), encode(name, "VM name")), "vm_clone")
        return _adopt(ptr, self._conn)

    # ---- memory ----
    def add_memory_region(self, gpa, size, flags=MEM_RWX):
        check(lib.vm_add_memory_region(self._handle(), gpa, size, flags))

    def read_memory(self, gpa, n):
        if n < 0:
            raise ValueError("cannot read %d bytes" % n)
        buf = ffi.new("char[]", max(n, 1))
        check(lib.vm_read_memory(self._handle(), gpa, buf, n))
        return ffi.buffer(buf, n)[:]

    def write_memory(self, gpa, data):
        buf = ffi.from_buffer(data)
        check(lib.vm_write_memory(self._handle(), gpa, buf, len(buf)))

    # ---- vCPUs ----
    def vcpu(self, i):
        """vCPU i, created on first use."""
        v = self._vcpus.get(i)
        if v is not None and v._raw is not None:
            return v
        ptr = lib.vm_get_vcpu(self._handle(), i)
        if ptr == ffi.NULL:
            if lib.qv_last_error().code != lib.QV_ERR_NOT_FOUND:
                raise last_error()
            ptr = check_ptr(lib.vcpu_create(self._handle(), i), "vcpu_create")
        v = self._vcpus[i] = VCPU(self, ptr)
        return v

    def add_vcpu(self, i):
        """Create vCPU i; raises qv.ExistsError if it exists."""
        check(lib.vm_add_vcpu(self._handle(), i))
        return self.vcpu(i)

    # ---- settings ----
    def set_cpu_pin(self, vcpu, pcpu):
        """Pin vCPU vcpu to host CPU pcpu; None or -1 removes the pin."""
        check(lib.vm_set_cpu_pin(self._handle(), vcpu, -1 if pcpu is None else pcpu))

    def set_cpu_pin_auto(self):
        """Remove every vCPU's pin: the host scheduler places the vCPUs."""
        check(lib.vm_set_cpu_pin_auto(self._handle()))

    def set_cpu_pin_spread(self):
        """Pin vCPU i to the i-th CPU this process may run on (wrapping)."""
        check(lib.vm_set_cpu_pin_spread(self._handle()))

    def get_cpu_pin(self, vcpu):
        """The host CPU vcpu is pinned to, or None."""
        out = ffi.new("int *")
        check(lib.vm_get_cpu_pin(self._handle(), vcpu, out))
        return None if out[0] < 0 else out[0]

    def set_cpu_weight(self, weight):
        check(lib.vm_set_cpu_weight(self._handle(), weight))

    def set_cpu_cap(self, percent):
        check(lib.vm_set_cpu_cap(self._handle(), percent))

    def set_vcpus(self, n):
        check(lib.vm_set_vcpus(self._handle(), n))

    def set_memory(self, nbytes):
        check(lib.vm_set_memory(self._handle(), nbytes))

    def set_io_limit(self, disk=None, bytes_per_sec=0, iops=0):
        d = ffi.NULL if disk is None else encode(disk, "disk")
        check(lib.vm_set_io_limit(self._handle(), d, bytes_per_sec, iops))

    def set_net_limit(self, mac=None, bits_per_sec=0):
        m = ffi.NULL if mac is None else encode(mac, "MAC address")
        check(lib.vm_set_net_limit(self._handle(), m, bits_per_sec))

    def set_cloud_init(self, user_data=None, meta_data=None, network_config=None):
        """Cloud-init documents for the next start; user_data=None removes them."""
        docs = [
            ffi.NULL if v is None else encode(v, what)
            for v, what in (
                (user_data, "user-data"),
                (meta_data, "meta-data"),
                (network_config, "network-config"),
            )
        ]
        check(lib.vm_set_cloud_init(self._handle(), *docs))

    def attach_device(self, device_xml):
        check(lib.vm_attach_device(self._handle(), encode(device_xml, "device XML")))

    def detach_device(self, device_xml):
        check(lib.vm_detach_device(self._handle(), encode(device_xml, "device XML")))

    # ---- guest access ----
    @property
    def console_endpoint(self):
        return _c_string(lib.vm_console_endpoint(self._handle()), "vm_console_endpoint")

    def console_log(self):
        """(path, start): the file where the driver keeps a copy of the
        console's output, and the offset where the current run begins."""
        path = ffi.new("char **")
        start = ffi.new("uint64_t *")
        check(lib.vm_console_log(self._handle(), path, start))
        return _c_string(path[0], "vm_console_log"), start[0]

    def guest_ip(self):
        """(address, port) where the guest's SSH server can be reached."""
        ip = ffi.new("char **")
        port = ffi.new("int *")
        check(lib.vm_guest_ip(self._handle(), ip, port))
        return _c_string(ip[0], "vm_guest_ip"), port[0]


def _adopt(ptr, conn):
    """Wrap a new reference, reusing the live VM object for the same handle
    so that every Python object of one VM shares its fate (destroy)."""
    if conn is not None:
        return conn._adopt(ptr)
    return VM(ptr)


def create_vm(name, vcpus=1, memory=64 << 20):
    """vm_create: a VM on the process default connection ($QV_DEFAULT_URI,
    else kvm:///embed)."""
    ptr = check_ptr(lib.vm_create(encode(name, "VM name"), vcpus, memory), "vm_create")
    return VM(ptr)
