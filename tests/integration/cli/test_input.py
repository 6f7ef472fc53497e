"""Definitions qv reads from files and standard input: bounded in size, text
only, and every error names the file with its line and column."""

import os
import resource
import subprocess
import time

import pytest

from conftest import QV

LIMIT = 4 * 1024 * 1024
MINIMAL_XML = ("<domain type='qemu'>\n  <name>in1</name>\n  <memory>65536</memory>\n"
               "  <vcpu>1</vcpu>\n  <os><type>hvm</type></os>\n</domain>\n")


def run_bytes(uri, args, stdin=None, timeout=60):
    env = dict(os.environ, LC_ALL="C.UTF-8")
    env.pop("QV_DEFAULT_URI", None)
    proc = subprocess.run([QV, "-c", uri] + args, input=stdin, capture_output=True, env=env,
                          timeout=timeout)
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


def write(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(data if isinstance(data, bytes) else data.encode())
    return str(p)


def test_config_comment_hiding_a_quote_is_bounded(cli, tmp_path):
    # The reproducer: json-glib used to recurse until SIGSEGV.
    path = write(tmp_path, "x.json", '/*"*/' + "[" * 100000 + "\n")
    r = cli.fails(1, "vm", "create", "--config", path)
    assert r.err == "qv: error: %s line 1, column 70: nesting deeper than 64 levels\n" % path, r


def test_config_with_comments_is_accepted(cli, tmp_path):
    path = write(tmp_path, "c.json", '// a VM\n{"name": "c1", /* its size: */ "vcpus": 1,\n'
                 ' "memory": "64M" // enough\n}\n')
    cli.ok("vm", "create", "--config", path)
    assert "c1" in cli.ok("vm", "list", "--all").out


@pytest.mark.parametrize("text,where", [
    ('{"name": "a\\u0000b", "vcpus": 1, "memory": 1024}',
     "line 1, column 12: \\u0000 (a NUL character) is not allowed in a string"),
    ('{"name": "a", "vcpus": 1, "memory": 18446744073709551616}',
     "line 1, column 37: integer 18446744073709551616 is out of range (more than 64 bits)"),
    ('{"name": "a", "vcpus": 1, "memory": 1024}\n{"name": "b"}',
     "line 2, column 1: unexpected '{' after the end of the JSON value"),
])
def test_config_errors_name_file_line_and_column(cli, tmp_path, text, where):
    path = write(tmp_path, "bad.json", text)
    r = cli.fails(1, "vm", "create", "--config", path)
    assert r.err == "qv: error: %s %s\n" % (path, where), r


def test_config_json_path_errors_name_the_file(cli, tmp_path):
    path = write(tmp_path, "p.json", '{"name": "a", "vcpus": "two", "memory": 1024}')
    r = cli.fails(1, "vm", "create", "--config", path)
    assert r.err == "qv: error: %s: $.vcpus: expected a whole number, got a string\n" % path, r


@pytest.mark.parametrize("opt,ext,data", [
    ("--config", "json", b'{"name": "n1", "vcpus": 1, "memory": 1024}\0{"more": [[['),
    ("--xml", "xml", MINIMAL_XML.encode() + b"\0<domain type='kvm'/>"),
])
def test_bytes_after_a_nul_are_an_error(cli, tmp_path, opt, ext, data):
    path = write(tmp_path, "nul." + ext, data)
    r = cli.fails(1, "vm", "create", opt, path)
    line = data[:data.index(b"\0")].count(b"\n") + 1
    assert r.err == "qv: error: %s line %d: NUL byte (a definition must be text)\n" % (
        path, line), r
    assert cli.ok("vm", "list", "--all").out.count("\n") <= 1


def test_xml_attribute_flood_is_refused_fast(cli, tmp_path):
    attrs = "".join(" a%d='%d'" % (i, i) for i in range(100000))
    text = MINIMAL_XML.replace("  <os>", "  <devices><disk%s/></devices>\n  <os>" % attrs)
    path = write(tmp_path, "domain.xml", text)
    t0 = time.monotonic()
    r = cli.fails(1, "vm", "create", "--xml", path)
    assert time.monotonic() - t0 < 10
    assert r.err == "qv: error: %s line 5: element <disk> has more than 128 attributes\n" % (
        path), r


def test_xml_trailing_data_names_the_file(cli, tmp_path):
    path = write(tmp_path, "t.xml", MINIMAL_XML + "<domain/>\n")
    r = cli.fails(1, "vm", "create", "--xml", path)
    assert r.err == "qv: error: %s line 7: Extra content at the end of the document\n" % path, r


def test_dev_zero_is_refused_at_the_limit(noop_uri):
    t0 = time.monotonic()
    rc, out, err = run_bytes(noop_uri, ["vm", "create", "--xml", "/dev/zero"])
    assert time.monotonic() - t0 < 20
    assert rc == 1 and out == "", err
    assert err == ("qv: error: /dev/zero is larger than the limit of %d bytes (4 MiB) for a "
                   "definition\n" % LIMIT), err


def test_600_mb_on_stdin_is_refused_without_reading_it(noop_uri):
    env = dict(os.environ, LC_ALL="C.UTF-8")
    proc = subprocess.Popen([QV, "-c", noop_uri, "vm", "create", "--config", "-"],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env)
    chunk = b" " * (1 << 20)
    written = 0
    t0 = time.monotonic()
    try:
        for _ in range(600):
            proc.stdin.write(chunk)
            written += len(chunk)
    except BrokenPipeError:
        pass
    try:
        proc.stdin.close()
    except BrokenPipeError:
        pass
    err = proc.stderr.read()
    proc.wait(timeout=60)
    assert time.monotonic() - t0 < 30
    assert proc.returncode == 1, err
    assert err.decode() == ("qv: error: standard input is larger than the limit of %d bytes "
                            "(4 MiB) for a definition\n" % LIMIT), err
    # qv stopped reading at the limit: the writer did not get far beyond it
    # (the pipe buffer holds a little more).
    assert written < 64 * (1 << 20), written
    # The largest child pytest waited for stayed small (a few times the limit,
    # sanitizer overhead included).
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss < 400 * 1024


def test_exactly_the_limit_is_read(cli, tmp_path):
    # A definition of exactly 4 MiB is read (and judged by libqv).
    body = '{"name": "big", "vcpus": 1, "memory": 1024}'
    text = body + " " * (LIMIT - len(body))
    path = write(tmp_path, "big.json", text)
    cli.ok("vm", "create", "--config", path)
    r = cli.fails(1, "vm", "create", "--config", write(tmp_path, "over.json", text + " "))
    assert "is larger than the limit" in r.err, r


def test_stdin_definition_errors_say_standard_input(cli):
    r = cli.fails(1, "vm", "create", "--config", "-", input='{"name": [[[')
    assert r.err == ("qv: error: standard input line 1, column 13: unexpected end: the '[' on "
                     "line 1, column 12 is not closed\n"), r
