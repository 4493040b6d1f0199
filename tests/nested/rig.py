#!/usr/bin/env python3
"""tests/nested/rig.py BUILD-DIR [COMMAND...] - run COMMAND with the nested rig up.

Boots Debian's kernel under QEMU's software emulation with AMD SVM (so it
loads kvm_amd, the ordinary KVM of our users), once, and runs COMMAND on the
host with VMM pointing at tests/nested/vmm: a launcher that runs BUILD-DIR's
vmm inside the VM with the same arguments, relays its output, exit status and
signals, and carries gdb's connections from the host's loopback to the vmm's
port inside.  No emulated network: one virtio-serial port (a QEMU chardev on a
unix socket) carries everything, multiplexed (mux.py); the VM sees the host's
root through 9p, chrooted, so paths are the same on both sides.

Without COMMAND: an interactive shell.  `make test-nested` (tests/run.sh
BUILD-DIR nested) runs each test script under a rig of its own.  Environment: RIG_MEM (MiB, default
3072), RIG_CPUS (default 2), RIG_BOOT_TIMEOUT (s, default 180), RIG_WATCHDOG
(s, default 90: a VM whose agent does not answer that long is declared dead,
and every vmm in it ends with status 125 and the reason).
"""
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import mux  # noqa: E402

SRC = os.path.dirname(os.path.dirname(HERE))


def log(msg):
    print("nested rig: " + msg, file=sys.stderr, flush=True)


