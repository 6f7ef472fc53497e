"""The cffi handle on libqv: ABI mode, nothing is compiled at import.

The declarations come from _cdef.h, generated from the public headers by
gen_cdef.py. The library is $QV_LIBRARY when set (a path), else libqv.so.1
found by the dynamic loader.
"""

import os

import cffi

SONAME = "libqv.so.1"

ffi = cffi.FFI()
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "_cdef.h")) as _f:
    ffi.cdef(_f.read())


def _load():
    path = os.environ.get("QV_LIBRARY") or SONAME
    try:
        return ffi.dlopen(path), path
    except OSError as e:
        hint = ("$QV_LIBRARY is %r" % path) if os.environ.get("QV_LIBRARY") else (
            "install libqv or set $QV_LIBRARY to the path of libqv.so.1")
        raise ImportError("qv: cannot load %s (%s): %s" % (SONAME, hint, e)) from e


lib, library_path = _load()


def string(ptr):
    """A Python str from a C string owned by libqv (not freed)."""
    return None if ptr == ffi.NULL else ffi.string(ptr).decode("utf-8", "replace")


def encode(text, what):
    if not isinstance(text, str):
        raise TypeError("%s must be a str, not %s" % (what, type(text).__name__))
    return text.encode("utf-8")


# A destructor run by the garbage collector may fire between a failing call
# and the read of its error; vm_free() clears the thread's error slot, which
# would lose the message. So while an error is pending, frees wait until the
# next call into the bindings.
_pending = []


def gc_free(fn):
    def destructor(ptr):
        if lib.qv_last_error().code != lib.QV_OK:
            _pending.append((fn, ptr))
        else:
            fn(ptr)
    return destructor


def flush_pending():
    while _pending:
        try:
            fn, ptr = _pending.pop()
        except IndexError:  # another thread took the last one
            return
        fn(ptr)
