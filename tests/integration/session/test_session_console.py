"""kvm:///session keeps the guest's console in console.log across runs
(qv-vmm appends to it) and says where the current run's part begins
(vm_console_log), so a console attached late still shows the run from its
first byte. qv-vmm hosts noop:/// VMs here, whose console.log holds only
qv-vmm's note that there is no console to relay: enough to see the offset
move from run to run."""
import os
import subprocess

import pytest

QV = os.environ.get("QV_CLI")
VMM = os.environ.get("QV_VMM")


@pytest.fixture
def uri(tmp_path):
    if not QV or not VMM:
        pytest.fail("QV_CLI and QV_VMM must be set (run through ctest)")
    root = tmp_path / "root"
    root.mkdir()
    u = f"kvm:///session?root={root}&vmm_uri=noop:///"
    yield u, root
    subprocess.run([QV, "-c", u, "vm", "destroy", "c"], capture_output=True, timeout=60)


def py(code, uri):
    p = subprocess.run(["/usr/bin/python3", "-c", "import qv\nc = qv.connect(%r)\n%s" % (uri, code)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def test_console_log_start_moves_with_each_run(uri):
    u, root = uri
    log = root / "kvm" / "c" / "console.log"
    out = py("""
vm = c.define_xml('''<domain type='kvm'><name>c</name><memory unit='MiB'>64</memory>
<vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>''')
print(vm.console_log())
vm.start()
print(vm.console_log())
vm.stop(force=True)
print(vm.console_log())
vm.start()
print(vm.console_log())
vm.stop(force=True)
""", u).splitlines()
    runs = [eval(line) for line in out]
    assert all(p == str(log) for p, _ in runs), runs
    # Not running: 0, the whole log. The first run starts at its
    # beginning, the second where the first one's output ended.
    assert runs[0][1] == 0 and runs[1][1] == 0 and runs[2][1] == 0, runs
    size_after_first = runs[3][1]
    assert size_after_first > 0, runs
    text = log.read_bytes()
    assert len(text) > size_after_first
    assert text[size_after_first:].count(b"no console to relay") == 1, text
