// virtio-scsi (device type 8): one adapter with a target per disk, each with one logical unit (LUN 0) over a raw
// image. Queues: controlq (0), eventq (1) and one request queue (2). A request is the virtio_scsi_req_cmd header
// (LUN, tag, task attribute, CDB of cdb_size bytes) and data-out, then the response (sense_len, residual, status,
// response, sense of sense_size bytes) and data-in; a chain too short for the header or the response breaks the
// protocol and costs the guest the device. Everything inside them is the guest's to get wrong and is answered:
// a bad LUN with BAD_TARGET, a bad CDB with CHECK CONDITION, a CDB asking for more data than the buffers hold
// with OVERRUN. Each pass over a queue is bounded by a TurnBudget, and each command by max_sectors.
import type { DeviceContext, DeviceHost, VirtioDevice } from '../../virtio-mmio/device';
import { InFlight } from '../../virtio-mmio/in-flight';
import { QueueError, type DescriptorChain, type Virtqueue } from '../../virtio-mmio/queue';
import { gather, scatter, sliceSegments } from '../../virtio-mmio/segments';
import { TurnBudget } from '../turn-budget';
import { transportResponse, type Command, type Outcome } from './command';
import { execute, type CommandStats } from './commands';
import {
  ASC, CONFIG, KEY, MAX_SECTORS, REQ_HEADER_BYTES, REQUEST_QUEUE_SIZE, RESP, RESP_HEADER_BYTES, SEG_MAX, TARGETS_MAX,
} from './constants';
import { controlRequest, type ControlReply, type ControlStats } from './control';
import { ScsiDisk, type ScsiDiskOptions } from './disk';
import { parseLun } from './lun';
import { fixedSense } from './sense';
import { savedHeads, savedInt, savedObject } from '../saved-state';

export interface ScsiOptions {
  /** One target each, in order (target N is disks[N]); 1..16. */
  disks: ScsiDiskOptions[];
}

const Q = { CONTROL: 0, EVENT: 1, REQUEST: 2 } as const;

interface ScsiStats extends CommandStats, ControlStats {
  requests: number;
  /** Requests whose LUN names no target. */
  badTargets: number;
  /** Commands the image failed (a medium or target error, a full file system). */
  ioErrors: number;
  /** Chains that broke the protocol (each cost the guest the device). */
  errors: number;
  badConfigWrites: number;
  shortEventBuffers: number;
}

export class ScsiDevice implements VirtioDevice {
  readonly deviceType = 8;
  readonly queueMaxSizes = [64, 64, REQUEST_QUEUE_SIZE];
  /** Nothing beyond VERSION_1: no INOUT, HOTPLUG, CHANGE or T10_PI. */
  readonly features = 0n;
  readonly disks: readonly ScsiDisk[];
  private senseSize: number = CONFIG.SENSE_DEFAULT;
  private cdbSize: number = CONFIG.CDB_DEFAULT;
  private host: DeviceHost | undefined;
  private ctx: DeviceContext | undefined;
  /** Event buffers the driver gave; no event is ever written to them (no hotplug). At most the queue's size. */
  private events: DescriptorChain[] = [];
  /** Event buffers from a snapshot, by head, taken again when the restored device is activated. */
  private restoredEvents: number[] = [];
  private readonly running = new InFlight();
  private readonly turns = [Q.CONTROL, Q.EVENT, Q.REQUEST]
    .map((q) => new TurnBudget(() => this.host, () => this.onQueueNotify(q)));
  private readonly stats: ScsiStats = {
    requests: 0, reads: 0, writes: 0, readBytes: 0, writtenBytes: 0, syncs: 0, unmaps: 0, unmappedBlocks: 0,
    writeSames: 0, unsupported: 0, checkConditions: 0, overruns: 0, badTargets: 0, ioErrors: 0, errors: 0,
    badConfigWrites: 0, tmfs: 0, anRequests: 0, shortEventBuffers: 0,
  };

