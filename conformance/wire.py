"""A small independent pcap reader for the suite's wire truth.

Reads the capture tcpdump wrote (classic pcap; Linux cooked v1/v2 or
Ethernet) and splits each 4-tuple's segments into connection instances the
way the kernel makes them: a client SYN with a new ISN starts a new one.
Counts what the wire shows: SYN, SYN-ACK and FIN retransmissions.
"""
import socket
import struct


def read_pcap(path):
    """Yields (ts, ipver, src, sport, dst, dport, seq, ack, flags, plen)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return
    magic = struct.unpack_from("<I", data, 0)[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        e = "<"
    else:
        e = ">"
        magic = struct.unpack_from(">I", data, 0)[0]
    nano = magic == 0xA1B23C4D
    linktype = struct.unpack_from(e + "I", data, 20)[0] & 0xFFFF
    off = 24
    while off + 16 <= len(data):
        sec, frac, caplen, _ = struct.unpack_from(e + "IIII", data, off)
        off += 16
        pkt = data[off:off + caplen]
        off += caplen
        ts = sec + frac / (1e9 if nano else 1e6)
        if linktype == 276:  # LINUX_SLL2
            proto = struct.unpack_from("!H", pkt, 0)[0]
            l3 = 20
        elif linktype == 113:  # LINUX_SLL
            proto = struct.unpack_from("!H", pkt, 14)[0]
            l3 = 16
        elif linktype == 1:
            proto = struct.unpack_from("!H", pkt, 12)[0]
            l3 = 14
        else:
            continue
        seg = parse_ip(pkt, l3, proto)
        if seg:
            yield (ts,) + seg


def parse_ip(pkt, off, proto):
    if proto == 0x0800 and len(pkt) >= off + 20:
        vihl, _, tot, _, _, _, p = struct.unpack_from("!BBHHHBB", pkt, off)
        ihl = (vihl & 15) * 4
        if p != 6:
            return None
        src = socket.inet_ntop(socket.AF_INET, pkt[off + 12:off + 16])
        dst = socket.inet_ntop(socket.AF_INET, pkt[off + 16:off + 20])
        l4, l4len, ver = off + ihl, tot - ihl, 4
    elif proto == 0x86DD and len(pkt) >= off + 40:
        plen, nxt = struct.unpack_from("!HB", pkt, off + 4)
        if nxt != 6:
            return None
        src = socket.inet_ntop(socket.AF_INET6, pkt[off + 8:off + 24])
        dst = socket.inet_ntop(socket.AF_INET6, pkt[off + 24:off + 40])
        l4, l4len, ver = off + 40, plen, 6
    else:
        return None
    if len(pkt) < l4 + 14:
        return None
    sport, dport, seq, ack, doff, flags = struct.unpack_from("!HHIIBB", pkt, l4)
    return ver, src, sport, dst, dport, seq, ack, flags, l4len - (doff >> 4) * 4


def last_ts(path):
    """The capture end: the latest timestamp of any packet (TCP or not)."""
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack_from("<I", data, 0)[0]
    e = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    nano = struct.unpack_from(e + "I", data, 0)[0] == 0xA1B23C4D
    off, end = 24, 0.0
    while off + 16 <= len(data):
        sec, frac, caplen, _ = struct.unpack_from(e + "IIII", data, off)
        end = max(end, sec + frac / (1e9 if nano else 1e6))
        off += 16 + caplen
    return end


class Instance:
    def __init__(self, client, server):
        self.client = client  # (ip, port)
        self.server = server
        self.segs = []  # (ts, dir 'c2s'/'s2c', seq, ack, flags, plen)
        self.isn = None

    @property
    def start(self):
        return self.segs[0][0]

    def counts(self):
        syns, synacks, fins = {}, {}, {}
        for ts, d, seq, ack, fl, plen in self.segs:
            if fl & 0x02 and not fl & 0x10 and d == "c2s":
                syns[seq] = syns.get(seq, 0) + 1
            elif fl & 0x02 and fl & 0x10 and d == "s2c":
                synacks[seq] = synacks.get(seq, 0) + 1
            if fl & 0x01:
                k = (d, (seq + plen) & 0xFFFFFFFF)
                fins[k] = fins.get(k, 0) + 1
        return {
            "syn_retransmits": sum(n - 1 for n in syns.values()),
            "synack_retransmits": sum(n - 1 for n in synacks.values()),
            "fin_retransmits": sum(n - 1 for n in fins.values()),
        }

    def first(self, d, pred):
        for s in self.segs:
            if s[1] == d and pred(s):
                return s
        return None


def instances(path, clients):
    """clients: {(client_ip, client_port, server_ip, server_port)} to keep.
    Returns {that key: [Instance, ...]} in time order."""
    out = {k: [] for k in clients}
    for ts, ver, src, sport, dst, dport, seq, ack, fl, plen in read_pcap(path):
        if (src, sport, dst, dport) in out:
            key, d = (src, sport, dst, dport), "c2s"
        elif (dst, dport, src, sport) in out:
            key, d = (dst, dport, src, sport), "s2c"
        else:
            continue
        lst = out[key]
        is_syn = fl & 0x02 and not fl & 0x10 and d == "c2s"
        if not lst or (is_syn and lst[-1].isn is not None and seq != lst[-1].isn):
            lst.append(Instance(key[:2], key[2:]))
        inst = lst[-1]
        if is_syn and inst.isn is None:
            inst.isn = seq
        inst.segs.append((ts, d, seq, ack, fl, plen))
    return out
