// Reading figures out of what the guests and the host tools print. Each format is read in one function here, so a
// change of format is a change in one place (and in test/bench/parse.test.ts).
import { dataWith, numberField, parseFields, parseTestKernelOutput, type TestKernelOutput } from '../src/guest/test-kernel-output';

/** `test=exits`: exits per second by register (queue_num_max, interrupt_status, config8), as the guest timed them. */
export function exitRates(out: TestKernelOutput): Map<string, number> {
  const rates = new Map<string, number>();
  for (const f of dataWith(out, 'reg', 'exits_per_s')) rates.set(f.reg!, numberField(f, 'exits_per_s'));
  return rates;
}

export interface BlkOp {
  /** randread, randwrite, seqread, seqwrite */
  op: string;
  bs: number;
  qd: number;
  iops: number;
  /** 10^6 bytes per second */
  mbps: number;
}

/** `test=blkbench`: one entry per `op=` line. */
export function blkOps(out: TestKernelOutput): BlkOp[] {
  return dataWith(out, 'op', 'bs', 'qd', 'iops', 'mbps').map((f) => ({
    op: f.op!, bs: numberField(f, 'bs'), qd: numberField(f, 'qd'), iops: numberField(f, 'iops'),
    mbps: numberField(f, 'mbps'),
  }));
}

export interface NetFigures {
  op: 'tx' | 'rx';
  /** Ethernet frame bytes (the mean for rx) */
  frame: number;
  frames: number;
  bytes: number;
  us: number;
  fps: number;
  gbps: number;
}

/**
 * `test=netbench` as the guest reports it (the format test/guest/tests/netbench.c documents), one line per run:
 *   TSVMM-DATA: netbench op=tx frame=1514 payload=1472 frames=N bytes=B us=U fps=F gbps=G.GGG
 *   TSVMM-DATA: netbench op=rx frame=1514 frames=N bytes=B us=U fps=F gbps=G.GGG lost=L other=O
 * Its other lines (the device, ready=rx, the totals) are left out.
 */
export function netbenchFigures(text: string): NetFigures[] {
  const out: NetFigures[] = [];
  for (const d of parseTestKernelOutput(text).data) {
    const f = d.fields;
    if (d.test !== 'netbench' || (f.op !== 'tx' && f.op !== 'rx')) continue;
    out.push({ op: f.op, frame: numberField(f, 'frame'), frames: numberField(f, 'frames'),
      bytes: numberField(f, 'bytes'), us: numberField(f, 'us'), fps: numberField(f, 'fps'), gbps: numberField(f, 'gbps') });
  }
  return out;
}

export interface FioFigures {
  iops: number;
  /** 10^6 bytes per second */
  mbps: number;
}

/** fio --output-format=json: the first job's figures for the direction it ran (read or write). */
export function fioFigures(json: string, dir: 'read' | 'write'): FioFigures {
  let doc: unknown;
  try {
    doc = JSON.parse(json.slice(json.indexOf('{')));
  } catch {
    throw new Error('fio: output is not JSON');
  }
  const job = (doc as { jobs?: Record<string, { iops?: unknown; bw_bytes?: unknown }>[] }).jobs?.[0]?.[dir];
  if (job === undefined || typeof job.iops !== 'number' || typeof job.bw_bytes !== 'number') {
    throw new Error(`fio: no ${dir} figures in its output`);
  }
  return { iops: job.iops, mbps: job.bw_bytes / 1e6 };
}

export interface NetPeerFigures {
  frames: number;
  bytes: number;
  us: number;
}

/** The host-side network tool (bench/net-peer.c) prints one line: `net-peer frames=N bytes=N us=N`. */
export function netPeerFigures(text: string): NetPeerFigures {
  const line = text.split('\n').find((l) => l.startsWith('net-peer '));
  if (line === undefined) throw new Error(`net-peer printed no result: ${text.trim().slice(0, 200)}`);
  const f = parseFields(line.slice('net-peer '.length));
  return { frames: numberField(f, 'frames'), bytes: numberField(f, 'bytes'), us: numberField(f, 'us') };
}
