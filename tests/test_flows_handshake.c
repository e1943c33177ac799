/*
 * test_flows_handshake: the classes of the handshake column (complete, syn_only,
 * no_ack, refused, simultaneous_open, midstream), who is the client
 * (role_by: syn, synack, port), the handshake RTT and SYN/SYN-ACK
 * retransmissions, and a SYN carrying data.
 *
 * Written from ../shared/SPEC.md (not from flows.c); the simulated table,
 * the conversations and the soft checks are in flowsim.h. Every test gets
 * a fresh table from the fixture (sim_setup / sim_teardown) in *state.
 */
#include "flowsim.h"

static void test_complete_handshake_measures_rtt_from_syn_to_ack(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    int64_t t_syn = tx(&c, C, F_SYN, 0, 0);
    tx(&c, S, F_SA, 0, 10 * MS);
    int64_t t_ack = tx(&c, C, F_A, 0, 15 * MS);
    tx(&c, C, F_PA, 100, 1 * MS);
    tx(&c, S, F_PA, 2000, 20 * MS);
    int64_t t_last = tx(&c, C, F_A, 0, 1 * MS);
    assert_int_equal(s->nrec, 0); /* still open */
    finish_at(s, t_last);

    const conn_record *r = only(s);
    EXPECT_INT(r->conn_id, 1);
    EXPECT_INT(r->ip_version, 4);
    EXPECT_INT(memcmp(r->client_ip, c.addr[C], 16), 0);
    EXPECT_INT(memcmp(r->server_ip, c.addr[S], 16), 0);
    EXPECT_INT(r->client_port, 40000);
    EXPECT_INT(r->server_port, 80);
    EXPECT_ROLE(r, "syn");
    EXPECT_HS(r, "complete");
    EXPECT_DUR(r->handshake_rtt, t_ack - t_syn);
    EXPECT_DUR(r->handshake_rtt, 25 * MS);
    EXPECT_INT(r->syn_retransmits, 0);
    EXPECT_INT(r->synack_retransmits, 0);
    EXPECT_INITIATOR(r, "none");
    EXPECT_CLOSE(r, "none");
    EXPECT_INT(r->closing, 0);
    EXPECT_TW_SIDE(r, "none");
    EXPECT_TW_REASON(r, "");
    EXPECT_CSTATE(r, "ESTABLISHED");
    EXPECT_SSTATE(r, "ESTABLISHED");
    EXPECT_INT(r->packets_c2s, 4);
    EXPECT_INT(r->packets_s2c, 2);
    EXPECT_INT(r->bytes_c2s, 100);
    EXPECT_INT(r->bytes_s2c, 2000);
    EXPECT_INT(r->fin_retransmits, 0);
    EXPECT_ANOM(r, "");
    EXPECT_TS(r->first_ts, t_syn);
    EXPECT_TS(r->last_ts, t_last);
    done();
}

static void test_syn_only_counts_two_syn_retransmissions(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    tx(&c, C, F_SYN, 0, 0);
    tx(&c, C, F_SYN, 0, 1 * SEC); /* same ISN */
    tx(&c, C, F_SYN, 0, 2 * SEC);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_HS(r, "syn_only");
    EXPECT_ROLE(r, "syn");
    EXPECT_INT(r->syn_retransmits, 2);
    EXPECT_INT(r->synack_retransmits, 0);
    EXPECT_TRUE(r->handshake_rtt < 0);
    EXPECT_CSTATE(r, "SYN_SENT");
    EXPECT_INITIATOR(r, "none");
    EXPECT_CLOSE(r, "none");
    EXPECT_TW_SIDE(r, "none");
    EXPECT_INT(r->packets_c2s, 3);
    EXPECT_INT(r->packets_s2c, 0);
    EXPECT_INT(r->client_port, 40000);
    done();
}

static void test_no_ack_counts_synack_retransmission(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    tx(&c, C, F_SYN, 0, 0);
    tx(&c, S, F_SA, 0, 10 * MS);
    tx(&c, S, F_SA, 0, 1 * SEC); /* same ISN */
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_HS(r, "no_ack");
    EXPECT_INT(r->syn_retransmits, 0);
    EXPECT_INT(r->synack_retransmits, 1);
    EXPECT_TRUE(r->handshake_rtt < 0);
    /* SYN_SENT + SYN-ACK acking the SYN -> ESTABLISHED; the server waits. */
    EXPECT_CSTATE(r, "ESTABLISHED");
    EXPECT_SSTATE(r, "SYN_RCVD");
    EXPECT_INT(r->packets_c2s, 1);
    EXPECT_INT(r->packets_s2c, 2);
    EXPECT_TW_SIDE(r, "none");
    done();
}

