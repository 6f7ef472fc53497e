#!/bin/sh
# Regenerate tests/data/xml/libvirt/: domain XML as libvirt 9.0 itself writes
# it. Each input below is defined in libvirt's embedded QEMU driver (no
# daemon: qemu:///embed?root=DIR), and `virsh dumpxml --inactive` is saved as
# NAME.xml; the domains marked "run" are also started paused under TCG and
# their live `virsh dumpxml` saved as NAME.live.xml. The outputs are
# committed, so the tests never depend on libvirt being installed or
# behaving the same; run this script (as root) only to refresh them.
#
# Disk images live under /var/tmp/qv-corpus: the tests substitute their own
# directory for that prefix before starting a document.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../data/xml/libvirt}
img=/var/tmp/qv-corpus
command -v virsh >/dev/null || { echo "virsh is not installed" >&2; exit 77; }
root=$(mktemp -d /tmp/qv-corpus-embed.XXXXXX)
in=$(mktemp -d /tmp/qv-corpus-in.XXXXXX)
trap 'rm -rf "$root" "$in"' EXIT
mkdir -p "$root/etc" "$out" "$img"
# No virtlogd and no confinement in a container: QEMU's output goes to a file.
printf 'stdio_handler = "file"\nsecurity_driver = "none"\nuser = "root"\ngroup = "root"\n' >"$root/etc/qemu.conf"
uri="qemu:///embed?root=$root"
for f in a b c d; do
    [ -e "$img/$f.qcow2" ] || qemu-img create -q -f qcow2 "$img/$f.qcow2" 64M
done
[ -e "$img/empty.iso" ] || truncate -s 1M "$img/empty.iso"

# dom NAME run|norun: the domain body comes on stdin (name and type are
# written here). The commands for every domain go to one virsh process: the
# embedded driver lives in that process, and a domain started by one virsh
# is not seen running by the next.
cmds=$in/commands
: >"$cmds"
dom() {
    name=$1 run=$2
    { printf "<domain type='qemu'>\n  <name>corpus-%s</name>\n" "$name"; cat; printf '</domain>\n'; } \
        >"$in/$name.xml"
    {
        echo "define $in/$name.xml"
        echo "echo @@@$name.xml@@@"
        echo "dumpxml --inactive corpus-$name"
        if [ "$run" = run ]; then
            echo "start --paused corpus-$name"
            echo "echo @@@$name.live.xml@@@"
            echo "dumpxml corpus-$name"
            echo "destroy corpus-$name"
        fi
        echo "echo @@@@@@"
        echo "undefine corpus-$name"
    } >>"$cmds"
}

os_pc="<os><type arch='x86_64' machine='pc'>hvm</type></os>"
os_q35="<os><type arch='x86_64' machine='q35'>hvm</type></os>"
mem="<memory unit='MiB'>128</memory><vcpu>1</vcpu>"

dom minimal run <<X
$mem<os><type arch='x86_64'>hvm</type></os>
X
dom q35-minimal run <<X
$mem$os_q35
X
dom pc-virtio-disk run <<X
$mem$os_pc
<devices>
  <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
    <source file='$img/a.qcow2'/><target dev='vda' bus='virtio'/></disk>
  <disk type='file' device='cdrom'><driver name='qemu' type='raw'/>
    <source file='$img/empty.iso'/><target dev='hdc' bus='ide'/><readonly/></disk>
  <interface type='user'><model type='e1000'/></interface>
</devices>
X
dom q35-sata run <<X
<memory unit='MiB'>256</memory><currentMemory unit='MiB'>192</currentMemory><vcpu>2</vcpu>$os_q35
<devices>
  <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
    <source file='$img/b.qcow2'/><target dev='sda' bus='sata'/></disk>
  <disk type='file' device='cdrom'><target dev='sdb' bus='sata'/><readonly/></disk>
  <interface type='user'><model type='virtio'/></interface>
