#!/usr/bin/python3
"""synfin conformance suite: synfin's inference against the Linux kernel.

    conformance/run.py [--quick|--full] [--synfin PATH] [--expect FILE]
                       [--only NAME,...] [--workdir DIR] [--keep]

Builds client -- middle -- server network namespaces, runs every scenario's
sockets at once (scenarios.py), captures in the middle with tcpdump, records
every socket state change with the sock:inet_sock_set_state tracepoint (an
ftrace instance of its own) and polls inet_diag (ss) in both endpoint
namespaces; then runs synfin on the capture and compares, per connection and
per endpoint, what synfin wrote with what the kernel did. See README.md.

Exit status: 0 every disagreement is listed in --expect (or none); 1 a
disagreement not listed, or a harness error (truth not obtainable, clock
check failed, a connection missing from the kernel's trace or from synfin's
output); 77 skipped (not root, no namespaces, no tracefs, no tcpdump), with
one line saying why.
"""
import argparse
import csv
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import census  # noqa: E402
import scenarios  # noqa: E402
import wire  # noqa: E402

PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
TRACEFS = "/sys/kernel/tracing"
DELAY = 0.030      # per direction, after the capture point
TOL = 0.015        # timing tolerance on top of the delay
PORT = 5000
FIELDS = ["rows", "handshake", "close_initiator", "close_type", "closing",
          "time_wait_side", "time_wait_start", "client_state", "server_state",
          "syn_retransmits", "synack_retransmits", "fin_retransmits"]
SOURCE = {
    "rows": "kernel: socket lifetimes on the 4-tuple",
    "handshake": "kernel: the client stepped into ESTABLISHED (so it sent the ACK); refused from connect()'s errno; no_ack = a server request socket but no client ESTABLISHED",
    "close_initiator": "kernel: first to leave ESTABLISHED (FIN_WAIT1 = sent FIN, CLOSE = sent RST); both if both went FIN_WAIT1",
    "close_type": "kernel: the initiator's first step (FIN_WAIT1 = fin, CLOSE = rst)",
    "closing": "kernel: FIN_WAIT1 -> CLOSING events (tracepoint)",
    "time_wait_side": "kernel: inet_diag polls showing TIME-WAIT for the endpoint",
    "time_wait_start": "kernel: first TIME-WAIT poll, bounded below by the previous poll and the socket's CLOSE event",
    "client_state": "kernel: tracepoint state, tw sockets from inet_diag, at the capture end + delay",
    "server_state": "kernel: same; request sockets (SYN-RECV) and listeners from inet_diag",
    "syn_retransmits": "wire: client SYNs with the same ISN, from the capture (this suite's own reader)",
    "synack_retransmits": "wire: SYN-ACKs with the same ISN",
    "fin_retransmits": "wire: FINs with the same sequence number, both directions",
}


class Skip(Exception):
    pass


class HarnessError(Exception):
    pass


