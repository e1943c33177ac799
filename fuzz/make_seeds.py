#!/usr/bin/env python3
"""Writes the seed corpora of fuzz/corpus/ from the committed samples.

    python3 fuzz/make_seeds.py            (from the repository root)

corpus/pipeline/  the samples themselves (small ones), plus gzip copies of
                  two of them: whole capture files, as synfin reads them.
corpus/dissect/   every packet of the link-type samples, prefixed with the
                  4-byte header fuzz_dissect.c expects.
corpus/flows/     scripted conversations in fuzz_flows.c's format.
"""
import glob
import gzip
import os
import shutil
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")

# fuzz_dissect.c's `links`, in order.
LINKS = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 147, 9, 50, 104, 10, 105, 127, 239, 242, 178]


def pcap_packets(path):
    """(linktype, packet bytes, wire length) of each record of a pcap file."""
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        return []
    linktype = struct.unpack(e + "I", data[20:24])[0] & 0x0FFFFFFF
    off, out = 24, []
    while off + 16 <= len(data):
        _, _, caplen, wirelen = struct.unpack(e + "IIII", data[off:off + 16])
        out.append((linktype, data[off + 16:off + 16 + caplen], wirelen))
        off += 16 + caplen
    return out


def dissect_seeds():
    d = os.path.join(CORPUS, "dissect")
    os.makedirs(d, exist_ok=True)
    n = 0
    for path in sorted(glob.glob(os.path.join(ROOT, "samples", "*.pcap"))):
        name = os.path.basename(path)
        if not (name.startswith("link_") or name in ("mixed_nontcp.pcap", "ipv6_close.pcap",
                                                      "syn_with_data.pcap", "tunnels.pcap",
                                                      "l2_headers.pcap")):
            continue
        packets = pcap_packets(path)
        # the tunnel samples: the first packet of each connection (11 a piece)
        step = 11 if name in ("tunnels.pcap", "l2_headers.pcap") else 1
        for i, (lt, pkt, wire) in enumerate(packets[::step][:16] if step > 1 else packets[:6]):
            if lt not in LINKS:
                continue
            extra = wire - len(pkt)
            w = 0 if extra <= 0 else min(1 + (extra + 63) // 64, 0x7FFE)
            seed = bytes([LINKS.index(lt), w & 0xFF, w >> 8, 128]) + pkt
            with open(os.path.join(d, "%s-%d" % (name[:-5], i)), "wb") as f:
                f.write(seed)
            n += 1
    return n


def pipeline_seeds():
    d = os.path.join(CORPUS, "pipeline")
    os.makedirs(d, exist_ok=True)
    n = 0
    for path in sorted(glob.glob(os.path.join(ROOT, "samples", "*.pcap*"))):
        if os.path.getsize(path) > 16384:
            continue  # keep the corpus small: libFuzzer's max_len follows it
        shutil.copy(path, os.path.join(d, os.path.basename(path)))
        n += 1
    for name in ("close_client.pcap", "two_interfaces.pcapng"):
        src = os.path.join(ROOT, "samples", name)
        if os.path.exists(src):
            with open(src, "rb") as f:
                raw = f.read()
            with open(os.path.join(d, name + ".gz"), "wb") as f:
                f.write(gzip.compress(raw, mtime=0))
            n += 1
    return n


# fuzz_flows.c: TCP flags and a segment record.
FIN, SYN, RST, PSH, ACK = 1, 2, 4, 8, 16


def seg(flags, conn=0, rev=0, seq=0, ack=0, plen=0, win=65535, ws=None, ttl=64, step=0,
        unit=0, gen=0):
    ctl = conn | (rev << 2) | (gen << 5) | (0x10 if ws is not None else 0)
    return struct.pack("<BBHHHHBBHBB", flags, ctl, seq & 0xFFFF, ack & 0xFFFF, plen, win,
                       ws or 0, ttl, step, unit, 0)


def setup(msl_ms=1, idle=0, max_flows=0, t0=1700000000 * 10**9):
    return struct.pack("<qBBB5x", t0, msl_ms - 1, idle, max_flows)


def flows_seeds():
    d = os.path.join(CORPUS, "flows")
    os.makedirs(d, exist_ok=True)
    hs = [seg(SYN, ws=7), seg(SYN | ACK, rev=1, ack=1, ws=7, step=100),
          seg(ACK, seq=1, ack=1, step=23, unit=1)]
    scripts = {
        "close_client": hs + [seg(FIN | ACK, seq=1, ack=1, step=5, unit=1),
                              seg(ACK, rev=1, seq=1, ack=2, step=50),
                              seg(FIN | ACK, rev=1, seq=1, ack=2, step=1, unit=1),
                              seg(ACK, seq=2, ack=2, step=23, unit=1),
                              seg(ACK, conn=1, step=2, unit=2)],
        "crossed_fins": hs + [seg(FIN | ACK, seq=1, ack=1, step=5, unit=1),
                              seg(FIN | ACK, rev=1, seq=1, ack=1, step=1),
                              seg(ACK, seq=2, ack=2, step=23, unit=1),
                              seg(ACK, rev=1, seq=2, ack=2, step=1)],
        "rst": hs + [seg(PSH | ACK, seq=1, ack=1, plen=100, step=1, unit=1),
                     seg(RST | ACK, rev=1, seq=1, ack=101, step=1),
                     seg(RST, rev=1, seq=40000, step=1, ttl=250)],
        "refused": [seg(SYN), seg(RST | ACK, rev=1, ack=1, step=10)],
        "reuse": hs + [seg(FIN | ACK, seq=1, ack=1, step=5, unit=1),
                       seg(FIN | ACK, rev=1, seq=1, ack=2, step=1),
                       seg(ACK, seq=2, ack=2, step=23, unit=1),
                       seg(SYN, gen=1, step=10, unit=1),
                       seg(SYN | ACK, rev=1, gen=1, ack=1, step=1)],
        "midstream_many": [seg(ACK, conn=c, rev=c & 1, seq=100 * c, ack=7, plen=10, step=1)
                           for c in range(4)] * 3,
        "simultaneous": [seg(SYN), seg(SYN, rev=1, step=1),
                         seg(SYN | ACK, ack=1, step=1), seg(SYN | ACK, rev=1, ack=1, step=1)],
    }
    configs = {"close_client": setup(msl_ms=2, idle=10), "reuse": setup(max_flows=1),
               "midstream_many": setup(max_flows=2, idle=1)}
    for name, segs in scripts.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(configs.get(name, setup()) + b"".join(segs))
    return len(scripts)


if __name__ == "__main__":
    print("pipeline %d, dissect %d, flows %d seeds" % (pipeline_seeds(), dissect_seeds(),
                                                        flows_seeds()))
    sys.exit(0)
