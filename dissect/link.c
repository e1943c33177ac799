/*
 * link.c: link layers, and the headers between them and IP (VLAN tags,
 * PPPoE, 802.1ah, VN-Tag, E-tag, FabricPath, LLC/SNAP), up to the IP
 * header. Each function moves the cursor past its header(s) and says in
 * *ipver which IP version follows (4 or 6); dissect_ip then checks the
 * version field itself. MPLS and the tunnels are tunnel.c's.
 *
 * Header chains (a VLAN tag in a PBB frame in a FabricPath frame, ...)
 * are walked in a loop, each header taking at least 4 bytes: bounded by
 * what was captured.
 */
#include "dissect_int.h"

enum {
    ETHERTYPE_VLAN = 0x8100,       /* 802.1Q */
    ETHERTYPE_QINQ = 0x88a8,       /* 802.1ad service tag */
    ETHERTYPE_QINQ_OLD = 0x9100,   /* pre-standard QinQ */
    ETHERTYPE_PPPOE = 0x8864,      /* PPPoE session stage */
    ETHERTYPE_PBB = 0x88e7,        /* 802.1ah I-tag */
    ETHERTYPE_VNTAG = 0x8926,      /* Cisco VN-Tag */
    ETHERTYPE_ETAG = 0x893f,       /* 802.1BR E-tag */
    ETHERTYPE_FABRICPATH = 0x8903, /* Cisco FabricPath */
    ETHERTYPE_MIN = 0x0600,        /* below: an 802.3 length, LLC follows */

    ETH_HDR_LEN = 14,
    ETH_ADDRS_LEN = 12,
    VLAN_TAG_LEN = 4,
    PBB_ITAG_LEN = 4,
    VNTAG_LEN = 4,
    ETAG_LEN = 6,
    FABRICPATH_LEN = 2, /* FTag and TTL after the EtherType, then a whole frame */
    SLL_HDR_LEN = 16,
    SLL2_HDR_LEN = 20,
    NULL_HDR_LEN = 4,
    PPPOE_HDR_LEN = 6,
    SNAP_HDR_LEN = 8,
    FDDI_HDR_LEN = 13,
    CHDLC_HDR_LEN = 4,
    IPOIB_HDR_LEN = 44, /* as tcpdump's print-ipoib.c: addresses (40), type, reserved */
    IPOIB_TYPE_AT = 40,
    NFLOG_HDR_LEN = 4,
    NFLOG_TLV_LEN = 4,
    NFULA_PAYLOAD = 9,

    LLC_SAP_SNAP = 0xaa,
    LLC_UI = 0x03,
    PPPOE_VER_TYPE = 0x11,
    PPP_ADDRESS = 0xff,
    PPP_CONTROL = 0x03,
    PPP_IPV4 = 0x0021,
    PPP_IPV6 = 0x0057,
    PPP_MPLS = 0x0281,
    CHDLC_UNICAST = 0x0f,
    CHDLC_MULTICAST = 0x8f,

    JUNIPER_MAGIC = 0x4d4743, /* "MGC" */
    JUNIPER_FLAG_EXT = 0x80,  /* extension TLVs follow, their length given */
    JUNIPER_FLAG_NO_L2 = 0x02,

    /* BSD address families as DLT_NULL / DLT_LOOP carry them. */
    BSD_AF_INET = 2,
    BSD_AF_INET6_LINUX = 10,
    BSD_AF_INET6_BSD = 24, /* NetBSD, OpenBSD, BSD/OS */
    BSD_AF_INET6_FREEBSD = 28,
    BSD_AF_INET6_DARWIN = 30,
};

/* IP by the version nibble at c (what follows announced IP). */
static dissect_result ip_by_version(const cursor *c, uint8_t *ipver)
{
    uint8_t vhl = 0;

    if (!cursor_get_u8(c, 0, &vhl))
        return DISSECT_TRUNCATED;
    if (vhl >> 4 != 4 && vhl >> 4 != 6)
        return DISSECT_MALFORMED; /* the link layer promised IP */
    *ipver = vhl >> 4;
    return DISSECT_OK;
}

