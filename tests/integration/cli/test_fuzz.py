"""Random command lines: whatever a user types, qv answers with exit code 0,
1 or 2 and a message, never a crash (under ASan/UBSan in CI, never a
sanitizer report either)."""

import random

import pytest

from conftest import run_qv

WORDS = ["vm", "system", "info", "create", "list", "start", "stop", "pause", "resume", "reset",
         "destroy", "show", "set", "snapshot", "clone", "run", "console", "restore", "delete",
         "web01", "s1", "--all", "--json", "--xml", "--cpu-pin", "--force", "--timeout",
         "--name", "--vcpus", "--memory", "--cpu-weight", "--cpu-cap", "--io-limit",
         "--iops-limit", "--net-limit", "--disk", "--nic", "--kernel", "--initrd", "--append",
         "--config", "--disk-only", "-h", "--", "-", "-x", "--=", "--name=", "0:1,1:0", "auto",
         "0", "1", "-1", "65536", "18446744073709551616", "512M", "2G", "1.5G", "9999999T",
         "0:", ":1", "0:1,0:2", "", " ", "\u00e9\u00e8", "a/b", "..", "x" * 300, "%s%n",
         "/nonexistent", "vda", "52:54:00:00:00:01", "--help=1", "--connect"]


def random_argv(rng):
    return [rng.choice(WORDS) for _ in range(rng.randint(0, 7))]


@pytest.mark.parametrize("seed", range(4))
def test_random_command_lines(cli, seed):
    rng = random.Random(seed)
    cli.ok("vm", "create", "--name", "web01", "--vcpus", "2")
    for _ in range(60):
        argv = random_argv(rng)
        if "run" in argv or "console" in argv:
            # Both may legitimately wait for a guest; they have their own tests.
            continue
        r = cli(*argv, timeout=30)
        assert r.rc in (0, 1, 2), (argv, r)
        assert "Sanitizer" not in r.err and "runtime error" not in r.err, (argv, r)
        if r.rc != 0:
            assert r.err.startswith("qv: "), (argv, r)
