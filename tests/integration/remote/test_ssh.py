"""noop+ssh:// through a real OpenSSH sshd on 127.0.0.1 (conftest.py
starts it with its own host key, config and authorized_keys). The remote
host is this machine, so what the remote side holds is checked through
noop:///DIR directly."""

import os
import subprocess
import threading
import time

import pytest

import qv

QV = os.environ.get("QV_CLI", "")


def test_lifecycle_snapshots_and_clone_over_ssh(sshd, state):
    uri = sshd.uri("noop", state)
    with qv.connect(uri) as c, qv.connect("noop://" + state) as local:
        assert c.driver == "remote"
        vm = c.create_vm("rs-web", vcpus=2, memory=64 * qv.MiB)
        assert local.lookup("rs-web").state is qv.State.CREATED
        vm.start()
        assert local.lookup("rs-web").state is qv.State.RUNNING
        vm.pause()
        assert vm.state is qv.State.PAUSED
        vm.resume()
        vm.snapshots.create("before")
        assert [s.name for s in local.lookup("rs-web").snapshots.list()] == ["before"]
        vm.stop()
        vm.snapshots.restore("before")
        assert local.lookup("rs-web").state is qv.State.RUNNING
        vm.stop()
        vm.clone("rs-copy")
        assert sorted(local.vm_names()) == ["rs-copy", "rs-web"]
        vm.snapshots.delete("before")
        assert local.lookup("rs-web").snapshots.list() == []
        vm.destroy()
        assert local.vm_names() == ["rs-copy"]
        with pytest.raises(qv.NotFoundError) as e:
            c.lookup("rs-web")
        assert e.value.origin == "noop"


def test_the_cli_takes_the_same_uri(sshd, state):
    uri = sshd.uri("noop", state)
    env = dict(os.environ, LC_ALL="C.UTF-8")
    r = subprocess.run([QV, "-c", uri, "vm", "create", "--name", "rs-cli"], capture_output=True,
                       text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([QV, "-c", "noop://" + state, "vm", "list", "--all"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert "rs-cli" in r.stdout


def test_an_unknown_host_key_is_refused_with_its_fingerprint(sshd, state, tmp_path):
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    with pytest.raises(qv.ConnectError) as e:
        qv.connect(sshd.uri("noop", state, known_hosts=empty))
    msg = str(e.value)
    assert sshd.host_fp in msg and str(empty) in msg and "no_verify=1" in msg
    # The documented opt-out.
    with qv.connect(sshd.uri("noop", state, known_hosts=empty, no_verify=1)) as c:
        assert c.vm_names() == []


def test_a_changed_host_key_is_refused(sshd, state, tmp_path):
    other = tmp_path / "other_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    pub = (tmp_path / "other_host_key.pub").read_text().split()
    kh = tmp_path / "changed_known_hosts"
    kh.write_text("[127.0.0.1]:%d %s %s\n" % (sshd.port, pub[0], pub[1]))
    with pytest.raises(qv.ConnectError) as e:
        qv.connect(sshd.uri("noop", state, known_hosts=kh))
    msg = str(e.value)
    assert "has changed" in msg and sshd.host_fp in msg and str(kh) in msg


def test_a_wrong_key_is_refused(sshd, state, tmp_path):
    wrong = tmp_path / "wrong_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(wrong)], check=True)
    with pytest.raises(qv.PermissionDeniedError) as e:
        qv.connect(sshd.uri("noop", state, key=wrong))
    msg = str(e.value)
    assert "authentication" in msg and str(wrong) in msg


def test_a_remote_without_that_qv_says_so(sshd, state):
    with pytest.raises(qv.ConnectError) as e:
        qv.connect(sshd.uri("noop", state, qv="/nonexistent/qv"))
    assert "no qv" in str(e.value) and "qv=" in str(e.value)


def test_a_remote_qv_printing_garbage_is_a_protocol_error(sshd, state, tmp_path):
    fake = tmp_path / "chatty-qv"
    fake.write_text("#!/bin/sh\necho 'Last login: yesterday'\nsleep 2\n")
    fake.chmod(0o755)
    with pytest.raises(qv.ProtocolError) as e:
        qv.connect(sshd.uri("noop", state, qv=fake))
    assert "Last login: yesterday" in str(e.value)


def test_a_killed_sshd_fails_the_call_in_flight_and_the_next_reconnects(sshd, state):
    with qv.connect(sshd.uri("noop", state, timeout=5)) as c:
        vm = c.create_vm("rs-kill")
        vm.start()
        err = {}

        def waiter():
            try:
                vm.wait(timeout=30)
            except qv.Error as e:
                err["e"] = e
        t = threading.Thread(target=waiter)
        t.start()
        # Kill once the wait's own helper runs: killing a remote shell in
        # its startup files can leave their locks behind (pyenv's rehash
        # lock did, and every later login then hung for a minute).
        deadline = time.monotonic() + 30
        while len(sshd.helpers()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(sshd.helpers()) == 2
        time.sleep(0.5)
        sshd.kill_all()
        t.join(15)
        assert not t.is_alive()
        assert isinstance(err.get("e"), qv.ConnectError), err
        assert "lost" in str(err["e"])
        # The main session died with sshd too: the first call after fails
        # naming the drop or the refused reconnect, never hangs.
        with pytest.raises(qv.ConnectError):
            vm.state
        sshd.start()
        # Back up: the next call reconnects.
        assert vm.state is qv.State.RUNNING
        vm.stop()


def test_qemu_system_and_session_paths_and_kvm_embed_refusal(sshd):
    with pytest.raises(qv.URIError) as e:
        qv.connect(sshd.uri("qemu", "/elsewhere"))
    assert "/system" in str(e.value) and "/session" in str(e.value)
    # kvm+ssh:// /system and /session are test_kvm_ssh.py's.
    with pytest.raises(qv.UnsupportedError) as e:
        qv.connect(sshd.uri("kvm", "/embed"))
    assert "kvm:///embed" in str(e.value) and "die with the connection" in str(e.value)