/* A PPP protocol number: IP, or MPLS. */
static dissect_result ppp_protocol(dctx *x, cursor *c, uint16_t proto, uint8_t *ipver)
{
    switch (proto) {
    case PPP_IPV4:
        *ipver = 4;
        return DISSECT_OK;
    case PPP_IPV6:
        *ipver = 6;
        return DISSECT_OK;
    case PPP_MPLS:
        return dissect_mpls(x, c, ipver);
    default:
        return DISSECT_NOT_IP; /* LCP, IPCP, CCP, ... */
    }
}

/* The PPP protocol field: one byte when it is odd (protocol-field
 * compression, RFC 1661 6.5), else two. */
static dissect_result ppp_field(dctx *x, cursor *c, uint8_t *ipver)
{
    uint8_t b = 0;
    uint16_t proto = 0;

    if (!cursor_get_u8(c, 0, &b))
        return DISSECT_TRUNCATED;
    if (b & 1) {
        proto = b;
        (void)cursor_skip(c, 1);
    } else {
        if (!cursor_get_be16(c, 0, &proto))
            return DISSECT_TRUNCATED;
        (void)cursor_skip(c, 2);
    }
    return ppp_protocol(x, c, proto, ipver);
}

dissect_result dissect_ppp(dctx *x, cursor *c, uint8_t *ipver)
{
    uint8_t a = 0, ctl = 0;

    /* Address and control are omitted when compressed (RFC 1661 6.6). */
    if (cursor_get_u8(c, 0, &a) && a == PPP_ADDRESS && cursor_get_u8(c, 1, &ctl) &&
        ctl == PPP_CONTROL)
        (void)cursor_skip(c, 2);
    return ppp_field(x, c, ipver);
}

/* PPPoE session header, then the PPP protocol field. */
static dissect_result dissect_pppoe(dctx *x, cursor *c, uint8_t *ipver)
{
    uint8_t ver_type = 0;

    dctx_saw(x, DISSECT_ENC_PPPOE);
    if (!cursor_get_u8(c, 0, &ver_type) || !cursor_skip(c, PPPOE_HDR_LEN))
        return DISSECT_TRUNCATED;
    if (ver_type != PPPOE_VER_TYPE)
        return DISSECT_NOT_IP;
    return ppp_field(x, c, ipver);
}

/* 802.2 LLC: only SNAP (AA AA 03, an OUI, an EtherType) can carry IP here;
 * *type receives the EtherType. */
static dissect_result llc_snap(dctx *x, cursor *c, uint16_t *type)
{
    uint8_t dsap = 0, ssap = 0, ctl = 0;

    dctx_saw(x, DISSECT_ENC_LLC);
    if (!cursor_get_u8(c, 0, &dsap) || !cursor_get_u8(c, 1, &ssap) || !cursor_get_u8(c, 2, &ctl))
        return DISSECT_TRUNCATED;
    if (dsap != LLC_SAP_SNAP || ssap != LLC_SAP_SNAP || ctl != LLC_UI)
        return DISSECT_NOT_IP; /* STP, CDP's own SAPs, NetBIOS, ... */
    if (!cursor_get_be16(c, 6, type))
        return DISSECT_TRUNCATED;
    (void)cursor_skip(c, SNAP_HDR_LEN);
    return DISSECT_OK;
}

/* How far the header of an EtherType that encloses another reaches, and
 * where that EtherType sits in it; 0: not such a header. */
