import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  addSample, buildReport, fromSamples, formatFigure, formatMarkdown, formatTable, median, medianOf, ratio, tsvmmWins, type PerMonitor,
  type Row,
} from '../../bench/table';

const row = (over: Partial<Row>): Row => ({ group: 'boot', measure: 'boot', unit: 'ms', better: 'lower', ...over });

describe('bench table', () => {
  it('ratio is tsvmm over qemu, and only when both figures exist and qemu is not zero', () => {
    assert.equal(ratio(row({ tsvmm: 30, qemu: 60 })), 0.5);
    assert.equal(ratio(row({ tsvmm: 30 })), undefined);
    assert.equal(ratio(row({ qemu: 30 })), undefined);
    assert.equal(ratio(row({ tsvmm: 30, qemu: 0 })), undefined);
    assert.equal(ratio(row({ tsvmm: 0, qemu: 4 })), 0);
  });

  it('who wins follows the direction that is better', () => {
    assert.equal(tsvmmWins(row({ tsvmm: 30, qemu: 60 })), true);
    assert.equal(tsvmmWins(row({ tsvmm: 90, qemu: 60 })), false);
    assert.equal(tsvmmWins(row({ better: 'higher', tsvmm: 90, qemu: 60 })), true);
    assert.equal(tsvmmWins(row({ better: 'higher', tsvmm: 60, qemu: 60 })), true);
    assert.equal(tsvmmWins(row({ better: 'higher', tsvmm: 59, qemu: 60 })), false);
    assert.equal(tsvmmWins(row({ tsvmm: 1 })), undefined);
  });

  it('median of odd and even counts, none for no samples; samples are kept per monitor', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(median([]), undefined);
    const p: PerMonitor = {};
    addSample(p, 'tsvmm', 5);
    addSample(p, 'tsvmm', undefined);
    addSample(p, 'tsvmm', NaN);
    addSample(p, 'tsvmm', 7);
    addSample(p, 'qemu', 1);
    assert.deepEqual(p, { tsvmm: [5, 7], qemu: [1] });
    assert.equal(medianOf(p, 'tsvmm'), 6);
    assert.equal(medianOf({}, 'qemu'), undefined);
    assert.equal(medianOf(undefined, 'qemu'), undefined);
    assert.deepEqual(fromSamples(p), { tsvmm: 6, qemu: 1, samples: p });
    assert.deepEqual(fromSamples(undefined), { tsvmm: undefined, qemu: undefined });
  });

  it('figures: grouped whole numbers from 100, one decimal from 10, two below, "-" for none', () => {
    assert.equal(formatFigure(41234.5), '41,235');
    assert.equal(formatFigure(100), '100');
    assert.equal(formatFigure(37.26), '37.3');
    assert.equal(formatFigure(0.5), '0.50');
    assert.equal(formatFigure(undefined), '-');
    assert.equal(formatFigure(Infinity), '-');
  });

  it('text table: a header, one aligned line per row, ratio with two decimals', () => {
    const text = formatTable([
      row({ measure: 'boot: tiny', tsvmm: 200, qemu: 40, note: 'median of 5' }),
      row({ measure: 'blk: randread', unit: 'IOPS', better: 'higher', tsvmm: 15000, qemu: 12000, host: 500000 }),
      row({ measure: 'net: tx', unit: 'Gbit/s', better: 'higher', note: 'not run' }),
    ]);
    const lines = text.split('\n');
    assert.equal(lines.length, 4);
    assert.match(lines[0]!, /^measure\s+unit\s+tsvmm\s+qemu\s+host limit\s+tsvmm\/qemu\s+better\s+note$/);
    assert.match(lines[1]!, /^boot: tiny\s+ms\s+200\s+40\.0\s+-\s+5\.00\s+lower\s+median of 5$/);
    assert.match(lines[2]!, /^blk: randread\s+IOPS\s+15,000\s+12,000\s+500,000\s+1\.25\s+higher$/);
    assert.match(lines[3]!, /^net: tx\s+Gbit\/s\s+-\s+-\s+-\s+-\s+higher\s+not run$/);
    // Columns line up: each cell of the unit column starts where the header's does.
    const at = lines[0]!.indexOf('unit');
    for (const l of lines.slice(1)) assert.match(l.slice(at), /^(ms|IOPS|Gbit\/s)\s/);
  });

  it('markdown table escapes pipes in cells', () => {
    const md = formatMarkdown([row({ measure: 'a | b', tsvmm: 1, qemu: 2 })]).split('\n');
    assert.equal(md[0], '| measure | unit | tsvmm | qemu | host limit | tsvmm/qemu | better | note |');
    assert.equal(md[1], '|---|---|---|---|---|---|---|---|');
    assert.equal(md[2], '| a \\| b | ms | 1.00 | 2.00 | - | 0.50 | lower |  |');
  });

  it('the JSON report carries the date, the machine, the options, rows with their ratio, and problems', () => {
    const machine = { cpuModel: 'AMD EPYC', cores: 2, memoryGiB: 24, kernel: '6.1.0', kvmPvm: true, node: 'v20.0.0' };
    const r = buildReport(new Date(Date.UTC(2026, 10, 24, 12)), machine, { runs: 5 },
      [row({ tsvmm: 1, qemu: 3 }), row({ tsvmm: 1 })], ['qemu did not boot']);
    const back = JSON.parse(JSON.stringify(r)) as typeof r;
    assert.equal(back.date, '2026-11-24T12:00:00.000Z');
    assert.deepEqual(back.machine, machine);
    assert.deepEqual(back.options, { runs: 5 });
    assert.equal(back.rows[0]!.ratio, 0.3333);
    assert.equal('ratio' in back.rows[1]!, false);
    assert.deepEqual(back.problems, ['qemu did not boot']);
  });
});
