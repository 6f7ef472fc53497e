#!/bin/sh
# Regenerate tests/data/xml/virtinst/: domain XML as Debian's virt-install
# (virtinst 4.1) writes it with --print-xml, for a range of its options, on
# libvirt's embedded QEMU driver (no daemon: qemu:///embed?root=DIR; see
# virt_install.py for why it runs in-process). These are the documents a
# user who scripts virt-install hands qv: not normalised by libvirt (no
# index=, no <address>), with osinfo's choices of devices. The outputs are
# committed, so the tests never need virtinst; run this script (as root)
# only to refresh them. A document virt-install refuses to write is
# reported and skipped.
#
# Disk images live under /var/tmp/qv-corpus, as for the libvirt corpus: the
# tests substitute their own directory for that prefix.
set -u
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../data/xml/virtinst}
img=/var/tmp/qv-corpus
[ -e /usr/share/virt-manager/virtinst ] || { echo "virtinst is not installed" >&2; exit 77; }
root=$(mktemp -d /tmp/qv-virtinst-embed.XXXXXX)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/etc" "$out" "$img"
printf 'stdio_handler = "file"\nsecurity_driver = "none"\nuser = "root"\ngroup = "root"\n' >"$root/etc/qemu.conf"
for f in a b c d; do
    [ -e "$img/$f.qcow2" ] || qemu-img create -q -f qcow2 "$img/$f.qcow2" 64M
done
[ -e "$img/empty.iso" ] || truncate -s 1M "$img/empty.iso"
[ -e "$img/vmlinuz" ] || : >"$img/vmlinuz"
[ -e "$img/initrd.img" ] || : >"$img/initrd.img"
mkdir -p "$img/share"

failed=0
# vi NAME OPTION...: one document, from the common options plus these.
vi() {
    name=$1
    shift
    if /usr/bin/python3 "$here/virt_install.py" --connect "qemu:///embed?root=$root" \
        --print-xml --name "vi-$name" --memory 256 --import --graphics none \
        --noautoconsole "$@" >"$out/$name.xml.tmp" 2>"$root/err"; then
        mv "$out/$name.xml.tmp" "$out/$name.xml"
    else
        echo "virt-install refused $name: $(grep ERROR "$root/err")" >&2
        rm -f "$out/$name.xml.tmp"
        failed=$((failed + 1))
    fi
}

d="--disk $img/a.qcow2"
# operating systems: osinfo picks the machine, buses, models and features
vi generic $d --osinfo generic
vi debian11 $d --osinfo debian11
vi ubuntu22 $d --osinfo ubuntu22.04
vi fedora37 $d --osinfo fedora37
vi rhel9 $d --osinfo rhel9.0
vi alpine $d --osinfo alpinelinux3.17
vi freebsd13 $d --osinfo freebsd13.1
vi win10 $d --osinfo win10
vi win2k22 $d --osinfo win2k22
vi i686 $d --osinfo linux2018 --arch i686
# machine and firmware
vi q35 $d --osinfo linux2022 --machine q35
vi pc $d --osinfo linux2022 --machine pc
vi uefi $d --osinfo linux2022 --boot uefi
vi kernel --osinfo linux2022 --disk none \
    --boot kernel=$img/vmlinuz,initrd=$img/initrd.img,kernel_args="console=ttyS0 quiet"