static size_t enclosing(uint16_t type, size_t *type_at, dissect_encap *enc)
{
    switch (type) {
    case ETHERTYPE_VLAN:
    case ETHERTYPE_QINQ:
    case ETHERTYPE_QINQ_OLD:
        *enc = DISSECT_ENC_VLAN;
        *type_at = VLAN_TAG_LEN - 2; /* TCI, then the enclosed EtherType */
        return VLAN_TAG_LEN;
    case ETHERTYPE_PBB: /* I-tag, then the customer's addresses */
        *enc = DISSECT_ENC_PBB;
        *type_at = PBB_ITAG_LEN + ETH_ADDRS_LEN;
        return *type_at + 2;
    case ETHERTYPE_VNTAG:
        *enc = DISSECT_ENC_VNTAG;
        *type_at = VNTAG_LEN;
        return VNTAG_LEN + 2;
    case ETHERTYPE_ETAG:
        *enc = DISSECT_ENC_ETAG;
        *type_at = ETAG_LEN;
        return ETAG_LEN + 2;
    case ETHERTYPE_FABRICPATH: /* FTag/TTL, then the classical frame */
        *enc = DISSECT_ENC_FABRICPATH;
        *type_at = FABRICPATH_LEN + ETH_ADDRS_LEN;
        return *type_at + 2;
    default:
        return 0;
    }
}

dissect_result dissect_ethertype(dctx *x, cursor *c, uint16_t type, uint8_t *ipver)
{
    for (;;) {
        size_t type_at = 0, len;
        dissect_encap enc = DISSECT_ENC_VLAN;
        dissect_result r;

        switch (type) {
        case ETHERTYPE_IPV4:
            *ipver = 4;
            return DISSECT_OK;
        case ETHERTYPE_IPV6:
            *ipver = 6;
            return DISSECT_OK;
        case ETHERTYPE_PPPOE:
            return dissect_pppoe(x, c, ipver);
        case ETHERTYPE_MPLS:
        case ETHERTYPE_MPLS_MC:
            return dissect_mpls(x, c, ipver);
        default:
            break;
        }
        if (type < ETHERTYPE_MIN) { /* an 802.3 length: LLC */
            if ((r = llc_snap(x, c, &type)) != DISSECT_OK)
                return r;
            continue;
        }
        if ((len = enclosing(type, &type_at, &enc)) == 0)
            return DISSECT_NOT_IP; /* ARP, LLDP, ... */
        dctx_saw(x, enc);
        if (!cursor_get_be16(c, type_at, &type))
            return DISSECT_TRUNCATED;
        (void)cursor_skip(c, len);
    }
}

/* IP straight after the EtherType, the common case, without a call. */
static inline dissect_result ethertype_ip_first(dctx *x, cursor *c, uint16_t type, uint8_t *ipver)
{
    if (type == ETHERTYPE_IPV4 || type == ETHERTYPE_IPV6) {
        *ipver = type == ETHERTYPE_IPV4 ? 4 : 6;
        return DISSECT_OK;
    }
    return dissect_ethertype(x, c, type, ipver);
}

dissect_result dissect_ethernet(dctx *x, cursor *c, uint8_t *ipver)
{
    uint16_t type = 0;

    if (!cursor_get_be16(c, ETH_ADDRS_LEN, &type))
        return DISSECT_TRUNCATED;
    (void)cursor_skip(c, ETH_HDR_LEN);
    return ethertype_ip_first(x, c, type, ipver);
}

/* ---- 802.11 -------------------------------------------------------------- */

enum {
    WLAN_HDR_LEN = 24,
    WLAN_ADDR4_LEN = 6,
    WLAN_QOS_LEN = 2,
    WLAN_HTC_LEN = 4,
    WLAN_TYPE_DATA = 2,
    WLAN_FC_TODS = 0x01,
    WLAN_FC_FROMDS = 0x02,
    WLAN_FC_PROTECTED = 0x40,
    WLAN_FC_ORDER = 0x80,
    WLAN_SUBTYPE_NODATA = 0x4,
    WLAN_SUBTYPE_QOS = 0x8,
    WLAN_QOS_AMSDU = 0x80,
};

