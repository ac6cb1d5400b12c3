/* test=vsock's connection table, shared by the stream protocol (vsock-stream.c) and the test (vsock.c). */
#ifndef TSVMM_GUEST_TESTS_VSOCK_H
#define TSVMM_GUEST_TESTS_VSOCK_H

#include "../virtio-vsock.h"

#define MAX_CONNS 8
#define MAX_OWED_RESETS 32

enum conn_state { FREE, CONNECTING, OPEN, FLUSHING, CLOSED };

/* Control packets a connection owes the host. */
#define OWE_REQUEST 1
#define OWE_RESPONSE 2
#define OWE_CREDIT_UPDATE 4
#define OWE_SHUTDOWN_SEND 8
#define OWE_SHUTDOWN_BOTH 16
#define OWE_RST 32

enum conn_role { ECHO, CLIENT, PROBE };

struct conn {
	enum conn_state state;
	enum conn_role role;
	u32 local_port;
	u32 peer_port;
	unsigned owed;
	unsigned said; /* OWE_SHUTDOWN_* sent, or no longer to be sent */
	/* Outgoing bytes (the echo's unechoed input, or the client's pattern), counted from the start. */
	u8 *ring;
	u64 head; /* put in the ring */
	u64 sent; /* posted on tx */
	u64 done; /* taken by the device; for an echo, also what its ring has freed */
	unsigned in_flight;
	/* Credit (virtio 1.2, 5.10.6.3): u32 counters that wrap. */
	u32 rx_cnt;
	u32 fwd_cnt;
	u32 advertised_fwd;
	u32 tx_cnt;
	u32 peer_buf_alloc;
	u32 peer_fwd_cnt;
	u32 peer_shutdown;
	u64 next_credit_request;
	u64 received;
	u64 hash;
	/* Data waits and the host has given no credit for it. */
	bool stalled;
	/* `blocked=` was said. */
	bool blocked;
};

struct run {
	struct vsock v;
	struct conn conns[MAX_CONNS];
	u32 ring_size;
	u32 pkt;
	u32 port;
	u64 want_closed;
	u64 client_bytes;
	/* Connections of our own still to finish: the client, and the probe of a host port nobody listens on. */
	unsigned own_open;
	u32 resets[MAX_OWED_RESETS][2];
	unsigned nresets;
	bool quitting;
	unsigned closed;
	unsigned refused;
	unsigned stray;
	u64 credit_full;
	u64 host_stalls;
	u64 credit_updates;
	u64 credit_requests;
	/* Payload moved and connections opened or closed: what the idle watchdog looks at (credit chatter is not). */
	u64 progress;
};

/* vsock-stream.c: the stream protocol. */
u32 peer_credit(const struct conn *c);
struct conn *conn_open(struct run *r, u32 local, u32 peer, enum conn_state state, unsigned owed);
/* The consumer freed bytes: a CREDIT_UPDATE is owed once a quarter of buf_alloc went unannounced. */
void conn_consumed(struct run *r, struct conn *c);
/* One round: everything received and completed is handled, then whatever can be sent is. */
void stream_step(struct run *r);

/* vsock.c: what each role does with it. */
void conn_progress(struct run *r, struct conn *c);
/* RW payload that passed the credit check: stored for the echo, or checked against the client's pattern. */
void conn_data(struct run *r, struct conn *c, const u8 *payload, u32 len);
void conn_shutdown(struct run *r, struct conn *c, u32 flags);
void conn_closed(struct run *r, struct conn *c, const char *end);

#endif
