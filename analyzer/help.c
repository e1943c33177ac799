/*
 * help.c: the text of --help (options.c parses, this prints). In several
 * strings: one string literal may be at most 4095 bytes (C11,
 * -Wpedantic).
 */
#include <stdio.h>

#include "options.h"

static const char usage_text[] =
    "usage: synfin [options] FILE...   (FILE '-' = standard input)\n"
    "Replays every TCP connection of pcap/pcapng captures (compressed too: gzip,\n"
    "zstd, xz, bzip2, lz4) through the RFC 793 state machine and writes one row\n"
    "per connection instance (CSV, JSON Lines or SQLite: --format). Several files\n"
    "are read as one stream in time order (sorted by their first packet, merged\n"
    "where they overlap).\n"
    "\n"
    "  -r FILE               read FILE (repeatable; besides positional files)\n"
    "      --keep-order      read the files one after another in the order given,\n"
    "                        not in time order\n"
    "  -o, --output FILE     write the rows to FILE instead of standard output\n"
    "                        (-o -: standard output)\n"
    "      --format FORMAT   csv (default), jsonl (JSON Lines: one object per row)\n"
    "                        or sqlite (a database: needs -o FILE); without it, by\n"
    "                        -o FILE's extension: .jsonl/.ndjson, .sqlite/.db\n"
    "  -f, --filter EXPR     only packets matching the BPF expression EXPR\n"
    "      --msl SECONDS     maximum segment lifetime; TIME_WAIT = 2*MSL (default 30)\n"
    "      --idle-timeout SECONDS  end idle connections after SECONDS (default 7200;\n"
    "                        0 = never)\n"
    "      --syn-timeout SECONDS  a client whose SYN is never answered gave up at the\n"
    "                        latest SECONDS after its first SYN (default 127, Linux's\n"
    "                        tcp_syn_retries = 6; 0 = never infer it)\n"
    "      --synack-timeout SECONDS  a server whose SYN-ACK is not taken (still\n"
    "                        SYN_RCVD) dropped the request SECONDS after the SYN\n"
    "                        (default 63, tcp_synack_retries = 5; 0 = never)\n"
    "      --fin-timeout SECONDS  an endpoint in FIN_WAIT2 on a connection silent for\n"
    "                        SECONDS was an orphan Linux dropped: CLOSED (default 60,\n"
    "                        tcp_fin_timeout; 0 = never)\n"
    "      --server [HOST:]PORT  a server's endpoint, for connections whose handshake\n"
    "                        was not captured (repeatable; HOST an IPv4 address or an\n"
    "                        IPv6 one in brackets; without HOST: the port on any host)\n"
    "      --max-flows N     at most N connections tracked at once; past it one is\n"
    "                        ended early and marked evicted: unanswered SYNs first,\n"
    "                        then the least recently active (default 10000000,\n"
    "                        about 2.5 GB; 0 = unbounded)\n"
    "      --summary         print a summary to standard error after the run (with\n"
    "                        --findings, the findings' short form at its end)\n"
    "      --findings FILE   write the findings (TIME_WAIT, ports, SYN backlog,\n"
    "                        keepalive, CLOSE_WAIT, FIN_WAIT2, TCP timestamps and\n"
    "                        tcp_tw_recycle, each with a verdict)\n"
    "                        to FILE, as Markdown\n"
    "      --port-range LOW-HIGH  the clients' ephemeral ports, for the port pressure\n"
    "                        finding (default 32768-60999, ip_local_port_range)\n"
    "      --max-tw-buckets N  compare the peak TIME_WAIT per host with N\n"
    "                        (net.ipv4.tcp_max_tw_buckets)\n"
    "      --census FILE     write the census over time to FILE as CSV: per host and\n"
    "                        state, the endpoints open at every --interval\n"
    "      --interval SECONDS  between census moments (default 1)\n"
    "      --census-hosts N  hosts with census rows of their own, the busiest by\n"
    "                        peak (default 1000); the rest are summed as `other`\n"
    "      --at TIME         print the census at TIME to standard error, per host\n"
    "                        (repeatable; TIME: Unix seconds, +SECONDS after the\n"
    "                        first packet, or YYYY-MM-DDTHH:MM:SS[.frac] in UTC)\n"
    "      --plot FILE       draw the census over time of the busiest host (or of\n"
    "                        --plot-host ADDR) into FILE, SVG or PNG by its name\n";
/* More (one string would pass C's 4095 characters). */
static const char usage_mid[] =
    "      --keepalive-time SECONDS  the keepalive finding: connections idle this\n"
    "                        long without a probe (default 7200, tcp_keepalive_time)\n"
    "      --close-wait SECONDS  the CLOSE_WAIT finding: longer ones are an application\n"
    "                        that does not close (default 60)\n"
    "      --shard K/N       only the connections whose 4-tuple hashes to shard K of\n"
    "                        N (0 <= K < N): N runs split a capture exactly\n";
/* The rest (one string would pass C's 4095 characters). */
static const char usage_more[] =
    "      --state-out FILE  save the connections still open at the end (and the\n"
    "                        census's and duplicate filter's state) to FILE instead\n"
    "                        of writing their rows; the next run goes on from it\n"
    "      --state-in FILE   go on from a state --state-out saved (same options)\n"
    "      --community-id-seed N  the seed of the community_id column (0 to 65535,\n"
    "                        default 0), as the other tools that compute it are given\n"
    "      --stats           print packet accounting per input instead of the CSV\n"
    "      --no-header       omit the CSV header row\n"
    "      --no-tunnels      do not look inside tunnels (GRE, VXLAN, Geneve, GTP-U,\n"
    "                        IP in IP, Teredo, MPLS pseudowires): their packets are\n"
    "                        not_tcp, as before synfin decoded them\n"
    "  -q, --quiet           no progress line, no warnings about the input (damage,\n"
    "                        packets out of order)\n"
    "  -h, --help            this help\n"
    "  -V, --version         the version\n"
    "With --format sqlite, --census and --findings naming the -o FILE itself put\n"
    "the census and the findings in tables of that database (census, findings).\n";

/* The CSV's columns, in order: README "The CSV" is their one description
 * (and synfin.1's COLUMNS is made from it); the test `columns` checks this
 * list and the header against it. */
static const char columns_text[] =
    "\n"
    "CSV columns (README \"The CSV\", synfin(1) COLUMNS):\n"
    "  conn_id first_ts last_ts ip_version client_ip client_port server_ip\n"
    "  server_port role_by handshake syn_retransmits synack_retransmits\n"
    "  handshake_rtt_s close_initiator close_type closing time_wait_side\n"
    "  time_wait_start time_wait_end time_wait_end_reason time_wait_s client_state\n"
    "  server_state packets_c2s packets_s2c bytes_c2s bytes_s2c fin_retransmits\n"
    "  anomalies established_ts client_fin_ts server_fin_ts keepalives max_idle\n"
    "  conn_uid conn_state history community_id tunnel\n";

static const char exit_text[] =
    "\n"
    "Exit status: 0 success; 1 some input was damaged or unreadable (everything\n"
    "else was still processed and written), no TCP header survived the snaplen,\n"
    "or an output could not be opened or written; 2 usage error, or a --state-in\n"
    "file refused (damaged, foreign, another version or other options); 3 nothing\n"
    "could be read (no input opened as a capture, or damage before the first\n"
    "packet).\n";

int print_help(void)
{
    fputs(usage_text, stdout);
    fputs(usage_mid, stdout);
    fputs(usage_more, stdout);
    fputs(columns_text, stdout);
    fputs(exit_text, stdout);
    return EXIT_OK;
}