vi bootmenu $d --osinfo linux2022 --boot hd,cdrom,menu=on
# CPU, vCPUs, memory
vi cpu-host-model $d --osinfo linux2022 --cpu host-model
vi cpu-passthrough $d --osinfo linux2022 --cpu host-passthrough
vi cpu-custom $d --osinfo linux2022 --cpu Haswell-noTSX,+vmx,-hle
vi vcpus-topology $d --osinfo linux2022 --vcpus 4,sockets=1,cores=2,threads=2
vi vcpus-hotplug $d --osinfo linux2022 --vcpus 2,maxvcpus=4
vi cputune $d --osinfo linux2022 --vcpus 2 --cputune vcpupin0.vcpu=0,vcpupin0.cpuset=0,vcpupin1.vcpu=1,vcpupin1.cpuset=1
vi memory-balloon $d --osinfo linux2022 --memory 512,currentMemory=256
vi hugepages $d --osinfo linux2022 --memorybacking hugepages=on
vi memfd-shared $d --osinfo linux2022 --memorybacking source.type=memfd,access.mode=shared
vi numatune $d --osinfo linux2022 --numatune 0,mode=strict
vi memtune $d --osinfo linux2022 --memtune hard_limit=1048576,soft_limit=524288
vi iothreads $d --osinfo linux2022 --iothreads 2
# disks
vi disk-virtio --disk "$img/a.qcow2,bus=virtio,format=qcow2,cache=none,io=native,discard=unmap" --osinfo linux2022
vi disk-sata --disk "$img/a.qcow2,bus=sata,format=qcow2" --osinfo linux2022
vi disk-scsi --disk "$img/a.qcow2,bus=scsi,format=qcow2" --controller scsi,model=virtio-scsi --osinfo linux2022
vi disk-readonly --disk "$img/b.qcow2,bus=virtio,format=qcow2,readonly=on" --osinfo linux2022
vi disk-iotune --disk "$img/a.qcow2,bus=virtio,format=qcow2,iotune.total_bytes_sec=10485760,iotune.total_iops_sec=500" --osinfo linux2022
vi disk-serial --disk "$img/a.qcow2,bus=virtio,format=qcow2,serial=QV0001" --osinfo linux2022
vi two-disks --disk "$img/a.qcow2,bus=virtio,format=qcow2" --disk "$img/b.qcow2,bus=virtio,format=qcow2" --osinfo linux2022
vi cdrom --disk "$img/empty.iso,device=cdrom" $d --osinfo linux2022
# network
vi nic-user $d --osinfo linux2022 --network user,model=virtio
vi nic-bridge $d --osinfo linux2022 --network bridge=br0,model=virtio,mac=52:54:00:12:34:56
vi nic-network $d --osinfo linux2022 --network network=default
vi nic-none $d --osinfo linux2022 --network none
vi nic-e1000 $d --osinfo linux2022 --network user,model=e1000
# consoles, display, other devices
vi serial-file $d --osinfo linux2022 --serial file,path=$img/serial.log
vi console-virtio $d --osinfo linux2022 --console pty,target.type=virtio
vi channel-agent $d --osinfo linux2022 --channel unix,target.type=virtio,name=org.qemu.guest_agent.0
vi vnc $d --osinfo linux2022 --graphics vnc,listen=127.0.0.1
vi spice $d --osinfo linux2022 --graphics spice
vi video-virtio $d --osinfo linux2022 --graphics vnc --video virtio
vi rng $d --osinfo linux2022 --rng /dev/urandom
vi watchdog $d --osinfo linux2022 --watchdog i6300esb,action=reset
vi sound $d --osinfo linux2022 --sound ich9
vi tpm $d --osinfo linux2022 --tpm emulator,model=tpm-crb
vi memballoon-none $d --osinfo linux2022 --memballoon none
vi input-tablet $d --osinfo linux2022 --input tablet,bus=usb
vi filesystem-9p $d --osinfo linux2022 --filesystem $img/share,share
# lifecycle, clock, features
vi events $d --osinfo linux2022 --events on_poweroff=destroy,on_reboot=restart,on_crash=destroy
vi clock-localtime $d --osinfo linux2022 --clock offset=localtime
vi features-smm $d --osinfo linux2022 --machine q35 --features smm.state=on
vi pm $d --osinfo linux2022 --pm suspend_to_mem.enabled=off,suspend_to_disk.enabled=off
vi sysinfo $d --osinfo linux2022 --sysinfo system.manufacturer=qv,system.product=corpus
vi metadata $d --osinfo linux2022 --metadata title=web01,description="A web server"
vi qemu-commandline $d --osinfo linux2022 --qemu-commandline="-no-user-config"
echo "$failed document(s) not written" >&2
