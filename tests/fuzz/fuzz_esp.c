/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/*
 * libFuzzer target `esp`: ESP decapsulation (mg_esp_decap_one(), lib/esp
 * on the real crypto_aesni_mb cryptodev) against a fixed set of three
 * peers, with replay windows kept across inputs (the set is rebuilt,
 * windows empty, every RESET_EVERY inputs):
 *   SA 0 peer v4:  198.18.0.2 -> 198.18.0.1, AES-GCM-128, SPI 0x1001,
 *                  window 64
 *   SA 1 peer v4:  a second inbound SA (rekeying), AES-GCM-128, 0x1011
 *   SA 2 peer nat: 198.18.0.3 -> 198.18.0.1 in UDP 4500 -> 4500,
 *                  AES-GCM-256, SPI 0x1002, window 64
 *   SA 3 peer v6:  2001:db8::3 -> 2001:db8::1, AES-GCM-256 with ESN,
 *                  SPI 0x1003, window 128
 * Frames come from a pool (lib/esp frees and reuses them), so a read
 * past a frame inside its mbuf is not an ASan report here.
 *
 * In encrypt mode the harness builds the packet itself, as the peer
 * would, with its own AES-GCM (Intel IPsec-MB's API directly, not the
 * cryptodev) and any 64-bit sequence number; it keeps a model of each
 * window (RFC 4303 3.4.3, ESN reconstruction of appendix A2.1) and so
 * knows the one right answer for each packet.
 *
 * Checked, every frame: the return value, *out and *why agree (1: a
 * frame, reason none; 0: the very mbuf, bytes and length untouched,
 * reason none or esp_required, the latter only for a frame from a
 * peer's prefix, never for ESP to a tunnel endpoint; -1: no frame and
 * exactly one drop counted, by one, under *why, one of the esp_*
 * reasons); nothing left staged or in the device; the mbuf pool and
 * the crypto operation pool back to their baselines (leaks, double
 * frees); a decapsulated frame is marked decapsulated, with the peer
 * whose SA its SPI names (never another peer's mark), keeps the outer
 * Ethernet header and VLAN tags with the inner family's ethertype, and
 * is shorter than its ESP.
 * Encrypt mode, besides: the outcome is the model's. The window is RFC
 * 4303's, the top and the W - 1 numbers below it: a fresh number in it
 * or right of it is decapsulated, and the inner packet is byte for byte
 * what was encrypted (and parses, when the harness built it); one taken
 * before is esp_replay; one left of it esp_out_of_window (with ESN
 * esp_bad_icv: its high bits are taken for the next subspace, RFC 4303
 * A2.2; up to 64 numbers left of it esp_out_of_window too, as the
 * receiver may reconstruct with a window up to 64 larger). An ESP
 * payload too short or not a multiple of 4 bytes, a trailer with wrong
 * padding or next header, or an inner packet that is not IP is
 * esp_malformed (the last one having moved the window). The same packet
 * delivered twice is refused the second time. Any change to the bytes
 * the ICV covers (ESP header, IV, ciphertext, ICV) is refused, and moves
 * no window: esp_bad_icv, or esp_unknown_spi / esp_malformed when the
 * SPI changed, esp_replay / esp_out_of_window when the sequence number
 * did.
 * Raw mode: the general checks; a decapsulated frame must have been
 * fresh to the model, and moves its window too; after an esp_malformed
 * that may have been authentic (an inner packet that is not IP moves
 * the window unseen) the model of that SA stops until the next rebuild.
 *
 * Input: a 1-byte header, then per mode.
 *   [0]  bit 7: encrypt mode (else raw: the rest is the frame);
 *        bit 5: deliver the frame twice
 *   encrypt mode:
 *   [0]  bits 0-1 SA (above); bits 2-3 sequence number: 0 the value
 *        below (low 32 bits without ESN), 1 the window's top plus it
 *        as a signed 16-bit number, 2 the last number the SA took,
 *        3 the window's left edge plus it as a signed 8-bit number;
 *        bit 4: the rest is the whole plaintext (else the harness
 *        builds an inner IPv4/UDP or IPv6/UDP packet around it, pads
 *        it and writes the trailer); bit 6: mutate
 *   [1..8]  that value, big-endian
 *   [9]  bits 0-1 VLAN tags (0-2), bit 2 inner IPv6, bits 3-4 extra
 *        padding (4 bytes each), bits 5-7 Ethernet padding (2 bytes
 *        each)
 *   mutate: [10] n (0-7), then n times 3 bytes: offset into the ICV-
 *        covered bytes (big-endian, modulo their length) and a byte to
 *        XOR there (0 taken as 1)
 *   then the payload (inner UDP payload, or the whole plaintext).
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <netinet/in.h>

#include <intel-ipsec-mb.h>

#include <rte_cryptodev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "fuzz_common.h"
#include "mg_conf.h"
#include "mg_esp.h"
#include "mg_pkt.h"
#include "mg_telemetry.h"

#define RESET_EVERY 4096
#define FRAME_MAX   1900 /* room for the AAD librte_ipsec appends */
#define POOL_SIZE   63
#define N_SA	    4
#define N_PEER	    3
#define ICV	    16
#define TSC_HZ	    UINT64_C(1000000000)

/* The sequence-number kinds of an encrypt-mode header. */
enum { SEQ_ABS, SEQ_TOP, SEQ_LAST, SEQ_EDGE };

struct peer_def {
	const char *name;
	uint8_t family; /* outer */
	uint8_t local[16], remote[16];
	bool udp;
	uint8_t mac[6];
	uint8_t inner4[4];  /* an address behind it */
	uint8_t inner6[16]; /* one of its IPv6 prefix, or none */
};

