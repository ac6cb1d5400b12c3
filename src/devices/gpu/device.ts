// virtio-gpu (device type 16, virtio 1.2 section 5.7) in 2D: the guest creates resources, backs them with its own
// pages, copies rectangles of them to the host (TRANSFER_TO_HOST_2D) and sets them on scanouts; the host keeps a
// copy of each resource and can take a picture of what a scanout shows (screenshot.ts). No VIRGL, no blobs; EDID
// is offered. Two queues: controlq (requests, each answered with a header and maybe data) and cursorq.
//
// A request must hold its whole structure and its chain room for the whole answer; one that does not is a broken
// chain (QueueError): the device is failed (DEVICE_NEEDS_RESET) rather than act on half a request or answer half.
// The host copies are bounded (resources.ts); the work of a pass is bounded by its slice of the turn, and the two
// commands that may be long (a transfer may copy a whole 8K image, a backing list may hold 16,384 entries) run in
// bounded steps across turns while later requests wait.
import { serveQueue, type DeviceContext, type DeviceHost, type VirtioDevice } from '../../virtio-mmio/device';
import { InFlight } from '../../virtio-mmio/in-flight';
import { QueueError, type DescriptorChain, type Virtqueue } from '../../virtio-mmio/queue';
import { gather, scatterAll } from '../../virtio-mmio/segments';
import { TurnBudget } from '../turn-budget';
import { emptyScanouts, runCommand, type GpuState, type Scanout } from './commands';
import { hiddenCursor, runCursorCommand, type CursorState } from './cursor';
import {
  CMD, CONTROLQ, CURSOR_BYTES, CURSORQ, EVENT_DISPLAY, F_EDID, FLAG_FENCE, GPU_DEVICE_TYPE, HDR_BYTES, readHeader, RESP,
  responseHeader, SIZES, type Answer, type CtrlHeader, type Job,
} from './protocol';
import { Backing } from './backing';
import { ResourceTable, type Resource, type ResourceCaps } from './resources';
import { loadGpu, saveGpu, type SavedGpu } from './snapshot';
import type { Frame } from './screenshot';
import type { Rect } from './protocol';

/**
 * Told when a scanout shows something new: `rect` (scanout pixels) was flushed, or, without one, the whole scanout
 * changed (a resource set or taken off, the device reset). Called on the device's turn: it must not throw, and
 * should only note what changed.
 */
export type ScanoutListener = (scanout: number, rect?: Rect) => void;

/** The modes a scanout may have (the config's limits), and the config's default. */
export const GPU_DEFAULT_WIDTH = 1024;
export const GPU_DEFAULT_HEIGHT = 768;
export const GPU_WIDTH_MIN = 16;
export const GPU_WIDTH_MAX = 7680;
export const GPU_HEIGHT_MIN = 16;
export const GPU_HEIGHT_MAX = 4320;

export interface GpuOptions extends ResourceCaps {
  width: number;
  height: number;
  /** 1..16. */
  scanouts: number;
}

/** A command running in steps: the chain it answers when it is done. */
interface Running { chain: DescriptorChain; header: CtrlHeader; job: Job }

function checkMode(width: number, height: number): void {
  const ok = (v: number, min: number, max: number): boolean => Number.isInteger(v) && v >= min && v <= max;
  if (!ok(width, GPU_WIDTH_MIN, GPU_WIDTH_MAX) || !ok(height, GPU_HEIGHT_MIN, GPU_HEIGHT_MAX)) {
    throw new RangeError(`a scanout is ${GPU_WIDTH_MIN}..${GPU_WIDTH_MAX} x ${GPU_HEIGHT_MIN}..${GPU_HEIGHT_MAX} ` +
      `pixels, not ${width} x ${height}`);
  }
}

export class GpuDevice implements VirtioDevice {
  readonly deviceType = GPU_DEVICE_TYPE;
  readonly queueMaxSizes = [256, 16];
  readonly features = 1n << F_EDID;
  private ctx: DeviceContext | undefined;
  private host: DeviceHost | undefined;
  private readonly resources: ResourceTable;
  private readonly scanouts: Scanout[];
  private cursor: CursorState = hiddenCursor();
  private readonly mode: { width: number; height: number };
  private eventsRead = 0;
  private running: Running | undefined;
  /** Backings from a snapshot, made once the device is activated and so has the guest's memory. */
  private restoredBackings = new Map<Resource, [number, number][]>();
  private readonly inFlight = new InFlight();
  private readonly stats = { requests: 0, errors: 0, fences: 0, transferredBytes: 0, flushes: 0, cursorRequests: 0 };
  private readonly turns = new TurnBudget(() => this.host, () => this.serveControl());
  private readonly scanoutListeners = new Set<ScanoutListener>();
  private readonly damage = (scanout: number, rect?: Rect): void => {
    for (const listener of this.scanoutListeners) listener(scanout, rect);
  };

