import assert from 'node:assert/strict';
import { test } from 'node:test';
import { matchRoute } from '../../src/api/routes';

test('routes match by template; a known path with another method is 405 with the allowed ones', () => {
  const m = matchRoute('PATCH', '/devices/3');
  assert.equal(m.kind, 'route');
  assert.deepEqual(m.params, { index: '3' });
  assert.deepEqual(matchRoute('DELETE', '/config'), { kind: 'wrong-method', allow: ['GET', 'PUT'] });
  assert.deepEqual(matchRoute('POST', '/'), { kind: 'wrong-method', allow: ['GET'] });
  for (const p of ['/nope', '/devices', '/devices/', '/devices/1/x', '/config/', '/devices/%zz']) {
    assert.deepEqual(matchRoute('PATCH', p), { kind: 'none' }, p);
  }
});