static const struct peer_def peers[N_PEER] = {
	{ "v4",
	  4,
	  { 198, 18, 0, 1 },
	  { 198, 18, 0, 2 },
	  false,
	  { 0x02, 0, 0, 0, 0, 0x02 },
	  { 198, 18, 50, 7 },
	  { 0x20, 0x01, 0x0d, 0xb8, 0, 0x50, [15] = 7 } },
	{ "nat",
	  4,
	  { 198, 18, 0, 1 },
	  { 198, 18, 0, 3 },
	  true,
	  { 0x02, 0, 0, 0, 0, 0x03 },
	  { 198, 18, 51, 7 },
	  { 0x20, 0x01, 0x0d, 0xb8, 0, 0x51, [15] = 7 } },
	{ "v6",
	  6,
	  { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 },
	  { 0x20, 0x01, 0x0d, 0xb8, [15] = 3 },
	  false,
	  { 0x02, 0, 0, 0, 0, 0x04 },
	  { 198, 18, 52, 7 },
	  { 0x20, 0x01, 0x0d, 0xb8, 0, 0x52, [15] = 7 } },
};

struct sa_def {
	uint32_t spi;
	unsigned int peer;
	unsigned int key_len; /* AES key, the 4-byte salt after it */
	bool esn;
	uint32_t window;
	const char *hex; /* key then salt, as the key file holds them */
};

/* scripts/fuzz_corpus.py encrypts its seeds with the same keys. */
static const struct sa_def sas[N_SA] = {
	{ 0x1001, 0, 16, false, 64,
	  "000102030405060708090a0b0c0d0e0f10111213" },
	{ 0x1011, 0, 16, false, 64,
	  "101112131415161718191a1b1c1d1e1f20212223" },
	{ 0x1002, 1, 32, false, 64,
	  "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
	  "40414243" },
	{ 0x1003, 2, 32, true, 128,
	  "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
	  "80818283" },
};

/* The outbound SAs the config needs (never used here). */
static const char *const out_hex[N_PEER] = {
	"a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3",
	"c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3",
	("e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"
	 "01234567"),
};

static const uint8_t gw_mac[6] = { 0x02, 0x70, 0x63, 0x61, 0x70, 0x00 };

/* The model of one inbound SA's window: its top (highest number taken,
 * 0: none) and which of the 256 numbers up to it were taken. */
struct window {
	uint64_t top;
	uint64_t seen[4]; /* bit i: top - i taken */
	uint64_t last;	  /* the last number taken */
	bool unknown;	  /* a raw frame may have moved it: not modelled */
};

static struct {
	struct rte_mempool *pool, *ops;
	unsigned int ops_base;
	struct mg_esp *esp;
	struct mg_esp_worker *ew;
	struct mg_lcore_stats *stats;
	struct mg_esp_set *set;
	struct mg_esp_marks marks;
	uint16_t peer_id[N_PEER];
	IMB_MGR *mb;
	struct gcm_key_data gk[N_SA];
	uint8_t salt[N_SA][4];
	struct window w[N_SA];
	char dir[64];
	char conf[80];
	unsigned int inputs;
} st;

/* What came of one frame, for the model. */
enum outcome {
	O_ACCEPT = 1 << 0,
	O_REPLAY = 1 << 1,
	O_OOW = 1 << 2,
	O_BAD_ICV = 1 << 3,
	O_MALFORMED = 1 << 4,
	O_UNKNOWN_SPI = 1 << 5,
};

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static unsigned int
hexval(char c)
{
	return c <= '9' ? (unsigned int)(c - '0')
			: (unsigned int)(c - 'a' + 10);
}

static void
unhex(const char *hex, uint8_t *out, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		out[i] = (uint8_t)(hexval(hex[2 * i]) << 4 |
				   hexval(hex[2 * i + 1]));
}

static enum outcome
outcome_of(enum mg_drop_reason why)
{
	/* ESP's reasons are constants, not enumerators, of the enum */
	switch ((int)why) {
	case MG_DROP_ESP_REPLAY: return O_REPLAY;
	case MG_DROP_ESP_OUT_OF_WINDOW: return O_OOW;
	case MG_DROP_ESP_BAD_ICV: return O_BAD_ICV;
	case MG_DROP_ESP_MALFORMED: return O_MALFORMED;
	case MG_DROP_ESP_UNKNOWN_SPI: return O_UNKNOWN_SPI;
	default: return 0;
	}
}

/* ---- the model of a window ---- */

static bool
seen(const struct window *w, uint64_t s)
{
	uint64_t d;

	if (s > w->top)
		return false;
	d = w->top - s;
	return d < 256 && (w->seen[d / 64] >> (d % 64) & 1);
}

static void
take(struct window *w, uint64_t s)
{
	uint64_t d, i;

	if (s > w->top) {
		d = s - w->top;
		if (d >= 256) {
			memset(w->seen, 0, sizeof(w->seen));
		} else {
			for (i = 0; i < d; i++) {
				w->seen[3] = w->seen[3] << 1 | w->seen[2] >> 63;
				w->seen[2] = w->seen[2] << 1 | w->seen[1] >> 63;
				w->seen[1] = w->seen[1] << 1 | w->seen[0] >> 63;
				w->seen[0] <<= 1;
			}
		}
		w->top = s;
	}
	d = w->top - s;
	if (d < 256)
		w->seen[d / 64] |= UINT64_C(1) << (d % 64);
	w->last = s;
}

/* RFC 4303 A2.1: the sequence number a receiver with window top @p top
 * and size @p win takes 32 bits @p low for. */
