// A machine's display, as the Vm offers it: pictures of what the guest shows on its gpu's scanouts. The picture is
// taken from the device's host copy of the resource the guest set on the scanout (what its last transfers put
// there), never from guest memory, and encoded off the event loop's hot path (devices/gpu/screenshot.ts).
import { argRangeError, checkInteger, VmError } from './errors';
import type { GpuDevice } from '../devices/gpu/device';
import { screenshotPng } from '../devices/gpu/screenshot';

export const NO_GPU_DEVICE = 'this machine has no gpu device (add {type: gpu} to devices)';

export interface VmDisplayOptions {
  /** The machine's gpu, when it has one. */
  gpu: () => GpuDevice | undefined;
  /** Throws VmError ERR_VM_STATE when the machine cannot take `operation` now. */
  check: (operation: string) => void;
}

export class VmDisplay {
  constructor(private readonly opts: VmDisplayOptions) {}

  /**
   * A PNG (8-bit RGBA) of what scanout `scanout` shows: the visible rectangle of the resource the guest set on it,
   * as its last transfers left it; the guest's cursor is not drawn. VmError ERR_VM_NO_DEVICE without a gpu,
   * ERR_VM_NO_DISPLAY when the scanout shows nothing, ERR_VM_STATE unless running or paused; RangeError for a
   * scanout the gpu does not have.
   */
  async screenshot(scanout = 0): Promise<Buffer> {
    const gpu = this.opts.gpu();
    if (gpu === undefined) throw new VmError('ERR_VM_NO_DEVICE', `cannot take a screenshot: ${NO_GPU_DEVICE}`);
    checkInteger('scanout', scanout, 0, Number.MAX_SAFE_INTEGER);
    if (scanout >= gpu.scanoutCount) {
      throw argRangeError('scanout', `an integer >= 0 and <= ${gpu.scanoutCount - 1} (the gpu's scanouts)`, scanout);
    }
    this.opts.check('take a screenshot');
    const frame = gpu.scanoutFrame(scanout);
    if (frame === undefined) {
      throw new VmError('ERR_VM_NO_DISPLAY', `scanout ${scanout} shows nothing: the guest has set no resource on it`);
    }
    return await screenshotPng(frame);
  }
}
