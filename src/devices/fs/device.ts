// virtio-fs (device type 26): a host directory shared with the guest over FUSE. Queue 0 is hiprio (FORGET,
// INTERRUPT), queue 1 the one request queue; both carry fuse_in_header + arguments in a chain's readable part and
// take fuse_out_header + reply in its writable part. The guest is hostile: a request it cannot have meant is
// answered with an errno, a chain without room for a header goes back with nothing written, and only a broken
// ring costs it the device.
import { serveQueue, type DeviceContext, type DeviceHost, type VirtioDevice } from '../../virtio-mmio/device';
import { QueueError, type DescriptorChain, type Virtqueue } from '../../virtio-mmio/queue';
import { InFlight } from '../../virtio-mmio/in-flight';
import { gather, sliceSegments } from '../../virtio-mmio/segments';
import { Args, EMPTY, ReplyWriter, writeOutHeader } from './codec';
import { errnoOf, fail } from './errors';
import { OPS } from './ops';
import { E, OP, SIZE } from './protocol';
import { loadSession, saveSession, type SavedFs } from './snapshot';
import { Session, type Op, type Reply, type Request, type SessionLimits } from './session';
import { TurnBudget } from '../turn-budget';

const QUEUE_SIZE = 128;
/** The most argument bytes copied out of a request (names, targets, forget batches); WRITE data is never copied. */
const ARGS_MAX = 64 * 1024;
const TAG_BYTES = 36;
const OP_SLOTS = Math.max(...OPS.keys()) + 1;

/** A shared directory: the host folder and the tag the guest mounts it by. */
export interface FsOptions {
  /** The mount tag the guest names (`mount -t virtiofs <tag> /mnt`), at most 36 bytes. */
  tag: string;
  /** The shared host directory. */
  path: string;
  readonly: boolean;
}

export class FsDevice implements VirtioDevice {
  readonly deviceType = 26;
  readonly queueMaxSizes = [QUEUE_SIZE, QUEUE_SIZE];
  readonly features = 0n;
  private readonly session: Session;
  private ctx: DeviceContext | undefined;
  private host: DeviceHost | undefined;
  private readonly stats = { requests: 0, errors: 0, badRequests: 0, internalErrors: 0 };
  private readonly running = new InFlight();
  /** Requests by opcode. */
  private readonly opCounts = new Float64Array(OP_SLOTS);
  /** One per queue: requests are served on the main thread while the queue's slice of the turn lasts. */
  private readonly turns = [0, 1].map((q) => new TurnBudget(() => this.host, () => this.onQueueNotify(q)));

  constructor(private readonly cfg: FsOptions, limits?: SessionLimits) {
    this.session = new Session(cfg.path, cfg.readonly, limits);
  }

  configSpace(): Uint8Array {
    const c = Buffer.alloc(TAG_BYTES + 4);
    c.write(this.cfg.tag, 0, TAG_BYTES, 'utf8');
    c.writeUInt32LE(1, TAG_BYTES); // num_request_queues
    return c;
  }

  attach(host: DeviceHost): void { this.host = host; }

  activate(ctx: DeviceContext): void { this.ctx = ctx; }

  onQueueNotify(queue: number): void {
    const ctx = this.ctx;
    if (ctx === undefined) return;
    const turns = this.turns[queue];
    if (turns === undefined) return;
    turns.start();
    serveQueue(ctx, ctx.queues[queue], () => { this.stats.badRequests++; }, (q) => {
      let answered = false;
      for (let chain = q.pop(); chain !== null; chain = turns.spent() ? null : q.pop()) {
        answered = this.serve(ctx, q, chain) || answered;
      }
      return answered;
    });
  }

  /** Serves one chain; true when it was answered at once (the caller raises one interrupt for all of those). */
  private serve(ctx: DeviceContext, q: Virtqueue, chain: DescriptorChain): boolean {
    this.stats.requests++;
    const out = new ReplyWriter(chain.writable);
    const r = parse(chain, out);
    if (r === undefined) {
      this.stats.badRequests++;
      q.pushUsed(chain.head, 0);
      return true;
    }
    const op = OPS.get(r.opcode);
    // Opcode 0 is none of FUSE's: its slot counts the unknown ones.
    this.opCounts[op === undefined ? 0 : r.opcode]!++;
    let result: Reply | Promise<Reply>;
    let errno = 0;
    try {
      result = this.run(op, r);
    } catch (e) {
      errno = this.errnoFor(e);
      // An op without a reply (FORGET with a short body) fails silently: the guest expects nothing back.
      result = op?.noReply ? 'none' : EMPTY;
    }
    if (!(result instanceof Promise)) {
      this.complete(q, chain.head, r, errno, result);
      return true;
    }
    this.running.begin();
    const settle = (err: number, reply: Reply): void => {
      this.running.end();
      // A reset (or a new activation) since: the chain belongs to rings the driver has taken back.
      if (this.ctx !== ctx) return;
      try {
        this.complete(q, chain.head, r, err, reply);
        ctx.notifyUsed(q);
      } catch (e) {
        // Completions run outside any caller that could catch: a used ring the guest broke meanwhile fails the
        // device here, and anything else is the VMM's bug, reported without killing the process.
        const broken = e instanceof QueueError;
        if (broken) this.stats.badRequests++;
        else this.stats.internalErrors++;
        ctx.fail(broken ? e.message : `completing a request failed: ${String(e)}`);
      }
    };
    result.then((reply) => settle(0, reply), (e: unknown) => settle(this.errnoFor(e), EMPTY));
    return false;
  }