static uint64_t
reconstruct(uint64_t top, uint32_t low, uint32_t win)
{
	uint32_t th = (uint32_t)(top >> 32), tl = (uint32_t)top;
	uint32_t bl = tl - win + 1;

	if (tl >= win - 1) {
		if (low < bl)
			th++;
	} else if (th != 0 && low >= bl) {
		th--;
	}
	return (uint64_t)th << 32 | low;
}

/* What the window says of number @p r before any ICV: 0 (go on),
 * O_REPLAY or O_OOW. RFC 4303's window: the top and the W - 1 below. */
static unsigned int
window_says(const struct window *w, uint32_t win, uint64_t r)
{
	if (r == 0)
		return O_OOW;
	if (r > w->top)
		return 0;
	if (w->top - r >= win)
		return O_OOW;
	return seen(w, r) ? O_REPLAY : 0;
}

/* ESN: whether 32 bits @p low lie up to 64 numbers left of the window.
 * The receiver may reconstruct the high bits with a window up to 64
 * larger (librte_ipsec's, mg_esp.c's lib_window()) and so find such a
 * number in this subspace, left of its window, where this model takes
 * it for the next one. */
static bool
esn_zone(const struct window *w, uint32_t win, uint32_t low)
{
	uint32_t d = (uint32_t)w->top - low;

	return d >= win && d <= win + 64;
}

/* ---- set-up ---- */

static void
write_file(const char *name, const char *text)
{
	char path[160];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", st.dir, name);
	f = fopen(path, "w");
	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0 ||
	    chmod(path, 0600) != 0) {
		fprintf(stderr, "fuzz_esp: cannot write %s\n", path);
		exit(1);
	}
}

static void
remove_dir(void)
{
	static const char *const files[] = { "esp.conf", "in0.key", "in1.key",
					     "in2.key",	 "in3.key", "out0.key",
					     "out1.key", "out2.key" };
	char path[160];
	unsigned int i;

	for (i = 0; i < RTE_DIM(files); i++) {
		snprintf(path, sizeof(path), "%s/%s", st.dir, files[i]);
		unlink(path);
	}
	rmdir(st.dir);
}

static void
write_config(void)
{
	static const char conf[] =
		"ports = ( { name = \"e\"; device = \"net_null0\"; profile = "
		"\"null\"; addresses = [\"198.18.0.1/24\", "
		"\"2001:db8::1/64\"]; } );\n"
		"peers = (\n"
		"{ name = \"v4\"; local = \"198.18.0.1\"; remote = "
		"\"198.18.0.2\"; replay_window = 64;\n"
		"  inbound = ( { spi = 0x1001; algorithm = \"aes-gcm-128\"; "
		"key_file = \"in0.key\"; },\n"
		"    { spi = 0x1011; algorithm = \"aes-gcm-128\"; key_file = "
		"\"in1.key\"; } );\n"
		"  outbound = { spi = 0x2001; algorithm = \"aes-gcm-128\"; "
		"key_file = \"out0.key\"; };\n"
		"  prefixes = [\"198.18.50.0/24\", \"2001:db8:50::/64\"]; },\n"
		"{ name = \"nat\"; local = \"198.18.0.1\"; remote = "
		"\"198.18.0.3\"; udp_encap = true; replay_window = 64;\n"
		"  inbound = ( { spi = 0x1002; algorithm = \"aes-gcm-256\"; "
		"key_file = \"in2.key\"; } );\n"
		"  outbound = { spi = 0x2002; algorithm = \"aes-gcm-128\"; "
		"key_file = \"out1.key\"; };\n"
		"  prefixes = [\"198.18.51.0/24\", \"2001:db8:51::/64\"]; },\n"
		"{ name = \"v6\"; local = \"2001:db8::1\"; remote = "
		"\"2001:db8::3\"; esn = true; replay_window = 128;\n"
		"  inbound = ( { spi = 0x1003; algorithm = \"aes-gcm-256\"; "
		"key_file = \"in3.key\"; } );\n"
		"  outbound = { spi = 0x2003; algorithm = \"aes-gcm-256\"; "
		"key_file = \"out2.key\"; };\n"
		"  prefixes = [\"198.18.52.0/24\", \"2001:db8:52::/64\"]; } "
		");\n";
	char name[16], text[80];
	unsigned int i;

	snprintf(st.dir, sizeof(st.dir), "/tmp/fuzz_esp.XXXXXX");
	if (mkdtemp(st.dir) == NULL) {
		perror("fuzz_esp: mkdtemp");
		exit(1);
	}
	for (i = 0; i < N_SA; i++) {
		snprintf(name, sizeof(name), "in%u.key", i);
		snprintf(text, sizeof(text), "%s\n", sas[i].hex);
		write_file(name, text);
	}
	for (i = 0; i < N_PEER; i++) {
		snprintf(name, sizeof(name), "out%u.key", i);
		snprintf(text, sizeof(text), "%s\n", out_hex[i]);
		write_file(name, text);
	}
	write_file("esp.conf", conf);
	snprintf(st.conf, sizeof(st.conf), "%s/esp.conf", st.dir);
}

