// The typed face of the native addon. Every function takes fds as numbers and throws Errors that carry
// code / errno / syscall (see native/errors.cc). Argument checking that users can get wrong happens in TypeScript
// before these are called; the addon's own checks only guard against programming errors.
import * as path from 'node:path';
import { packageRoot } from './package-root';
import type { CpuidEntry, FpuState, MsrEntry, PendingException, Regs, Sregs } from './kvm-types';

/** What an FdWatcher waits for (uv_poll's UV_READABLE / UV_WRITABLE). */
export const POLL = { READABLE: 1, WRITABLE: 2 } as const;

export interface FdWatcher {
  /** A mask of POLL bits; 0 stops watching until the next call. */
  poll(events: number): void;
  close(): void;
  ref(): void;
  unref(): void;
}

/** A 4-byte MMIO register whose value is words[index]: READ_WORD answers reads, AND_NOT_WORD clears bits on writes. */
export interface FastMmioEntry {
  gpa: number | bigint;
  kind: number;
  words: Int32Array;
  index: number;
}

/**
 * A MAP_SHARED (or copy-on-write MAP_PRIVATE) mapping of a file. close() unmaps at once and detaches `buffer`, so
 * views made before then read as empty and new ones throw TypeError; unclosed, the mapping goes with the buffer at
 * garbage collection.
 */
export interface SharedMapping {
  /** undefined once closed. */
  readonly buffer: ArrayBuffer | undefined;
  /** Names the mapping to readMapping on any thread of this process. */
  readonly id: number;
  close(): void;
}

/**
 * A vCPU's run loop, made on the thread that calls run(): it owns the kvm_run mapping (runBuffer, detached by
 * close()) and the fast-MMIO table, and holds the typed arrays that table points into until close().
 * Calls other than close() on a closed vCPU throw TypeError.
 */
export interface NativeVcpu {
  /** struct kvm_run; undefined once closed. */
  readonly runBuffer: ArrayBuffer | undefined;
  /** The exit reason, or -1 when interrupted by kick() / a signal. */
  run(): number;
  /** Registers answered inside run() without returning to JavaScript; each answer adds 1 to counters[counterIndex]. */
  setFastMmio(entries: FastMmioEntry[], counters: Float64Array, counterIndex: number): void;
  close(): void;
}

export interface NativeAddon {
  openKvm(path?: string): number;
  getApiVersion(kvmFd: number): number;
  checkExtension(fd: number, cap: number): number;
  getVcpuMmapSize(kvmFd: number): number;
  createVm(kvmFd: number): number;
  getSupportedCpuid(kvmFd: number): CpuidEntry[];
  close(fd: number): void;

  setUserMemoryRegion(vmFd: number, slot: number, flags: number, gpa: number | bigint, memory: ArrayBuffer): void;
  createIrqchip(vmFd: number): void;
  createPit2(vmFd: number, flags?: number): void;
  setTssAddr(vmFd: number, addr: number): void;
  setIdentityMapAddr(vmFd: number, addr: number | bigint): void;
  irqLine(vmFd: number, irq: number, level: number): void;
  irqfd(vmFd: number, eventFd: number, gsi: number, deassign?: boolean): void;
  ioeventfd(vmFd: number, eventFd: number, addr: number | bigint, len: number, datamatch: number | bigint | null,
    pio: boolean, deassign?: boolean): void;
  createVcpu(vmFd: number, id: number): number;

  Vcpu: new (vcpuFd: number, runSize: number) => NativeVcpu;
  /** Makes the current or next run() of the open vCPU with this fd return at once; from any thread. */
  kick(vcpuFd: number): void;
  FAST_MMIO: { READ_WORD: number; AND_NOT_WORD: number };
  getRegs(vcpuFd: number): Regs;
  setRegs(vcpuFd: number, regs: Regs): void;
  getSregs(vcpuFd: number): Sregs;
  setSregs(vcpuFd: number, sregs: Sregs): void;
  setFpu(vcpuFd: number, fpu: FpuState): void;
  setMsrs(vcpuFd: number, msrs: MsrEntry[]): number;
  setCpuid2(vcpuFd: number, entries: CpuidEntry[]): void;
  getLapic(vcpuFd: number): Buffer;
  /** KVM_GET_MP_STATE: one of KVM_MP_STATE (only meaningful while the vCPU is out of KVM_RUN). */
  getMpState(vcpuFd: number): number;
  setLapic(vcpuFd: number, state: Uint8Array): void;
  injectException(vcpuFd: number, ex: PendingException): void;
  translate(vcpuFd: number, gva: bigint): { physical: bigint; valid: boolean };

