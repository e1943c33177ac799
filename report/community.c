/*
 * community.c: the Community ID of a connection (version 1 of the spec,
 * github.com/corelight/community-id-spec): SHA-1 over the seed (2 bytes,
 * network order), the two addresses, the protocol, a zero byte and the two
 * ports (network order), the endpoint with the lower address first (the
 * lower port on equal addresses), in base64 after "1:". SHA-1 and base64
 * are nettle's.
 */
#include "report.h"

#include <nettle/base64.h>
#include <nettle/sha1.h>
#include <string.h>

size_t report_community_id(char *out, uint16_t seed, uint8_t ip_version, const uint8_t *saddr,
                           uint16_t sport, const uint8_t *daddr, uint16_t dport)
{
    size_t alen = ip_version == 6 ? 16 : 4;
    flows_order_ends(ip_version, &saddr, &sport, &daddr, &dport);
    uint8_t buf[2 + 16 + 16 + 2 + 4], *p = buf;
    *p++ = (uint8_t)(seed >> 8);
    *p++ = (uint8_t)seed;
    memcpy(p, saddr, alen);
    p += alen;
    memcpy(p, daddr, alen);
    p += alen;
    *p++ = 6; /* TCP */
    *p++ = 0;
    *p++ = (uint8_t)(sport >> 8);
    *p++ = (uint8_t)sport;
    *p++ = (uint8_t)(dport >> 8);
    *p++ = (uint8_t)dport;
    struct sha1_ctx ctx;
    uint8_t digest[SHA1_DIGEST_SIZE];
    sha1_init(&ctx);
    sha1_update(&ctx, (size_t)(p - buf), buf);
    sha1_digest(&ctx, sizeof(digest), digest);
    out[0] = '1';
    out[1] = ':';
    base64_encode_raw(out + 2, sizeof(digest), digest);
    return 2 + BASE64_ENCODE_RAW_LENGTH(SHA1_DIGEST_SIZE);
}