static void test_refused_syn_answered_by_rst_ack(void **state)
{
    sim *s = *state;
    conv c;
    conv_init_ports(&c, s, 40000, 80, 1000000, 0);
    tx(&c, C, F_SYN, 0, 0);
    tx(&c, S, F_RA, 0, 1 * MS); /* seq 0, ack = ISN + 1 */
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_HS(r, "refused");
    EXPECT_ROLE(r, "syn");
    EXPECT_INITIATOR(r, "server");
    EXPECT_CLOSE(r, "rst");
    EXPECT_INT(r->closing, 0);
    EXPECT_TW_SIDE(r, "none");
    EXPECT_CSTATE(r, "CLOSED");
    EXPECT_SSTATE(r, "CLOSED");
    EXPECT_ANOM(r, "");
    EXPECT_INT(r->packets_c2s, 1);
    EXPECT_INT(r->packets_s2c, 1);
    done();
}

static void test_crossed_syns_are_a_simultaneous_open(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    tx(&c, C, F_SYN, 0, 0);
    tx(&c, S, F_SYN, 0, 1 * MS); /* crossed the client's SYN */
    /* Each answers the other's SYN with a SYN-ACK (its own ISN again). */
    tx(&c, C, F_SA, 0, 10 * MS);
    tx(&c, S, F_SA, 0, 1 * MS);
    tx(&c, C, F_PA, 10, 10 * MS);
    tx(&c, S, F_A, 0, 10 * MS);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_HS(r, "simultaneous_open");
    EXPECT_ROLE(r, "syn");
    EXPECT_INT(r->client_port, 40000); /* the sender of the first SYN */
    EXPECT_CSTATE(r, "ESTABLISHED");
    EXPECT_SSTATE(r, "ESTABLISHED");
    EXPECT_INT(r->packets_c2s, 3);
    EXPECT_INT(r->packets_s2c, 3);
    done();
}

static void test_midstream_lower_port_is_the_server(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    /* The server speaks first: the role comes from the ports. */
    tx(&c, S, F_PA, 500, 0);
    tx(&c, C, F_A, 0, 10 * MS);
    tx(&c, C, F_PA, 100, 10 * MS);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_ROLE(r, "port");
    EXPECT_HS(r, "midstream");
    EXPECT_INT(r->client_port, 40000);
    EXPECT_INT(r->server_port, 80);
    EXPECT_INT(memcmp(r->client_ip, c.addr[C], 16), 0);
    EXPECT_INT(memcmp(r->server_ip, c.addr[S], 16), 0);
    EXPECT_INT(r->packets_c2s, 2);
    EXPECT_INT(r->packets_s2c, 1);
    EXPECT_INT(r->bytes_c2s, 100);
    EXPECT_INT(r->bytes_s2c, 500);
    EXPECT_TRUE(r->handshake_rtt < 0);
    EXPECT_CSTATE(r, "ESTABLISHED");
    EXPECT_SSTATE(r, "ESTABLISHED");
    done();
}

/* Neither port well known: the lower one (8080) is the server's, even
 * when the other side speaks first. */
static void test_midstream_lower_port_is_the_server_when_higher_port_speaks_first(void **state)
{
    sim *s = *state;
    conv c;
    conv_init_ports(&c, s, 50000, 8080, 1, 2);
    tx(&c, C, F_PA, 10, 0);
    tx(&c, S, F_A, 0, 10 * MS);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_ROLE(r, "port");
    EXPECT_INT(r->client_port, 50000);
    EXPECT_INT(r->server_port, 8080);
    done();
}

static void test_role_by_synack_when_first_packet_is_synack(void **state)
{
    sim *s = *state;
    conv c;
    /* The SYN-ACK's sender uses the higher port: synack beats port. */
    conv_init_ports(&c, s, 443, 50000, 1000000, 5000000);
    c.nxt[C] = c.isn[C] + 1; /* the unseen SYN */
    tx(&c, S, F_SA, 0, 0);
    tx(&c, C, F_A, 0, 10 * MS);
    tx(&c, C, F_PA, 10, 1 * MS);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_ROLE(r, "synack");
    EXPECT_HS(r, "midstream"); /* no SYN from the client seen */
    EXPECT_INT(r->server_port, 50000);
    EXPECT_INT(r->client_port, 443);
    EXPECT_INT(memcmp(r->server_ip, c.addr[S], 16), 0);
    EXPECT_INT(r->packets_c2s, 2);
    EXPECT_INT(r->packets_s2c, 1);
    EXPECT_CSTATE(r, "ESTABLISHED");
    EXPECT_SSTATE(r, "ESTABLISHED");
    done();
}