/* A new set: new SAs, their windows empty. */
static void
build_set(void)
{
	struct mg_conf_errors errs;
	struct mg_conf *c;
	struct mg_addr a;
	char err[512];
	unsigned int i;

	if (st.set != NULL) {
		mg_esp_set_free(st.set);
		/* no RCU here: the old SAs retire at once */
		mg_esp_tick(st.esp, 0);
	}
	/* the files live only while they are read: a finding aborts */
	write_config();
	c = mg_conf_load(st.conf, MG_DRIVERS_CONF_DIR, &errs);
	if (c == NULL) {
		fprintf(stderr, "fuzz_esp: %s\n", errs.msg[0]);
		exit(1);
	}
	st.set = mg_esp_set_build(st.esp, c, NULL, 0, err, sizeof(err));
	mg_conf_free(c);
	remove_dir();
	if (st.set == NULL) {
		fprintf(stderr, "fuzz_esp: %s\n", err);
		exit(1);
	}
	for (i = 0; i < N_PEER; i++) {
		memset(&a, 0, sizeof(a));
		a.family = 4;
		memcpy(a.bytes, peers[i].inner4, 4);
		st.peer_id[i] = mg_esp_route(st.set, &a);
		if (st.peer_id[i] == 0)
			abort();
	}
	memset(st.w, 0, sizeof(st.w));
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const struct mg_esp_params p = {
		.n_workers = 1,
		.socket = SOCKET_ID_ANY,
		.qp_depth = 64,
		.qsv = NULL,
		.tsc_hz = TSC_HZ,
	};
	uint8_t key[36];
	unsigned int i;

	(void)argc;
	(void)argv;
	fz_eal_init("fuzz_esp", NULL);
	st.pool = rte_pktmbuf_pool_create("fz_esp", POOL_SIZE, 0, 0,
					  RTE_MBUF_DEFAULT_BUF_SIZE,
					  (int)rte_socket_id());
	st.stats = calloc(1, sizeof(*st.stats));
	st.esp = mg_esp_create(&p);
	if (st.pool == NULL || st.stats == NULL || st.esp == NULL)
		exit(1);
	st.ew = mg_esp_worker_create(st.esp, 0, st.stats, SOCKET_ID_ANY);
	st.ops = rte_mempool_lookup("mg_esp_ops");
	if (st.ew == NULL || st.ops == NULL)
		exit(1);
	st.ops_base = rte_mempool_in_use_count(st.ops);
	st.marks = mg_esp_marks(st.esp);
	st.mb = alloc_mb_mgr(0);
	if (st.mb == NULL)
		exit(1);
	init_mb_mgr_auto(st.mb, NULL);
	for (i = 0; i < N_SA; i++) {
		unhex(sas[i].hex, key, sas[i].key_len + 4);
		memcpy(st.salt[i], key + sas[i].key_len, 4);
		if (sas[i].key_len == 16)
			IMB_AES128_GCM_PRE(st.mb, key, &st.gk[i]);
		else
			IMB_AES256_GCM_PRE(st.mb, key, &st.gk[i]);
	}
	build_set();
	return 0;
}

/* ---- frames ---- */

static struct rte_mbuf *
mbuf_of(const uint8_t *frame, uint16_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(st.pool);
	uint8_t *p;

	FZ_CHECK(m != NULL, "mbuf pool empty: %u in use",
		 rte_mempool_in_use_count(st.pool));
	p = (uint8_t *)rte_pktmbuf_append(m, len);
	if (p == NULL)
		abort();
	memcpy(p, frame, len);
	return m;
}

/* The SA of a parsed ESP frame's SPI, or -1. */
static int
sa_of_spi(uint32_t spi)
{
	int i;

	for (i = 0; i < N_SA; i++)
		if (sas[i].spi == spi)
			return i;
	return -1;
}

/* Whether a parsed frame is ESP for one of the tunnel endpoints. */
static bool
for_endpoint(const struct mg_pkt_info *pi)
{
	unsigned int i;

	if (pi->frag != 0 || !(pi->tuple.proto == IPPROTO_ESP ||
			       (pi->tuple.proto == IPPROTO_UDP &&
				pi->tuple.dport == RTE_BE16(MG_ESP_NATT_PORT))))
		return false;
	for (i = 0; i < N_PEER; i++)
		if (pi->tuple.family == peers[i].family &&
		    memcmp(pi->tuple.dst, peers[i].local,
			   peers[i].family == 4 ? 4 : 16) == 0)
			return true;
	return false;
}

/* What one delivery gave, checked for what holds of every frame. */
struct result {
	int rc;
	enum mg_drop_reason why;
	int sa; /* the SA its SPI names, decapsulated */
	bool parsed;
	struct mg_pkt_info pi; /* the frame, parsed */
};