  constructor(opts: ScsiOptions) {
    if (opts.disks.length < 1 || opts.disks.length > TARGETS_MAX) {
      throw new RangeError(`a scsi adapter takes 1..${TARGETS_MAX} disks, not ${opts.disks.length}`);
    }
    const disks: ScsiDisk[] = [];
    try {
      opts.disks.forEach((d, i) => disks.push(ScsiDisk.open(i, d)));
    } catch (e) {
      for (const d of disks) d.close();
      throw e;
    }
    this.disks = disks;
  }

  configSpace(): Uint8Array {
    const c = Buffer.alloc(CONFIG.BYTES);
    c.writeUInt32LE(1, 0); // num_queues: request queues
    c.writeUInt32LE(SEG_MAX, 4);
    c.writeUInt32LE(MAX_SECTORS, 8);
    c.writeUInt32LE(REQUEST_QUEUE_SIZE, 12); // cmd_per_lun
    c.writeUInt32LE(CONFIG.EVENT_INFO_SIZE, 16);
    c.writeUInt32LE(this.senseSize, CONFIG.SENSE_SIZE);
    c.writeUInt32LE(this.cdbSize, CONFIG.CDB_SIZE);
    c.writeUInt16LE(0, 28); // max_channel
    c.writeUInt16LE(this.disks.length - 1, 30); // max_target
    c.writeUInt32LE(0, 32); // max_lun
    return c;
  }

  /**
   * Only sense_size and cdb_size are the driver's to write, each within its bounds; bytes aimed elsewhere, and a
   * value out of bounds, are dropped and counted.
   */
  configWrite(offset: number, data: Uint8Array): void {
    const c = Buffer.from(this.configSpace());
    let stray = false;
    for (const [i, byte] of data.entries()) {
      const at = offset + i;
      if (at >= CONFIG.SENSE_SIZE && at < CONFIG.CDB_SIZE + 4) c[at] = byte;
      else stray = true;
    }
    if (stray) this.stats.badConfigWrites++;
    const sense = c.readUInt32LE(CONFIG.SENSE_SIZE);
    const cdb = c.readUInt32LE(CONFIG.CDB_SIZE);
    if (sense >= CONFIG.SENSE_MIN && sense <= CONFIG.SENSE_MAX) this.senseSize = sense;
    else this.stats.badConfigWrites++;
    if (cdb >= CONFIG.CDB_MIN && cdb <= CONFIG.CDB_MAX) this.cdbSize = cdb;
    else this.stats.badConfigWrites++;
  }

  attach(host: DeviceHost): void { this.host = host; }

  activate(ctx: DeviceContext): void {
    this.ctx = ctx;
    const heads = this.restoredEvents;
    this.restoredEvents = [];
    const q = ctx.queues[Q.EVENT];
    if (heads.length === 0 || q === undefined) return;
    // Event buffers a snapshot's device held, walked again as a pop would walk them.
    try {
      for (const h of heads) this.events.push(q.reclaim(h));
    } catch (e) {
      if (!(e instanceof QueueError)) throw e;
      this.stats.errors++;
      ctx.fail(e.message);
    }
  }

  onQueueNotify(queue: number): void {
    const ctx = this.ctx;
    const q = ctx?.queues[queue];
    const turns = this.turns[queue];
    if (ctx === undefined || q === undefined || turns === undefined) return;
    turns.start();
    try {
      for (let served = 0; served === 0 || !turns.spent(); served++) {
        const chain = q.pop(); // null too when the guest took back what it had just made available
        if (chain === null) break;
        if (queue === Q.REQUEST) this.startRequest(ctx, q, chain);
        else if (queue === Q.CONTROL) this.startControl(ctx, q, chain);
        else this.holdEvent(ctx, q, chain);
      }
    } catch (e) {
      if (!(e instanceof QueueError)) throw e;
      this.stats.errors++;
      ctx.fail(e.message);
    }
  }

