// virtio-crypto (device type 20, virtio 1.2 section 5.9): symmetric ciphers (AES in ECB, CBC, CTR and XTS) by the
// host's OpenSSL, in sessions a driver makes on the control queue and uses on the data queue. No MUX mode, no
// hash, MAC, AEAD or akcipher service. Two queues: dataq (index 0, the only one) and controlq (index 1).
//
// The guest chooses the work: each data request is capped by max_size (its IV, source, destination and status
// together), the sessions and the keys they hold by a count, and a pass over a queue by its slice of the turn.
// A chain that cannot hold the request it states, or its answer, is broken (QueueError): the device is failed
// rather than act on half a request.
import { serveQueue, type DeviceContext, type DeviceHost, type VirtioDevice } from '../../virtio-mmio/device';
import type { DescriptorChain, Virtqueue } from '../../virtio-mmio/queue';
import { scatter } from '../../virtio-mmio/segments';
import { TurnBudget } from '../turn-budget';
import { ALGORITHMS, MAX_CIPHER_KEY_LEN } from './ciphers';
import { runControl } from './control';
import { runData } from './data';
import { configSpace, CONTROLQ, CRYPTO_DEVICE_TYPE, DATAQ, STATUS, type Status } from './protocol';
import { DEFAULT_MAX_SESSIONS, SessionTable } from './sessions';

/** max_size: the most one data request may carry (IV, source, destination and status byte together). */
export const CRYPTO_MAX_SIZE = 1 << 20;

export interface CryptoOptions {
  /** Sessions the driver may hold at once (default 256). */
  maxSessions?: number;
  /** max_size in bytes (default 1 MiB); tests make it small. */
  maxSize?: number;
}

const REFUSALS: Partial<Record<Status, string>> = {
  [STATUS.ERR]: 'failed', [STATUS.NOTSUPP]: 'notSupported', [STATUS.INVSESS]: 'invalidSessions',
};

export class CryptoDevice implements VirtioDevice {
  readonly deviceType = CRYPTO_DEVICE_TYPE;
  readonly queueMaxSizes = [256, 64];
  readonly features = 0n;
  private ctx: DeviceContext | undefined;
  private host: DeviceHost | undefined;
  private readonly sessions: SessionTable;
  private readonly maxSize: number;
  private readonly stats: Record<string, number> = {
    requests: 0, controlRequests: 0, sessionsCreated: 0, encryptedBytes: 0, decryptedBytes: 0, errors: 0,
    failed: 0, notSupported: 0, invalidSessions: 0, noSpace: 0,
  };
  private readonly dataTurns = new TurnBudget(() => this.host, () => this.serveData());
  private readonly controlTurns = new TurnBudget(() => this.host, () => this.serveControl());

  constructor(opts: CryptoOptions = {}) {
    this.sessions = new SessionTable(opts.maxSessions ?? DEFAULT_MAX_SESSIONS);
    this.maxSize = opts.maxSize ?? CRYPTO_MAX_SIZE;
  }

  configSpace(): Uint8Array {
    return configSpace([...ALGORITHMS.keys()], { maxCipherKeyLen: MAX_CIPHER_KEY_LEN, maxSize: this.maxSize });
  }

  attach(host: DeviceHost): void { this.host = host; }

  activate(ctx: DeviceContext): void {
    this.ctx = ctx;
    // Requests a driver made available before DRIVER_OK are served now; sessions first, as it made them.
    this.serveControl();
    this.serveData();
  }

  onQueueNotify(queue: number): void {
    if (queue === CONTROLQ) this.serveControl();
    else if (queue === DATAQ) this.serveData();
  }

  private count(status: Status, reason?: string): void {
    const kind = reason ?? REFUSALS[status];
    if (kind !== undefined) this.stats[kind]!++;
  }

  /** Pops and answers chains while the pass's slice lasts; `answer` returns the used length. */
  private serve(index: number, turns: TurnBudget, answer: (chain: DescriptorChain) => number): void {
    turns.start();
    serveQueue(this.ctx, this.ctx?.queues[index], () => this.stats.errors!++, (q: Virtqueue) => {
      let served = false;
      while (!(served && turns.spent())) {
        const chain = q.pop();
        if (chain === null) break;
        q.pushUsed(chain.head, answer(chain));
        served = true;
      }
      return served;
    });
  }

  private serveControl(): void {
    this.serve(CONTROLQ, this.controlTurns, (chain) => {
      const a = runControl(this.sessions, chain);
      this.stats.controlRequests!++;
      if (a.sessions > 0) this.stats.sessionsCreated!++;
      this.count(a.status, a.reason);
      return scatter(chain.writable, 0, a.reply);
    });
  }

  private serveData(): void {
    this.serve(DATAQ, this.dataTurns, (chain) => {
      const a = runData(this.sessions, chain, this.maxSize);
      this.stats.requests!++;
      this.stats[a.encrypt ? 'encryptedBytes' : 'decryptedBytes']! += a.bytes;
      this.count(a.status);
      return a.written;
    });
  }

  /** Every session goes with its key; a new driver starts from none. */
  /**
   * The sessions the driver made, keys included, so a restored driver's session IDs go on working. Every request
   * is answered on the turn it is taken, so no chain is held.
   */
  snapshotState(): ReturnType<SessionTable['export']> { return this.sessions.export(); }

  restoreState(state: unknown): void { this.sessions.import(state); }

  reset(): void {
    this.dataTurns.cancel();
    this.controlTurns.cancel();
    this.ctx = undefined;
    this.sessions.clear();
  }

  counters(): Record<string, number> { return { ...this.stats, sessions: this.sessions.count }; }
}
