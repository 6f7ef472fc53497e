"""qemu:///session through the Python layer. Skipped, with the reason, when
qemu-system-x86_64 is not installed or the qemu driver is not compiled in."""

import os
import subprocess

import pytest

import qv

from conftest import require_qemu


@pytest.fixture
def qemu(tmp_path):
    require_qemu()
    with qv.connect("qemu:///session?root=%s" % (tmp_path / "state")) as conn:
        yield conn


def test_lifecycle_on_qemu(qemu):
    vm = qemu.create_vm("py-qemu", vcpus=1, memory=64 * qv.MiB)
    try:
        assert vm.state is qv.State.CREATED
        vm.start()
        assert vm.state is qv.State.RUNNING
        vm.pause()
        assert vm.state is qv.State.PAUSED
        with pytest.raises(qv.InvalidStateError, match="it is paused"):
            vm.pause()
        vm.resume()
        assert vm.state is qv.State.RUNNING
        vm.stop(force=True)
        assert vm.state is qv.State.STOPPED
        assert "<name>py-qemu</name>" in vm.xml
        assert qemu.lookup("py-qemu") is vm
    finally:
        vm.destroy()
    assert "py-qemu" not in qemu.vm_names()


def test_register_access_is_unsupported_on_qemu(qemu):
    vm = qemu.create_vm("py-qemu-regs")
    try:
        with pytest.raises(qv.UnsupportedError, match="qemu"):
            vm.vcpu(0)
    finally:
        vm.destroy()


def test_qemu_probe(qemu):
    assert qv.qemu_probe("tcg") == (True, None)
    ok, why = qv.qemu_probe("tcg", cpu_model="nosuchmodel")
    assert not ok and "unable to find CPU model 'nosuchmodel'" in why
    ok, why = qv.qemu_probe("kvm", cpu_model="host")
    if not os.path.exists("/dev/kvm"):
        assert (ok, why) == (False, "/dev/kvm missing")
    with pytest.raises(qv.InvalidArgumentError):
        qv.qemu_probe("tcg", cpu_model="max,+x")


def test_snapshot_progress_on_qemu(qemu, tmp_path):
    """A running VM's snapshot jobs report to progress=, ending concluded;
    an exception in the callable comes out of the call once it is done."""
    disk = tmp_path / "p.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "16M"], check=True)
    vm = qemu.define_xml(
        "<domain type='qemu'><name>py-snap</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64'>hvm</type></os><devices><disk type='file' device='disk'>"
        "<driver name='qemu' type='qcow2'/><source file='%s'/><target dev='vda' bus='virtio'/>"
        "</disk></devices></domain>" % disk)
    try:
        vm.start()
        heard = []
        snap = vm.snapshots.create("s1", progress=heard.append)
        assert snap.name == "s1" and snap.state is qv.State.RUNNING
        assert heard and all(p.operation == "create" and p.snapshot == "s1" for p in heard)
        assert heard[-1].status == "concluded" and heard[-1].job.startswith("qv-snapshot-save-")
        assert heard[-1].current == heard[-1].total > 0

        def boom(p):
            raise KeyError("from the callback")
        with pytest.raises(KeyError, match="from the callback"):
            vm.snapshots.restore("s1", progress=boom)
        assert vm.state is qv.State.RUNNING  # the restore itself went through
        heard.clear()
        vm.snapshots.delete("s1", progress=heard.append)
        assert heard[-1].operation == "delete" and heard[-1].status == "concluded"
        assert len(vm.snapshots) == 0
    finally:
        vm.destroy()
