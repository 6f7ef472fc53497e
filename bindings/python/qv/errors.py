"""Exceptions mirroring libqv's QV_ERR_* codes.

Every failing libqv call raises a subclass of Error carrying the library's
message, its negative code (.code) and where in libqv it started (.origin:
"core", "conf", "proc", "qmp" or a driver's name; None for errors raised by
the bindings themselves). Error.for_code(code) gives the class.
"""

from ._native import ffi, lib


class Error(Exception):
    """A libqv call failed. .code is the QV_ERR_* value, .message its text,
    .origin the part of libqv that raised it."""

    code = None  # set on each subclass; instances carry the actual code
    origin = None

    def __init__(self, message, code=None, origin=None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if origin is not None:
            self.origin = origin

    def __str__(self):
        return self.message

    @staticmethod
    def for_code(code):
        return _BY_CODE.get(code, Error)


def _subclass(name, code_name, doc, *bases):
    cls = type(name, (Error,) + bases, {"__doc__": doc, "code": getattr(lib, code_name),
                                        "__module__": "qv"})
    return cls


InternalError = _subclass("InternalError", "QV_ERR_INTERNAL", "A bug in libqv.")
InvalidArgumentError = _subclass("InvalidArgumentError", "QV_ERR_INVALID_ARG",
                                 "An argument is out of range or malformed.", ValueError)
InvalidStateError = _subclass("InvalidStateError", "QV_ERR_INVALID_STATE",
                              "The VM's state does not allow the operation.")
NotFoundError = _subclass("NotFoundError", "QV_ERR_NOT_FOUND",
                          "No such VM, vCPU, snapshot or device.", LookupError)
ExistsError = _subclass("ExistsError", "QV_ERR_EXISTS",
                        "A VM or snapshot of that name already exists.")
UnsupportedError = _subclass("UnsupportedError", "QV_ERR_UNSUPPORTED",
                             "The driver does not implement the operation.")
NoMemoryError = _subclass("NoMemoryError", "QV_ERR_NOMEM", "libqv ran out of memory.")
XMLError = _subclass("XMLError", "QV_ERR_XML", "A domain XML document is invalid.")
JSONError = _subclass("JSONError", "QV_ERR_JSON", "A JSON document is invalid.")
IOFailureError = _subclass("IOFailureError", "QV_ERR_IO",
                           "Reading or writing a file or socket failed.")
SystemCallError = _subclass("SystemCallError", "QV_ERR_SYSTEM", "A system call failed.")
TimeoutExpiredError = _subclass("TimeoutExpiredError", "QV_ERR_TIMEOUT",
                                "The operation did not finish in time.", TimeoutError)
URIError = _subclass("URIError", "QV_ERR_URI",
                     "A connection URI is malformed or names no driver.")
ConnectError = _subclass("ConnectError", "QV_ERR_CONNECT", "The backend is unreachable.")
ProtocolError = _subclass("ProtocolError", "QV_ERR_PROTOCOL",
                          "The backend answered something malformed.")
BackendError = _subclass("BackendError", "QV_ERR_BACKEND", "The backend reported an error.")
PermissionDeniedError = _subclass("PermissionDeniedError", "QV_ERR_PERMISSION",
                                  "Access to a file or device was denied.")
BusyError = _subclass("BusyError", "QV_ERR_BUSY", "The VM is locked by another caller.")
OutOfRangeError = _subclass("OutOfRangeError", "QV_ERR_OUT_OF_RANGE",
                            "A guest address or length is outside guest memory.")
KVMError = _subclass("KVMError", "QV_ERR_KVM",
                     "KVM is missing, or lacks a capability libqv needs.")

ALL = [InternalError, InvalidArgumentError, InvalidStateError, NotFoundError, ExistsError,
       UnsupportedError, NoMemoryError, XMLError, JSONError, IOFailureError, SystemCallError,
       TimeoutExpiredError, URIError, ConnectError, ProtocolError, BackendError,
       PermissionDeniedError, BusyError, OutOfRangeError, KVMError]
_BY_CODE = {cls.code: cls for cls in ALL}


def last_error(default_code=None, default_message="libqv call failed without a message"):
    """The exception for this thread's libqv error slot. Must be called
    straight after the failing call, before any other libqv call."""
    err = lib.qv_last_error()
    code = err.code
    msg = ffi.string(err.message).decode("utf-8", "replace") if err.message != ffi.NULL else ""
    origin = ffi.string(err.origin).decode("utf-8", "replace") if err.origin != ffi.NULL else ""
    if code == lib.QV_OK:
        # The call failed but left no error: report what we know rather than
        # pretending it worked.
        code = default_code if default_code is not None else lib.QV_ERR_INTERNAL
        msg = msg or default_message
    return Error.for_code(code)(msg or ffi.string(lib.qv_strerror(code)).decode(), code,
                                origin or None)


def check(rc):
    """Raise for a negative return code; pass other values through."""
    if rc < 0:
        raise last_error(rc)
    return rc


def check_ptr(ptr, what):
    if ptr == ffi.NULL:
        raise last_error(default_message="%s returned NULL without an error" % what)
    return ptr


def check_void():
    """After a void libqv call: raise if it left an error."""
    if lib.qv_last_error().code != lib.QV_OK:
        raise last_error()


def closed(what):
    return InvalidStateError("%s is closed" % what, lib.QV_ERR_INVALID_STATE)