</devices>
X
dom pc-ide norun <<X
$mem$os_pc
<devices>
  <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
    <source file='$img/c.qcow2'/><target dev='hda' bus='ide'/></disk>
  <disk type='file' device='cdrom'><source file='$img/empty.iso'/>
    <target dev='hdc' bus='ide'/><readonly/></disk>
</devices>
X
dom nic-network norun <<X
$mem$os_q35
<devices>
  <interface type='network'><source network='default'/><model type='virtio'/></interface>
</devices>
X
dom nic-bridge norun <<X
$mem$os_pc
<devices>
  <interface type='bridge'><mac address='52:54:00:12:34:56'/><source bridge='br0'/>
    <model type='virtio'/></interface>
</devices>
X
dom serial-console run <<X
$mem$os_pc
<devices>
  <serial type='pty'><target port='0'/></serial>
  <console type='pty'><target type='serial' port='0'/></console>
</devices>
X
dom vnc-video run <<X
$mem$os_q35
<devices>
  <input type='tablet' bus='usb'/>
  <graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'/>
  <video><model type='vga' vram='16384' heads='1'/></video>
</devices>
X
dom video-virtio norun <<X
$mem$os_q35
<devices>
  <graphics type='vnc' autoport='yes'/>
  <video><model type='virtio' heads='1' primary='yes'/></video>
</devices>
X
dom video-cirrus norun <<X
$mem$os_pc
<devices>
  <graphics type='vnc' autoport='yes'/>
  <video><model type='cirrus'/></video>
</devices>
X
dom features run <<X
$mem$os_pc
<features><acpi/><apic/><pae/></features>
X
dom features-q35 norun <<X
$mem$os_q35
<features><acpi/><apic/><vmport state='off'/><smm state='on'/>
  <hyperv mode='custom'><relaxed state='on'/><vapic state='on'/><spinlocks state='on' retries='8191'/></hyperv>
</features>
X
dom features-machine run <<X
$mem$os_q35
<features><acpi/><apic/><smm state='on'><tseg unit='MiB'>48</tseg></smm><vmport state='off'/>
  <ioapic driver='qemu'/><pmu state='off'/><vmcoreinfo state='on'/>
  <kvm><hidden state='on'/></kvm>
  <hyperv mode='custom'><relaxed state='off'/></hyperv></features>
X
dom os-sysinfo run <<X
$mem<os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/>
  <bootmenu enable='yes' timeout='3000'/><bios useserial='yes' rebootTimeout='0'/>
  <smbios mode='sysinfo'/></os>
<sysinfo type='smbios'>
  <bios><entry name='vendor'>QV</entry><entry name='release'>1.2</entry></bios>
  <system><entry name='manufacturer'>Example, Inc</entry><entry name='product'>qv-corpus</entry></system>
  <baseBoard><entry name='asset'>A1</entry></baseBoard>
  <chassis><entry name='sku'>S1</entry></chassis>
  <oemStrings><entry>myapp:some data</entry></oemStrings>
</sysinfo>
<sysinfo type='fwcfg'><entry name='opt/com.example/name'>example value</entry></sysinfo>
<devices><serial type='pty'/></devices>
X
dom memory-backing run <<X
$mem$os_q35
<memoryBacking><nosharepages/><source type='memfd'/><access mode='shared'/>
  <allocation mode='immediate' threads='2'/></memoryBacking>
X
dom iothreads run <<X
$mem$os_q35
<iothreads>2</iothreads>
<iothreadids><iothread id='1'/><iothread id='2' thread_pool_min='1' thread_pool_max='4'/></iothreadids>
<seclabel type='none'/>
X
dom cpu-host-passthrough norun <<X
<memory unit='MiB'>128</memory><vcpu>4</vcpu>$os_q35
<cpu mode='host-passthrough' check='none' migratable='on'>
  <topology sockets='1' dies='1' cores='2' threads='2'/></cpu>
X
dom cpu-host-model norun <<X
$mem$os_q35
<cpu mode='host-model'/>
X
dom cpu-custom run <<X
<memory unit='MiB'>128</memory><vcpu>2</vcpu>$os_pc
<cpu mode='custom' match='exact'><model fallback='allow'>qemu64</model>
  <topology sockets='2' cores='1' threads='1'/></cpu>