  private startRequest(ctx: DeviceContext, q: Virtqueue, chain: DescriptorChain): void {
    // Sizes as they are now: a driver changing them later does not move where this request's response goes.
    const headerBytes = REQ_HEADER_BYTES + this.cdbSize;
    const senseSize = this.senseSize;
    const respBytes = RESP_HEADER_BYTES + senseSize;
    const header = gather(chain.readable, headerBytes);
    if (header === undefined || chain.writableBytes < respBytes) {
      throw new QueueError('E_LEN', `a scsi request needs a ${headerBytes}-byte header and room for a ` +
        `${respBytes}-byte response`, chain.head);
    }
    this.stats.requests++;
    const inLen = chain.writableBytes - respBytes;
    const outLen = chain.readableBytes - headerBytes;
    const resp = sliceSegments(chain.writable, 0, respBytes);
    const finish = (o: Outcome): void => {
      if (o.sense !== undefined && (o.sense.key === KEY.MEDIUM_ERROR || o.sense.key === KEY.HARDWARE_ERROR
        || o.sense.code === ASC.SPACE_ALLOCATION_FAILED_WRITE_PROTECT)) this.stats.ioErrors++;
      this.complete(ctx, q, chain.head, () => {
        scatter(resp, 0, response(o, senseSize, inLen + outLen));
        return respBytes + (inLen > 0 ? o.moved : 0);
      });
    };
    const cmd = this.command(header, chain, { headerBytes, respBytes, inLen, outLen });
    if (!('cdb' in cmd)) return finish(cmd);
    const result = execute(cmd, this.stats);
    if (!(result instanceof Promise)) return finish(result);
    this.track(cmd.disk, cmd.tag, result.then(finish));
  }

  /** The command a request carries; or, when it carries none the device can run, the virtio response. */
  private command(header: Buffer, chain: DescriptorChain,
    size: { headerBytes: number; respBytes: number; inLen: number; outLen: number }): Command | Outcome {
    // Without VIRTIO_SCSI_F_INOUT a request moves data one way only (virtio 1.2, 5.6.6.1.1).
    if (size.inLen > 0 && size.outLen > 0) return transportResponse(RESP.FAILURE);
    const addr = parseLun(header.subarray(0, 8), this.disks.length);
    if (addr.kind === 'bad-target') {
      this.stats.badTargets++;
      return transportResponse(RESP.BAD_TARGET);
    }
    return {
      cdb: Buffer.from(header.subarray(REQ_HEADER_BYTES)), tag: header.readBigUInt64LE(8),
      disk: this.disks[addr.target]!, target: addr.target, present: addr.present,
      dataIn: sliceSegments(chain.writable, size.respBytes), inLen: size.inLen,
      dataOut: sliceSegments(chain.readable, size.headerBytes), outLen: size.outLen,
    };
  }

  /** A command on the thread pool: reset waits for it, and task management functions can find it by its tag. */
  private track(disk: ScsiDisk, tag: bigint, completed: Promise<void>): void {
    let settle!: () => void;
    const task = { tag, done: new Promise<void>((resolve) => { settle = resolve; }) };
    disk.tasks.add(task);
    this.running.begin();
    void completed.finally(() => {
      disk.tasks.delete(task);
      this.running.end();
      settle();
    });
  }

  private startControl(ctx: DeviceContext, q: Virtqueue, chain: DescriptorChain): void {
    const reply: ControlReply = controlRequest(chain, this.disks, this.stats);
    const finish = (bytes: Buffer): void => this.complete(ctx, q, chain.head, () => scatter(chain.writable, 0, bytes));
    if (reply instanceof Promise) void reply.then(finish);
    else finish(reply);
  }

  /**
   * Event buffers are kept until an event needs one, which never comes. One too short for an event (or with a
   * device-readable part) is given back at once, as the spec allows, zeroed: VIRTIO_SCSI_T_NO_EVENT.
   */
  private holdEvent(ctx: DeviceContext, q: Virtqueue, chain: DescriptorChain): void {
    if (chain.readableBytes === 0 && chain.writableBytes >= CONFIG.EVENT_INFO_SIZE) {
      this.events.push(chain);
      return;
    }
    this.stats.shortEventBuffers++;
    this.complete(ctx, q, chain.head, () => scatter(chain.writable, 0, Buffer.alloc(CONFIG.EVENT_INFO_SIZE)));
  }

