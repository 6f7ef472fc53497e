"""The remote protocol and helper without SSH: noop+pipe:// runs the built
`qv remote-helper` as a child on a socket pair. What the remote side holds
is checked through noop:///DIR directly."""

import json
import os
import struct
import subprocess
import threading
import time

import pytest

import qv


def pipe_uri(state, qv_bin, **params):
    params.setdefault("qv", qv_bin)
    return "noop+pipe://%s?%s" % (state, "&".join("%s=%s" % kv for kv in params.items()))


def script(tmp_path, name, body):
    p = tmp_path / name
    p.write_text("#!/usr/bin/python3\nimport os, sys, struct, json, time\n" + body)
    p.chmod(0o755)
    return str(p)


def test_lifecycle_snapshots_clone_land_on_the_remote_side(state, qv_bin):
    with qv.connect(pipe_uri(state, qv_bin)) as c, qv.connect("noop://" + state) as local:
        assert c.driver == "remote"
        vm = c.create_vm("rp-web", vcpus=2, memory=64 * qv.MiB)
        assert local.lookup("rp-web").state is qv.State.CREATED
        vm.start()
        assert vm.state is qv.State.RUNNING
        assert local.lookup("rp-web").state is qv.State.RUNNING
        vm.pause()
        assert local.lookup("rp-web").state is qv.State.PAUSED
        vm.resume()
        vm.snapshots.create("s1")
        assert [s.name for s in vm.snapshots.list()] == ["s1"]
        assert [s.name for s in local.lookup("rp-web").snapshots.list()] == ["s1"]
        vm.set_cpu_weight(512)
        assert "<shares>512</shares>" in local.lookup("rp-web").xml
        vm.stop()
        vm.clone("rp-copy")
        assert sorted(local.vm_names()) == ["rp-copy", "rp-web"]
        assert sorted(c.vm_names()) == ["rp-copy", "rp-web"]
        assert c.lookup("rp-copy").info.vcpus == 2
        vm.destroy()
        assert local.vm_names() == ["rp-copy"]


def test_state_dir_is_the_remote_sides(state, qv_bin, tmp_path):
    # The remote side's default state root differs from ours: a helper
    # started with its own QV_STATE_DIR.
    remote_root = str(tmp_path / "remote-root")
    helper = script(tmp_path, "qv-remote-env", "os.environ['QV_STATE_DIR'] = %r\n"
                    "os.execv(%r, [%r] + sys.argv[1:])\n" % (remote_root, qv_bin, qv_bin))
    with qv.connect("qemu+pipe:///session?qv=" + helper) as c:
        assert c.state_dir == remote_root


def test_errors_keep_code_origin_and_message(state, qv_bin):
    with qv.connect(pipe_uri(state, qv_bin)) as c:
        with pytest.raises(qv.NotFoundError) as e:
            c.lookup("rp-nosuch")
        assert e.value.origin == "noop"
        assert "rp-nosuch" in str(e.value)
        vm = c.create_vm("rp-err")
        with pytest.raises(qv.ExistsError) as e:
            c.create_vm("rp-err")
        assert e.value.origin == "noop"


def test_register_and_memory_calls_are_refused(state, qv_bin):
    with qv.connect(pipe_uri(state, qv_bin)) as c:
        vm = c.create_vm("rp-regs")
        for call in (lambda: vm.add_vcpu(0), lambda: vm.read_memory(0, 16),
                     lambda: vm.add_memory_region(0, 4096)):
            with pytest.raises(qv.UnsupportedError) as e:
                call()
            assert "is not available over a remote connection" in str(e.value)
            assert e.value.origin == "remote"


def test_a_long_wait_does_not_block_other_calls_on_the_vm(state, qv_bin):
    with qv.connect(pipe_uri(state, qv_bin)) as c:
        vm = c.create_vm("rp-wait")
        vm.start()
        done = {}

        def waiter():
            try:
                done["info"] = vm.wait(timeout=20)
            except qv.Error as e:
                done["error"] = e
        t = threading.Thread(target=waiter)
        t.start()
        time.sleep(0.5)
        t0 = time.monotonic()
        assert vm.state is qv.State.RUNNING  # answered while the wait runs
        assert time.monotonic() - t0 < 2
        vm.stop()
        t.join(20)
        assert not t.is_alive()
        assert done["info"].state is qv.State.STOPPED


def test_kvm_embed_remote_is_refused_naming_why(qv_bin):
    # kvm+pipe:///session and /system work (test_kvm_ssh.py); an embed VM
    # would live and die inside the helper.
    with pytest.raises(qv.UnsupportedError) as e:
        qv.connect("kvm+pipe:///embed?qv=" + qv_bin)
    assert "kvm:///embed" in str(e.value) and "die with the connection" in str(e.value)