static struct result
deliver(const uint8_t *frame, uint16_t len, uint8_t *inner, uint16_t *inner_len)
{
	uint64_t before[MG_DROP_CAPACITY];
	struct mg_pkt_info pi;
	struct result r = { 0, MG_DROP_NONE, -1, false, { 0 } };
	struct rte_mbuf *m, *out;
	enum mg_drop_reason why;
	bool parsed, endpoint = false;
	unsigned int i, moved = 0;
	const uint8_t *o;

	/* the harness's own view of the frame, from a copy */
	m = mbuf_of(frame, len);
	parsed = mg_pkt_parse(m, &pi) == MG_DROP_NONE;
	rte_pktmbuf_free(m);
	if (parsed)
		endpoint = for_endpoint(&pi);
	r.parsed = parsed;
	r.pi = pi;

	memcpy(before, st.stats->drops, sizeof(before));
	m = mbuf_of(frame, len);
	out = (struct rte_mbuf *)(uintptr_t)1;
	why = (enum mg_drop_reason)0xff;
	r.rc = mg_esp_decap_one(st.ew, st.set, m, 0, &out, &why);
	r.why = why;
	FZ_CHECK(!mg_esp_busy(st.ew), "packets left staged or in the device");
	for (i = 0; i < MG_DROP_CAPACITY; i++) {
		if (st.stats->drops[i] == before[i])
			continue;
		FZ_CHECK(st.stats->drops[i] == before[i] + 1,
			 "drop %s counted %llu times for one frame",
			 mg_drop_reason_name((enum mg_drop_reason)i),
			 (unsigned long long)(st.stats->drops[i] - before[i]));
		FZ_CHECK(r.rc == -1 && i == why,
			 "rc %d, why %s, but %s counted", r.rc,
			 mg_drop_reason_name(why),
			 mg_drop_reason_name((enum mg_drop_reason)i));
		moved++;
	}
	switch (r.rc) {
	case 0:
		FZ_CHECK(out == m, "not ESP for the set, but *out is not m");
		FZ_CHECK(m->pkt_len == len && m->data_len == len &&
				 memcmp(rte_pktmbuf_mtod(m, uint8_t *), frame,
					len) == 0,
			 "a frame handed back was changed");
		FZ_CHECK(why == MG_DROP_NONE || why == MG_DROP_ESP_REQUIRED,
			 "handed back with reason %s",
			 mg_drop_reason_name(why));
		FZ_CHECK(!endpoint,
			 "ESP for a tunnel endpoint handed back (%s)",
			 mg_drop_reason_name(why));
		if (why == MG_DROP_ESP_REQUIRED) {
			struct mg_addr a = { .family = pi.tuple.family };

			FZ_CHECK(parsed,
				 "esp_required on an unparseable frame");
			memcpy(a.bytes, pi.tuple.src, 16);
			FZ_CHECK(mg_esp_route(st.set, &a) != 0,
				 "esp_required for a source behind no peer");
		}
		rte_pktmbuf_free(m);
		break;
	case -1:
		FZ_CHECK(out == NULL, "dropped, but *out is set");
		FZ_CHECK(outcome_of(why) != 0, "dropped under %s",
			 mg_drop_reason_name(why));
		FZ_CHECK(moved == 1, "dropped under %s, %u drops counted",
			 mg_drop_reason_name(why), moved);
		FZ_CHECK(parsed && endpoint, "dropped what is no ESP for us");
		break;
	case 1:
		FZ_CHECK(out != NULL && why == MG_DROP_NONE,
			 "decapsulated: out %p, why %s", (void *)out,
			 mg_drop_reason_name(why));
		FZ_CHECK(parsed && endpoint, "decapsulated what is no ESP");
		r.sa = sa_of_spi(be32(frame + pi.payload_off));
		FZ_CHECK(r.sa >= 0, "decapsulated under SPI 0x%x, none of ours",
			 be32(frame + pi.payload_off));
		FZ_CHECK((out->ol_flags & st.marks.decap) &&
				 mg_esp_origin(&st.marks, out) ==
					 st.peer_id[sas[r.sa].peer],
			 "SA 0x%x's packet marked with peer %u, not %u",
			 sas[r.sa].spi, mg_esp_origin(&st.marks, out),
			 st.peer_id[sas[r.sa].peer]);
		FZ_CHECK(out->nb_segs == 1 && out->pkt_len > pi.l3_off &&
				 out->pkt_len - pi.l3_off + 16 + 8 + 8 + 2 <=
					 pi.payload_len,
			 "inner packet of %u bytes from %u of ESP",
			 out->pkt_len, pi.payload_len);
		o = rte_pktmbuf_mtod(out, const uint8_t *);
		FZ_CHECK(memcmp(o, frame, pi.l3_off - 2) == 0,
			 "outer Ethernet header or VLAN tags not kept");
		FZ_CHECK((o[pi.l3_off] >> 4 == 4 && o[pi.l3_off - 2] == 0x08 &&
			  o[pi.l3_off - 1] == 0x00) ||
				 (o[pi.l3_off] >> 4 == 6 &&
				  o[pi.l3_off - 2] == 0x86 &&
				  o[pi.l3_off - 1] == 0xdd),
			 "inner version %u under ethertype %02x%02x",
			 o[pi.l3_off] >> 4, o[pi.l3_off - 2], o[pi.l3_off - 1]);
		*inner_len = (uint16_t)(out->pkt_len - pi.l3_off);
		memcpy(inner, o + pi.l3_off, *inner_len);
		/* a raw frame moves the model's window too */
		{
			struct window *w = &st.w[r.sa];
			uint32_t low = be32(frame + pi.payload_off + 4);
			uint64_t s = sas[r.sa].esn
					     ? reconstruct(w->top, low,
							   sas[r.sa].window)
					     : low;
			if (!w->unknown) {
				FZ_CHECK(window_says(w, sas[r.sa].window, s) ==
						 0,
					 "SA 0x%x took %llu: top %llu, %s",
					 sas[r.sa].spi, (unsigned long long)s,
					 (unsigned long long)w->top,
					 seen(w, s) ? "seen before"
						    : "out of window");
				take(w, s);
			}
		}
		rte_pktmbuf_free(out);
		break;
	default: FZ_CHECK(false, "mg_esp_decap_one() returned %d", r.rc);
	}
	FZ_CHECK(rte_mempool_in_use_count(st.pool) == 0,
		 "%u mbufs in use after a frame",
		 rte_mempool_in_use_count(st.pool));
	FZ_CHECK(rte_mempool_in_use_count(st.ops) == st.ops_base,
		 "%u crypto operations in use, %u before",
		 rte_mempool_in_use_count(st.ops), st.ops_base);
	return r;
}

/* ---- encrypt mode ---- */

/* The packet as built: where its parts are. */
struct built {
	uint16_t len;	  /* frame */
	uint16_t esp_off; /* ESP header */
	uint16_t esp_len; /* ESP header to ICV end */
	uint16_t l2;	  /* Ethernet and tags */
	uint32_t seq_low; /* on the wire */
};

