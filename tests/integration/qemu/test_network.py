"""<interface type='network'> on the qemu driver (qemu_network.c): a start
joins an active libvirt network's bridge, maps 'default' to user-mode
networking when libvirt has no such network running, and refuses any other
network, naming it. The definition keeps type='network'."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

SRC = Path(os.environ.get("QV_SOURCE_DIR", Path(__file__).resolve().parents[3]))
QV = os.environ.get("QV_CLI")

DOC = """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <interface type='network'>
      <source network='{network}'/>
      <mac address='52:54:00:aa:bb:0{n}'/>
      <model type='virtio'/>
    </interface>
  </devices>
</domain>
"""


@pytest.fixture
def env(tmp_path):
    if not QV:
        pytest.fail("QV_CLI is not set (run through ctest)")
    if not shutil.which("qemu-system-x86_64"):
        pytest.skip("qemu-system-x86_64 is not installed")
    status = tmp_path / "libvirt-network"
    status.mkdir()
    e = dict(os.environ, QV_LIBVIRT_NETWORK_DIR=str(status))
    return f"qemu:///session?root={tmp_path}", tmp_path, e, status


def qv(env, *args):
    uri, _, e, _ = env
    return subprocess.run([QV, "-c", uri, *args], capture_output=True, text=True, timeout=120,
                          env=e)


def define(env, name, network, n):
    path = env[1] / f"{name}.xml"
    path.write_text(DOC.format(name=name, network=network, n=n))
    p = qv(env, "vm", "create", "--xml", str(path))
    assert p.returncode == 0, p.stderr


def test_default_network_without_libvirt_is_user_networking(env):
    define(env, "net-default", "default", 1)
    p = qv(env, "vm", "start", "net-default")
    try:
        assert p.returncode == 0, p.stderr
        rt = json.loads((env[1] / "qemu" / "net-default" / "runtime.json").read_text())
        assert "-netdev user,id=net0" in rt["cmdline"], rt["cmdline"]
        # The user keeps what they wrote.
        shown = qv(env, "vm", "show", "net-default", "--xml").stdout
        assert "<interface type=\"network\">" in shown or "type='network'" in shown, shown
        assert "network=\"default\"" in shown or "network='default'" in shown, shown
        log = (env[1] / "qemu" / "net-default" / "qv.log").read_text()
        assert "user-mode networking" in log, log
    finally:
        qv(env, "vm", "destroy", "net-default")


def test_inactive_network_is_refused_at_start_naming_it(env):
    define(env, "net-other", "lab", 2)
    p = qv(env, "vm", "start", "net-other")
    assert p.returncode != 0
    assert "libvirt network 'lab'" in p.stderr and "not active" in p.stderr, p.stderr
    assert "State:        created" in qv(env, "vm", "show", "net-other").stdout


def test_a_record_naming_a_missing_bridge_counts_as_inactive(env):
    # libvirtd's record of an active network, left behind after its bridge went.
    (env[3] / "lab.xml").write_text(
        "<networkstatus><network><name>lab</name>"
        "<bridge name='qvnobr0' stp='on' delay='0'/></network></networkstatus>")
    define(env, "net-stale", "lab", 3)
    p = qv(env, "vm", "start", "net-stale")
    assert p.returncode != 0
    assert "libvirt network 'lab'" in p.stderr, p.stderr


@pytest.mark.parametrize("network", ["../qemu/x", "a/b", "..", "lab:1"])
def test_a_network_name_that_is_no_file_name_is_refused_at_define(env, network):
    path = env[1] / "bad.xml"
    path.write_text(DOC.format(name="net-bad", network=network, n=4))
    p = qv(env, "vm", "create", "--xml", str(path))
    assert p.returncode != 0
    assert f"network='{network}'" in p.stderr and "not a network name" in p.stderr, p.stderr
    assert qv(env, "vm", "show", "net-bad").returncode != 0


def test_a_fifo_as_network_record_is_refused_without_blocking(env):
    # Reading a FIFO nobody writes to would hang the start for ever.
    os.mkfifo(env[3] / "lab.xml")
    define(env, "net-fifo", "lab", 5)
    p = qv(env, "vm", "start", "net-fifo")
    assert p.returncode != 0
    assert "lab.xml is not a regular file" in p.stderr, p.stderr
    assert "State:        created" in qv(env, "vm", "show", "net-fifo").stdout
