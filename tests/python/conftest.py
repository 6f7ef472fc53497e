"""Shared fixtures for the Python binding tests.

The tests import the package from bindings/python and load the library
named by $QV_LIBRARY, both set by tests/python/CMakeLists.txt.
"""

import os
import shutil

import pytest

import qv

SOURCE_DIR = os.environ.get("QV_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD_DIR = os.environ.get("QV_BUILD_DIR", "")

# In sanitizer builds this interpreter starts with the ASan runtime preloaded
# (bindings/python/CMakeLists.txt). It is loaded by now; keep it from the
# programs libqv starts (QEMU hangs now and then with it preloaded) and hand
# it back only to Python children, which need it to load libqv.
ASAN_PRELOAD = os.environ.pop("LD_PRELOAD", None)


def python_env():
    """The environment for a Python subprocess that loads libqv."""
    env = dict(os.environ)
    if ASAN_PRELOAD:
        env["LD_PRELOAD"] = ASAN_PRELOAD
    return env


def require_driver(name):
    """Skip, saying why, when libqv was built without the driver."""
    drivers = qv.list_drivers()
    if name not in drivers:
        pytest.skip("the %s driver is not compiled into %s (drivers: %s)"
                    % (name, qv.library_path, ", ".join(drivers) or "none"))


def require_kvm():
    if not os.path.exists("/dev/kvm"):
        pytest.skip("/dev/kvm does not exist on this machine")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        pytest.skip("/dev/kvm is not readable and writable by this user")
    require_driver("kvm")


def require_qemu():
    if not shutil.which("qemu-system-x86_64"):
        pytest.skip("qemu-system-x86_64 is not installed")
    require_driver("qemu")


@pytest.fixture(params=["memory", "dir"])
def noop(request, tmp_path):
    """A noop connection, in memory and kept in a state directory."""
    require_driver("noop")
    uri = "noop:///" if request.param == "memory" else "noop://" + str(tmp_path / "state")
    with qv.connect(uri) as conn:
        yield conn
