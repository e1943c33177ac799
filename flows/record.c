/*
 * record.c: an instance's row (SPEC §3: the classification of what the
 * state machine left in the instance) and the names of the values.
 */
#include <string.h>

#include "flows_int.h"

/* ---- names ------------------------------------------------------------ */

static const char *const state_names[CONN_STATE_COUNT] = {
    "CLOSED",    "LISTEN",  "SYN_SENT",  "SYN_RCVD",   "ESTABLISHED", "FIN_WAIT1",
    "FIN_WAIT2", "CLOSING", "TIME_WAIT", "CLOSE_WAIT", "LAST_ACK"};

const char *conn_state_name(conn_state s)
{
    return (unsigned)s < CONN_STATE_COUNT ? state_names[s] : "?";
}

const char *conn_role_by_name(conn_role_by r)
{
    static const char *const n[ROLE_BY_COUNT] = {"syn", "synack", "port", "listener"};
    return (unsigned)r < ROLE_BY_COUNT ? n[r] : "?";
}

const char *conn_handshake_name(conn_handshake h)
{
    static const char *const n[HS_COUNT] = {"complete", "syn_only",          "no_ack",
                                            "refused",  "simultaneous_open", "midstream"};
    return (unsigned)h < HS_COUNT ? n[h] : "?";
}

const char *conn_side_name(conn_side s)
{
    static const char *const n[SIDE_COUNT] = {"none", "client", "server", "both"};
    return (unsigned)s < SIDE_COUNT ? n[s] : "?";
}

const char *conn_close_type_name(conn_close_type c)
{
    static const char *const n[CLOSE_TYPE_COUNT] = {"none", "fin", "rst"};
    return (unsigned)c < CLOSE_TYPE_COUNT ? n[c] : "?";
}

const char *conn_tw_reason_name(conn_tw_reason r)
{
    static const char *const n[TW_REASON_COUNT] = {"",      "expired", "reused", "capture_end",
                                                   "reset", "evicted"};
    return (unsigned)r < TW_REASON_COUNT ? n[r] : "?";
}

const char *conn_anomaly_name(unsigned bit_index)
{
    static const char *const n[ANOM_COUNT] = {
        "rst_out_of_window", "rst_ttl_changed", "data_after_fin",
        "syn_with_data",     "idle_timeout",    "evicted",
        "rst_challenged",    "aborted_on_data", "accept_queue_overflow"};
    return bit_index < ANOM_COUNT ? n[bit_index] : "?";
}

const char *conn_zeek_state_name(conn_zeek_state z)
{
    static const char *const n[ZEEK_STATE_COUNT] = {
        "S0", "S1", "SF", "REJ", "S2", "S3", "RSTO", "RSTR", "RSTOS0", "RSTRH", "SH", "SHR", "OTH"};
    return (unsigned)z < ZEEK_STATE_COUNT ? n[z] : "?";
}

/* ---- the row ---------------------------------------------------------- */

static conn_handshake classify_handshake(const conn *c)
{
    if (c->hs & HSF_SIMUL)
        return HS_SIMULTANEOUS_OPEN;
    if (!(c->hs & HSF_SYN))
        return HS_MIDSTREAM;
    if (c->hs & HSF_ACK)
        return HS_COMPLETE;
    if (c->hs & HSF_REFUSED)
        return HS_REFUSED;
    if (c->hs & HSF_SYNACK)
        return HS_NO_ACK;
    return HS_SYN_ONLY;
}

/* The appended columns' times (issue 13), from their offsets. */
static void fill_times(const conn *c, const conn_cold *cc, conn_record *r)
{
    r->established_ts =
        r->handshake == HS_COMPLETE ? cc->first_ts + span_unpack(cc->established) : -1;
    int64_t fin[2];
    for (int i = 0; i < 2; i++)
        fin[i] = (c->ep[i].flags & EP_FIN_SENT) ? cc->first_ts + span_unpack(cc->fin_at[i]) : -1;
    r->client_fin_ts = fin[CLIENT];
    r->server_fin_ts = fin[SERVER];
    r->keepalives = cc->keepalives;
    r->max_idle = cc->max_idle ? span_unpack(cc->max_idle) : -1;
    r->fin_wait2_side = cc->fw2_who == 1 + CLIENT   ? SIDE_CLIENT
                        : cc->fw2_who == 1 + SERVER ? SIDE_SERVER
                                                    : SIDE_NONE;
    r->end_ts = c->last_ts;
}