/* The inner packet the harness builds: IPv4 or IPv6, UDP, from behind
 * the peer to a service address, with valid checksums. */
static uint16_t
build_inner(uint8_t *p, const struct peer_def *pd, bool v6,
	    const uint8_t *payload, uint16_t plen)
{
	static const uint8_t dst4[4] = { 198, 19, 0, 10 };
	static const uint8_t dst6[16] = { 0x20, 0x01, 0x0d,	  0xb8,
					  0,	0xff, [15] = 0x10 };
	uint16_t hl = v6 ? 40 : 20, ulen = (uint16_t)(8 + plen);
	uint8_t *u = p + hl;
	uint16_t ck;

	memset(p, 0, hl + 8);
	if (v6) {
		p[0] = 0x60;
		put16(p + 4, ulen);
		p[6] = IPPROTO_UDP;
		p[7] = 64;
		memcpy(p + 8, pd->inner6, 16);
		memcpy(p + 24, dst6, 16);
	} else {
		p[0] = 0x45;
		put16(p + 2, (uint16_t)(20 + ulen));
		p[8] = 64;
		p[9] = IPPROTO_UDP;
		memcpy(p + 12, pd->inner4, 4);
		memcpy(p + 16, dst4, 4);
		ck = (uint16_t)~fz_fold(fz_sum(p, 20, 0));
		put16(p + 10, ck);
	}
	put16(u, 40000);
	put16(u + 2, 80);
	put16(u + 4, ulen);
	memcpy(u + 8, payload, plen);
	ck = (uint16_t)~fz_fold(fz_l4_sum(p, !v6, IPPROTO_UDP, u, ulen));
	put16(u + 6, ck == 0 ? 0xffff : ck);
	return (uint16_t)(hl + ulen);
}

/* ESP of SA @p sa with sequence number @p seq around plaintext @p pt,
 * in a frame from the peer to the gateway. */
static void
build_frame(uint8_t *f, struct built *b, int sa, uint64_t seq,
	    const uint8_t *pt, uint16_t pt_len, unsigned int vlans,
	    unsigned int eth_pad)
{
	const struct sa_def *sd = &sas[sa];
	const struct peer_def *pd = &peers[sd->peer];
	uint16_t off, ip_off, ip_len;
	uint8_t iv[12], aad[12];
	uint64_t ivv = seq ^ UINT64_C(0x5a17c0de0badf00d);
	unsigned int i;
	struct gcm_context_data ctx;
	uint8_t *esp;

	memcpy(f, gw_mac, 6);
	memcpy(f + 6, pd->mac, 6);
	off = 12;
	for (i = 0; i < vlans; i++) {
		put16(f + off, i == 0 && vlans == 2 ? 0x88a8 : 0x8100);
		put16(f + off + 2, (uint16_t)(100 + i));
		off += 4;
	}
	put16(f + off, pd->family == 4 ? 0x0800 : 0x86dd);
	off += 2;
	b->l2 = off;
	ip_off = off;
	off += pd->family == 4 ? 20 : 40;
	if (pd->udp)
		off += 8;
	b->esp_off = off;
	b->esp_len = (uint16_t)(8 + 8 + pt_len + ICV);
	ip_len = (uint16_t)(off - ip_off + b->esp_len);
	b->len = (uint16_t)(off + b->esp_len + eth_pad);
	b->seq_low = (uint32_t)seq;
	memset(f + ip_off, 0, off - ip_off);
	if (pd->family == 4) {
		uint8_t *ip = f + ip_off;

		ip[0] = 0x45;
		put16(ip + 2, ip_len);
		ip[8] = 64;
		ip[9] = pd->udp ? IPPROTO_UDP : IPPROTO_ESP;
		memcpy(ip + 12, pd->remote, 4);
		memcpy(ip + 16, pd->local, 4);
		put16(ip + 10, (uint16_t)~fz_fold(fz_sum(ip, 20, 0)));
	} else {
		uint8_t *ip = f + ip_off;

		ip[0] = 0x60;
		put16(ip + 4, (uint16_t)(ip_len - 40));
		ip[6] = pd->udp ? IPPROTO_UDP : IPPROTO_ESP;
		ip[7] = 64;
		memcpy(ip + 8, pd->remote, 16);
		memcpy(ip + 24, pd->local, 16);
	}
	if (pd->udp) {
		uint8_t *u = f + b->esp_off - 8;

		put16(u, MG_ESP_NATT_PORT);
		put16(u + 2, MG_ESP_NATT_PORT);
		put16(u + 4, (uint16_t)(8 + b->esp_len));
		/* checksum 0: none, over IPv4 (RFC 3948) */
	}
	esp = f + b->esp_off;
	put32(esp, sd->spi);
	put32(esp + 4, (uint32_t)seq);
	for (i = 0; i < 8; i++)
		esp[8 + i] = (uint8_t)(ivv >> (56 - 8 * i));
	/* RFC 4106: nonce = salt, IV; AAD = SPI, (ESN high,) low */
	memcpy(iv, st.salt[sa], 4);
	memcpy(iv + 4, esp + 8, 8);
	put32(aad, sd->spi);
	if (sd->esn) {
		put32(aad + 4, (uint32_t)(seq >> 32));
		put32(aad + 8, (uint32_t)seq);
	} else {
		put32(aad + 4, (uint32_t)seq);
	}
	if (sd->key_len == 16)
		IMB_AES128_GCM_ENC(st.mb, &st.gk[sa], &ctx, esp + 16, pt,
				   pt_len, iv, aad, sd->esn ? 12 : 8,
				   esp + 16 + pt_len, ICV);
	else
		IMB_AES256_GCM_ENC(st.mb, &st.gk[sa], &ctx, esp + 16, pt,
				   pt_len, iv, aad, sd->esn ? 12 : 8,
				   esp + 16 + pt_len, ICV);
	memset(f + off + b->esp_len, 0, eth_pad);
}

