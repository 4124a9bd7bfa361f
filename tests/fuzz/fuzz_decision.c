/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * libFuzzer target `decision`: the whole per-packet decision of a worker
 * (app/meshgate/worker.c through mg_worker_process()) on sequences of
 * frames, against a fixed ruleset (decision.conf) and a flow table kept
 * across inputs: parse, lookup, admission, NAT, ARP/ND and echo, parked
 * packets and their release, layer-7 inspection, resets, expiry; and
 * reloads to decision_reload.conf and back while connections live.
 * Frames go out on a net_ring port whose ring the harness reads back.
 *
 * Checked after each burst: every mbuf is consumed exactly once (the
 * pool's in-use count is the parked packets' once TX is flushed and the
 * output drained: a leak or a double free moves it); every output frame
 * parses and its IPv4 header and L4 checksums verify (summed here) unless
 * its input's were left wrong on purpose; no TCP or UDP frame from a
 * caller leaves still addressed to a service (every connection is NATed
 * or dropped, and a caller claiming a gateway address is refused). After
 * each input: every flow is reachable by both its keys, leaves by a real
 * port, and a flow stamped with the ruleset in force holds the service and
 * caller that ruleset gives its key (no index into a freed or older
 * ruleset); no two flows hold one layer-7 buffer. Layer-7 code that kept a
 * pointer into a freed ruleset is an ASan report (its Hyperscan state is
 * malloc'd). check_flow() is the place for further per-flow invariants: it sees
 * every live flow after every input, for the cost of one table walk.
 *
 * Input: records, each a 4-byte header then a frame.
 *   [0..1]  frame length, big endian (0: no frame, the record only
 *           controls; longer than what is left: what is left)
 *   [2]     NIC: bits 0-1 IP checksum verdict, 2-3 L4 verdict (unknown,
 *           bad, good, none), 4 VLAN stripped, 5 keep the checksums as
 *           they are (else the harness makes them right, so that
 *           inspection sees bytes a backend would take)
 *   [3]     control: bits 0-3 k, advance the clock by 2^k - 1 ms before
 *           the frame (a new burst); bit 4 end the burst after the frame;
 *           bit 5 reload before the frame (honoured RELOAD_GAP inputs
 *           after the last reload; one comes every RELOAD_EVERY inputs
 *           anyway); bit 6 end of input (the journal's marker)
 *
 * State and reproducers: the dataplane is rebuilt from scratch every
 * RESET_EVERY inputs, and the records since then, as applied, are kept
 * in a journal file (MG_FUZZ_JOURNAL, memory-mapped, so it survives a
 * crash; its last 8 bytes say how much of it is used). A crash that
 * needs earlier inputs' state replays from that much of the journal
 * alone: `MG_FUZZ_REPLAY=1 fuzz_decision JOURNAL` (every reload it holds
 * is honoured). scripts/fuzz.sh cuts it and prints the command.
 * MG_FUZZ_INJECT=leak|double|cksum|flow|vip breaks one invariant on
 * purpose, to show that its check fires.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_hash.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_random.h>
#include <rte_rcu_qsbr.h>

#include "fuzz_common.h"
#include "meshgate.h"
#include "mg_pkt.h"

#define REC_HDR	  4
#define FRAME_MAX RTE_MBUF_DEFAULT_DATAROOM
#define BURST	  32
/* A reload compiles Hyperscan databases (tens of ms, ten times that
 * under ASan): at most one per RELOAD_GAP inputs where an input asks,
 * and one every RELOAD_EVERY inputs in any case. */
#define RELOAD_GAP   2048
#define RELOAD_EVERY 4096
#define RESET_EVERY  16384
#define POOL_MBUFS   4095
/* mbufs the harness holds for good, so that an mbuf freed twice shows
 * (a pool with none in use cannot count one more free) */
#define RESERVE	      8
#define JOURNAL_BYTES (64u << 20)
/* room left for one more input of the largest size libFuzzer makes */
#define JOURNAL_SLACK (1u << 20)
/* the clock moves this much between bursts */
#define BURST_GAP_US 10

#define NIC_VLAN    0x10
#define NIC_AS_SENT 0x20
#define CTL_ADVANCE 0x0f
#define CTL_BREAK   0x10
#define CTL_RELOAD  0x20
#define CTL_END	    0x40

#ifndef MG_FUZZ_DIR
#error "MG_FUZZ_DIR: the folder of decision.conf"
#endif

enum inject {
	INJECT_NONE,
	INJECT_LEAK,
	INJECT_DOUBLE,
	INJECT_CKSUM,
	INJECT_FLOW,
	INJECT_VIP
};

static struct {
	struct mg_conf *conf[2];
	unsigned int cur; /* conf[cur] is in force */
	struct rte_mempool *pool;
	struct rte_mbuf *reserve[RESERVE];
	struct mg_port ports[MG_CONF_MAX_PORTS];
	unsigned int n_ports;
	struct mg_dataplane dp;
	struct mg_worker *w;
	struct rte_hash *flow_hash;
	bool quit;
	uint64_t start, clock, tsc_ms;
	unsigned int inputs;	   /* since the last reset */
	unsigned int since_reload; /* inputs */
	bool replay;		   /* MG_FUZZ_REPLAY=1: inputs are journals */
	struct rte_mbuf *burst[BURST];
	unsigned int n_burst;
	/* mbufs whose checksums were left wrong on purpose: their outputs
	 * are not checked for checksums */
	struct rte_mbuf *as_sent[BURST + MG_NEIGH_PENDING_MAX];
	unsigned int n_as_sent;
	uint8_t *held; /* layer-7 buffers seen held, by index */
	uint8_t *journal;
	size_t journal_len;
	enum inject inject;
	struct rte_mbuf *leaked;
} state;

static uint16_t
be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* ---- the journal ---- */

static void
journal_open(void)
{
	const char *path = getenv("MG_FUZZ_JOURNAL");
	int fd;

	if (path == NULL || *path == '\0')
		return;
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, JOURNAL_BYTES) != 0) {
		fprintf(stderr, "fuzz_decision: journal %s: %s\n", path,
			strerror(errno));
		exit(1);
	}
	state.journal = mmap(NULL, JOURNAL_BYTES, PROT_READ | PROT_WRITE,
			     MAP_SHARED, fd, 0);
	close(fd);
	if (state.journal == MAP_FAILED) {
		fprintf(stderr, "fuzz_decision: journal %s: %s\n", path,
			strerror(errno));
		exit(1);
	}
}

