// Runs the integration files here, one at a time (they boot guests and measure nothing, but two at once halve
// each other's CPU, and under the test host everything is already 10-100x slower), with the tally written to the
// path given. The test host runs this inside L1; `npm test` runs it directly where /dev/kvm is usable.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { packageRoot } from '../../src/base/package-root';
import { hostKind } from '../helpers/host-kind';
import { collectTests, nodeTestArgs, tallyEnv } from './files';

const json = path.resolve(packageRoot(), process.argv[2] ?? path.join('.test-results', 'integration.json'));
const only = process.argv.slice(3);
const files = collectTests().integration.filter((f) => only.length === 0 || only.some((o) => f.includes(o)));
process.stderr.write(`[test] ${files.length} integration files on ${hostKind()}\n`);
const child = spawn(process.execPath, nodeTestArgs(files, 1), {
  stdio: 'inherit', env: tallyEnv('integration', json), cwd: packageRoot(),
});
child.on('close', (code) => { process.exitCode = code ?? 1; });
