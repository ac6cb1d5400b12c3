// virtio-snd (device type 25, virtio 1.2 section 5.14): one playback and one capture stream of PCM, paced by the
// stream's rate, with a jack and a channel map each. Four queues: control (0), event (1), tx (2), rx (3). No
// device-initiated events are sent (no jack changes, no period or xrun events), so event buffers stay unused.
//
// A transfer is held until its frames' time has passed on the device's clock, never answered as fast as the guest
// writes: played frames go to the playback backend, captured ones come from the capture backend, when the
// transfer completes. The guest chooses the work: each transfer is capped by its stream's buffer (1 MiB at most),
// the transfers held by the ring sizes, and a pass over a queue (or over the due transfers) by its slice of the
// turn. A chain that cannot hold a request's header or its status is broken (QueueError): the device is failed.
import { fromEventLoop, serveQueue, type DeviceContext, type DeviceHost, type VirtioDevice } from '../../virtio-mmio/device';
import { QueueError, type DescriptorChain, type Virtqueue } from '../../virtio-mmio/queue';
import { scatter } from '../../virtio-mmio/segments';
import { TurnBudget } from '../turn-budget';
import { nullSink, silenceSource, type CaptureSource, type PlaybackSink } from './backends';
import { realClock, type SndClock } from './clock';
import { runControl, type ControlTarget } from './control';
import { DEFAULT_CAPS, frameBytes, type PcmParams } from './formats';
import { configSpace, CONTROLQ, DIRECTION, RXQ, SND_DEVICE_TYPE, STATUS, TXQ, type Direction, type Status } from './protocol';
import type { PcmCommand } from './states';
import { adoptTransfers, applyStreams, checkStreams, saveStreams, type SavedStream } from './snapshot';
import { PcmStream, type Transfer } from './stream';
import { CAPTURE_STREAM, PLAYBACK_STREAM, TOPOLOGY } from './topology';
import { checkTransfer, transferStreamId, writeStatus } from './transfer';
import { savedObject } from '../saved-state';

export interface SndOptions {
  /** Where played frames go (default: dropped). */
  playback?: PlaybackSink;
  /** Where captured frames come from (default: silence). */
  capture?: CaptureSource;
  /** The clock transfers are paced by (tests move their own). */
  clock?: SndClock;
  /** Says why a backend refused what the guest asked (a WAV file in another format). */
  warn?: (message: string) => void;
}

const REFUSALS: Partial<Record<Status, string>> = { [STATUS.BAD_MSG]: 'badMessages', [STATUS.NOT_SUPP]: 'notSupported' };

export class SndDevice implements VirtioDevice, ControlTarget {
  readonly deviceType = SND_DEVICE_TYPE;
  readonly queueMaxSizes = [64, 64, 256, 256];
  readonly features = 0n;
  readonly topology = TOPOLOGY;
  readonly streams: readonly PcmStream[];
  private ctx: DeviceContext | undefined;
  private host: DeviceHost | undefined;
  private readonly sink: PlaybackSink;
  private readonly source: CaptureSource;
  private readonly clock: SndClock;
  private readonly warn: (message: string) => void;
  private cancelWake: (() => void) | undefined;
  /** A snapshot's streams, whose held transfers are taken again once the restored device has its queues. */
  private restored: SavedStream[] | undefined;
  private readonly stats: Record<string, number> = {
    controlRequests: 0, badMessages: 0, notSupported: 0, outOfOrder: 0, transfers: 0, badTransfers: 0,
    framesPlayed: 0, bytesPlayed: 0, framesCaptured: 0, bytesCaptured: 0, underruns: 0, overruns: 0, flushed: 0,
    ioErrors: 0, errors: 0,
  };
  private readonly controlTurns = new TurnBudget(() => this.host, () => this.serveControl());
  private readonly txTurns = new TurnBudget(() => this.host, () => this.serveTransfers(TXQ));
  private readonly rxTurns = new TurnBudget(() => this.host, () => this.serveTransfers(RXQ));
  private readonly pumpTurns = new TurnBudget(() => this.host, () => this.pump());
  private readonly wake = fromEventLoop(() => this.host, () => {
    this.cancelWake = undefined;
    this.pump();
  });

