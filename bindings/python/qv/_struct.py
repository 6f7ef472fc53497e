"""Attribute access over a cffi struct, optionally writing through.

A Struct holds its own copy of a C struct. When it is bound (commit is set),
assigning an attribute updates the copy and calls commit(copy), so
`vcpu.regs.rip = 0x1000` reaches the vCPU instead of being lost. Nested
struct members (sregs.cs) come back as Structs sharing the parent's memory
and commit.
"""

from ._native import ffi


class Struct:
    __slots__ = ("_c", "_commit", "_fields")
    _ctype = None  # "struct vcpu_regs" on subclasses

    def __init__(self, *args, **fields):
        if args:
            raise TypeError("%s takes keyword arguments only" % type(self).__name__)
        object.__setattr__(self, "_c", ffi.new(self._ctype + " *"))
        object.__setattr__(self, "_commit", None)
        object.__setattr__(self, "_fields", [f for f, _ in ffi.typeof(self._ctype).fields])
        for k, v in fields.items():
            setattr(self, k, v)

    @classmethod
    def _wrap(cls, cdata, commit=None):
        """Wrap a pointer to the struct (copied unless it is a view into a
        parent whose commit is passed)."""
        self = cls.__new__(cls)
        if commit is None:
            copy = ffi.new(cls._ctype + " *")
            ffi.memmove(copy, cdata, ffi.sizeof(cls._ctype))
            cdata = copy
        object.__setattr__(self, "_c", cdata)
        object.__setattr__(self, "_commit", commit)
        object.__setattr__(self, "_fields", [f for f, _ in ffi.typeof(cls._ctype).fields])
        return self

    @classmethod
    def _bound(cls, cdata, commit):
        self = cls._wrap(cdata)
        object.__setattr__(self, "_commit", commit)
        return self

    def _nested(self):
        return {}

    def __getattr__(self, name):
        if name.startswith("_") or name not in self._fields:
            raise AttributeError("%s has no field %r" % (type(self).__name__, name))
        nested = self._nested().get(name)
        value = getattr(self._c, name)
        if nested:
            parent_c, parent_commit = self._c, self._commit
            if parent_commit:
                def commit(_c):
                    parent_commit(parent_c)
            else:
                def commit(_c):
                    pass
            return nested._wrap(ffi.addressof(self._c[0], name), commit)
        return value

    def __setattr__(self, name, value):
        if name not in self._fields:
            raise AttributeError("%s has no field %r" % (type(self).__name__, name))
        nested = self._nested().get(name)
        if nested:
            if not isinstance(value, nested):
                raise TypeError("%s.%s must be a %s" % (type(self).__name__, name,
                                                        nested.__name__))
            ffi.memmove(ffi.addressof(self._c[0], name), value._c, ffi.sizeof(nested._ctype))
        else:
            try:
                setattr(self._c, name, value)
            except OverflowError as e:
                raise ValueError("%s.%s: %s" % (type(self).__name__, name, e)) from None
        if self._commit:
            self._commit(self._c)

    def as_dict(self):
        return {f: (getattr(self, f).as_dict() if f in self._nested() else getattr(self, f))
                for f in self._fields}

    def copy(self):
        """An unbound copy: changing it does not touch the vCPU."""
        return type(self)._wrap(self._c)

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return self.as_dict() == other.as_dict()

    def __repr__(self):
        def fmt(v):
            return "0x%x" % v if isinstance(v, int) else repr(v)
        return "%s(%s)" % (type(self).__name__,
                           ", ".join("%s=%s" % (k, fmt(getattr(self, k))) for k in self._fields))
