// TRANSFER_TO_HOST_2D: a rectangle of the guest's backing copied into the resource's host copy. Row i of the
// rectangle is read at `offset + i * stride` of the backing (stride: the resource's row, width * 4), which is where
// a driver whose backing is laid out like the resource has it. A rectangle may be a whole 8K image, so the copy
// runs in steps of a bounded size and the device yields the event loop between them.
import type { Backing } from './backing';
import type { Resource } from './resources';
import { BYTES_PER_PIXEL, RESP, type Answer, type Job, type Rect } from './protocol';

/** Bytes one step copies at most (plus one row). */
export const STEP_BYTES = 1 << 20;

export class Transfer implements Job {
  private row = 0;
  /** Bytes copied so far. */
  copied = 0;

  constructor(private readonly resource: Resource, private readonly backing: Backing, private readonly rect: Rect,
    private readonly offset: number) {}

  /**
   * The backing bytes the rectangle needs: its last row ends at offset + (height - 1) * stride + width * 4. Zero for
   * an empty rectangle.
   */
  static needs(resource: Resource, rect: Rect, offset: number): number {
    if (rect.width === 0 || rect.height === 0) return 0;
    return offset + (rect.height - 1) * resource.stride + rect.width * BYTES_PER_PIXEL;
  }

  private get done(): boolean { return this.row >= this.rect.height || this.rect.width === 0; }

  /**
   * Copies rows until STEP_BYTES are copied or the rectangle is done. A backing that stopped being readable (an
   * IOMMU mapping went away between steps) ends the transfer there, with what was copied left in place.
   */
  step(): Answer | undefined {
    if (!this.backing.current()) return { type: RESP.ERR_INVALID_PARAMETER };
    const { resource: res, rect } = this;
    const rowBytes = rect.width * BYTES_PER_PIXEL;
    let stepped = 0;
    while (!this.done && stepped < STEP_BYTES) {
      const src = this.offset + this.row * res.stride;
      const dst = (rect.y + this.row) * res.stride + rect.x * BYTES_PER_PIXEL;
      this.backing.copyOut(src, res.pixels, dst, rowBytes);
      this.row++;
      stepped += rowBytes;
    }
    this.copied += stepped;
    return this.done ? { type: RESP.OK_NODATA } : undefined;
  }
}
