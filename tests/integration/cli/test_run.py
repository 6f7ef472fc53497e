"""vm run: the generic side on the noop driver (a noop guest never stops by
itself, so the run ends by another qv stopping it or by a signal), and a
real guest on kvm:///embed when /dev/kvm and a test payload are there."""

import os
import re
import signal
import subprocess
import time

import pytest

from conftest import QV, parse_table, run_qv

LIST_HEADERS = ["NAME", "STATE", "VCPUS", "MEMORY", "UUID"]


def start_run(uri, *args):
    env = dict(os.environ)
    env.pop("QV_DEFAULT_URI", None)
    return subprocess.Popen([QV, "-c", uri, "vm", "run", *map(str, args)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def wait_running(cli, name, proc, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, proc.communicate()
        rows = parse_table(cli.ok("vm", "list").out, LIST_HEADERS)
        if any(r["NAME"] == name and r["STATE"] == "running" for r in rows):
            return
        time.sleep(0.05)
    proc.kill()
    pytest.fail("VM %s never ran: %s" % (name, proc.communicate()))


@pytest.fixture
def kernel(tmp_path):
    f = tmp_path / "kernel.bin"
    f.write_bytes(b"\xf4" * 512)  # noop never executes it
    return f


def test_run_kernel_defines_transient_vm(cli, kernel, tmp_path):
    initrd = tmp_path / "initrd.img"
    initrd.write_bytes(b"\0" * 16)
    p = start_run(cli.uri, "--kernel", kernel, "--initrd", initrd, "--append",
                  "console=ttyS0 a<b&c", "--memory", "64M", "--vcpus", "2")
    name = "run-%d" % p.pid
    wait_running(cli, name, p)
    xml = cli.ok("vm", "show", name, "--xml").out
    assert "<kernel>%s</kernel>" % kernel in xml, xml
    assert "<initrd>%s</initrd>" % initrd in xml, xml
    assert "<cmdline>console=ttyS0 a&lt;b&amp;c</cmdline>" in xml, xml
    assert re.search(r"<serial type=.stdio.", xml), xml
    row = [r for r in parse_table(cli.ok("vm", "list").out, LIST_HEADERS) if r["NAME"] == name]
    assert row[0]["VCPUS"] == "2" and row[0]["MEMORY"] == "64 MiB", row
    # Stopped from elsewhere: a power-off, so status 0, and the VM is gone.
    cli.ok("vm", "stop", name, "--force")
    out, err = p.communicate(timeout=20)
    assert p.returncode == 0, (out, err)
    assert parse_table(cli.ok("vm", "list", "--all").out, LIST_HEADERS) == []


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_run_signal_forces_stop(cli, kernel, sig, code):
    p = start_run(cli.uri, "--kernel", kernel)
    name = "run-%d" % p.pid
    wait_running(cli, name, p)
    t0 = time.monotonic()
    p.send_signal(sig)
    out, err = p.communicate(timeout=20)
    assert p.returncode == code, (out, err)
    assert time.monotonic() - t0 < 5
    assert parse_table(cli.ok("vm", "list", "--all").out, LIST_HEADERS) == []


def test_run_xml(cli, kernel, tmp_path):
    f = tmp_path / "run.xml"
    f.write_text("<domain type='test'>\n  <name>fromxml</name>\n"
                 "  <memory unit='MiB'>32</memory>\n  <vcpu>1</vcpu>\n"
                 "  <os><type arch='x86_64'>hvm</type><kernel>%s</kernel></os>\n"
                 "</domain>\n" % kernel)
    p = start_run(cli.uri, "--xml", f)
    wait_running(cli, "fromxml", p)
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=20)
    assert p.returncode == 143
    assert parse_table(cli.ok("vm", "list", "--all").out, LIST_HEADERS) == []


def test_run_define_error_leaves_nothing(cli, tmp_path):
    f = tmp_path / "bad.xml"
    f.write_text("<domain type='test'><name>x</name></domain>")
    r = cli.fails(1, "vm", "run", "--xml", f)
    assert parse_table(cli.ok("vm", "list", "--all").out, LIST_HEADERS) == []
