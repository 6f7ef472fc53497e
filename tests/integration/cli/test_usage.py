"""Usage errors: exit code 2, a message on stderr naming what is wrong,
nothing on stdout. Every check runs with a URI no driver serves, so these
also prove the command line is checked before any connection is opened
(otherwise the exit code would be 1)."""

import pytest

from conftest import run_qv


def usage(*args):
    r = run_qv(*args, uri="bogus:///")
    assert r.rc == 2, r
    assert r.out == "", r
    assert r.err.startswith("qv: "), r
    assert "--help" in r.err, r  # points at the help
    return r.err


def test_no_group():
    assert "missing command group" in usage()


def test_unknown_group():
    assert "unknown command group 'frobnicate'" in usage("frobnicate")


def test_unknown_global_option():
    assert "unknown option '--frob'" in usage("--frob", "vm", "list")


def test_connect_needs_value():
    r = run_qv("-c")
    assert r.rc == 2 and "needs a value" in r.err, r


@pytest.mark.parametrize("group", [["vm"], ["vm", "snapshot"], ["system"]])
def test_missing_and_unknown_command(group):
    assert "missing command" in usage(*group)
    assert "unknown command 'frob'" in usage(*group, "frob")
    assert "unknown option '--frob'" in usage(*group, "--frob")


@pytest.mark.parametrize("cmd", ["start", "pause", "resume", "reset", "destroy", "show", "stop",
                                 "console", "clone", "set"])
def test_missing_name(cmd):
    assert "missing NAME" in usage("vm", cmd)


@pytest.mark.parametrize("cmd", ["start", "pause", "resume", "reset", "destroy", "show", "stop",
                                 "console"])
def test_extra_argument(cmd):
    assert "unexpected argument 'b'" in usage("vm", cmd, "a", "b")


@pytest.mark.parametrize("cmd", [["vm", "list"], ["vm", "start", "x"], ["vm", "run"],
                                 ["vm", "snapshot", "list", "x"], ["system", "info"]])
def test_unknown_option(cmd):
    assert "unknown option '--bogus'" in usage(*cmd, "--bogus")
    assert "unknown option '--bogus'" in usage(*cmd, "--bogus=3")


def test_flag_takes_no_value():
    assert "option '--force' takes no value" in usage("vm", "stop", "x", "--force=yes")


def test_option_needs_value():
    assert "option '--timeout' needs a value" in usage("vm", "stop", "x", "--timeout")


def test_create_sources():
    assert "give one of --xml, --config or --name" in usage("vm", "create")
    assert "exclude each other" in usage("vm", "create", "--xml", "a.xml", "--name", "x")
    assert "exclude each other" in usage("vm", "create", "--xml", "a", "--config", "b")
    assert "--vcpus and --memory go with --name" in usage("vm", "create", "--xml", "a",
                                                           "--vcpus", "2")


@pytest.mark.parametrize("opt,value,needle", [
    ("--vcpus", "0", "option '--vcpus': 0 is out of range (1-4096)"),
    ("--vcpus", "4097", "option '--vcpus': 4097 is out of range (1-4096)"),
    ("--vcpus", "-1", "negative"),
    ("--vcpus", "two", "invalid number 'two'"),
    ("--vcpus", "2x", "invalid number '2x'"),
    ("--vcpus", "", "invalid number ''"),
    ("--memory", "0", "must not be 0"),
    ("--memory", "12Q", "invalid size '12Q': unknown unit suffix"),
    ("--memory", "-5M", "invalid size '-5M': negative"),
    ("--memory", "1.5G", "invalid size '1.5G'"),
    ("--memory", "99999999999999999999", "too large"),
    ("--memory", "20000000000T", "too large"),
    ("--memory", "M", "invalid size 'M': not a number"),
])
def test_create_bad_numbers(opt, value, needle):
    assert needle in usage("vm", "create", "--name", "x", opt, value)


