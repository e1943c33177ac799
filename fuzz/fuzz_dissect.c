/*
 * fuzz_dissect: dissect_packet_ex() on one packet of any link type.
 *
 * Input layout:
 *   byte 0      bits 0-6: link type, an index into `links` (every supported
 *               one, plus one synfin does not know); bit 7: tunnels off
 *               (dissect_packet), else on (dissect_packet_ex)
 *   bytes 1-2   wirelen: 0 = caplen; bit 15 set = caplen minus the low 15
 *               bits (a caller's slip: wirelen < caplen); else caplen plus
 *               (value - 1) * 64, and 0x7fff = UINT32_MAX
 *   byte 3      where a second, shorter capture of the same packet ends
 *               (byte / 255 of the packet)
 *   the rest    the packet as captured (caplen = its length)
 *
 * Invariants checked besides memory safety (ASan) and UB (UBSan):
 *   - the result is a known dissect_result; UNSUPPORTED_LINK exactly for
 *     link types dissect_link_supported() rejects;
 *   - a segment has IP version 4 or 6 and flags within 9 bits;
 *   - dissecting is deterministic;
 *   - capturing fewer bytes of the same packet cannot produce a different
 *     TCP header: if the shorter capture is a segment, so is the whole one,
 *     with the same addresses, ports, numbers, flags and payload length;
 *   - encapsulation bits only of known ones; with tunnels on, a segment's
 *     tunnel is the caller's, 1 to DISSECT_MAX_TUNNELS layers of known
 *     kinds, and a packet that is a segment with tunnels off is the same
 *     segment with them on.
 */
#include "fuzz.h"

#include <stddef.h>
#include <string.h>

#include "dissect.h"

static const uint32_t links[] = {
    DISSECT_LINK_NULL,
    DISSECT_LINK_ETHERNET,
    DISSECT_LINK_RAW_DLT,
    DISSECT_LINK_RAW_DLT14,
    DISSECT_LINK_RAW,
    DISSECT_LINK_LOOP,
    DISSECT_LINK_LINUX_SLL,
    DISSECT_LINK_IPV4,
    DISSECT_LINK_IPV6,
    DISSECT_LINK_LINUX_SLL2,
    147 /* LINKTYPE_USER0 */,
    /* issue 16, appended so that the older seeds keep their link types */
    DISSECT_LINK_PPP,
    DISSECT_LINK_PPP_HDLC,
    DISSECT_LINK_C_HDLC,
    DISSECT_LINK_FDDI,
    DISSECT_LINK_IEEE802_11,
    DISSECT_LINK_RADIOTAP,
    DISSECT_LINK_NFLOG,
    DISSECT_LINK_IPOIB,
    DISSECT_LINK_JUNIPER_ETHER,
};
#define N_LINKS (sizeof(links) / sizeof(links[0]))

static dissect_tunnel tun_buf;
static int tunnels_on;

/* Runs the dissector on an exactly sized heap copy of the first len bytes. */
static dissect_result run(uint32_t lt, const uint8_t *pkt, uint32_t len, uint32_t wirelen,
                          dissect_segment *seg)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        abort();
    memcpy(copy, pkt, len);
    dissect_result r = dissect_packet_ex(lt, copy, len, wirelen, seg, tunnels_on ? &tun_buf : NULL);
    free(copy);
    FUZZ_CHECK((seg->encaps >> DISSECT_ENC_COUNT) == 0, "encaps %#x", seg->encaps);
    if (r == DISSECT_OK && seg->tunnel) {
        FUZZ_CHECK(tunnels_on && seg->tunnel == &tun_buf, "a tunnel not asked for");
        FUZZ_CHECK(tun_buf.depth >= 1 && tun_buf.depth <= DISSECT_MAX_TUNNELS, "depth %u",
                   tun_buf.depth);
        for (unsigned i = 0; i < tun_buf.depth; i++)
            FUZZ_CHECK(tun_buf.layer[i].kind >= DISSECT_ENC_MPLS &&
                           tun_buf.layer[i].kind < DISSECT_ENC_COUNT,
                       "layer kind %u", tun_buf.layer[i].kind);
    }
    return r;
}

