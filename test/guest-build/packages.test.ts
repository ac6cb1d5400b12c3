import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { missingPackages } from '../../src/guest/packages';

test('dpkg reports installed packages as present and unknown names as missing', async (t) => {
  if (spawnSync('dpkg-query', ['--version']).status !== 0) return t.skip('not a dpkg system');
  // dpkg itself is installed wherever dpkg-query runs.
  assert.deepEqual(await missingPackages(['dpkg', 'tsvmm-no-such-package']), ['tsvmm-no-such-package']);
  assert.deepEqual(await missingPackages([]), []);
});
