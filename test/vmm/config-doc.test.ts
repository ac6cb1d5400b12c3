// docs/config.schema.json is the config schema the code checks, as `npm run docs:schema` writes it, and
// docs/api.yaml refers to it for the config PUT /config takes and GET /config answers.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import * as YAML from 'yaml';
import { CONFIG_KEYS } from '../../src/vmm/config';
import { CONFIG_SCHEMA_FILE, configJsonSchema, configJsonSchemaText } from '../../src/vmm/config-doc';
import { REPO } from '../helpers/cli-run';

test('the committed docs/config.schema.json is what the schema writes (else: npm run docs:schema)', () => {
  const committed = fs.readFileSync(path.join(REPO, CONFIG_SCHEMA_FILE), 'utf8');
  assert.ok(committed === configJsonSchemaText(), `${CONFIG_SCHEMA_FILE} is out of date: run npm run docs:schema`);
});

test('the document is plain JSON Schema: every config key, kernel required, no keyword of our own', () => {
  const doc = configJsonSchema() as { properties: Record<string, unknown>; required: string[] };
  assert.deepEqual(Object.keys(doc.properties), [...CONFIG_KEYS]);
  assert.deepEqual(doc.required, ['kernel']);
  assert.doesNotMatch(configJsonSchemaText(), /errorMessage/);
});

test('docs/api.yaml takes the config schema from that file for PUT and GET /config', () => {
  const api = YAML.parse(fs.readFileSync(path.join(REPO, 'docs', 'api.yaml'), 'utf8')) as {
    paths: { '/config': Record<string, { requestBody?: Body; responses: Record<string, Body> }> };
    components: { schemas: { MachineConfig: { $ref: string } } };
  };
  type Body = { content: { 'application/json': { schema: { $ref: string } } } };
  const ref = '#/components/schemas/MachineConfig';
  const config = api.paths['/config'];
  assert.equal(config.put!.requestBody!.content['application/json'].schema.$ref, ref);
  assert.equal(config.get!.responses['200']!.content['application/json'].schema.$ref, ref);
  assert.equal(path.join('docs', api.components.schemas.MachineConfig.$ref), CONFIG_SCHEMA_FILE);
});
