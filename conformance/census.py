"""The census (SPEC §6) against the kernel's inet_diag polls.

synfin writes the census over time (--census, every INTERVAL after the
first packet); at each of those moments, per scenario and endpoint host,
the count of each state is compared with what `ss` (inet_diag, polled every
20 ms in each endpoint's namespace) listed for that host's sockets on the
scenario's 4-tuples. LISTEN is left out (ss lists listeners that never
accepted, the census counts those seen accepting).

The capture point sees a segment before the receiving kernel does (DELAY
after it), and a poll sees a change up to one poll period after it: the
census at t agrees when its count lies between the least and the most the
kernel listed from t - BEFORE to t + DELAY + AFTER. States that a kernel
timer ends (TIME_WAIT, FIN_WAIT2, SYN_SENT, SYN_RCVD) may be counted
fewer by synfin than by the kernel for TIMER_SLACK more (never more): Linux's timer wheel rounds a timer's expiry up to its level's
granularity, for a 60 s timer 512 jiffies (2.048 s at HZ=250, this
suite's kernel: its TIME_WAIT measured 61.4 s) or 4096 jiffies (4.096 s at
HZ=1000). synfin ends TIME_WAIT at exactly 2*MSL (SPEC), which no capture
can refine.
"""
import csv
import subprocess

STATES = ["SYN_SENT", "SYN_RCVD", "ESTABLISHED", "FIN_WAIT1", "FIN_WAIT2", "CLOSING",
          "TIME_WAIT", "CLOSE_WAIT", "LAST_ACK"]
TIMED = {"TIME_WAIT", "FIN_WAIT2", "SYN_SENT", "SYN_RCVD"}
INTERVAL = 0.1
BEFORE = 0.010
AFTER = 0.035     # one poll period and some scheduling, after DELAY
TIMER_SLACK = 4.2


def read_census(path):
    """{ts: {host: {state: n}}} and the moments in order."""
    out = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            t = float(r["ts"])
            out.setdefault(t, {})[r["host"]] = {s: int(r[s]) for s in STATES}
    return out, sorted(out)


def kernel_counts(polls, t0, t1, host, tuples):
    """Per state, the least and the most sockets of host on `tuples` that
    the polls listed from t0 to t1 (the snapshot in force at t0 included)."""
    snaps, cur = [], {}
    for pt, _, socks in polls:
        if socks is None:
            continue
        if pt <= t0:
            cur = socks
            continue
        if pt > t1:
            break
        snaps.append(socks)
    snaps.insert(0, cur)
    lo = {s: None for s in STATES}
    hi = {s: 0 for s in STATES}
    for socks in snaps:
        n = {s: 0 for s in STATES}
        for (local, remote), v in socks.items():
            if local[0] == host and (local, remote) in tuples and v[0] in n:
                n[v[0]] += 1
        for s in STATES:
            lo[s] = n[s] if lo[s] is None else min(lo[s], n[s])
            hi[s] = max(hi[s], n[s])
    return lo, hi


def check(synfin, pcap, census_path, plan, polls_c, polls_s, delay):
    """-> (comparisons, [(scenario, side, t - t0, state, synfin, (lo, hi))])."""
    r = subprocess.run([synfin, "-q", "-o", "/dev/null", "--census", census_path,
                        "--interval", str(INTERVAL), pcap], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("synfin --census exited %d: %s" % (r.returncode, r.stderr.strip()))
    moments, order = read_census(census_path)
    compared, disagree = 0, []
    for sc in plan["scenarios"]:
        ctuples, stuples = set(), set()
        for k in range(sc["ports"]):
            c, s = (sc["caddr"], sc["cport0"] + k), (sc["saddr"], sc["port"])
            ctuples.add((c, s))
            stuples.add((s, c))
        for side, host, polls, tuples in (("client", sc["caddr"], polls_c, ctuples),
                                          ("server", sc["saddr"], polls_s, stuples)):
            for t in order:
                if polls and polls[-1][2] is None and polls[-1][0] < t + delay + AFTER + TIMER_SLACK:
                    break  # the polls ended: no truth from here on
                mine = moments[t].get(host, {s: 0 for s in STATES})
                lo, hi = kernel_counts(polls, t - BEFORE, t + delay + AFTER, host, tuples)
                slo, _ = kernel_counts(polls, t - BEFORE, t + delay + AFTER + TIMER_SLACK,
                                         host, tuples)
                for s in STATES:
                    compared += 1
                    # A kernel timer fires late: the kernel may count more
                    # than synfin for TIMER_SLACK, never fewer.
                    a, b = (slo[s], hi[s]) if s in TIMED else (lo[s], hi[s])
                    if not a <= mine[s] <= b:
                        disagree.append((sc["name"], side, t - plan["t0"], s, mine[s], (a, b)))
    return compared, disagree
