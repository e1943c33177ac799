#!/usr/bin/python3
"""Helpers that run inside the conformance suite's network namespaces.

  netagent.py forward A B --delay S --rules FILE --log FILE
      The middle namespace's forwarder: reads every frame arriving on veth A
      or B (AF_PACKET), holds it S seconds, sends it out of the other one.
      Rules (JSON list) drop chosen TCP segments; a dropped segment was still
      captured (tcpdump captures the inbound side, before this program sees
      it), so it is lost *after* the capture point.
  netagent.py poll --out FILE [--period S]
      Polls inet_diag (the source of `ss -tan`) every S seconds and writes a
      JSON line each time the set of TCP sockets (with their states and
      timers) changes: {"t": now, "tprev": previous poll, "socks": [...]}.
  netagent.py txcsum-off IFNAME
      Turns off transmit checksum offload (and so TSO) on IFNAME, so that
      frames leave with real checksums and at most one MSS of payload (the
      forwarder passes them on unchanged).

Standard library only; every loop is bounded by a deadline or a signal.
"""
import fcntl
import heapq
import json
import os
import select
import signal
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4

# ---------------------------------------------------------------- forwarder


def parse_tcp(frame):
    """(ipver, src, dst, sport, dport, seq, ack, flags, payload_len) or None."""
    if len(frame) < 14:
        return None
    etype = struct.unpack_from("!H", frame, 12)[0]
    off = 14
    if etype == 0x0800:
        if len(frame) < off + 20:
            return None
        vihl, _, tot, _, _, _, proto = struct.unpack_from("!BBHHHBB", frame, off)
        ihl = (vihl & 15) * 4
        if proto != 6:
            return None
        src = socket.inet_ntop(socket.AF_INET, frame[off + 12:off + 16])
        dst = socket.inet_ntop(socket.AF_INET, frame[off + 16:off + 20])
        l4 = off + ihl
        l4len = tot - ihl
        ver = 4
    elif etype == 0x86DD:
        if len(frame) < off + 40:
            return None
        plen, nxt = struct.unpack_from("!HB", frame, off + 4)
        if nxt != 6:
            return None
        src = socket.inet_ntop(socket.AF_INET6, frame[off + 8:off + 24])
        dst = socket.inet_ntop(socket.AF_INET6, frame[off + 24:off + 40])
        l4 = off + 40
        l4len = plen
        ver = 6
    else:
        return None
    if len(frame) < l4 + 20:
        return None
    sport, dport, seq, ack, doff, flags = struct.unpack_from("!HHIIBB", frame, l4)
    hl = (doff >> 4) * 4
    return ver, src, dst, sport, dport, seq, ack, flags, l4len - hl


def rule_matches(rule, seg):
    ver, src, dst, sport, dport, seq, ack, flags, plen = seg
    for k, v in (("src", src), ("dst", dst), ("sport", sport), ("dport", dport)):
        if k in rule and rule[k] != v:
            return False
    what = rule.get("what", "any")
    if what == "syn":
        return bool(flags & 0x02) and not flags & 0x10
    if what == "synack":
        return bool(flags & 0x02) and bool(flags & 0x10)
    if what == "fin":
        return bool(flags & 0x01)
    if what == "data":
        return plen > 0 and not flags & 0x01
    if what == "ack":  # a segment with ACK, no SYN/FIN/RST, no data
        return plen == 0 and not flags & 0x07
    return True


def forward(args):
    a, b = args.a, args.b
    rules = json.load(open(args.rules)) if args.rules else []
    for r in rules:
        r["count"] = 0
    socks = {}
    for name in (a, b):
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.bind((name, ETH_P_ALL))
        s.setblocking(False)
        socks[name] = s
    other = {a: socks[b], b: socks[a]}
    log = open(args.log, "w") if args.log else None
    stop = [False]

    def on_term(*_):
        stop[0] = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    queue = []  # (due, seq, out_socket, frame)
    n = 0
    deadline = time.monotonic() + args.max_seconds
    fds = {s.fileno(): name for name, s in socks.items()}
    while not stop[0] and time.monotonic() < deadline:
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, out, frame = heapq.heappop(queue)
            try:
                out.send(frame)
            except OSError as e:
                if log:
                    log.write(json.dumps({"t": time.time(), "error": str(e)}) + "\n")
        timeout = max(0.0, queue[0][0] - now) if queue else 0.2
        try:
            ready, _, _ = select.select(list(fds), [], [], min(timeout, 0.2))
        except InterruptedError:
            continue
        for fd in ready:
            name = fds[fd]
            for _ in range(64):  # bounded drain per wake-up
                try:
                    frame, addr = socks[name].recvfrom(65600)
                except BlockingIOError:
                    break
                if addr[2] == PACKET_OUTGOING:
                    continue
                seg = parse_tcp(frame)
                dropped = None
                if seg:
                    for r in rules:
                        if rule_matches(r, seg):
                            r["count"] += 1
                            nth = r.get("nth", "all")
                            if nth == "all" or r["count"] in nth:
                                dropped = r
                                break
                if dropped is not None:
                    if log:
                        log.write(json.dumps({"t": time.time(), "drop": seg[1:9],
                                              "rule": dropped.get("name", "")}) + "\n")
                    continue
                n += 1
                heapq.heappush(queue, (time.monotonic() + args.delay, n, other[name], frame))
    if log:
        log.close()