  /** Snapshot state (native/kvm/snapshot.cc): opaque KVM structs, kinds and sizes in STATE_KINDS. */
  getVcpuState(vcpuFd: number, kind: number): Buffer;
  setVcpuState(vcpuFd: number, kind: number, state: Uint8Array): void;
  getVmState(vmFd: number, kind: number): Buffer;
  setVmState(vmFd: number, kind: number, state: Uint8Array): void;
  /** `size` is KVM_CAP_XSAVE2's answer on the VM; `legacy` (no XSAVE2 on this kernel) uses KVM_GET_XSAVE, 4096 bytes. */
  getXsave(vcpuFd: number, size: number, legacy?: boolean): Buffer;
  /** The buffer must be exactly the VM's XSAVE size: KVM reads that many bytes. */
  setXsave(vcpuFd: number, state: Uint8Array): void;
  getMsrIndexList(kvmFd: number): Uint32Array;
  /** kvm_msr_entry records (16 bytes: index, reserved, data) read or written in place; how many KVM handled. */
  getMsrEntries(vcpuFd: number, entries: Uint8Array): number;
  setMsrEntries(vcpuFd: number, entries: Uint8Array): number;
  STATE_KINDS: { vcpu: Record<VcpuStateKind, StateKind>; vm: Record<VmStateKind, StateKind> };

  memfdCreate(name: string, size: number): number;
  SharedMapping: new (fd: number, size: number, offset?: number, copyOnWrite?: boolean) => SharedMapping;
  /** A copy of up to 4096 bytes of a mapping, by its id; RangeError once it is closed or outside it. */
  readMapping(id: number, offset: number, length: number): Buffer;
  madvise(memory: ArrayBuffer, offset: number, length: number, advice: number): void;
  fallocate(fd: number, mode: number, offset: number | bigint, length: number | bigint): void;
  /** Replaces a page-aligned range of a private mapping with anonymous zero pages, at the same addresses. */
  zeroPrivate(memory: ArrayBuffer, offset: number, length: number): void;

  eventfdCreate(): number;
  eventfdWrite(fd: number, value?: number | bigint): void;
  eventfdRead(fd: number): number;

  /** The callback gets the eventfd count (1 when not draining; a negative errno on a poll error) and the events. */
  FdWatcher: new (fd: number, callback: (count: number, events: number) => void, drainEventfd: boolean) => FdWatcher;

  /** Opens (or creates) a tap with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR; a %d in `name` lets the kernel number it. */
  tapOpen(name: string, vnetHeaderBytes: number): { fd: number; name: string };
  tapSetOffload(fd: number, tunFlags: number): void;
  /** One readv / writev; bytes moved, or a negative errno (never throws for I/O errors). */
  tryReadv(fd: number, bufs: Uint8Array[]): number;
  tryWritev(fd: number, bufs: Uint8Array[]): number;
  /** preadv2 with RWF_NOWAIT: bytes read from the page cache (short when partly cached), or a negative errno. */
  tryPreadv(fd: number, bufs: Uint8Array[], position: number): number;
  /** A nonblocking AF_UNIX pair that keeps message boundaries: SOCK_SEQPACKET, or SOCK_DGRAM when false. */
  socketpairCreate(seqpacket?: boolean): [number, number];

  // Shared-directory (virtio-fs) syscalls. Names are bytes (Uint8Array) or strings; results fill typed arrays.
  openat(dirFd: number, name: FsName, flags: number, mode: number): number;
  openat2(dirFd: number, name: FsName, flags: number, mode: number, resolve: number): number;
  mkdirat(dirFd: number, name: FsName, mode: number): void;
  mknodat(dirFd: number, name: FsName, mode: number, dev: number): void;
  symlinkat(target: FsName, dirFd: number, name: FsName): void;
  readlinkat(dirFd: number, name: FsName, out: Uint8Array): number;
  linkat(oldDirFd: number, oldName: FsName, newDirFd: number, newName: FsName, flags: number): void;
  unlinkat(dirFd: number, name: FsName, flags: number): void;
  renameat2(oldDirFd: number, oldName: FsName, newDirFd: number, newName: FsName, flags: number): void;
  /** out: dev ino mode nlink uid gid rdev size blocks blksize atime atimeNs mtime mtimeNs ctime ctimeNs. */
  fstatat(dirFd: number, name: FsName, flags: number, out: BigInt64Array): void;
  fchmodat(dirFd: number, name: FsName, mode: number): void;
  fchownat(dirFd: number, name: FsName, uid: number, gid: number, flags: number): void;
  utimensat(dirFd: number, name: FsName, atimeSec: bigint, atimeNsec: number, mtimeSec: bigint, mtimeNsec: number,
    flags: number): void;
  /** out: blocks bfree bavail files ffree bsize namelen frsize. */
  fstatfs(fd: number, out: BigInt64Array): void;
  getdents64(fd: number, out: Uint8Array): number;
  lseek(fd: number, offset: bigint, whence: number): bigint;

