"""Fixtures for the remote driver: a helper on a pipe (no SSH) and a real
OpenSSH sshd on 127.0.0.1 with its own host key, config and
authorized_keys, started by the test and stopped after.

$QV_CLI names the built qv (the remote side's qv, passed as qv=); the
Python bindings load the built libqv (tests/integration/remote.cmake).
$QV_VMM names the built qv-vmm, for kvm:///session: `vmm_bin` lays both
out as an installed host has them (qv-vmm beside qv), which is where a
remote qv looks, since sshd passes no environment of ours to it.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.environ.get("QV_SOURCE_DIR", ""), "tests", "python"))

QV = os.environ.get("QV_CLI", "")
VMM = os.environ.get("QV_VMM", "")
SSHD = "/usr/sbin/sshd"

# The ASan runtime preloaded into this interpreter must not reach sshd or
# the helpers' shells; the helper (the built qv) carries its own.
ASAN_PRELOAD = os.environ.pop("LD_PRELOAD", None)


@pytest.fixture
def qv_bin():
    assert QV and os.access(QV, os.X_OK), "QV_CLI must name the built qv binary"
    return QV


@pytest.fixture
def state(tmp_path):
    """A noop state directory both ends can see (the remote host is this
    machine)."""
    d = tmp_path / "state"
    d.mkdir(mode=0o700)
    return str(d)


@pytest.fixture(scope="session")
def vmm_bin(tmp_path_factory):
    """A bin directory holding copies of the built qv and qv-vmm, as an
    installed host has them: kvm:///session finds qv-vmm beside the
    running qv (/proc/self/exe, which a symlink would resolve back to the
    build tree). Returns the qv in it, to pass as qv=."""
    assert QV and VMM, "QV_CLI and QV_VMM must name the built qv and qv-vmm"
    d = tmp_path_factory.mktemp("remote-bin")
    shutil.copy2(QV, d / "qv")
    shutil.copy2(VMM, d / "qv-vmm")
    return str(d / "qv")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path, comment):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f",
                    str(path)], check=True)


def fingerprint(pub):
    out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(pub)],
                         capture_output=True, text=True, check=True).stdout
    return out.split()[1]


class Sshd:
    def __init__(self, tmp):
        self.dir = tmp
        self.port = free_port()
        self.host_key = tmp / "host_key"
        self.client_key = tmp / "client_key"
        self.known_hosts = tmp / "known_hosts"
        keygen(self.host_key, "qv-test-host")
        keygen(self.client_key, "qv-test-client")
        (tmp / "authorized_keys").write_text((tmp / "client_key.pub").read_text())
        os.chmod(tmp / "authorized_keys", 0o600)
        pub = (tmp / "host_key.pub").read_text().split()
        self.known_hosts.write_text("[127.0.0.1]:%d %s %s\n" % (self.port, pub[0], pub[1]))
        self.host_fp = fingerprint(tmp / "host_key.pub")
        self.config = tmp / "sshd_config"
        # StrictModes off: the temporary directory's modes are pytest's, not
        # a home directory's.
        self.config.write_text("\n".join([
            "Port %d" % self.port,
            "ListenAddress 127.0.0.1",
            "HostKey %s" % self.host_key,
            "AuthorizedKeysFile %s" % (tmp / "authorized_keys"),
            "PidFile %s" % (tmp / "sshd.pid"),
            "StrictModes no",
            "UsePAM no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "PermitRootLogin prohibit-password",
            "LogLevel VERBOSE",
            "",
        ]))
        self.log = open(tmp / "sshd.log", "w")
        self.proc = None
        self.start()

    def start(self):
        # Nor $QV_VMM: the remote qv finds qv-vmm as on an installed host.
        env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "QV_VMM")}
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.config)],
                                     stdout=self.log, stderr=self.log, env=env,
                                     start_new_session=True)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("sshd exited: " + (self.dir / "sshd.log").read_text())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sshd did not listen: " + (self.dir / "sshd.log").read_text())

    def descendants(self):
        """Every process below the listener: the sessions (which sshd puts
        in sessions of their own) and the helpers they run."""
        parent = {}
        for p in os.listdir("/proc"):
            if p.isdigit():
                try:
                    with open("/proc/%s/stat" % p) as f:
                        parent[int(p)] = int(f.read().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    pass
        out, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            kids = [c for c, pp in parent.items() if pp == pid]
            out += kids
            todo += kids
        return out

    def helpers(self, qv=QV):
        """The qv remote-helper processes (of the qv binary qv) running
        below this sshd (past the remote shell's startup)."""
        out = []
        for pid in self.descendants():
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if len(argv) > 1 and argv[0] == qv.encode() and argv[1] == b"remote-helper":
                out.append(pid)
        return out

    def kill_all(self):
        """The listener, its sessions and their helpers: what a host that
        goes down looks like."""
        if self.proc and self.proc.poll() is None:
            for pid in [self.proc.pid] + self.descendants():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.wait()

    def stop(self):
        self.kill_all()
        self.log.close()

    def uri(self, driver="noop", path="/", key=None, **params):
        params.setdefault("keyfile", str(key or self.client_key))
        params.setdefault("known_hosts", str(self.known_hosts))
        params.setdefault("qv", QV)
        params.setdefault("timeout", "10")
        q = "&".join("%s=%s" % kv for kv in params.items())
        return "%s+ssh://127.0.0.1:%d%s?%s" % (driver, self.port, path, q)


@pytest.fixture
def sshd(tmp_path):
    if not os.path.exists(SSHD):
        pytest.skip("%s is not installed (Debian package openssh-server)" % SSHD)
    if not shutil.which("ssh-keygen"):
        pytest.skip("ssh-keygen is not installed")
    if not os.path.isdir("/run/sshd"):
        if os.geteuid() != 0:
            pytest.skip("sshd needs /run/sshd, which only root can create")
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("this sshd setup logs in as root; run as root")
    d = tmp_path / "sshd"
    d.mkdir()
    s = Sshd(d)
    yield s
    s.stop()