void record_fill(const flows_table *t, const conn *c, conn_record *r)
{
    const flow_key *k = &c->key;
    const conn_cold *cc = cold(t, c);
    memset(r, 0, sizeof(*r));
    r->conn_id = cc->id;
    r->first_ts = cc->first_ts;
    r->last_ts = c->last_ts;
    r->ip_version = key_ip_version(k);
    memcpy(r->client_ip, c->client_is_a ? &k->w[0] : &k->w[2], 16);
    memcpy(r->server_ip, c->client_is_a ? &k->w[2] : &k->w[0], 16);
    r->client_port = c->client_is_a ? key_port_a(k) : key_port_b(k);
    r->server_port = c->client_is_a ? key_port_b(k) : key_port_a(k);
    r->role_by = (conn_role_by)c->role_by;
    r->handshake = classify_handshake(c);
    r->syn_retransmits = cc->syn_retransmits;
    r->synack_retransmits = cc->synack_retransmits;
    r->handshake_rtt = r->handshake == HS_COMPLETE ? cc->hs_time : -1;
    r->close_initiator = (conn_side)cc->close_initiator;
    r->close_type = (conn_close_type)cc->close_type;
    r->closing =
        (uint8_t)(!!(c->ep[CLIENT].flags & EP_CLOSING) + !!(c->ep[SERVER].flags & EP_CLOSING));
    int tw_c = !!(c->ep[CLIENT].flags & EP_TW), tw_s = !!(c->ep[SERVER].flags & EP_TW);
    r->time_wait_side = tw_c && tw_s ? SIDE_BOTH
                        : tw_c       ? SIDE_CLIENT
                        : tw_s       ? SIDE_SERVER
                                     : SIDE_NONE;
    if (r->time_wait_side != SIDE_NONE) {
        int first = 1;
        for (int i = 0; i < 2; i++) {
            const endpoint *e = &c->ep[i];
            if (!(e->flags & EP_TW))
                continue;
            if (first || cc->tw_start[i] < r->time_wait_start)
                r->time_wait_start = cc->tw_start[i];
            /* The last endpoint to leave decides end and reason. */
            if (first || cc->tw_deadline[i] >= r->time_wait_end) {
                r->time_wait_end = cc->tw_deadline[i];
                r->time_wait_end_reason = (conn_tw_reason)e->tw_reason;
            }
            first = 0;
        }
    }
    r->client_state = (conn_state)c->ep[CLIENT].state;
    r->server_state = (conn_state)c->ep[SERVER].state;
    r->packets_c2s = c->packets[CLIENT];
    r->packets_s2c = c->packets[SERVER];
    r->bytes_c2s = c->bytes[CLIENT];
    r->bytes_s2c = c->bytes[SERVER];
    r->fin_retransmits = cc->fin_retransmits;
    r->anomalies = c->anomalies;
    fill_times(c, cc, r);
    history_fill(t, c, r);
    r->tunnel = tunnels_text(t->tunnels, key_tunnel(k));
}

void record_first_ts(const flows_table *t, const conn *c, int64_t ts)
{
    conn_cold *k = cold(t, c);
    int64_t back = k->first_ts - ts; /* > 0 */
    if (c->hs & HSF_ACK)
        k->established = span_pack(span_unpack(k->established) + back);
    for (int i = 0; i < 2; i++)
        if (c->ep[i].flags & EP_FIN_SENT)
            k->fin_at[i] = span_pack(span_unpack(k->fin_at[i]) + back);
    k->first_ts = ts;
}
