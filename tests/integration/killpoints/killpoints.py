#!/usr/bin/env python3
"""Kill `qv` at every system call of an operation and check what is left.

For each operation (create, snapshot create/restore/delete, clone,
destroy) the harness builds a world once (VMs with known memory and
snapshots), counts the system calls the operation makes under strace, and
then, for each call N of each syscall, restores the world, runs the
operation again with

    strace -f -e inject=SYSCALL:signal=KILL:when=N qv ...

(SIGKILL on entry to the Nth call, before it runs) and checks:

  * the next connection lists every VM and each one parses (no damage);
  * no snapshot that existed before is lost, and one the operation was
    creating is either absent or whole;
  * guest memory is the old contents or the new, never a mix (read through
    libqv, so a restore that swapped files must be seen); on qemu, whose
    snapshots live in qcow2 disks, every VM's qcow2 tags equal its snapshot
    list, and a clone starts without snapshots while its source keeps its own;
  * no temporary remains after that next connection opened.

The driver is a parameter: --uri takes a template where {state} is the
state directory of one run (also exported as QV_STATE_DIR).

Full sweep (every file-mutating syscall invocation of every operation):

    QV_CLI=build/tools/qv/qv QV_LIBRARY=build/libqv.so.1 \\
    PYTHONPATH=bindings/python python3 tests/integration/killpoints/killpoints.py \\
        --uri 'noop://{state}'

and the same with --uri 'qemu:///session?root={state}' for the qemu driver
(VMs on qcow2 disks in {state}/disks, stopped: snapshots go through
qemu-img, which is killed too when the Nth call is its own).

--sample N tries N kill points per operation spread over the whole run
(what CI does); --syscalls all kills at every syscall, not only the
file-mutating ones. Exit status 0 when every point passed, 1 otherwise, 77
when the host cannot run it (no strace, or ptrace is not permitted).
"""

import argparse
import collections
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

import qv

QV = os.environ.get("QV_CLI", "")
QEMU = False  # set from --uri: the qemu driver's world and checks

# Everything that changes a file, a directory or a mapping of a file.
FILE_SYSCALLS = [
    "openat", "open", "creat", "write", "pwrite64", "writev", "pwritev", "pwritev2",
    "rename", "renameat", "renameat2", "link", "linkat", "unlink", "unlinkat",
    "mkdir", "mkdirat", "rmdir", "fsync", "fdatasync", "ftruncate", "truncate",
    "fallocate", "fchmod", "chmod", "fchmodat", "flock", "copy_file_range", "mmap",
    "munmap", "close",
]