# ------------------------------------------------------------ inet_diag poll

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 1
NLM_F_DUMP = 0x300
NLMSG_DONE = 3
NLMSG_ERROR = 2
STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1",
          5: "FIN_WAIT2", 6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT",
          9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING", 12: "NEW_SYN_RECV"}
TIMERS = {0: "", 1: "on", 2: "keepalive", 3: "timewait", 4: "persist"}


def diag_dump(nl, family, seq):
    sockid = b"\0" * 48
    req = struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF) + sockid
    hdr = struct.pack("=IHHII", 16 + len(req), SOCK_DIAG_BY_FAMILY,
                      NLM_F_REQUEST | NLM_F_DUMP, seq, 0)
    nl.send(hdr + req)
    out = []
    for _ in range(10000):  # bounded: one dump never has that many parts here
        data = nl.recv(1 << 20)
        off = 0
        while off + 16 <= len(data):
            ln, typ, _, _, _ = struct.unpack_from("=IHHII", data, off)
            if typ == NLMSG_DONE:
                return out
            if typ == NLMSG_ERROR:
                raise OSError("inet_diag dump error")
            body = data[off + 16:off + ln]
            fam, state, timer, retrans = struct.unpack_from("=BBBB", body, 0)
            sport, dport = struct.unpack_from("!HH", body, 4)
            alen = 4 if fam == socket.AF_INET else 16
            src = socket.inet_ntop(fam, body[8:8 + alen])
            dst = socket.inet_ntop(fam, body[24:24 + alen])
            expires, rq, wq, uid, inode = struct.unpack_from("=IIIII", body, 52)
            out.append([STATES.get(state, str(state)), src, sport, dst, dport,
                        TIMERS.get(timer, str(timer)), expires, retrans, inode])
            off += (ln + 3) & ~3
    raise OSError("inet_diag dump did not end")


def poll(args):
    nl = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG)
    out = open(args.out, "w")
    stop = [False]

    def on_term(*_):
        stop[0] = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    last_key = None
    tprev = None
    seq = 0
    deadline = time.monotonic() + args.max_seconds
    while not stop[0] and time.monotonic() < deadline:
        t = time.time()
        socks = []
        for fam in (socket.AF_INET, socket.AF_INET6):
            seq += 1
            socks += diag_dump(nl, fam, seq)
        # The key leaves out the timers' remaining time (it changes always).
        key = sorted((s[0], s[1], s[2], s[3], s[4], s[5], s[7], s[8]) for s in socks)
        if key != last_key:
            out.write(json.dumps({"t": t, "tprev": tprev, "socks": socks}) + "\n")
            out.flush()
            last_key = key
        tprev = t
        time.sleep(args.period)
    out.write(json.dumps({"t": time.time(), "tprev": tprev, "end": True}) + "\n")
    out.close()


# ------------------------------------------------------------ tx csum off

SIOCETHTOOL = 0x8946
ETHTOOL_STXCSUM = 0x17
ETHTOOL_SSG = 0x19
ETHTOOL_STSO = 0x1F


def txcsum_off(args):
    import ctypes
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for cmd in (ETHTOOL_STSO, ETHTOOL_SSG, ETHTOOL_STXCSUM):
        # struct ethtool_value { u32 cmd, data; }, pointed at by ifr_data.
        cbuf = ctypes.create_string_buffer(struct.pack("=II", cmd, 0), 8)
        ifr = struct.pack("16sQ", args.ifname.encode(), ctypes.addressof(cbuf))
        fcntl.ioctl(s, SIOCETHTOOL, ifr)


def main():
    import argparse
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("forward")
    f.add_argument("a")
    f.add_argument("b")
    f.add_argument("--delay", type=float, default=0.03)
    f.add_argument("--rules")
    f.add_argument("--log")
    f.add_argument("--max-seconds", type=float, default=900)
    q = sub.add_parser("poll")
    q.add_argument("--out", required=True)
    q.add_argument("--period", type=float, default=0.02)
    q.add_argument("--max-seconds", type=float, default=900)
    t = sub.add_parser("txcsum-off")
    t.add_argument("ifname")
    args = p.parse_args()
    {"forward": forward, "poll": poll, "txcsum-off": txcsum_off}[args.cmd](args)


if __name__ == "__main__":
    main()
