"""tests/nested/mux.py - the framing the nested rig speaks on its channel.

One byte stream (the virtio-serial port "rig", and each launcher's unix
socket to the host side) carries frames: type (1 byte), id (4), length (4),
payload.  An id names a process or a forwarded connection.  Writes are
buffered and non-blocking everywhere, so neither side can wedge the other.
"""
import errno
import json
import os
import struct

HDR = struct.Struct("<BII")

HELLO, READY = 1, 2                  # host -> agent, agent -> host: the channel is up
SPAWN, KILL = 3, 4                   # start argv (json), send a signal (payload: signo)
STDOUT, STDERR, EXIT = 5, 6, 7       # a process's output; its wait status (json)
CONNECT, DATA, CLOSE = 8, 9, 10      # a connection to a port inside (json), its bytes, its end
NAMES = {v: k for k, v in list(globals().items()) if isinstance(v, int) and k.isupper()}


def frame(kind, ident, payload=b""):
    if isinstance(payload, (dict, list)):
        payload = json.dumps(payload).encode()
    return HDR.pack(kind, ident, len(payload)) + payload


class Channel:
    """Frames over a non-blocking fd: feed() what was read, take frames; queue
    writes and flush() them when the fd is writable."""

    def __init__(self, fd):
        self.fd = fd
        os.set_blocking(fd, False)
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.eof = False

    def read(self):
        """Read what is there; return the whole frames received."""
        try:
            data = os.read(self.fd, 1 << 16)
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EINTR):
                return []
            data = b""
        if not data:
            self.eof = True
            return []
        self.inbuf += data
        frames = []
        while len(self.inbuf) >= HDR.size:
            kind, ident, n = HDR.unpack_from(self.inbuf)
            if len(self.inbuf) < HDR.size + n:
                break
            frames.append((kind, ident, bytes(self.inbuf[HDR.size:HDR.size + n])))
            del self.inbuf[:HDR.size + n]
        return frames

    def send(self, kind, ident, payload=b""):
        self.outbuf += frame(kind, ident, payload)
        self.flush()

    def flush(self):
        while self.outbuf:
            try:
                n = os.write(self.fd, self.outbuf[:1 << 16])
            except OSError as e:
                if e.errno in (errno.EAGAIN, errno.EINTR):
                    return
                self.eof = True
                self.outbuf.clear()
                return
            del self.outbuf[:n]
