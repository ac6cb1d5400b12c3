// The cursor queue: UPDATE_CURSOR (a new image, its hot spot and position) and MOVE_CURSOR (a position only), both
// the same 56-byte structure. The driver expects no answer: each chain goes back with nothing written. The
// device keeps what the guest asked for (for a display to draw); a command it cannot take changes nothing and
// is counted.
import { CMD, HDR_BYTES } from './protocol';
import type { ResourceTable } from './resources';

export interface CursorState {
  scanout: number;
  x: number;
  y: number;
  /** 0: no cursor image (hidden). */
  resourceId: number;
  hotX: number;
  hotY: number;
}

export function hiddenCursor(): CursorState {
  return { scanout: 0, x: 0, y: 0, resourceId: 0, hotX: 0, hotY: 0 };
}

/** Applies cursor command `req` (CURSOR_BYTES long) to `cursor`; false when it is refused (and nothing changed). */
export function runCursorCommand(cursor: CursorState, req: Buffer, scanouts: number, resources: ResourceTable): boolean {
  const type = req.readUInt32LE(0);
  const scanout = req.readUInt32LE(HDR_BYTES);
  const x = req.readUInt32LE(HDR_BYTES + 4);
  const y = req.readUInt32LE(HDR_BYTES + 8);
  if (type !== CMD.UPDATE_CURSOR && type !== CMD.MOVE_CURSOR) return false;
  if (scanout >= scanouts) return false;
  if (type === CMD.UPDATE_CURSOR) {
    const resourceId = req.readUInt32LE(HDR_BYTES + 16);
    if (resourceId !== 0 && resources.get(resourceId) === undefined) return false;
    cursor.resourceId = resourceId;
    cursor.hotX = req.readUInt32LE(HDR_BYTES + 20);
    cursor.hotY = req.readUInt32LE(HDR_BYTES + 24);
  }
  cursor.scanout = scanout;
  cursor.x = x;
  cursor.y = y;
  return true;
}
