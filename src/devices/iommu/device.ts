// virtio-iommu (device type 23) over virtio-mmio: the devices configured behind it (`iommu: true`) reach guest
// memory only through the I/O virtual address space of the domain their endpoint is attached to. The driver builds
// those spaces with requests on the request queue; translation faults go back to it as records on the event queue.
// There is no bypass: an endpoint attached to no domain has every access denied.
//
// Endpoint IDs are fixed by the machine (the VMM gives the list). A request that takes translations away (UNMAP,
// DETACH, an ATTACH that moves an endpoint) takes effect at once, but its reply waits until the endpoints that lost
// them have no I/O in flight: a disk request on the thread pool holds views of guest memory, and after the reply
// the driver may give those pages to someone else.
import type { GuestMemory } from '../../base/guest-memory';
import { serveQueue, type DeviceContext, type DeviceHost, type VirtioDevice } from '../../virtio-mmio/device';
import type { DescriptorChain, Virtqueue } from '../../virtio-mmio/queue';
import { gather, scatter } from '../../virtio-mmio/segments';
import { TurnBudget } from '../turn-budget';
import { InFlight } from '../../virtio-mmio/in-flight';
import { IommuDomains } from './domains';
import { EndpointMemory } from './endpoint-memory';
import { RequestHandler, writableBytes } from './requests';
import { loadIommu, saveIommu, type SavedIommu } from './snapshot';
import {
  configSpace, F, FAULT_BYTES, faultRecord, PROBE_SIZE, probeProperties, READABLE_BYTES, S, T, TAIL_BYTES, type Fault,
} from './wire';

export const IOMMU_DEVICE_TYPE = 23;
/** Faults kept while the driver has no event buffer posted; more are dropped (and counted). */
export const FAULT_BACKLOG = 64;
/** The longest request (PROBE) copied out of the ring. */
const MAX_READABLE = Math.max(...Object.values(READABLE_BYTES));

const STATUS_COUNTER: Record<number, string> = {
  [S.IOERR]: 'errIoerr', [S.UNSUPP]: 'errUnsupp', [S.DEVERR]: 'errDeverr', [S.INVAL]: 'errInval',
  [S.RANGE]: 'errRange', [S.NOENT]: 'errNoent', [S.FAULT]: 'errFault', [S.NOMEM]: 'errNomem',
};

export interface IommuOptions {
  /** The endpoint IDs that exist: the indexes, in the machine's device list, of the devices behind the IOMMU. */
  endpoints: readonly number[];
  /**
   * Resolves once endpoint `id`'s device has no I/O in flight that started before the call (undefined: it never
   * has any). A reply that took translations away waits for it.
   */
  drain?: (id: number) => Promise<void> | undefined;
}

export class IommuDevice implements VirtioDevice {
  readonly deviceType = IOMMU_DEVICE_TYPE;
  /** requestq, eventq. */
  readonly queueMaxSizes = [256, 64];
  readonly features = (1n << F.INPUT_RANGE) | (1n << F.DOMAIN_RANGE) | (1n << F.MAP_UNMAP) | (1n << F.PROBE);
  readonly domains: IommuDomains;
  private ctx: DeviceContext | undefined;
  private host: DeviceHost | undefined;
  private readonly stats: Record<string, number> = {
    requests: 0, maps: 0, unmaps: 0, faults: 0, faultsDropped: 0, badChains: 0,
    errIoerr: 0, errUnsupp: 0, errDeverr: 0, errInval: 0, errRange: 0, errNoent: 0, errFault: 0, errNomem: 0,
  };
  private readonly backlog: Fault[] = [];
  /** A reply is waiting for endpoints to drain; requests after it wait on the ring, so replies keep their order. */
  private waiting = false;
  /** Replies held back until endpoints drain. */
  private readonly replies = new InFlight();
  private readonly turns = new TurnBudget(() => this.host, () => this.serveRequests());

  constructor(private readonly opts: IommuOptions) {
    this.domains = new IommuDomains(new Set(opts.endpoints));
  }

  /** The memory endpoint `id`'s device reaches through this IOMMU, over guest RAM `ram`. */
  endpointMemory(id: number, ram: GuestMemory): EndpointMemory {
    if (!this.domains.endpoints.has(id)) throw new RangeError(`endpoint ${id} is not behind this IOMMU`);
    return new EndpointMemory(this.domains, id, ram, (f) => this.fault(f));
  }

  configSpace(): Uint8Array { return configSpace(); }

  attach(host: DeviceHost): void { this.host = host; }

  activate(ctx: DeviceContext): void {
    this.ctx = ctx;
    this.flushFaults(); // a restored device's backlog, into the buffers the driver already gave
  }

  /** A snapshot waits for a reply held back until endpoints drain: its chain is the device's until then. */
  quiesce(): Promise<void> { return this.replies.idle(); }

