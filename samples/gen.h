/*
 * gen: the project's deterministic capture generator.
 *
 * Three layers, each usable on its own:
 *
 *   files         gen_open_pcap / gen_open_pcapng + gen_add_interface, gen_write, gen_close.
 *                 pcap goes through libpcap (pcap_dump); pcapng is written by hand
 *                 (libpcap cannot). Records are buffered and written at gen_close,
 *                 sorted by time (stable), so independently scripted
 *                 conversations interleave on their own.
 *   packets       gen_build: one IPv4/IPv6 packet (TCP, or UDP/ICMP/fragment for
 *                 the skip counters) inside any link layer synfin knows, into a
 *                 byte buffer. The payload is zeros; the IP length counts it.
 *   conversations gen_conv + gen_send: a TCP connection as tcpdump shows it. The
 *                 conversation remembers each side's next sequence number, so a
 *                 sample reads as a list of (direction, flags, payload, delay).
 *                 gen_random_traffic builds many random valid ones from a seed.
 *
 * Invariant: output depends only on the calls made, never on the host (byte
 * order, clock, rand()): the same program writes the same bytes everywhere.
 * Every pcap file is little-endian unless GEN_BIG_ENDIAN is asked for; pcapng
 * files are little-endian.
 *
 * Errors are sticky: a failing call returns -1 and marks the file; gen_close
 * returns -1 if anything failed, so a script may check only gen_close.
 */
#ifndef SYNFIN_GEN_H
#define SYNFIN_GEN_H

#include <stddef.h>
#include <stdint.h>

/* Link type numbers (DISSECT_LINK_*) and TCP flags (DISSECT_SYN, ...). */
#include "../dissect/dissect.h"

#define GEN_NS_PER_SEC UINT64_C(1000000000)
#define GEN_NS_PER_MS  UINT64_C(1000000)
#define GEN_NS_PER_US  UINT64_C(1000)
/* 2023-11-14 22:13:20 UTC: where samples and random traffic start. */
#define GEN_T0_NS (UINT64_C(1700000000) * GEN_NS_PER_SEC)

/* Largest frame gen_build makes (an IP packet of 65535 bytes plus headers). */
#define GEN_MAX_FRAME 65664u

/* ------------------------------------------------------------------ files */

typedef struct gen_file gen_file;

/* gen_open_pcap flags. */
enum {
    GEN_NSEC = 1u << 0,       /* nanosecond pcap (magic a1b23c4d); default microseconds */
    GEN_BIG_ENDIAN = 1u << 1, /* big-endian file, as a SPARC or PowerPC host writes it */
    GEN_KEEP_ORDER = 1u << 2, /* write records in call order, not sorted by time */
};

/*
 * Creates a pcap file of LINKTYPE_ `linktype` (DISSECT_LINK_*). Records longer
 * than `snaplen` are cut to it (caplen < len), as tcpdump -s does.
 * Returns NULL on failure (bad argument, out of memory). Nothing is written
 * before gen_close, which frees the handle.
 */
gen_file *gen_open_pcap(const char *path, uint32_t linktype, uint32_t snaplen, unsigned flags);

/* Creates a pcapng file (one section); add interfaces before writing. */
gen_file *gen_open_pcapng(const char *path, uint32_t snaplen);

/*
 * Adds an interface (IDB) to a pcapng file: its link type, its timestamp
 * resolution as a power of ten (if_tsresol: 6 = microseconds, 9 =
 * nanoseconds) and an optional if_name. Returns the interface id (0, 1, ...)
 * or -1 (pcap file, too many interfaces, bad resolution).
 */
int gen_add_interface(gen_file *f, uint32_t linktype, int tsresol, const char *name);

/* The link type of interface `iface` (0 for a pcap file). */
uint32_t gen_linktype(const gen_file *f, uint32_t iface);

/*
 * Queues one record on interface `iface` (0 for pcap): `caplen` bytes of
 * `data`, from a packet `wirelen` bytes long, captured at `ts_ns` (ns since
 * the epoch; written at the file's precision, truncated). caplen is further
 * cut to the snaplen. Returns 0 or -1.
 */
int gen_write(gen_file *f, uint32_t iface, uint64_t ts_ns, const uint8_t *data, uint32_t caplen,
              uint32_t wirelen);

/* Writes every queued record, closes and frees `f`. Returns 0 or -1 (any
 * earlier failure, or I/O error). */
int gen_close(gen_file *f);

/* ---------------------------------------------------------------- packets */

