// virtio-crypto through the tiny test kernel's own driver (test=crypto): published AES vectors (SP 800-38A ECB, CBC
// and CTR, IEEE 1619 XTS) encrypted and decrypted through sessions, and the statuses virtio 1.2 owes a key length
// AES does not take, an undefined algorithm, a request on a destroyed session and a second destroy. The same guest
// runs under QEMU microvm's virtio-crypto-device with the builtin back end, which advertises AES-CBC alone.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dataWith, type TestKernelOutput } from '../../src/guest/test-kernel-output';
import { kvmUnavailable } from '../helpers/kvm';
import { qemuUnavailable, runQemuTiny, runTiny } from '../helpers/tiny';

const skip = kvmUnavailable();
const skipQemu = qemuUnavailable();
const LIMIT_MS = 120_000;
const ALL_VECTORS = ['ecb-aes128', 'ecb-aes256', 'cbc-aes128', 'cbc-aes256', 'ctr-aes128', 'xts-aes128'];
const STATUS = { ERR: 1, NOTSUPP: 3, INVSESS: 4 };

/** The refusals the guest printed, by name: their statuses. */
function refusals(r: TestKernelOutput): Record<string, number> {
  return Object.fromEntries(dataWith(r, 'refused', 'status').map((f) => [f.refused!, Number(f.status)]));
}

function ran(r: TestKernelOutput & { text: string }): { ran: string[]; skipped: string[] } {
  const [line] = dataWith(r, 'ran', 'skipped');
  assert.ok(line, r.text);
  const list = (text: string): string[] => (text === 'none' ? [] : text.split(','));
  return { ran: list(line.ran!), skipped: list(line.skipped!) };
}

describe('tiny test kernel: virtio-crypto', () => {
  it('on tsvmm: every vector both ways, the refusals, and the device counts the same', { skip, timeout: LIMIT_MS },
    async () => {
      const r = await runTiny({ cmdline: 'test=crypto', timeoutMs: LIMIT_MS, devices: [{ type: 'crypto' }] });
      assert.deepEqual(r.verdict, { test: 'crypto', passed: true }, r.text);
      assert.match(r.text, /config status=1 max_dataqueues=1 services=0x1 cipher_algos=0x201c max_cipher_key_len=64 /);
      assert.deepEqual(ran(r), { ran: ALL_VECTORS, skipped: [] });
      assert.deepEqual(refusals(r), { 'bad-key-length': STATUS.ERR, 'unknown-algorithm': STATUS.NOTSUPP,
        'destroyed-session': STATUS.INVSESS, 'destroy-destroyed': STATUS.ERR }, r.text);
      assert.match(r.text, /after_refusals=ok/);
      // Seven vectors (the six, and CBC again after the refusals), each an encrypt and a decrypt session used once;
      // then the refusals: two creates refused, one session made, used, destroyed, used and destroyed again.
      const bytes = 5 * 64 + 32 + 64;
      const c = r.devices[0] ?? {};
      const counted = Object.fromEntries(['requests', 'controlRequests', 'sessionsCreated', 'encryptedBytes',
        'decryptedBytes', 'errors', 'failed', 'notSupported', 'invalidSessions', 'noSpace', 'sessions', 'failures']
        .map((k) => [k, c[k]]));
      assert.deepEqual(counted, { requests: 16, controlRequests: 33, sessionsCreated: 15,
        encryptedBytes: bytes + 16, decryptedBytes: bytes, errors: 0, failed: 1, notSupported: 1, invalidSessions: 2,
        noSpace: 0, sessions: 0, failures: 0 });
    });

  it('under QEMU microvm: virtio-crypto-device with the builtin back end (AES-CBC alone)', { skip: skipQemu,
    timeout: LIMIT_MS }, async () => {
    // QEMU 7.2 answers ERR, not NOTSUPP, for an algorithm it does not know.
    const r = await runQemuTiny(`test=crypto crypto_unknown_status=${STATUS.ERR}`, ['-object',
      'cryptodev-backend-builtin,id=c0', '-device', 'virtio-crypto-device,cryptodev=c0'], LIMIT_MS);
    assert.equal(r.code, 1, r.text);
    assert.deepEqual(r.verdict, { test: 'crypto', passed: true }, r.text);
    assert.deepEqual(ran(r), { ran: ['cbc-aes128', 'cbc-aes256'],
      skipped: ['ecb-aes128', 'ecb-aes256', 'ctr-aes128', 'xts-aes128'] });
    assert.deepEqual(refusals(r), { 'bad-key-length': STATUS.ERR, 'unknown-algorithm': STATUS.ERR,
      'destroyed-session': STATUS.INVSESS, 'destroy-destroyed': STATUS.ERR }, r.text);
  });
});
