"""qemu:///session through the Python layer. Skipped, with the reason, when
qemu-system-x86_64 is not installed or the qemu driver is not compiled in."""

import os

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
