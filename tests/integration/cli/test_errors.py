"""Runtime errors: exit code 1 and "qv: error: <what libqv said>" on stderr."""

import os

import pytest

from conftest import run_qv


def test_unknown_uri_scheme(nocli):
    r = nocli.fails(1, "vm", "list")
    assert "no driver for URI scheme 'bogus'" in r.err, r


def test_malformed_uri():
    r = run_qv("vm", "list", uri="::not a uri")
    assert r.rc == 1 and r.err.startswith("qv: error: "), r
    assert "::not a uri" in r.err, r


def test_default_uri_from_environment(tmp_path):
    r = run_qv("vm", "list", env={"QV_DEFAULT_URI": "nosuchdriver:///"})
    assert r.rc == 1 and "no driver for URI scheme 'nosuchdriver'" in r.err, r


def test_empty_connect_is_usage_error():
    r = run_qv("-c", "", "vm", "list")
    assert r.rc == 2 and "non-empty" in r.err, r


@pytest.mark.parametrize("cmd", [["start"], ["stop"], ["pause"], ["resume"], ["reset"],
                                 ["destroy"], ["show"], ["show", "--xml"], ["show", "--cpu-pin"],
                                 ["set", "--cpu-weight", "10"], ["console"],
                                 ["clone", "--name", "b"], ["snapshot", "list"],
                                 ["snapshot", "create", "--name", "s"]])
def test_missing_vm(cli, cmd):
    args = ["vm", cmd[0], "ghost"] + cmd[1:]
    if cmd[0] == "snapshot":
        args = ["vm", "snapshot", cmd[1], "ghost"] + cmd[2:]
    r = cli.fails(1, *args)
    assert "ghost" in r.err, r


def test_invalid_name(cli):
    r = cli.fails(1, "vm", "create", "--name", "bad/name")
    assert "'bad/name' contains '/'" in r.err, r
    r = cli.fails(1, "vm", "start", "../etc")
    assert "../etc" in r.err, r


@pytest.mark.parametrize("cmd,state", [("pause", "created"), ("resume", "created"),
                                       ("stop", "created"), ("reset", "created")])
def test_invalid_state(cli, cmd, state):
    cli.ok("vm", "create", "--name", "web01")
    r = cli.fails(1, "vm", cmd, "web01")
    assert "VM 'web01': it is %s" % state in r.err, r


def test_invalid_state_after_start(cli):
    cli.ok("vm", "create", "--name", "web01")
    cli.ok("vm", "start", "web01")
    r = cli.fails(1, "vm", "start", "web01")
    assert "cannot start VM 'web01': it is running" in r.err, r
    r = cli.fails(1, "vm", "resume", "web01")
    assert "cannot resume VM 'web01': it is running" in r.err, r


def test_duplicate_name(cli):
    cli.ok("vm", "create", "--name", "web01")
    r = cli.fails(1, "vm", "create", "--name", "web01")
    assert "web01" in r.err, r


def test_unreadable_files(cli, tmp_path):
    missing = tmp_path / "nope.xml"
    r = cli.fails(1, "vm", "create", "--xml", missing)
    assert "cannot read '%s'" % missing in r.err, r
    r = cli.fails(1, "vm", "create", "--config", missing)
    assert "cannot read" in r.err, r
    r = cli.fails(1, "vm", "run", "--kernel", missing)
    assert "--kernel '%s'" % missing in r.err and "No such file" in r.err, r


def test_bad_xml_names_line(cli, tmp_path):
    f = tmp_path / "bad.xml"
    f.write_text("<domain type='kvm'>\n  <name>x</name>\n  <memory>oops</memory>\n</domain>\n")
    r = cli.fails(1, "vm", "create", "--xml", f)
    assert "line 3" in r.err, r


def test_vcpus_above_maximum(cli):
    cli.ok("vm", "create", "--name", "web01", "--vcpus", "2")
    r = cli.fails(1, "vm", "set", "web01", "--vcpus", "3")
    assert "web01" in r.err and "maximum" in r.err, r