/* What an Ethernet frame carries between the MAC header (and VLAN tags) and IP. */
typedef enum gen_encap {
    GEN_ENCAP_NONE = 0,   /* EtherType 0x0800 / 0x86dd */
    GEN_ENCAP_PPPOE,      /* PPPoE session (0x8864), PPP protocol 0x0021 / 0x0057 */
    GEN_ENCAP_MPLS,       /* MPLS unicast (0x8847), `mpls_labels` labels */
    GEN_ENCAP_PPPOE_PFC,  /* PPPoE with a 1-byte PPP protocol (0x21 / 0x57) */
    GEN_ENCAP_PBB,        /* 802.1ah I-tag (0x88e7), customer addresses, EtherType */
    GEN_ENCAP_VNTAG,      /* VN-Tag (0x8926) */
    GEN_ENCAP_ETAG,       /* 802.1BR E-tag (0x893f) */
    GEN_ENCAP_FABRICPATH, /* FabricPath (0x8903): FTag/TTL, then the classical header */
    GEN_ENCAP_LLC,        /* 802.3 length, LLC/SNAP */
} gen_encap;

/* Tunnels (issue 16): the IP packet is carried inside `kind`, whose outer
 * addresses are outer_src -> outer_dst for the client's packets (swapped for
 * the server's: gen_link.tunnel_reverse). */
typedef enum gen_tun_kind {
    GEN_TUN_GRE = 0, /* GRE carrying IP; GEN_TUN_KEY, GEN_TUN_SEQ, GEN_TUN_CSUM */
    GEN_TUN_GRE_TEB, /* GRE carrying Ethernet (0x6558) */
    GEN_TUN_ERSPAN1, /* GRE 0x88be, no sequence number, Ethernet */
    GEN_TUN_ERSPAN2, /* GRE 0x88be with a sequence number, 8-byte header (session id) */
    GEN_TUN_ERSPAN3, /* GRE 0x22eb, 12-byte header; GEN_TUN_OPTIONS: the 8-byte subheader */
    GEN_TUN_PPTP,    /* enhanced GRE (version 1) carrying PPP; GEN_TUN_PFC */
    GEN_TUN_ARUBA,   /* GRE 0x8210 carrying an 802.11 data frame */
    GEN_TUN_VXLAN,   /* UDP 4789 (8472 with GEN_TUN_ALT_PORT), VNI id */
    GEN_TUN_GENEVE,  /* UDP 6081, VNI id; GEN_TUN_OPTIONS: one 8-byte option */
    GEN_TUN_GTPU,    /* UDP 2152, TEID id (id + 1 the other way); GEN_TUN_OPTIONS: an
                        extension header */
    GEN_TUN_IPIP,    /* IP in IP: 4 or 41 by the carried packet's version */
    GEN_TUN_TEREDO,  /* UDP 3544 carrying IPv6; GEN_TUN_OPTIONS: an origin indication */
    GEN_TUN_MPLS_PW, /* Ethernet link only, outermost: a label, the control word with
                        GEN_TUN_CW, an Ethernet frame */
} gen_tun_kind;

enum {
    GEN_TUN_KEY = 1u << 0,
    GEN_TUN_SEQ = 1u << 1,
    GEN_TUN_CSUM = 1u << 2,
    GEN_TUN_PFC = 1u << 3,
    GEN_TUN_ALT_PORT = 1u << 4,
    GEN_TUN_OPTIONS = 1u << 5,
    GEN_TUN_CW = 1u << 6,
};

typedef struct gen_tunnel {
    gen_tun_kind kind;
    unsigned flags; /* GEN_TUN_* */
    uint32_t id;    /* VNI, GRE key, ERSPAN session, TEID, MPLS label */
    uint8_t outer_version;
    uint8_t outer_src[16], outer_dst[16];
    const struct gen_tunnel *inner; /* a tunnel inside this one, or NULL */
} gen_tunnel;

/* A link layer: the link type plus the variants some link types have. */
typedef struct gen_link {
    uint32_t linktype;        /* DISSECT_LINK_* (0, 1, 101, 108, 113, 228, 229, 276; 9, 10,
                                 50, 104, 105, 127, 178, 239, 242) */
    uint8_t vlan_count;       /* Ethernet: 0..3 tags, outermost first */
    uint16_t vlan_tpid[3];    /* 0x8100 (802.1Q) or 0x88a8 (802.1ad) */
    uint16_t vlan_id[3];      /* 1..4094 */
    gen_encap encap;          /* Ethernet only */
    uint8_t mpls_labels;      /* GEN_ENCAP_MPLS: 1..3 (0 means 1) */
    uint8_t af_big_endian;    /* NULL: the 4-byte AF is big-endian (file of a BE host) */
    uint32_t af_inet6;        /* NULL/LOOP: AF value for IPv6: 24 (BSD), 28 (FreeBSD), 30
                                 (macOS); 0 means 24 */
    const gen_tunnel *tunnel; /* NULL: none (not owned; must outlive the calls) */
    uint8_t tunnel_reverse;   /* the server's packets: outer addresses swapped */
} gen_link;

/* The default gen_link of a link type (no VLAN, little-endian AF, AF 24). */
gen_link gen_link_of(uint32_t linktype);

