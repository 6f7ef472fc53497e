"""vm set and what vm show reads back."""

import glob
import os
import re

import pytest

from conftest import assert_valid_domain_xml, parse_kv


def numa_node(cpu):
    nodes = glob.glob("/sys/devices/system/cpu/cpu%d/node*" % cpu)
    return int(os.path.basename(nodes[0])[4:]) if nodes else None


def pin_line(vcpu, pcpu):
    node = numa_node(pcpu)
    if node is None:
        return "vCPU %d → pCPU %d" % (vcpu, pcpu)
    return "vCPU %d → pCPU %d (NUMA node %d)" % (vcpu, pcpu, node)


def test_cpu_pin(cli):
    cli.ok("vm", "create", "--name", "web01", "--vcpus", "3")
    assert cli.ok("vm", "show", "web01", "--cpu-pin").out == \
        "vCPU 0 → any\nvCPU 1 → any\nvCPU 2 → any\n"
    assert cli.ok("vm", "set", "web01", "--cpu-pin", "0:1,2:0").out == "VM 'web01' updated.\n"
    assert cli.ok("vm", "show", "web01", "--cpu-pin").out.splitlines() == [
        pin_line(0, 1), "vCPU 1 → any", pin_line(2, 0)]
    cli.ok("vm", "set", "web01", "--cpu-pin", "0:none")
    assert cli.ok("vm", "show", "web01", "--cpu-pin").out.splitlines()[0] == "vCPU 0 → any"


def test_cpu_pin_spread(cli):
    cli.ok("vm", "create", "--name", "web01", "--vcpus", "3")
    cli.ok("vm", "set", "web01", "--cpu-pin", "spread")
    allowed = sorted(os.sched_getaffinity(0))
    lines = cli.ok("vm", "show", "web01", "--cpu-pin").out.splitlines()
    assert lines == [pin_line(i, allowed[i % len(allowed)]) for i in range(3)]


def test_cpu_pin_auto_clears_every_pin(cli):
    cli.ok("vm", "create", "--name", "web01", "--vcpus", "3")
    cli.ok("vm", "set", "web01", "--cpu-pin", "0:1,2:0")
    cli.ok("vm", "set", "web01", "--cpu-pin", "auto")
    assert cli.ok("vm", "show", "web01", "--cpu-pin").out == \
        "vCPU 0 → any\nvCPU 1 → any\nvCPU 2 → any\n"
    assert "vcpupin" not in cli.ok("vm", "show", "web01", "--xml").out
    r = cli.fails(2, "vm", "set", "web01", "--cpu-pin", "auto", "--cpu-pin", "spread")
    assert "given twice" in r.err


def test_cpu_pin_offline_vcpus_marked(cli):
    cli.ok("vm", "create", "--name", "web01", "--vcpus", "2")
    cli.ok("vm", "set", "web01", "--vcpus", "1")
    lines = cli.ok("vm", "show", "web01", "--cpu-pin").out.splitlines()
    assert lines == ["vCPU 0 → any", "vCPU 1 → any (offline)"]


def test_weight_and_cap_reach_the_definition(cli, tmp_path):
    cli.ok("vm", "create", "--name", "web01", "--vcpus", "2")
    cli.ok("vm", "set", "web01", "--cpu-weight", "512", "--cpu-cap", "50")
    xml = cli.ok("vm", "show", "web01", "--xml").out
    assert re.search(r"<shares>512</shares>", xml), xml
    kv = parse_kv(cli.ok("vm", "show", "web01").out)
    assert (kv["CPU weight"], kv["CPU cap"]) == ("512", "50%"), kv
    cli.ok("vm", "set", "web01", "--cpu-pin", "0:1,1:0")
    assert_valid_domain_xml(cli.ok("vm", "show", "web01", "--xml").out, tmp_path)
    cli.ok("vm", "set", "web01", "--cpu-weight", "65535", "--cpu-cap", "0")
    assert "<shares>65535</shares>" in cli.ok("vm", "show", "web01", "--xml").out
    cli.ok("vm", "set", "web01", "--cpu-weight", "1")


def test_vcpus_and_memory(cli):
    cli.ok("vm", "create", "--name", "web01", "--vcpus", "4", "--memory", "1G")
    cli.ok("vm", "set", "web01", "--vcpus", "2", "--memory", "512M")
    kv = parse_kv(cli.ok("vm", "show", "web01").out)
    assert kv["vCPUs"] == "2 (maximum 4)"
    assert kv["Memory"] == "512 MiB (maximum 1 GiB)"
    cli.ok("vm", "set", "web01", "--memory", "1024")  # a bare number is MiB
    assert parse_kv(cli.ok("vm", "show", "web01").out)["Memory"] == "1 GiB"


def test_settings_while_running(cli):
    cli.ok("vm", "create", "--name", "web01", "--vcpus", "2")
    cli.ok("vm", "start", "web01")
    cli.ok("vm", "set", "web01", "--cpu-weight", "300", "--cpu-pin", "1:0")
    assert cli.ok("vm", "show", "web01", "--cpu-pin").out.splitlines()[1] == pin_line(1, 0)