static void test_syn_sender_is_client_even_with_lower_port(void **state)
{
    sim *s = *state;
    conv c;
    conv_init_ports(&c, s, 22, 50000, 7, 9);
    open_conn(&c, 0);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_ROLE(r, "syn");
    EXPECT_HS(r, "complete");
    EXPECT_INT(r->client_port, 22);
    EXPECT_INT(r->server_port, 50000);
    done();
}

static void test_syn_with_data_is_an_anomaly(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    tx(&c, C, F_SYN, 50, 0); /* TCP Fast Open */
    tx(&c, S, F_SA, 0, 10 * MS);
    tx(&c, C, F_A, 0, 10 * MS);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_ANOM(r, "syn_with_data");
    EXPECT_HS(r, "complete");
    EXPECT_INT(r->bytes_c2s, 50);
    EXPECT_CSTATE(r, "ESTABLISHED");
    EXPECT_SSTATE(r, "ESTABLISHED");
    done();
}

/* TCP Fast Open: data on the SYN; the server answers, sends data and its FIN
 * before the client's ACK arrives; that ACK completes the handshake. */
static void test_fast_open_server_data_and_fin_before_ack_is_complete(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    int64_t t0 = tx(&c, C, F_SYN, 20, 0);
    tx(&c, S, F_SA, 0, 10 * MS);
    tx(&c, S, F_PA, 100, 1 * MS);
    tx(&c, S, F_FA, 0, 1 * MS);
    int64_t t3 = tx(&c, C, F_A, 0, 10 * MS);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_HS(r, "complete");
    EXPECT_DUR(r->handshake_rtt, t3 - t0);
    EXPECT_ANOM(r, "syn_with_data");
    EXPECT_INITIATOR(r, "server");
    EXPECT_SSTATE(r, "FIN_WAIT2");
    EXPECT_CSTATE(r, "CLOSE_WAIT");
    done();
}

/* A filtered capture: the server's FIN comes before the client's FIN+ACK that
 * acks the SYN-ACK; that segment completes the handshake. */
static void test_client_fin_acking_synack_after_server_fin_is_complete(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    tx(&c, C, F_SYN, 0, 0);
    tx(&c, S, F_SA, 0, 10 * MS);
    tx(&c, S, F_FA, 0, 1 * MS);
    tx(&c, C, F_FA, 0, 10 * MS);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_HS(r, "complete");
    done();
}

/* A server that still holds an older connection answers the SYN with a bare
 * ACK of that connection; the client answers with an RST whose sequence
 * number is that ACK field (RFC 793: expected, not forged), sends the SYN
 * again, and the handshake completes. */
static void test_rst_answering_an_old_connections_ack_is_not_forged(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    tx(&c, C, F_SYN, 0, 0);
    dissect_segment g = seg_of(&c, S, F_A, 0);
    g.seq = 777777u;
    g.ack = 0x12345678u;
    send_seg(&c, S, g, 10 * MS);
    tx_seq(&c, C, F_R, 0, 10 * MS, 0x12345678u);
    int64_t t_syn = tx(&c, C, F_SYN, 0, 1 * SEC);
    tx(&c, S, F_SA, 0, 10 * MS);
    int64_t t_ack = tx(&c, C, F_A, 0, 10 * MS);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_HS(r, "complete");
    EXPECT_DUR(r->handshake_rtt, t_ack - t_syn);
    EXPECT_INT(r->syn_retransmits, 1);
    EXPECT_ANOM(r, "");
    EXPECT_INITIATOR(r, "none");
    EXPECT_CSTATE(r, "ESTABLISHED");
    EXPECT_SSTATE(r, "ESTABLISHED");
    done();
}