  private run(op: Op | undefined, r: Request): Reply | Promise<Reply> {
    const s = this.session;
    if (op === undefined) return fail(E.ENOSYS);
    if (s.minor === 0 && r.opcode !== OP.INIT) return op.noReply ? 'none' : fail(E.EIO);
    if (op.noReply) return op.run(s, r);
    if (r.out.capacity < SIZE.OUT_HEADER + op.reply) return fail(E.ERANGE);
    if (op.mutates && s.readonly) return fail(E.EROFS);
    return op.run(s, r);
  }

  private errnoFor(e: unknown): number {
    const errno = errnoOf(e);
    if (errno !== undefined) return errno;
    this.stats.internalErrors++;
    return E.EIO;
  }

  /** Writes fuse_out_header (+ body) and returns the chain. A reply that does not fit becomes ERANGE. */
  private complete(q: Virtqueue, head: number, r: Request, errno: number, reply: Reply): void {
    let written = 0;
    if (reply !== 'none' && r.out.capacity >= SIZE.OUT_HEADER) {
      let body = 0;
      if (errno === 0) {
        body = reply instanceof Uint8Array ? reply.length : reply.written;
        if (SIZE.OUT_HEADER + body > r.out.capacity) { errno = E.ERANGE; body = 0; }
        else if (reply instanceof Uint8Array) r.out.write(SIZE.OUT_HEADER, reply);
      }
      if (errno !== 0) this.stats.errors++;
      written = SIZE.OUT_HEADER + body;
      writeOutHeader(r.out, written, errno, r.unique);
    } else if (reply !== 'none') {
      this.stats.badRequests++;
    }
    q.pushUsed(head, written);
  }

  /** The session: the nodes and handles the guest holds, by path and flags (docs/snapshot.md). */
  snapshotState(): SavedFs { return saveSession(this.session); }

  restoreState(state: unknown): void { loadSession(this.session, state); }

  reset(): void {
    for (const t of this.turns) t.cancel();
    this.ctx = undefined;
    this.session.reset();
  }

  close(): void {
    this.reset();
    this.session.close();
  }

  quiesce(): Promise<void> { return this.running.idle(); }

  counters(): Record<string, number> {
    const c: Record<string, number> = { ...this.stats, inFlight: this.running.size, readBytes: this.session.bytes.read,
      writtenBytes: this.session.bytes.written, inodes: this.session.inodes.size, handles: this.session.handles.size };
    for (const [opcode, op] of OPS) if (this.opCounts[opcode]) c[`op.${op.name}`] = this.opCounts[opcode]!;
    if (this.opCounts[0]) c['op.unknown'] = this.opCounts[0];
    return c;
  }
}

/** fuse_in_header and the op's arguments; undefined when the chain is too short to hold a header. */
function parse(chain: DescriptorChain, out: ReplyWriter): Request | undefined {
  const h = gather(chain.readable, SIZE.IN_HEADER);
  if (h === undefined) return undefined;
  const opcode = h.readUInt32LE(4);
  const rest = chain.readableBytes - SIZE.IN_HEADER;
  const argBytes = opcode === OP.WRITE ? Math.min(rest, SIZE.WRITE_IN) : Math.min(rest, ARGS_MAX);
  const args = gather(sliceSegments(chain.readable, SIZE.IN_HEADER, argBytes), argBytes)!;
  return {
    opcode,
    unique: h.readBigUInt64LE(8),
    nodeid: h.readBigUInt64LE(16),
    uid: h.readUInt32LE(24),
    gid: h.readUInt32LE(28),
    args: new Args(args),
    data: opcode === OP.WRITE ? sliceSegments(chain.readable, SIZE.IN_HEADER + SIZE.WRITE_IN) : [],
    out,
  };
}