  constructor(opts: SndOptions = {}) {
    this.sink = opts.playback ?? nullSink();
    this.source = opts.capture ?? silenceSource();
    this.clock = opts.clock ?? realClock;
    this.warn = opts.warn ?? (() => undefined);
    this.streams = [new PcmStream(PLAYBACK_STREAM, DIRECTION.OUTPUT, DEFAULT_CAPS),
      new PcmStream(CAPTURE_STREAM, DIRECTION.INPUT, this.source.caps)];
  }

  configSpace(): Uint8Array { return configSpace(TOPOLOGY); }

  attach(host: DeviceHost): void { this.host = host; }

  activate(ctx: DeviceContext): void {
    this.ctx = ctx;
    const saved = this.restored;
    this.restored = undefined;
    if (saved) {
      try {
        adoptTransfers(saved, this.streams, (s) => this.queueOf(s), this.clock.now());
      } catch (e) {
        if (!(e instanceof QueueError) && !(e instanceof RangeError)) throw e;
        this.stats.errors!++;
        for (const s of this.streams) s.pending.length = 0;
        ctx.fail(`restoring the held transfers: ${e.message}`);
        return;
      }
    }
    this.serveControl();
    this.serveTransfers(TXQ);
    this.serveTransfers(RXQ);
  }

  onQueueNotify(queue: number): void {
    if (queue === CONTROLQ) this.serveControl();
    else if (queue === TXQ || queue === RXQ) this.serveTransfers(queue);
  }

  /** Pops and answers chains while the pass's slice lasts; `answer` returns the used length, or undefined to hold. */
  private serve(index: number, turns: TurnBudget, answer: (chain: DescriptorChain) => number | undefined): void {
    turns.start();
    serveQueue(this.ctx, this.ctx?.queues[index], () => this.stats.errors!++, (q: Virtqueue) => {
      let served = false;
      let used = false;
      while (!(served && turns.spent())) {
        const chain = q.pop();
        if (chain === null) break;
        served = true;
        const len = answer(chain);
        if (len !== undefined) {
          q.pushUsed(chain.head, len);
          used = true;
        }
      }
      return used;
    });
  }

  private serveControl(): void {
    this.serve(CONTROLQ, this.controlTurns, (chain) => {
      const a = runControl(this, chain);
      this.stats.controlRequests!++;
      if (a.outOfOrder) this.stats.outOfOrder!++;
      const kind = REFUSALS[a.status];
      if (kind !== undefined) this.stats[kind]!++;
      if (a.refusal !== undefined) this.warn(`virtio-snd: SET_PARAMS refused: ${a.refusal}`);
      return scatter(chain.writable, 0, a.reply);
    });
    this.pump();
  }

  private serveTransfers(index: typeof TXQ | typeof RXQ): void {
    const direction: Direction = index === TXQ ? DIRECTION.OUTPUT : DIRECTION.INPUT;
    this.serve(index, index === TXQ ? this.txTurns : this.rxTurns, (chain) => {
      const stream = this.streams[transferStreamId(chain)];
      const t = checkTransfer(chain, direction, stream);
      this.stats.transfers!++;
      if (typeof t === 'number') {
        this.stats.badTransfers!++;
        return writeStatus(chain, t, 0, false);
      }
      const s = stream!;
      if (s.state === 'started' && s.pending.length === 0 && s.catchUp(this.clock.now())) {
        this.stats[direction === DIRECTION.OUTPUT ? 'underruns' : 'overruns']!++;
      }
      s.pending.push(t);
      return undefined;
    });
    this.pump();
  }

  refuses(stream: PcmStream, p: PcmParams): string | undefined {
    return stream.direction === DIRECTION.OUTPUT ? this.sink.refuses(p) : undefined;
  }

  command(stream: PcmStream, command: PcmCommand): void {
    if (command === 'START') stream.start(this.clock.now());
    // What was due before the stop completes as played; the rest waits for START or RELEASE.
    if (command === 'STOP') this.pump();
    if (command === 'RELEASE' || command === 'SET_PARAMS') this.flush(stream);
    if (command === 'RELEASE' && stream.direction === DIRECTION.OUTPUT) this.finishRecording();
  }

  private finishRecording(): void {
    try {
      this.sink.finish();
    } catch (e) {
      this.stats.ioErrors!++;
      this.warn(`virtio-snd: playback: ${(e as Error).message}`);
    }
  }

