/*
 * tunnel.c: MPLS and the tunnels over IP, down to the packet they carry.
 *
 * A tunnel adds a layer to x->tun (kind, the identifier both directions
 * carry if it has one, the outer addresses) and goes on into what it
 * carries: IP (dissect_ip, which may find another tunnel: a recursion, at
 * most DISSECT_MAX_TUNNELS deep), an Ethernet, PPP or 802.11 frame, or an
 * MPLS stack. The carried packet's wire length is what the outer IP
 * length leaves after the tunnel's headers; the cursor is limited to it,
 * so no inner header is read from the outer packet's trailer.
 *
 * Identifiers that differ by direction (GTP-U's TEIDs, PPTP's call IDs,
 * MPLS labels, Geneve's VNI as OVN uses it) are not kept: the two
 * directions of a connection must get the same identity (README "Tunnels").
 */
#include "dissect_int.h"

enum {
    PROTO_IPIP = 4,
    PROTO_IPV6 = 41,
    PROTO_GRE = 47,
    PROTO_UDP = 17,

    UDP_HDR_LEN = 8,
    PORT_VXLAN = 4789,
    PORT_VXLAN_LINUX = 8472,
    PORT_GENEVE = 6081,
    PORT_GTPU = 2152,
    PORT_TEREDO = 3544,

    MPLS_LABEL_LEN = 4,
    MPLS_BOS = 0x100,
    PW_CW_LEN = 4,

    GRE_CSUM = 0x8000,
    GRE_ROUTING = 0x4000,
    GRE_KEY = 0x2000,
    GRE_SEQ = 0x1000,
    GRE_ACK = 0x0080, /* enhanced GRE only */
    GRE_VERSION = 0x0007,
    GRE_PROTO_PPP = 0x880b,
    GRE_PROTO_WCCP = 0x883e, /* WCCP redirection: IP, after a 4-byte header in v2 */
    WCCP2_HDR_LEN = 4,
    GRE_PROTO_ERSPAN = 0x88be, /* type I without a sequence number, II with */
    GRE_PROTO_ERSPAN3 = 0x22eb,
    GRE_PROTO_ARUBA_LO = 0x8200, /* Aruba's 802.11 tunnels: 0x8200, 0x8210, ... */
    GRE_PROTO_ARUBA_HI = 0x83f0,
    ERSPAN2_HDR_LEN = 8,
    ERSPAN3_HDR_LEN = 12,
    ERSPAN3_SUBHDR_LEN = 8,
    ERSPAN_SESSION = 0x3ff,
    ERSPAN3_FT_ETHERNET = 0,
    ERSPAN3_FT_IP = 2,

    VXLAN_HDR_LEN = 8,
    GENEVE_HDR_LEN = 8,
    GTP_HDR_LEN = 8,
    GTP_OPT_LEN = 4, /* sequence number, N-PDU number, next extension type */
    GTP_FLAG_E = 0x04,
    GTP_FLAGS_OPT = 0x07,
    GTP_GPDU = 0xff,
    TEREDO_AUTH = 0x0001,
    TEREDO_ORIGIN = 0x0000,
    TEREDO_ORIGIN_LEN = 8,
};

/* What a tunnel carries. */
typedef enum inner_kind { IN_IP, IN_ETHERNET, IN_PPP, IN_WLAN, IN_MPLS } inner_kind;

/* Adds a layer; false when the packet is nested deeper than allowed. */
static bool push_layer(dctx *x, dissect_encap kind, bool over_ip, bool has_id, uint32_t id)
{
    dissect_tunnel *t = x->tun;

    dctx_saw(x, kind);
    if (t->depth >= DISSECT_MAX_TUNNELS)
        return false;
    dissect_tunnel_layer *l = &t->layer[t->depth++];
    l->kind = (uint8_t)kind;
    l->has_id = has_id;
    l->id = has_id ? id : 0;
    l->outer_version = over_ip ? x->seg->ip_version : 0;
    if (over_ip) {
        memcpy(l->outer_src, x->seg->src, sizeof(l->outer_src));
        memcpy(l->outer_dst, x->seg->dst, sizeof(l->outer_dst));
    } else {
        memset(l->outer_src, 0, sizeof(l->outer_src));
        memset(l->outer_dst, 0, sizeof(l->outer_dst));
    }
    return true;
}