DISKS_XML = """<domain type='kvm'>
  <name>io</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='/var/tmp/io-a.img'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='/var/tmp/io-b.img'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <interface type='user'>
      <mac address='52:54:00:12:34:56'/>
      <model type='virtio'/>
    </interface>
  </devices>
</domain>
"""


def iotune(xml, dev):
    disks = [d for d in re.findall(r"<disk .*?</disk>", xml, re.S)
             if re.search(r"<target dev=['\"]%s['\"]" % dev, d)]
    assert len(disks) == 1, xml

    def get(tag):
        m = re.search(r"<%s>(\d+)</%s>" % (tag, tag), disks[0])
        return int(m.group(1)) if m else 0

    return get("total_bytes_sec"), get("total_iops_sec")


def test_io_and_net_limits(cli, tmp_path):
    f = tmp_path / "io.xml"
    f.write_text(DISKS_XML)
    cli.ok("vm", "create", "--xml", f)
    kv = parse_kv(cli.ok("vm", "show", "io").out)
    assert (kv["Disks"], kv["NICs"]) == ("2", "1"), kv
    cli.ok("vm", "set", "io", "--io-limit", "10M", "--iops-limit", "500")
    xml = cli.ok("vm", "show", "io", "--xml").out
    assert iotune(xml, "vda") == (10 << 20, 500)
    assert iotune(xml, "vdb") == (10 << 20, 500)
    # One limit alone keeps the other; --disk narrows it to one disk.
    cli.ok("vm", "set", "io", "--iops-limit", "100", "--disk", "vdb")
    xml = cli.ok("vm", "show", "io", "--xml").out
    assert iotune(xml, "vda") == (10 << 20, 500)
    assert iotune(xml, "vdb") == (10 << 20, 100)
    cli.ok("vm", "set", "io", "--io-limit", "1000/s")
    xml = cli.ok("vm", "show", "io", "--xml").out
    assert iotune(xml, "vdb") == (1000, 100)
    r = cli.fails(1, "vm", "set", "io", "--io-limit", "1M", "--disk", "vdz")
    assert "vdz" in r.err

    # 100 Mbit/s = 12500000 bytes/s = 12207.03 KiB/s, rounded up.
    cli.ok("vm", "set", "io", "--net-limit", "100M")
    xml = cli.ok("vm", "show", "io", "--xml").out
    assert re.search(r"<inbound average=['\"]12208['\"]", xml), xml
    r = cli.fails(1, "vm", "set", "io", "--net-limit", "1M", "--nic", "52:54:00:00:00:99")
    assert "52:54:00:00:00:99" in r.err
    assert_valid_domain_xml(xml, tmp_path)
    cli.ok("vm", "set", "io", "--net-limit", "0", "--nic", "52:54:00:12:34:56")
    assert "<bandwidth" not in cli.ok("vm", "show", "io", "--xml").out


def test_failed_setting_reports_and_keeps_earlier(cli):
    """Settings apply in a fixed order; a failure names the problem and
    leaves the ones before it applied (documented in --help)."""
    cli.ok("vm", "create", "--name", "web01", "--vcpus", "2")
    r = cli.fails(1, "vm", "set", "web01", "--cpu-weight", "700", "--vcpus", "3")
    assert "maximum" in r.err
    assert "<shares>700</shares>" in cli.ok("vm", "show", "web01", "--xml").out


@pytest.mark.parametrize("text,shown", [("512M", "512 MiB"), ("512MiB", "512 MiB"),
                                        ("512mb", "512 MiB"), ("524288K", "512 MiB"),
                                        ("768", "768 MiB"), ("1G", "1 GiB"),
                                        ("1610612736B", "1.5 GiB"), ("1536M", "1.5 GiB"),
                                        ("1Gb", "1 GiB"), ("1.5G", None), ("1X", None)])
def test_memory_spellings(cli, text, shown):
    cli.ok("vm", "create", "--name", "web01", "--memory", "2G")
    r = cli("vm", "set", "web01", "--memory", text)
    if shown is None:
        assert r.rc == 2 and "option '--memory': invalid size" in r.err, r
        return
    assert r.rc == 0, r
    assert parse_kv(cli.ok("vm", "show", "web01").out)["Memory"] == "%s (maximum 2 GiB)" % shown


@pytest.mark.parametrize("text", ["100M", "100Mbit", "100mbit", "100000k", "100000000",
                                  "100000000bit", "100M/s"])
def test_net_limit_spellings(cli, tmp_path, text):
    f = tmp_path / "io.xml"
    f.write_text(DISKS_XML)
    cli.ok("vm", "create", "--xml", f)
    cli.ok("vm", "set", "io", "--net-limit", text)
    assert re.search(r"<inbound average=['\"]12208['\"]", cli.ok("vm", "show", "io", "--xml").out)