/* The length used, in the file's last 8 bytes (host order), for
 * scripts/fuzz.sh to cut the reproducer at. */
static void
journal_mark(void)
{
	uint64_t len = state.journal_len;

	memcpy(state.journal + JOURNAL_BYTES - sizeof(len), &len, sizeof(len));
}

static void
journal_add(uint16_t len, uint8_t nic, uint8_t ctl, const uint8_t *frame)
{
	uint8_t *p;

	if (state.journal == NULL || state.journal_len + REC_HDR + len >
					     JOURNAL_BYTES - sizeof(uint64_t))
		return;
	p = state.journal + state.journal_len;
	p[0] = (uint8_t)(len >> 8);
	p[1] = (uint8_t)len;
	p[2] = nic;
	p[3] = ctl;
	if (len != 0)
		memcpy(p + REC_HDR, frame, len);
	state.journal_len += REC_HDR + len;
	journal_mark();
}

static void
journal_clear(void)
{
	if (state.journal == NULL)
		return;
	memset(state.journal, 0, state.journal_len);
	state.journal_len = 0;
	journal_mark();
}

/* ---- outputs ---- */

static bool
sent_as_is(const struct rte_mbuf *m)
{
	unsigned int i;

	for (i = 0; i < state.n_as_sent; i++)
		if (state.as_sent[i] == m)
			return true;
	return false;
}

/* Whether @p t is addressed to a service's virtual address and port
 * (admission refuses callers that claim the gateway's or a service's
 * address as their source, martian_source, so no reply goes there). */
static bool
virtual_dst(const struct mg_5tuple *t)
{
	const struct mg_ruleset *rs =
		__atomic_load_n(&state.dp.ruleset, __ATOMIC_ACQUIRE);

	return mg_ruleset_is_service(rs, t);
}