/* The carried packet at c; `start` is where the tunnel's payload began on
 * the wire, `len` its length there. */
static dissect_result inner(dctx *x, cursor c, const cursor *start, uint32_t len, inner_kind what)
{
    uint8_t ipver = 0, vhl = 0;
    dissect_result r = DISSECT_OK;

    switch (what) {
    case IN_IP:
        if (!cursor_get_u8(&c, 0, &vhl))
            return DISSECT_TRUNCATED;
        if (vhl >> 4 != 4 && vhl >> 4 != 6)
            return DISSECT_MALFORMED;
        ipver = vhl >> 4;
        break;
    case IN_ETHERNET:
        r = dissect_ethernet(x, &c, &ipver);
        break;
    case IN_PPP:
        dctx_saw(x, DISSECT_ENC_PPP);
        r = dissect_ppp(x, &c, &ipver);
        break;
    case IN_WLAN:
        dctx_saw(x, DISSECT_ENC_WLAN);
        r = dissect_80211(x, &c, &ipver);
        break;
    case IN_MPLS:
        r = dissect_mpls(x, &c, &ipver);
        break;
    }
    if (r != DISSECT_OK)
        return r;
    size_t used = (size_t)(c.p - start->p);
    if (used > len)
        return DISSECT_MALFORMED;
    return dissect_ip(x, c, ipver, len - (uint32_t)used);
}

/* ---- MPLS ------------------------------------------------------------------ */

/* True when an Ethernet frame at off looks like one: an EtherType synfin
 * follows (the pseudowire heuristic: a control word, or none). */
static bool looks_like_ethernet(const cursor *c, size_t off)
{
    uint16_t type = 0;

    if (!cursor_get_be16(c, off + 12, &type))
        return false;
    return type == ETHERTYPE_IPV4 || type == ETHERTYPE_IPV6 || type == 0x8100 || type == 0x88a8 ||
           type == ETHERTYPE_MPLS || type == 0x8864;
}

/* The label stack; after the bottom label, IP by its version nibble, else
 * (tunnels on) an Ethernet pseudowire, with or without the control word
 * (RFC 4385: a first nibble of 0). */
dissect_result dissect_mpls(dctx *x, cursor *c, uint8_t *ipver)
{
    uint32_t label = 0;
    uint8_t vhl = 0;

    dctx_saw(x, DISSECT_ENC_MPLS);
    do {
        if (!cursor_get_be32(c, 0, &label))
            return DISSECT_TRUNCATED;
        (void)cursor_skip(c, MPLS_LABEL_LEN);
    } while ((label & MPLS_BOS) == 0);
    if (x->tun && !push_layer(x, DISSECT_ENC_MPLS, false, false, 0))
        return DISSECT_NOT_TCP;
    if (!cursor_get_u8(c, 0, &vhl))
        return DISSECT_TRUNCATED;
    if (vhl >> 4 == 4 || vhl >> 4 == 6) {
        *ipver = vhl >> 4;
        return DISSECT_OK;
    }
    if (!x->tun)
        return DISSECT_NOT_IP; /* pseudowires are tunnels */
    if (vhl >> 4 == 0 && looks_like_ethernet(c, PW_CW_LEN))
        (void)cursor_skip(c, PW_CW_LEN);
    return dissect_ethernet(x, c, ipver);
}

/* ---- GRE ------------------------------------------------------------------- */

/* ERSPAN's own header (types II and III) at c: its session ID, and what it
 * carries. */
