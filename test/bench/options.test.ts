import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GROUPS, OptionError, parseOptions } from '../../bench/options';

describe('bench options', () => {
  it('defaults: every group, 5 runs, one Linux boot, bench-results.json', () => {
    const o = parseOptions([]);
    assert.deepEqual([...o.only], [...GROUPS]);
    assert.equal(o.runs, 5);
    assert.equal(o.linuxRuns, 1);
    assert.equal(o.json, 'bench-results.json');
    assert.equal(o.quick, false);
  });

  it('--quick is one short run of everything but the Linux boots, unless asked for by name', () => {
    const o = parseOptions(['--quick']);
    assert.equal(o.runs, 1);
    assert.equal(o.only.has('linux'), false);
    assert.equal(o.only.has('sandbox'), false);
    assert.equal(parseOptions([]).only.has('sandbox'), true);
    assert.ok(o.opMs < parseOptions([]).opMs);
    assert.ok(o.exitCount < parseOptions([]).exitCount);
    assert.deepEqual([...parseOptions(['--quick', '--only', 'linux']).only], ['linux']);
  });

  it('--only takes a list and repeats; --runs, --linux-runs, --json, --markdown', () => {
    const o = parseOptions(['--only', 'blk,net', '--only', 'boot', '--runs', '3', '--linux-runs', '0', '--json', 'x.json',
      '--markdown']);
    assert.deepEqual([...o.only].sort(), ['blk', 'boot', 'net']);
    assert.equal(o.runs, 3);
    assert.equal(o.linuxRuns, 0);
    assert.equal(o.json, 'x.json');
    assert.equal(o.markdown, true);
  });

  it('mistakes are one line naming the option and the value', () => {
    assert.throws(() => parseOptions(['--runs', '0']), new OptionError('--runs: "0" is not a whole number >= 1'));
    assert.throws(() => parseOptions(['--runs']), new OptionError('--runs: "" is not a whole number >= 1'));
    assert.throws(() => parseOptions(['--only', 'disk']), /--only: "disk" is not one of boot, exits, blk, net, linux/);
    assert.throws(() => parseOptions(['--json']), /--json: needs a path/);
    assert.throws(() => parseOptions(['--fast']), /unknown option "--fast"/);
  });
});