static int same_header(const dissect_segment *a, const dissect_segment *b)
{
    return memcmp(a->src, b->src, 16) == 0 && memcmp(a->dst, b->dst, 16) == 0 &&
           a->ip_version == b->ip_version && a->ttl == b->ttl && a->ip_id == b->ip_id &&
           a->sport == b->sport && a->dport == b->dport && a->seq == b->seq && a->ack == b->ack &&
           a->flags == b->flags && a->window == b->window && a->payload_len == b->payload_len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4 || size - 4 > UINT32_MAX)
        return 0;
    uint32_t lt = links[(data[0] & 0x7f) % N_LINKS];
    tunnels_on = !(data[0] & 0x80);
    unsigned w = (unsigned)data[1] | (unsigned)data[2] << 8;
    unsigned cut_frac = data[3];
    const uint8_t *pkt = data + 4;
    uint32_t caplen = (uint32_t)(size - 4);

    uint32_t wirelen;
    if (w == 0)
        wirelen = caplen;
    else if (w & 0x8000)
        wirelen = (w & 0x7fff) >= caplen ? 0 : caplen - (w & 0x7fff);
    else if (w == 0x7fff)
        wirelen = UINT32_MAX;
    else
        wirelen = caplen + (uint32_t)(w - 1) * 64u;
    if (wirelen < caplen && !(w & 0x8000))
        wirelen = UINT32_MAX; /* caplen + ... wrapped */

    dissect_segment s1, s2;
    dissect_result r1 = run(lt, pkt, caplen, wirelen, &s1);
    FUZZ_CHECK((unsigned)r1 < DISSECT_RESULT_COUNT, "result %d", (int)r1);
    FUZZ_CHECK((r1 == DISSECT_UNSUPPORTED_LINK) == !dissect_link_supported(lt),
               "link type %u gave %s", lt, dissect_result_name(r1));
    if (r1 == DISSECT_OK) {
        FUZZ_CHECK(s1.ip_version == 4 || s1.ip_version == 6, "ip_version %u", s1.ip_version);
        FUZZ_CHECK(s1.flags <= 0x1ff, "flags %#x", s1.flags);
    }

    dissect_result r2 = run(lt, pkt, caplen, wirelen, &s2);
    /* Field by field up to the padding before `tunnel`, which is not zeroed. */
    FUZZ_CHECK(r1 == r2 &&
                   (r1 != DISSECT_OK || (memcmp(&s1, &s2, offsetof(dissect_segment, encaps)) == 0 &&
                                         s1.encaps == s2.encaps && s1.tunnel == s2.tunnel)),
               "not deterministic");
    if (!tunnels_on && r1 == DISSECT_OK) { /* tunnels on find it too */
        tunnels_on = 1;
        dissect_result rt = run(lt, pkt, caplen, wirelen, &s2);
        FUZZ_CHECK(rt == DISSECT_OK && same_header(&s1, &s2), "tunnels on: %s",
                   dissect_result_name(rt));
        tunnels_on = 0;
    }

    /* The same packet, fewer bytes captured (wire length unchanged). */
    uint32_t wire = wirelen > caplen ? wirelen : caplen;
    uint32_t shorter = (uint32_t)((uint64_t)caplen * cut_frac / 255u);
    if (shorter < caplen) {
        dissect_result r3 = run(lt, pkt, shorter, wire, &s2);
        dissect_result rw = run(lt, pkt, caplen, wire, &s1);
        if (r3 == DISSECT_OK) {
            FUZZ_CHECK(rw == DISSECT_OK, "%u bytes give a segment, %u bytes give %s", shorter,
                       caplen, dissect_result_name(rw));
            FUZZ_CHECK(same_header(&s1, &s2), "%u and %u captured bytes disagree", shorter, caplen);
        }
    }
    return 0;
}
