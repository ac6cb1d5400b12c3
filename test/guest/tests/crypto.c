/*
 * test=crypto: virtio-crypto (virtio 1.2, section 5.9) without MUX mode, the fixed 72-byte control and data requests.
 * Reads the config (HW_READY, max_dataqueues, the CIPHER service and its algorithm bits), then for every published
 * vector whose algorithm the device advertises makes an encrypt and a decrypt session on the control queue and runs
 * the vector both ways on data queue 0: AES-128 and AES-256 in ECB and CBC (NIST SP 800-38A F.1, F.2), AES-128 in
 * CTR (F.5) and XTS-AES-128 (IEEE 1619 vector 2). An algorithm the device does not advertise is skipped and named.
 * Then what the device must refuse: a key length the algorithm does not take (ERR), an algorithm no spec defines
 * (NOTSUPP), a request on a destroyed session (INVSESS) and destroying it again (ERR); a fresh session works after
 * them all. crypto_unknown_status=N expects N for the unknown algorithm instead (QEMU 7.2 answers ERR).
 */
#include "../guest.h"
#include "../memory.h"
#include "../virtio.h"

#define VIRTIO_ID_CRYPTO 20
#define DATAQ 0

/* virtio_crypto_config */
#define CFG_STATUS 0
#define CFG_MAX_DATAQUEUES 4
#define CFG_SERVICES 8
#define CFG_CIPHER_L 12
#define CFG_CIPHER_H 16
#define CFG_MAX_CIPHER_KEY 36
#define CFG_MAX_SIZE 48
#define HW_READY 1
#define SERVICE_CIPHER 0

#define OPCODE(service, op) ((u32)(service) << 8 | (op))
#define CIPHER_ENCRYPT OPCODE(SERVICE_CIPHER, 0x00)
#define CIPHER_DECRYPT OPCODE(SERVICE_CIPHER, 0x01)
#define CIPHER_CREATE_SESSION OPCODE(SERVICE_CIPHER, 0x02)
#define CIPHER_DESTROY_SESSION OPCODE(SERVICE_CIPHER, 0x03)

#define ST_OK 0
#define ST_ERR 1
#define ST_NOTSUPP 3
#define ST_INVSESS 4
/* A status no device writes: what the test puts in the status byte before a request. */
#define ST_UNSET 0xee

#define ALG_AES_ECB 2
#define ALG_AES_CBC 3
#define ALG_AES_CTR 4
#define ALG_AES_XTS 13
/* A cipher algorithm number no version of the spec defines. */
#define ALG_UNKNOWN 1000
#define OP_ENCRYPT 1
#define OP_DECRYPT 2
#define SYM_OP_CIPHER 1

#define MAX_KEY 64
#define MAX_DATA 64
#define BLOCK 16

struct ctrl_req {
	u32 opcode, algo, flag, queue_id;
	union {
		/* virtio_crypto_sym_create_session_req: the cipher para, padding to 48 bytes, op_type. */
		struct {
			u32 algo, key_len, op, padding;
			u8 rest[32];
			u32 op_type, padding2;
		} create;
		struct {
			u64 session_id;
			u8 rest[48];
		} destroy;
	};
} __attribute__((packed));

struct session_input {
	u64 session_id;
	u32 status;
	u32 padding;
} __attribute__((packed));

struct data_req {
	u32 opcode, algo;
	u64 session_id;
	u32 flag, padding;
	/* virtio_crypto_sym_data_req: the cipher para, padding to 40 bytes, op_type. */
	u32 iv_len, src_len, dst_len, para_padding;
	u8 rest[24];
	u32 op_type, padding2;
} __attribute__((packed));

_Static_assert(sizeof(struct ctrl_req) == 72, "virtio_crypto_op_ctrl_req is 72 bytes");
_Static_assert(sizeof(struct data_req) == 72, "virtio_crypto_op_data_req is 72 bytes");

struct crypto {
	struct virtio_dev dev;
	struct virtq *data, *ctrl;
	u64 algos;
	struct ctrl_req *creq;
	struct session_input *input;
	struct data_req *dreq;
	u8 *key, *iv, *src, *dst, *status;
};

struct vector {
	const char *name;
	u32 algo;
	const char *key, *iv, *plain, *cipher;
};

#define SP_PLAIN "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51" \
		 "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"
