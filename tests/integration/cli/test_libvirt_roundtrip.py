"""libvirt takes back what qv gives it: each document of the libvirt corpus
(tests/data/xml/libvirt, as `virsh dumpxml` wrote it) and of the
virt-install corpus (tests/data/xml/virtinst, as `virt-install --print-xml`
wrote it) is defined in qv
(noop:///DIR) and its `qv vm show --xml` defined in libvirt's embedded QEMU
driver; `virsh dumpxml --inactive` of that must be what libvirt makes of
the original document itself. For an inactive document that is the
document; for a running one, the inactive domain libvirt keeps of it."""

import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

SRC = Path(os.environ.get("QV_SOURCE_DIR", Path(__file__).resolve().parents[3]))
CORPORA = [SRC / "tests/data/xml/libvirt", SRC / "tests/data/xml/virtinst"]
DOCS = sorted(f"{c.name}/{p.name}" for c in CORPORA for p in c.glob("*.xml"))


def virsh(uri, commands, timeout):
    """virsh on libvirt's embedded QEMU driver at uri. Where /dev/kvm is
    root's alone (mode 0600, no udev here to give it to the kvm group),
    libvirt probes QEMU with KVM as root but then finds KVM unusable by its
    qemu user, so it throws its capabilities cache away on every call and
    probes again: about 30 s a call. No document here is a KVM domain, so
    virsh runs in a mount namespace of its own where /dev/kvm is a device
    node that opens nothing: libvirt probes TCG once and keeps that."""
    argv = ["virsh", "-q", "-c", uri, commands]
    scratch = uri.split("root=", 1)[1] + ".nokvm"
    if os.path.exists("/dev/kvm") and os.geteuid() == 0 and shutil.which("unshare"):
        os.makedirs(scratch, mode=0o700, exist_ok=True)
        hide = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                'mount -t tmpfs -o mode=0700 qv-nokvm "$0" && mknod -m 0600 "$0/kvm" c 10 255 '
                '&& mount --bind "$0/kvm" /dev/kvm || exit 111; exec "$@"', scratch]
        p = subprocess.run(hide + argv, capture_output=True, text=True, timeout=timeout)
        if p.returncode != 111:
            return p
        # No mount namespace here (a container without CAP_SYS_ADMIN):
        # plain virsh, slow where libvirt probes KVM on every call.
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def libvirt(tmp_path_factory):
    if not shutil.which("virsh"):
        pytest.skip("virsh is not installed (package libvirt-clients)")
    root = tmp_path_factory.mktemp("libvirt-embed")
    uri = "qemu:///embed?root=%s" % root
    p = virsh(uri, "uri", 60)
    if p.returncode != 0:
        pytest.skip("libvirt's embedded QEMU driver cannot open here: %s" % p.stderr.strip())
    return uri


def as_libvirt_keeps(uri, path, name, original=False):
    """What libvirt's define makes of the document at path."""
    p = virsh(uri, "define %s; dumpxml --inactive %s; undefine %s" % (path, name, name), 120)
    if original and p.returncode != 0:
        # e.g. a <tpm> emulator while swtpm is not installed: libvirt checks
        # the host at define, so there is nothing to compare against here.
        pytest.skip("libvirt here refuses the original: %s" % p.stderr.strip())
    assert p.returncode == 0, p.stderr
    start = p.stdout.index("<domain")
    end = p.stdout.rindex("</domain>") + len("</domain>")
    return p.stdout[start:end]


def canonical(xml):
    root = ET.fromstring(xml)
    for e in root.iter():
        e.text = e.text.strip() or None if e.text else None
        e.tail = None
    return ET.canonicalize(ET.tostring(root)).replace("><", ">\n<")


@pytest.mark.parametrize("doc", DOCS)
def test_libvirt_defines_qvs_output_as_the_original(cli, libvirt, tmp_path, doc):
    path = SRC / "tests/data/xml" / doc
    text = path.read_text()
    name = re.search(r"<name>([^<]+)</name>", text).group(1)
    cli.ok("vm", "create", "--xml", str(path))
    out = tmp_path / "from-qv.xml"
    out.write_text(cli.ok("vm", "show", name, "--xml").out)
    want = canonical(as_libvirt_keeps(libvirt, path, name, original=True))
    got = canonical(as_libvirt_keeps(libvirt, out, name))
    assert got == want
