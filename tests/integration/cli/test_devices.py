"""vm disk-add/disk-remove/nic-add/nic-remove on a stopped VM (noop): the
definition follows. Live hot-plug is in tests/integration/qemu."""

import pytest

from conftest import assert_valid_domain_xml


def test_disk_add_and_remove(cli, tmp_path):
    cli.ok("vm", "create", "--name", "web01")
    img = tmp_path / "data.qcow2"
    img.write_bytes(b"")
    assert cli.ok("vm", "disk-add", "web01", "--path", img).out == \
        "Disk vda added to VM 'web01'.\n"
    # The next free target, a bus of its own, read-only, an explicit format.
    assert cli.ok("vm", "disk-add", "web01", "--path", img, "--type", "sata", "--readonly",
                  "--format", "raw").out == "Disk sda added to VM 'web01'.\n"
    assert cli.ok("vm", "disk-add", "web01", "--path", img).out == \
        "Disk vdb added to VM 'web01'.\n"
    xml = cli.ok("vm", "show", "web01", "--xml").out
    assert_valid_domain_xml(xml, tmp_path)
    assert '<driver name="qemu" type="qcow2"/>' in xml  # from the .qcow2 suffix
    assert '<target dev="sda" bus="sata"/>' in xml and "<readonly/>" in xml
    assert cli.ok("vm", "disk-remove", "web01", "--target", "vda").out == \
        "Disk vda removed from VM 'web01'.\n"
    xml = cli.ok("vm", "show", "web01", "--xml").out
    assert 'dev="vda"' not in xml and 'dev="vdb"' in xml
    r = cli.fails(1, "vm", "disk-remove", "web01", "--target", "vda")
    assert "has no disk 'vda'" in r.err
    r = cli.fails(1, "vm", "disk-add", "web01", "--path", img, "--target", "vdb")
    assert "already has a disk 'vdb'" in r.err


def test_relative_path_is_made_absolute(cli, tmp_path, monkeypatch):
    cli.ok("vm", "create", "--name", "web01")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rel.img").write_bytes(b"")
    cli.ok("vm", "disk-add", "web01", "--path", "rel.img")
    assert '<source file="%s"/>' % (tmp_path / "rel.img") in cli.ok("vm", "show", "web01",
                                                                     "--xml").out


def test_quotes_in_values_are_data(cli, tmp_path):
    cli.ok("vm", "create", "--name", "web01")
    odd = tmp_path / "it's <odd>.img"
    odd.write_bytes(b"")
    cli.ok("vm", "disk-add", "web01", "--path", odd)
    xml = cli.ok("vm", "show", "web01", "--xml").out
    assert_valid_domain_xml(xml, tmp_path)
    assert "it's &lt;odd&gt;.img" in xml
    r = cli.fails(1, "vm", "nic-add", "web01", "--bridge", "br'0")
    assert "<source>" in r.err


def test_nic_add_and_remove(cli, tmp_path):
    cli.ok("vm", "create", "--name", "web01")
    assert cli.ok("vm", "nic-add", "web01", "--network", "user", "--mac",
                  "52:54:00:aa:bb:cc").out == "NIC added to VM 'web01'.\n"
    cli.ok("vm", "nic-add", "web01", "--bridge", "br0", "--type", "e1000")
    xml = cli.ok("vm", "show", "web01", "--xml").out
    assert_valid_domain_xml(xml, tmp_path)
    assert '<mac address="52:54:00:aa:bb:cc"/>' in xml
    assert '<source bridge="br0"/>' in xml and '<model type="e1000"/>' in xml
    assert cli.ok("vm", "nic-remove", "web01", "--mac", "52:54:00:AA:BB:CC").out == \
        "NIC 52:54:00:AA:BB:CC removed from VM 'web01'.\n"
    assert "52:54:00:aa:bb:cc" not in cli.ok("vm", "show", "web01", "--xml").out
    r = cli.fails(1, "vm", "nic-remove", "web01", "--mac", "52:54:00:aa:bb:cc")
    assert "no NIC with MAC" in r.err


@pytest.mark.parametrize("args,msg", [
    (["disk-add", "web01"], "missing --path FILE"),
    (["disk-add", "web01", "--path", "x", "--type", "floppy"], "'floppy' is not virtio-blk"),
    (["disk-add", "web01", "--path", "x", "--format", "vmdk"], "'vmdk' is not raw or qcow2"),
    (["disk-remove", "web01"], "missing --target DEV"),
    (["nic-add", "web01"], "give one of --network user or --bridge BR"),
    (["nic-add", "web01", "--network", "user", "--bridge", "br0"], "give one of"),
    (["nic-add", "web01", "--network", "default"], "'default' is not 'user'"),
    (["nic-add", "web01", "--network", "user", "--type", "ne2k"], "'ne2k' is not virtio-net"),
    (["nic-remove", "web01"], "missing --mac MAC"),
    (["disk-add"], "NAME"),
])
def test_usage_errors(cli, args, msg):
    r = cli.fails(2, "vm", *args)
    assert msg in r.err, r
