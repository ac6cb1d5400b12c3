// What one FUSE connection with the guest holds: the host share, the node and handle tables, the negotiated
// protocol, and the request every operation receives.
import { Args, entryOut, type ReplyWriter } from './codec';
import { HandleTable } from './handles';
import { closeQuietly, Host, type HostStat } from './host';
import { InodeTable, type Inode } from './inodes';
import { FsError } from './errors';
import { E, S_IFDIR, S_IFLNK } from './protocol';

export interface Request {
  opcode: number;
  unique: bigint;
  nodeid: bigint;
  uid: number;
  gid: number;
  /** The op's arguments after fuse_in_header (for WRITE only fuse_write_in). */
  args: Args;
  /** WRITE: the data after fuse_write_in, as views of guest memory. */
  data: Uint8Array[];
  out: ReplyWriter;
}

/** The reply body after fuse_out_header; `written` when the op wrote its body itself; 'none' for no reply. */
export type Reply = Uint8Array | { written: number } | 'none';

export interface Op {
  name: string;
  run(s: Session, r: Request): Reply | Promise<Reply>;
  /** Smallest reply body; a request with less writable room is refused before it runs (ERANGE). */
  reply: number;
  /** Changes the share: EROFS on a read-only one. */
  mutates?: boolean;
  /** Has no reply (FORGET and friends). */
  noReply?: boolean;
}

/** How many nodes and open files the guest may hold (defaults MAX_INODES, MAX_HANDLES). */
export interface SessionLimits { inodes?: number; handles?: number }

export class Session {
  readonly host: Host;
  readonly inodes: InodeTable;
  readonly handles: HandleTable;
  /** Negotiated FUSE minor; 0 until INIT. */
  minor = 0;
  readonly bytes = { read: 0, written: 0 };
  /** The host checks nothing the guest kernel did not (it mounts with default_permissions), so new entries get
   * the requester's ids only when the VMM may give them. */
  private readonly canChown = process.geteuid?.() === 0;

  constructor(root: string, readonly readonly: boolean, limits: SessionLimits = {}) {
    this.handles = new HandleTable(limits.handles);
    this.host = new Host(root);
    try {
      this.inodes = new InodeTable(this.host.rootFd, this.host.stat(this.host.rootFd), limits.inodes);
    } catch (e) {
      this.host.close();
      throw e;
    }
  }

  /** The entry reply for an O_PATH fd the caller found or made; counts a lookup. Takes ownership of fd. */
  entry(fd: number, st?: HostStat): Buffer {
    let stat: HostStat;
    try {
      stat = st ?? this.host.stat(fd);
    } catch (e) {
      closeQuietly(fd);
      throw e;
    }
    return entryOut(this.inodes.ref(fd, stat).id, stat);
  }

  /** LOOKUP of one name beneath a directory inode. */
  lookup(parent: Inode | number, name: Uint8Array): Buffer {
    return this.entry(this.host.lookup(typeof parent === 'number' ? parent : parent.fd, name));
  }

  /** Gives an entry the guest just created its owner and exact mode (the host's umask and creds differ). */
  adopt(parent: Inode, name: Uint8Array, r: Request, mode: number, expectKey?: string): Buffer {
    const fd = this.host.lookup(parent.fd, name);
    try {
      let st = this.host.stat(fd);
      // The name was replaced between making it and finding it again (by the host): do not mix up the two.
      if (expectKey !== undefined && st.key !== expectKey) throw new FsError(E.ESTALE, 'entry replaced');
      let changed = false;
      if (this.canChown) {
        const setgidDir = (this.host.stat(parent.fd).mode & 0o2000) !== 0;
        const gid = setgidDir ? st.gid : r.gid;
        if (st.uid !== r.uid || st.gid !== gid) { this.host.chown(fd, r.uid, gid); changed = true; }
      }
      if (st.type !== S_IFLNK) {
        const want = (mode & 0o7777) | (st.type === S_IFDIR ? st.mode & 0o2000 : 0);
        if ((st.mode & 0o7777) !== want) { this.host.chmod(fd, want); changed = true; }
      }
      if (changed) st = this.host.stat(fd);
      return this.entry(fd, st);
    } catch (e) {
      closeQuietly(fd);
      throw e;
    }
  }

  /** Drops every node and handle (DESTROY, device reset); the share stays open. */
  reset(): void {
    this.handles.clear();
    this.inodes.clear();
    this.minor = 0;
  }

  close(): void {
    this.reset();
    this.host.close();
  }
}