  /** The domains with their endpoints and mappings, and the faults waiting for an event buffer. */
  snapshotState(): SavedIommu { return saveIommu(this.domains, this.backlog); }

  /**
   * Builds the snapshot's domains before any device behind the IOMMU is activated (every device's state is read
   * before the first is activated), so their rings translate through the restored mappings from the start.
   */
  restoreState(state: unknown): void {
    try {
      const faults = loadIommu(state, this.domains, FAULT_BACKLOG);
      this.backlog.splice(0, this.backlog.length, ...faults);
    } catch (e) {
      this.domains.clear();
      throw e;
    }
  }

  onQueueNotify(queue: number): void {
    if (queue === 0) this.serveRequests();
    else this.flushFaults();
  }

  private serveRequests(): void {
    if (this.waiting) return;
    this.turns.start();
    const ctx = this.ctx;
    serveQueue(ctx, ctx?.queues[0], () => this.stats.badChains!++, (q) => {
      let served = false;
      while (!this.waiting && !(served && this.turns.spent())) {
        const chain = q.pop();
        if (chain === null) break;
        served = this.request(ctx!, q, chain) || served;
      }
      return served;
    });
  }

  /** Handles one request; true when it was answered now (false: its reply waits for endpoints to drain). */
  private request(ctx: DeviceContext, q: Virtqueue, chain: DescriptorChain): boolean {
    this.stats.requests!++;
    if (chain.writableBytes < TAIL_BYTES) {
      // No room for a status: nothing to answer with but an empty reply, which the driver takes as an error.
      this.count(S.DEVERR);
      q.pushUsed(chain.head, 0);
      return true;
    }
    const req = chain.readableBytes > MAX_READABLE ? Buffer.alloc(0) : gather(chain.readable, chain.readableBytes)!;
    const out = new RequestHandler(this.domains, ctx.memory.ram).handle(req, chain.writableBytes);
    if (out.mapped) this.stats.maps!++;
    if (out.unmapped) this.stats.unmaps! += out.unmapped;
    this.count(out.status);
    const probe = out.status === S.OK && req[0] === T.PROBE && chain.writableBytes === writableBytes(T.PROBE);
    const reply = (): void => {
      if (probe) scatter(chain.writable, 0, probeProperties());
      const tail = Buffer.alloc(TAIL_BYTES);
      tail[0] = out.status;
      scatter(chain.writable, chain.writableBytes - TAIL_BYTES, tail);
      q.pushUsed(chain.head, probe ? PROBE_SIZE + TAIL_BYTES : TAIL_BYTES);
    };
    const drains = (out.revoked ?? []).map((id) => this.opts.drain?.(id)).filter((p) => p !== undefined);
    if (drains.length === 0) {
      reply();
      return true;
    }
    this.waiting = true;
    this.replies.begin();
    const resume = (): void => {
      this.replies.end();
      if (this.ctx !== ctx) return; // reset meanwhile: the chain is not the driver's to get back any more
      this.waiting = false;
      serveQueue(ctx, q, () => this.stats.badChains!++, () => { reply(); return true; });
      this.serveRequests();
    };
    void Promise.all(drains).then(resume, resume);
    return false;
  }

  private count(status: number): void {
    const name = STATUS_COUNTER[status];
    if (name !== undefined) this.stats[name]!++;
  }

  /** A device behind the IOMMU was denied an access: the driver hears of it on the event queue. */
  private fault(f: Fault): void {
    this.stats.faults!++;
    if (this.ctx?.queues[1] === undefined || this.backlog.length >= FAULT_BACKLOG) {
      this.stats.faultsDropped!++;
      return;
    }
    this.backlog.push(f);
    this.flushFaults();
  }

  /** Writes what faults it can into the event buffers the driver has posted. */
  private flushFaults(): void {
    serveQueue(this.ctx, this.ctx?.queues[1], () => this.stats.badChains!++, (q) => {
      let served = false;
      while (this.backlog.length > 0) {
        const chain = q.pop();
        if (chain === null) break;
        const f = this.backlog.shift()!;
        if (chain.writableBytes < FAULT_BYTES) {
          this.stats.faultsDropped!++;
          q.pushUsed(chain.head, 0);
        } else {
          q.pushUsed(chain.head, scatter(chain.writable, 0, faultRecord(f)));
        }
        served = true;
      }
      return served;
    });
  }

  reset(): void {
    this.turns.cancel();
    this.ctx = undefined;
    this.waiting = false;
    this.backlog.length = 0;
    // Without bypass, a reset leaves every endpoint attached to nothing: all their DMA is denied until a new
    // driver attaches them again.
    this.domains.clear();
  }

  counters(): Record<string, number> {
    return { ...this.stats, domains: this.domains.domainCount, mappings: this.domains.mappings };
  }
}
