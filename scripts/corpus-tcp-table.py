#!/usr/bin/env python3
"""Writes tests/corpus_tcp.tsv: per capture of ../shared/corpus/tcpdump, the
TCP segments tshark decodes on the paths synfin decodes (issue 16). A frame
counts when the protocols before its first `tcp` are all link layers, L2
headers, IP and tunnels synfin follows; TCP quoted in ICMP errors, sFlow
samples or behind link types synfin does not read does not. Run once, by
hand (tshark needed; test_corpus does not run it):

    python3 scripts/corpus-tcp-table.py ../shared/corpus/tcpdump > tests/corpus_tcp.tsv
"""
import os
import subprocess
import sys

FOLLOWED = set("""eth ethertype vlan ip ipv6 ipv6.hopopts ipv6.routing ipv6.dstopts
ipv6.fraghdr sll raw null loop ppp mpls pwethcw pwethnocw pwethheuristic pppoes gre erspan
vxlan geneve gtp teredo udp llc fddi chdlc wlan radiotap wlan_radio nflog ipoib juniper
ieee8021ah vntag etag cfp""".split())


def count(path):
    out = subprocess.run(["tshark", "-r", path, "-Y", "tcp", "-T", "fields", "-e",
                          "frame.protocols"], capture_output=True, text=True).stdout
    n = 0
    for line in out.splitlines():
        chain = line.strip().split(":")
        if "tcp" in chain and all(p in FOLLOWED for p in chain[:chain.index("tcp")]):
            n += 1
    return n


def main():
    corpus = sys.argv[1]
    version = subprocess.run(["tshark", "--version"], capture_output=True,
                             text=True).stdout.splitlines()[0]
    print("# TCP segments tshark decodes on the paths synfin decodes (issue 16), per capture")
    print("# of ../shared/corpus/tcpdump; made by scripts/corpus-tcp-table.py with")
    print("# " + version)
    print("# file<TAB>segments (files with none are left out)")
    for name in sorted(os.listdir(corpus)):
        if name == "MANIFEST.tsv" or name.startswith("."):
            continue
        n = count(os.path.join(corpus, name))
        if n:
            print(f"{name}\t{n}")


if __name__ == "__main__":
    main()