static void
check_output(struct rte_mbuf *m)
{
	uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *);
	struct mg_pkt_info info;
	enum mg_drop_reason r;

	FZ_CHECK(m->pool == state.pool && m->nb_segs == 1 &&
			 rte_mbuf_refcnt_read(m) == 1,
		 "output mbuf: pool %p, %u segments, refcnt %u",
		 (void *)m->pool, m->nb_segs, rte_mbuf_refcnt_read(m));
	r = mg_pkt_parse(m, &info);
	FZ_CHECK(r == MG_DROP_NONE, "an output frame does not parse: %s",
		 mg_drop_reason_name(r));
	if (info.l3 == MG_L3_ARP)
		return;
	/* a caller's connection to a service leaves NATed to a backend, or
	 * not at all: nothing from outside gets past the gateway still
	 * addressed to a service */
	if (state.inject == INJECT_VIP && info.tuple.family == 4) {
		/* as if forwarded without its NAT: to shop's 198.19.0.10:80 */
		memcpy(info.tuple.dst, (const uint8_t[]){ 198, 19, 0, 10 }, 4);
		info.tuple.dport = rte_cpu_to_be_16(80);
	}
	if (info.tuple.proto == IPPROTO_TCP || info.tuple.proto == IPPROTO_UDP)
		FZ_CHECK(!virtual_dst(&info.tuple),
			 "a frame left for a service's virtual address");
	if (sent_as_is(m))
		return;
	if (state.inject == INJECT_CKSUM)
		p[info.payload_off - 1] ^= 1;
	FZ_CHECK(fz_ip_ok(p, &info), "output IPv4 header checksum");
	FZ_CHECK(fz_l4_ok(p, &info), "output L4 checksum (protocol %u)",
		 info.tuple.proto);
}

static void
drain(void)
{
	struct rte_mbuf *out[64];
	uint16_t n, i;

	while ((n = rte_eth_rx_burst(state.ports[0].port_id, 0, out,
				     RTE_DIM(out))) != 0)
		for (i = 0; i < n; i++) {
			check_output(out[i]);
			if (state.inject == INJECT_LEAK &&
			    state.leaked == NULL) {
				state.leaked = out[i];
				continue;
			}
			rte_pktmbuf_free(out[i]);
			if (state.inject == INJECT_DOUBLE)
				rte_pktmbuf_free(out[i]);
		}
}

/* ---- one burst, as the worker loop runs it ---- */

static void
run_burst(void)
{
	struct mg_worker *w = state.w;
	unsigned int i, j, n = 0;
	uint16_t p;

	w->now = state.clock;
	if (state.n_burst != 0)
		FZ_CHECK(mg_worker_process(w, 0, state.burst,
					   (uint16_t)state.n_burst) ==
				 state.n_burst,
			 "the worker took part of a burst");
	state.n_burst = 0;
	if (w->pending.count != 0)
		mg_worker_run_parked(w);
	for (p = 0; p < w->n_ports; p++)
		rte_eth_tx_buffer_flush(w->port_id[p], w->queue, w->txb[p]);
	mg_flow_expire(state.dp.flows, &w->cursor, w->now, 8);
	rte_rcu_qsbr_quiescent(state.dp.qsv, w->rank);
	/* fragments reassemble within one input, not across inputs */
	mg_worker_drop_fragments(w);
	drain();
	FZ_CHECK(rte_mempool_in_use_count(state.pool) ==
			 RESERVE + w->pending.count,
		 "%u mbufs in use, %u parked, %u held: an mbuf was %s",
		 rte_mempool_in_use_count(state.pool), w->pending.count,
		 RESERVE,
		 rte_mempool_in_use_count(state.pool) >
				 RESERVE + w->pending.count
			 ? "leaked"
			 : "freed twice");
	/* only those still parked can come out later */
	for (i = 0; i < state.n_as_sent; i++)
		for (j = 0; j < w->pending.count; j++)
			if (w->pending.slot[j].m == state.as_sent[i]) {
				state.as_sent[n++] = state.as_sent[i];
				break;
			}
	state.n_as_sent = n;
	state.clock += state.tsc_ms * BURST_GAP_US / 1000;
}