#define SP_KEY_128 "2b7e151628aed2a6abf7158809cf4f3c"
#define SP_KEY_256 "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4"
#define SP_IV "000102030405060708090a0b0c0d0e0f"

static const struct vector vectors[] = {
	{ "ecb-aes128", ALG_AES_ECB, SP_KEY_128, "", SP_PLAIN,
	  "3ad77bb40d7a3660a89ecaf32466ef97f5d3d58503b9699de785895a96fdbaaf"
	  "43b1cd7f598ece23881b00e3ed0306887b0c785e27e8ad3f8223207104725dd4" },
	{ "ecb-aes256", ALG_AES_ECB, SP_KEY_256, "", SP_PLAIN,
	  "f3eed1bdb5d2a03c064b5a7e3db181f8591ccb10d410ed26dc5ba74a31362870"
	  "b6ed21b99ca6f4f9f153e7b1beafed1d23304b7a39f9f3ff067d8d8f9e24ecc7" },
	{ "cbc-aes128", ALG_AES_CBC, SP_KEY_128, SP_IV, SP_PLAIN,
	  "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2"
	  "73bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7" },
	{ "cbc-aes256", ALG_AES_CBC, SP_KEY_256, SP_IV, SP_PLAIN,
	  "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d"
	  "39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b" },
	{ "ctr-aes128", ALG_AES_CTR, SP_KEY_128, "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff", SP_PLAIN,
	  "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff"
	  "5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee" },
	/* IEEE 1619 vector 2: the tweak is data unit 0x3333333333, little-endian. */
	{ "xts-aes128", ALG_AES_XTS, "1111111111111111111111111111111122222222222222222222222222222222",
	  "33333333330000000000000000000000", "4444444444444444444444444444444444444444444444444444444444444444",
	  "c454185e6a16936e39334038acef838bfb186fff7480adc4289382ecd6d394f0" },
};

/* Decodes a hex string into out (at most cap bytes); returns the byte count. */
static u32 unhex(const char *text, u8 *out, u32 cap)
{
	u32 n = 0;
	for (; text[0] && text[1]; text += 2) {
		int hi = digit_value(text[0]), lo = digit_value(text[1]);
		if (hi > 15 || lo > 15 || n == cap)
			fail("bad test vector text at '%s'", text);
		out[n++] = (u8)(hi << 4 | lo);
	}
	return n;
}

static bool advertised(const struct crypto *c, u32 algo)
{
	return algo < 64 && (c->algos >> algo & 1);
}

/* Posts a chain, kicks, and waits for its used entry; the device must not ask for a reset. */
static void exchange(struct virtq *q, const struct vbuf *chain, unsigned n, const char *what)
{
	if (virtq_post(q, chain, n, 1, 0) < 0)
		fail("%s: the queue is full with nothing in flight", what);
	virtq_kick(q);
	struct virtq_done done;
	enum virtq_outcome got = virtq_wait_or_reset_default(q, &done);
	if (got != VIRTQ_USED)
		fail("%s %s", what, got == VIRTQ_NEEDS_RESET ? "set DEVICE_NEEDS_RESET" : "got no answer");
	u32 writable = 0;
	for (unsigned i = 0; i < n; i++)
		writable += chain[i].writable ? chain[i].len : 0;
	if (done.len > writable)
		fail("%s: used length %u, the chain has %u writable bytes", what, done.len, writable);
}

/* CIPHER_CREATE_SESSION: the status, and the new session's ID in *id when it is OK. */
static u32 create_session(struct crypto *c, u32 algo, const u8 *key, u32 key_len, u32 op, u64 *id)
{
	memset(c->creq, 0, sizeof(*c->creq));
	c->creq->opcode = CIPHER_CREATE_SESSION;
	c->creq->algo = algo;
	c->creq->create.algo = algo;
	c->creq->create.key_len = key_len;
	c->creq->create.op = op;
	c->creq->create.op_type = SYM_OP_CIPHER;
	memcpy(c->key, key, key_len);
	memset(c->input, 0xee, sizeof(*c->input));
	struct vbuf chain[] = { { c->creq, sizeof(*c->creq), false }, { c->key, key_len, false },
				{ c->input, sizeof(*c->input), true } };
	exchange(c->ctrl, chain, ARRAY_LEN(chain), "create-session");
	*id = c->input->session_id;
	return c->input->status;
}

