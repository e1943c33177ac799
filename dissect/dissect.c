#include "dissect.h"
const char *dissect_result_name(dissect_result r) { (void)r; return "ok"; }
dissect_result dissect_packet(uint32_t linktype, const uint8_t *data, uint32_t caplen,
                              uint32_t wirelen, dissect_segment *seg)
{ (void)linktype; (void)data; (void)caplen; (void)wirelen; (void)seg; return DISSECT_UNSUPPORTED_LINK; }
int dissect_link_supported(uint32_t linktype) { (void)linktype; return 0; }