/* A received frame: an mbuf as a NIC would hand it over. */
static void
receive(const uint8_t *frame, uint16_t len, uint8_t nic)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(state.pool);
	struct mg_pkt_info info;
	unsigned int i;
	uint8_t *p;

	FZ_CHECK(m != NULL, "pool empty with %u in use",
		 rte_mempool_in_use_count(state.pool));
	/* the pool hands out each mbuf once */
	for (i = 0; i < state.n_burst; i++)
		FZ_CHECK(state.burst[i] != m, "one mbuf handed out twice");
	for (i = 0; i < state.w->pending.count; i++)
		FZ_CHECK(state.w->pending.slot[i].m != m,
			 "a parked mbuf handed out again");
	p = (uint8_t *)rte_pktmbuf_append(m, len);
	FZ_CHECK(p != NULL, "no room for %u bytes", len);
	memcpy(p, frame, len);
	if (nic & NIC_AS_SENT) {
		state.as_sent[state.n_as_sent++] = m;
	} else if (mg_pkt_parse(m, &info) == MG_DROP_NONE &&
		   info.l3 != MG_L3_ARP) {
		fz_fix_cksums(p, &info);
	}
	m->ol_flags = fz_ip_flag(nic) | fz_l4_flag(nic >> 2);
	if (nic & NIC_VLAN) {
		m->ol_flags |= RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_VLAN_STRIPPED;
		m->vlan_tci = 100;
	}
	m->l2_len = m->l3_len = m->l4_len = 0;
	state.burst[state.n_burst++] = m;
	if (state.n_burst == BURST)
		run_burst();
}

/* ---- state ---- */

static void
reload(void)
{
	unsigned int next = 1 - state.cur;

	FZ_CHECK(mg_dataplane_reload(&state.dp, state.conf[next],
				     state.w->rank) == 0,
		 "reload to %s refused", state.conf[next]->path);
	state.cur = next;
}

static void
teardown(void)
{
	if (state.w == NULL)
		return;
	drain();
	rte_rcu_qsbr_thread_offline(state.dp.qsv, state.w->rank);
	rte_rcu_qsbr_thread_unregister(state.dp.qsv, state.w->rank);
	mg_worker_free(state.w);
	state.w = NULL;
	mg_dataplane_fini(&state.dp);
	FZ_CHECK(rte_mempool_in_use_count(state.pool) == RESERVE,
		 "%u mbufs in use once the worker is gone, %u held",
		 rte_mempool_in_use_count(state.pool), RESERVE);
	free(state.held);
	state.held = NULL;
}

/* A gateway as it starts: config A, empty tables, the fixed seed every
 * hash and choice comes from, the clock at its start. */
static void
reset(void)
{
	teardown();
	rte_srand(0x6d657368);
	state.cur = 0;
	if (mg_dataplane_init(&state.dp, state.conf[0], state.ports, 1,
			      state.pool) < 0)
		exit(1);
	state.w = mg_worker_create(rte_lcore_id(), 0, 0, state.conf[0],
				   state.ports, &state.dp, MG_LCORE_MAIN_WORKER,
				   &state.quit);
	if (state.w == NULL)
		exit(1);
	rte_rcu_qsbr_thread_register(state.dp.qsv, state.w->rank);
	rte_rcu_qsbr_thread_online(state.dp.qsv, state.w->rank);
	/* one worker: the table's one shard */
	state.flow_hash = rte_hash_find_existing("mg_flows:0");
	state.held = calloc(state.dp.l7_capacity + 1, 1);
	if (state.flow_hash == NULL || state.held == NULL)
		exit(1);
	state.clock = state.start;
	state.inputs = 0;
	state.since_reload = 0;
	state.n_burst = 0;
	state.n_as_sent = 0;
	journal_clear();
}

/* ---- invariants of the tables ---- */

/*
 * One live flow, reached through @p key. The place for per-flow
 * invariants: it runs on every flow after every input.
 */
