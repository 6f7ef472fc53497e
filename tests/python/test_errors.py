"""Errors raise qv.Error subclasses with libqv's message and code."""

import os
import subprocess
import sys

import pytest

import qv


def test_bad_uri_raises_uri_error():
    with pytest.raises(qv.URIError) as e:
        qv.connect("nosuch:///")
    assert e.value.code == qv._lib.QV_ERR_URI == -13
    assert "no driver for URI scheme 'nosuch'" in str(e.value)
    assert isinstance(e.value, qv.Error)
    assert e.value.origin == "core"


def test_origin_names_the_part_that_failed():
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
        assert d + ":" in known