/* What the plaintext is, as the receiver's checks see it. */
struct plain {
	bool short_or_odd; /* refused before any ICV */
	bool trailer_ok;   /* padding and next header */
	bool inner_ip;	   /* the inner packet starts IPv4 or IPv6 */
	uint16_t inner_len;
};

static struct plain
plain_of(const uint8_t *pt, uint16_t n)
{
	struct plain p = { 0 };
	unsigned int pad, i;

	p.short_or_odd = n < 24 || n % 4 != 0;
	if (n < 2)
		return p;
	pad = pt[n - 2];
	p.trailer_ok = pad + 2u <= n &&
		       (pt[n - 1] == IPPROTO_IPIP || pt[n - 1] == IPPROTO_IPV6);
	for (i = 0; p.trailer_ok && i < pad; i++)
		if (pt[n - 2 - pad + i] != i + 1)
			p.trailer_ok = false;
	if (p.trailer_ok) {
		p.inner_len = (uint16_t)(n - 2 - pad);
		p.inner_ip =
			p.inner_len > 0 && (pt[0] >> 4 == 4 || pt[0] >> 4 == 6);
	}
	return p;
}

static const char *
outcomes(unsigned int o, char *s, size_t len)
{
	snprintf(s, len, "%s%s%s%s%s%s", o & O_ACCEPT ? "accept " : "",
		 o & O_REPLAY ? "replay " : "", o & O_OOW ? "oow " : "",
		 o & O_BAD_ICV ? "bad_icv " : "",
		 o & O_MALFORMED ? "malformed " : "",
		 o & O_UNKNOWN_SPI ? "unknown_spi " : "");
	return s;
}