class Daemon:
    """Relays frames between launchers (unix socket clients) and the agent,
    renumbering ids: a launcher's id N is global id G on the channel."""

    def __init__(self, chan_sock, listen_path):
        self.sel = selectors.DefaultSelector()
        self.chan = mux.Channel(chan_sock.fileno())
        self.chan_sock = chan_sock
        self.lsock = socket.socket(socket.AF_UNIX)
        self.lsock.bind(listen_path)
        os.chmod(listen_path, 0o777)    # a test may run the vmm as another user
        self.lsock.listen(64)
        self.sel.register(self.lsock, selectors.EVENT_READ, "listen")
        self.sel.register(self.chan.fd, selectors.EVENT_READ, "chan")
        self.next_id = 1
        self.to_global = {}   # (launcher, local id) -> global id
        self.to_local = {}    # global id -> (launcher, local id)
        self.spawned = {}     # launcher -> set of global ids of its processes
        self.ready = threading.Event()
        self.dead = None      # why the VM is gone, once it is
        self.closing = False  # set before the VM is shut down
        self.last_ready = None
        self.chan.send(mux.HELLO, 0)

    def die(self, why):
        """The VM is gone: every vmm in it ends with status 125, saying why,
        and so does every later one."""
        self.dead = why
        for l, gids in self.spawned.items():
            for g in gids:
                _, local = self.to_local[g]
                l.send(mux.STDERR, local, ("vmm (nested rig): %s\n" % why).encode())
                l.send(mux.EXIT, local, {"code": 125})
            gids.clear()

    def gid(self, launcher, local):
        g = self.to_global.get((launcher, local))
        if g is None:
            g = self.to_global[(launcher, local)] = self.next_id
            self.to_local[g] = (launcher, local)
            self.next_id += 1
        return g

    def drop_launcher(self, l):
        self.sel.unregister(l.sock)
        l.sock.close()
        # A launcher gone (killed with SIGKILL, say) takes its vmm with it.
        for g in self.spawned.pop(l, ()):
            if not self.dead:
                self.chan.send(mux.KILL, g, b"9")
        for key in [k for k in self.to_global if k[0] is l]:
            g = self.to_global.pop(key)
            del self.to_local[g]
            if not self.dead:
                self.chan.send(mux.CLOSE, g)

    def loop(self, watchdog):
        ping = time.time()
        while True:
            now = time.time()
            if self.ready.is_set() and not self.dead:
                # The agent answers a HELLO at once; a VM that stops answering
                # has a locked-up kernel (seen once under QEMU TCG's SVM).
                if now - ping > 5:
                    self.chan.send(mux.HELLO, 0)
                    ping = now
                if now - self.last_ready > watchdog:
                    self.die("the rig's VM stopped answering for %d s (its kernel locked up?"
                             " see its console below)" % watchdog)
                    log(self.dead)
                    monitor_dump(self.mon_path, self.console)
            if not self.dead:
                self.sel.modify(self.chan.fd, selectors.EVENT_READ |
                                (selectors.EVENT_WRITE if self.chan.outbuf else 0), "chan")
            for key, events in self.sel.select(1):
                if key.data == "listen":
                    s, _ = self.lsock.accept()
                    l = mux.Channel(s.fileno())
                    l.sock = s
                    self.sel.register(s, selectors.EVENT_READ, l)
                    self.spawned[l] = set()
                elif key.data == "chan":
                    if events & selectors.EVENT_WRITE:
                        self.chan.flush()
                    if events & selectors.EVENT_READ:
                        for kind, g, payload in self.chan.read():
                            self.from_agent(kind, g, payload)
                        if self.chan.eof:
                            if self.closing:
                                return
                            self.die("the rig's VM has gone")
                            self.sel.unregister(self.chan.fd)
                else:
                    l = key.data
                    if events & selectors.EVENT_WRITE:
                        l.flush()
                    if events & selectors.EVENT_READ:
                        for kind, local, payload in l.read():
                            if self.dead:
                                if kind == mux.SPAWN:
                                    l.send(mux.STDERR, local, ("vmm (nested rig): %s\n" % self.dead).encode())
                                    l.send(mux.EXIT, local, {"code": 125})
                                continue
                            g = self.gid(l, local)
                            if kind == mux.SPAWN:
                                self.spawned[l].add(g)
                            self.chan.send(kind, g, payload)
                    if l.eof:
                        self.drop_launcher(l)
                    elif l in self.spawned:
                        self.sel.modify(l.sock, selectors.EVENT_READ |
                                        (selectors.EVENT_WRITE if l.outbuf else 0), l)

    def from_agent(self, kind, g, payload):
        if kind == mux.READY:
            self.last_ready = time.time()
            self.ready.set()
            return
        where = self.to_local.get(g)
        if not where:
            return
        l, local = where
        if kind == mux.EXIT:
            self.spawned.get(l, set()).discard(g)
        l.send(kind, local, payload)
        if l.outbuf and l in self.spawned:
            self.sel.modify(l.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, l)


def monitor_dump(mon_path, console):
    """Where the VM's CPUs are (QEMU's monitor), after the console: for a VM
    that stopped answering, to tell a kernel that hangs from vCPUs held in
    the nested guest."""
    out = b""
    try:
        m = socket.socket(socket.AF_UNIX)
        m.settimeout(2)
        m.connect(mon_path)
        m.sendall(b"info cpus\ninfo registers -a\n")
        t0 = time.time()
        while time.time() - t0 < 3:
            try:
                d = m.recv(65536)
            except socket.timeout:
                break
            if not d:
                break
            out += d
        m.close()
    except OSError as e:
        out += ("(QEMU's monitor: %s)" % e).encode()
    with open(console, "ab") as f:
        f.write(b"\n--- QEMU monitor, when the VM stopped answering ---\n" + out + b"\n")


def die_with_parent():
    """QEMU ends with the rig even when the rig is killed outright (a test's
    time limit): no VM left behind."""
    import ctypes
    ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)    # PR_SET_PDEATHSIG


