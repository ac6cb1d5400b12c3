// docs/api.yaml and the routes the server serves are the same set, and the document's enums are the server's.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import * as YAML from 'yaml';
import { MAX_EXEC_TIMEOUT_MS } from '../../src/api/exec-body';
import { ACTIONS, ROUTES } from '../../src/api/routes';
import { SOCKET_LIMITS } from '../../src/api/server';
import { MAX_STOP_TIMEOUT_MS } from '../../src/api/vm';
import { LOG_LEVELS } from '../../src/vmm/config';
import { COUNTER } from '../../src/vmm/vcpu-protocol';
import { REPO } from '../helpers/cli-run';
const HTTP_METHODS = ['get', 'put', 'patch', 'post', 'delete', 'head', 'options'];

interface Operation { requestBody?: unknown; responses?: Record<string, unknown> }
const doc = YAML.parse(fs.readFileSync(path.join(REPO, 'docs', 'api.yaml'), 'utf8')) as {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: {
    Action: { properties: { action: { enum: string[] }; timeoutMs: { maximum: number } } };
    LogLevel: { properties: { level: { enum: string[] } } };
    Counters: { properties: { vcpus: { items: { properties: { exits: { description: string } } } } } };
    ExecRequest: { properties: { maxOutputBytes: { maximum: number }; timeoutMs: { maximum: number } } };
  } };
};

const documented = (): Map<string, Operation> => {
  const ops = new Map<string, Operation>();
  for (const [p, item] of Object.entries(doc.paths)) {
    for (const [m, op] of Object.entries(item)) if (HTTP_METHODS.includes(m)) ops.set(`${m.toUpperCase()} ${p}`, op);
  }
  return ops;
};

test('every route the server serves is in docs/api.yaml, and every documented operation is served', () => {
  assert.match(doc.openapi, /^3\./);
  const served = ROUTES.map((r) => `${r.method} ${r.path}`).sort();
  assert.deepEqual(served, [...documented().keys()].sort());
});

test('routes that read a body document it and its 400; the others take none', () => {
  const ops = documented();
  for (const r of ROUTES) {
    const op = ops.get(`${r.method} ${r.path}`)!;
    assert.equal(op.requestBody !== undefined, r.body, `${r.method} ${r.path} requestBody`);
    if (r.body) assert.ok(op.responses?.['400'], `${r.method} ${r.path} documents 400`);
  }
});

test('the documented actions and log levels are the ones the server takes', () => {
  assert.deepEqual(doc.components.schemas.Action.properties.action.enum, [...ACTIONS]);
  assert.deepEqual(doc.components.schemas.LogLevel.properties.level.enum, [...LOG_LEVELS]);
});

test('the stop timeout\'s limit and the vCPU exit kinds are the server\'s', () => {
  const { Action, Counters } = doc.components.schemas;
  assert.equal(Action.properties.timeoutMs.maximum, MAX_STOP_TIMEOUT_MS);
  const exits = Counters.properties.vcpus.items.properties.exits.description;
  const named = Object.keys(COUNTER).filter((name) => new RegExp(`\\b${name}\\b`).test(exits));
  assert.deepEqual(named, Object.keys(COUNTER), exits);
});

test('POST /exec\'s documented limits are the server\'s', () => {
  const { ExecRequest } = doc.components.schemas;
  assert.equal(ExecRequest.properties.maxOutputBytes.maximum, SOCKET_LIMITS.maxExecOutputBytes);
  assert.equal(ExecRequest.properties.timeoutMs.maximum, MAX_EXEC_TIMEOUT_MS);
});
