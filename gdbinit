# gdbinit - debug a guest of the vmm:  gdb -x gdbinit
#
# Environment (all optional):
#   VMM_GDB_PORT   port the vmm listens on (vmm --gdb PORT), default 1234
#   VMM_GDB_HOST   its host, default 127.0.0.1; or VMM_GDB_PORT=unix:/path
#   VMM_ELF        the guest's ELF twin, for symbols (e.g. build/guest/kernel64.elf)
#   VMM_FOLLOW     1 (default) reconnects by itself when the guest switches
#                  modes, so registers and disassembly stay right; 0 = off
#
# Commands (each has `help NAME`): vmm-regs, vmm-walk, vmm-phys, vmm-mem,
# vmm-follow, vmm-reconnect, vmm-x16.

set pagination off
set confirm off

python
import os
import re

import gdb


def _vmm_target():
    port = os.environ.get("VMM_GDB_PORT", "1234")
    if port.startswith("unix:"):
        return port[5:]
    return "%s:%s" % (os.environ.get("VMM_GDB_HOST", "127.0.0.1"), port)


def _vmm_connect():
    gdb.execute("target remote " + _vmm_target())


def _vmm_arch_state():
    """(wanted, fixed): the layout the selected vCPU's mode wants, as the vmm
    sees it (compatibility mode is i386), and whether --gdb-arch fixed it."""
    try:
        text = gdb.execute("monitor arch", to_string=True)
    except gdb.error:
        return None, False
    fixed = "fixed by --gdb-arch" in text
    thread = gdb.selected_thread()
    cpu = thread.num - 1 if thread else 0
    m = re.search(r"^vCPU %d: \S+ mode \((\S+)\)$" % cpu, text, re.M)
    return (m.group(1) if m else None), fixed


def _vmm_arch_mismatch():
    want, fixed = _vmm_arch_state()
    try:
        have = gdb.selected_frame().architecture().name()
    except gdb.error:
        return False
    return not fixed and want is not None and want != have


def _vmm_reconnect():
    # hold keeps the guest stopped while gdb is away; breakpoints are
    # re-inserted by gdb when it resumes.
    gdb.execute("monitor hold on", to_string=True)
    gdb.execute("disconnect")
    _vmm_connect()
    gdb.execute("monitor hold off", to_string=True)


_vmm_follow = os.environ.get("VMM_FOLLOW", "1") != "0"


def _vmm_follow_now():
    print("vmm: the guest changed modes; reconnecting for its registers")
    _vmm_reconnect()
    gdb.execute("show architecture")


def _vmm_check_follow():
    if _vmm_follow and gdb.selected_inferior().pid and _vmm_arch_mismatch():
        _vmm_follow_now()

_elf = os.environ.get("VMM_ELF")
if _elf:
    if os.path.exists(_elf):
        # symbol-file, not file: an ELF64 must not veto a real-mode session
        gdb.execute("symbol-file " + _elf)
        # and the vmm's own image (qXfer:exec-file) must not replace it
        gdb.execute("set remote pid-to-exec-file-packet off")
    else:
        print("vmm: VMM_ELF=%s does not exist; going on without symbols" % _elf)
try:
    _vmm_connect()
except gdb.error as e:
    print("vmm: cannot connect to %s: %s (is `vmm --gdb` running?)" % (_vmm_target(), e))


class VmmFollow(gdb.Command):
    """Follow the guest's mode: vmm-follow on|off.
With it on (the default), a stop in a new mode (real, protected, long)
reconnects so that gdb picks up the matching register layout."""

    def __init__(self):
        super().__init__("vmm-follow", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        global _vmm_follow
        if arg.strip() in ("on", "off"):
            _vmm_follow = arg.strip() == "on"
        print("vmm-follow is %s" % ("on" if _vmm_follow else "off"))


class VmmReconnect(gdb.Command):
    """Reconnect to the vmm now, keeping the guest stopped (picks up a new
register layout after a mode switch)."""

    def __init__(self):
        super().__init__("vmm-reconnect", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        _vmm_reconnect()


class VmmWalk(gdb.Command):
    """Show the page walk of a virtual address: vmm-walk EXPR.
Each level of the guest's page tables for the current vCPU: the entry,
its flags, and the physical address (or the fault) at the end."""

    def __init__(self):
        super().__init__("vmm-walk", gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def invoke(self, arg, from_tty):
        if not arg.strip():
            raise gdb.GdbError("usage: vmm-walk ADDRESS-EXPRESSION")
        addr = int(gdb.parse_and_eval(arg).cast(gdb.lookup_type("unsigned long long")))
        gdb.execute("monitor walk 0x%x" % addr)


VmmFollow()
VmmReconnect()
VmmWalk()
end

# After each command that runs the guest (not from a stop handler: gdb is
# still printing the stop then, and a reconnect would pull the thread away).
define hookpost-continue
  python _vmm_check_follow()
end
define hookpost-stepi
  python _vmm_check_follow()
end
define hookpost-nexti
  python _vmm_check_follow()
end
define hookpost-step
  python _vmm_check_follow()
end
define hookpost-next
  python _vmm_check_follow()
end
define hookpost-finish
  python _vmm_check_follow()
end
define hookpost-until
  python _vmm_check_follow()
end
define hookpost-advance
  python _vmm_check_follow()
end
define hookpost-jump
  python _vmm_check_follow()
end
define hookpost-reverse-continue
  python _vmm_check_follow()
end
define hookpost-reverse-stepi
  python _vmm_check_follow()
end
define hookpost-reverse-nexti
  python _vmm_check_follow()
end
define hookpost-reverse-step
  python _vmm_check_follow()
end
define hookpost-reverse-next
  python _vmm_check_follow()
end
define hookpost-reverse-finish
  python _vmm_check_follow()
end

define vmm-regs
  monitor regs
end
document vmm-regs
Print the control registers decoded: the mode, the paging mode, CR0, CR2,
CR3, CR4, CR8 and EFER with their flag names, GDT, IDT and CS.
end

define vmm-phys
  if $argc == 0
    monitor phys
  else
    monitor phys $arg0
  end
end
document vmm-phys
vmm-phys on|off: make gdb's addresses guest-physical (on) or virtual (off,
the default).  With no argument, says which.
end

define vmm-record
  if $argc == 0
    monitor record status
  else
    monitor record $arg0
  end
end
document vmm-record
vmm-record on|off|status: record every instruction and memory write of the
guest, so that reverse-stepi, reverse-continue, reverse-next, reverse-step and
reverse-finish can go back (off drops the log).  With no argument, the
status: instructions and bytes in the log, memory it takes, position.
Not gdb's own `record' (a software recorder inside gdb, much slower).
end

define vmm-mem
  monitor mem
end
document vmm-mem
Show the guest's RAM layout and memory slots (read-only ones back write
watchpoints).
end

define vmm-x16
  x/10i $cs * 16 + $pc
end
document vmm-x16
Disassemble at CS:IP in real mode (gdb's own $pc is only IP).
end