static dissect_result erspan(cursor *c, bool type3, uint32_t *session, inner_kind *what)
{
    uint16_t ver_vlan = 0, sess = 0, flags = 0;

    if (!cursor_get_be16(c, 0, &ver_vlan) || !cursor_get_be16(c, 2, &sess))
        return DISSECT_TRUNCATED;
    *session = sess & ERSPAN_SESSION;
    *what = IN_ETHERNET;
    if (!type3) {
        if (ver_vlan >> 12 != 1)
            return DISSECT_NOT_TCP;
        return cursor_skip(c, ERSPAN2_HDR_LEN) ? DISSECT_OK : DISSECT_TRUNCATED;
    }
    if (ver_vlan >> 12 != 2)
        return DISSECT_NOT_TCP;
    if (!cursor_get_be16(c, 10, &flags))
        return DISSECT_TRUNCATED;
    unsigned ft = (flags >> 10) & 0x1f;
    if (ft != ERSPAN3_FT_ETHERNET && ft != ERSPAN3_FT_IP)
        return DISSECT_NOT_TCP;
    *what = ft == ERSPAN3_FT_IP ? IN_IP : IN_ETHERNET;
    size_t len = ERSPAN3_HDR_LEN + ((flags & 1) ? ERSPAN3_SUBHDR_LEN : 0);
    return cursor_skip(c, len) ? DISSECT_OK : DISSECT_TRUNCATED;
}

/* The GRE header's length (RFC 2784, 2890; RFC 2637's enhanced GRE), its
 * key; 0 when it is not one synfin follows (source routing, a version
 * other than 0 and 1). */
static size_t gre_header(const cursor *c, uint16_t fl, uint16_t proto, uint32_t *key, bool *keyed)
{
    size_t off = 4;

    if ((fl & GRE_VERSION) == 1) { /* PPTP: key = payload length and call ID */
        if (!(fl & GRE_KEY) || proto != GRE_PROTO_PPP)
            return 0;
        return off + 4 + ((fl & GRE_SEQ) ? 4 : 0) + ((fl & GRE_ACK) ? 4 : 0);
    }
    if ((fl & GRE_VERSION) != 0 || (fl & GRE_ROUTING))
        return 0;
    if (fl & GRE_CSUM)
        off += 4;
    if (fl & GRE_KEY) {
        *keyed = cursor_get_be32(c, off, key);
        off += 4;
    }
    return off + ((fl & GRE_SEQ) ? 4 : 0);
}

static dissect_result gre(dctx *x, cursor c, uint32_t len)
{
    const cursor start = c;
    uint16_t fl = 0, proto = 0;
    uint32_t id = 0;
    bool has_id = false;
    dissect_encap kind = DISSECT_ENC_GRE;
    inner_kind what = IN_IP;

    if (!cursor_get_be16(&c, 0, &fl) || !cursor_get_be16(&c, 2, &proto))
        return DISSECT_TRUNCATED;
    size_t hlen = gre_header(&c, fl, proto, &id, &has_id);
    if (hlen == 0)
        return DISSECT_NOT_TCP;
    if (!cursor_skip(&c, hlen))
        return DISSECT_TRUNCATED;
    if ((fl & GRE_VERSION) == 1) {
        kind = DISSECT_ENC_PPTP;
        has_id = false; /* the call ID is the receiver's */
    }
    switch (proto) {
    case ETHERTYPE_IPV4:
    case ETHERTYPE_IPV6:
        break;
    case ETHERTYPE_TEB:
        what = IN_ETHERNET;
        break;
    case ETHERTYPE_MPLS:
    case ETHERTYPE_MPLS_MC:
        what = IN_MPLS;
        break;
    case GRE_PROTO_PPP:
        what = IN_PPP;
        break;
    case GRE_PROTO_WCCP: { /* version 1 has no redirect header: IP at once */
        uint8_t b = 0;
        if (!cursor_get_u8(&c, 0, &b))
            return DISSECT_TRUNCATED;
        if (b >> 4 != 4 && !cursor_skip(&c, WCCP2_HDR_LEN))
            return DISSECT_TRUNCATED;
        break;
    }
    case GRE_PROTO_ERSPAN:
    case GRE_PROTO_ERSPAN3: {
        bool type3 = proto == GRE_PROTO_ERSPAN3, type2 = !type3 && (fl & GRE_SEQ);
        kind = type3 ? DISSECT_ENC_ERSPAN3 : type2 ? DISSECT_ENC_ERSPAN2 : DISSECT_ENC_ERSPAN1;
        what = IN_ETHERNET;
        has_id = type2 || type3;
        if (has_id) {
            dissect_result r = erspan(&c, type3, &id, &what);
            if (r != DISSECT_OK)
                return r;
        }
        break;
    }
    default:
        if (proto < GRE_PROTO_ARUBA_LO || proto > GRE_PROTO_ARUBA_HI || (proto & 0xf) != 0)
            return DISSECT_NOT_TCP; /* WCCP, NHRP, keepalives, ... */
        kind = DISSECT_ENC_ARUBA;
        what = IN_WLAN;
        has_id = false;
        break;
    }
    if (!push_layer(x, kind, true, has_id, id))
        return DISSECT_NOT_TCP;
    return inner(x, c, &start, len, what);
}