@pytest.mark.parametrize("args,needle", [
    (["--cpu-weight", "0"], "option '--cpu-weight': 0 is out of range (1-65535)"),
    (["--cpu-weight", "65536"], "option '--cpu-weight': 65536 is out of range (1-65535)"),
    (["--cpu-weight", "18446744073709551616"], "out of range (1-65535)"),
    (["--cpu-weight", "-1"], "negative"),
    (["--cpu-weight", "5k"], "invalid number '5k'"),
    (["--cpu-cap", "101"], "option '--cpu-cap': 101 is out of range (0-100)"),
    (["--cpu-cap", "-0"], "negative"),
    (["--cpu-cap", " 5"], "invalid number ' 5'"),
    (["--vcpus", "0"], "option '--vcpus': 0 is out of range"),
    (["--memory", "7X"], "option '--memory': invalid size '7X'"),
    (["--memory", "0"], "must not be 0"),
    (["--io-limit", "10Mbogus"], "option '--io-limit': invalid size"),
    (["--io-limit", "-1"], "negative"),
    (["--iops-limit", "4294967296"], "option '--iops-limit': 4294967296 is out of range"),
    (["--net-limit", "1e6"], "option '--net-limit': invalid rate '1e6'"),
    (["--net-limit", "99999999999999999999"], "too large"),
    (["--cpu-pin", "0-4"], "'0-4' is not VCPU:PCPU"),
    (["--cpu-pin", "0:4,"], "is not VCPU:PCPU"),
    (["--cpu-pin", ":4"], "is not VCPU:PCPU"),
    (["--cpu-pin", "0:4,0:5"], "vCPU 0 is given twice"),
    (["--cpu-pin", "0:x"], "invalid number 'x'"),
    (["--cpu-pin", "0:1024"], "1024 is out of range (0-1023)"),
    (["--cpu-pin", "auto", "--cpu-pin", "0:1"], "given twice"),
    (["--disk", "vda"], "--disk goes with --io-limit or --iops-limit"),
    (["--nic", "52:54:00:00:00:01"], "--nic goes with --net-limit"),
    ([], "nothing to set"),
])
def test_set_rejects(args, needle):
    assert needle in usage("vm", "set", "web01", *args)


def test_show_modes_exclude_each_other():
    assert "exclude each other" in usage("vm", "show", "x", "--xml", "--json")
    assert "exclude each other" in usage("vm", "show", "x", "--cpu-pin", "--xml")


def test_stop_timeout():
    assert "negative" in usage("vm", "stop", "x", "--timeout", "-1")
    assert "out of range (0-2147483)" in usage("vm", "stop", "x", "--timeout", "2147484")


@pytest.mark.parametrize("sub", ["create", "restore", "delete"])
def test_snapshot_needs_name(sub):
    assert "missing --name S" in usage("vm", "snapshot", sub, "web01")
    assert "missing NAME" in usage("vm", "snapshot", sub, "--name", "s1")


def test_clone_needs_new_name():
    assert "missing --name NEW" in usage("vm", "clone", "web01")
    assert "NEW given twice" in usage("vm", "clone", "web01", "web02", "--name", "web03")
    assert "unexpected argument 'x'" in usage("vm", "clone", "web01", "web02", "x")


def test_run_arguments():
    assert "give --xml FILE or --kernel FILE" in usage("vm", "run")
    assert "exclude each other" in usage("vm", "run", "--xml", "a", "--kernel", "b")
    assert "go with --kernel" in usage("vm", "run", "--xml", "a", "--append", "x")
    assert "option '--memory'" in usage("vm", "run", "--kernel", "k", "--memory", "1000K")
    assert "option '--vcpus'" in usage("vm", "run", "--kernel", "k", "--vcpus", "0")
    assert "'xen' is not kvm, qemu or test" in usage("vm", "run", "--kernel", "k", "--virt-type",
                                                     "xen")
    assert "go with --kernel" in usage("vm", "run", "--xml", "a", "--virt-type", "qemu")
