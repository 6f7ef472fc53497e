"""kvm:///session with real KVM guests: the bundled hello guest runs in its
own qv-vmm on kvm:///embed, started by one `qv` and watched by others, as
README's first command does it. Skipped, with the reason, where /dev/kvm is
not usable (the process layer itself is tested on noop in
test_session.py)."""
import fcntl
import os
import subprocess
import time
from pathlib import Path

import pytest

QV = os.environ.get("QV_CLI")
VMM = os.environ.get("QV_VMM")
GUESTS = Path(os.environ.get("QV_GUESTS_DIR", "/nonexistent"))


def kvm_usable():
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        return f"/dev/kvm cannot be opened: {e.strerror}"
    try:
        if fcntl.ioctl(fd, 0xAE00) != 12:  # KVM_GET_API_VERSION
            return "/dev/kvm speaks another KVM API version"
    finally:
        os.close(fd)
    return None


@pytest.fixture
def env(tmp_path):
    if not QV or not VMM:
        pytest.fail("QV_CLI and QV_VMM must be set (run through ctest)")
    why = kvm_usable()
    if why:
        pytest.skip(why)
    hello = GUESTS / "hello.elf"
    if not hello.is_file():
        pytest.skip(f"{hello} was not built (nasm or the guest toolchain is missing)")
    root = tmp_path / "root"
    root.mkdir(mode=0o700)
    e = {"root": root, "tmp": tmp_path, "hello": hello,
         "env": {**os.environ, "QV_STATE_DIR": str(root), "QV_VMM": VMM}}
    e["env"].pop("QV_DEFAULT_URI", None)
    yield e
    subprocess.run([QV, "vm", "destroy", "hello"], env=e["env"], capture_output=True, timeout=60)


def qv(e, *args, check=True):
    # No -c: where KVM is usable the CLI's default is kvm:///session.
    p = subprocess.run([QV, *args], env=e["env"], capture_output=True, text=True, timeout=60)
    if check:
        assert p.returncode == 0, f"qv {' '.join(args)}: {p.stdout}{p.stderr}"
    return p


def show(e, name):
    return dict(l.split(":", 1) for l in qv(e, "vm", "show", name).stdout.splitlines()
                if ":" in l)


def test_hello_guest_in_its_own_vmm(env):
    xml = env["tmp"] / "hello.xml"
    xml.write_text(f"""<domain type='kvm'>
  <name>hello</name>
  <memory unit='MiB'>16</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type><kernel>{env['hello']}</kernel></os>
  <devices><serial type='pty'><target port='0'/></serial></devices>
</domain>
""")
    qv(env, "vm", "create", "--xml", str(xml))
    assert qv(env, "system", "info").stdout.count("kvm:///session") == 1
    qv(env, "vm", "start", "hello")
    # The guest greets and leaves through isa-debug-exit: qv-vmm ends and
    # the VM is stopped with reason shutdown.
    deadline = time.monotonic() + 60
    while "stopped" not in show(env, "hello")["State"] and time.monotonic() < deadline:
        time.sleep(0.1)
    info = show(env, "hello")
    assert info["State"].strip() == "stopped (shutdown)", info
    log = (env["root"] / "kvm" / "hello" / "console.log").read_text(errors="replace")
    assert "Hello from a qv guest!" in log and "booted by a multiboot loader" in log, log
    # A console asked for after the guest finished replays its log.
    out = qv(env, "vm", "console", "hello")
    assert "Hello from a qv guest!" in out.stdout, out
    # And the VM starts again, from a new qv-vmm.
    qv(env, "vm", "start", "hello")
    deadline = time.monotonic() + 60
    while "stopped" not in show(env, "hello")["State"] and time.monotonic() < deadline:
        time.sleep(0.1)
    log = (env["root"] / "kvm" / "hello" / "console.log").read_text(errors="replace")
    assert log.count("Hello from a qv guest!") == 2, log