  /**
   * Writes a chain's answer (`write` returns the bytes written) and gives it back, unless the device was reset
   * meanwhile. Completions of the thread pool's work run outside any caller that could catch: a used ring the
   * guest broke meanwhile fails the device here.
   */
  private complete(ctx: DeviceContext, q: Virtqueue, head: number, write: () => number): void {
    if (this.ctx !== ctx) return; // reset meanwhile: the chain is not the guest's to get back any more
    try {
      q.pushUsed(head, write());
      ctx.notifyUsed(q);
    } catch (e) {
      this.stats.errors++;
      ctx.fail(e instanceof QueueError ? e.message : `completing a request failed: ${String(e)}`);
    }
  }

  /**
   * The sizes the driver set, each disk's file and size (the disks are not copied: each must be there, unchanged,
   * when the snapshot is restored), and the event buffers the device holds, by head: a restored device takes them
   * again from the restored ring.
   */
  snapshotState(): { senseSize: number; cdbSize: number; disks: { path: string; blocks: number }[]; eventHeads: number[] } {
    return { senseSize: this.senseSize, cdbSize: this.cdbSize,
      disks: this.disks.map((d) => ({ path: d.path, blocks: d.blocks })), eventHeads: this.events.map((c) => c.head) };
  }

  restoreState(state: unknown): void {
    const s = savedObject(state);
    const within = (name: 'senseSize' | 'cdbSize', min: number, max: number): number => savedInt(name, s[name], min, max);
    const senseSize = within('senseSize', CONFIG.SENSE_MIN, CONFIG.SENSE_MAX);
    const cdbSize = within('cdbSize', CONFIG.CDB_MIN, CONFIG.CDB_MAX);
    const disks = Array.isArray(s.disks) ? s.disks as unknown[] : [];
    if (disks.length !== this.disks.length) {
      throw new RangeError(`disks: the snapshot's adapter had ${disks.length} disks, the config's ${this.disks.length}`);
    }
    this.disks.forEach((d, i) => {
      const saved = (typeof disks[i] === 'object' && disks[i] !== null ? disks[i] : {}) as Record<string, unknown>;
      if (saved.path !== d.path) {
        throw new RangeError(`disks[${i}].path: the snapshot's disk was ${JSON.stringify(saved.path)}, the config names ${d.path}`);
      }
      if (saved.blocks !== d.blocks) {
        throw new RangeError(`disks[${i}].blocks: the disk held ${JSON.stringify(saved.blocks)} blocks at the ` +
          `snapshot and holds ${d.blocks} now`);
      }
    });
    const heads = savedHeads('eventHeads', s.eventHeads ?? [], this.queueMaxSizes[Q.EVENT]!);
    this.senseSize = senseSize;
    this.cdbSize = cdbSize;
    this.restoredEvents = heads;
  }

  reset(): void {
    for (const t of this.turns) t.cancel();
    this.ctx = undefined;
    this.events = [];
    this.restoredEvents = [];
    this.senseSize = CONFIG.SENSE_DEFAULT;
    this.cdbSize = CONFIG.CDB_DEFAULT;
  }

  close(): void {
    this.reset();
    for (const d of this.disks) d.close();
  }

  quiesce(): Promise<void> { return this.running.idle(); }

  counters(): Record<string, number> {
    return { ...this.stats, inFlight: this.running.size, eventBuffers: this.events.length };
  }
}

/** virtio_scsi_cmd_resp with its whole sense area (zeros after the sense data), so the used length is exact. */
function response(o: Outcome, senseSize: number, dataLen: number): Buffer {
  const r = Buffer.alloc(RESP_HEADER_BYTES + senseSize);
  const sense = o.sense === undefined ? undefined : fixedSense(o.sense).subarray(0, senseSize);
  r.writeUInt32LE(sense?.length ?? 0, 0);
  r.writeUInt32LE(dataLen - o.moved, 4); // residual: what of the data buffers was not transferred
  r[10] = o.status;
  r[11] = o.response;
  if (sense !== undefined) r.set(sense, RESP_HEADER_BYTES);
  return r;
}