/* One IP packet. Fields the chosen protocol does not have are ignored. */
typedef struct gen_pkt {
    uint8_t ip_version; /* 4 or 6 */
    uint8_t src[16];    /* IPv4: the first 4 bytes */
    uint8_t dst[16];
    uint8_t ttl;          /* TTL or hop limit */
    uint16_t ip_id;       /* IPv4 identification */
    uint32_t flow_label;  /* IPv6, 20 bits */
    uint8_t proto;        /* 6 TCP (also when 0), 17 UDP, 1 ICMP echo request, 58 ICMPv6 echo */
    uint16_t frag_offset; /* IPv4, in 8-byte units: non-zero = a non-first fragment, which
                             carries payload_len bytes and no transport header */
    uint8_t more_fragments;
    uint8_t outgoing;      /* SLL/SLL2 packet type: 1 = sent by this host, 0 = to us */
    uint16_t sport, dport; /* TCP/UDP; ICMP: id and sequence */
    uint32_t seq, ack;
    uint16_t flags; /* DISSECT_FIN ... DISSECT_AE */
    uint16_t window;
    uint16_t mss;       /* 0 = no MSS option */
    int8_t wscale;      /* -1 = no window scale option */
    uint8_t sack_perm;  /* SACK-permitted option */
    uint8_t timestamps; /* timestamps option with ts_val, ts_ecr */
    uint32_t ts_val, ts_ecr;
    uint32_t payload_len; /* zero bytes after the transport header */
    uint8_t sack_blocks;  /* SACK option with the first sack_blocks of `sack` (0 = none);
                             as many as fit in 40 bytes of options (3 with timestamps) */
    uint32_t sack[4][2];  /* left and right edge of each SACK block */
} gen_pkt;

/* A gen_pkt with defaults: IPv4, TCP, TTL 64, no options (wscale -1). */
gen_pkt gen_pkt_default(void);

/*
 * Builds `p` inside `link` into `buf` (`cap` bytes). IPv4 header and
 * TCP/UDP/ICMP checksums are correct. Returns the frame length (the wire
 * length), or 0 when it does not fit in `cap`, the packet exceeds 65535 IP
 * bytes, or the link type / IP version is unknown.
 */
size_t gen_build(const gen_link *link, const gen_pkt *p, uint8_t *buf, size_t cap);

/* An Ethernet ARP request (42 bytes) from `sender` asking for `target`
 * (IPv4, 4 bytes each). Returns the length; `buf` must hold 42 bytes. */
size_t gen_build_arp(const uint8_t sender[4], const uint8_t target[4], uint8_t *buf);

/* Parses "10.0.0.1" or "2001:db8::1" into 16 bytes. Returns the IP
 * version (4 or 6) or 0 when it is neither. */
int gen_parse_ip(const char *text, uint8_t out[16]);

/* ---------------------------------------------------------- conversations */

typedef enum gen_dir { GEN_C2S = 0, GEN_S2C = 1 } gen_dir;

/*
 * One TCP connection. Arrays are indexed by the sending side: [GEN_C2S] is
 * the client, [GEN_S2C] the server. Fields may be changed between sends
 * (e.g. ttl, link, now_ns); gen_conv_isn is the way to change ISNs.
 */
typedef struct gen_conv {
    gen_file *file;
    gen_link link[2];  /* link layer of each side's packets (default: the file's) */
    uint32_t iface[2]; /* pcapng interface of each side's packets (default 0) */
    uint8_t ip_version;
    uint8_t addr[2][16];
    uint16_t port[2];
    uint32_t isn[2];
    uint32_t nxt[2]; /* next sequence number each side sends (SND.NXT) */
    uint8_t ttl[2];
    uint16_t ip_id[2];
    uint16_t window[2];     /* window field after the handshake */
    uint16_t syn_window[2]; /* window field on SYN and SYN-ACK */
    uint8_t options;        /* SYNs carry MSS, SACK-permitted, timestamps, wscale; every
                               segment carries timestamps (Linux's default) */
    uint16_t mss;
    int8_t wscale;
    uint32_t ts_base[2];   /* TSval = ts_base + milliseconds since the epoch */
    uint32_t ts_recent[2]; /* last TSval each side received (its TSecr) */
    uint8_t outgoing[2];   /* SLL packet type per side (default: capture on the server) */
    uint64_t now_ns;       /* time of the last packet written */
    uint64_t first_ns;     /* time of the first packet written */
    uint32_t packets[2];   /* written so far, per direction */
    uint64_t bytes[2];     /* TCP payload bytes written so far (wire, not captured) */
} gen_conv;

