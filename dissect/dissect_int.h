/*
 * dissect_int.h: what the files of dissect/ share (link.c: link types and
 * the headers between them and IP; tunnel.c: tunnels; dissect.c: IP, TCP
 * and the entry points). Private to dissect/.
 *
 * Layers return a dissect_result; a layer that finds IP next leaves the
 * cursor on the IP header and says which version the layer below
 * announced (*ipver). A tunnel that finds IP goes on into it itself
 * (dissect_ip), so the nesting is a recursion bounded by
 * DISSECT_MAX_TUNNELS; the headers between link and IP (VLAN tags, PBB,
 * LLC/SNAP, ...) are a loop bounded by the captured bytes, each taking
 * some.
 */
#ifndef SYNFIN_DISSECT_INT_H
#define SYNFIN_DISSECT_INT_H

#include "cursor.h"
#include "dissect.h"

/* One packet's dissection. */
typedef struct dctx {
    dissect_segment *seg;
    dissect_tunnel *tun; /* NULL: tunnels are not decoded */
} dctx;

static inline void dctx_saw(dctx *x, dissect_encap e)
{
    x->seg->encaps |= 1u << e;
}

enum {
    ETHERTYPE_IPV4 = 0x0800,
    ETHERTYPE_IPV6 = 0x86dd,
    ETHERTYPE_TEB = 0x6558, /* Transparent Ethernet Bridging (GRE, Geneve) */
    ETHERTYPE_MPLS = 0x8847,
    ETHERTYPE_MPLS_MC = 0x8848,
};

/* link.c: the link layer of `linktype`. */
dissect_result dissect_link(dctx *x, uint32_t linktype, cursor *c, uint8_t *ipver);
/* An Ethernet frame (its MAC header on), a PPP frame (address and control
 * optional, protocol 1 or 2 bytes), an 802.11 frame (data frames with
 * LLC/SNAP; no FCS handling needed: the IP length bounds what is read). */
dissect_result dissect_ethernet(dctx *x, cursor *c, uint8_t *ipver);
dissect_result dissect_ppp(dctx *x, cursor *c, uint8_t *ipver);
dissect_result dissect_80211(dctx *x, cursor *c, uint8_t *ipver);
/* c right after an EtherType field holding `type`. */
dissect_result dissect_ethertype(dctx *x, cursor *c, uint16_t type, uint8_t *ipver);

/* tunnel.c: an MPLS label stack and what it carries. */
dissect_result dissect_mpls(dctx *x, cursor *c, uint8_t *ipver);
/* The payload of an IP header (c, ip_len bytes of it on the wire) whose
 * protocol is `proto`, when it may be a tunnel: GRE, IP in IP, UDP. The
 * outer addresses are still in x->seg. Returns DISSECT_NOT_TCP when it is
 * none of them. */
dissect_result dissect_tunnel_payload(dctx *x, cursor c, uint8_t proto, uint32_t ip_len);

/* dissect.c: an IP header of version ipver at c; wire_left is what the
 * wire holds from it on (for IP headers that state no length). */
dissect_result dissect_ip(dctx *x, cursor c, uint8_t ipver, uint32_t wire_left);

#endif
