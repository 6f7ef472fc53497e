"""--help on every group, command and subcommand prints usage and exits 0."""

import re

import pytest

from conftest import run_qv

COMMANDS = [
    [],
    ["vm"],
    ["vm", "create"],
    ["vm", "list"],
    ["vm", "start"],
    ["vm", "stop"],
    ["vm", "pause"],
    ["vm", "resume"],
    ["vm", "reset"],
    ["vm", "destroy"],
    ["vm", "show"],
    ["vm", "set"],
    ["vm", "snapshot"],
    ["vm", "snapshot", "create"],
    ["vm", "snapshot", "list"],
    ["vm", "snapshot", "restore"],
    ["vm", "snapshot", "delete"],
    ["vm", "clone"],
    ["vm", "run"],
    ["vm", "console"],
    ["system"],
    ["system", "info"],
]


@pytest.mark.parametrize("words", COMMANDS, ids=lambda w: " ".join(w) or "qv")
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help(words, flag):
    # A URI no driver serves proves --help never opens a connection.
    r = run_qv(*words, flag, uri="bogus:///")
    assert r.rc == 0, r
    assert r.err == "", r
    synopsis = "Usage: " + " ".join(["qv"] + words)
    assert r.out.startswith(synopsis), r
    assert "--help" in r.out or "COMMAND --help" in r.out, r


@pytest.mark.parametrize("words", [w for w in COMMANDS if len(w) >= 2 and w[-1] != "snapshot"],
                         ids=lambda w: " ".join(w))
def test_help_after_arguments(words):
    """--help wins wherever it appears, even after other arguments."""
    r = run_qv(*words, "some-vm", "--help", uri="bogus:///")
    assert r.rc == 0, r
    assert r.out.startswith("Usage: " + " ".join(["qv"] + words)), r


def test_group_help_lists_every_command():
    r = run_qv("vm", "--help")
    assert r.rc == 0
    for cmd in ["create", "list", "start", "stop", "pause", "resume", "reset", "destroy",
                "show", "set", "snapshot", "clone", "run", "console"]:
        assert re.search(r"^  %s\s" % cmd, r.out, re.M), (cmd, r)
    r = run_qv("vm", "snapshot", "--help")
    for cmd in ["create", "list", "restore", "delete"]:
        assert re.search(r"^  %s\s" % cmd, r.out, re.M), (cmd, r)


def test_version():
    r = run_qv("--version")
    assert r.rc == 0 and r.err == ""
    assert re.fullmatch(r"qv \d+\.\d+\.\d+ \(libqv \d+\.\d+\.\d+\)\n", r.out), r


def test_set_help_documents_ranges():
    r = run_qv("vm", "set", "--help")
    assert "1-65535" in r.out and "0-100" in r.out, r