/* pad4: the header was padded to a multiple of 4 bytes (radiotap's flag). */
static dissect_result wlan_frame(dctx *x, cursor *c, uint8_t *ipver, int pad4)
{
    uint8_t fc0 = 0, fc1 = 0, qos = 0;
    uint16_t type = 0;

    if (!cursor_get_u8(c, 0, &fc0) || !cursor_get_u8(c, 1, &fc1))
        return DISSECT_TRUNCATED;
    unsigned ftype = (fc0 >> 2) & 3, subtype = fc0 >> 4;
    if (ftype != WLAN_TYPE_DATA || (subtype & WLAN_SUBTYPE_NODATA))
        return DISSECT_NOT_IP; /* management, control, null data */
    if (fc1 & WLAN_FC_PROTECTED)
        return DISSECT_NOT_IP; /* encrypted: nothing to read */
    size_t len = WLAN_HDR_LEN;
    if ((fc1 & (WLAN_FC_TODS | WLAN_FC_FROMDS)) == (WLAN_FC_TODS | WLAN_FC_FROMDS))
        len += WLAN_ADDR4_LEN;
    if (subtype & WLAN_SUBTYPE_QOS) {
        if (!cursor_get_u8(c, len, &qos))
            return DISSECT_TRUNCATED;
        if (qos & WLAN_QOS_AMSDU)
            return DISSECT_NOT_IP; /* aggregated subframes: not followed */
        len += WLAN_QOS_LEN;
        if (fc1 & WLAN_FC_ORDER)
            len += WLAN_HTC_LEN;
    }
    if (pad4)
        len = (len + 3) & ~(size_t)3;
    if (!cursor_skip(c, len))
        return DISSECT_TRUNCATED;
    dissect_result r = llc_snap(x, c, &type);
    return r != DISSECT_OK ? r : dissect_ethertype(x, c, type, ipver);
}

dissect_result dissect_80211(dctx *x, cursor *c, uint8_t *ipver)
{
    return wlan_frame(x, c, ipver, 0);
}

enum {
    RADIOTAP_MIN_LEN = 8,
    RADIOTAP_EXT_BIT = 31,
    RADIOTAP_TSFT = 1u << 0,
    RADIOTAP_FLAGS = 1u << 1,
    RADIOTAP_F_DATAPAD = 0x20, /* padding between the 802.11 header and the payload */
};

/* Radiotap (its length given, little-endian), then 802.11. Its Flags field
 * (after the TSFT, 8-aligned) may say the header was padded to 4 bytes. */
static dissect_result dissect_radiotap(dctx *x, cursor *c, uint8_t *ipver)
{
    uint8_t lo = 0, hi = 0, flags = 0;
    uint32_t present = 0, word = 0;

    if (!cursor_get_u8(c, 2, &lo) || !cursor_get_u8(c, 3, &hi) || !cursor_get_le32(c, 4, &present))
        return DISSECT_TRUNCATED;
    size_t len = (size_t)lo | (size_t)hi << 8, off = RADIOTAP_MIN_LEN;
    if (len < RADIOTAP_MIN_LEN)
        return DISSECT_MALFORMED;
    for (word = present; (word >> RADIOTAP_EXT_BIT) & 1; off += 4) /* further presence words */
        if (!cursor_get_le32(c, off, &word))
            return DISSECT_TRUNCATED;
    if (present & RADIOTAP_FLAGS) {
        if (present & RADIOTAP_TSFT)
            off = ((off + 7) & ~(size_t)7) + 8;
        if (off < len)
            (void)cursor_get_u8(c, off, &flags);
    }
    if (!cursor_skip(c, len))
        return DISSECT_TRUNCATED;
    return wlan_frame(x, c, ipver, (flags & RADIOTAP_F_DATAPAD) != 0);
}

/* ---- link types ------------------------------------------------------------ */