X
dom clock-utc-timers run <<X
$mem$os_pc
<clock offset='utc'>
  <timer name='rtc' tickpolicy='catchup'/>
  <timer name='pit' tickpolicy='delay'/>
  <timer name='hpet' present='no'/>
</clock>
X
dom clock-localtime run <<X
$mem$os_q35
<clock offset='localtime'/>
X
dom lifecycle-pm run <<X
$mem$os_pc
<on_poweroff>destroy</on_poweroff>
<on_reboot>destroy</on_reboot>
<on_crash>destroy</on_crash>
<pm><suspend-to-mem enabled='no'/><suspend-to-disk enabled='no'/></pm>
X
dom memballoon-none run <<X
$mem$os_q35
<devices><memballoon model='none'/></devices>
X
dom controllers norun <<X
$mem$os_q35
<devices>
  <controller type='usb' model='qemu-xhci' ports='15'/>
  <controller type='scsi' model='virtio-scsi'/>
  <controller type='virtio-serial'/>
  <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
    <source file='$img/d.qcow2'/><target dev='sda' bus='scsi'/></disk>
</devices>
X
dom channel-agent norun <<X
$mem$os_q35
<devices>
  <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
  <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
</devices>
X
dom kernel-boot norun <<X
$mem<os><type arch='x86_64' machine='q35'>hvm</type>
  <kernel>$img/vmlinuz</kernel><initrd>$img/initrd.img</initrd>
  <cmdline>console=ttyS0 root=/dev/vda</cmdline></os>
X
dom vcpu-current norun <<X
<title>Corpus VM</title><description>free text</description>
<memory unit='GiB'>1</memory><currentMemory unit='MiB'>512</currentMemory>
<vcpu placement='static' current='1'>4</vcpu>$os_pc
X
dom server-q35 run <<X
<memory unit='MiB'>256</memory><vcpu>2</vcpu>
<os><type arch='x86_64' machine='q35'>hvm</type><boot dev='hd'/><boot dev='cdrom'/></os>
<features><acpi/><apic/></features>
<cpu mode='custom' match='exact'><model fallback='allow'>qemu64</model></cpu>
<clock offset='utc'><timer name='rtc' tickpolicy='catchup'/><timer name='pit' tickpolicy='delay'/><timer name='hpet' present='no'/></clock>
<on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash>
<pm><suspend-to-mem enabled='no'/><suspend-to-disk enabled='no'/></pm>
<devices>
  <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
    <source file='$img/a.qcow2'/><target dev='vda' bus='virtio'/></disk>
  <disk type='file' device='cdrom'><driver name='qemu' type='raw'/>
    <source file='$img/empty.iso'/><target dev='sda' bus='sata'/><readonly/></disk>
  <interface type='user'><model type='virtio'/></interface>
  <serial type='pty'><target type='isa-serial' port='0'><model name='isa-serial'/></target></serial>
  <console type='pty'><target type='serial' port='0'/></console>
  <input type='tablet' bus='usb'/>
  <graphics type='vnc' port='-1' autoport='yes'><listen type='address' address='127.0.0.1'/></graphics>
  <video><model type='virtio' heads='1' primary='yes'/></video>
  <memballoon model='virtio'/>
</devices>
X
dom server-pc run <<X
<memory unit='MiB'>256</memory><vcpu>2</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
<features><acpi/><apic/><pae/></features>
<clock offset='utc'/>
<devices>
  <disk type='file' device='disk'><driver name='qemu' type='qcow2' cache='none'/>
    <source file='$img/b.qcow2'/><target dev='vda' bus='virtio'/></disk>
  <interface type='user'><mac address='52:54:00:aa:bb:cc'/><model type='rtl8139'/></interface>
  <serial type='pty'/>
  <input type='mouse' bus='ps2'/><input type='keyboard' bus='ps2'/>
  <graphics type='vnc' autoport='yes'/>
  <video><model type='cirrus'/></video>
