# tests/gdb/helpers.py - gdb commands for the scripted gdb tests (t_gdb_*.sh).
#
#   try CMD              run CMD; on a gdb error print "error: MESSAGE" and go
#                        on (gdb -batch otherwise stops at the first error)
#   pv[/FMT] EXPR        print "EXPR = VALUE" (gdb's 'output', without $N)
#   interrupt-after SEC  send gdb itself SIGINT after SEC seconds, as Ctrl-C
#                        at the terminal would: stops a running guest
#   frames               the function name of each frame, innermost first,
#                        one "frame NAME" line each
import os
import signal
import threading

import gdb


class Try(gdb.Command):
    """try CMD: run CMD, print 'error: MESSAGE' instead of stopping on an error."""

    def __init__(self):
        super().__init__("try", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        try:
            gdb.execute(arg, from_tty)
        except gdb.error as e:
            print("error: %s" % e)


class PrintValue(gdb.Command):
    """pv[/FMT] EXPR: print 'EXPR = VALUE'."""

    def __init__(self):
        super().__init__("pv", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        fmt, expr = "", arg.strip()
        if expr.startswith("/"):
            fmt, _, expr = expr.partition(" ")
        try:
            v = gdb.execute("output%s %s" % (fmt, expr), to_string=True)
        except gdb.error as e:
            v = "error: %s" % e
        print("%s = %s" % (expr, v))


class InterruptAfter(gdb.Command):
    """interrupt-after SEC: SIGINT to gdb itself after SEC seconds (Ctrl-C)."""

    def __init__(self):
        super().__init__("interrupt-after", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        t = threading.Timer(float(arg), os.kill, (os.getpid(), signal.SIGINT))
        t.daemon = True
        t.start()


class Frames(gdb.Command):
    """frames: one 'frame NAME' line per frame, innermost first."""

    def __init__(self):
        super().__init__("frames", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        f = gdb.newest_frame()
        while f is not None:
            print("frame %s" % f.name())
            f = f.older()


Try()
PrintValue()
InterruptAfter()
Frames()