def boot(build, work):
    subprocess.run([sys.executable, HERE + "/build.py", work], check=True)
    # Files of this rig only: several rigs may run at once.
    chan_path = "%s/chan-%d.sock" % (work, os.getpid())
    console = "%s/console-%d.log" % (work, os.getpid())
    mon_path = "%s/mon-%d.sock" % (work, os.getpid())
    for p in (chan_path, console, mon_path):
        if os.path.exists(p):
            os.unlink(p)
    qemu = [
        "qemu-system-x86_64", "-accel", "tcg,thread=multi", "-cpu", "max",
        "-smp", os.environ.get("RIG_CPUS", "2"), "-m", os.environ.get("RIG_MEM", "3072"),
        "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        "-kernel", work + "/vmlinux", "-initrd", work + "/initrd.cpio",
        "-append", "console=ttyS0 panic=-1 loglevel=4 rigagent=%s/agent.py" % HERE,
        "-chardev", "file,id=con,path=" + console, "-serial", "chardev:con",
        "-device", "virtio-serial-pci",
        "-chardev", "socket,id=rig,path=%s,server=on,wait=off" % chan_path,
        "-device", "virtserialport,chardev=rig,name=rig",
        "-fsdev", "local,id=hostfs,path=/,security_model=none,multidevs=remap",
        "-device", "virtio-9p-pci,fsdev=hostfs,mount_tag=hostfs",
        "-monitor", "unix:%s,server=on,wait=off" % mon_path,
    ]
    proc = subprocess.Popen(qemu, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            preexec_fn=die_with_parent,
                            stderr=open(console + ".qemu", "w"))
    sock = socket.socket(socket.AF_UNIX)
    for _ in range(200):
        try:
            sock.connect(chan_path)
            break
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    else:
        proc.kill()
        sys.exit("nested rig: QEMU did not open its channel")
    if proc.poll() is not None:
        sys.exit("nested rig: QEMU failed: " + open(console + ".qemu").read().strip())
    return proc, sock, console, chan_path, mon_path


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    build = os.path.abspath(sys.argv[1])
    cmd = sys.argv[2:] or ["bash", "-i"]
    work = os.path.join(SRC, "build", "nested")
    vmm = build + "/vmm"
    if not os.access(vmm, os.X_OK):
        sys.exit("nested rig: no vmm at %s (make first)" % vmm)
    t0 = time.time()
    proc, sock, console, chan_path, mon_path = boot(build, work)
    # In a directory of its own that any user may pass through (the checkout
    # may sit in a private one): a test runs the vmm as nobody.
    sock_dir = tempfile.mkdtemp(prefix="vmm-rig-")
    os.chmod(sock_dir, 0o755)
    listen_path = os.path.join(sock_dir, "rig.sock")
    daemon = Daemon(sock, listen_path)
    daemon.mon_path, daemon.console = mon_path, console
    watchdog = float(os.environ.get("RIG_WATCHDOG", "90"))
    threading.Thread(target=daemon.loop, args=(watchdog,), daemon=True).start()
    limit = float(os.environ.get("RIG_BOOT_TIMEOUT", "180"))
    while not daemon.ready.wait(0.5):
        if proc.poll() is not None or time.time() - t0 > limit:
            proc.kill()
            tail = open(console, errors="replace").read()[-3000:]
            sys.exit("nested rig: the VM did not come up (%.0f s); console:\n%s" % (time.time() - t0, tail))
    log("VM up in %.1f s" % (time.time() - t0))
    env = dict(os.environ, VMM=HERE + "/vmm", VMM_REAL=vmm, RIG_SOCK=listen_path, KVM_VIA="nested rig",
               TIME_SCALE=os.environ.get("TIME_SCALE", "4"))
    try:
        rc = subprocess.run(cmd, env=env).returncode
    except KeyboardInterrupt:
        rc = 130
    daemon.closing = True
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    for p in (listen_path, chan_path, mon_path, console + ".qemu"):
        if os.path.exists(p):
            os.unlink(p)
    os.rmdir(sock_dir)
    if daemon.dead:
        log("the VM's console is in " + console)
    else:
        os.unlink(console)
    sys.exit(rc)


if __name__ == "__main__":
    main()