  constructor(opts: GpuOptions) {
    checkMode(opts.width, opts.height);
    this.mode = { width: opts.width, height: opts.height };
    this.scanouts = emptyScanouts(opts.scanouts);
    this.resources = new ResourceTable(opts);
  }

  /** events_read, events_clear (reads 0), num_scanouts, num_capsets (0). */
  configSpace(): Uint8Array {
    const c = Buffer.alloc(16);
    c.writeUInt32LE(this.eventsRead, 0);
    c.writeUInt32LE(this.scanouts.length, 8);
    return c;
  }

  /** Only events_clear is the driver's to write: each bit set there clears that bit of events_read. */
  configWrite(offset: number, data: Uint8Array): void {
    data.forEach((byte, i) => {
      const at = offset + i;
      if (at >= 4 && at < 8) this.eventsRead = (this.eventsRead & ~(byte << (8 * (at - 4)))) >>> 0;
    });
  }

  attach(host: DeviceHost): void { this.host = host; }

  activate(ctx: DeviceContext): void {
    this.ctx = ctx;
    // A restored device's backings: their views are taken on first use, through this memory.
    for (const [r, entries] of this.restoredBackings) r.backing = Backing.fromEntries(ctx.memory, entries);
    this.restoredBackings.clear();
    // Buffers a driver made available before DRIVER_OK are served now.
    this.serveControl();
    this.serveCursor();
  }

  onQueueNotify(queue: number): void {
    if (queue === CURSORQ) this.serveCursor();
    else if (queue === CONTROLQ) this.serveControl();
  }

  /**
   * The host's display changed size: every scanout takes the new mode, and the driver is told (EVENT_DISPLAY and
   * a config change interrupt) to ask GET_DISPLAY_INFO again. Throws RangeError for a size past the limits.
   */
  setDisplaySize(width: number, height: number): void {
    checkMode(width, height);
    this.mode.width = width;
    this.mode.height = height;
    this.eventsRead |= EVENT_DISPLAY;
    this.host?.configChanged();
  }

  private state(ctx: DeviceContext): GpuState {
    return {
      resources: this.resources, scanouts: this.scanouts, mode: this.mode, cursor: this.cursor, memory: ctx.memory,
      edid: (ctx.features & (1n << F_EDID)) !== 0n, damage: this.damage,
    };
  }

  private serveControl(): void {
    const ctx = this.ctx;
    this.turns.start();
    serveQueue(ctx, ctx?.queues[CONTROLQ], () => this.stats.errors++, (q) => {
      let answered = false;
      let worked = false;
      while (!(worked && this.turns.spent())) {
        worked = true;
        if (this.running !== undefined) {
          answered = this.step(q) || answered;
          continue;
        }
        const chain = q.pop();
        if (chain === null) break;
        answered = this.execute(ctx!, q, chain) || answered;
      }
      return answered;
    });
  }

  /** The first `bytes` of the chain's request; a request that holds fewer is a broken chain. */
  private request(chain: DescriptorChain, bytes: number, what: string): Buffer {
    const b = gather(chain.readable, bytes);
    if (b === undefined) {
      throw new QueueError('E_LEN', `a gpu ${what} needs ${bytes} device-readable bytes, the chain has ` +
        `${chain.readableBytes}`, chain.head);
    }
    return b;
  }

  /** Runs one control request; true when it was answered now (a transfer may go on in later steps). */
  private execute(ctx: DeviceContext, q: Virtqueue, chain: DescriptorChain): boolean {
    const header = readHeader(this.request(chain, HDR_BYTES, 'request header'));
    const type = header.type;
    const name = `command 0x${type.toString(16)}`;
    const sizes = SIZES.get(type) ?? { request: HDR_BYTES, response: HDR_BYTES };
    const req = this.request(chain, sizes.request, name);
    if (chain.writableBytes < sizes.response) {
      throw new QueueError('E_LEN', `a gpu ${name} answers ${sizes.response} bytes, the chain has room for ` +
        `${chain.writableBytes}`, chain.head);
    }
    this.stats.requests++;
    const outcome = runCommand(this.state(ctx), type, req, (n) => this.request(chain, n, name));
    if (!('step' in outcome)) return this.respond(q, chain, header, outcome);
    this.running = { chain, header, job: outcome };
    this.inFlight.begin();
    return this.step(q);
  }

