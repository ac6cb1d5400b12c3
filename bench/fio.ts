// The host's own limit for the blk rows: fio on the same image file, with the guest's block sizes, queue depths,
// region and duration. Both monitors do page-cache I/O on it (tsvmm preadv / pwritev on libuv's thread pool, QEMU
// cache=writeback aio=threads), so fio does buffered I/O too (direct=0) through io_uring, and leaves the page cache
// as the monitors found it (invalidate=0).
import { spawnSync } from 'node:child_process';
import { fioFigures, type FioFigures } from './parse';

export interface BlkJob {
  op: 'randread' | 'randwrite' | 'seqread' | 'seqwrite';
  bs: number;
  qd: number;
}

const FIO_RW: Record<BlkJob['op'], { rw: string; dir: 'read' | 'write' }> = {
  randread: { rw: 'randread', dir: 'read' },
  randwrite: { rw: 'randwrite', dir: 'write' },
  seqread: { rw: 'read', dir: 'read' },
  seqwrite: { rw: 'write', dir: 'write' },
};

export function fioVersion(): string | undefined {
  const r = spawnSync('fio', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

export type FioEngine = 'io_uring' | 'psync';

/** psync is one blocking pread / pwrite at a time, as a monitor's I/O thread does: queue depth 1 only. */
export function fioEngines(job: BlkJob): FioEngine[] {
  return job.qd === 1 ? ['io_uring', 'psync'] : ['io_uring'];
}

export function fioArgs(file: string, bytes: number, ms: number, job: BlkJob, engine: FioEngine): string[] {
  return ['--name=host-limit', `--filename=${file}`, `--rw=${FIO_RW[job.op].rw}`, `--bs=${job.bs}`,
    `--iodepth=${job.qd}`, `--ioengine=${engine}`, '--direct=0', '--invalidate=0', `--size=${bytes}`,
    '--time_based', `--runtime=${Math.max(ms, 100)}ms`, '--output-format=json'];
}

/** The better of two runs, by the figure the row shows. */
function best(a: FioFigures | undefined, b: FioFigures): FioFigures {
  return a === undefined || b.iops > a.iops ? b : a;
}

/** One FioFigures per job (undefined where fio is missing or failed), and a note saying which. */
export function hostBlkFigures(file: string, bytes: number, ms: number, jobs: BlkJob[]):
  { figures: (FioFigures | undefined)[]; note: string } {
  if (fioVersion() === undefined) {
    return { figures: jobs.map(() => undefined), note: 'host limit: fio not installed (apt-get install fio)' };
  }
  const errors: string[] = [];
  const figures = jobs.map((job) => {
    let out: FioFigures | undefined;
    for (const engine of fioEngines(job)) {
      const r = spawnSync('fio', fioArgs(file, bytes, ms, job, engine), { encoding: 'utf8', timeout: ms + 60_000 });
      try {
        // stderr is null, whatever its type says, when fio could not be started at all.
        const stderr = (r.stderr as string | null) ?? '';
        if (r.status !== 0) throw new Error(`fio exited ${r.status}: ${stderr.trim().split('\n')[0]}`);
        out = best(out, fioFigures(r.stdout, FIO_RW[job.op].dir));
      } catch (e) {
        errors.push(`${engine}: ${(e as Error).message}`);
      }
    }
    return out;
  });
  const how = 'host limit: fio on the same file, region and block sizes, buffered (direct=0); '
    + 'io_uring at the same depth (at depth 1 the better of io_uring and psync)';
  return { figures, note: errors.length ? `${how}; ${errors[0]}` : how };
}