/* The bare ACK of an older connection does not establish the server. */
static void test_plain_ack_not_acking_the_syn_does_not_establish(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    tx(&c, C, F_SYN, 0, 0);
    dissect_segment g = seg_of(&c, S, F_A, 0);
    g.ack = 0x12345678u;
    send_seg(&c, S, g, 10 * MS);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_HS(r, "syn_only");
    EXPECT_CSTATE(r, "SYN_SENT");
    EXPECT_SSTATE(r, "LISTEN");
    done();
}

/* The split handshake: SYN; the server ACKs it, then sends its own SYN; the
 * client answers with a SYN-ACK; ACK. */
static void test_split_handshake_is_a_simultaneous_open(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    tx(&c, C, F_SYN, 0, 0);
    tx(&c, S, F_A, 0, 10 * MS);
    tx(&c, S, F_SYN, 0, 1 * MS);
    tx(&c, C, F_SA, 0, 10 * MS);
    tx(&c, S, F_A, 0, 10 * MS);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_HS(r, "simultaneous_open");
    EXPECT_CSTATE(r, "ESTABLISHED");
    EXPECT_SSTATE(r, "ESTABLISHED");
    done();
}

/* Capture reordering: the SYN-ACK precedes its SYN in the file. */
static void test_synack_before_its_syn_is_complete(void **state)
{
    sim *s = *state;
    conv c;
    conv_init(&c, s);
    tx_ack(&c, S, F_SA, 0, 0, c.isn[C] + 1);
    dissect_segment g = seg_of(&c, C, F_SYN, 0);
    int64_t t_syn = send_seg(&c, C, g, 1 * MS);
    int64_t t_ack = tx(&c, C, F_A, 0, 10 * MS);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_HS(r, "complete");
    EXPECT_ROLE(r, "syn");
    EXPECT_DUR(r->handshake_rtt, t_ack - t_syn);
    EXPECT_INT(r->syn_retransmits, 0);
    EXPECT_CSTATE(r, "ESTABLISHED");
    EXPECT_SSTATE(r, "ESTABLISHED");
    done();
}

/* SPEC §2, accept-queue overflow: the server sends its SYN-ACK again after
 * the client's ACK: it did not take that ACK and is still in SYN_RCVD while
 * the client is established. The client's ACKs of the SYN-ACKs sent again
 * do not change that (the queue may still be full); the server's own
 * segment shows it took the connection at last; after tcp_synack_retries
 * (63 s) without one it dropped the request: only the listener is left. */
static void test_synack_again_after_ack_is_an_accept_queue_overflow(void **state)
{
    sim *s = *state;
    static const char *const want[] = {"SYN_RCVD", "ESTABLISHED", "LISTEN"};
    for (int how = 0; how < 3; how++) {
        conv c;
        sim_restart(s);
        conv_init(&c, s);
        int64_t t0 = tx(&c, C, F_SYN, 0, 0);
        tx(&c, S, F_SA, 0, 10 * MS);
        tx(&c, C, F_A, 0, 10 * MS);
        tx(&c, S, F_SA, 0, 1 * SEC);
        tx(&c, C, F_A, 0, 10 * MS);
        if (how == 1)
            tx(&c, S, F_PA, 100, 10 * MS);
        finish_at(s, how == 2 ? t0 + 63 * SEC : s->now);
        const conn_record *r = only(s);
        EXPECT_HS(r, "complete");
        EXPECT_INT(r->synack_retransmits, 1);
        EXPECT_ANOM(r, "accept_queue_overflow");
        EXPECT_CSTATE(r, "ESTABLISHED");
        EXPECT_SSTATE(r, want[how]);
    }
    done();
}

/* SPEC §1, roles without a handshake: a service on a high port (gRPC on
 * 50051) captured in the middle of a connection; a later connection's
 * handshake shows it answering a SYN, and the midstream row, written at the
 * end, has it as its server whatever the port rule says. */
static void test_midstream_roles_from_a_later_synack(void **state)
{
    sim *s = *state;
    conv a, b;
    conv_init_ports(&b, s, 40001, 50051, 3000, 4000);
    tx(&b, S, F_PA, 100, 0); /* midstream: the server speaks first */
    tx(&b, C, F_A, 0, 10 * MS);
    conv_init_ports(&a, s, 40000, 50051, 1000, 2000);
    open_conn(&a, 1 * SEC);
    finish_at(s, s->now);
    const conn_record *r = row_by_cport(s, 40001);
    EXPECT_ROLE(r, "listener");
    EXPECT_INT(r->server_port, 50051);
    EXPECT_INT(r->packets_s2c, 1);
    EXPECT_INT(r->bytes_s2c, 100);
    EXPECT_HS(r, "midstream");
    done();
}