static void
check_flow(const struct mg_ruleset *rs, const struct mg_5tuple *key,
	   const struct mg_flow *f, uint8_t dir)
{
	char want[MG_CONF_NAME_LEN], name[MG_CONF_NAME_LEN];
	const struct mg_l7_flow *st;
	uint16_t service, identity;

	FZ_CHECK(memcmp(&f->key[dir], key, sizeof(*key)) == 0,
		 "a flow is reached by a key it does not hold");
	FZ_CHECK(f->index < state.dp.max_flows, "flow index %u", f->index);
	FZ_CHECK(f->out_port[0] < state.n_ports &&
			 f->out_port[1] < state.n_ports,
		 "flow leaves by port %u/%u", f->out_port[0], f->out_port[1]);
	FZ_CHECK(mg_flow_state(state.dp.flows, f) < MG_FLOW_STATE_MAX,
		 "flow state %u", mg_flow_state(state.dp.flows, f));
	FZ_CHECK(f->l7 <= MG_L7_TLS, "flow layer-7 protocol %u", f->l7);
	if (dir != MG_FLOW_DIR_FWD)
		return;
	/* ids the registry gave, which the ruleset in force maps to its
	 * service and caller of the same names, or to none */
	FZ_CHECK(mg_ruleset_id_name(MG_RULESET_ID_SERVICE, f->service_id, want,
				    sizeof(want)) == 0 &&
			 mg_ruleset_id_name(MG_RULESET_ID_IDENTITY,
					    f->identity_id, name,
					    sizeof(name)) == 0,
		 "flow holds service id %u caller id %u; %u and %u given",
		 f->service_id, f->identity_id,
		 mg_ruleset_ids_registered(MG_RULESET_ID_SERVICE),
		 mg_ruleset_ids_registered(MG_RULESET_ID_IDENTITY));
	service = mg_ruleset_service_of_id(rs, f->service_id);
	FZ_CHECK(service == MG_RULESET_NONE ||
			 (service < mg_ruleset_n_services(rs) &&
			  strcmp(mg_ruleset_service_name(rs, service), want) ==
				  0),
		 "service id %u (%s) maps to index %u of %u", f->service_id,
		 want, service, mg_ruleset_n_services(rs));
	identity = mg_ruleset_identity_of_id(rs, f->identity_id);
	FZ_CHECK(identity <= mg_ruleset_n_identities(rs) &&
			 (identity == MG_IDENTITY_UNKNOWN ||
			  strcmp(mg_ruleset_identity_name(rs, identity),
				 name) == 0),
		 "identity id %u (%s) maps to index %u of %u", f->identity_id,
		 name, identity, mg_ruleset_n_identities(rs));
	if (f->l7 == MG_L7_NONE)
		return;
	st = &state.dp.l7_flows[f->index];
	if (st->buf == 0)
		return;
	FZ_CHECK(st->buf <= state.dp.l7_capacity && !state.held[st->buf],
		 "layer-7 buffer %u held twice (of %u)", st->buf,
		 state.dp.l7_capacity);
	state.held[st->buf] = 1;
}

static void
check_tables(void)
{
	const struct mg_ruleset *rs =
		__atomic_load_n(&state.dp.ruleset, __ATOMIC_ACQUIRE);
	const struct mg_5tuple *key;
	struct mg_flow *f;
	uint32_t iter = 0, keys = 0, held = 0, i;
	const void *k;
	void *data;
	uint8_t dir;

	if (state.inject == INJECT_FLOW) {
		/* a flow holding a service id never given */
		while (rte_hash_iterate(state.flow_hash, &k, &data, &iter) >=
		       0) {
			key = k;
			if (mg_flow_lookup_bulk(state.dp.flows, 0, &key, 1, &f,
						&dir) != 0 &&
			    dir == MG_FLOW_DIR_FWD) {
				f->service_id = 0x7fff;
				break;
			}
		}
		iter = 0;
	}
	while (rte_hash_iterate(state.flow_hash, &k, &data, &iter) >= 0) {
		key = k;
		FZ_CHECK(mg_flow_lookup_bulk(state.dp.flows, 0, &key, 1, &f,
					     &dir) == 1,
			 "a key of the table is not found");
		check_flow(rs, key, f, dir);
		keys++;
	}
	FZ_CHECK(keys == 2 * mg_flow_count(state.dp.flows),
		 "%u keys for %u flows", keys, mg_flow_count(state.dp.flows));
	for (i = 1; i <= state.dp.l7_capacity; i++) {
		held += state.held[i];
		state.held[i] = 0;
	}
	FZ_CHECK(held <= mg_l7_pool_in_use(state.dp.l7_pool),
		 "%u layer-7 buffers held, %u taken from the pool", held,
		 mg_l7_pool_in_use(state.dp.l7_pool));
}

