"""Snapshots of a VM: vm.snapshots.create(name), .list(), .restore(name),
.delete(name); each of create/restore/delete takes progress=callable."""

import collections
import datetime

from ._native import encode, ffi, lib
from .enums import State, coerce
from .errors import check, UnsupportedError


class Snapshot:
    """One snapshot as listed: name, created (an aware UTC datetime), size in
    bytes, and the state the VM was in when it was taken."""

    def __init__(self, owner, c):
        self._owner = owner
        self.name = ffi.string(c.name).decode("utf-8", "replace")
        self.created = datetime.datetime.fromtimestamp(c.created, datetime.timezone.utc)
        self.size = c.size
        self.state = coerce(State, c.state)

    def restore(self):
        self._owner.restore(self.name)

    def delete(self):
        self._owner.delete(self.name)

    def __repr__(self):
        return "<qv.Snapshot %r %s size=%d state=%s>" % (
            self.name, self.created.isoformat(), self.size,
            getattr(self.state, "name", self.state))


Progress = collections.namedtuple(
    "Progress", "operation snapshot job status current total elapsed_ms")
Progress.__doc__ = """How far a snapshot job has got (struct snapshot_progress):
total is 0 when the driver does not know it; status "concluded" comes last."""


def _with_progress(plain, call, progress, *args):
    """Run lib.snapshot_X_progress (call) with a Python callable for
    progress, or lib.snapshot_X (plain) without one. An exception the
    callable raises is raised once the call has returned: it cannot cross
    the C frames."""
    if progress is None:
        return plain(*args)
    raised = []

    def text(p):
        return ffi.string(p).decode("utf-8", "replace") if p != ffi.NULL else None

    @ffi.callback("void(struct vm *, const struct snapshot_progress *, void *)")
    def trampoline(_vm, p, _opaque):
        if raised:
            return
        try:
            progress(Progress(text(p.operation), text(p.snapshot), text(p.job), text(p.status),
                              p.current, p.total, p.elapsed_ms))
        except BaseException as e:  # noqa: B036 - re-raised below
            raised.append(e)

    rc = call(*args, trampoline, ffi.NULL)
    if raised:
        raise raised[0]
    return rc


class Snapshots:
    """The snapshots of one VM; iterable, sized, supports `name in`."""

    def __init__(self, vm):
        self._vm = vm

    def create(self, name, disk_only=False, progress=None, incremental=False):
        """Take a snapshot called name; returns it as listed (None on a
        driver that can take snapshots but not list them). progress, when
        given, is called with a Progress while a driver's job runs.
        incremental: memory as the pages written since the VM's previous
        snapshot (kvm; other drivers raise UnsupportedError)."""
        flags = lib.SNAPSHOT_DISK_ONLY if disk_only else 0
        if incremental:
            flags |= lib.SNAPSHOT_INCREMENTAL
        check(_with_progress(lib.snapshot_create, lib.snapshot_create_progress, progress,
                             self._vm._handle(), encode(name, "snapshot name"), flags))
        try:
            listed = self.list()
        except UnsupportedError:
            return None
        return next((s for s in listed if s.name == name), None)

    def list(self):
        """All snapshots, oldest first."""
        out = ffi.new("struct snapshot_info **")
        count = ffi.new("size_t *")
        check(lib.snapshot_list(self._vm._handle(), out, count))
        try:
            return [Snapshot(self, out[0][i]) for i in range(count[0])]
        finally:
            lib.snapshot_info_free(out[0], count[0])

    def restore(self, name, progress=None):
        check(_with_progress(lib.snapshot_restore, lib.snapshot_restore_progress, progress,
                             self._vm._handle(), encode(name, "snapshot name")))

    def delete(self, name, progress=None):
        check(_with_progress(lib.snapshot_delete, lib.snapshot_delete_progress, progress,
                             self._vm._handle(), encode(name, "snapshot name")))

    def __iter__(self):
        return iter(self.list())

    def __len__(self):
        return len(self.list())

    def __contains__(self, name):
        return any(s.name == name for s in self.list())

    def __repr__(self):
        return "<qv.Snapshots of VM %r>" % self._vm._name
