"""The cdef the bindings load must be what the public headers say, and every
function the headers declare must be reachable through the library."""

import os
import re
import subprocess
import sys

import pytest

import qv
from qv import _native

from conftest import SOURCE_DIR

sys.path.insert(0, os.path.join(SOURCE_DIR, "bindings", "python"))
import gen_cdef  # noqa: E402

COMMITTED = os.path.join(SOURCE_DIR, "bindings", "python", "qv", "_cdef.h")
PACKAGE = os.path.join(SOURCE_DIR, "bindings", "python", "qv")

# Functions the Pythonic layer deliberately does not call, and why.
NOT_WRAPPED = {
    "vm_gpa_to_hva": "a raw host pointer; read_memory/write_memory are the safe form",
    "vm_ref": "Python objects share one reference per handle instead",
    "vm_get_conn": "a VM keeps its Python Connection",
    "vm_state_name": "qv.State has the names",
    "vm_state_reason_name": "qv.Reason has the names",
    "vm_stop": "VM.stop() always uses vm_stop_flags",
    "qv_reset_error": "each libqv call resets the slot itself",
    "qv_remote_serve": "the far end of DRIVER+ssh://, run by `qv remote-helper`",
}


def cdef_functions(text):
    return sorted(set(re.findall(r"\b((?:vm|vcpu|snapshot|qv)_\w+)\s*\(", text)))


def test_committed_cdef_matches_headers():
    fresh = gen_cdef.generate(os.environ.get("QV_CC", "cc"),
                              os.path.join(SOURCE_DIR, "include"))
    with open(COMMITTED) as f:
        committed = f.read()
    assert committed == fresh, (
        "bindings/python/qv/_cdef.h is out of date with include/qv/*.h; "
        "run `make python-cdef`")


def test_generator_check_mode_reports_drift(tmp_path):
    stale = tmp_path / "_cdef.h"
    stale.write_text(open(COMMITTED).read().replace("int vm_start(", "int vm_begin("))
    res = subprocess.run([sys.executable, gen_cdef.__file__, "--check", str(stale)],
                         capture_output=True, text=True)
    assert res.returncode == 1
    assert "vm_start" in res.stderr and "out of date" in res.stderr


def test_generator_refuses_what_cffi_cannot_bind(tmp_path):
    inc = tmp_path / "include" / "qv"
    inc.mkdir(parents=True)
    (inc / "qv.h").write_text('#include "a.h"\nint qv_ok(void);\n')
    (inc / "a.h").write_text("#define QV_TWICE(x) ((x) * 2)\nint qv_a(void);\n")
    with pytest.raises(gen_cdef.CdefError, match="QV_TWICE"):
        gen_cdef.generate("cc", str(tmp_path / "include"))


def test_generator_refuses_inline_functions(tmp_path):
    inc = tmp_path / "include" / "qv"
    inc.mkdir(parents=True)
    (inc / "qv.h").write_text('#include "a.h"\nint qv_ok(void);\n')
    (inc / "a.h").write_text("static inline int qv_two(void) { return 2; }\n")
    with pytest.raises(gen_cdef.CdefError, match="function body"):
        gen_cdef.generate("cc", str(tmp_path / "include"))


def test_integer_macros_are_normalised():
    assert gen_cdef.integer_macro("0x1u") == 1
    assert gen_cdef.integer_macro("(1u << 3)") == 8
    assert gen_cdef.integer_macro("010") == 8
    assert gen_cdef.integer_macro('"text"') is None


def test_every_header_function_resolves_in_the_library():
    funcs = cdef_functions(open(COMMITTED).read())
    assert len(funcs) > 60
    missing = []
    for name in funcs:
        try:
            getattr(qv._lib, name)
        except AttributeError:
            missing.append(name)
    assert not missing, "declared in include/qv but not in %s: %s" % (qv.library_path, missing)


def test_library_exports_exactly_the_header_functions():
    out = subprocess.run(["nm", "-D", "--defined-only", qv.library_path],
                         capture_output=True, text=True, check=True).stdout
    exported = sorted({line.split()[-1].split("@")[0] for line in out.splitlines()
                       if " T " in line})
    assert exported == cdef_functions(open(COMMITTED).read())


def test_every_header_function_is_wrapped():
    source = ""
    for fn in os.listdir(PACKAGE):
        if fn.endswith(".py"):
            source += open(os.path.join(PACKAGE, fn)).read()
    unwrapped = [f for f in cdef_functions(open(COMMITTED).read())
                 if f not in NOT_WRAPPED and not re.search(r"lib\.%s\b" % f, source)]
    assert not unwrapped, "public functions with no Python wrapper: %s" % unwrapped


def test_every_error_code_has_an_exception_class():
    codes = {name: getattr(qv._lib, name)
             for name in re.findall(r"\b(QV_ERR_\w+)\s*=", open(COMMITTED).read())}
    assert codes
    for name, code in codes.items():
        cls = qv.Error.for_code(code)
        assert cls is not qv.Error, "%s (%d) has no qv.Error subclass" % (name, code)
        assert cls.code == code


def test_enums_follow_the_headers():
    text = open(COMMITTED).read()
    states = re.search(r"enum vm_state \{(.*?)\}", text, re.S).group(1)
    names = [s.strip().rstrip(",")[len("VM_STATE_"):] for s in states.split("\n") if s.strip()]
    assert [s.name for s in qv.State] == names


def test_library_is_loaded_from_qv_library():
    assert os.environ.get("QV_LIBRARY"), "the suite must run against the built library"
    assert _native.library_path == os.environ["QV_LIBRARY"]
    assert qv.version() == "%d.%d.%d" % (qv._lib.QV_VERSION_MAJOR, qv._lib.QV_VERSION_MINOR,
                                         qv._lib.QV_VERSION_PATCH)
