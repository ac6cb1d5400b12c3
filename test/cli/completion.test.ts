// Shell completion and "did you mean" read the same command tree the parser is built from.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { main } from '../../src/cli';
import { bashCompletion } from '../../src/cli/completion';
import { explainUnknown, nearest } from '../../src/cli/did-you-mean';

async function cli(argv: string[]): Promise<{ status: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const status = await main(argv,
    { stdout: { write: (s: string) => { out += s; } }, stderr: { write: (s: string) => { err += s; } } });
  return { status, out, err };
}

test('unknown options and commands name the nearest known one', async () => {
  const cases: [string[], string][] = [
    [['run', '--vcpu', '2'], 'tsvmm: run: unknown option --vcpu (did you mean --vcpus?)\n'],
    [['run', '--api-sok', 'x', '--frobnicate'],
      'tsvmm: run: unknown options --api-sok (did you mean --api-sock?), --frobnicate\n'],
    [['run', '--mem', '1G'], 'tsvmm: run: unknown option --mem (did you mean --memory?)\n'],
    [['rnu'], 'tsvmm: unknown command rnu (did you mean run?)\n'],
    [['frob'], 'tsvmm: unknown command frob (one of run, exec, sandbox, guest, image, doctor, completion)\n'],
    [['exce'], 'tsvmm: unknown command exce (did you mean exec?)\n'],
    [['sandbox', 'rn'], 'tsvmm: sandbox: unknown command rn (did you mean run?)\n'],
    [['exec', '--api-sok', 's', '--', 'true'], 'tsvmm: exec: unknown option --api-sok (did you mean --api-sock?)\n'],
    [['sandbox', 'run', '--memroy', '1G', 'true'], 'tsvmm: sandbox run: unknown option --memroy (did you mean --memory?)\n'],
    [['exec', '--api-sock', 's', 'ls', '-l'],
      'tsvmm: exec: unknown option -l (put the command after --, e.g. tsvmm exec ... -- sh -c \'echo hi\')\n'],
    [['guest', 'pth'], 'tsvmm: guest: unknown command pth (did you mean path?)\n'],
    [['doctor', '--jsn'], 'tsvmm: doctor: unknown option --jsn (did you mean --json?)\n'],
    [['run', 'a.yaml', 'b.yaml'], 'tsvmm: run: unexpected argument b.yaml\n'],
  ];
  for (const [argv, line] of cases) {
    const r = await cli(argv);
    assert.equal(r.status, 2, argv.join(' '));
    assert.equal(r.err, line, argv.join(' '));
  }
});

test('nearest: slips, swaps and prefixes, not strangers', () => {
  assert.equal(nearest('memroy', ['memory', 'vcpus']), 'memory');
  assert.equal(nearest('VCPUS', ['memory', 'vcpus']), 'vcpus');
  assert.equal(nearest('ker', ['kernel', 'cmdline']), 'kernel');
  assert.equal(nearest('zzz', ['kernel', 'cmdline']), undefined);
  assert.equal(explainUnknown('Not enough non-option arguments', []), undefined);
});

test('completion bash|zsh print scripts; zsh goes through bashcompinit', async () => {
  const bash = await cli(['completion', 'bash']);
  assert.equal(bash.status, 0);
  assert.equal(bash.out, bashCompletion());
  assert.match(bash.out, /^complete -o filenames -F _tsvmm tsvmm$/m);
  const zsh = await cli(['completion', 'zsh']);
  assert.match(zsh.out, /^#compdef tsvmm\n/);
  assert.match(zsh.out, /bashcompinit/);
  assert.equal((await cli(['completion', 'fish'])).status, 2);
});

test('the bash script completes commands, options, choices and artifact names', (t) => {
  if (spawnSync('bash', ['-c', 'true']).status !== 0) {
    t.skip('no bash here');
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-completion-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const script = path.join(dir, 'tsvmm.bash');
  fs.writeFileSync(script, bashCompletion());
  const complete = (...words: string[]): string[] => {
    const cmd = `source ${JSON.stringify(script)}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); ` +
      `COMP_CWORD=${words.length - 1}; _tsvmm; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const r = spawnSync('bash', ['-c', cmd], { encoding: 'utf8', cwd: dir });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.split('\n').filter(Boolean).sort();
  };
  assert.deepEqual(complete('tsvmm', 'd'), ['doctor']);
  assert.deepEqual(complete('tsvmm', 'run', '--vc'), ['--vcpus']);
  assert.deepEqual(complete('tsvmm', 'run', '--log-level', 'de'), ['debug']);
  assert.deepEqual(complete('tsvmm', 'guest', ''), ['--help', '--version', 'build', 'path']);
  assert.deepEqual(complete('tsvmm', 'guest', 'path', '@guest/vm'), ['@guest/vmlinux']);
  assert.deepEqual(complete('tsvmm', 'run', 'tsvmm.b'), ['tsvmm.bash']);
  assert.deepEqual(complete('tsvmm', 'doctor', '--'), ['--help', '--json', '--version']);
  assert.deepEqual(complete('tsvmm', 'ex'), ['exec']);
  assert.deepEqual(complete('tsvmm', 'exec', '--ti'), ['--timeout']);
  assert.deepEqual(complete('tsvmm', 'sandbox', ''), ['--help', '--version', 'run']);
  assert.deepEqual(complete('tsvmm', 'sandbox', 'run', '--mem'), ['--memory']);
});