/* A header of `len` bytes with an EtherType at `type_at`: Linux cooked v1
 * (packet type, ARPHRD, address length, 8-byte address, protocol) and v2
 * (the protocol first), Cisco HDLC (address, control, EtherType), IP over
 * InfiniBand (LINKTYPE_IPOIB: link addresses, then RFC 4391's EtherType
 * and two reserved bytes). */
static dissect_result ethertype_header(dctx *x, cursor *c, size_t type_at, size_t len,
                                       uint8_t *ipver)
{
    uint16_t type = 0;

    if (!cursor_get_be16(c, type_at, &type) || !cursor_skip(c, len))
        return DISSECT_TRUNCATED;
    return ethertype_ip_first(x, c, type, ipver);
}

/* A BSD address family; IPv6 has a different number on every BSD. */
static dissect_result bsd_af(uint32_t af, uint8_t *ipver)
{
    switch (af) {
    case BSD_AF_INET:
        *ipver = 4;
        return DISSECT_OK;
    case BSD_AF_INET6_LINUX:
    case BSD_AF_INET6_BSD:
    case BSD_AF_INET6_FREEBSD:
    case BSD_AF_INET6_DARWIN:
        *ipver = 6;
        return DISSECT_OK;
    default:
        return DISSECT_NOT_IP;
    }
}

/* DLT_NULL: the AF in the capturing machine's byte order, which the file
 * does not record. Families are small numbers, so a value with any of the
 * upper 16 bits set was written by the other byte order. DLT_LOOP: the
 * same AF, always in network byte order. */
static dissect_result dissect_null(cursor *c, uint8_t *ipver, int network_order)
{
    uint32_t af = 0;

    if (!cursor_get_be32(c, 0, &af))
        return DISSECT_TRUNCATED;
    if (!network_order && (af & 0xffff0000u) != 0)
        (void)cursor_get_le32(c, 0, &af);
    (void)cursor_skip(c, NULL_HDR_LEN);
    return bsd_af(af, ipver);
}

/* PPP in HDLC-like framing; Cisco HDLC frames share the link type. */
static dissect_result dissect_ppp_hdlc(dctx *x, cursor *c, uint8_t *ipver)
{
    uint8_t a = 0;

    if (!cursor_get_u8(c, 0, &a))
        return DISSECT_TRUNCATED;
    if (a == CHDLC_UNICAST || a == CHDLC_MULTICAST)
        return ethertype_header(x, c, 2, CHDLC_HDR_LEN, ipver);
    return dissect_ppp(x, c, ipver);
}

/* FDDI: frame control, two addresses, then LLC. */
static dissect_result dissect_fddi(dctx *x, cursor *c, uint8_t *ipver)
{
    uint16_t type = 0;

    if (!cursor_skip(c, FDDI_HDR_LEN))
        return DISSECT_TRUNCATED;
    dissect_result r = llc_snap(x, c, &type);
    return r != DISSECT_OK ? r : dissect_ethertype(x, c, type, ipver);
}

/* Linux NFLOG: family, version, group, then TLVs (length and type in the
 * capturing host's byte order, the length counting the TLV's own 4 bytes,
 * padded to 4) until the payload one, an IP packet. */
static dissect_result dissect_nflog(cursor *c, uint8_t *ipver)
{
    if (!cursor_skip(c, NFLOG_HDR_LEN))
        return DISSECT_TRUNCATED;
    for (;;) {
        uint8_t b[4] = {0};
        if (!cursor_get_bytes(c, 0, b, 4))
            return DISSECT_TRUNCATED;
        /* Types are small numbers: a big-endian host's has its zero byte first. */
        int be = b[2] == 0 && b[3] != 0;
        uint16_t len = (uint16_t)(be ? b[0] << 8 | b[1] : b[1] << 8 | b[0]);
        uint16_t type = (uint16_t)(be ? b[2] << 8 | b[3] : b[3] << 8 | b[2]);
        if (len < NFLOG_TLV_LEN)
            return DISSECT_MALFORMED;
        if ((type & 0x7fff) == NFULA_PAYLOAD) {
            (void)cursor_skip(c, NFLOG_TLV_LEN);
            cursor_limit(c, len - NFLOG_TLV_LEN);
            return ip_by_version(c, ipver);
        }
        if (!cursor_skip(c, ((size_t)len + 3) & ~(size_t)3))
            return DISSECT_TRUNCATED;
    }
}

