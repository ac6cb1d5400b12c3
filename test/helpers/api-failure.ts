// The ApiClientError a request to the control socket must end in; a request that succeeds fails the test.
import assert from 'node:assert/strict';
import { ApiClientError } from '../../src/api/client';

export async function failure(p: Promise<unknown>): Promise<ApiClientError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ApiClientError, String(e));
    return e;
  }
  assert.fail('expected the request to fail');
}