/*
 * Starts a conversation on file `f` at time `t0_ns` (the first gen_send adds
 * its delay to it). Addresses are text ("10.0.0.1", "2001:db8::1"), both of
 * the same version. ISNs, IP IDs and timestamp bases are derived from the
 * 4-tuple; TTL 64, Linux-like windows, options on. Returns 0 or -1.
 */
int gen_conv_init(gen_conv *c, gen_file *f, const char *client, uint16_t client_port,
                  const char *server, uint16_t server_port, uint64_t t0_ns);

/* Same with binary addresses (IPv4: first 4 bytes). */
int gen_conv_init_bin(gen_conv *c, gen_file *f, int ip_version, const uint8_t client[16],
                      uint16_t client_port, const uint8_t server[16], uint16_t server_port,
                      uint64_t t0_ns);

/* Sets both ISNs; the next sequence numbers restart from them (a new
 * instance on the same 4-tuple). */
void gen_conv_isn(gen_conv *c, uint32_t client_isn, uint32_t server_isn);

/*
 * Writes one segment from side `d`, `dt_ns` after the previous one of this
 * conversation: seq = the sender's next sequence number; ack = the peer's
 * next sequence number when `flags` has ACK (everything the peer sent has
 * arrived), else 0. The sender's next sequence number then advances by
 * payload_len + SYN + FIN. Returns 0 or -1.
 */
int gen_send(gen_conv *c, gen_dir d, uint16_t flags, uint32_t payload_len, uint64_t dt_ns);

/* Which gen_override fields apply. */
enum {
    GEN_OV_SEQ = 1u << 0,
    GEN_OV_ACK = 1u << 1,
    GEN_OV_TTL = 1u << 2,
    GEN_OV_WINDOW = 1u << 3,
    GEN_OV_SACK = 1u << 4,
};

typedef struct gen_override {
    unsigned set; /* GEN_OV_* */
    uint32_t seq; /* e.g. an old seq: a retransmission */
    uint32_t ack; /* e.g. a FIN that does not ack the peer's FIN */
    uint8_t ttl;  /* e.g. a forged RST */
    uint16_t window;
    uint8_t sack_blocks; /* e.g. a duplicate ACK: SACK blocks after the timestamps */
    uint32_t sack[4][2];
} gen_override;

/*
 * gen_send with some fields forced. With an explicit seq, the sender's next
 * sequence number moves only if the segment ends beyond it (modulo 2^32,
 * less than 2^31 ahead): retransmissions leave it alone. An RST never moves
 * it. `ov` may be NULL.
 */
int gen_send_ex(gen_conv *c, gen_dir d, uint16_t flags, uint32_t payload_len, uint64_t dt_ns,
                const gen_override *ov);

/* ---------------------------------------------------------- random traffic */

/* splitmix64: the generator's only source of randomness. */
uint64_t gen_rand(uint64_t *state);
/* Uniform in [lo, hi] (hi >= lo). */
uint32_t gen_rand_range(uint64_t *state, uint32_t lo, uint32_t hi);

/*
 * What gen_random_traffic wrote for one connection instance, and the SPEC
 * section 3 classification it must get (strings as in the CSV). Counters
 * include retransmissions (every packet, every payload byte from the IP
 * length). Times are in ns, before the file's precision truncates them.
 */
typedef struct gen_truth {
    uint8_t ip_version;
    uint8_t client[16], server[16];
    uint16_t client_port, server_port;
    uint64_t first_ns, last_ns;
    uint32_t packets_c2s, packets_s2c;
    uint64_t bytes_c2s, bytes_s2c;
    uint32_t syn_retransmits;
    const char *handshake;       /* complete, syn_only, no_ack, refused, midstream */
    const char *close_initiator; /* client, server, both, none */
    const char *close_type;      /* fin, rst, none */
    int closing;                 /* 0 or 2 */
    const char *time_wait_side;  /* client, server, both, none */
    int reuses_previous;         /* 1: a new SYN on the 4-tuple of an earlier instance */
} gen_truth;

/*
 * Writes `nconv` random but valid TCP connection instances, interleaved in
 * time, to interface 0 of `f` (any link type gen_build knows; on IPV4 or
 * IPV6 every instance has that IP version), starting at GEN_T0_NS. The mix:
 * complete handshakes (some with SYN retransmissions), midstream starts, SYNs without
 * answer, SYN/SYN-ACK without the final ACK, refused SYNs; data in both
 * directions with occasional retransmissions; client, server, three-way,
 * half, crossed (Linux and BSD style) FIN closes, RSTs from either side, or
 * no close; about 1 in 10 instances reuses the 4-tuple of an earlier one that
 * was closed or reset; about 1 in 5 is IPv6; TCP options on or off.
 * Fully determined by `seed`. When `truth` is not NULL it receives `nconv`
 * entries, in order of first packet. Returns 0 or -1.
 */
int gen_random_traffic(gen_file *f, uint64_t seed, int nconv, gen_truth *truth);

#endif