  /** One step of the running command; true when it finished and was answered. */
  private step(q: Virtqueue): boolean {
    const run = this.running!;
    const before = run.job.copied;
    const done = run.job.step();
    this.stats.transferredBytes += run.job.copied - before;
    if (done === undefined) return false;
    this.running = undefined;
    this.inFlight.end();
    return this.respond(q, run.chain, run.header, done);
  }

  private respond(q: Virtqueue, chain: DescriptorChain, header: CtrlHeader, a: Answer): boolean {
    const head = responseHeader(a.type, header);
    const written = scatterAll(chain.writable, 0, a.body === undefined ? [head] : [head, a.body]);
    q.pushUsed(chain.head, written);
    if (a.type >= RESP.ERR_UNSPEC) this.stats.errors++;
    if (header.flags & FLAG_FENCE) this.stats.fences++;
    if (a.type === RESP.OK_NODATA && header.type === CMD.RESOURCE_FLUSH) this.stats.flushes++;
    return true;
  }

  /** The cursor queue: every chain goes back with nothing written. Bounded by the queue's size per pass. */
  private serveCursor(): void {
    serveQueue(this.ctx, this.ctx?.queues[CURSORQ], () => this.stats.errors++, (q) => {
      let served = false;
      for (let n = 0; n < q.size; n++) {
        const chain = q.pop();
        if (chain === null) break;
        const req = this.request(chain, CURSOR_BYTES, 'cursor command');
        this.stats.cursorRequests++;
        if (!runCursorCommand(this.cursor, req, this.scanouts.length, this.resources)) this.stats.errors++;
        q.pushUsed(chain.head, 0);
        served = true;
      }
      return served;
    });
  }

  /** What scanout `n` shows, or undefined when nothing is set on it. RangeError for a scanout it does not have. */
  scanoutFrame(n: number): Frame | undefined {
    const sc = this.scanouts[n];
    if (!Number.isInteger(n) || sc === undefined) {
      throw new RangeError(`scanout ${n}: the gpu has scanouts 0..${this.scanouts.length - 1}`);
    }
    const r = sc.resource;
    if (r === undefined) return undefined;
    return { format: r.format, pixels: r.pixels, stride: r.stride, ...sc.rect };
  }

  get scanoutCount(): number { return this.scanouts.length; }

  /** Calls `listener` whenever a scanout shows something new (see ScanoutListener); returns what stops it. */
  onScanoutChange(listener: ScanoutListener): () => void {
    this.scanoutListeners.add(listener);
    return () => { this.scanoutListeners.delete(listener); };
  }

  /** Where the guest put its cursor, and which resource it shows (0: none). */
  cursorState(): Readonly<CursorState> { return { ...this.cursor }; }

  /** What the driver made, for a snapshot: quiesce() has let any command running in steps finish. */
  snapshotState(): SavedGpu {
    return saveGpu({ mode: this.mode, eventsRead: this.eventsRead, cursor: this.cursor, resources: this.resources,
      scanouts: this.scanouts });
  }

  restoreState(state: unknown): void {
    this.resources.clear();
    try {
      const loaded = loadGpu(state, this.resources, this.scanouts);
      checkMode(loaded.mode.width, loaded.mode.height);
      this.mode.width = loaded.mode.width;
      this.mode.height = loaded.mode.height;
      this.eventsRead = loaded.eventsRead;
      this.cursor = loaded.cursor;
      this.restoredBackings = loaded.backings;
      this.scanouts.forEach((_, i) => this.damage(i));
    } catch (e) {
      this.resources.clear();
      for (const sc of this.scanouts) sc.resource = undefined;
      throw e;
    }
  }

  /**
   * Everything the driver made goes: resources, backings, scanouts, the cursor; a new driver starts from nothing.
   * A command running in steps stops before its next one.
   */
  reset(): void {
    this.turns.cancel();
    this.ctx = undefined;
    if (this.running !== undefined) this.inFlight.end();
    this.running = undefined;
    this.resources.clear();
    this.restoredBackings.clear();
    for (const sc of this.scanouts) sc.resource = undefined;
    this.cursor = hiddenCursor();
    this.scanouts.forEach((_, i) => this.damage(i));
  }

  /** A command running in steps holds views of guest memory across turns: an IOMMU unmap's reply waits for it. */
  quiesce(): Promise<void> { return this.inFlight.idle(); }

  counters(): Record<string, number> {
    return { ...this.stats, resources: this.resources.count, hostBytes: this.resources.bytes };
  }
}