def sh(*cmd, check=True, **kw):
    r = subprocess.run(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    if check and r.returncode != 0:
        raise HarnessError("%s: %s" % (" ".join(cmd), r.stderr.strip()))
    return r


def write(path, value):
    with open(path, "w") as f:
        f.write(value)


# ------------------------------------------------------------ preflight

def preflight(args):
    if os.geteuid() != 0:
        raise Skip("not root (needs network namespaces and tracefs)")
    for tool in ("ip", "tcpdump", "ss"):
        if not shutil.which(tool):
            raise Skip("%s is not installed (scripts/bootstrap.sh installs it)" % tool)
    probe = "synfin-probe-%d" % os.getpid()
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode != 0:
        raise Skip("cannot create a network namespace: " + r.stderr.strip())
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    if not os.path.exists(TRACEFS + "/instances"):
        os.makedirs(TRACEFS, exist_ok=True)
        r = subprocess.run(["mount", "-t", "tracefs", "nodev", TRACEFS], capture_output=True, text=True)
        if r.returncode != 0 or not os.path.exists(TRACEFS + "/instances"):
            raise Skip("tracefs is not available at %s: %s" % (TRACEFS, r.stderr.strip()))
    if not os.path.exists(TRACEFS + "/events/sock/inet_sock_set_state"):
        raise Skip("the kernel has no sock:inet_sock_set_state tracepoint")
    if not os.access(args.synfin, os.X_OK):
        raise HarnessError("synfin binary not found: %s (build it, or give --synfin)" % args.synfin)


# ------------------------------------------------------------ the run

class Run:
    def __init__(self, args, chosen):
        self.args = args
        self.chosen = chosen
        tag = "%d" % os.getpid()
        self.ns = {"c": "synfin-c-" + tag, "m": "synfin-m-" + tag, "s": "synfin-s-" + tag}
        self.inst = TRACEFS + "/instances/synfin-conformance-" + tag
        self.procs = []
        self.dir = args.workdir
        self.made_ns = []

    # -- topology
    def nsexec(self, ns, *cmd, **kw):
        return sh("ip", "netns", "exec", self.ns[ns], *cmd, **kw)

    def topology(self, plan_scen):
        for k in ("c", "m", "s"):
            sh("ip", "netns", "add", self.ns[k])
            self.made_ns.append(self.ns[k])
        sh("ip", "link", "add", "eth0", "netns", self.ns["c"], "type", "veth",
           "peer", "name", "c0", "netns", self.ns["m"])
        sh("ip", "link", "add", "eth0", "netns", self.ns["s"], "type", "veth",
           "peer", "name", "s0", "netns", self.ns["m"])
        self.nsexec("m", "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
        self.nsexec("m", "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
        for dev in ("c0", "s0"):
            sh("ip", "-n", self.ns["m"], "link", "set", dev, "up", "promisc", "on")
        for k in ("c", "s"):
            sh("ip", "-n", self.ns[k], "link", "set", "lo", "up")
            sh("ip", "-n", self.ns[k], "link", "set", "eth0", "up")
            self.nsexec(k, PY, os.path.join(HERE, "netagent.py"), "txcsum-off", "eth0")
        self.nsexec("c", "sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1")
        mac = {k: json.loads(sh("ip", "-n", self.ns[k], "-j", "link", "show", "eth0").stdout)[0]["address"]
               for k in ("c", "s")}
        for sc in plan_scen:
            for k, a, peer, pa in (("c", sc["caddr"], "s", sc["saddr"]), ("s", sc["saddr"], "c", sc["caddr"])):
                if ":" in a:
                    sh("ip", "-n", self.ns[k], "-6", "addr", "add", a + "/64", "dev", "eth0", "nodad")
                else:
                    sh("ip", "-n", self.ns[k], "addr", "add", a + "/24", "dev", "eth0")
                # Static neighbours: no ARP / ND round trip (2 x delay) before
                # the first SYN, and none of their packets in the capture.
                sh("ip", "-n", self.ns[k], "neigh", "replace", pa, "lladdr", mac[peer],
                   "dev", "eth0", "nud", "permanent")

    def spawn(self, name, ns, *cmd, stdout=None, stderr=None):
        out = open(os.path.join(self.dir, name + ".out"), "w") if stdout is None else stdout
        err = open(os.path.join(self.dir, name + ".err"), "w") if stderr is None else stderr
        p = subprocess.Popen(["ip", "netns", "exec", self.ns[ns]] + list(cmd),
                             stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        self.procs.append((name, p))
        return p

    def stop(self, p, sig=signal.SIGTERM, wait=5):
        if p.poll() is None:
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(wait)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)

    # -- tracing
    def trace_start(self):
        os.mkdir(self.inst)
        write(self.inst + "/trace_clock", "mono")
        write(self.inst + "/buffer_size_kb", "8192")
        ev = self.inst + "/events/sock/inet_sock_set_state"
        write(ev + "/filter", "protocol == 6 && (sport == %d || dport == %d)" % (PORT, PORT))
        write(ev + "/enable", "1")
        write(self.inst + "/tracing_on", "1")

    def trace_marker(self, text):
        m0 = time.clock_gettime(time.CLOCK_MONOTONIC)
        write(self.inst + "/trace_marker", text)
        m1 = time.clock_gettime(time.CLOCK_MONOTONIC)
        return m0, m1

    def trace_stop(self):
        write(self.inst + "/tracing_on", "0")
        with open(self.inst + "/trace") as f:
            text = f.read()
        with open(os.path.join(self.dir, "trace.txt"), "w") as f:
            f.write(text)
        return text

    def trace_remove(self):
        if os.path.isdir(self.inst):
            try:
                write(self.inst + "/tracing_on", "0")
                write(self.inst + "/events/sock/inet_sock_set_state/enable", "0")
            except OSError:
                pass
            for _ in range(20):
                try:
                    os.rmdir(self.inst)
                    break
                except OSError:
                    time.sleep(0.1)

    def cleanup(self):
        for name, p in reversed(self.procs):
            self.stop(p, signal.SIGKILL, 2)
        self.trace_remove()
        for ns in self.made_ns:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.made_ns = []

    # -- the whole capture
    def capture(self, plan):
        scen = plan["scenarios"]
        self.topology(scen)
        rules = []
        for sc in scen:
            for r in scenarios.BY_NAME[sc["name"]][3].get("rules", []):
                r = dict(r, name=sc["name"])
                if r.pop("dir") == "c2s":
                    r.update(src=sc["caddr"], dst=sc["saddr"])
                else:
                    r.update(src=sc["saddr"], dst=sc["caddr"])
                rules.append(r)
        json.dump(rules, open(os.path.join(self.dir, "rules.json"), "w"), indent=1)
        json.dump(plan, open(os.path.join(self.dir, "plan.json"), "w"), indent=1)
        total = plan["hold_until"] - time.time() + 60
        agent = os.path.join(HERE, "netagent.py")
        self.trace_start()
        clock = {"start": clock_pair(), "marker_start": self.trace_marker("synfin-sync start")}
        for k in ("c", "s"):
            self.spawn("poll-" + k, k, PY, agent, "poll", "--out",
                       os.path.join(self.dir, "poll-%s.jsonl" % k), "--max-seconds", str(total))
        self.spawn("forward", "m", PY, agent, "forward", "c0", "s0", "--delay", str(DELAY),
                   "--rules", os.path.join(self.dir, "rules.json"),
                   "--log", os.path.join(self.dir, "forward.jsonl"), "--max-seconds", str(total))
        pcap = os.path.join(self.dir, "capture.pcap")
        tderr = open(os.path.join(self.dir, "tcpdump.err"), "w")
        td = self.spawn("tcpdump", "m", "tcpdump", "-i", "any", "-Q", "in", "--immediate-mode",
                        "-U", "-Z", "root", "-n", "-s", "256", "-w", pcap, stderr=tderr)
        for _ in range(100):  # up to 10 s for tcpdump to listen
            if "listening" in open(os.path.join(self.dir, "tcpdump.err")).read():
                break
            if td.poll() is not None:
                raise HarnessError("tcpdump exited: " + open(os.path.join(self.dir, "tcpdump.err")).read())
            time.sleep(0.1)
        else:
            raise HarnessError("tcpdump did not start listening")
        if plan["t0"] - time.time() < 0.5:
            raise HarnessError("set-up took too long: t0 already passed")
        pl = os.path.join(self.dir, "plan.json")
        srv = self.spawn("server", "s", PY, os.path.join(HERE, "scenarios.py"), "--role", "server",
                         "--plan", pl, "--log", os.path.join(self.dir, "events-server.jsonl"))
        cli = self.spawn("client", "c", PY, os.path.join(HERE, "scenarios.py"), "--role", "client",
                         "--plan", pl, "--log", os.path.join(self.dir, "events-client.jsonl"))
        marker = plan["t0"] + plan["marker"]["at"]
        sleep_until(marker + 0.3)
        ss = {}
        for k in ("c", "s"):
            ss[k] = self.nsexec(k, "ss", "-tanoH", check=False).stdout
            with open(os.path.join(self.dir, "ss-%s.txt" % k), "w") as f:
                f.write(ss[k])
        sleep_until(marker + 0.5)
        self.stop(td, signal.SIGINT, 10)
        sleep_until(marker + 1.0)
        for name, p in self.procs:
            if name.startswith("poll-") or name == "forward":
                self.stop(p)
        clock["marker_end"] = self.trace_marker("synfin-sync end")
        clock["end"] = clock_pair()
        trace = self.trace_stop()
        self.trace_remove()
        for p in (cli, srv):
            try:
                p.wait(max(1.0, plan["hold_until"] - time.time() + 10))
            except subprocess.TimeoutExpired:
                self.stop(p, signal.SIGKILL)
        self.cleanup()
        return pcap, trace, clock, ss


def clock_pair():
    """(realtime - monotonic) offset, measured tightly."""
    best = None
    for _ in range(5):
        r1 = time.clock_gettime(time.CLOCK_REALTIME)
        m = time.clock_gettime(time.CLOCK_MONOTONIC)
        r2 = time.clock_gettime(time.CLOCK_REALTIME)
        if best is None or r2 - r1 < best[0]:
            best = (r2 - r1, (r1 + r2) / 2 - m)
    return best[1]


def sleep_until(t):
    d = t - time.time()
    if d > 0:
        time.sleep(d)


# ------------------------------------------------------------ truth

KSTATE = {"TCP_ESTABLISHED": "ESTABLISHED", "TCP_SYN_SENT": "SYN_SENT",
          "TCP_SYN_RECV": "SYN_RCVD", "TCP_FIN_WAIT1": "FIN_WAIT1",
          "TCP_FIN_WAIT2": "FIN_WAIT2", "TCP_TIME_WAIT": "TIME_WAIT",
          "TCP_CLOSE": "CLOSED", "TCP_CLOSE_WAIT": "CLOSE_WAIT",
          "TCP_LAST_ACK": "LAST_ACK", "TCP_LISTEN": "LISTEN",
          "TCP_CLOSING": "CLOSING", "TCP_NEW_SYN_RECV": "SYN_RCVD"}
DSTATE = {"ESTABLISHED": "ESTABLISHED", "SYN_SENT": "SYN_SENT", "SYN_RECV": "SYN_RCVD",
          "FIN_WAIT1": "FIN_WAIT1", "FIN_WAIT2": "FIN_WAIT2", "TIME_WAIT": "TIME_WAIT",
          "CLOSE": "CLOSED", "CLOSE_WAIT": "CLOSE_WAIT", "LAST_ACK": "LAST_ACK",
          "LISTEN": "LISTEN", "CLOSING": "CLOSING", "NEW_SYN_RECV": "SYN_RCVD"}


def parse_trace(text, offset):
    """-> (events, markers, lost). events: (t_realtime, local, remote, old, new)."""
    events, markers, lost = [], [], False
    for line in text.splitlines():
        if line.startswith("#"):
            if "entries-in-buffer/entries-written" in line:
                part = line.split(":")[1].split()[0]
                a, b = part.split("/")
                lost = a != b
            continue
        if ": " not in line:
            continue
        head, _, body = line.partition(": ")
        try:
            ts = float(head.split()[-1])
        except ValueError:
            continue
        if body.startswith("tracing_mark_write:"):
            markers.append((ts, body.split(":", 1)[1].strip()))
            continue
        if not body.startswith("inet_sock_set_state:"):
            continue
        kv = dict(x.split("=", 1) for x in body.split()[1:] if "=" in x)
        if kv.get("family") == "AF_INET6":
            local, remote = (kv["saddrv6"], int(kv["sport"])), (kv["daddrv6"], int(kv["dport"]))
        else:
            local, remote = (kv["saddr"], int(kv["sport"])), (kv["daddr"], int(kv["dport"]))
        events.append((ts + offset, local, remote, KSTATE[kv["oldstate"]], KSTATE[kv["newstate"]]))
    return events, markers, lost


def load_polls(path):
    """[(t, tprev, {(local, remote): (state, timer)})] in time order."""
    out = []
    for line in open(path):
        j = json.loads(line)
        if j.get("end"):
            out.append((j["t"], j["tprev"], None))
            continue
        socks = {}
        for st, src, sport, dst, dport, timer, exp, retr, inode in j["socks"]:
            socks[((src, sport), (dst, dport))] = (DSTATE.get(st, st), timer, inode)
        out.append((j["t"], j["tprev"], socks))
    return out


def poll_at(polls, t):
    """The snapshot in force at time t (the last logged change at or before t)."""
    cur = None
    for pt, _, socks in polls:
        if pt > t:
            break
        if socks is not None:
            cur = socks
    if polls and polls[-1][2] is None and polls[-1][0] < t:
        raise HarnessError("inet_diag polls ended before the time asked for")
    return cur or {}


class Endpoint:
    """One endpoint of one connection instance, as the kernel saw it."""

    def __init__(self, local, remote, events, polls, window, born):
        ws, we = window
        self.local, self.remote = local, remote
        # Only a chain of steps that starts with this run's socket being born
        # (connect: CLOSE -> SYN_SENT; a listener's child: LISTEN -> SYN_RECV)
        # and goes on from the state it left: the tracepoint is machine-wide
        # and has no namespace, so a socket of an earlier run on the same
        # addresses (an orphan dying in a deleted namespace) must not count.
        self.ev, self.foreign = [], 0
        cur = None
        for e in events:
            if e[1] != local or e[2] != remote or not ws <= e[0] < we:
                continue
            if (cur is None and e[3] == born) or (cur is not None and e[3] == cur):
                self.ev.append(e)
                cur = e[4]
            else:
                self.foreign += 1
        self.polls = polls
        self.window = window

    def reached(self, state):
        return any(e[4] == state for e in self.ev)

    def first_exit(self):
        for e in self.ev:
            if e[3] in ("ESTABLISHED", "SYN_RCVD") and e[4] in ("FIN_WAIT1", "CLOSED", "CLOSE_WAIT"):
                return e
        return None

    def tw_entry(self):
        """(lo, hi) bounds of the step into TIME_WAIT, or None."""
        ws, we = self.window
        # Not before this socket was born: the TIME_WAIT socket of the
        # instance before it on the 4-tuple (tcp_tw_reuse) can still be
        # listed by a poll a few ms into this one's window.
        born = self.ev[0][0] if self.ev else ws
        for pt, tprev, socks in self.polls:
            if socks is None or pt < max(ws, born) or pt >= we:
                continue
            v = socks.get((self.local, self.remote))
            if v and v[0] == "TIME_WAIT":
                lo = tprev if tprev is not None else pt
                closes = [e[0] for e in self.ev if e[4] == "CLOSED" and e[0] <= pt]
                if closes:
                    lo = max(lo, closes[-1])
                return (lo, pt)
        return None

    def state_at(self, t, listening):
        ev = [e for e in self.ev if e[0] <= t]
        snap = poll_at(self.polls, t)
        v = snap.get((self.local, self.remote))
        if ev and ev[-1][4] != "CLOSED":
            return ev[-1][4]
        if v and v[1] == "timewait":  # a TIME_WAIT (or orphan FIN_WAIT2) mini-socket
            return v[0]
        if ev:
            return "CLOSED"
        if v and v[0] == "SYN_RCVD":  # a request socket (no tracepoint for it)
            return "SYN_RCVD"
        return "LISTEN" if listening(t) else "CLOSED"


def fmt_t(t, base):
    return "%+.3f" % (t - base)


def kernel_truth(sc, inst_list, wire_inst, events, polls_c, polls_s, app, t_end, foreign):
    """Per instance: {field: value}; time_wait_start as (lo, hi)."""
    caddr, cport, saddr = sc["caddr"], None, sc["saddr"]
    out = []
    for k, (key, winst) in enumerate(inst_list):
        client, server = key[:2], key[2:]
        start = winst.start - 0.05
        nxt = wire_inst[wire_inst.index(winst) + 1] if wire_inst.index(winst) + 1 < len(wire_inst) else None
        end = nxt.start - 0.05 if nxt else t_end + 10
        # The states are read once everything captured has been delivered
        # (one delay) and the polls have seen it (more than a poll period).
        t_eval = (nxt.start if nxt else t_end) + DELAY + 0.05
        ce = Endpoint(client, server, events, polls_c, (start, end), "CLOSED")
        se = Endpoint(server, client, events, polls_s, (start, end), "LISTEN")
        foreign[0] += ce.foreign + se.foreign
        if not ce.ev:
            raise HarnessError("%s: connection %s:%d -> %s:%d missing from the kernel trace"
                               % (sc["name"], client[0], client[1], server[0], server[1]))

        def listening(t, se=se):
            snap = poll_at(polls_s, t)
            return any(st == "LISTEN" and l == server for (l, r), (st, _, _) in snap.items())

        f = {}
        refused = any(a.get("event") == "connect_failed" and a.get("errno") == 111
                      and a.get("scenario") == sc["name"]
                      and sc["cport0"] + a.get("k", 0) == client[1] for a in app)
        # The handshake is a wire class: the client's kernel sends the
        # handshake ACK when it steps into ESTABLISHED (whether the server
        # took it is server_state's business: accept-queue overflow).
        c_est = ce.reached("ESTABLISHED")
        s_req = se.ev or any(socks and socks.get((server, client), ("",))[0] == "SYN_RCVD"
                             for pt, _, socks in polls_s if start <= pt < end)
        f["handshake"] = ("complete" if c_est else "refused" if refused
                          else "no_ack" if s_req else "syn_only")
        ex = {"client": ce.first_exit(), "server": se.first_exit()}
        if f["handshake"] == "refused":
            f["close_initiator"], f["close_type"] = "server", "rst"
        elif not ex["client"] and not ex["server"]:
            f["close_initiator"], f["close_type"] = "none", "none"
        else:
            first = min((e[0], side) for side, e in ex.items() if e)[1]
            other = "server" if first == "client" else "client"
            if ex[first][4] == "FIN_WAIT1" and ex[other] and ex[other][4] == "FIN_WAIT1":
                f["close_initiator"] = "both"
            else:
                f["close_initiator"] = first
            f["close_type"] = "fin" if ex[first][4] == "FIN_WAIT1" else "rst"
        f["closing"] = str(int(ce.reached("CLOSING")) + int(se.reached("CLOSING")))
        tw = {"client": ce.tw_entry(), "server": se.tw_entry()}
        sides = [s for s in ("client", "server") if tw[s] and tw[s][0] < t_eval]
        f["time_wait_side"] = "both" if len(sides) == 2 else sides[0] if sides else "none"
        f["time_wait_start"] = min((tw[s] for s in sides), default=None)
        f["client_state"] = ce.state_at(t_eval, lambda t: False)
        f["server_state"] = se.state_at(t_eval, listening)
        f.update({kk: str(v) for kk, v in winst.counts().items()})
        f["_client_events"] = ce.ev
        f["_server_events"] = se.ev
        out.append(f)
    return out


# ------------------------------------------------------------ comparison

def compare(kf, row, base, not_inferable):
    """-> {field: (verdict, kernel, synfin)}; verdict agree/disagree/n.a./n.i."""
    res = {}
    for field in FIELDS[1:]:
        kv = kf[field]
        sv = row.get(field, "") if row else ""
        if field == "time_wait_start":
            if kv is None and sv == "":
                res[field] = ("n.a.", "", "")
                continue
            kdisp = "[%s, %s]" % (fmt_t(kv[0], base), fmt_t(kv[1], base)) if kv else "none"
            if kv is None or sv == "":
                sdisp = fmt_t(float(sv), base) if sv else "none"
                res[field] = ("disagree", kdisp, sdisp)
                continue
            st = float(sv)
            ok = kv[0] - DELAY - TOL <= st <= kv[1] + TOL
            # synfin's timestamp is the capture time; the kernel's step is one
            # delay later: show the difference the reader cares about.
            sdisp = fmt_t(st, base)
            res[field] = ("agree" if ok else "disagree", kdisp, sdisp)
            continue
        verdict = "agree" if kv == sv else "disagree"
        if field in not_inferable:
            verdict = "n.i."
        res[field] = (verdict, kv, sv)
    return res


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def packets(pcap, caddr, cport, saddr, limit=14):
    r = subprocess.run(["tcpdump", "-nn", "-tt", "-r", pcap,
                        "host %s and host %s and tcp port %d" % (caddr, saddr, cport)],
                       capture_output=True, text=True)
    lines = r.stdout.splitlines()
    if len(lines) > limit:
        lines = lines[:limit] + ["... (%d more)" % (len(lines) - limit)]
    return lines


def load_expected(path, mode):
    exp = []
    if not path:
        return exp
    for line in open(path):
        line = line.rstrip("\n")
        if not line or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) < 5 or parts[4] not in ("quick", "full", "*"):
            raise HarnessError("%s: bad line (scenario, field, kernel, synfin, quick|full|*): %r" % (path, line))
        if parts[4] in ("*", mode):
            exp.append(parts[:4])
    return exp


def matches(e, d):
    """'*' matches anything; a value ending in '*' matches what starts with the rest."""
    return all(a == "*" or a == b or (a.endswith("*") and b.startswith(a[:-1])) for a, b in zip(e, d))


# ------------------------------------------------------------ main

def make_plan(chosen, quick):
    t0 = time.time() + 4.0
    scen = []
    n4 = n6 = 0
    for name, _, _, opt in chosen:
        if opt.get("v6"):
            n6 += 1
            caddr, saddr = "2001:db8::c:%d" % n6, "2001:db8::5:%d" % n6
        else:
            n4 += 1
            caddr, saddr = "192.0.2.%d" % (10 + n4), "192.0.2.%d" % (130 + n4)
        scen.append(dict(name=name, caddr=caddr, saddr=saddr, port=PORT, cport0=40000,
                         ports=opt.get("ports", 1)))
    marker_at = 8.0 if quick else 140.0
    first4 = next((s for s in scen if ":" not in s["caddr"]), None)
    if first4 is None:
        raise HarnessError("at least one IPv4 scenario is needed (it sends the end marker)")
    return dict(t0=t0, delay=DELAY, scenarios=scen,
                marker=dict(at=marker_at, src=first4["caddr"], dst=first4["saddr"]),
                hold_until=t0 + marker_at + 2.0)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="capture 8 s (default)")
    g.add_argument("--full", action="store_true", help="capture 140 s: timers expire (TIME_WAIT, FIN_WAIT2, SYN)")
    p.add_argument("--synfin", default=os.environ.get("SYNFIN", os.path.join(HERE, "..", "build", "synfin")))
    p.add_argument("--expect", help="TSV of known disagreements: scenario, field, kernel, synfin ('*' = any), mode (quick, full, *)")
    p.add_argument("--only", help="comma-separated scenario names")
    p.add_argument("--workdir", help="where to keep the capture, trace and logs (default: a new temp dir)")
    p.add_argument("--markdown", help="also write the agreement table as Markdown to this file")
    args = p.parse_args()
    quick = not args.full
    chosen = scenarios.SCENARIOS
    if args.only:
        names = args.only.split(",")
        bad = [n for n in names if n not in scenarios.BY_NAME]
        if bad:
            print("unknown scenario(s): %s" % ", ".join(bad), file=sys.stderr)
            return 2
        chosen = [s for s in chosen if s[0] in names]
    try:
        preflight(args)
    except Skip as e:
        print("conformance: SKIPPED: %s" % e)
        return 77
    except HarnessError as e:
        print("conformance: HARNESS ERROR: %s" % e)
        return 1
    lockf = open("/run/lock/synfin-conformance.lock" if os.path.isdir("/run/lock") else "/tmp/synfin-conformance.lock", "w")
    for _ in range(600):  # one run per machine at a time: the trace is machine-wide
        try:
            fcntl.flock(lockf, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError:
            time.sleep(1)
    else:
        print("conformance: HARNESS ERROR: another conformance run held the lock for 10 minutes")
        return 1
    own_dir = not args.workdir
    args.workdir = args.workdir or tempfile.mkdtemp(prefix="synfin-conformance-")
    os.makedirs(args.workdir, exist_ok=True)
    run = Run(args, chosen)

    def on_signal(signum, _):
        run.cleanup()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    started = time.time()
    try:
        plan = make_plan(chosen, quick)
        print("conformance: %s mode, %d scenarios, delay %d ms per direction after the capture point; work dir %s"
              % ("quick" if quick else "full", len(chosen), DELAY * 1000, args.workdir), flush=True)
        pcap, trace, clock, ss = run.capture(plan)
        rc = judge(args, plan, pcap, trace, clock, started)
        if rc == 0 and own_dir:  # a temporary work dir is kept only when something failed
            shutil.rmtree(args.workdir, ignore_errors=True)
            print("conformance: passed; work dir removed (--workdir keeps it)")
        return rc
    except HarnessError as e:
        print("conformance: HARNESS ERROR: %s" % e)
        return 1
    finally:
        run.cleanup()


def judge(args, plan, pcap, trace, clock, started):
    d = args.workdir
    off = clock["start"]
    drift = abs(clock["end"] - clock["start"])
    if drift > 0.002:
        raise HarnessError("clock check failed: CLOCK_REALTIME moved %.1f ms against CLOCK_MONOTONIC" % (drift * 1e3))
    events, markers, lost = parse_trace(trace, off)
    if lost:
        raise HarnessError("the trace buffer lost events")
    if len(markers) != 2:
        raise HarnessError("clock check failed: trace markers not found")
    for (ts, _), (m0, m1) in zip(markers, (clock["marker_start"], clock["marker_end"])):
        if not m0 - 0.0005 <= ts <= m1 + 0.0005:
            raise HarnessError("clock check failed: the trace clock is not CLOCK_MONOTONIC (%.6f not in [%.6f, %.6f])" % (ts, m0, m1))
    t_end = wire.last_ts(pcap)
    base = plan["t0"]
    csv_path = os.path.join(d, "synfin.csv")
    r = subprocess.run([args.synfin, "-q", "-o", csv_path, pcap], capture_output=True, text=True)
    if r.returncode != 0:
        raise HarnessError("synfin exited %d: %s" % (r.returncode, r.stderr.strip()))
    rows = read_csv(csv_path)
    polls_c = load_polls(os.path.join(d, "poll-c.jsonl"))
    polls_s = load_polls(os.path.join(d, "poll-s.jsonl"))
    app = []
    for role in ("client", "server"):
        pth = os.path.join(d, "events-%s.jsonl" % role)
        if os.path.exists(pth):
            app += [json.loads(x) for x in open(pth)]
    errors = [a for a in app if a.get("event") in ("error", "inject_failed")]
    if errors:
        raise HarnessError("scenario failed: %s" % "; ".join("%s/%s: %s" % (a["scenario"], a["role"], a.get("error", a["event"])) for a in errors))
    keys = set()
    for sc in plan["scenarios"]:
        for k in range(sc["ports"]):
            keys.add((sc["caddr"], sc["cport0"] + k, sc["saddr"], sc["port"]))
    winst = wire.instances(pcap, keys)
    # Clock check against tcpdump: each client's SYN_SENT step comes just
    # before its SYN is captured (no delay between the client and the tap).
    diffs = []
    for key, lst in winst.items():
        for inst in lst:
            syn = inst.first("c2s", lambda s: s[4] & 0x02)
            evs = [e for e in events if e[1] == key[:2] and e[2] == key[2:] and e[4] == "SYN_SENT"
                   and abs(e[0] - inst.start) < 1.0]
            if syn and evs:
                diffs.append(syn[0] - evs[0][0])
    if not diffs or min(diffs) < -0.002 or max(diffs) > 0.05:
        raise HarnessError("clock check failed: capture - trace time of the SYNs: %s"
                           % (", ".join("%.4f" % x for x in diffs) or "no SYN matched"))
    clock_note = "capture - trace time of %d SYNs: %d to %d us" % (
        len(diffs), min(diffs) * 1e6, max(diffs) * 1e6)

    results = []  # (scenario, instance idx, res, key)
    foreign = [0]
    for sc in plan["scenarios"]:
        opt = scenarios.BY_NAME[sc["name"]][3]
        nin = opt.get("not_inferable", {})
        inst_list = []
        for k in range(sc["ports"]):
            key = (sc["caddr"], sc["cport0"] + k, sc["saddr"], sc["port"])
            if not winst[key]:
                raise HarnessError("%s: no packet of %s:%d in the capture" % (sc["name"], key[0], key[1]))
            for wi in winst[key]:
                inst_list.append((key, wi))
        by_key = {}
        for key, wi in inst_list:
            by_key.setdefault(key, []).append(wi)
        for key, wis in by_key.items():
            kfs = kernel_truth(sc, [(key, w) for w in wis], wis, events, polls_c, polls_s, app, t_end, foreign)
            srows = sorted([r for r in rows if (r["client_ip"], int(r["client_port"]), r["server_ip"], int(r["server_port"])) == key],
                           key=lambda r: float(r["first_ts"]))
            if not srows:
                raise HarnessError("%s: connection %s:%d missing from synfin's output" % (sc["name"], key[0], key[1]))
            for i, kf in enumerate(kfs):
                row = srows[i] if i < len(srows) else None
                res = compare(kf, row, base, nin)
                res["rows"] = ("agree" if len(srows) == len(kfs) else "disagree", str(len(kfs)), str(len(srows))) if i == 0 else ("n.a.", "", "")
                results.append((sc["name"], i, res, key, kf))
    with open(os.path.join(d, "details.txt"), "w") as f:
        for name, i, res, key, kf in results:
            f.write("%s port %d #%d %s:%d -> %s:%d\n" % (name, key[1], i + 1, key[0], key[1], key[2], key[3]))
            for field in FIELDS:
                v, kv, sv = res[field]
                f.write("    %-20s %-9s kernel %-28s synfin %s\n" % (field, v, kv, sv))
            for side in ("client", "server"):
                for e in kf["_%s_events" % side]:
                    f.write("    %s %s %s -> %s\n" % (side, fmt_t(e[0], base), e[3], e[4]))
    if foreign[0]:
        clock_note += "; %d trace events of other sockets on the same addresses ignored" % foreign[0]
    try:
        cen = census.check(args.synfin, pcap, os.path.join(d, "census.csv"), plan, polls_c, polls_s, DELAY)
    except RuntimeError as e:
        raise HarnessError(str(e))
    return report(args, plan, results, pcap, clock_note, t_end, started, cen)


def label(name, i, key):
    """scenario, client port, and the instance on that 4-tuple when several."""
    return "%s :%d%s" % (name, key[1], " #%d" % (i + 1) if i else "")


def census_report(cen, exp, used, names):
    """Prints the census comparison; returns its unexpected disagreements.
    An expected one is a line: scenario, census:SIDE:STATE, kernel lo-hi, synfin n."""
    compared, dis = cen
    print("census over time (every %.1f s) against inet_diag, per scenario, host and state: "
          "%d comparisons, %d disagree" % (census.INTERVAL, compared, len(dis)))
    unexpected, expected = [], {}
    for name, side, t, state, n, (lo, hi) in dis:
        d = (name, "census:%s:%s" % (side, state), "%d-%d" % (lo, hi), str(n))
        hit = next((j for j, e in enumerate(exp) if matches(e, d)), None)
        if hit is not None:
            used.add(hit)
            expected.setdefault(d[:2], []).append(t)
            continue
        unexpected.append(d)
        if len(unexpected) <= 20:
            print("  [UNEXPECTED] %s %s at t0+%.1f s: %s: kernel %d..%d, synfin %d"
                  % (name, side, t, state, lo, hi, n))
    for (name, field), ts in sorted(expected.items()):
        print("  [expected] %s %s: %d moments, t0+%.1f..%.1f s" % (name, field, len(ts), min(ts), max(ts)))
    return unexpected


def report(args, plan, results, pcap, clock_note, t_end, started, cen):
    exp = load_expected(args.expect, "full" if args.full else "quick")
    used = set()
    names = [s["name"] for s in plan["scenarios"]]
    table = {}
    disagreements = []
    for name, i, res, key, kf in results:
        for field in FIELDS:
            v, kv, sv = res[field]
            cur = table.setdefault((name, field), [])
            cur.append(v)
            if v == "disagree":
                disagreements.append((name, i, field, kv, sv, key))
    abbrev = {"rows": "rows", "handshake": "hs", "close_initiator": "init", "close_type": "type",
              "closing": "closing", "time_wait_side": "tw_side", "time_wait_start": "tw_start",
              "client_state": "c_state", "server_state": "s_state", "syn_retransmits": "syn_rx",
              "synack_retransmits": "synack_rx", "fin_retransmits": "fin_rx"}

    def cell(vs):
        if "disagree" in vs:
            return "DIS" if len(vs) == 1 else "DIS %d/%d" % (vs.count("disagree"), len(vs))
        if all(v == "n.a." for v in vs):
            return "n.a."
        if "n.i." in vs:
            return "n.i."
        return "ok"

    lines = []
    w = max(len(n) for n in names) + 2
    head = "scenario".ljust(w) + " ".join(abbrev[f].rjust(9) for f in FIELDS)
    lines.append(head)
    lines.append("-" * len(head))
    for n in names:
        lines.append(n.ljust(w) + " ".join(cell(table[(n, f)]).rjust(9) for f in FIELDS))
    totals = {"agree": 0, "disagree": 0, "n.a.": 0, "n.i.": 0}
    for vs in table.values():
        for v in vs:
            totals[v] += 1
    print()
    print("\n".join(lines))
    print()
    print("cells: ok = agrees on every connection; DIS k/n = disagrees on k of n; n.a. = nothing to compare;")
    print("       n.i. = not inferable from the wire (see CONFORMANCE.md). %s." % clock_note)
    print("comparisons: %(agree)d agree, %(disagree)d disagree, %(n.a.)d n.a., %(n.i.)d n.i." % totals)
    unexpected = []
    if disagreements:
        print("\nDisagreements (times relative to t0 = %.6f; synfin's time is the capture time,"
              " the kernel's step comes up to %d ms later):" % (plan["t0"], DELAY * 1000))
    shown = set()
    for name, i, field, kv, sv, key in disagreements:
        hit = None
        for j, e in enumerate(exp):
            if matches(e, (name, field, kv, sv)):
                hit = j
                used.add(j)
                break
        tag = "expected" if hit is not None else "UNEXPECTED"
        if hit is None:
            unexpected.append((name, field, kv, sv))
        print("  [%s] %s %s: kernel %s, synfin %s" % (tag, label(name, i, key), field, kv or "(empty)", sv or "(empty)"))
        if (name, key) not in shown:
            shown.add((name, key))
            for line in packets(pcap, key[0], key[1], key[2]):
                print("        " + line)
    unexpected += census_report(cen, exp, used, names)
    for j, e in enumerate(exp):
        if j not in used and e[0] in names:
            print("fixed: remove from expected.tsv: %s" % "\t".join(e))
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("| scenario | " + " | ".join(abbrev[x] for x in FIELDS) + " |\n")
            f.write("|---" * (len(FIELDS) + 1) + "|\n")
            for n in names:
                f.write("| %s | " % n + " | ".join(cell(table[(n, x)]) for x in FIELDS) + " |\n")
            f.write("\nDisagreements:\n\n| connection | field | kernel | synfin |\n|---|---|---|---|\n")
            for name, i, field, kv, sv, key in disagreements:
                f.write("| %s | %s | %s | %s |\n" % (label(name, i, key), field, kv or "(empty)", sv or "(empty)"))
    print("\nconformance: %d scenarios, %d disagreements (%d unexpected), %.0f s; work dir %s"
          % (len(names), len(disagreements), len(unexpected), time.time() - started, args.workdir))
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
