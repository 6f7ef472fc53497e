"""The examples print what they promise (ctest also runs each one; this
checks their output)."""

import os
import subprocess
import sys

import pytest

import qv

from conftest import BUILD_DIR, SOURCE_DIR, python_env, require_driver

EXAMPLES = os.path.join(SOURCE_DIR, "examples")
STATES = ["create   -> created", "start    -> running", "pause    -> paused",
          "resume   -> running", "stop     -> stopped",
          "pause    -> refused: cannot pause VM 'lifecycle-demo': it is stopped",
          "destroy  -> gone"]


def run(argv):
    env = python_env() if argv[0] == sys.executable else None
    res = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode == 0, res.stderr
    return res.stdout.splitlines()


def c_example(name):
    path = os.path.join(BUILD_DIR, "examples", name)
    if not os.path.exists(path):
        pytest.fail("example %s is not built (expected at %s)" % (name, path))
    return path


def test_python_and_c_lifecycle_print_the_same(tmp_path):
    require_driver("noop")
    py = run([sys.executable, os.path.join(EXAMPLES, "lifecycle.py"), "noop:///"])
    c = run([c_example("lifecycle"), "noop:///"])
    assert py[1:] == STATES
    assert c == py


def test_list_vms_prints_a_table(tmp_path):
    require_driver("noop")
    uri = "noop://" + str(tmp_path)
    with qv.connect(uri) as conn:
        conn.create_vm("alpha", vcpus=2, memory=256 * qv.MiB)
        beta = conn.create_vm("beta", vcpus=1, memory=64 * qv.MiB)
        beta.start()
        beta.snapshots.create("s1")
        uuid = beta.uuid
    lines = run([sys.executable, os.path.join(EXAMPLES, "list_vms.py"), uri])
    assert lines[0].split() == ["NAME", "STATE", "VCPUS", "MEMORY", "SNAPSHOTS", "UUID"]
    assert lines[1].split() == ["alpha", "created", "2", "256", "MiB", "0"] + lines[1].split()[-1:]
    assert lines[2].split() == ["beta", "running", "1", "64", "MiB", "1", uuid]
    assert lines[3] == "2 VMs on %s" % uri


def test_snapshot_clone_example():
    require_driver("noop")
    out = run([c_example("snapshot_clone"), "noop:///"])
    assert out[0].split() == ["NAME", "CREATED", "SIZE", "STATE"]
    assert [line.split()[0] for line in out[1:3]] == ["base", "running"]
    assert out[3] == "restored 'base': memory says 'original', VM is created"
    assert out[4].startswith("clone 'snap-demo-clone': uuid ")


def test_hello_vm_example_says_hello():
    from conftest import require_kvm
    require_kvm()
    assert run([c_example("hello_vm")]) == ["Hello from a qv guest!"]


def test_tracer_example_prints_each_rip():
    from conftest import require_kvm
    require_kvm()
    out = run([c_example("tracer")])
    linear = [int(line.split("linear ")[1].split(")")[0], 16)
              for line in out if line.startswith("step")]
    assert linear == [0x1000, 0x1002] + [0x1005, 0x1007] * 3 + [0x1009]
    assert all("rip=0x" in line for line in out if line.startswith("step"))
    assert out[-1] == "guest reported 6 after 9 instructions"


def test_lifecycle_examples_on_qemu(tmp_path):
    from conftest import require_qemu
    require_qemu()
    uri = "qemu:///session?root=%s" % tmp_path
    py = run([sys.executable, os.path.join(EXAMPLES, "lifecycle.py"), uri, "py-life"])
    c = run([c_example("lifecycle"), uri, "py-life"])
    assert py[0] == c[0] == "connected to %s (driver qemu)" % uri
    assert py[1:] == c[1:] == [s.replace("lifecycle-demo", "py-life") for s in STATES]