/* ---- libFuzzer ---- */

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const inject[] = { "",      "leak", "double",
					      "cksum", "flow", "vip" };
	struct mg_conf_errors *errs = malloc(sizeof(*errs));
	const char *names[2] = { MG_FUZZ_DIR "/decision.conf",
				 MG_FUZZ_DIR "/decision_reload.conf" };
	const char *env;
	unsigned int i;

	(void)argc;
	(void)argv;
	env = getenv("MG_FUZZ_REPLAY");
	state.replay = env != NULL && strcmp(env, "1") == 0;
	env = getenv("MG_FUZZ_INJECT");
	for (i = 0; env != NULL && i < RTE_DIM(inject); i++)
		if (strcmp(env, inject[i]) == 0)
			state.inject = (enum inject)i;
	fz_eal_init("fuzz_decision", "--vdev=net_ring0");
	for (i = 0; i < 2; i++) {
		state.conf[i] =
			mg_conf_load(names[i], MG_DRIVERS_CONF_DIR, errs);
		if (state.conf[i] == NULL) {
			fprintf(stderr, "%s\n", errs->msg[0]);
			exit(1);
		}
	}
	free(errs);
	if (mg_telemetry_init() < 0 ||
	    mg_telemetry_configure(state.conf[0]->telemetry.max_label_sets, 64,
				   64) < 0)
		exit(1);
	state.pool = rte_pktmbuf_pool_create("fz_mbufs", POOL_MBUFS, 0, 0,
					     RTE_MBUF_DEFAULT_BUF_SIZE,
					     (int)rte_socket_id());
	if (state.pool == NULL ||
	    rte_pktmbuf_alloc_bulk(state.pool, state.reserve, RESERVE) != 0)
		exit(1);
	state.n_ports = state.conf[0]->n_ports;
	for (i = 0; i < state.n_ports; i++)
		if (mg_port_start(&state.conf[0]->ports[i], 1, state.pool,
				  false, &state.ports[i]) < 0)
			exit(1);
	state.tsc_ms = rte_get_tsc_hz() / 1000;
	state.start = rte_get_tsc_hz() * 1000;
	journal_open();
	reset();
	return 0;
}

/* One record, as the input says or as the harness adds it; journaled as
 * applied, so the journal replays what happened. */
static void
apply(uint16_t len, uint8_t nic, uint8_t ctl, const uint8_t *frame)
{
	if ((ctl & CTL_RELOAD) && !state.replay &&
	    state.since_reload < RELOAD_GAP)
		ctl &= (uint8_t)~CTL_RELOAD;
	journal_add(len, nic, ctl, frame);
	if (ctl & (CTL_RELOAD | CTL_ADVANCE))
		run_burst();
	if (ctl & CTL_RELOAD) {
		reload();
		state.since_reload = 0;
	}
	state.clock += ((1ull << (ctl & CTL_ADVANCE)) - 1) * state.tsc_ms;
	if (len != 0)
		receive(frame, len, nic);
	if (ctl & (CTL_BREAK | CTL_END))
		run_burst();
	if (ctl & CTL_END)
		check_tables();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;
	uint16_t len;

	if (!state.replay &&
	    (state.inputs == RESET_EVERY ||
	     state.journal_len + size + JOURNAL_SLACK > JOURNAL_BYTES))
		reset();
	state.inputs++;
	state.since_reload++;
	if (!state.replay && state.since_reload >= RELOAD_EVERY)
		apply(0, 0, CTL_RELOAD, NULL);
	while (size - off >= REC_HDR) {
		len = (uint16_t)RTE_MIN(
			be16(data + off),
			RTE_MIN(size - off - REC_HDR, (size_t)FRAME_MAX));
		apply(len, data[off + 2], data[off + 3], data + off + REC_HDR);
		off += REC_HDR + len;
	}
	apply(0, 0, CTL_END, NULL);
	return 0;
}