static u32 destroy_session(struct crypto *c, u64 id)
{
	memset(c->creq, 0, sizeof(*c->creq));
	c->creq->opcode = CIPHER_DESTROY_SESSION;
	c->creq->destroy.session_id = id;
	*c->status = ST_UNSET;
	struct vbuf chain[] = { { c->creq, sizeof(*c->creq), false }, { c->status, 1, true } };
	exchange(c->ctrl, chain, ARRAY_LEN(chain), "destroy-session");
	return *c->status;
}

/* One CIPHER_ENCRYPT or CIPHER_DECRYPT of len bytes from c->src into c->dst; the status byte. */
static u32 cipher(struct crypto *c, bool encrypt, u32 algo, u64 id, u32 iv_len, u32 len)
{
	memset(c->dreq, 0, sizeof(*c->dreq));
	c->dreq->opcode = encrypt ? CIPHER_ENCRYPT : CIPHER_DECRYPT;
	c->dreq->algo = algo;
	c->dreq->session_id = id;
	c->dreq->iv_len = iv_len;
	c->dreq->src_len = len;
	c->dreq->dst_len = len;
	c->dreq->op_type = SYM_OP_CIPHER;
	memset(c->dst, 0, MAX_DATA);
	*c->status = ST_UNSET;
	struct vbuf chain[5];
	unsigned n = 0;
	chain[n++] = (struct vbuf){ c->dreq, sizeof(*c->dreq), false };
	if (iv_len)
		chain[n++] = (struct vbuf){ c->iv, iv_len, false };
	chain[n++] = (struct vbuf){ c->src, len, false };
	chain[n++] = (struct vbuf){ c->dst, len, true };
	chain[n++] = (struct vbuf){ c->status, 1, true };
	exchange(c->data, chain, n, encrypt ? "encrypt" : "decrypt");
	return *c->status;
}

static u64 must_create(struct crypto *c, const char *what, u32 algo, const u8 *key, u32 key_len, u32 op)
{
	u64 id;
	u32 status = create_session(c, algo, key, key_len, op, &id);
	if (status != ST_OK)
		fail("%s: create session (op %u) status %u", what, op, status);
	return id;
}

/* One direction of a vector: `in` through a session of `op`, compared with `want`. */
static void one_way(struct crypto *c, const struct vector *v, bool encrypt, const u8 *in, const u8 *want, u32 len)
{
	u8 key[MAX_KEY];
	u32 key_len = unhex(v->key, key, sizeof(key));
	u32 iv_len = unhex(v->iv, c->iv, BLOCK);
	u64 id = must_create(c, v->name, v->algo, key, key_len, encrypt ? OP_ENCRYPT : OP_DECRYPT);
	memcpy(c->src, in, len);
	u32 status = cipher(c, encrypt, v->algo, id, iv_len, len);
	if (status != ST_OK)
		fail("%s: %s status %u", v->name, encrypt ? "encrypt" : "decrypt", status);
	for (u32 i = 0; i < len; i++)
		if (c->dst[i] != want[i])
			fail("%s: %s byte %u is 0x%02x, the vector says 0x%02x", v->name,
			     encrypt ? "encrypt" : "decrypt", i, c->dst[i], want[i]);
	if (destroy_session(c, id) != ST_OK)
		fail("%s: destroy session %lu status %u", v->name, id, *c->status);
}

static void run_vector(struct crypto *c, const struct vector *v)
{
	u8 plain[MAX_DATA], ciphertext[MAX_DATA];
	u32 len = unhex(v->plain, plain, sizeof(plain));
	if (unhex(v->cipher, ciphertext, sizeof(ciphertext)) != len)
		fail("%s: plaintext and ciphertext differ in length", v->name);
	one_way(c, v, true, plain, ciphertext, len);
	one_way(c, v, false, ciphertext, plain, len);
	data("vector=%s bytes=%u encrypt=ok decrypt=ok", v->name, len);
}

static void expect(const char *what, u32 got, u32 want)
{
	data("refused=%s status=%u", what, got);
	if (got != want)
		fail("%s: status %u, expected %u", what, got, want);
}

