#!/usr/bin/python3
"""The conformance scenarios: what each endpoint's application does.

Run by the orchestrator (run.py) inside a namespace:
    scenarios.py --role client|server --plan PLAN.json --log EVENTS.jsonl
Every scenario runs in its own thread, on its own pair of addresses, from the
same start time t0 (CLOCK_REALTIME, shared by all namespaces), so both sides
can act "at the same instant" (ctx.at(seconds after t0)). The delay the
forwarder adds after the capture point (D per direction, 30 ms by default) is
what makes such instants cross on the wire: both FINs are sent before either
arrives.

The table SCENARIOS at the bottom is also read by run.py: the forwarder's
drop rules, the namespace sysctls, how many connection instances each
scenario makes, which fields are not inferable from the wire.
"""
import json
import os
import socket
import struct
import sys
import threading
import time


class Ctx:
    def __init__(self, plan, sc, role, log):
        self.t0 = plan["t0"]
        self.hold_until = plan["hold_until"]
        self.name = sc["name"]
        self.caddr = sc["caddr"]
        self.saddr = sc["saddr"]
        self.port = sc["port"]
        self.cport0 = sc["cport0"]
        self.family = socket.AF_INET6 if ":" in sc["saddr"] else socket.AF_INET
        self.role = role
        self._log = log
        self.keep = []  # sockets held open until hold_until

    def at(self, sec):
        """Sleep until t0 + sec."""
        d = self.t0 + sec - time.time()
        if d > 0:
            time.sleep(d)

    def log(self, **kw):
        kw.update(t=time.time(), scenario=self.name, role=self.role)
        self._log(kw)

    def socket(self):
        return socket.socket(self.family, socket.SOCK_STREAM)

    def listen(self, backlog=16):
        s = self.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.saddr, self.port))
        s.listen(backlog)
        self.keep.append(s)
        return s

    def accept(self, l, timeout=20):
        l.settimeout(timeout)
        c, _ = l.accept()
        c.settimeout(None)
        self.keep.append(c)
        return c

    def connect(self, k=0, timeout=30, setup=None):
        """Connect from client port cport0 + k; None (logged) on failure."""
        s = self.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if setup:
            setup(s)
        s.bind((self.caddr, self.cport0 + k))
        s.settimeout(timeout)
        try:
            s.connect((self.saddr, self.port))
        except OSError as e:
            self.log(event="connect_failed", k=k, errno=getattr(e, "errno", None) or "timeout")
            s.close()
            return None
        s.settimeout(None)
        self.log(event="connected", k=k)
        self.keep.append(s)
        return s


def recv_until_eof(s, limit=200, timeout=20):
    """Read until EOF; returns the bytes (bounded by limit reads and time)."""
    s.settimeout(timeout)
    out = b""
    for _ in range(limit):
        try:
            d = s.recv(65536)
        except OSError:
            break
        if not d:
            break
        out += d
    s.settimeout(None)
    return out


