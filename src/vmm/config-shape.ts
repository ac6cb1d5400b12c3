// The shape check of a config against its schema (config-schema.ts): TypeBox finds the first value that does not
// fit, and this says so in one line that names the field as the user wrote it (`devices[1].readonly`), shows the
// value, and states the rule from the schema (the range, the allowed values, the known keys).
import type { Static, TSchema } from '@sinclair/typebox';
import { Errors, ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { ConfigError, isMapping, join, show, unknownKeyHint } from './config-check';

/** The parts of a schema the messages read; TypeBox schemas are JSON Schema objects with these keywords. */
interface Keywords {
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  enum?: readonly string[];
  examples?: readonly unknown[];
  errorMessage?: string;
  properties?: Record<string, Keywords>;
  anyOf?: Keywords[];
  type?: string;
}

/** A JSON pointer's keys, unescaped (RFC 6901). */
function keysOf(pointer: string): string[] {
  return pointer.split('/').slice(1).map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** The user's name for a JSON pointer into `root`: list indexes in brackets, keys joined with dots. */
export function fieldOf(pointer: string, root: unknown): string {
  let field = '';
  let node: unknown = root;
  for (const key of keysOf(pointer)) {
    if (Array.isArray(node)) field += `[${key}]`;
    // An empty key would leave the field naming nothing (at the root) or ending in a dot.
    else field = join(field, key === '' ? '""' : key);
    const holder = node as Record<string, unknown> | null | undefined;
    node = typeof holder === 'object' && holder !== null && Object.hasOwn(holder, key) ? holder[key] : undefined;
  }
  return field;
}

function range(k: Keywords, value: unknown): string {
  const v = String(value);
  if (k.minimum !== undefined && k.maximum !== undefined) return `${v} is out of range ${k.minimum}..${k.maximum}`;
  return k.minimum !== undefined ? `${v} is less than ${k.minimum}` : `${v} is more than ${k.maximum}`;
}

function required(k: Keywords): string {
  if (k.enum) return `required (one of ${k.enum.join(', ')})`;
  return k.examples ? `required (e.g. ${k.examples.map(String).join(' or ')})` : 'required';
}

/** What is wrong with the value `e` is about, without the field. */
function detail(e: ValueError): string {
  const k = e.schema as Keywords;
  const v = e.value;
  switch (e.type) {
    case ValueErrorType.ObjectRequiredProperty: return required(k);
    case ValueErrorType.ObjectAdditionalProperties:
      return `unknown key (${unknownKeyHint(keysOf(e.path).pop()!, Object.keys(k.properties ?? {}))})`;
    case ValueErrorType.Object: return `${show(v)} is not a mapping (key: value)`;
    case ValueErrorType.Array: return `${show(v)} is not a list`;
    case ValueErrorType.Integer: return `${show(v)} is not an integer`;
    case ValueErrorType.Number: return `${show(v)} is not a number`;
    case ValueErrorType.Boolean: return `${show(v)} is not a boolean (use true or false)`;
    case ValueErrorType.String: return `${show(v)} is not a string`;
    case ValueErrorType.IntegerMinimum: case ValueErrorType.IntegerMaximum:
    case ValueErrorType.NumberMinimum: case ValueErrorType.NumberMaximum:
      return range(k, v);
    case ValueErrorType.StringMinLength:
      return k.minLength === 1 ? 'must not be empty' : `${show(v)} is shorter than ${k.minLength} characters`;
    case ValueErrorType.StringMaxLength:
      return `${show(v)} is ${(v as string).length} characters; at most ${k.maxLength} allowed`;
    case ValueErrorType.ArrayMinItems: case ValueErrorType.ArrayMaxItems:
      return `has ${(v as unknown[]).length} entries; ${k.minItems ?? 0}..${k.maxItems ?? 'any number'} allowed`;
    case ValueErrorType.Kind:
      if (k.enum) return `${show(v)} is not one of ${k.enum.join(', ')}`;
      break;
  }
  return `${show(v)} ${k.errorMessage ?? (k.pattern ? `does not match ${k.pattern}` : 'is not allowed here')}`;
}

/**
 * A union fails as a whole; the user wants to hear about the branch they meant. A nullable field is its non-null
 * branch; a list of typed entries (devices) is the branch its `type` names, or an error about `type` itself.
 */
function explainUnion(e: ValueError, root: unknown): ConfigError | undefined {
  const branches = (e.schema as Keywords).anyOf ?? [];
  const field = fieldOf(e.path, root);
  const nonNull = branches.findIndex((b) => b.type !== 'null');
  if (branches.length === 2 && branches.some((b) => b.type === 'null')) return firstError(e.errors[nonNull]!, root);
  const tags = branches.map((b) => b.properties?.type?.enum);
  if (tags.length === 0 || tags.some((t) => t?.length !== 1)) return undefined;
  const types = tags.map((t) => t![0]!);
  const v = e.value;
  if (!isMapping(v)) return new ConfigError(field, `${show(v)} is not a mapping (type: ..., ...)`);
  if (v.type === undefined) return new ConfigError(join(field, 'type'), `required (one of ${types.join(', ')})`);
  const i = types.indexOf(v.type as string);
  if (i < 0) return new ConfigError(join(field, 'type'), `${show(v.type)} is not one of ${types.join(', ')}`);
  return firstError(e.errors[i]!, root);
}

function toConfigError(e: ValueError, root: unknown): ConfigError {
  if (e.type === ValueErrorType.Union) {
    const explained = explainUnion(e, root);
    if (explained) return explained;
  }
  return new ConfigError(fieldOf(e.path, root), detail(e));
}

/**
 * The error to report: the first, except that an unknown key beats a missing one in the same mapping, since
 * `kernal:` is more likely a misspelt `kernel:` than a config without one. TypeBox lists a mapping's missing keys,
 * then its unknown ones, then what is inside it.
 */
function firstError(errors: Iterable<ValueError>, root: unknown): ConfigError | undefined {
  let missing: ValueError | undefined;
  for (const e of errors) {
    if (e.type === ValueErrorType.ObjectRequiredProperty) {
      missing ??= e;
      continue;
    }
    if (missing && e.type !== ValueErrorType.ObjectAdditionalProperties) break;
    return toConfigError(e, root);
  }
  return missing && toConfigError(missing, root);
}

/** Throws a ConfigError for the first part of `value` that `schema` refuses. */
export function checkShape<T extends TSchema>(schema: T, value: unknown): asserts value is Static<T> {
  const error = firstError(Errors(schema, value), value);
  if (error) throw error;
}
