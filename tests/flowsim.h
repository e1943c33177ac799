/*
 * flowsim: what the flows tests (test_flows_*.c) share, written from
 * ../shared/SPEC.md §1-§3 (not from flows.c).
 *
 * - A simulated table (sim): a flows_table whose emitted rows are collected
 *   into an array. The cmocka fixtures sim_setup / sim_teardown create and
 *   free one per test and hand it over in *state.
 * - A conversation (conv) builds dissect_segment values the way a capture
 *   point between 10.0.0.1:40000 (client) and 10.0.0.2:80 (server) sees
 *   them: each side remembers its next sequence number, ACKs cover
 *   everything the peer sent unless a test says otherwise.
 * - Soft checks (EXPECT_*): every mismatching field of a row is printed
 *   (expected vs actual) before the test fails at done(), so one run shows
 *   the whole difference between the spec and the implementation. The
 *   fixtures reset the count of failed checks.
 */
#ifndef SYNFIN_FLOWSIM_H
#define SYNFIN_FLOWSIM_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <string.h>

#include "dissect.h"
#include "flows.h"

#define SEC FLOWS_NS_PER_SEC
#define MS  (SEC / 1000)
#define US  (SEC / 1000000)
/* 2023-11-14 22:13:20 UTC */
#define T0 (INT64_C(1700000000) * SEC)

enum { C = 0, S = 1 }; /* sending side: client, server */

enum {
    F_SYN = DISSECT_SYN,
    F_SA = DISSECT_SYN | DISSECT_ACK,
    F_A = DISSECT_ACK,
    F_PA = DISSECT_PSH | DISSECT_ACK,
    F_FA = DISSECT_FIN | DISSECT_ACK,
    F_R = DISSECT_RST,
    F_RA = DISSECT_RST | DISSECT_ACK,
};

/* ---- soft checks -------------------------------------------------------- */

/* Soft checks failed since the last check_reset (or done). */
extern int g_fails;

void check_reset(void);

/* Fails the test when any soft check failed. Every test ends with it. */
void done(void);

