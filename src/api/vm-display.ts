// A machine's display, as the Vm offers it: pictures of what the guest shows on its gpu's scanouts. The picture is
// taken from the device's host copy of the resource the guest set on the scanout (what its last transfers put
// there), never from guest memory, and encoded off the event loop's hot path (devices/gpu/screenshot.ts); and the
// browser console (web-console.ts), which shows a scanout live with the serial console and takes keys and the pointer.
import { argRangeError, checkInteger, checkOptions, VmError } from './errors';
import type { GpuDevice } from '../devices/gpu/device';
import { screenshotPng } from '../devices/gpu/screenshot';
import type { WebInput } from './web-client';
import { serveWebConsole, type WebConsole } from './web-console';

export type { WebConsole } from './web-console';

export const NO_GPU_DEVICE = 'this machine has no gpu device (add {type: gpu} to devices)';

export interface VmDisplayOptions {
  /** The machine's gpu, when it has one. */
  gpu: () => GpuDevice | undefined;
  /** Throws VmError ERR_VM_STATE when the machine cannot take `operation` now. */
  check: (operation: string) => void;
  /** Where the browser console's keys, pointer and serial text go. */
  webInput?: () => WebInput;
  /** The serial console's output as the guest writes it; returns what stops the listener. */
  onSerialOutput?: (listener: (chunk: Buffer) => void) => () => void;
  /** Throws VmError ERR_VM_STATE when the machine has ended (a console then has nothing to show). */
  checkServe?: (operation: string) => void;
}

export interface ServeWebOptions {
  /** The port on 127.0.0.1; 0 (the default) takes a free one. */
  port?: number;
  /** The scanout shown (default 0). */
  scanout?: number;
}

export class VmDisplay {
  private readonly consoles = new Set<WebConsole>();
  private ended = false;

  constructor(private readonly opts: VmDisplayOptions) {}

  /**
   * Serves scanout `scanout` in a browser on 127.0.0.1:`port` (only there): the screen, the keyboard and the pointer
   * (the config's first keyboard and tablet), and the serial console. Resolves once it listens, with the page's
   * address: it carries a random token, and a request without it is refused (403). Closed by close(), or when the
   * machine ends. VmError ERR_VM_NO_DEVICE without a gpu, ERR_VM_STATE once the machine has ended; RangeError for
   * a port or scanout out of range; the listen error (EADDRINUSE) as it comes.
   */
  async serveWeb(options?: ServeWebOptions): Promise<WebConsole> {
    const o = checkOptions('options', options, ['port', 'scanout']);
    const gpu = this.opts.gpu();
    if (gpu === undefined) throw new VmError('ERR_VM_NO_DEVICE', `cannot serve the display: ${NO_GPU_DEVICE}`);
    const port = o.port === undefined ? 0 : checkInteger('port', o.port, 0, 65535);
    const scanout = this.scanout(gpu, o.scanout ?? 0);
    (this.opts.checkServe ?? this.opts.check)('serve the display');
    this.checkNotEnded();
    const noInput = (): never => { throw new VmError('ERR_VM_NO_DEVICE', 'this machine takes no input from here'); };
    const web = await serveWebConsole({
      screen: {
        frame: () => gpu.scanoutFrame(scanout),
        onChange: (listener) => gpu.onScanoutChange((n, rect) => { if (n === scanout) listener(rect); }),
      },
      input: this.opts.webInput?.() ?? { key: noInput, pointer: noInput },
      ...(this.opts.onSerialOutput ? { onSerialOutput: this.opts.onSerialOutput } : {}),
    }, { port });
    try {
      this.checkNotEnded();
    } catch (e) {
      // The machine ended while the server was starting to listen.
      await web.close();
      throw e;
    }
    const handle: WebConsole = {
      url: web.url,
      port: web.port,
      get clients() { return web.clients; },
      close: async () => {
        this.consoles.delete(handle);
        await web.close();
      },
    };
    this.consoles.add(handle);
    return handle;
  }

  /**
   * Closes every browser console still open: the machine has ended.
   * @internal
   */
  async closeAll(): Promise<void> {
    this.ended = true;
    await Promise.all([...this.consoles].map((c) => c.close()));
  }

  private checkNotEnded(): void {
    if (this.ended) throw new VmError('ERR_VM_STATE', 'cannot serve the display: the machine has ended');
  }

  private scanout(gpu: GpuDevice, scanout: unknown): number {
    const n = checkInteger('scanout', scanout, 0, Number.MAX_SAFE_INTEGER);
    if (n >= gpu.scanoutCount) {
      throw argRangeError('scanout', `an integer >= 0 and <= ${gpu.scanoutCount - 1} (the gpu's scanouts)`, n);
    }
    return n;
  }

  /**
   * A PNG (8-bit RGBA) of what scanout `scanout` shows: the visible rectangle of the resource the guest set on it,
   * as its last transfers left it; the guest's cursor is not drawn. VmError ERR_VM_NO_DEVICE without a gpu,
   * ERR_VM_NO_DISPLAY when the scanout shows nothing, ERR_VM_STATE unless running or paused; RangeError for a
   * scanout the gpu does not have.
   */
  async screenshot(scanout = 0): Promise<Buffer> {
    const gpu = this.opts.gpu();
    if (gpu === undefined) throw new VmError('ERR_VM_NO_DEVICE', `cannot take a screenshot: ${NO_GPU_DEVICE}`);
    this.scanout(gpu, scanout);
    this.opts.check('take a screenshot');
    const frame = gpu.scanoutFrame(scanout);
    if (frame === undefined) {
      throw new VmError('ERR_VM_NO_DISPLAY', `scanout ${scanout} shows nothing: the guest has set no resource on it`);
    }
    return await screenshotPng(frame);
  }
}
