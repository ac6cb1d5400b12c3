// The benchmark must not compare monitors on a /dev/kvm that QEMU's TCG emulates (the test host): there it says
// the figures would be meaningless and exits 0 with no table. On real KVM the benchmark runs for real instead.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { REPO } from '../helpers/cli-run';
import { kvmIsEmulated } from '../helpers/host-kind';
import { kvmUnavailable } from '../helpers/kvm';

const skip = kvmUnavailable()
  ?? (kvmIsEmulated() ? undefined : 'KVM here is not emulated: `npm run bench` measures for real on this host');

describe('npm run bench under emulation', { skip, timeout: 120_000 }, () => {
  it('refuses to make a table, says why, and exits 0', () => {
    const r = spawnSync(process.execPath, [path.join(REPO, 'dist', 'bench', 'index.js'), '--quick'],
      { cwd: REPO, encoding: 'utf8', timeout: 110_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /nested under QEMU's TCG emulation .* meaningless, so no table is made/);
    assert.doesNotMatch(r.stdout, /ratio/i, 'no table');
  });
});
