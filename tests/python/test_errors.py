"""Errors raise qv.Error subclasses with libqv's message and code."""

import os
import re
import subprocess
import sys

import pytest

import qv

from conftest import python_env, require_driver


def test_bad_uri_raises_uri_error():
    with pytest.raises(qv.URIError) as e:
        qv.connect("nosuch:///")
    assert e.value.code == qv._lib.QV_ERR_URI == -13
    assert "no driver for URI scheme 'nosuch'" in str(e.value)
    assert isinstance(e.value, qv.Error)
    assert e.value.origin == "core"


def test_origin_names_the_part_that_failed():
    require_driver("noop")
    with qv.connect("noop:///") as conn:
        with pytest.raises(qv.XMLError) as e:
            conn.define_xml("<domain type='test'><name>x</name><memory>oops</memory></domain>")
    assert e.value.origin == "conf"


def test_unparsable_uri():
    with pytest.raises(qv.URIError, match="cannot parse"):
        qv.connect("::not a uri")


def test_error_classes_mirror_codes():
    assert qv.Error.for_code(qv._lib.QV_ERR_INVALID_STATE) is qv.InvalidStateError
    assert qv.Error.for_code(qv._lib.QV_ERR_NOT_FOUND) is qv.NotFoundError
    assert qv.Error.for_code(12345) is qv.Error
    assert issubclass(qv.InvalidArgumentError, ValueError)
    assert issubclass(qv.NotFoundError, LookupError)
    assert issubclass(qv.TimeoutExpiredError, TimeoutError)
    assert qv.strerror(qv.InvalidStateError.code) == "invalid state"


def test_wrong_argument_types_are_python_errors():
    with pytest.raises(TypeError, match="URI must be a str"):
        qv.connect(b"noop:///")


def test_import_without_library_explains(tmp_path):
    env = dict(os.environ, QV_LIBRARY=str(tmp_path / "libqv.so.1"))
    res = subprocess.run([sys.executable, "-c", "import qv"], env=env,
                         capture_output=True, text=True)
    assert res.returncode != 0
    assert "cannot load libqv.so.1" in res.stderr and "QV_LIBRARY" in res.stderr


def test_list_drivers_names_compiled_drivers():
    drivers = qv.list_drivers()
    assert all(isinstance(d, str) and d for d in drivers)
    assert len(set(drivers)) == len(drivers)
    # the URI error lists the schemes of exactly these drivers
    with pytest.raises(qv.URIError) as e:
        qv.connect("nosuch:///")
    known = str(e.value).split("(known: ")[1].rstrip(")")
    for d in drivers:
        # The remote driver has no scheme of its own: it serves DRIVER+ssh:.
        assert (d + ":" in known) if d != "remote" else ("noop+ssh:" in known)


@pytest.mark.parametrize("driver,uri", [("noop", "noop:///"), ("kvm", "kvm:///embed"),
                                        ("qemu", "qemu:///session"),
                                        ("propolis", "propolis://127.0.0.1:1"),
                                        ("remote", "qemu+ssh://localhost/system")])
def test_left_out_driver_is_unsupported_not_unknown(driver, uri):
    if driver in qv.list_drivers():
        pytest.skip("the %s driver is built into %s" % (driver, qv.library_path))
    with pytest.raises(qv.UnsupportedError) as e:
        qv.connect(uri)
    assert str(e.value) == ("cannot open '%s': the %s driver is not built into this libqv "
                            "(configure with -DQV_WITH_%s=ON)" % (uri, driver, driver.upper()))
    assert e.value.origin == "core"
    if driver == "qemu":
        with pytest.raises(qv.UnsupportedError, match="-DQV_WITH_QEMU=ON"):
            qv.qemu_probe("kvm")


TRACED = r'''
import qv
with qv.connect("noop:///") as conn:
    vm = conn.create_vm("trace01")
    try:
        vm.pause()
    except qv.InvalidStateError:
        pass
    vm.start()
    conn.define_xml("<domain type='test'><name>trace02</name><memory>65536</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>")
'''


@pytest.mark.parametrize("debug", ["qv", "all", ""])
def test_debug_log_names_each_call_its_vm_and_result(debug):
    require_driver("noop")
    env = dict(python_env(), G_MESSAGES_DEBUG=debug)
    res = subprocess.run([sys.executable, "-c", TRACED], env=env, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    lines = re.findall(r"^\(process:\d+\): qv-DEBUG: [\d:.]+: (.*)$", res.stdout, re.M)
    if not debug:
        assert lines == []
        return
    # GLib's default writer puts debug messages on standard output
    assert "vm_create_on: VM 'trace01'" in lines, res.stdout
    assert "vm_create_on: VM 'trace01': ok" in lines
    assert ("vm_pause: VM 'trace01': failed (invalid state, from core): "
            "cannot pause VM 'trace01': it is created") in lines
    assert "vm_start: VM 'trace01': ok" in lines
    # a VM known only after parsing is named on the result line
    assert "vm_define_xml: VM 'trace02': ok" in lines
