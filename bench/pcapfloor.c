/*
 * pcapfloor: the floor for synfin's benchmark, a bare libpcap read loop.
 *
 * Reads a capture with pcap_next_ex and touches the TCP flags byte at the
 * fixed offset of an untagged Ethernet + 20-byte IPv4 header (byte 47),
 * counting SYN, FIN and RST there. The counts are only right for such
 * frames (tagged or IPv6 frames read some other byte); the point is that
 * every record is read and one byte of it used, as any analyzer must.
 * Prints the packet count on standard output.
 */
#include <pcap/pcap.h>
#include <stdio.h>

#define FLAGS_OFFSET (14 + 20 + 13)

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: pcapfloor FILE.pcap\n");
        return 2;
    }
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline(argv[1], err);
    if (!p) {
        fprintf(stderr, "pcapfloor: %s\n", err);
        return 1;
    }
    unsigned long long packets = 0, syn = 0, fin = 0, rst = 0;
    struct pcap_pkthdr *h;
    const u_char *data;
    int rc;
    while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
        packets++;
        if (h->caplen > FLAGS_OFFSET) {
            u_char f = data[FLAGS_OFFSET];
            syn += (f >> 1) & 1;
            fin += f & 1;
            rst += (f >> 2) & 1;
        }
    }
    if (rc == PCAP_ERROR)
        fprintf(stderr, "pcapfloor: %s\n", pcap_geterr(p));
    pcap_close(p);
    printf("%llu packets (at the IPv4 offset: %llu SYN, %llu FIN, %llu RST)\n", packets, syn, fin,
           rst);
    return rc == PCAP_ERROR;
}