/* Juniper's header: "MGC", flags, and with JUNIPER_FLAG_EXT the length of
 * the extensions that follow; then an Ethernet frame, or with NO_L2 a
 * 4-byte protocol word and IP. */
static dissect_result dissect_juniper_ether(dctx *x, cursor *c, uint8_t *ipver)
{
    uint32_t magic_flags = 0;
    uint16_t ext_len = 0;

    if (!cursor_get_be32(c, 0, &magic_flags))
        return DISSECT_TRUNCATED;
    if (magic_flags >> 8 != JUNIPER_MAGIC)
        return DISSECT_MALFORMED;
    size_t len = 4;
    if (magic_flags & JUNIPER_FLAG_EXT) {
        if (!cursor_get_be16(c, 4, &ext_len))
            return DISSECT_TRUNCATED;
        len += 2 + (size_t)ext_len;
    }
    if (magic_flags & JUNIPER_FLAG_NO_L2)
        len += 4;
    if (!cursor_skip(c, len))
        return DISSECT_TRUNCATED;
    if (magic_flags & JUNIPER_FLAG_NO_L2)
        return ip_by_version(c, ipver);
    return dissect_ethernet(x, c, ipver);
}

dissect_result dissect_link(dctx *x, uint32_t linktype, cursor *c, uint8_t *ipver)
{
    switch (linktype) {
    case DISSECT_LINK_NULL:
        return dissect_null(c, ipver, 0);
    case DISSECT_LINK_LOOP:
        return dissect_null(c, ipver, 1);
    case DISSECT_LINK_ETHERNET:
        return dissect_ethernet(x, c, ipver);
    case DISSECT_LINK_RAW_DLT:
    case DISSECT_LINK_RAW_DLT14:
    case DISSECT_LINK_RAW:
        return ip_by_version(c, ipver);
    case DISSECT_LINK_LINUX_SLL:
        return ethertype_header(x, c, 14, SLL_HDR_LEN, ipver);
    case DISSECT_LINK_IPV4:
        *ipver = 4;
        return DISSECT_OK;
    case DISSECT_LINK_IPV6:
        *ipver = 6;
        return DISSECT_OK;
    case DISSECT_LINK_LINUX_SLL2:
        return ethertype_header(x, c, 0, SLL2_HDR_LEN, ipver);
    case DISSECT_LINK_PPP:
        return dissect_ppp(x, c, ipver);
    case DISSECT_LINK_PPP_HDLC:
        return dissect_ppp_hdlc(x, c, ipver);
    case DISSECT_LINK_C_HDLC:
        return ethertype_header(x, c, 2, CHDLC_HDR_LEN, ipver);
    case DISSECT_LINK_FDDI:
        return dissect_fddi(x, c, ipver);
    case DISSECT_LINK_IEEE802_11:
        return dissect_80211(x, c, ipver);
    case DISSECT_LINK_RADIOTAP:
        return dissect_radiotap(x, c, ipver);
    case DISSECT_LINK_NFLOG:
        return dissect_nflog(c, ipver);
    case DISSECT_LINK_IPOIB:
        return ethertype_header(x, c, IPOIB_TYPE_AT, IPOIB_HDR_LEN, ipver);
    case DISSECT_LINK_JUNIPER_ETHER:
        return dissect_juniper_ether(x, c, ipver);
    default:
        return DISSECT_UNSUPPORTED_LINK;
    }
}