  private queueOf(stream: PcmStream): Virtqueue | undefined {
    return this.ctx?.queues[stream.direction === DIRECTION.OUTPUT ? TXQ : RXQ];
  }

  /** Completes every transfer whose time has passed, then asks to be woken when the next one is due. */
  private pump(): void {
    this.cancelWake?.();
    this.cancelWake = undefined;
    if (this.ctx === undefined) return;
    this.pumpTurns.start();
    let next = Infinity;
    let served = false;
    for (const s of this.streams) {
      this.completeOn(s, () => {
        for (let due = s.headDue(); due !== undefined; due = s.headDue()) {
          if (due > this.clock.now()) {
            next = Math.min(next, due);
            break;
          }
          if (served && this.pumpTurns.spent()) return;
          this.complete(s, s.takeHead());
          served = true;
        }
      });
    }
    // A broken ring met above failed (and reset) the device: nothing is left to wake for.
    if (next !== Infinity && this.active()) {
      this.cancelWake = this.clock.wakeIn(Math.max(0, Math.ceil(next - this.clock.now())), this.wake);
    }
  }

  private active(): boolean { return this.ctx !== undefined; }

  /** Gives back every transfer the stream holds, its frames neither played nor captured (capture: silence). */
  private flush(stream: PcmStream): void {
    this.completeOn(stream, () => {
      while (stream.pending.length > 0) {
        const t = stream.pending.shift()!;
        this.stats.flushed!++;
        if (stream.direction === DIRECTION.INPUT) for (const f of t.frames) f.fill(0);
        this.queueOf(stream)!.pushUsed(t.chain.head, writeStatus(t.chain, STATUS.OK, stream.heldBytes(), true));
      }
    });
  }

  /** Runs `work` (which pushes the stream's transfers), then interrupts the driver; a broken ring fails the device. */
  private completeOn(stream: PcmStream, work: () => void): void {
    serveQueue(this.ctx, this.queueOf(stream), () => this.stats.errors!++, () => {
      const before = stream.pending.length;
      work();
      return stream.pending.length !== before;
    });
  }

  /** Moves one transfer's frames and gives it back. */
  private complete(stream: PcmStream, t: Transfer): void {
    const params = stream.params!;
    let status: Status = STATUS.OK;
    const frames = t.bytes / frameBytes(params);
    try {
      if (stream.direction === DIRECTION.OUTPUT) this.sink.write(params, t.frames);
      else this.source.read(params, t.frames);
    } catch (e) {
      status = STATUS.IO_ERR;
      this.stats.ioErrors!++;
      this.warn(`virtio-snd: ${stream.direction === DIRECTION.OUTPUT ? 'playback' : 'capture'}: ${(e as Error).message}`);
    }
    if (status === STATUS.OK) {
      const what = stream.direction === DIRECTION.OUTPUT ? 'Played' : 'Captured';
      this.stats[`frames${what}`]! += frames;
      this.stats[`bytes${what}`]! += t.bytes;
    }
    const filled = stream.direction === DIRECTION.INPUT && status === STATUS.OK;
    this.queueOf(stream)!.pushUsed(t.chain.head, writeStatus(t.chain, status, stream.heldBytes(), filled));
  }

  /**
   * Each stream's state, parameters and held transfers (by head). The backends are not saved: a restored machine's
   * playback starts a new recording at its config's path, and its capture reads its source from the start.
   */
  snapshotState(): { streams: SavedStream[] } { return { streams: saveStreams(this.streams) }; }

  restoreState(state: unknown): void {
    const s = savedObject(state);
    const saved = checkStreams(s.streams, this.streams, this.queueMaxSizes[TXQ]!,
      (stream, p) => this.refuses(stream, p));
    applyStreams(saved, this.streams);
    this.restored = saved;
  }

  /** Held transfers go with the driver; a recording so far stays complete on disk. */
  reset(): void {
    this.restored = undefined;
    for (const t of [this.controlTurns, this.txTurns, this.rxTurns, this.pumpTurns]) t.cancel();
    this.cancelWake?.();
    this.cancelWake = undefined;
    this.ctx = undefined;
    for (const s of this.streams) s.clear();
    this.finishRecording();
  }

  close(): void {
    this.cancelWake?.();
    this.cancelWake = undefined;
    try {
      this.sink.close();
    } finally {
      this.source.close();
    }
  }

  counters(): Record<string, number> { return { ...this.stats }; }
}
