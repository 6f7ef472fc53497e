"""Fixtures for the qv CLI tests: they run the built `qv` binary the way a
user does and look only at its exit code, stdout and stderr.

$QV_CLI names the binary (set by tests/integration/cli.cmake).
"""

import os
import re
import subprocess

import pytest

QV = os.environ.get("QV_CLI", "")
UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


class Result:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def __repr__(self):
        return "rc=%d\n--- stdout ---\n%s--- stderr ---\n%s" % (self.rc, self.out, self.err)


def run_qv(*args, uri=None, input=None, env=None, timeout=60):
    assert QV and os.access(QV, os.X_OK), "QV_CLI must name the built qv binary"
    argv = [QV] + (["-c", uri] if uri else []) + [str(a) for a in args]
    full_env = dict(os.environ)
    full_env.pop("QV_DEFAULT_URI", None)
    full_env["LC_ALL"] = "C.UTF-8"
    if env:
        full_env.update(env)
    proc = subprocess.run(argv, input=input, capture_output=True, text=True, env=full_env,
                          timeout=timeout)
    return Result(proc)


def drivers():
    r = run_qv("system", "info", uri="bogus:///")
    m = re.search(r"^Drivers:\s+(.*)$", r.out, re.M)
    assert m, r
    return [d.strip() for d in m.group(1).split(",")]


class Cli:
    """qv bound to one connection URI."""

    def __init__(self, uri):
        self.uri = uri

    def __call__(self, *args, **kw):
        return run_qv(*args, uri=self.uri, **kw)

    def ok(self, *args, **kw):
        r = self(*args, **kw)
        assert r.rc == 0, r
        assert r.err == "", r
        return r

    def fails(self, rc, *args, **kw):
        """Expect exit code rc, nothing on stdout and a one-line-or-more
        message on stderr; returns the result."""
        r = self(*args, **kw)
        assert r.rc == rc, r
        assert r.out == "", r
        assert r.err.strip(), r
        if rc == 1:
            assert r.err.startswith("qv: error: "), r
        return r


@pytest.fixture
def noop_uri(tmp_path):
    if "noop" not in drivers():
        pytest.fail("libqv was built without the noop driver; the CLI tests need it")
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    return "noop://" + str(state)


@pytest.fixture
def cli(noop_uri):
    return Cli(noop_uri)


@pytest.fixture
def nocli():
    """qv with a URI no driver serves: for checks that must happen before any
    connection is opened."""
    return Cli("bogus:///")


def parse_table(text, headers):
    """Rows of a qv table as dicts. Checks the header and that every cell
    starts in its header's column."""
    lines = text.splitlines()
    assert lines, "empty output"
    assert re.split(r"\s{2,}", lines[0].strip()) == headers, lines[0]
    starts = [lines[0].index(h) for h in headers]
    rows = []
    for line in lines[1:]:
        cells = re.split(r"\s{2,}", line.strip())
        assert len(cells) == len(headers), line
        for cell, start in zip(cells, starts):
            assert line[start:start + len(cell)] == cell, (line, cell, start)
        rows.append(dict(zip(headers, cells)))
    return rows


def parse_kv(text):
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        out[key.strip()] = value.strip()
    return out


def assert_valid_domain_xml(xml, tmp_path):
    """virt-xml-validate (libvirt-clients) accepts the document."""
    import shutil
    validate = shutil.which("virt-xml-validate")
    assert validate, "virt-xml-validate (libvirt-clients) is needed"
    f = tmp_path / "validate-domain.xml"
    f.write_text(xml)
    p = subprocess.run([validate, str(f), "domain"], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr + xml