/* ---- over UDP -------------------------------------------------------------- */

static dissect_result vxlan(dctx *x, cursor c, const cursor *start, uint32_t len)
{
    uint32_t vni = 0;

    if (!cursor_get_be32(&c, 4, &vni) || !cursor_skip(&c, VXLAN_HDR_LEN))
        return DISSECT_TRUNCATED;
    if (!push_layer(x, DISSECT_ENC_VXLAN, true, true, vni >> 8))
        return DISSECT_NOT_TCP;
    return inner(x, c, start, len, IN_ETHERNET);
}

static dissect_result geneve(dctx *x, cursor c, const cursor *start, uint32_t len)
{
    uint8_t b0 = 0;
    uint16_t proto = 0;
    uint32_t vni = 0;

    if (!cursor_get_u8(&c, 0, &b0) || !cursor_get_be16(&c, 2, &proto) ||
        !cursor_get_be32(&c, 4, &vni))
        return DISSECT_TRUNCATED;
    if (b0 >> 6 != 0)
        return DISSECT_NOT_TCP; /* a version this does not know */
    if (proto != ETHERTYPE_TEB && proto != ETHERTYPE_IPV4 && proto != ETHERTYPE_IPV6)
        return DISSECT_NOT_TCP;
    if (!cursor_skip(&c, GENEVE_HDR_LEN + (size_t)(b0 & 0x3f) * 4)) /* options */
        return DISSECT_TRUNCATED;
    /* The VNI is not kept: OVN puts the logical datapath there, which differs
     * by direction for routed traffic (tcpdump's geneve.pcap: 10 and 11). */
    (void)vni;
    if (!push_layer(x, DISSECT_ENC_GENEVE, true, false, 0))
        return DISSECT_NOT_TCP;
    return inner(x, c, start, len, proto == ETHERTYPE_TEB ? IN_ETHERNET : IN_IP);
}

/* GTP-U (3GPP TS 29.281): G-PDUs only; the optional fields and the chain
 * of extension headers (each its length in 4-byte units, its last byte
 * the next one's type) skipped. */
static dissect_result gtpu(dctx *x, cursor c, const cursor *start, uint32_t len)
{
    uint8_t flags = 0, type = 0, next = 0;

    if (!cursor_get_u8(&c, 0, &flags) || !cursor_get_u8(&c, 1, &type))
        return DISSECT_TRUNCATED;
    if (flags >> 5 != 1 || !(flags & 0x10))
        return DISSECT_NOT_TCP; /* GTP' or GTPv2 */
    if (type != GTP_GPDU)
        return DISSECT_NOT_TCP; /* echo, error indication, end marker */
    size_t off = GTP_HDR_LEN;
    if (flags & GTP_FLAGS_OPT) {
        if (!cursor_get_u8(&c, off + 3, &next))
            return DISSECT_TRUNCATED;
        off += GTP_OPT_LEN;
        while ((flags & GTP_FLAG_E) && next != 0) {
            uint8_t units = 0;
            if (!cursor_get_u8(&c, off, &units))
                return DISSECT_TRUNCATED;
            if (units == 0)
                return DISSECT_MALFORMED;
            off += (size_t)units * 4;
            if (!cursor_get_u8(&c, off - 1, &next))
                return DISSECT_TRUNCATED;
        }
    }
    if (!cursor_skip(&c, off))
        return DISSECT_TRUNCATED;
    if (!push_layer(x, DISSECT_ENC_GTP, true, false, 0))
        return DISSECT_NOT_TCP;
    return inner(x, c, start, len, IN_IP);
}