def test_a_remote_printing_garbage_is_a_protocol_error(tmp_path):
    fake = script(tmp_path, "chatty", "sys.stdout.write('Welcome to host7!\\n'); sys.stdout.flush(); time.sleep(2)\n")
    with pytest.raises(qv.ProtocolError) as e:
        qv.connect("noop+pipe:///?qv=" + fake)
    assert "Welcome to host7!" in str(e.value)
    assert "not a qv-remote frame" in str(e.value)


HELLO = """
def frame(o):
    b = json.dumps(o).encode()
    sys.stdout.buffer.write(struct.pack('>I', len(b)) + b)
    sys.stdout.buffer.flush()
"""


def test_a_helper_of_another_version_is_refused_naming_both(tmp_path):
    fake = script(tmp_path, "future", HELLO +
                  "frame({'protocol': 'qv-remote', 'version': 7, 'qv': '9.0.0'}); time.sleep(2)\n")
    with pytest.raises(qv.ProtocolError) as e:
        qv.connect("noop+pipe:///?qv=" + fake)
    msg = str(e.value)
    assert "version 7" in msg and "version 1" in msg and "9.0.0" in msg


def test_a_helper_that_hangs_is_given_up_after_timeout(tmp_path):
    fake = script(tmp_path, "hang", "time.sleep(30)\n")
    t0 = time.monotonic()
    with pytest.raises(qv.TimeoutExpiredError) as e:
        qv.connect("noop+pipe:///?timeout=1&qv=" + fake)
    assert time.monotonic() - t0 < 5
    assert "1000 ms" in str(e.value)


def test_a_hung_call_is_given_up_after_timeout(tmp_path):
    # Greets and opens, then never answers the next request.
    fake = script(tmp_path, "stall", HELLO + """
frame({'protocol': 'qv-remote', 'version': 1, 'qv': '1.0.0'})
def read():
    n = struct.unpack('>I', sys.stdin.buffer.read(4))[0]
    return json.loads(sys.stdin.buffer.read(n))
r = read()
frame({'id': r['id'], 'result': {'driver': 'noop'}})
read()
time.sleep(30)
""")
    with qv.connect("noop+pipe:///?timeout=1&qv=" + fake) as c:
        t0 = time.monotonic()
        with pytest.raises(qv.TimeoutExpiredError) as e:
            c.vm_names()
        assert time.monotonic() - t0 < 5
        assert "sent nothing for 1000 ms" in str(e.value)


def test_a_helper_killed_mid_call_fails_the_call_and_the_next_reconnects(state, qv_bin):
    with qv.connect(pipe_uri(state, qv_bin)) as c:
        vm = c.create_vm("rp-kill")
        vm.start()
        helpers = subprocess.run(["pgrep", "-P", str(os.getpid()), "-f", "remote-helper"],
                                 capture_output=True, text=True).stdout.split()
        assert helpers
        err = {}

        def waiter():
            try:
                vm.wait(timeout=20)
            except qv.Error as e:
                err["e"] = e
        t = threading.Thread(target=waiter)
        t.start()
        time.sleep(0.5)
        now = subprocess.run(["pgrep", "-P", str(os.getpid()), "-f", "remote-helper"],
                             capture_output=True, text=True).stdout.split()
        for pid in set(now) - set(helpers):  # the waiter's own helper
            os.kill(int(pid), 9)
        t.join(10)
        assert isinstance(err.get("e"), qv.ConnectError), err
        assert "lost" in str(err["e"]) and "signal 9" in str(err["e"])
        # The main stream is untouched, and a new wait gets a new helper.
        assert vm.state is qv.State.RUNNING
        vm.stop()
        assert vm.wait(timeout=5).state is qv.State.STOPPED


