// The config's JSON Schema as published in docs/config.schema.json, which docs/api.yaml refers to for PUT and
// GET /config: the schema of config-schema.ts without TypeBox's bookkeeping (symbol keys) and without the keywords
// only our messages read. `npm run docs:schema` writes it; a unit test fails while the committed file differs.
import { MachineConfigSchema, PRIVATE_KEYWORDS } from './config-schema';

/** Where the document lives, from the package root. */
export const CONFIG_SCHEMA_FILE = 'docs/config.schema.json';

export function configJsonSchema(): Record<string, unknown> {
  const drop = new Set<string>(PRIVATE_KEYWORDS);
  const plain = JSON.parse(JSON.stringify(MachineConfigSchema, (key: string, value: unknown) =>
    (drop.has(key) ? undefined : value))) as Record<string, unknown>;
  return { $schema: 'https://json-schema.org/draft/2020-12/schema', ...plain };
}

/** The file's text: two-space JSON and a final newline. */
export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}
