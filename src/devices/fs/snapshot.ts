// The virtio-fs session in a snapshot: the FUSE minor the driver negotiated, every node the guest holds (its id,
// lookup count, path beneath the share and host identity) and every open handle (its fh, node, kind and flags).
// Host fds cannot be saved, so a restore opens each node again by its path, beneath the share as every lookup is,
// and refuses one that is not the same host inode any more: the share must be left as it was, like a disk. A
// snapshot of a guest holding a file that has no name left (deleted while open) is refused.
import { native } from '../../base/native';
import { closeQuietly } from './host';
import { MAX_HANDLES, type Handle } from './handles';
import { MAX_INODES, type Inode } from './inodes';
import type { Session } from './session';
import { savedInt, savedObject } from '../saved-state';

export interface SavedFs {
  minor: number;
  rootRefs: number;
  nextId: number;
  nodes: [id: number, refs: number, path: string, key: string][];
  nextFh: number;
  handles: [fh: number, node: number, dir: boolean, writable: boolean, flags: number][];
}

export function saveSession(s: Session): SavedFs {
  const { nodes, nextId } = s.inodes.saved();
  const { handles, nextFh } = s.handles.saved();
  return {
    minor: s.minor, rootRefs: s.inodes.root.refs, nextId,
    nodes: nodes.map((i) => {
      const path = s.host.pathOf(i.fd);
      if (path === undefined) throw new Error(`the guest holds node ${i.id}, which has no name in the share any more`);
      return [i.id, i.refs, path, i.key];
    }),
    nextFh,
    handles: handles.map(([fh, h]) => [fh, h.node, h.dir, h.writable, h.flags]),
  };
}

const int = savedInt;

/** Opens the saved nodes again; the fds of those opened are closed when a later one fails. */
function openNodes(s: Session, saved: unknown[], nextId: number, opened: Inode[]): void {
  const ids = new Set<number>();
  const keys = new Set<string>([s.inodes.root.key]);
  saved.forEach((raw, i) => {
    const [id, refs, path, key] = Array.isArray(raw) ? raw as unknown[] : [];
    const nid = int(`nodes[${i}] id`, id, 2, nextId - 1);
    const n = int(`nodes[${i}] refs`, refs, 1, Number.MAX_SAFE_INTEGER);
    if (typeof path !== 'string' || path === '' || path === '.' || typeof key !== 'string' || ids.has(nid) || keys.has(key)) {
      throw new RangeError(`nodes[${i}] is not a node of its own with a path beneath the share`);
    }
    const fd = s.host.lookup(s.host.rootFd, path);
    const st = s.host.stat(fd);
    opened.push({ id: nid, fd, key: st.key, type: st.type, refs: n });
    if (st.key !== key) throw new RangeError(`nodes[${i}]: ${path} is another file than at the snapshot`);
    ids.add(nid);
    keys.add(key);
  });
}

/** Reopens the saved handles on the restored nodes; fds opened are pushed onto `opened` as they come. */
function openHandles(s: Session, saved: unknown[], nextFh: number, byId: Map<number, Inode>,
  opened: [number, Handle][]): void {
  const c = native().fsConstants;
  const fhs = new Set<number>();
  saved.forEach((raw, i) => {
    const [fh, node, dir, writable, flags] = Array.isArray(raw) ? raw as unknown[] : [];
    const h = int(`handles[${i}] fh`, fh, 1, nextFh - 1);
    const inode = byId.get(int(`handles[${i}] node`, node, 1, Number.MAX_SAFE_INTEGER));
    if (inode === undefined || fhs.has(h) || typeof dir !== 'boolean' || typeof writable !== 'boolean') {
      throw new RangeError(`handles[${i}] is not a handle of its own on a saved node`);
    }
    if (writable && s.readonly) throw new RangeError(`handles[${i}] is writable on a read-only share`);
    // Opened again, never truncated or created: the file is as the snapshot left it.
    const f = int(`handles[${i}] flags`, flags, 0, 0x7fff_ffff) & ~(c.O_TRUNC | c.O_EXCL | c.O_CREAT);
    const fd = s.host.reopen(inode.fd, s.host.stat(inode.fd), dir ? 0 : f);
    opened.push([h, { fd, node: inode.id, dir, writable, flags: f, busy: 0, released: false }]);
    fhs.add(h);
  });
}

/** Puts a saved session into `s` (reset first); throws RangeError naming what does not fit, with nothing left open. */
export function loadSession(s: Session, v: unknown): void {
  const saved = savedObject(v);
  s.reset();
  const nextId = int('nextId', saved.nextId, 2, Number.MAX_SAFE_INTEGER);
  const nextFh = int('nextFh', saved.nextFh, 1, Number.MAX_SAFE_INTEGER);
  const nodes: Inode[] = [];
  const handles: [number, Handle][] = [];
  try {
    if (!Array.isArray(saved.nodes) || !Array.isArray(saved.handles) || saved.nodes.length > MAX_INODES
      || saved.handles.length > MAX_HANDLES) {
      throw new RangeError(`nodes and handles are not lists of at most ${MAX_INODES} and ${MAX_HANDLES}`);
    }
    openNodes(s, saved.nodes as unknown[], nextId, nodes);
    const byId = new Map<number, Inode>([[s.inodes.root.id, s.inodes.root], ...nodes.map((n) => [n.id, n] as const)]);
    openHandles(s, saved.handles as unknown[], nextFh, byId, handles);
  } catch (e) {
    for (const n of nodes) closeQuietly(n.fd);
    for (const [, h] of handles) closeQuietly(h.fd);
    throw e;
  }
  s.inodes.restore(nodes, int('rootRefs', saved.rootRefs, 1, Number.MAX_SAFE_INTEGER), nextId);
  s.handles.restore(handles, nextFh);
  s.minor = int('minor', saved.minor, 0, 0xffff_ffff);
}