def linger0(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


# ------------------------------------------------------------ building blocks

def serve_echo(ctx, close="on_eof", close_at=None, after_eof=0.2):
    """Accept one connection, answer the request; then close on EOF (after
    after_eof seconds), at close_at, or never."""
    l = ctx.listen()
    c = ctx.accept(l)
    c.recv(1000)
    c.sendall(b"response")
    if close == "on_eof":
        recv_until_eof(c)
        time.sleep(after_eof)
        c.close()
    elif close == "at":
        ctx.at(close_at)
        c.close()
    return c


def client_request(ctx, k=0, setup=None):
    s = ctx.connect(k, setup=setup)
    if s is None:
        return None
    s.sendall(b"request")
    s.settimeout(5)
    try:
        s.recv(1000)
    except OSError:
        pass
    s.settimeout(None)
    return s


# ------------------------------------------------------------ scenarios

def client_close_c(ctx):
    s = client_request(ctx)
    ctx.at(1.0)
    s.close()


def client_close_s(ctx):
    serve_echo(ctx, "on_eof")


def server_close_c(ctx):
    s = client_request(ctx)
    recv_until_eof(s)
    time.sleep(0.2)
    s.close()


def server_close_s(ctx):
    serve_echo(ctx, "at", 1.0)


def simultaneous_c(ctx):
    s = client_request(ctx)
    ctx.at(1.0)
    s.close()


def simultaneous_s(ctx):
    serve_echo(ctx, "at", 1.0)


def half_close_c(ctx):
    s = client_request(ctx)
    ctx.at(1.0)
    s.shutdown(socket.SHUT_WR)
    got = recv_until_eof(s)
    ctx.log(event="half_close_read", n=len(got))
    s.close()


def half_close_s(ctx):
    l = ctx.listen()
    c = ctx.accept(l)
    recv_until_eof(c)
    for i in range(3):  # data after the client's FIN
        time.sleep(0.1)
        c.sendall(b"more data %d" % i)
    time.sleep(0.1)
    c.close()


def rst_client_c(ctx):
    s = client_request(ctx)
    ctx.at(1.0)
    linger0(s)
    s.close()


def rst_client_s(ctx):
    l = ctx.listen()
    c = ctx.accept(l)
    c.recv(1000)
    c.sendall(b"response")
    recv_until_eof(c)  # ends with ECONNRESET
    c.close()


def rst_server_c(ctx):
    s = client_request(ctx)
    recv_until_eof(s)
    s.close()


def rst_server_s(ctx):
    l = ctx.listen()
    c = ctx.accept(l)
    c.recv(1000)
    c.sendall(b"response")
    ctx.at(1.0)
    linger0(c)
    c.close()


def refused_c(ctx):
    ctx.connect()  # nothing listens on the server's address and port


def nothing(ctx):
    pass


def syn_unanswered_c(ctx):
    # Every SYN is dropped after the capture point; the application gives up
    # after 3.5 s (SYNs at 0, 1, 2, 3 s: Linux 6.18 retries 1 s apart first).
    s = ctx.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ctx.caddr, ctx.cport0))
    s.settimeout(3.5)
    try:
        s.connect((ctx.saddr, ctx.port))
    except OSError as e:
        ctx.log(event="connect_failed", k=0, errno=getattr(e, "errno", None) or "timeout")
    s.close()


def syn_kernel_gives_up_c(ctx):
    # Same, but the application waits for the kernel (tcp_syn_retries = 6:
    # about 127 s). In quick mode the capture ends first.
    ctx.connect(timeout=max(1.0, ctx.hold_until - time.time()))


def listen_only_s(ctx):
    ctx.listen()


def fin_lost_c(ctx):
    s = client_request(ctx)
    ctx.at(1.0)
    s.close()


def fin_lost_s(ctx):
    serve_echo(ctx, "on_eof")


def fin_lost_crossed_c(ctx):
    # The client's FIN goes first (10 ms before the server's: they still
    # cross, the delay is 30 ms) and is lost after the capture point.
    s = client_request(ctx)
    ctx.at(1.0)
    s.close()


def fin_lost_crossed_s(ctx):
    serve_echo(ctx, "at", 1.01)


def fin_lost_second_c(ctx):
    # The server's FIN goes first; the client's, 10 ms later, crosses it and
    # is lost: the client acks the server's FIN with a pure ACK (CLOSING) and
    # retransmits its own; only the client passes through CLOSING.
    s = client_request(ctx)
    ctx.at(1.01)
    s.close()


def fin_lost_second_s(ctx):
    serve_echo(ctx, "at", 1.0)


def data_loss_c(ctx):
    s = client_request(ctx)
    s.sendall(b"d" * 10000)  # 7 segments; the forwarder drops the third
    ctx.at(1.5)
    s.close()


def data_loss_s(ctx):
    serve_echo(ctx, "on_eof")


def tw_reuse_c(ctx):
    # Instance 1: the client closes first and holds TIME_WAIT; instance 2,
    # 1.5 s later from the same port: tcp_tw_reuse lets connect() take it.
    s = client_request(ctx)
    ctx.at(0.5)
    s.close()
    ctx.at(2.0)
    s = client_request(ctx)
    recv_until_eof(s)
    time.sleep(0.1)
    s.close()


def tw_reuse_s(ctx):
    l = ctx.listen()
    c = ctx.accept(l)
    c.recv(1000)
    c.sendall(b"response")
    recv_until_eof(c)
    time.sleep(0.1)
    c.close()
    c = ctx.accept(l)
    c.recv(1000)
    c.sendall(b"response")
    ctx.at(3.0)
    c.close()


def syn_into_tw_c(ctx):
    # Instance 1: the server closes first and holds TIME_WAIT; instance 2:
    # the client's new SYN from the same port lands in it (Linux accepts a
    # SYN with a higher sequence number / newer timestamp in TIME_WAIT).
    s = client_request(ctx)
    recv_until_eof(s)
    time.sleep(0.1)
    s.close()
    ctx.at(2.0)
    s = client_request(ctx)
    ctx.at(3.0)
    s.close()


