"""Connections: qv.connect(uri)."""

import json as _json
import weakref

from ._native import encode, ffi, flush_pending, gc_free, lib, string
from .errors import check, check_ptr, closed, NotFoundError
from .vm import VM

_qv_close = gc_free(lib.qv_close)


class Connection:
    """A connection to one driver, opened by qv.connect(). Usable as a
    context manager; close() also closes every VM handle made through it."""

    def __init__(self, ptr):
        self._raw = ffi.gc(ptr, _qv_close)
        self.uri = string(lib.qv_conn_get_uri(ptr))
        self.driver = string(lib.qv_conn_get_driver(ptr))
        self.state_dir = string(lib.qv_conn_get_state_dir(ptr))
        # address of the C handle -> the one live VM object for it
        self._vms = weakref.WeakValueDictionary()

    @property
    def _ptr(self):
        flush_pending()
        if self._raw is None:
            raise closed("connection to %s" % self.uri)
        return self._raw

    @property
    def closed(self):
        return self._raw is None

    def close(self):
        """Close every VM handle of this connection, then the connection."""
        for vm in list(self._vms.values()):
            vm.close()
        raw, self._raw = self._raw, None
        if raw is not None:
            ffi.release(raw)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return "<qv.Connection %s%s>" % (self.uri, " (closed)" if self.closed else "")

    # ---- handles ----
    def _adopt(self, ptr):
        addr = int(ffi.cast("uintptr_t", ptr))
        vm = self._vms.get(addr)
        if vm is not None and not vm.closed:
            lib.vm_free(ptr)  # the live object already holds a reference
            return vm
        vm = VM(ptr, self)
        self._vms[addr] = vm
        return vm

    def _forget(self, vm):
        if self._vms.get(vm._addr) is vm:
            del self._vms[vm._addr]

    # ---- VMs ----
    def create_vm(self, name, vcpus=1, memory=64 << 20):
        """Create and define a VM with vcpus vCPUs and memory bytes of RAM."""
        ptr = lib.vm_create_on(self._ptr, encode(name, "VM name"), vcpus, memory)
        return self._adopt(check_ptr(ptr, "vm_create_on"))

    def define_xml(self, xml):
        """Define a VM from libvirt domain XML."""
        ptr = lib.vm_define_xml(self._ptr, encode(xml, "domain XML"))
        return self._adopt(check_ptr(ptr, "vm_define_xml"))

    def define_json(self, config):
        """Define a VM from a QuantaVirt JSON config (a str or a dict)."""
        if isinstance(config, (dict, list)):
            config = _json.dumps(config)
        ptr = lib.vm_define_json(self._ptr, encode(config, "JSON config"))
        return self._adopt(check_ptr(ptr, "vm_define_json"))

    def lookup(self, name):
        """The VM called name; raises qv.NotFoundError."""
        ptr = lib.vm_lookup(self._ptr, encode(name, "VM name"))
        return self._adopt(check_ptr(ptr, "vm_lookup"))

    def vm_names(self):
        """The names of all VMs, sorted."""
        out = ffi.new("char ***")
        check(lib.vm_list(self._ptr, out, ffi.NULL))
        try:
            names = []
            i = 0
            while out[0][i] != ffi.NULL:
                names.append(ffi.string(out[0][i]).decode("utf-8", "replace"))
                i += 1
            return names
        finally:
            lib.qv_strv_free(out[0])

    def list_vms(self):
        """All VMs, sorted by name. A VM removed meanwhile is left out."""
        vms = []
        for name in self.vm_names():
            try:
                vms.append(self.lookup(name))
            except NotFoundError:
                pass
        return vms

    def __contains__(self, name):
        return name in self.vm_names()

    def __iter__(self):
        return iter(self.list_vms())


def connect(uri=None):
    """Open a connection; uri None means $QV_DEFAULT_URI, else kvm:///embed."""
    u = ffi.NULL if uri is None else encode(uri, "URI")
    return Connection(check_ptr(lib.qv_connect(u), "qv_connect"))


def list_drivers():
    """The drivers compiled into libqv, e.g. ['noop', 'kvm']."""
    out = ffi.new("char ***")
    count = ffi.new("size_t *")
    check(lib.qv_list_drivers(out, count))
    try:
        return [ffi.string(out[0][i]).decode() for i in range(count[0])]
    finally:
        lib.qv_strv_free(out[0])


def qemu_probe(accel, cpu_model=None, emulator=None):
    """Whether QEMU runs guests here with accel ("kvm", "tcg") and cpu_model
    (None: QEMU's default): (True, None) or (False, reason), reason being
    QEMU's own message or "/dev/kvm missing". Cached per boot."""
    reason = ffi.new("char **")
    e = ffi.NULL if emulator is None else encode(emulator, "emulator")
    c = ffi.NULL if cpu_model is None else encode(cpu_model, "CPU model")
    rc = lib.qv_qemu_probe(e, encode(accel, "accelerator"), c, reason)
    check(rc)
    try:
        return (rc == 1, None if reason[0] == ffi.NULL else ffi.string(reason[0]).decode())
    finally:
        lib.qv_free(reason[0])