MB = 1 << 20
MEM = 8 * MB                 # RAM of the test VMs
EXTRA_GPA, EXTRA_SIZE = 0x40000000, 1 * MB
# Pages that carry a marker: first, middle and last page of RAM, and the
# added region. A restore must bring all back or none.
MARK_AT = [0, MEM // 2, MEM - 4096, EXTRA_GPA, EXTRA_GPA + EXTRA_SIZE - 4096]


def page(tag):
    return (tag * (4096 // len(tag) + 1))[:4096]


OLD, NEW = page(b"snapshot-s0 "), page(b"live-memory ")
LIVE_WEIGHT = 777  # s0 has the default, 256


def run_qv(uri, args, env, timeout=60):
    return subprocess.run([QV, "-c", uri] + args, capture_output=True, text=True,
                          env=env, timeout=timeout)


# ---- The world each operation starts from ----

def is_qemu(uri):
    return uri.startswith("qemu:")


def qemu_xml(name, disk):
    return ("<domain type='qemu'><name>%s</name><memory unit='MiB'>8</memory><vcpu>1</vcpu>"
            "<os><type arch='x86_64'>hvm</type></os><devices><disk type='file' device='disk'>"
            "<driver name='qemu' type='qcow2'/><source file='%s'/>"
            "<target dev='vda' bus='virtio'/></disk></devices></domain>" % (name, disk))


def build_world_qemu(uri, state):
    """kp on a qcow2 disk with snapshots s0 and s1; keep with k0. The disks
    live in the state directory, which each run restores."""
    disks = os.path.join(state, "disks")
    os.makedirs(disks)
    with qv.connect(uri) as c:
        for name, snaps in (("kp", ["s0", "s1"]), ("keep", ["k0"])):
            disk = os.path.join(disks, name + ".qcow2")
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", disk, "4M"], check=True)
            vm = c.define_xml(qemu_xml(name, disk))
            for sn in snaps:
                vm.snapshots.create(sn)


def qcow2_tags(vm):
    """Per qcow2 disk of vm: the tags in the file it names, and those in its
    whole backing chain (a clone's shared base keeps the source's earlier
    snapshots)."""
    found = []
    xml = re.sub(r"<backingStore.*?</backingStore>", "", vm.xml.replace('"', "'"), flags=re.S)
    for disk in re.findall(r"<source file='([^']+)'", xml):
        r = subprocess.run(["qemu-img", "info", "-U", "--backing-chain", "--output=json", disk],
                           capture_output=True, text=True, check=True)
        chain = json.loads(r.stdout)
        names = [{x["name"] for x in img.get("snapshots", [])} for img in chain]
        found.append((names[0], set().union(*names)))
    return found


def check_tags(vm, problems):
    """qemu: records and qcow2 tags agree (after the list reconciled): every
    tag in a disk's own file is listed, every listed one is in its chain."""
    have = {s.name for s in vm.snapshots.list()}
    for top, chain in qcow2_tags(vm):
        expect(top <= have <= chain,
               "VM %s: qcow2 tags %s (chain %s) but snapshots %s"
               % (vm.name, sorted(top), sorted(chain), sorted(have)), problems)


def build_world(uri):
    """kp: memory NEW, snapshots s0 (memory OLD) and s1 (NEW); keep: an
    unrelated VM with snapshot k0."""
    with qv.connect(uri) as c:
        vm = c.create_vm("kp", vcpus=1, memory=MEM)
        vm.add_memory_region(EXTRA_GPA, EXTRA_SIZE)
        for gpa in MARK_AT:
            vm.write_memory(gpa, OLD)
        vm.snapshots.create("s0")
        for gpa in MARK_AT:
            vm.write_memory(gpa, NEW)
        vm.set_cpu_weight(LIVE_WEIGHT)   # the definition differs from s0's too
        vm.snapshots.create("s1")
        keep = c.create_vm("keep", vcpus=1, memory=MEM)
        keep.write_memory(0, NEW)
        keep.snapshots.create("k0")


def memory_of(vm):
    if QEMU:
        return "n/a"  # a stopped qemu VM has no memory to read
    pages = {vm.read_memory(gpa, 4096) for gpa in MARK_AT}
    if pages == {OLD}:
        return "old"
    if pages == {NEW}:
        return "new"
    return "mixed"


# ---- Operations: argv, and what may be true after a kill ----

class Op:
    def __init__(self, name, argv, check):
        self.name, self.argv, self.check = name, argv, check


def expect(cond, what, problems):
    if not cond:
        problems.append(what)


def check_kp(c, names, problems, memory=("new",), snaps=("s0", "s1")):
    expect("kp" in names, "VM kp is gone", problems)
    if "kp" not in names:
        return
    vm = c.lookup("kp")
    have = {s.name for s in vm.snapshots.list()}
    for s in snaps:
        expect(s in have, "kp lost snapshot %s (has %s)" % (s, sorted(have)), problems)
    if QEMU:
        check_tags(vm, problems)
        return
    m = memory_of(vm)
    expect(m in memory, "kp memory is %s, expected %s" % (m, "/".join(memory)), problems)
    # Definition and memory come from the same moment.
    live = "<shares>%d</shares>" % LIVE_WEIGHT in vm.xml
    expect(m == "mixed" or live == (m == "new"),
           "kp has %s memory but the %s definition" % (m, "live" if live else "snapshot's"),
           problems)


def check_create(c, names, problems):
    check_kp(c, names, problems)
    if "kp-new" in names:
        expect(c.lookup("kp-new").info.max_memory == MEM, "kp-new has the wrong memory",
               problems)


def check_snap_create(c, names, problems):
    check_kp(c, names, problems)
    vm = c.lookup("kp")
    if "s2" in {s.name for s in vm.snapshots.list()}:
        # Whole: it restores to the memory it was taken from.
        vm.snapshots.restore("s2")
        expect(QEMU or memory_of(vm) == "new", "snapshot s2 restores to other memory", problems)


def check_restore(c, names, problems):
    check_kp(c, names, problems, memory=("old", "new"))


def check_delete(c, names, problems):
    check_kp(c, names, problems, snaps=("s0",))
    vm = c.lookup("kp")
    if "s1" in {s.name for s in vm.snapshots.list()}:
        vm.snapshots.restore("s1")
        expect(QEMU or memory_of(vm) == "new",
               "half-deleted snapshot s1 restores to other memory", problems)


def check_clone(c, names, problems):
    check_kp(c, names, problems)
    if "kp-clone" in names and QEMU:
        # A clone starts without snapshots (the source's stay in the base).
        clone = c.lookup("kp-clone")
        have = sorted(s.name for s in clone.snapshots.list())
        expect(have == [], "kp-clone has snapshots %s" % have, problems)
        check_tags(clone, problems)
    elif "kp-clone" in names:
        m = memory_of(c.lookup("kp-clone"))
        expect(m == "new", "kp-clone memory is %s" % m, problems)


def check_destroy(c, names, problems):
    if "kp" in names:
        check_kp(c, names, problems)


OPS = [
    Op("create", ["vm", "create", "--name", "kp-new", "--memory", "8M"], check_create),
    Op("snapshot-create", ["vm", "snapshot", "create", "kp", "--name", "s2"], check_snap_create),
    Op("snapshot-restore", ["vm", "snapshot", "restore", "kp", "--name", "s0"], check_restore),
    Op("snapshot-delete", ["vm", "snapshot", "delete", "kp", "--name", "s1"], check_delete),
    Op("clone", ["vm", "clone", "kp", "--name", "kp-clone"], check_clone),
    Op("destroy", ["vm", "destroy", "kp"], check_destroy),
]
POSSIBLE = {"kp", "keep", "kp-new", "kp-clone"}


# ---- Leftovers ----

TEMP_RE = re.compile(r"^(\.tmp-.*|\..+\.[A-Za-z0-9]{6}|domain\.g\d+\.xml)$")
MEMFILE_RE = re.compile(r"^memory-[0-9a-f]+(?:\.g(\d+))?\.bin$")


def leftovers(state):
    """Temporaries, and memory files of more than one generation in a VM."""
    found = []
    for root, dirs, files in os.walk(state):
        if os.path.basename(root) == ".locks":
            continue
        for e in dirs + files:
            if e != ".locks" and TEMP_RE.match(e):
                found.append(os.path.relpath(os.path.join(root, e), state))
        gens = {m.group(1) or "0" for m in map(MEMFILE_RE.match, files) if m}
        if len(gens) > 1:
            found.append("%s: memory of generations %s" % (os.path.relpath(root, state),
                                                           sorted(gens)))
    return found


# ---- Running ----

def strace_argv(trace, inject=None):
    argv = ["strace", "-f", "-qq", "-e", "trace=" + ",".join(trace)]
    if inject:
        sc, n = inject
        argv += ["-e", "inject=%s:signal=KILL:when=%d" % (sc, n)]
    return argv


def count_calls(uri, op, syscalls, env, state, template):
    """The kill points of op: (syscall, N) for every call from the first
    one that touches the state directory on (a kill while the program is
    still starting up cannot change anything)."""
    restore_world(template, state)
    with tempfile.NamedTemporaryFile(prefix="qv-kp-", suffix=".log") as log:
        argv = strace_argv(syscalls) + ["-y", "-o", log.name, QV, "-c", uri] + op.argv
        r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
        if r.returncode != 0:
            raise RuntimeError("%s failed without a kill: %s" % (op.name, r.stderr.strip()))
        counts = collections.Counter()
        points, started = [], False
        for line in open(log.name, errors="replace"):
            m = re.match(r"^\d+\s+(\w+)\(", line)
            if not m:
                continue
            counts[m.group(1)] += 1
            started = started or state in line
            if started:
                points.append((m.group(1), counts[m.group(1)]))
    return points, sum(counts.values())


def restore_world(template, state):
    shutil.rmtree(state, ignore_errors=True)
    subprocess.run(["cp", "-a", "--sparse=always", template, state], check=True)


def check_after(uri, op, env, state):
    problems = []
    r = run_qv(uri, ["vm", "list", "--all", "--json"], env)  # the next open
    if r.returncode != 0:
        return ["vm list --all fails: " + r.stderr.strip()]
    listed = json.loads(r.stdout)
    names = {e["name"] for e in listed}
    for e in listed:
        expect(e.get("state") not in ("damaged", "error"),
               "VM %s is %s: %s" % (e["name"], e.get("state"), e.get("error")), problems)
    expect(names <= POSSIBLE, "unexpected VMs %s" % sorted(names - POSSIBLE), problems)
    expect("keep" in names, "the unrelated VM keep is gone", problems)
    for n in sorted(names):
        s = run_qv(uri, ["vm", "show", n], env)
        expect(s.returncode == 0, "vm show %s: %s" % (n, s.stderr.strip()), problems)
    for f in leftovers(state):
        problems.append("left behind: " + f)
    try:
        with qv.connect(uri) as c:
            keep = c.lookup("keep")
            expect([s.name for s in keep.snapshots.list()] == ["k0"], "keep lost k0", problems)
            op.check(c, names, problems)
    except qv.Error as e:
        problems.append("libqv: %s" % e)
    return problems


def probe(env):
    if not shutil.which("strace"):
        return "strace is not installed (scripts/setup.sh installs it)"
    r = subprocess.run(["strace", "-qq", "-o", "/dev/null", "true"], capture_output=True,
                       text=True, env=env)
    if r.returncode != 0:
        return "strace cannot trace here: " + r.stderr.strip()
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--uri", default="noop://{state}",
                    help="connection URI template; {state} is the state directory")
    ap.add_argument("--ops", default=",".join(o.name for o in OPS),
                    help="comma-separated operations (default: all)")
    ap.add_argument("--sample", type=int, default=0,
                    help="kill points per operation (0: every one)")
    ap.add_argument("--seed", type=int, default=None, help="seed of the sample's offsets")
    ap.add_argument("--syscalls", default="files", choices=["files", "all"],
                    help="kill at file-mutating syscalls (default) or at every syscall")
    ap.add_argument("--workdir", default=None, help="where the state directories go")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    if not QV or not os.access(QV, os.X_OK):
        print("killpoints: $QV_CLI must name the built qv binary", file=sys.stderr)
        return 2
    env = dict(os.environ)
    env.pop("QV_DEFAULT_URI", None)
    # Sanitizer builds preload ASan into this interpreter to load libqv;
    # strace and qv (linked with it) must not get it.
    env.pop("LD_PRELOAD", None)
    why = probe(env)
    if not why and is_qemu(args.uri) and not shutil.which("qemu-img"):
        why = "qemu-img is not installed (scripts/setup.sh installs it)"
    if why:
        print("SKIP: " + why)
        return 77
    ops = [o for o in OPS if o.name in args.ops.split(",")]
    unknown = set(args.ops.split(",")) - {o.name for o in OPS}
    if unknown:
        print("killpoints: unknown operation(s) %s" % ", ".join(sorted(unknown)),
              file=sys.stderr)
        return 2
    syscalls = FILE_SYSCALLS if args.syscalls == "files" else ["all"]
    rng = random.Random(args.seed if args.seed is not None else time.time_ns())
    work = tempfile.mkdtemp(prefix="qv-killpoints-", dir=args.workdir)
    total_points = total_bad = 0
    started = time.monotonic()
    try:
        state = os.path.join(work, "state")
        template = os.path.join(work, "template")
        uri = args.uri.format(state=state)
        env["QV_STATE_DIR"] = state
        os.makedirs(state, mode=0o700)
        global QEMU
        QEMU = is_qemu(uri)
        if QEMU:
            build_world_qemu(uri, state)
        else:
            build_world(uri)
        subprocess.run(["cp", "-a", "--sparse=always", state, template], check=True)
        for op in ops:
            points, calls = count_calls(uri, op, syscalls, env, state, template)
            tried = points
            if args.sample and len(points) > args.sample:
                # Evenly spread with a random offset: each run covers the
                # whole operation, and successive runs cover different calls.
                step = len(points) / args.sample
                off = rng.random() * step
                tried = [points[int(off + i * step)] for i in range(args.sample)]
            bad = 0
            for sc, n in tried:
                restore_world(template, state)
                argv = strace_argv([sc], (sc, n))
                argv += ["-o", "/dev/null", QV, "-c", uri] + op.argv
                subprocess.run(argv, capture_output=True, env=env, timeout=120)
                problems = check_after(uri, op, env, state)
                if problems:
                    bad += 1
                    print("FAIL %s: kill at %s #%d:\n  %s" % (op.name, sc, n,
                                                              "\n  ".join(problems)))
                elif args.verbose:
                    print("ok   %s: kill at %s #%d" % (op.name, sc, n))
            print("%-17s %4d kill points of %4d tried (%d calls in all), %d failed"
                  % (op.name, len(tried), len(points), calls, bad))
            sys.stdout.flush()
            total_points += len(tried)
            total_bad += bad
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("total: %d kill points, %d failed, %.0f s" % (total_points, total_bad,
                                                        time.monotonic() - started))
    return 1 if total_bad else 0


if __name__ == "__main__":
    sys.exit(main())