def syn_into_tw_s(ctx):
    l = ctx.listen()
    c = ctx.accept(l)
    c.recv(1000)
    c.sendall(b"response")
    ctx.at(0.5)
    c.close()
    c = ctx.accept(l)
    c.recv(1000)
    c.sendall(b"response")
    recv_until_eof(c)
    time.sleep(0.1)
    c.close()


def hold_c(ctx):
    client_request(ctx)  # kept open until the end


def hold_s(ctx):
    serve_echo(ctx, "never")


def close_hold_c(ctx):
    s = client_request(ctx)
    ctx.at(1.0)
    s.close()  # orphan: FIN_WAIT2 until tcp_fin_timeout (60 s)


def shutdown_hold_c(ctx):
    s = client_request(ctx)
    ctx.at(1.0)
    s.shutdown(socket.SHUT_WR)  # not an orphan: FIN_WAIT2 while it is open


def close_wait_end_s(ctx):
    serve_echo(ctx, "at", 1.0)  # the client never closes: CLOSE_WAIT


def abort_on_data_c(ctx):
    s = client_request(ctx)
    ctx.at(1.0)
    s.close()


def abort_on_data_s(ctx):
    l = ctx.listen()
    c = ctx.accept(l)
    c.recv(1000)
    c.sendall(b"response")
    recv_until_eof(c)
    time.sleep(0.2)
    c.sendall(b"data after the client closed")  # the client answers RST
    time.sleep(0.2)
    c.close()


def abort_on_data_fin_s(ctx):
    l = ctx.listen()
    c = ctx.accept(l)
    c.recv(1000)
    c.sendall(b"response")
    recv_until_eof(c)
    time.sleep(0.2)
    # Data and FIN in one segment: the closed client answers RST, so it
    # never enters TIME_WAIT although the server's FIN reached it.
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
    c.sendall(b"data after the client closed")
    c.close()


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def rst_in_window_s(ctx):
    # The server side injects, through its own interface (so the capture
    # point sees it), an RST inside the client's window but 5000 bytes past
    # rcv_nxt: RFC 5961 says challenge ACK, no state change.
    sniff = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))  # ETH_P_ALL: outgoing frames too
    sniff.bind(("eth0", 0x0003))
    sniff.settimeout(0.2)
    l = ctx.listen()
    c = ctx.accept(l)
    c.recv(1000)
    c.sendall(b"response")
    frame = None
    deadline = time.time() + 5
    for _ in range(5000):  # bounded: 5000 frames (all scenarios pass here) or 5 s
        if time.time() > deadline:
            break
        try:
            f, addr = sniff.recvfrom(2000)
        except OSError:
            continue
        ihl = (f[14] & 15) * 4
        tcp = 14 + ihl
        if addr[2] == 4 and f[14 + 9] == 6 and struct.unpack_from("!H", f, tcp)[0] == ctx.port \
                and socket.inet_ntoa(f[30:34]) == ctx.caddr and len(f) > tcp + (f[tcp + 12] >> 4) * 4:
            frame = f
            break
    if frame is None:
        ctx.log(event="inject_failed")
    else:
        ihl = (frame[14] & 15) * 4
        tcp = 14 + ihl
        seq, ack = struct.unpack_from("!II", frame, tcp + 4)
        tot = struct.unpack_from("!H", frame, 16)[0]
        plen = tot - ihl - (frame[tcp + 12] >> 4) * 4
        rseq = (seq + plen + 5000) & 0xFFFFFFFF
        ttl = frame[22]
        src, dst = frame[26:30], frame[30:34]
        th = struct.pack("!HHIIBBHHH", ctx.port, struct.unpack_from("!H", frame, tcp + 2)[0],
                         rseq, ack, 5 << 4, 0x14, 0, 0, 0)
        th = th[:16] + struct.pack("!H", csum(src + dst + struct.pack("!BBH", 0, 6, 20) + th)) + th[18:]
        ih = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 0, 0x4000, ttl, 6, 0, src, dst)
        ih = ih[:10] + struct.pack("!H", csum(ih)) + ih[12:]
        time.sleep(0.3)
        sniff.send(frame[:14] + ih + th)
        ctx.log(event="injected_rst", seq=rseq)
    sniff.close()
    recv_until_eof(c)
    time.sleep(0.1)
    c.close()


def rst_in_window_c(ctx):
    s = client_request(ctx)
    ctx.at(1.5)
    s.close()