</devices>
X
dom i686 norun <<X
$mem<os><type arch='i686' machine='pc'>hvm</type></os>
X
dom serial-ports run <<X
$mem$os_q35
<devices>
  <serial type='pty'><target type='isa-serial' port='0'><model name='isa-serial'/></target></serial>
  <serial type='null'><target type='isa-serial' port='1'><model name='isa-serial'/></target></serial>
  <console type='pty'><target type='serial' port='0'/></console>
</devices>
X
dom watchdog-pc run <<X
$mem$os_pc
<devices><watchdog model='i6300esb' action='poweroff'/></devices>
X
dom sound-hda run <<X
$mem$os_q35
<devices>
  <sound model='ich9'><codec type='micro'/><audio id='1'/></sound>
  <audio id='1' type='none'/>
</devices>
X
dom sound-pc run <<X
$mem$os_pc
<devices>
  <sound model='ac97'/>
  <sound model='es1370'/>
  <audio id='1' type='file' path='$img/sound.wav'/>
</devices>
X
dom tpm-emulator norun <<X
$mem$os_q35
<devices><tpm model='tpm-crb'><backend type='emulator' version='2.0'/></tpm></devices>
X
dom bus-controllers run <<X
$mem$os_pc
<devices>
  <controller type='virtio-serial' index='0' ports='16' vectors='4'/>
  <controller type='scsi' index='0' model='lsilogic'/>
  <controller type='scsi' index='1' model='virtio-scsi'><driver queues='2'/></controller>
</devices>
X
dom redirdev-tcp norun <<X
$mem$os_q35
<devices>
  <redirdev bus='usb' type='tcp'><source mode='connect' host='127.0.0.1' service='4000'/></redirdev>
</devices>
X
dom numa-cells run <<X
<memory unit='MiB'>256</memory><vcpu>4</vcpu>$os_q35
<cpu mode='custom' match='exact'><model fallback='allow'>qemu64</model>
  <topology sockets='2' cores='2' threads='1'/>
  <numa>
    <cell id='0' cpus='0-1' memory='128' unit='MiB'>
      <distances><sibling id='0' value='10'/><sibling id='1' value='21'/></distances></cell>
    <cell id='1' cpus='2-3' memory='128' unit='MiB' memAccess='shared'>
      <distances><sibling id='0' value='21'/><sibling id='1' value='10'/></distances></cell>
  </numa></cpu>
X
dom filesystem-virtiofs norun <<X
$mem$os_q35
<memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>
<devices>
  <filesystem type='mount' accessmode='passthrough'><driver type='virtiofs' queue='1024'/>
    <binary path='/usr/lib/qemu/virtiofsd' xattr='on'><cache mode='always'/>
      <lock posix='on' flock='on'/></binary>
    <source dir='$img'/><target dir='corpus'/></filesystem>
</devices>
X
dom spice-qxl norun <<X
$mem$os_q35
<devices>
  <graphics type='spice' autoport='yes' defaultMode='any'>
    <listen type='address' address='127.0.0.1'/>
    <channel name='main' mode='insecure'/>
    <image compression='auto_glz'/><jpeg compression='auto'/><zlib compression='auto'/>
    <playback compression='on'/><streaming mode='filter'/><mouse mode='client'/>
    <clipboard copypaste='no'/><filetransfer enable='no'/><gl enable='no'/>
  </graphics>
  <video><model type='qxl' ram='65536' vram='65536' vgamem='16384' heads='1' primary='yes'/></video>
  <channel type='spicevmc'><target type='virtio' name='com.redhat.spice.0'/></channel>
  <redirdev bus='usb' type='spicevmc'/>
  <audio id='1' type='spice'/>
  <sound model='ich9'><audio id='1'/></sound>
</devices>
X
dom spice-nolisten norun <<X
$mem$os_pc
<devices>
  <graphics type='spice'><listen type='none'/></graphics>