/* Without any SYN-ACK: the endpoint that many midstream connections share
 * is the server (a client's ephemeral port serves one). Lower client ports
 * than the server's make the port rule wrong here. */
static void test_midstream_roles_from_many_peers(void **state)
{
    sim *s = *state;
    for (uint16_t i = 0; i < 4; i++) {
        conv c;
        conv_init_ports(&c, s, (uint16_t)(30001 + i), 50051, 1000u * i, 77u * i);
        tx(&c, C, F_PA, 10, 1 * SEC);
        tx(&c, S, F_PA, 200, 10 * MS);
        tx(&c, C, F_FA, 0, 10 * MS);
    }
    finish_at(s, s->now);
    EXPECT_INT(s->nrec, 4);
    for (size_t i = 0; i < s->nrec; i++) {
        const conn_record *r = &s->rec[i];
        EXPECT_ROLE(r, "listener");
        EXPECT_INT(r->server_port, 50051);
        EXPECT_INT(r->bytes_c2s, 10);
        EXPECT_INT(r->bytes_s2c, 200);
        EXPECT_INITIATOR(r, "client");
        EXPECT_CSTATE(r, "FIN_WAIT1");
        EXPECT_SSTATE(r, "CLOSE_WAIT");
    }
    done();
}

static const flows_server grpc_any_host = {.ip_version = 0, .port = 50051};

static int setup_server_50051(void **state)
{
    flows_config cfg;
    flows_config_default(&cfg);
    cfg.servers = &grpc_any_host;
    cfg.n_servers = 1;
    return sim_setup_with(state, &cfg);
}

/* --server PORT decides a single midstream connection; without it, or
 * without evidence, the port rule does. */
static void test_midstream_roles_from_server_option(void **state)
{
    sim *s = *state;
    conv c;
    conv_init_ports(&c, s, 30001, 50051, 1, 2);
    tx(&c, C, F_PA, 10, 0);
    tx(&c, S, F_PA, 20, 10 * MS);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_ROLE(r, "listener");
    EXPECT_INT(r->server_port, 50051);
    EXPECT_INT(r->client_port, 30001);
    EXPECT_INT(r->bytes_c2s, 10);
    done();
}

static void test_midstream_without_evidence_keeps_the_port_rule(void **state)
{
    sim *s = *state;
    conv c;
    conv_init_ports(&c, s, 30001, 50051, 1, 2);
    tx(&c, C, F_PA, 10, 0);
    tx(&c, S, F_PA, 20, 10 * MS);
    finish_at(s, s->now);
    const conn_record *r = only(s);
    EXPECT_ROLE(r, "port");
    EXPECT_INT(r->server_port, 30001);
    EXPECT_INT(r->bytes_s2c, 10);
    done();
}

/* ---- main ---------------------------------------------------------------- */

#define T(f) cmocka_unit_test_setup_teardown(f, sim_setup, sim_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_complete_handshake_measures_rtt_from_syn_to_ack),
        T(test_syn_only_counts_two_syn_retransmissions),
        T(test_no_ack_counts_synack_retransmission),
        T(test_refused_syn_answered_by_rst_ack),
        T(test_crossed_syns_are_a_simultaneous_open),
        T(test_midstream_lower_port_is_the_server),
        T(test_midstream_lower_port_is_the_server_when_higher_port_speaks_first),
        T(test_role_by_synack_when_first_packet_is_synack),
        T(test_syn_sender_is_client_even_with_lower_port),
        T(test_syn_with_data_is_an_anomaly),
        T(test_fast_open_server_data_and_fin_before_ack_is_complete),
        T(test_client_fin_acking_synack_after_server_fin_is_complete),
        T(test_rst_answering_an_old_connections_ack_is_not_forged),
        T(test_plain_ack_not_acking_the_syn_does_not_establish),
        T(test_split_handshake_is_a_simultaneous_open),
        T(test_synack_before_its_syn_is_complete),
        T(test_synack_again_after_ack_is_an_accept_queue_overflow),
        T(test_midstream_roles_from_a_later_synack),
        T(test_midstream_roles_from_many_peers),
        cmocka_unit_test_setup_teardown(test_midstream_roles_from_server_option, setup_server_50051,
                                        sim_teardown),
        T(test_midstream_without_evidence_keeps_the_port_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
