"""rsp.py - a raw GDB remote protocol client for the tests' Python parts.

    from rsp import Client, frame, le
    c = Client(port)              # acks every packet it reads
    c.cmd("qfThreadInfo")         # send, then the reply (console O packets skipped)
    c.send("c"); c.raw(b"\\x03"); c.packet()

The scripts are run with PYTHONPATH=$TESTS (tests/lib.sh exports it).
"""
import socket


def frame(payload):
    """$payload#checksum, as bytes."""
    b = payload.encode("latin1")
    return b"$" + b + b"#%02x" % (sum(b) & 0xFF)


def le(hexs):
    """A little-endian number from the hex of a register or memory reply."""
    return int.from_bytes(bytes.fromhex(hexs), "little")


class Client:
    def __init__(self, port, timeout=10, on_eof="connection closed", host="127.0.0.1"):
        self.s = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.notes = []   # notifications read, not yet taken
        self.held = []    # packets read while waiting for a notification
        self.ack = True
        self.on_eof = on_eof

    def settimeout(self, seconds):
        self.s.settimeout(seconds)

    def raw(self, data):
        self.s.sendall(data)

    def send(self, payload):
        self.s.sendall(frame(payload))

    def packet(self, console=False):
        """The next packet's payload (latin1); O packets are skipped unless
        console; notifications ("%Stop:...", not acked) are kept in
        self.notes.  A hang-up ends the script with on_eof."""
        while True:
            p = self._take()
            if p is not None and (console or not p.startswith("O") or p == "OK"):
                return p

    def notification(self):
        """The next notification's payload ("Stop:T05..."), waiting for it."""
        while not self.notes:
            p = self._take()
            if p is not None:
                self.held.append(p)
        return self.notes.pop(0)

    def _take(self):
        """One packet's payload, None after a notification, or reads more."""
        if self.held:
            return self.held.pop(0)
        starts = [k for k in (self.buf.find(b"$"), self.buf.find(b"%")) if k >= 0]
        i = min(starts) if starts else -1
        j = self.buf.find(b"#", i) if i >= 0 else -1
        if i >= 0 and j >= 0 and len(self.buf) >= j + 3:
            note = self.buf[i:i + 1] == b"%"
            p, self.buf = self.buf[i + 1:j].decode("latin1"), self.buf[j + 3:]
            if note:
                self.notes.append(p)
                return None
            if self.ack:
                self.s.sendall(b"+")
            return p
        d = self.s.recv(65536)
        if not d:
            raise SystemExit(self.on_eof)
        self.buf += d
        return None

    def cmd(self, payload):
        self.send(payload)
        return self.packet()

    def noack(self):
        """QStartNoAckMode: no acks either way from now on."""
        r = self.cmd("QStartNoAckMode")
        self.ack = False
        return r

    def close(self):
        self.s.close()
