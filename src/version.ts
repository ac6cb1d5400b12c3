// The package version, read once from the package's package.json.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from './base/package-root';

let version: string | undefined;

export function packageVersion(): string {
  if (version !== undefined) return version;
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as
      { version?: string };
    version = pkg.version ?? 'unknown';
  } catch {
    version = 'unknown';
  }
  return version;
}
