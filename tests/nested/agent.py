"""tests/nested/agent.py PORT-DEVICE - the nested rig's agent inside the VM.

Runs chrooted in the host's root (mounted over 9p), so every path a test
names is the same here.  Over the virtio-serial port it starts processes
(the vmm under test) with their output streamed back, delivers signals to
them, and forwards connections to ports on the VM's loopback (gdb to the
vmm's stub).  See mux.py for the frames.
"""
import fcntl
import json
import os
import selectors
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mux  # noqa: E402

sel = selectors.DefaultSelector()
procs = {}   # id -> Proc
conns = {}   # id -> Conn


class Proc:
    def __init__(self, ident, req):
        self.ident = ident
        self.status = None
        self.busy = None
        if req.get("busy_port"):
            # The host's port was taken: take it here too, so the vmm meets
            # the same "address in use" it would have met there.
            self.busy = socket.socket()
            self.busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.busy.bind(("127.0.0.1", req["busy_port"]))
            self.busy.listen(1)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        env = dict(os.environ)
        env.update(req.get("env", {}))
        self.pid = os.fork()
        if self.pid == 0:
            try:
                os.setpgid(0, 0)
                try:
                    os.chdir(req.get("cwd", "/"))
                except OSError:
                    os.chdir("/")
                try:
                    stdin = os.open(req.get("stdin") or "/dev/null", os.O_RDONLY)
                except OSError:
                    stdin = os.open("/dev/null", os.O_RDONLY)
                os.dup2(stdin, 0)
                os.dup2(out_w, 1)
                os.dup2(err_w, 2)
                os.closerange(3, 1 << 16)
                # As the user the launcher runs as (a test may drop to nobody).
                os.setgroups(req.get("groups", []))
                os.setgid(req.get("gid", 0))
                os.setuid(req.get("uid", 0))
                for s in range(1, signal.NSIG):
                    try:
                        signal.signal(s, signal.SIG_DFL)
                    except (OSError, ValueError):
                        pass
                signal.pthread_sigmask(signal.SIG_SETMASK, [])
                os.execve(req["argv"][0], req["argv"], env)
            except OSError as e:
                os.write(2, ("rig agent: cannot run %s: %s\n" % (req["argv"][0], e)).encode())
            os._exit(127)
        os.close(out_w)
        os.close(err_w)
        self.pipes = {out_r: mux.STDOUT, err_r: mux.STDERR}
        for fd in self.pipes:
            sel.register(fd, selectors.EVENT_READ, ("pipe", self))
        self.pidfd = os.pidfd_open(self.pid)
        sel.register(self.pidfd, selectors.EVENT_READ, ("pid", self))

    def on_pipe(self, fd):
        data = os.read(fd, 1 << 16)
        if data:
            chan.send(self.pipes[fd], self.ident, data)
            return
        sel.unregister(fd)
        os.close(fd)
        del self.pipes[fd]
        self.maybe_done()

    def on_exit(self):
        _, st = os.waitpid(self.pid, 0)
        sel.unregister(self.pidfd)
        os.close(self.pidfd)
        self.status = st
        self.maybe_done()

    def maybe_done(self):
        if self.status is None or self.pipes:
            return
        st = self.status
        if os.WIFSIGNALED(st):
            chan.send(mux.EXIT, self.ident, {"signal": os.WTERMSIG(st)})
        else:
            chan.send(mux.EXIT, self.ident, {"code": os.WEXITSTATUS(st)})
        if self.busy:
            self.busy.close()
        del procs[self.ident]


class Conn:
    def __init__(self, ident, req):
        self.ident = ident
        if "unix" in req:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(req["unix"])
        else:
            self.sock = socket.create_connection(("127.0.0.1", req["port"]))
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.out = bytearray()
        sel.register(self.sock, selectors.EVENT_READ, ("conn", self))

    def on_ready(self, events):
        if events & selectors.EVENT_WRITE:
            self.flush()
        if events & selectors.EVENT_READ:
            try:
                data = self.sock.recv(1 << 16)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if data:
                chan.send(mux.DATA, self.ident, data)
            else:
                self.close(tell=True)

    def write(self, data):
        self.out += data
        self.flush()

    def flush(self):
        try:
            while self.out:
                n = self.sock.send(self.out)
                del self.out[:n]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self.close(tell=True)
            return
        if self.ident in conns:
            sel.modify(self.sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if self.out else 0),
                       ("conn", self))

    def close(self, tell):
        if conns.pop(self.ident, None) is None:
            return
        sel.unregister(self.sock)
        self.sock.close()
        if tell:
            chan.send(mux.CLOSE, self.ident)


def on_frame(kind, ident, payload):
    if kind == mux.HELLO:
        chan.send(mux.READY, 0)
    elif kind == mux.SPAWN:
        try:
            procs[ident] = Proc(ident, json.loads(payload))
        except OSError as e:
            chan.send(mux.STDERR, ident, ("rig agent: %s\n" % e).encode())
            chan.send(mux.EXIT, ident, {"code": 125})
    elif kind == mux.KILL:
        p = procs.get(ident)
        if p and p.status is None:
            try:
                os.kill(p.pid, int(payload))
            except OSError:
                pass
    elif kind == mux.CONNECT:
        try:
            conns[ident] = Conn(ident, json.loads(payload))
        except OSError:
            chan.send(mux.CLOSE, ident)
    elif kind == mux.DATA:
        c = conns.get(ident)
        if c:
            c.write(payload)
    elif kind == mux.CLOSE:
        c = conns.get(ident)
        if c:
            c.close(tell=False)


def hold_kvm():
    """Keep one VM with one vCPU open for the agent's life.  Creating the
    first VM (and its first vCPU without an in-kernel APIC) turns static keys
    on, preempt_notifier_key among them, and destroying the last turns them
    off: the kernel patches its own code (finish_task_switch) while the other
    CPU runs it.  Under QEMU 7.2's TCG that patching livelocked both CPUs in
    the int3 handler (a jump across a page boundary at 0xffffffff810dcfff;
    seen in one t_smp_race run of five; none in six after this).  Held, the keys never
    change and the kernel never patches itself for a vmm."""
    try:
        kvm = os.open("/dev/kvm", os.O_RDWR)
        vm = fcntl.ioctl(kvm, 0xAE01, 0)        # KVM_CREATE_VM
        vcpu = fcntl.ioctl(vm, 0xAE41, 0)       # KVM_CREATE_VCPU
        return kvm, vm, vcpu
    except OSError as e:
        print("rig agent: cannot hold a VM open (%s): the kernel may patch itself for each vmm" % e,
              file=sys.stderr, flush=True)
        return None


def main():
    global chan
    held = hold_kvm()  # noqa: F841 (its fds stay open for the agent's life)
    fd = os.open(sys.argv[1], os.O_RDWR)
    chan = mux.Channel(fd)
    sel.register(fd, selectors.EVENT_READ, ("chan", None))
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    while True:
        sel.modify(fd, selectors.EVENT_READ | (selectors.EVENT_WRITE if chan.outbuf else 0),
                   ("chan", None))
        for key, events in sel.select():
            what, obj = key.data
            if what == "chan":
                if events & selectors.EVENT_WRITE:
                    chan.flush()
                if events & selectors.EVENT_READ:
                    for f in chan.read():
                        on_frame(*f)
                    if chan.eof:        # the host side is not connected (yet)
                        chan.eof = False
                        time.sleep(0.2)
            elif what == "pipe":
                obj.on_pipe(key.fd)
            elif what == "pid":
                obj.on_exit()
            elif what == "conn":
                obj.on_ready(events)


if __name__ == "__main__":
    main()