</devices>
X
dom smartcard-passthrough norun <<X
$mem$os_q35
<devices>
  <smartcard mode='passthrough' type='unix'><source mode='bind' path='$img/smartcard.sock'/></smartcard>
</devices>
X
dom secure-boot norun <<X
$mem<os><type arch='x86_64' machine='q35'>hvm</type>
  <loader readonly='yes' secure='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.secboot.fd</loader>
  <nvram template='/usr/share/OVMF/OVMF_VARS_4M.ms.fd'>$img/secure-boot_VARS.fd</nvram></os>
<features><acpi/><smm state='on'/></features>
X
dom interface-hostdev norun <<X
$mem$os_q35
<devices>
  <interface type='hostdev' managed='yes'><mac address='52:54:00:6d:90:02'/>
    <source><address type='pci' domain='0x0000' bus='0x04' slot='0x10' function='0x1'/></source>
    <vlan><tag id='42'/></vlan></interface>
dom memory-hotplug run <<X
<maxMemory slots='4' unit='MiB'>1024</maxMemory>
<memory unit='MiB'>256</memory><vcpu>2</vcpu>$os_pc<features><acpi/></features>
<cpu><numa><cell id='0' cpus='0-1' memory='128' unit='MiB'/></numa></cpu>
<devices>
  <memory model='dimm'><target><size unit='MiB'>128</size><node>0</node></target></memory>
</devices>
X
dom memtune norun <<X
$mem$os_pc
<memtune><hard_limit unit='MiB'>512</hard_limit><soft_limit unit='MiB'>256</soft_limit>
  <swap_hard_limit unit='MiB'>1024</swap_hard_limit></memtune>
X
dom blkiotune norun <<X
$mem$os_pc
<blkiotune><weight>500</weight>
  <device><path>/dev/loop0</path><weight>400</weight><read_bytes_sec>1048576</read_bytes_sec>
    <write_bytes_sec>524288</write_bytes_sec><read_iops_sec>200</read_iops_sec>
    <write_iops_sec>100</write_iops_sec></device></blkiotune>
X
dom disk-iothread run <<X
$mem$os_q35
<iothreads>2</iothreads>
<devices>
  <disk type='file' device='disk'><driver name='qemu' type='qcow2' iothread='2'/>
    <source file='$img/c.qcow2'/><target dev='vda' bus='virtio'/></disk>
</devices>
X
dom memory-devices norun <<X
<maxMemory slots='4' unit='MiB'>1024</maxMemory>
<memory unit='MiB'>384</memory><vcpu>1</vcpu>$os_q35<features><acpi/></features>
<cpu><numa><cell id='0' cpus='0' memory='128' unit='MiB'/></numa></cpu>
<devices>
  <memory model='nvdimm' access='shared'><source><path>$img/nvdimm.img</path></source>
    <target><size unit='MiB'>64</size><node>0</node><label><size unit='KiB'>128</size></label></target></memory>
  <memory model='virtio-pmem' access='shared'><source><path>$img/pmem.img</path></source>
    <target><size unit='MiB'>64</size></target></memory>
  <memory model='virtio-mem'><target><size unit='MiB'>128</size><node>0</node>
    <block unit='MiB'>2</block><requested unit='MiB'>64</requested></target></memory>
</devices>
X
rm -f "$out"/*.xml
# "@@@FILE@@@" starts a document, "@@@@@@" ends it; virsh's echo does not
# always end its line, so a marker may share one with the document.
virsh -q -c "$uri" "$(cat "$cmds")" | awk -v out="$out" '
    {
        line = $0
        while ((i = index(line, "@@@")) > 0) {
            if (file != "" && i > 1) print substr(line, 1, i - 1) > file
            rest = substr(line, i + 3)
            j = index(rest, "@@@")
            file = j > 1 ? out "/" substr(rest, 1, j - 1) : ""
            line = substr(rest, j + 3)
        }
        if (file != "" && line !~ /^Domain / && line != "") print line > file
    }'
echo "wrote $(ls "$out" | wc -l) documents to $out"