def accept_overflow_c(ctx):
    # listen(2) holds three established connections; the fourth's handshake
    # ACK arrives while they wait and is dropped (tcp_abort_on_overflow = 0),
    # so the server keeps its request socket and resends the SYN-ACK.
    starts = [0.0, 0.15, 0.3, 0.305]
    done = []

    def one(k):
        ctx.at(starts[k])
        s = ctx.connect(k)
        if s:
            ctx.at(4.5)
            s.close()
        done.append(k)

    ts = [threading.Thread(target=one, args=(k,), daemon=True) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)


def accept_overflow_s(ctx):
    l = ctx.listen(backlog=2)
    ctx.at(2.5)  # slow accept
    conns = []
    for _ in range(4):
        left = ctx.t0 + 4.4 - time.time()
        if left <= 0:
            break
        try:
            conns.append(ctx.accept(l, timeout=left))
        except OSError:
            break

    def drain(c):
        recv_until_eof(c, timeout=10)
        time.sleep(0.1)
        c.close()

    ts = [threading.Thread(target=drain, args=(c,), daemon=True) for c in conns]
    for t in ts:
        t.start()
    for t in ts:
        t.join(20)


def accept_overflow_end_s(ctx):
    # The same, but the server never accepts: at the capture end the 4th
    # connection is ESTABLISHED on the client and a request socket (SYN_RCVD)
    # on the server, which gives it up after tcp_synack_retries (5: ~31 s).
    ctx.listen(backlog=2)


def accept_overflow_end_c(ctx):
    starts = [0.0, 0.15, 0.3, 0.305]

    def one(k):
        ctx.at(starts[k])
        ctx.connect(k)  # held open until the end

    ts = [threading.Thread(target=one, args=(k,), daemon=True) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)


def keepalive_c(ctx):
    def setup(s):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 5)
    s = client_request(ctx, setup=setup)
    ctx.at(4.0)  # idle: probes about 1 s apart, each answered
    s.close()


# name -> (client, server, options). Options:
#   ports: client ports the scenario uses (40000, 40001, ...); several
#     instances on one port (tw_reuse) are told apart by their ISN;
#   rules: the forwarder's drop rules (c2s / s2c filled in by run.py);
#   v6: IPv6 addresses; not_inferable: {field: why} (full mode only);
#   doc: one line for the README and the table.
SCENARIOS = [
    ("client_close", client_close_c, client_close_s, dict(doc="the client closes first; TIME_WAIT on the client")),
    ("server_close", server_close_c, server_close_s, dict(doc="the server closes first; TIME_WAIT on the server")),
    ("simultaneous_close", simultaneous_c, simultaneous_s, dict(doc="both close at the same instant: FINs cross, CLOSING on both")),
    ("half_close", half_close_c, half_close_s, dict(doc="the client shuts down its sending side; the server sends data after that FIN, then closes")),
    ("rst_client", rst_client_c, rst_client_s, dict(doc="the client closes with SO_LINGER 0: RST")),
    ("rst_server", rst_server_c, rst_server_s, dict(doc="the server closes with SO_LINGER 0: RST")),
    ("refused", refused_c, nothing, dict(doc="nothing listens: SYN answered by RST")),
    ("syn_unanswered", syn_unanswered_c, listen_only_s,
     dict(rules=[dict(dir="c2s", what="syn", nth="all")],
          doc="every SYN lost after the capture point; the application gives up after 3.5 s")),
    ("syn_kernel_gives_up", syn_kernel_gives_up_c, listen_only_s,
     dict(rules=[dict(dir="c2s", what="syn", nth="all")],
          doc="every SYN lost; the application waits for the kernel (127 s, after the quick capture)")),
    ("fin_lost", fin_lost_c, fin_lost_s,
     dict(rules=[dict(dir="c2s", what="fin", nth=[1])],
          doc="the client's first FIN lost after the capture point, then retransmitted")),
    ("fin_lost_crossed", fin_lost_crossed_c, fin_lost_crossed_s,
     dict(rules=[dict(dir="c2s", what="fin", nth=[1])],
          doc="the client closes, the server 10 ms later: the FINs cross and the client's (the first) is lost")),
    ("fin_lost_second", fin_lost_second_c, fin_lost_second_s,
     dict(rules=[dict(dir="c2s", what="fin", nth=[1])],
          doc="the server closes first, the client 10 ms later: the FINs cross and the client's (the second) is lost")),
    ("data_loss", data_loss_c, data_loss_s,
     dict(rules=[dict(dir="c2s", what="data", nth=[3])],
          doc="a data segment lost after the capture point and retransmitted")),
    ("tw_reuse", tw_reuse_c, tw_reuse_s,
     dict(doc="the client reuses its TIME_WAIT 4-tuple (tcp_tw_reuse=1) 1.5 s later")),
    ("syn_into_server_tw", syn_into_tw_c, syn_into_tw_s,
     dict(doc="a new SYN from the same client port lands in the server's TIME_WAIT")),
    ("end_established", hold_c, hold_s, dict(doc="still ESTABLISHED at the capture end")),
    ("end_fin_wait2", close_hold_c, hold_s,
     dict(doc="the client closed (orphan): FIN_WAIT2 / CLOSE_WAIT at the end; the kernel drops the orphan after tcp_fin_timeout")),
    ("end_fin_wait2_shutdown", shutdown_hold_c, hold_s,
     dict(doc="the client only shut down its sending side: the same wire, FIN_WAIT2 until the peer closes",
          not_inferable={"client_state": "same packets as end_fin_wait2; SPEC takes the orphan (CLOSED after tcp_fin_timeout)"})),
    ("end_close_wait", hold_c, close_wait_end_s, dict(doc="the server closed, the client never does: CLOSE_WAIT on the client")),
    ("abort_on_data", abort_on_data_c, abort_on_data_s,
     dict(doc="data reaches the client after it closed: it answers RST (TCPAbortOnData)")),
    ("abort_on_data_fin", abort_on_data_c, abort_on_data_fin_s,
     dict(doc="data+FIN reach the closed client: RST, and no TIME_WAIT although the FIN was seen")),
    ("rst_in_window", rst_in_window_c, rst_in_window_s,
     dict(doc="an RST injected in the client's window, 5000 bytes past rcv_nxt: challenge ACK, no state change (RFC 5961)")),
    ("accept_overflow", accept_overflow_c, accept_overflow_s,
     dict(ports=4, doc="listen(2), accept after 2.5 s: the 4th handshake ACK is dropped, the server resends its SYN-ACK")),
    ("accept_overflow_end", accept_overflow_end_c, accept_overflow_end_s,
     dict(ports=4, doc="listen(2), never accepted: the 4th connection ends the capture ESTABLISHED / SYN_RCVD")),
    ("keepalive", keepalive_c, client_close_s,
     dict(doc="keepalive probes every second while idle, answered; then the client closes")),
    ("ipv6_client_close", client_close_c, client_close_s, dict(v6=True, doc="client_close over IPv6")),
    ("ipv6_simultaneous_close", simultaneous_c, simultaneous_s, dict(v6=True, doc="simultaneous_close over IPv6")),
]