void soft_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define EXPECT_INT(actual, expected)                                                               \
    do {                                                                                           \
        int64_t a_ = (int64_t)(actual), e_ = (int64_t)(expected);                                  \
        if (a_ != e_)                                                                              \
            soft_fail(__FILE__, __LINE__, "%s = %" PRId64 ", expected %s = %" PRId64, #actual, a_, \
                      #expected, e_);                                                              \
    } while (0)

/* Timestamps: printed as seconds after T0. */
#define EXPECT_TS(actual, expected)                                                                \
    do {                                                                                           \
        int64_t a_ = (int64_t)(actual), e_ = (int64_t)(expected);                                  \
        if (a_ != e_)                                                                              \
            soft_fail(__FILE__, __LINE__, "%s = T0+%.9f s, expected %s = T0+%.9f s", #actual,      \
                      (double)(a_ - T0) / 1e9, #expected, (double)(e_ - T0) / 1e9);                \
    } while (0)

#define EXPECT_DUR(actual, expected)                                                               \
    do {                                                                                           \
        int64_t a_ = (int64_t)(actual), e_ = (int64_t)(expected);                                  \
        if (a_ != e_)                                                                              \
            soft_fail(__FILE__, __LINE__, "%s = %.9f s, expected %.9f s", #actual,                 \
                      (double)a_ / 1e9, (double)e_ / 1e9);                                         \
    } while (0)

#define EXPECT_NAME(fn, actual, expected)                                                          \
    do {                                                                                           \
        const char *a_ = fn(actual);                                                               \
        if (strcmp(a_, (expected)) != 0)                                                           \
            soft_fail(__FILE__, __LINE__, "%s = \"%s\", expected \"%s\"", #actual, a_,             \
                      (expected));                                                                 \
    } while (0)

#define EXPECT_TRUE(cond)                                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            soft_fail(__FILE__, __LINE__, "expected %s", #cond);                                   \
    } while (0)

/* "rst_out_of_window;data_after_fin" for a bit set ("" for none); the text
 * lives until 8 more calls. */
const char *anomalies_text(uint32_t bits);

const char *state_name(int s);

#define EXPECT_HS(r, e)        EXPECT_NAME(conn_handshake_name, (r)->handshake, e)
#define EXPECT_ROLE(r, e)      EXPECT_NAME(conn_role_by_name, (r)->role_by, e)
#define EXPECT_INITIATOR(r, e) EXPECT_NAME(conn_side_name, (r)->close_initiator, e)
#define EXPECT_CLOSE(r, e)     EXPECT_NAME(conn_close_type_name, (r)->close_type, e)
#define EXPECT_TW_SIDE(r, e)   EXPECT_NAME(conn_side_name, (r)->time_wait_side, e)
#define EXPECT_TW_REASON(r, e) EXPECT_NAME(conn_tw_reason_name, (r)->time_wait_end_reason, e)
#define EXPECT_CSTATE(r, e)    EXPECT_NAME(state_name, (r)->client_state, e)
#define EXPECT_SSTATE(r, e)    EXPECT_NAME(state_name, (r)->server_state, e)
#define EXPECT_ANOM(r, e)      EXPECT_NAME(anomalies_text, (r)->anomalies, e)

/* Every field of a row but conn_id, last_ts and the addresses. */
void expect_same_row(const conn_record *a, const conn_record *b);

/* ---- the table and its rows --------------------------------------------- */

typedef struct sim {
    flows_table *t;
    flows_config cfg; /* the table's, kept for sim_restart */
    conn_record *rec;
    size_t nrec, cap;
    int64_t now;    /* capture time of the last segment sent */
    int64_t dup_ns; /* > 0: every segment is fed twice, the copy dup_ns later */
    uint64_t fed;   /* segments given to the table */
} sim;

/* A table with cfg (NULL: the defaults), no rows, the clock at T0. */
void sim_init(sim *s, const flows_config *cfg);

void sim_free(sim *s);

/* Frees the table and its rows and starts again with the same config. */
void sim_restart(sim *s);

/* Fixtures: *state becomes a fresh sim (default config, or cfg), freed by
 * sim_teardown whether the test passed or not. They reset the soft checks. */
int sim_setup(void **state);
int sim_setup_with(void **state, const flows_config *cfg);
int sim_teardown(void **state);

/* A setup that only resets the soft checks, for tests that build their
 * own tables (replays of capture files). */
int checks_setup(void **state);

/* One segment through flows_packet (which must not fail). */
void feed(sim *s, const dissect_segment *g, int64_t ts);

void finish_at(sim *s, int64_t capture_end);

/* Replays n segments through flows_prepare + flows_replay, `chunk` at a
 * time (0: all at once), as the pipeline does. Returns how many could not
 * be tracked. */
size_t replay_chunks(sim *s, const dissect_segment *segs, const int64_t *ts, size_t n,
                     size_t chunk);

/* The one row the table wrote. */
const conn_record *only(const sim *s);

const conn_record *row_by_id(const sim *s, uint64_t id);

/* The row of the instance whose client uses port `cport` (unique). */
const conn_record *row_by_cport(const sim *s, uint16_t cport);

/* ---- conversations -------------------------------------------------------- */

typedef struct conv {
    sim *s;
    uint8_t ip_version;
    uint8_t addr[2][16];
    uint16_t port[2];
    uint32_t isn[2];
    uint32_t nxt[2]; /* next sequence number of each side */
    uint16_t ip_id[2];
    uint8_t ttl[2];
    uint16_t window[2];
    int wscale;       /* < 0: SYNs carry no window scale option */
    int wscale_sides; /* which sides' SYNs carry it: bit C, bit S */
} conv;

/* 10.0.0.1:cport -> 10.0.0.2:sport with these ISNs. */
void conv_init_ports(conv *c, sim *s, uint16_t cport, uint16_t sport, uint32_t cisn, uint32_t sisn);

/* 10.0.0.1:40000 -> 10.0.0.2:80 */
void conv_init(conv *c, sim *s);

/* [2001:db8::1]:40000 -> [2001:db8::2]:80 */
void conv_init6(conv *c, sim *s);

/* Side d's next segment: a SYN carries the ISN, anything else the next
 * sequence number; the ACK field covers everything the peer sent. */
dissect_segment seg_of(conv *c, int d, uint16_t flags, uint32_t len);

/* Sends g from side d, dt after the previous segment of the table. Returns
 * its capture time. */
int64_t send_seg(conv *c, int d, dissect_segment g, int64_t dt);

int64_t tx(conv *c, int d, uint16_t flags, uint32_t len, int64_t dt);

/* With an explicit sequence number (a retransmission, a blind RST). */
int64_t tx_seq(conv *c, int d, uint16_t flags, uint32_t len, int64_t dt, uint32_t seq);

/* With an explicit ACK field (a FIN that does not ack the peer's FIN). */
int64_t tx_ack(conv *c, int d, uint16_t flags, uint32_t len, int64_t dt, uint32_t ack);

/* Handshake and one exchange of data: 4 packets / 200 bytes client to
 * server, 2 packets / 1000 bytes back. Returns the time of the ACK. */
int64_t open_conn(conv *c, int64_t dt);

/* ---- scripted closes ------------------------------------------------------ */

/* Named times of the last script run. */
extern int64_t tm[10];

typedef void (*script_fn)(conv *c);

/* open_conn, then the client closes: FIN, ACK, FIN, ACK. The client is in
 * TIME_WAIT from tm[3]; tm[4] is the last ACK. */
void script_client_close(conv *c);

/* Crossed FINs: the server's FIN does not ack the client's, then a pure
 * ACK each way (tm[3] from the client, tm[4] from the server). */
void script_crossed(conv *c);

/* BSD/macOS: FIN, FIN, FIN+ACK (retransmission acking the other FIN), ACK,
 * ACK (tm[1] .. tm[5]). */
void script_bsd(conv *c);

/* X FIN; Y FIN not acking it; X pure ACK of Y's FIN; X retransmits its FIN
 * (tm[4]); Y acks it (tm[5]). X's first FIN was lost after the capture
 * point. */
void script_lost_fin(conv *c);

#endif
