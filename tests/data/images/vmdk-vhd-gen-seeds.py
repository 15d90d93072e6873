#!/usr/bin/env python3
"""Generate the tiny VMDK and VHD fuzz seeds (tests/fuzz/seeds/vmdk, vpc).

The images vessel and qemu-img write use 64 KiB grains and 2 MiB blocks,
which makes even an empty image tens of KiB. These are hand-laid-out with
the smallest legal geometry (4 KiB grains, 16-entry grain tables, 4 KiB VHD
blocks) so a fuzzer mutates metadata rather than padding. Layouts follow
the VMware Virtual Disk Format 1.1 and the VHD specification; the unit
suites check that vessel reads them (tests/unit/formats/test_*.c).

    python3 tests/data/images/vmdk-vhd-gen-seeds.py   # from the repository root
"""
import os
import struct
import zlib

SECTOR = 512
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fuzz", "seeds")


def pad(b, n=SECTOR):
    return b + b"\0" * (-len(b) % n)


def vmdk_header(version, flags, cap, grain, desc_off, desc_n, gtes, rgd, gd, overhead, comp):
    h = b"KDMV" + struct.pack("<IIQQQQIQQQ", version, flags, cap, grain, desc_off, desc_n,
                              gtes, rgd, gd, overhead)
    h += b"\0\n \r\n" + struct.pack("<H", comp)
    return pad(h)


def descriptor(create_type, sectors, name):
    return ("# Disk DescriptorFile\nversion=1\nCID=1234abcd\nparentCID=ffffffff\n"
            "createType=\"%s\"\n\n# Extent description\nRW %d SPARSE \"%s\"\n\n"
            "#DDB\nddb.virtualHWVersion = \"4\"\nddb.adapterType = \"ide\"\n"
            "ddb.geometry.cylinders = \"1\"\nddb.geometry.heads = \"16\"\n"
            "ddb.geometry.sectors = \"63\"\n" % (create_type, sectors, name)).encode()


def grain_data(i, size):
    return bytes(((i * 37 + k * 7) & 0xff) if k % 5 else 0x41 for k in range(size))


def sparse_vmdk():
    grain, gtes, cap = 8, 16, 128           # 4 KiB grains, one GT covers 64 KiB
    desc = pad(descriptor("monolithicSparse", cap, "sparse-4k.vmdk"))
    desc_n = len(desc) // SECTOR
    rgd, rgt = 1 + desc_n, 2 + desc_n       # redundant GD + GT, then primary
    gd, gt = 3 + desc_n, 4 + desc_n
    first = 5 + desc_n
    alloc = [0, 3, 9]                        # grains holding data
    table = [0] * gtes
    body = b""
    for n, g in enumerate(alloc):
        table[g] = first + n * grain
        body += grain_data(g, grain * SECTOR)
    gtb = pad(struct.pack("<%dI" % gtes, *table))
    out = vmdk_header(1, 3, cap, grain, 1, desc_n, gtes, rgd, gd, first, 0) + desc
    out += pad(struct.pack("<I", rgt)) + gtb + pad(struct.pack("<I", gt)) + gtb + body
    return out


def marker(val, size, typ):
    return pad(struct.pack("<QII", val, size, typ))


def stream_vmdk():
    grain, gtes, cap = 8, 16, 128
    desc = pad(descriptor("streamOptimized", cap, "stream-4k.vmdk"))
    desc_n = len(desc) // SECTOR
    first = 1 + desc_n
    out = bytearray(vmdk_header(3, 0x30001, cap, grain, 1, desc_n, gtes, 0,
                                0xffffffffffffffff, first, 1) + desc)
    table = [0] * gtes
    for g in (1, 2, 12):
        z = zlib.compress(grain_data(g, grain * SECTOR), 6)
        table[g] = len(out) // SECTOR
        out += pad(struct.pack("<QI", g * grain, len(z)) + z)
    out += marker(1, 0, 1)                   # GT marker: 1 sector of GT follows
    gt_sec = len(out) // SECTOR
    out += pad(struct.pack("<%dI" % gtes, *table))
    out += marker(1, 0, 2)                   # GD marker
    gd_sec = len(out) // SECTOR
    out += pad(struct.pack("<I", gt_sec))
    out += marker(1, 0, 3)                   # footer marker + header copy
    out += vmdk_header(3, 0x30001, cap, grain, 1, desc_n, gtes, 0, gd_sec, first, 1)
    out += b"\0" * SECTOR                    # end-of-stream marker
    return bytes(out)


def flat_descriptor():
    return ("# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n"
            "createType=\"monolithicFlat\"\n\nRW 8 FLAT \"x-flat.vmdk\" 0\nRW 8 ZERO\n"
            "\nddb.adapterType = \"lsilogic\"\n").encode()


def vhd_checksum(b):
    return (~sum(b)) & 0xffffffff


def vhd_footer(size, disk_type, data_off):
    f = bytearray(b"conectix" + struct.pack(">IIQI", 2, 0x10000, data_off,
                                            0))  # timestamp 0: reproducible seeds
    f += b"vssl" + struct.pack(">I", 1) + b"Wi2k" + struct.pack(">QQ", size, size)
    f += struct.pack(">HBBI", 65535, 16, 255, disk_type) + b"\0\0\0\0"
    f += bytes(range(16)) + b"\0"
    f = bytearray(pad(bytes(f)))
    f[64:68] = struct.pack(">I", vhd_checksum(f))
    return bytes(f)


def dynamic_vhd():
    block, size = 4096, 16384
    entries = size // block
    foot = vhd_footer(size, 3, 512)
    dh = bytearray(b"cxsparse" + struct.pack(">QQIII", 0xffffffffffffffff, 1536, 0x10000,
                                              entries, block))
    dh = bytearray(pad(bytes(dh), 1024))
    dh[36:40] = struct.pack(">I", vhd_checksum(dh))
    bat = [0xffffffff] * entries
    body = b""
    pos = 1536 + 512
    for n, b in enumerate((0, 2)):
        bat[b] = (pos + n * (512 + block)) // SECTOR
        body += b"\xff" * 512 + grain_data(b, block)
    return foot + bytes(dh) + pad(struct.pack(">%dI" % entries, *bat)) + body + foot


def fixed_vhd():
    return grain_data(7, 8192) + vhd_footer(8192, 2, 0xffffffffffffffff)


def main():
    files = {
        "vmdk/sparse-4k.vmdk": sparse_vmdk(),
        "vmdk/stream-4k.vmdk": stream_vmdk(),
        "vmdk/flat-desc.vmdk": flat_descriptor(),
        "vpc/dynamic-4k.vhd": dynamic_vhd(),
        "vpc/fixed-8k.vhd": fixed_vhd(),
    }
    for name, data in files.items():
        path = os.path.join(ROOT, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        print("%s: %d bytes" % (os.path.relpath(path), len(data)))


if __name__ == "__main__":
    main()