BY_NAME = {s[0]: s for s in SCENARIOS}


def run(role, plan_path, log_path):
    plan = json.load(open(plan_path))
    lock = threading.Lock()
    logf = open(log_path, "w")

    def log(ev):
        with lock:
            logf.write(json.dumps(ev) + "\n")
            logf.flush()

    ctxs = []
    threads = []

    def body(fn, ctx):
        try:
            if role == "client":
                ctx.at(0)  # servers listen before t0, clients start at t0
            fn(ctx)
        except Exception as e:  # a scenario's failure is logged, not fatal here
            ctx.log(event="error", error=repr(e))

    for sc in plan["scenarios"]:
        name = sc["name"]
        fn = BY_NAME[name][1 if role == "client" else 2]
        ctx = Ctx(plan, sc, role, log)
        ctxs.append(ctx)
        t = threading.Thread(target=body, args=(fn, ctx), daemon=True)
        threads.append(t)
    for t in threads:
        t.start()
    if role == "client" and plan.get("marker"):
        # The last packet of the capture: a UDP datagram after a quiet time.
        m = plan["marker"]
        d = plan["t0"] + m["at"] - time.time()
        if d > 0:
            time.sleep(d)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind((m["src"], 0))
        u.sendto(b"end of capture", (m["dst"], 9))
        log({"event": "marker", "t": time.time()})
    d = plan["hold_until"] - time.time()
    if d > 0:
        time.sleep(d)
    # Reset whatever is still open: a socket left to close normally would
    # outlive the namespace (FIN_WAIT1 / LAST_ACK retrying into a deleted
    # link for minutes) and its last steps would show in a later run's trace.
    for ctx in ctxs:
        for s in ctx.keep:
            try:
                linger0(s)
                s.close()
            except OSError:
                pass
    log({"event": "exit", "t": time.time(), "role": role})
    logf.close()
    os._exit(0)  # threads still blocked (by design) die with the process


if __name__ == "__main__":
    import argparse
    p = argparse.ArgumentParser()
    p.add_argument("--role", choices=["client", "server"], required=True)
    p.add_argument("--plan", required=True)
    p.add_argument("--log", required=True)
    a = p.parse_args()
    run(a.role, a.plan, a.log)
