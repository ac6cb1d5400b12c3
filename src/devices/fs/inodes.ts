// The node ids the guest holds: one O_PATH fd per host inode (found by device and inode number, so two names of
// one file are one node), counted by lookups and released by FORGET. Ids the guest sends are looked up here and
// nowhere else; one the table does not hold is ENOENT.
import { byGuestKey } from './codec';
import { FsError } from './errors';
import { closeQuietly, type HostStat } from './host';
import { E, ROOT_ID, S_IFDIR } from './protocol';

export interface Inode {
  readonly id: number;
  /** O_PATH, O_NOFOLLOW: pins the inode, opens nothing. */
  readonly fd: number;
  readonly key: string;
  readonly type: number;
  /** Lookups the guest has not forgotten. */
  refs: number;
}

/** Each node is a host fd: a guest that never forgets must not take all of the VMM's. */
export const MAX_INODES = 16384;

export class InodeTable {
  private readonly byId = new Map<number, Inode>();
  private readonly byKey = new Map<string, Inode>();
  private nextId = ROOT_ID + 1;
  readonly root: Inode;

  constructor(rootFd: number, rootStat: HostStat, private readonly max = MAX_INODES) {
    this.root = { id: ROOT_ID, fd: rootFd, key: rootStat.key, type: rootStat.type, refs: 1 };
    this.byId.set(ROOT_ID, this.root);
    this.byKey.set(this.root.key, this.root);
  }

  get size(): number { return this.byId.size; }

  /** The inode for a node id from the guest. */
  get(id: bigint): Inode {
    const inode = byGuestKey(this.byId, id);
    if (inode === undefined) throw new FsError(E.ENOENT, `unknown node id ${id}`);
    return inode;
  }

  dir(id: bigint): Inode {
    const inode = this.get(id);
    if (inode.type !== S_IFDIR) throw new FsError(E.ENOTDIR, 'not a directory');
    return inode;
  }

  /** Counts one lookup of the inode `fd` refers to. Takes ownership of fd (closed when the inode is known). */
  ref(fd: number, st: HostStat): Inode {
    const known = this.byKey.get(st.key);
    if (known !== undefined) {
      closeQuietly(fd);
      known.refs++;
      return known;
    }
    if (this.byId.size >= this.max) {
      closeQuietly(fd);
      throw new FsError(E.ENFILE, `the guest holds ${this.max} nodes already`);
    }
    const inode: Inode = { id: this.nextId++, fd, key: st.key, type: st.type, refs: 1 };
    this.byId.set(inode.id, inode);
    this.byKey.set(inode.key, inode);
    return inode;
  }

  /** Takes back `n` lookups; the inode's fd closes with its last. The root is never dropped. Unknown ids are ignored. */
  forget(id: bigint, n: bigint): void {
    const inode = byGuestKey(this.byId, id);
    if (inode === undefined || inode === this.root) return;
    inode.refs -= n >= BigInt(inode.refs) ? inode.refs : Number(n);
    if (inode.refs > 0) return;
    this.byId.delete(inode.id);
    this.byKey.delete(inode.key);
    closeQuietly(inode.fd);
  }

  /** Every node but the root, and the next id, for a snapshot. */
  saved(): { nodes: Inode[]; nextId: number } {
    return { nodes: [...this.byId.values()].filter((i) => i !== this.root), nextId: this.nextId };
  }

  /**
   * Takes nodes a snapshot held (their fds opened again, ids and lookup counts as they were) after clear(); the
   * caller checked them. Takes ownership of every fd.
   */
  restore(nodes: readonly Inode[], rootRefs: number, nextId: number): void {
    this.root.refs = rootRefs;
    for (const inode of nodes) {
      this.byId.set(inode.id, inode);
      this.byKey.set(inode.key, inode);
    }
    this.nextId = nextId;
  }

  /** Drops every node but the root (DESTROY, device reset). The root's fd belongs to the caller. */
  clear(): void {
    for (const inode of this.byId.values()) if (inode !== this.root) closeQuietly(inode.fd);
    this.byId.clear();
    this.byKey.clear();
    this.byId.set(ROOT_ID, this.root);
    this.byKey.set(this.root.key, this.root);
  }
}
