"""Snapshots and their table, across separate qv invocations."""

import datetime
import re
import time

from conftest import parse_kv, parse_table

HEADERS = ["NAME", "CREATED", "SIZE", "STATE"]
SIZE_RE = r"\d+ B|\d+(\.\d)? (KiB|MiB|GiB|TiB)"


def snaps(cli, vm):
    return parse_table(cli.ok("vm", "snapshot", "list", vm).out, HEADERS)


def test_snapshot_cycle(cli):
    cli.ok("vm", "create", "--name", "web01", "--vcpus", "2", "--memory", "64M")
    assert snaps(cli, "web01") == []
    before = time.time()
    r = cli.ok("vm", "snapshot", "create", "web01", "--name", "fresh")
    assert r.out == "Snapshot 'fresh' of VM 'web01' created.\n"
    cli.ok("vm", "start", "web01")
    cli.ok("vm", "snapshot", "create", "web01", "--name", "running")
    cli.ok("vm", "pause", "web01")
    cli.ok("vm", "snapshot", "create", "web01", "--name", "paused")
    after = time.time()

    rows = snaps(cli, "web01")
    assert [(r["NAME"], r["STATE"]) for r in rows] == [
        ("fresh", "created"), ("running", "running"), ("paused", "paused")]
    for row in rows:
        assert re.fullmatch(SIZE_RE, row["SIZE"]), row
        created = datetime.datetime.strptime(row["CREATED"], "%Y-%m-%d %H:%M:%S")
        # Local time, to the second.
        assert before - 1 <= created.timestamp() <= after + 1, row
    assert parse_kv(cli.ok("vm", "show", "web01").out)["Snapshots"] == "3"

    # Restore puts the VM back into the captured state.
    assert cli.ok("vm", "snapshot", "restore", "web01", "--name", "fresh").out == \
        "Snapshot 'fresh' of VM 'web01' restored.\n"
    assert parse_kv(cli.ok("vm", "show", "web01").out)["State"].startswith("created")
    cli.ok("vm", "snapshot", "restore", "web01", "--name", "running")
    assert parse_kv(cli.ok("vm", "show", "web01").out)["State"].startswith("running")

    assert cli.ok("vm", "snapshot", "delete", "web01", "--name", "running").out == \
        "Snapshot 'running' of VM 'web01' deleted.\n"
    assert [r["NAME"] for r in snaps(cli, "web01")] == ["fresh", "paused"]
    cli.ok("vm", "destroy", "web01")
    r = cli.fails(1, "vm", "snapshot", "list", "web01")


def test_snapshot_restores_settings(cli):
    cli.ok("vm", "create", "--name", "web01", "--vcpus", "4")
    cli.ok("vm", "snapshot", "create", "web01", "--name", "four")
    cli.ok("vm", "set", "web01", "--vcpus", "2")
    assert parse_kv(cli.ok("vm", "show", "web01").out)["vCPUs"] == "2 (maximum 4)"
    cli.ok("vm", "snapshot", "restore", "web01", "--name", "four")
    assert parse_kv(cli.ok("vm", "show", "web01").out)["vCPUs"] == "4"


def test_disk_only_flag(cli):
    cli.ok("vm", "create", "--name", "web01")
    cli.ok("vm", "snapshot", "create", "web01", "--name", "d", "--disk-only")
    assert [r["NAME"] for r in snaps(cli, "web01")] == ["d"]
