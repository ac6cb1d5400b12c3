// What the agent tests assert about a failure: an AgentError with this code (and a message like this).
import assert from 'node:assert/strict';
import { AgentError } from '../../src/sandbox';

/** For assert.rejects: the error is an AgentError with `code`, and its message matches `pattern` when given. */
export const isCode = (code: string, pattern?: RegExp) => (e: unknown): boolean => {
  assert.ok(e instanceof AgentError, `an AgentError, not ${String(e)}`);
  assert.equal(e.code, code, e.message);
  if (pattern) assert.match(e.message, pattern);
  return true;
};
