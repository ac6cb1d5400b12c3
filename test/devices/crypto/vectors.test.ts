// Published AES vectors through virtio-crypto sessions, both ways: FIPS-197 appendix C (one block, each key size),
// SP 800-38A (ECB, CBC and CTR over four blocks) and IEEE 1619 (XTS, whole blocks and ciphertext stealing).
import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import { test } from 'node:test';
import { CRYPTO_MAX_SIZE } from '../../../src/devices/crypto/device';
import { CIPHER, CONFIG_BYTES, STATUS } from '../../../src/devices/crypto/protocol';
import { hex, session, setup } from './harness';

interface Vector { name: string; algo: number; key: string; iv: string; plain: string; cipher: string }

const SP_PLAIN = `6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
  30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710`;
const SP_KEY_128 = '2b7e151628aed2a6abf7158809cf4f3c';
const SP_KEY_256 = '603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4';
const SP_IV = '000102030405060708090a0b0c0d0e0f';
const SP_COUNTER = 'f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff';
const FIPS_PLAIN = '00112233445566778899aabbccddeeff';
const XTS_KEY_15 = 'fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0 bfbebdbcbbbab9b8b7b6b5b4b3b2b1b0';

const VECTORS: Vector[] = [
  { name: 'FIPS-197 C.1 AES-128', algo: CIPHER.AES_ECB, key: '000102030405060708090a0b0c0d0e0f', iv: '',
    plain: FIPS_PLAIN, cipher: '69c4e0d86a7b0430d8cdb78070b4c55a' },
  { name: 'FIPS-197 C.2 AES-192', algo: CIPHER.AES_ECB, key: '000102030405060708090a0b0c0d0e0f1011121314151617',
    iv: '', plain: FIPS_PLAIN, cipher: 'dda97ca4864cdfe06eaf70a0ec0d7191' },
  { name: 'FIPS-197 C.3 AES-256', algo: CIPHER.AES_ECB,
    key: '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', iv: '', plain: FIPS_PLAIN,
    cipher: '8ea2b7ca516745bfeafc49904b496089' },
  { name: 'SP 800-38A F.1.1 ECB-AES128', algo: CIPHER.AES_ECB, key: SP_KEY_128, iv: '', plain: SP_PLAIN,
    cipher: `3ad77bb40d7a3660a89ecaf32466ef97 f5d3d58503b9699de785895a96fdbaaf 43b1cd7f598ece23881b00e3ed030688
      7b0c785e27e8ad3f8223207104725dd4` },
  { name: 'SP 800-38A F.2.1 CBC-AES128', algo: CIPHER.AES_CBC, key: SP_KEY_128, iv: SP_IV, plain: SP_PLAIN,
    cipher: `7649abac8119b246cee98e9b12e9197d 5086cb9b507219ee95db113a917678b2 73bed6b8e3c1743b7116e69e22229516
      3ff1caa1681fac09120eca307586e1a7` },
  { name: 'SP 800-38A F.2.3 CBC-AES192', algo: CIPHER.AES_CBC, key: '8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b',
    iv: SP_IV, plain: SP_PLAIN,
    cipher: `4f021db243bc633d7178183a9fa071e8 b4d9ada9ad7dedf4e5e738763f69145a 571b242012fb7ae07fa9baac3df102e0
      08b0e27988598881d920a9e64f5615cd` },
  { name: 'SP 800-38A F.2.5 CBC-AES256', algo: CIPHER.AES_CBC, key: SP_KEY_256, iv: SP_IV, plain: SP_PLAIN,
    cipher: `f58c4c04d6e5f1ba779eabfb5f7bfbd6 9cfc4e967edb808d679f777bc6702c7d 39f23369a9d9bacfa530e26304231461
      b2eb05e2c39be9fcda6c19078c6a9d1b` },
  { name: 'SP 800-38A F.5.1 CTR-AES128', algo: CIPHER.AES_CTR, key: SP_KEY_128, iv: SP_COUNTER, plain: SP_PLAIN,
    cipher: `874d6191b620e3261bef6864990db6ce 9806f66b7970fdff8617187bb9fffdff 5ae4df3edbd5d35e5b4f09020db03eab
      1e031dda2fbe03d1792170a0f3009cee` },
  { name: 'SP 800-38A F.5.5 CTR-AES256', algo: CIPHER.AES_CTR, key: SP_KEY_256, iv: SP_COUNTER, plain: SP_PLAIN,
    cipher: `601ec313775789a5b7a7f504bbf3d228 f443e3ca4d62b59aca84e990cacaf5c5 2b0930daa23de94ce87017ba2d84988d
      dfc9c58db67aada613c2dd08457941a6` },
  { name: 'SP 800-38A F.5.1 CTR-AES128, a partial last block', algo: CIPHER.AES_CTR, key: SP_KEY_128, iv: SP_COUNTER,
    plain: '6bc1bee22e409f96e93d7e117393172a ae2d8a', cipher: '874d6191b620e3261bef6864990db6ce 9806f6' },
  { name: 'IEEE 1619 vector 2 XTS-AES-128', algo: CIPHER.AES_XTS,
    key: '11111111111111111111111111111111 22222222222222222222222222222222', iv: '33333333330000000000000000000000',
    plain: '44'.repeat(32), cipher: 'c454185e6a16936e39334038acef838bfb186fff7480adc4289382ecd6d394f0' },
  { name: 'IEEE 1619 vector 3 XTS-AES-128', algo: CIPHER.AES_XTS,
    key: 'fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0 22222222222222222222222222222222', iv: '33333333330000000000000000000000',
    plain: '44'.repeat(32), cipher: 'af85336b597afc1a900b2eb21ec949d292df4c047e0b21532186a5971a227a89' },
  { name: 'IEEE 1619 vector 15 XTS-AES-128, 17 bytes (ciphertext stealing)', algo: CIPHER.AES_XTS, key: XTS_KEY_15,
    iv: '9a785634120000000000000000000000', plain: '000102030405060708090a0b0c0d0e0f10',
    cipher: '6c1625db4671522d3d7599601de7ca09ed' },
  { name: 'IEEE 1619 vector 17 XTS-AES-128, 19 bytes', algo: CIPHER.AES_XTS, key: XTS_KEY_15,
    iv: '9a785634120000000000000000000000', plain: '000102030405060708090a0b0c0d0e0f101112',
    cipher: 'e5df1351c0544ba1350b3363cd8ef4beedbf9d' },
  { name: 'IEEE 1619 vector 10 XTS-AES-256, its first two blocks', algo: CIPHER.AES_XTS,
    key: `2718281828459045235360287471352662497757247093699959574966967627
      3141592653589793238462643383279502884197169399375105820974944592`,
    iv: 'ff000000000000000000000000000000', plain: '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f',
    cipher: '1c3b3a102f770386e4836c99e370cf9bea00803f5e482357a4ae12d414a3e63b' },
];