  constants: {
    MADV_DONTNEED: number;
    MADV_REMOVE: number;
    MADV_POPULATE_READ: number;
    MADV_POPULATE_WRITE: number;
    FALLOC_FL_KEEP_SIZE: number;
    FALLOC_FL_PUNCH_HOLE: number;
    FALLOC_FL_ZERO_RANGE: number;
    TUN_F_CSUM: number;
    TUN_F_TSO4: number;
    TUN_F_TSO6: number;
    TUN_F_TSO_ECN: number;
    TUN_F_UFO: number;
  };
  fsConstants: FsConstants;
}

export type VcpuStateKind = 'regs' | 'sregs' | 'xcrs' | 'lapic' | 'events' | 'mpState' | 'debugRegs';
export type VmStateKind = 'picMaster' | 'picSlave' | 'ioapic' | 'pit' | 'clock';
export interface StateKind { id: number; bytes: number }

export type FsName = Uint8Array | string;

export interface FsConstants {
  O_PATH: number; O_NOFOLLOW: number; O_DIRECTORY: number; O_CREAT: number; O_EXCL: number; O_TRUNC: number;
  O_APPEND: number; O_ACCMODE: number; O_RDONLY: number; O_WRONLY: number;
  O_SYNC: number; O_DSYNC: number; O_NOATIME: number; O_LARGEFILE: number;
  AT_EMPTY_PATH: number; AT_SYMLINK_NOFOLLOW: number; AT_SYMLINK_FOLLOW: number; AT_REMOVEDIR: number;
  RESOLVE_BENEATH: number; RESOLVE_NO_MAGICLINKS: number; RESOLVE_NO_SYMLINKS: number;
  UTIME_NOW: number; UTIME_OMIT: number; SEEK_SET: number;
}

let cached: NativeAddon | undefined;

/** The addon is missing or cannot be loaded (built for another Node, a library gone): the user rebuilds it. */
export class NativeAddonError extends Error {
  override name = 'NativeAddonError';
  constructor(readonly file: string, cause: Error) {
    const why = (cause as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND'
      ? `is not built: ${file} is missing`
      : `does not load: ${cause.message.split('\n')[0]}`;
    super(`the native addon ${why}; rebuild it with \`npx node-gyp rebuild\` (or \`npm run install\`) in the ` +
      'package folder', { cause });
  }
}

/** Where the addon built by `npm install` is. */
export function nativeAddonPath(): string {
  return path.join(packageRoot(), 'build', 'Release', 'tsvmm_native.node');
}

/** Loads the addon built by `npm install` (build/Release), once per thread. Throws NativeAddonError. */
export function native(): NativeAddon {
  if (cached === undefined) {
    const file = nativeAddonPath();
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- the addon's path is known only at run time
      cached = require(file) as NativeAddon;
    } catch (e) {
      throw new NativeAddonError(file, e instanceof Error ? e : new Error(String(e)));
    }
  }
  return cached;
}

export const KVM_CAP = {
  IRQCHIP: 0,
  USER_MEMORY: 3,
  SET_TSS_ADDR: 4,
  EXT_CPUID: 7,
  NR_VCPUS: 9,
  PIT2: 33,
  IRQFD: 32,
  IOEVENTFD: 36,
  SET_IDENTITY_MAP_ADDR: 37,
  IMMEDIATE_EXIT: 136,
  MAX_VCPUS: 66,
} as const;

/** Asked on the VM fd: the bytes KVM_GET_XSAVE2 / KVM_SET_XSAVE move (0 on kernels without it). */
export const KVM_CAP_XSAVE2 = 208;
