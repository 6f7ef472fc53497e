"""qv system info."""

import os
import re
import shutil

import pytest

from conftest import drivers, parse_kv, run_qv


def test_system_info(cli):
    r = cli.ok("system", "info")
    kv = parse_kv(r.out)
    assert list(kv) == ["Version", "Drivers", "Host CPUs", "/dev/kvm", "QEMU with KVM",
                        "Connection", "Driver", "State dir"], r
    assert re.fullmatch(r"qv \d+\.\d+\.\d+, libqv \d+\.\d+\.\d+", kv["Version"])
    assert "noop" in [d.strip() for d in kv["Drivers"].split(",")]
    assert kv["Connection"] == cli.uri
    assert kv["Driver"] == "noop"
    online = open("/sys/devices/system/cpu/online").read().strip()
    assert kv["Host CPUs"] == "%d online (%s)" % (os.sysconf("SC_NPROCESSORS_ONLN"), online)
    if not os.path.exists("/dev/kvm"):
        assert kv["/dev/kvm"] == "absent"
    elif os.access("/dev/kvm", os.R_OK | os.W_OK):
        assert re.fullmatch(r"present, accessible \(KVM API version \d+\)", kv["/dev/kvm"]), kv
    else:
        assert kv["/dev/kvm"].startswith("present, not accessible"), kv
    # From the library's probe, which starts QEMU with -accel kvm.
    q = kv["QEMU with KVM"]
    if "qemu" not in drivers():
        assert q == ("not probed: the qemu driver is not built into this libqv (configure "
                     "with -DQV_WITH_QEMU=ON)"), kv
    elif not os.path.exists("/dev/kvm"):
        assert q == "unusable: /dev/kvm missing", kv
    elif not os.access("/dev/kvm", os.R_OK | os.W_OK):
        assert q.startswith("unusable: /dev/kvm not accessible: "), kv
    elif not shutil.which("qemu-system-x86_64"):
        # Nothing to probe with: the line says so instead of a verdict.
        assert q.startswith("unknown ("), kv
    else:
        assert re.fullmatch(r"usable|usable with QEMU's default CPU model; unusable with CPU "
                            r"model host: .+|unusable with CPU model host: .+", q), kv


def test_system_info_default_uri_and_state_dir(cli, tmp_path):
    r = run_qv("system", "info", env={"QV_DEFAULT_URI": cli.uri,
                                      "QV_STATE_DIR": str(tmp_path / "st")})
    assert r.rc == 0, r
    kv = parse_kv(r.out)
    assert kv["Connection"] == cli.uri
    assert kv["State dir"] == str(tmp_path / "st")


def test_system_info_connection_error(nocli):
    r = nocli("system", "info")
    assert r.rc == 1, r
    assert "Drivers:" in r.out  # the host facts come first
    assert r.err.startswith("qv: error: no driver for URI scheme 'bogus'"), r


# Every driver libqv has, and a URI each would serve.
LEFT_OUT_URIS = {"noop": "noop:///", "kvm": "kvm:///embed", "qemu": "qemu:///session",
                 "propolis": "propolis://127.0.0.1:1", "remote": "noop+ssh://localhost/"}


@pytest.mark.parametrize("driver", sorted(LEFT_OUT_URIS))
def test_left_out_driver_is_named_with_its_option(driver):
    """A URI for a driver this build left out (-DQV_WITH_<DRIVER>=OFF) is
    refused naming the driver and the option, unlike an unknown scheme."""
    if driver in drivers():
        pytest.skip("the %s driver is built into this libqv" % driver)
    uri = LEFT_OUT_URIS[driver]
    r = run_qv("vm", "list", uri=uri)
    assert (r.rc, r.out) == (1, ""), r
    assert r.err == ("qv: error: cannot open '%s': the %s driver is not built into this libqv "
                     "(configure with -DQV_WITH_%s=ON)\n" % (uri, driver, driver.upper())), r


def test_system_info_lists_only_built_drivers():
    r = run_qv("system", "info", uri="bogus:///")
    listed = [d.strip() for d in parse_kv(r.out)["Drivers"].split(",")]
    assert set(listed) <= set(LEFT_OUT_URIS), r
    expected = os.environ.get("QV_BUILT_DRIVERS")
    if expected is None:
        pytest.skip("QV_BUILT_DRIVERS (set by tests/integration/cli.cmake) is unset")
    assert listed == expected.split(","), r