for (const v of VECTORS) {
  test(`${v.name}: encrypted and decrypted through sessions`, () => {
    const c = setup();
    const enc = session(c, v.algo, hex(v.key), true);
    const dec = session(c, v.algo, hex(v.key), false);
    assert.notEqual(enc, dec);
    const plain = hex(v.plain);
    const cipher = hex(v.cipher);
    const e = c.cipher(true, enc, hex(v.iv), plain);
    // The used length counts the status byte too: it follows the output directly.
    assert.deepEqual(e, { status: STATUS.OK, out: cipher, len: cipher.length + 1 });
    const d = c.cipher(false, dec, hex(v.iv), cipher);
    assert.deepEqual(d, { status: STATUS.OK, out: plain, len: plain.length + 1 });
    assert.deepEqual(c.ctx.failures, []);
    const n = c.dev.counters();
    assert.equal(n.encryptedBytes, plain.length);
    assert.equal(n.decryptedBytes, plain.length);
    assert.equal(n.sessions, 2);
  });
}

test('the config space: HW_READY, one data queue, the cipher service with AES ECB/CBC/CTR/XTS, 64-byte keys, max_size', () => {
  const c = setup().dev.configSpace();
  assert.equal(c.length, CONFIG_BYTES);
  const b = Buffer.from(c);
  assert.equal(b.readUInt32LE(0), 1, 'status');
  assert.equal(b.readUInt32LE(4), 1, 'max_dataqueues');
  assert.equal(b.readUInt32LE(8), 1, 'crypto_services: CIPHER only');
  assert.equal(b.readUInt32LE(12), (1 << 2) | (1 << 3) | (1 << 4) | (1 << 13), 'cipher_algo_l');
  for (const at of [16, 20, 24, 28, 32, 40, 44]) assert.equal(b.readUInt32LE(at), 0, `offset ${at}`);
  assert.equal(b.readUInt32LE(36), 64, 'max_cipher_key_len');
  assert.equal(b.readBigUInt64LE(48), BigInt(CRYPTO_MAX_SIZE), 'max_size');
  assert.equal(setup().dev.deviceType, 20);
  assert.deepEqual(setup().dev.queueMaxSizes.length, 2);
});

test('in place (the destination is the source\'s memory), over many buffers, and a status byte after the output', () => {
  const c = setup();
  const key = hex(SP_KEY_128);
  const enc = session(c, CIPHER.AES_CBC, key, true);
  const plain = Buffer.alloc(64 * 1024, 0x5a);
  const e = c.cipher(true, enc, hex(SP_IV), plain, { inPlace: true });
  const x = createCipheriv('aes-128-cbc', key, hex(SP_IV)).setAutoPadding(false);
  const want = Buffer.concat([x.update(plain), x.final()]);
  assert.equal(e?.status, STATUS.OK);
  assert.ok(e.out.equals(want));
  // Room past the output: the status is the chain's last byte, and the used length the output alone.
  const more = c.cipher(true, enc, hex(SP_IV), plain.subarray(0, 32), { dstRoom: 48 });
  assert.equal(more?.status, STATUS.OK);
  assert.equal(more.len, 32);
  assert.ok(more.out.subarray(0, 32).equals(want.subarray(0, 32)));
  assert.ok(more.out.subarray(32).equals(Buffer.alloc(16, 0xee)), 'nothing written past the output');
});