/* Teredo (RFC 4380): IPv6, after an authentication header and an origin
 * indication, each optional. */
static dissect_result teredo(dctx *x, cursor c, const cursor *start, uint32_t len)
{
    uint16_t ind = 0;
    uint8_t id_len = 0, au_len = 0, vhl = 0;

    if (cursor_get_be16(&c, 0, &ind) && ind == TEREDO_AUTH) {
        if (!cursor_get_u8(&c, 2, &id_len) || !cursor_get_u8(&c, 3, &au_len))
            return DISSECT_TRUNCATED;
        /* client id, authentication value, nonce (8), confirmation (1) */
        if (!cursor_skip(&c, 4 + (size_t)id_len + au_len + 9))
            return DISSECT_TRUNCATED;
    }
    if (cursor_get_be16(&c, 0, &ind) && ind == TEREDO_ORIGIN && !cursor_skip(&c, TEREDO_ORIGIN_LEN))
        return DISSECT_TRUNCATED;
    if (!cursor_get_u8(&c, 0, &vhl))
        return DISSECT_TRUNCATED;
    if (vhl >> 4 != 6)
        return DISSECT_NOT_TCP; /* bubbles, or not Teredo after all */
    if (!push_layer(x, DISSECT_ENC_TEREDO, true, false, 0))
        return DISSECT_NOT_TCP;
    return inner(x, c, start, len, IN_IP);
}

static dissect_result udp(dctx *x, cursor c, uint32_t len)
{
    const cursor start = c;
    uint16_t sport = 0, dport = 0;

    if (len < UDP_HDR_LEN)
        return DISSECT_MALFORMED;
    if (!cursor_get_be16(&c, 0, &sport) || !cursor_get_be16(&c, 2, &dport) ||
        !cursor_skip(&c, UDP_HDR_LEN))
        return DISSECT_NOT_TCP; /* a UDP header cut short is no TCP segment either */
    if (dport == PORT_VXLAN || dport == PORT_VXLAN_LINUX)
        return vxlan(x, c, &start, len);
    if (dport == PORT_GENEVE)
        return geneve(x, c, &start, len);
    if (dport == PORT_GTPU || sport == PORT_GTPU)
        return gtpu(x, c, &start, len);
    if (dport == PORT_TEREDO || sport == PORT_TEREDO)
        return teredo(x, c, &start, len);
    return DISSECT_NOT_TCP;
}

/* ---- from IP ---------------------------------------------------------------- */

dissect_result dissect_tunnel_payload(dctx *x, cursor c, uint8_t proto, uint32_t ip_len)
{
    const cursor start = c;
    uint8_t vhl = 0;

    cursor_limit(&c, ip_len);
    switch (proto) {
    case PROTO_IPIP:
    case PROTO_IPV6: {
        bool in6 = proto == PROTO_IPV6, out6 = x->seg->ip_version == 6;
        dissect_encap kind = in6 ? (out6 ? DISSECT_ENC_6IN6 : DISSECT_ENC_6IN4)
                                 : (out6 ? DISSECT_ENC_4IN6 : DISSECT_ENC_4IN4);
        if (!cursor_get_u8(&c, 0, &vhl))
            return DISSECT_TRUNCATED;
        if (vhl >> 4 != (in6 ? 6 : 4))
            return DISSECT_MALFORMED;
        if (!push_layer(x, kind, true, false, 0))
            return DISSECT_NOT_TCP;
        return inner(x, c, &start, ip_len, IN_IP);
    }
    case PROTO_GRE:
        return gre(x, c, ip_len);
    case PROTO_UDP:
        return udp(x, c, ip_len);
    default:
        return DISSECT_NOT_TCP;
    }
}
