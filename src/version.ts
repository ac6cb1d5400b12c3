// The package version, read from package.json next to the compiled tree.
import * as fs from 'node:fs';
import * as path from 'node:path';

export function packageVersion(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as
      { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
