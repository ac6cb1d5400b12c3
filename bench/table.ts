// The benchmark's one table: rows of figures for both monitors and the host's own limit, their ratio, and the
// report written as JSON. Pure functions, so the formatting and the arithmetic have unit tests.

import type { Monitor } from './monitors';

export type Better = 'lower' | 'higher';

export interface Row {
  /** Which --only group produced it: boot, exits, blk, net, linux. */
  group: string;
  measure: string;
  unit: string;
  better: Better;
  tsvmm?: number;
  qemu?: number;
  /** What the host itself reaches without a monitor in the way (fio, a raw-socket loop), when measured. */
  host?: number;
  note?: string;
  /** Every run's figure, so a reader of the JSON can judge the spread behind a median. */
  samples?: PerMonitor;
}

export interface MachineFacts {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  kvmPvm: boolean;
  node: string;
  qemu?: string;
  fio?: string;
}

export interface Report {
  date: string;
  machine: MachineFacts;
  options: Record<string, unknown>;
  rows: (Row & { ratio?: number })[];
  problems: string[];
}

/** tsvmm / qemu, when both figures exist and the divisor is not zero. */
export function ratio(row: Row): number | undefined {
  if (row.tsvmm === undefined || row.qemu === undefined || row.qemu === 0) return undefined;
  return row.tsvmm / row.qemu;
}

/** Whether tsvmm does at least as well as QEMU on this row (undefined when there is nothing to compare). */
export function tsvmmWins(row: Row): boolean | undefined {
  const r = ratio(row);
  if (r === undefined) return undefined;
  return row.better === 'lower' ? r <= 1 : r >= 1;
}

export function median(xs: number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1]! + s[mid]!) / 2;
}

/** Figures gathered over several runs, per monitor. */
export type PerMonitor = Partial<Record<Monitor, number[]>>;

export function addSample(p: PerMonitor, m: Monitor, v: number | undefined): void {
  if (v !== undefined && Number.isFinite(v)) (p[m] ??= []).push(v);
}

export function medianOf(p: PerMonitor | undefined, m: Monitor): number | undefined {
  return median(p?.[m] ?? []);
}

/** A row's figures from its samples: the median per monitor, and the samples themselves. */
export function fromSamples(p: PerMonitor | undefined): Pick<Row, 'tsvmm' | 'qemu' | 'samples'> {
  return { tsvmm: medianOf(p, 'tsvmm'), qemu: medianOf(p, 'qemu'), ...(p ? { samples: p } : {}) };
}

/** Whole and grouped from 100 up, one decimal from 10, two below: 41234.5 -> "41,235", 37.26 -> "37.3", 0.5 -> "0.50". */
export function formatFigure(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '-';
  const abs = Math.abs(v);
  if (abs >= 100) return Math.round(v).toLocaleString('en-US');
  if (abs >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

export const COLUMNS = ['measure', 'unit', 'tsvmm', 'qemu', 'host limit', 'tsvmm/qemu', 'better', 'note'] as const;

export function tableCells(rows: Row[]): string[][] {
  return rows.map((r) => {
    const q = ratio(r);
    return [r.measure, r.unit, formatFigure(r.tsvmm), formatFigure(r.qemu), formatFigure(r.host),
      q === undefined ? '-' : q.toFixed(2), r.better, r.note ?? ''];
  });
}

/** The table as aligned plain text, one line per row under a header. */
export function formatTable(rows: Row[]): string {
  const lines = [[...COLUMNS] as string[], ...tableCells(rows)];
  const widths = COLUMNS.map((_, c) => Math.max(...lines.map((l) => l[c]!.length)));
  return lines.map((l) => l.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd()).join('\n');
}

/** The table as Markdown, for the README. */
export function formatMarkdown(rows: Row[]): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  const head = `| ${COLUMNS.join(' | ')} |`;
  const rule = `|${COLUMNS.map(() => '---').join('|')}|`;
  return [head, rule, ...tableCells(rows).map((c) => `| ${c.map(esc).join(' | ')} |`)].join('\n');
}

export function buildReport(date: Date, machine: MachineFacts, options: Record<string, unknown>, rows: Row[],
  problems: string[]): Report {
  return {
    date: date.toISOString(),
    machine,
    options,
    rows: rows.map((r) => {
      const q = ratio(r);
      return q === undefined ? { ...r } : { ...r, ratio: Number(q.toFixed(4)) };
    }),
    problems,
  };
}
