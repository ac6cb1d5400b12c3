// OutputWatch.waitForOrQuiet: what the boot tests use to tell a guest that is still talking from one that stalled.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OutputWatch } from './wait';

test('waitForOrQuiet: seen when the text comes, quiet when nothing arrives for the quiet time', async () => {
  const talking = new OutputWatch();
  const said = talking.waitForOrQuiet('READY', 60_000, 120_000);
  talking.append('booting ... ');
  talking.append('READY\n');
  assert.equal(await said, 'seen');

  const stalled = new OutputWatch();
  stalled.append('booting ... [');
  const started = Date.now();
  assert.equal(await stalled.waitForOrQuiet('READY', 1200, 120_000), 'quiet');
  assert.ok(Date.now() - started >= 1200, 'not before the quiet time');
});

test('waitForOrQuiet: a source that ends first fails the wait, naming how it ended', async () => {
  const w = new OutputWatch();
  const wait = w.waitForOrQuiet('READY', 60_000, 120_000);
  w.end('the guest exited with status 4');
  await assert.rejects(wait, /the guest exited with status 4 before READY/);
});