def test_memory_above_maximum(cli):
    cli.ok("vm", "create", "--name", "web01", "--memory", "256M")
    r = cli.fails(1, "vm", "set", "web01", "--memory", "1G")
    assert "maximum memory" in r.err, r


def test_pin_missing_vcpu(cli):
    cli.ok("vm", "create", "--name", "web01", "--vcpus", "2")
    r = cli.fails(1, "vm", "set", "web01", "--cpu-pin", "5:0")
    assert "has no vCPU 5" in r.err, r


def test_limits_without_devices(cli):
    cli.ok("vm", "create", "--name", "web01")
    r = cli.fails(1, "vm", "set", "web01", "--io-limit", "10M")
    assert "no disks" in r.err, r
    r = cli.fails(1, "vm", "set", "web01", "--net-limit", "100M")
    assert "no NICs" in r.err, r


def test_snapshot_errors(cli):
    cli.ok("vm", "create", "--name", "web01")
    r = cli.fails(1, "vm", "snapshot", "restore", "web01", "--name", "nope")
    assert "nope" in r.err, r
    r = cli.fails(1, "vm", "snapshot", "delete", "web01", "--name", "nope")
    assert "nope" in r.err, r
    cli.ok("vm", "snapshot", "create", "web01", "--name", "s1")
    r = cli.fails(1, "vm", "snapshot", "create", "web01", "--name", "s1")
    assert "s1" in r.err, r


def test_clone_onto_existing(cli):
    cli.ok("vm", "create", "--name", "a")
    cli.ok("vm", "create", "--name", "b")
    r = cli.fails(1, "vm", "clone", "a", "--name", "b")
    assert "'b'" in r.err, r


def test_console_unsupported_by_driver(cli):
    cli.ok("vm", "create", "--name", "web01")
    r = cli.fails(1, "vm", "console", "web01")
    assert r.err == "qv: error: vm_console_endpoint is not supported by the noop driver\n", r


@pytest.mark.parametrize("form", [["-c", "{u}"], ["-c{u}"], ["--connect", "{u}"],
                                  ["--connect={u}"]])
def test_connect_option_forms(cli, form):
    cli.ok("vm", "create", "--name", "web01")
    args = [f.format(u=cli.uri) for f in form]
    r = run_qv(*args, "vm", "list", "--all")
    assert r.rc == 0 and "web01" in r.out, r


def test_debug_names_the_origin(cli):
    cli.ok("vm", "create", "--name", "web01")
    r = cli.fails(1, "vm", "pause", "web01")
    assert "origin" not in r.err, r
    # --debug also shows the debug log, so the error is one line among others.
    r = cli("--debug", "vm", "pause", "web01")
    assert r.rc == 1 and r.out == "", r
    assert "qv: error: cannot pause VM 'web01': it is created [origin core, invalid state]\n" \
        in r.err, r
    r = cli("--debug", "vm", "snapshot", "restore", "web01", "--name", "nosuch")
    assert r.rc == 1 and "[origin noop, not found]\n" in r.err, r


def test_debug_traces_each_call_on_stderr(cli):
    cli.ok("vm", "create", "--name", "web01")
    r = cli("--debug", "vm", "pause", "web01")
    assert r.rc == 1 and r.out == "", r
    assert "vm_lookup: VM 'web01': ok\n" in r.err, r
    assert "vm_pause: VM 'web01': failed (invalid state, from core): " \
        "cannot pause VM 'web01': it is created\n" in r.err, r
    # the same trace from the environment, and stdout stays clean for --json
    r = cli("vm", "list", "--json", env={"G_MESSAGES_DEBUG": "qv"})
    assert r.rc == 0 and r.out.startswith("["), r
    assert "vm_list: URI '" in r.err and "': ok\n" in r.err, r
