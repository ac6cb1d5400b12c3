// Reading a YAML config file: only a regular file of bounded size, parsed in time linear in its length, with
// aliases that expand into at most a bounded number of nodes. Validation is config.ts's job.
import * as fs from 'node:fs';
import * as YAML from 'yaml';
import { ConfigError, fileKind } from './config-check';
import { MiB } from './units';

/** A config is a page or two of YAML; this leaves room for machines with hundreds of devices. */
export const CONFIG_FILE_MAX_BYTES = 1 * MiB;

/** Alias expansions a document may make (yaml's own default), so a small file cannot expand to gigabytes. */
export const CONFIG_MAX_ALIAS_COUNT = 100;

function openError(file: string, e: unknown): ConfigError {
  const code = (e as NodeJS.ErrnoException).code;
  const why = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a directory' : String(code ?? e);
  return new ConfigError('', `config ${file}: ${why}`);
}

/**
 * The file's text, refused unless it is a regular file of at most CONFIG_FILE_MAX_BYTES. O_NONBLOCK keeps the open
 * of a FIFO from waiting for a writer; the cap is checked on the bytes read too, for a file that grows meanwhile.
 */
function readBounded(file: string): string {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
  } catch (e) {
    throw openError(file, e);
  }
  try {
    const st = fs.fstatSync(fd);
    if (st.isDirectory()) throw new ConfigError('', `config ${file}: is a directory`);
    if (!st.isFile()) throw new ConfigError('', `config ${file}: is ${fileKind(st)}, not a regular file`);
    const tooBig = (): ConfigError =>
      new ConfigError('', `config ${file}: larger than ${CONFIG_FILE_MAX_BYTES} bytes (the most a config may be)`);
    if (st.size > CONFIG_FILE_MAX_BYTES) throw tooBig();
    const buf = Buffer.alloc(CONFIG_FILE_MAX_BYTES + 1);
    let length = 0;
    while (length < buf.length) {
      const n = fs.readSync(fd, buf, length, buf.length - length, null);
      if (n === 0) break;
      length += n;
    }
    if (length > CONFIG_FILE_MAX_BYTES) throw tooBig();
    return buf.toString('utf8', 0, length);
  } catch (e) {
    throw e instanceof ConfigError ? e : openError(file, e);
  } finally {
    fs.closeSync(fd);
  }
}

function where(file: string, lines: YAML.LineCounter, offset: number | undefined): string {
  if (offset === undefined) return file;
  const { line, col } = lines.linePos(offset);
  return `${file}:${line}:${col}`;
}

/**
 * yaml's own uniqueKeys check compares every key with every earlier one, quadratic in a mapping's size; this keeps
 * a set per mapping instead. Keys that are not scalars (rare, and refused by validation anyway) are not compared.
 */
function checkUniqueKeys(doc: YAML.Document, file: string, lines: YAML.LineCounter): void {
  YAML.visit(doc, {
    Map(_key, map) {
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        if (!YAML.isScalar(pair.key)) continue;
        const value = pair.key.value;
        if (seen.has(value)) {
          throw new ConfigError('', `${where(file, lines, pair.key.range?.[0])}: Map keys must be unique ` +
            `(${JSON.stringify(String(value))} is given twice)`);
        }
        seen.add(value);
      }
    },
  });
}

/** The document as plain values; an alias bomb names the top-level key whose value would expand too far. */
function toPlain(doc: YAML.Document, file: string): unknown {
  const opts = { maxAliasCount: CONFIG_MAX_ALIAS_COUNT };
  try {
    return doc.toJS(opts);
  } catch (e) {
    if (!(e instanceof ReferenceError)) throw e;
  }
  const blame = YAML.isMap(doc.contents)
    ? doc.contents.items.find((pair) => {
      try {
        if (YAML.isNode(pair.value)) pair.value.toJS(doc, opts);
        return false;
      } catch {
        return true;
      }
    })
    : undefined;
  const field = blame && YAML.isScalar(blame.key) ? String(blame.key.value) : '';
  const what = `aliases expand too far (more than ${CONFIG_MAX_ALIAS_COUNT} alias expansions: an alias bomb?)`;
  throw new ConfigError(field, field ? `${what} in ${file}` : `${file}: ${what}`);
}

/** Reads and parses a YAML config without validating it (the CLI merges its overrides in first). */
export function readConfigFile(file: string): unknown {
  const text = readBounded(file);
  const lines = new YAML.LineCounter();
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: false, lineCounter: lines });
  const err = doc.errors[0];
  if (err) {
    const at = err.linePos ? `:${err.linePos[0].line}:${err.linePos[0].col}` : '';
    const what = err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw new ConfigError('', `${file}${at}: ${what}`);
  }
  checkUniqueKeys(doc, file, lines);
  const value = toPlain(doc, file);
  if (value === null || value === undefined) throw new ConfigError('', `${file}: the config is empty`);
  return value;
}