static void
encrypt_mode(const uint8_t *data, size_t size)
{
	static uint8_t pt[FRAME_MAX], f[FRAME_MAX + 64], g[FRAME_MAX + 64];
	static uint8_t inner[FRAME_MAX];
	uint8_t hdr = data[0], fl;
	int sa = hdr & 3;
	const struct sa_def *sd = &sas[sa];
	struct window *w = &st.w[sa];
	unsigned int kind = hdr >> 2 & 3, vlans, n_mut = 0, i;
	bool raw_pt = hdr & 0x10, mutate = hdr & 0x40, twice = hdr & 0x20;
	bool v6, zone = false, changed = false, spi_hit = false,
		 seq_hit = false;
	uint64_t v = 0, seq, r;
	const uint8_t *payload;
	uint16_t plen, pt_len, inner_len = 0, out_len = 0;
	unsigned int pre, allowed, got;
	char s1[96], s2[96];
	struct built b;
	struct plain pl;
	struct result res;

	if (size < 10)
		return;
	fl = data[9];
	vlans = fl & 3;
	v6 = fl & 4;
	if (vlans == 3)
		vlans = 2;
	for (i = 1; i <= 8; i++)
		v = v << 8 | data[i];
	payload = data + 10;
	plen = (uint16_t)(size - 10);
	if (mutate) {
		if (plen < 1)
			return;
		n_mut = payload[0] & 7;
		if (plen < 1 + 3 * n_mut)
			return;
		payload += 1 + 3 * n_mut;
		plen = (uint16_t)(plen - 1 - 3 * n_mut);
	}
	if (plen > FRAME_MAX - 200)
		plen = FRAME_MAX - 200;

	switch (kind) {
	case SEQ_ABS: seq = v; break;
	case SEQ_TOP: seq = w->top + (uint64_t)(int64_t)(int16_t)v; break;
	case SEQ_LAST: seq = w->last; break;
	default:
		seq = w->top - sd->window + (uint64_t)(int64_t)(int8_t)v;
		break;
	}
	if (!sd->esn)
		seq = (uint32_t)seq;

	if (raw_pt) {
		memcpy(pt, payload, plen);
		pt_len = plen;
	} else {
		unsigned int pad;

		inner_len =
			build_inner(pt, &peers[sd->peer], v6, payload, plen);
		pad = (4 - (inner_len + 2u) % 4) % 4 + 4 * (fl >> 3 & 3);
		for (i = 0; i < pad; i++)
			pt[inner_len + i] = (uint8_t)(i + 1);
		pt[inner_len + pad] = (uint8_t)pad;
		pt[inner_len + pad + 1] = v6 ? IPPROTO_IPV6 : IPPROTO_IPIP;
		pt_len = (uint16_t)(inner_len + pad + 2);
	}
	build_frame(f, &b, sa, seq, pt, pt_len, vlans, 2 * (fl >> 5));
	memcpy(g, f, b.len);
	for (i = 0; i < n_mut; i++) {
		const uint8_t *mu = data + 11 + 3 * i;
		unsigned int at =
			(unsigned int)(mu[0] << 8 | mu[1]) % b.esp_len;

		g[b.esp_off + at] ^= mu[2] != 0 ? mu[2] : 1;
	}
	for (i = 0; i < b.esp_len; i++) {
		if (g[b.esp_off + i] == f[b.esp_off + i])
			continue;
		changed = true;
		spi_hit |= i < 4;
		seq_hit |= i >= 4 && i < 8;
	}

	/* the one answer */
	pl = plain_of(pt, pt_len);
	r = sd->esn ? reconstruct(w->top, (uint32_t)seq, sd->window) : seq;
	pre = window_says(w, sd->window, r);
	if (pl.short_or_odd)
		allowed = O_MALFORMED;
	else if (pre != 0)
		allowed = pre;
	else if (r != seq)
		allowed = O_BAD_ICV;
	else if (!pl.trailer_ok || !pl.inner_ip)
		allowed = O_MALFORMED;
	else
		allowed = O_ACCEPT;
	zone = sd->esn && !pl.short_or_odd &&
	       esn_zone(w, sd->window, (uint32_t)seq);
	if (zone)
		allowed |= O_OOW;
	if (changed) {
		/* nothing the ICV covers changes unnoticed */
		allowed = O_BAD_ICV | (pl.short_or_odd ? O_MALFORMED : 0) |
			  (pre & (O_REPLAY | O_OOW)) | (zone ? O_OOW : 0);
		if (spi_hit)
			allowed |=
				O_UNKNOWN_SPI | O_MALFORMED | O_REPLAY | O_OOW;
		if (seq_hit)
			allowed |= O_REPLAY | O_OOW;
	}
	if (w->unknown)
		allowed = ~0u;

	res = deliver(g, b.len, inner, &out_len);
	got = res.rc == 1 ? O_ACCEPT : outcome_of(res.why);
	FZ_CHECK(res.rc != 0, "our own ESP handed back (%s)",
		 mg_drop_reason_name(res.why));
	FZ_CHECK(got & allowed,
		 "SA 0x%x, sequence number %llu (top %llu, window %u%s%s): "
		 "got %s, expected %s",
		 sd->spi, (unsigned long long)seq, (unsigned long long)w->top,
		 sd->window, zone ? ", ESN left of it" : "",
		 changed ? ", changed" : "", outcomes(got, s1, sizeof(s1)),
		 outcomes(allowed, s2, sizeof(s2)));
	if (res.rc == 1 && !changed && !w->unknown) {
		/* deliver() moved the model (it checked it was fresh) */
		FZ_CHECK(out_len == pl.inner_len &&
				 memcmp(inner, pt, out_len) == 0,
			 "inner packet of %u bytes is not the %u encrypted",
			 out_len, pl.inner_len);
		if (!raw_pt) {
			struct rte_mbuf *m;
			struct mg_pkt_info pi;

			memcpy(g, f, b.l2);
			g[b.l2 - 2] = v6 ? 0x86 : 0x08;
			g[b.l2 - 1] = v6 ? 0xdd : 0x00;
			memcpy(g + b.l2, inner, out_len);
			m = mbuf_of(g, (uint16_t)(b.l2 + out_len));
			FZ_CHECK(mg_pkt_parse(m, &pi) == MG_DROP_NONE &&
					 pi.l3 == (v6 ? MG_L3_IPV6
						      : MG_L3_IPV4) &&
					 pi.tuple.proto == IPPROTO_UDP &&
					 pi.payload_len == plen,
				 "the decapsulated frame does not parse");
			rte_pktmbuf_free(m);
		}
	}
	/* an authentic packet that was not IP moved the window */
	if (got == O_MALFORMED && !changed && !w->unknown && !pl.short_or_odd &&
	    pl.trailer_ok && !pl.inner_ip && r == seq)
		take(w, r);
	if (twice) {
		memcpy(g, f, b.len);
		if (changed) {
			for (i = 0; i < n_mut; i++) {
				const uint8_t *mu = data + 11 + 3 * i;
				unsigned int at =
					(unsigned int)(mu[0] << 8 | mu[1]) %
					b.esp_len;

				g[b.esp_off + at] ^= mu[2] != 0 ? mu[2] : 1;
			}
		}
		res = deliver(g, b.len, inner, &out_len);
		if (got == O_ACCEPT || got == O_MALFORMED)
			FZ_CHECK(res.rc == -1 &&
					 (res.why == MG_DROP_ESP_REPLAY ||
					  res.why == MG_DROP_ESP_MALFORMED),
				 "delivered twice: the second time %d (%s)",
				 res.rc, mg_drop_reason_name(res.why));
		if (got == O_ACCEPT)
			FZ_CHECK(res.why == MG_DROP_ESP_REPLAY,
				 "a sequence number taken twice: %s",
				 mg_drop_reason_name(res.why));
	}
}

/* ---- raw mode ---- */

static void
raw_mode(const uint8_t *data, size_t size)
{
	static uint8_t inner[FRAME_MAX];
	uint16_t len = (uint16_t)(size - 1), out_len;
	struct result r;

	if (size - 1 > FRAME_MAX)
		return;
	r = deliver(data + 1, len, inner, &out_len);
	if (r.rc == -1 && r.why == MG_DROP_ESP_MALFORMED &&
	    r.pi.payload_len >= 8 + 8 + 24 + ICV &&
	    (r.pi.payload_len - 8 - 8 - ICV) % 4 == 0) {
		/* maybe an authentic packet that is not IP: it moved its
		 * SA's window, and the harness cannot tell */
		int sa = sa_of_spi(be32(data + 1 + r.pi.payload_off));

		if (sa >= 0)
			st.w[sa].unknown = true;
	}
	if (data[0] & 0x20) {
		bool first = r.rc == 1;

		r = deliver(data + 1, len, inner, &out_len);
		if (first)
			FZ_CHECK(r.rc == -1 && r.why == MG_DROP_ESP_REPLAY,
				 "a frame taken twice: %d (%s)", r.rc,
				 mg_drop_reason_name(r.why));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (++st.inputs == RESET_EVERY) {
		build_set();
		st.inputs = 0;
	}
	if (data[0] & 0x80)
		encrypt_mode(data, size);
	else
		raw_mode(data, size);
	return 0;
}
