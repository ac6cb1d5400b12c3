// The package's own folder (the one with package.json and binding.gyp), found by walking up from this file, so the
// answer is the same from src/, from dist/src/ and from the bundled CLI in dist/ (scripts/bundle-cli.js).
import * as fs from 'node:fs';
import * as path from 'node:path';

let root: string | undefined;

export function packageRoot(): string {
  if (root !== undefined) return root;
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'binding.gyp'))) {
      root = dir;
      return dir;
    }
    if (path.dirname(dir) === dir) throw new Error(`tsvmm: the package folder (package.json, binding.gyp) is not above ${__dirname}`);
  }
}
