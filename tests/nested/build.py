#!/usr/bin/env python3
"""tests/nested/build.py OUTDIR - the nested rig's kernel and initramfs.

From Debian's packages only (linux-image-amd64, busybox-static): the kernel's
uncompressed vmlinux (QEMU boots it through its PVH note, twice as fast as the
bzImage) and an initramfs holding busybox, the modules the rig needs (kvm_amd,
virtio-serial, 9p over virtio) with their dependencies, and tests/nested/init.
Rebuilt only when the kernel package or init changes.
"""
import glob
import lzma
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
WANT = ["kvm_amd", "virtio_pci", "virtio_console", "9pnet_virtio", "9p"]


def die(msg):
    sys.exit("nested rig: " + msg)


def newest_kernel():
    vmlinuz = sorted(glob.glob("/boot/vmlinuz-*-amd64"))
    if not vmlinuz:
        die("no /boot/vmlinuz-*-amd64: install Debian's linux-image-amd64")
    path = vmlinuz[-1]
    ver = path[len("/boot/vmlinuz-"):]
    if not os.path.isdir("/lib/modules/" + ver):
        die("no /lib/modules/%s for %s" % (ver, path))
    return path, ver


def extract_vmlinux(vmlinuz, out):
    """The ELF inside a bzImage: the first xz stream that decompresses to one."""
    data = open(vmlinuz, "rb").read()
    at = 0
    while True:
        at = data.find(b"\xfd7zXZ\x00", at)
        if at < 0:
            die("no xz-compressed ELF found in " + vmlinuz)
        try:
            elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[at:])
            if elf[:4] == b"\x7fELF":
                open(out, "wb").write(elf)
                return
        except lzma.LZMAError:
            pass
        at += 1


def module_order(ver):
    """Module files (relative to /lib/modules/VER) in load order, deps first."""
    deps = {}
    for line in open("/lib/modules/%s/modules.dep" % ver):
        mod, _, rest = line.partition(":")
        deps[mod] = rest.split()

    def name(path):
        return os.path.basename(path).split(".")[0].replace("-", "_")

    by_name = {name(m): m for m in deps}
    order = []

    def add(m):
        if m in order:
            return
        for d in deps[m]:
            add(d)
        order.append(m)

    for w in WANT:
        if w not in by_name:
            die("module %s not in this kernel (built in? then drop it from WANT)" % w)
        add(by_name[w])
    return order


def main():
    out = os.path.abspath(sys.argv[1])
    vmlinuz, ver = newest_kernel()
    busybox = shutil.which("busybox") or "/bin/busybox"
    if b"statically linked" not in subprocess.run(["file", "-L", busybox],
                                                  capture_output=True).stdout:
        die("no static busybox: install Debian's busybox-static")
    stamp = "%s %d %d\n" % (ver, os.path.getmtime(vmlinuz), os.path.getmtime(HERE + "/init"))
    os.makedirs(out, exist_ok=True)
    if os.path.exists(out + "/stamp") and open(out + "/stamp").read() == stamp:
        return
    extract_vmlinux(vmlinuz, out + "/vmlinux")

    root = out + "/root"
    shutil.rmtree(root, ignore_errors=True)
    for d in ("bin", "dev", "proc", "sys", "host", "lib/modules"):
        os.makedirs(root + "/" + d)
    shutil.copy(busybox, root + "/bin/busybox")
    shutil.copy(HERE + "/init", root + "/init")
    os.chmod(root + "/init", 0o755)
    names = []
    for m in module_order(ver):
        src = "/lib/modules/%s/%s" % (ver, m)
        data = open(src, "rb").read()
        if m.endswith(".xz"):
            data = lzma.decompress(data)
        base = os.path.basename(m).split(".ko")[0] + ".ko"
        open(root + "/lib/modules/" + base, "wb").write(data)
        names.append(base)
    open(root + "/lib/modules/order", "w").write("\n".join(names) + "\n")
    files = subprocess.run(["find", "."], cwd=root, capture_output=True, check=True).stdout
    with open(out + "/initrd.cpio", "wb") as f:
        subprocess.run(["cpio", "--quiet", "-o", "-H", "newc"], cwd=root, input=files,
                       stdout=f, check=True)
    open(out + "/stamp", "w").write(stamp)


if __name__ == "__main__":
    main()