static void refusals(struct crypto *c, const struct vector *v)
{
	u8 key[MAX_KEY];
	u32 key_len = unhex(v->key, key, sizeof(key));
	u32 iv_len = unhex(v->iv, c->iv, BLOCK);
	u64 id;
	/* One byte more than the vector's key: no AES mode takes it. */
	expect("bad-key-length", create_session(c, v->algo, key, key_len + 1, OP_ENCRYPT, &id), ST_ERR);
	expect("unknown-algorithm", create_session(c, ALG_UNKNOWN, key, key_len, OP_ENCRYPT, &id),
	       (u32)cmdline_number("crypto_unknown_status", ST_NOTSUPP));
	id = must_create(c, "destroyed-session", v->algo, key, key_len, OP_ENCRYPT);
	unhex(v->plain, c->src, MAX_DATA);
	if (cipher(c, true, v->algo, id, iv_len, BLOCK) != ST_OK)
		fail("%s before the destroy: status %u", v->name, *c->status);
	if (destroy_session(c, id) != ST_OK)
		fail("destroy session %lu status %u", id, *c->status);
	expect("destroyed-session", cipher(c, true, v->algo, id, iv_len, BLOCK), ST_INVSESS);
	expect("destroy-destroyed", destroy_session(c, id), ST_ERR);
}

static void open_device(struct crypto *c)
{
	const char *why;
	if (!virtio_find(VIRTIO_ID_CRYPTO, 0, &c->dev))
		fail("no virtio-crypto device");
	if (!virtio_start(&c->dev, 0, 0, &why))
		fail("%s", why);
	u32 status = virtio_config32(&c->dev, CFG_STATUS);
	u32 queues = virtio_config32(&c->dev, CFG_MAX_DATAQUEUES);
	u32 services = virtio_config32(&c->dev, CFG_SERVICES);
	c->algos = virtio_config32(&c->dev, CFG_CIPHER_L) | (u64)virtio_config32(&c->dev, CFG_CIPHER_H) << 32;
	u32 max_key = virtio_config32(&c->dev, CFG_MAX_CIPHER_KEY);
	u64 max_size = virtio_config64(&c->dev, CFG_MAX_SIZE);
	data("config status=%u max_dataqueues=%u services=0x%x cipher_algos=0x%lx max_cipher_key_len=%u max_size=%lu",
	     status, queues, services, c->algos, max_key, max_size);
	if (!(status & HW_READY))
		fail("status %u: not HW_READY", status);
	if (!(services & 1u << SERVICE_CIPHER))
		fail("services 0x%x: no CIPHER", services);
	/* The control queue follows the data queues. */
	if (queues == 0 || queues >= VIRTIO_MAX_QUEUES)
		fail("max_dataqueues %u: this driver needs 1..%u", queues, VIRTIO_MAX_QUEUES - 1);
	c->data = virtq_setup(&c->dev, DATAQ, 16, &why);
	if (c->data)
		c->ctrl = virtq_setup(&c->dev, queues, 16, &why);
	if (!c->data || !c->ctrl)
		fail("%s", why);
	virtio_driver_ok(&c->dev);
}

void test_crypto(void)
{
	struct crypto c = { 0 };
	open_device(&c);
	c.creq = alloc(sizeof(*c.creq), 64);
	c.input = alloc(sizeof(*c.input), 64);
	c.dreq = alloc(sizeof(*c.dreq), 64);
	c.key = alloc(MAX_KEY + 1, 64);
	c.iv = alloc(BLOCK, 64);
	c.src = alloc(MAX_DATA, 64);
	c.dst = alloc(MAX_DATA, 64);
	c.status = alloc(1, 64);
	char ran[128] = "", skipped[128] = "";
	size_t nran = 0, nskipped = 0;
	const struct vector *cbc = NULL;
	for (unsigned i = 0; i < ARRAY_LEN(vectors); i++) {
		const struct vector *v = &vectors[i];
		if (!advertised(&c, v->algo)) {
			nskipped += format(skipped + nskipped, sizeof(skipped) - nskipped, "%s%s", nskipped ? "," : "",
					   v->name);
			continue;
		}
		run_vector(&c, v);
		nran += format(ran + nran, sizeof(ran) - nran, "%s%s", nran ? "," : "", v->name);
		if (v->algo == ALG_AES_CBC && !cbc)
			cbc = v;
	}
	data("ran=%s skipped=%s", nran ? ran : "none", nskipped ? skipped : "none");
	if (!cbc)
		fail("AES-CBC is not advertised (cipher_algos 0x%lx): the refusals need it", c.algos);
	refusals(&c, cbc);
	/* The device still serves after every refusal. */
	run_vector(&c, cbc);
	data("after_refusals=ok");
}
