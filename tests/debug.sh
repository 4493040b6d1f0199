#!/usr/bin/env bash
# make debug: the vmm with a guest (default kernel64) under gdb with gdbinit.
#   make debug [GUEST=build/guest/kernel64.elf] [VMM_ARGS="--arg 1"]
# VMM, if set, is the vmm to run (e.g. the nested rig's launcher).
set -u
B=${1:-build}
cd "$(dirname "$0")/.."
guest=${GUEST:-build/guest/kernel64.elf}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# shellcheck disable=SC2086
"${VMM:-$B/vmm}" --gdb "$port" ${VMM_ARGS:-} "$guest" &
vmm=$!
trap 'kill "$vmm" 2>/dev/null; wait "$vmm" 2>/dev/null' EXIT
elf=${guest%.bin}
elf=${elf%.elf}.elf
VMM_GDB_PORT=$port VMM_ELF=$elf gdb -q -x gdbinit