def raw_helper(qv_bin):
    return subprocess.Popen([qv_bin, "remote-helper"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def send(p, obj):
    b = json.dumps(obj).encode()
    p.stdin.write(struct.pack(">I", len(b)) + b)
    p.stdin.flush()


def recv(p):
    n = struct.unpack(">I", p.stdout.read(4))[0]
    return json.loads(p.stdout.read(n))


def test_the_helper_refuses_a_client_of_another_version(qv_bin, state):
    p = raw_helper(qv_bin)
    hello = recv(p)
    assert hello["protocol"] == "qv-remote" and hello["version"] == 1
    send(p, {"id": 1, "method": "open", "params": {"version": 2, "uri": "noop://" + state}})
    r = recv(p)
    assert r["id"] == 1 and r["error"]["code"] == qv.ProtocolError.code
    assert "version 2" in r["error"]["message"] and "version 1" in r["error"]["message"]
    p.stdin.close()
    assert p.wait(5) == 0


def test_the_helper_refuses_remote_uris_and_calls_before_open(qv_bin):
    p = raw_helper(qv_bin)
    recv(p)
    send(p, {"id": 1, "method": "list", "params": {}})
    assert "before 'open'" in recv(p)["error"]["message"]
    send(p, {"id": 2, "method": "open", "params": {"version": 1, "uri": "noop+ssh://x/"}})
    assert "local URIs only" in recv(p)["error"]["message"]
    p.stdin.close()
    assert p.wait(5) == 0


@pytest.mark.parametrize("payload,why", [
    (struct.pack(">I", 64 << 20), "not a qv-remote frame"),
    (struct.pack(">I", 4000) + b"[" * 4000, "deep"),
    (struct.pack(">I", 5) + b"nope!", "line 1"),
])
def test_the_helper_stops_on_a_malformed_frame(qv_bin, payload, why):
    p = raw_helper(qv_bin)
    recv(p)
    p.stdin.write(payload)
    p.stdin.flush()
    p.stdin.close()
    assert p.wait(5) == 1
    err = p.stderr.read().decode()
    assert why in err, err


def test_an_error_inside_a_call_on_a_vm_keeps_its_message(state, qv_bin):
    # Regression: the helper dropped its VM handle (vm_free, a public call
    # that clears the thread's error) before replying, so every refusal the
    # remote driver made came back as "set failed".
    with qv.connect(pipe_uri(state, qv_bin)) as c, qv.connect("noop://" + state) as local:
        c.create_vm("rp-err")
        with pytest.raises(qv.InvalidArgumentError) as remote_err:
            c.lookup("rp-err").set_vcpus(1000)
        with pytest.raises(qv.InvalidArgumentError) as local_err:
            local.lookup("rp-err").set_vcpus(1000)
        assert str(remote_err.value) == str(local_err.value)
        assert "1000 vCPUs" in str(remote_err.value)
        assert remote_err.value.origin == local_err.value.origin


DISK = ("<disk type='file' device='disk'><source file='/var/tmp/rp-data.img'/>"
        "<target dev='vdb' bus='virtio'/></disk>")
NIC = "<interface type='user'><mac address='52:54:00:12:34:56'/><model type='virtio'/></interface>"


def test_devices_attach_and_detach_on_the_remote_side_with_the_same_errors(state, qv_bin):
    with qv.connect(pipe_uri(state, qv_bin)) as c, qv.connect("noop://" + state) as local:
        vm = c.create_vm("rp-dev")
        c.create_vm("rp-dev-local")
        vm.attach_device(DISK)
        vm.attach_device(NIC)
        xml = local.lookup("rp-dev").xml
        assert "/var/tmp/rp-data.img" in xml and "52:54:00:12:34:56" in xml
        # The same refusals as locally: code, origin and message.
        lvm = local.lookup("rp-dev-local")
        lvm.attach_device(DISK)
        for op, dev, err in [("attach_device", DISK, qv.ExistsError),
                             ("detach_device", NIC.replace("56", "57"), qv.NotFoundError)]:
            with pytest.raises(err) as remote_err:
                getattr(vm, op)(dev)
            with pytest.raises(err) as local_err:
                getattr(lvm, op)(dev)
            assert (str(remote_err.value).replace("rp-dev", "VM") ==
                    str(local_err.value).replace("rp-dev-local", "VM"))
            assert remote_err.value.origin == local_err.value.origin
        vm.detach_device(DISK)
        vm.detach_device(NIC)
        xml = local.lookup("rp-dev").xml
        assert "rp-data.img" not in xml and "52:54:00:12:34:56" not in xml


def test_console_socket_dirs_of_dead_processes_go_at_connect(state, qv_bin, tmp_path):
    """A qv killed while it tunnelled a console leaves its socket directory;
    the next remote connection of the same user removes it, not only the
    next console."""
    run = tmp_path / "run"
    base = run / "qv"
    base.mkdir(parents=True, mode=0o700)
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = base / ("remote-%d-abcdef" % dead.pid)
    stale.mkdir(mode=0o700)
    (stale / "console-0.sock").write_text("")
    alive = base / ("remote-%d-ghijkl" % os.getpid())
    alive.mkdir(mode=0o700)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(run))
    r = subprocess.run([qv_bin, "-c", pipe_uri(state, qv_bin), "vm", "list"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r
    assert not stale.exists()
    assert alive.exists()
