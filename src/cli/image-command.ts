// `tsvmm image build`: an ext4 root image that boots into the sandbox agent (createSandbox({ image })), made from a
// folder (--from DIR) or from Debian (--debian, debootstrap minbase plus --packages; cached). The builder
// (src/guest/image-build.ts) is loaded at call time: no other command needs it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Options } from 'yargs';
import { ConfigError } from '../vmm/config-check';
import { parseSize } from '../vmm/units';

export const IMAGE_BUILD_OPTIONS: Readonly<Record<string, Options>> = {
  from: { type: 'string', describe: 'make the image from this folder (copied; the agent is added)' },
  debian: { type: 'boolean', default: false, describe: 'make the image from Debian (debootstrap minbase; needs root and a network; cached)' },
  suite: { type: 'string', describe: 'with --debian: the release (default bookworm)' },
  packages: { type: 'string', array: true, describe: 'with --debian: more packages, comma-separated or repeated (e.g. python3)' },
  mirror: { type: 'string', describe: 'with --debian: the archive (default: apt\'s Debian mirror here, else http://deb.debian.org/debian)' },
  output: { alias: 'o', type: 'string', describe: 'the image file to write (required)' },
  size: { type: 'string', describe: 'the image\'s size, e.g. 1G (default: the tree\'s size plus headroom; the file is sparse)' },
  force: { type: 'boolean', default: false, describe: 'with --debian: build again even when the cache has this image' },
};

export const IMAGE_DESCRIBE = 'Make an ext4 root image for sandboxes (createSandbox({ image }))';

export const IMAGE_BUILD_EPILOG = [
  'The image holds the folder\'s files (or a Debian minbase system) and the sandbox agent as /sbin/tsvmm-agent, which ' +
    'the kernel starts as init. A sandbox attaches it read-only (one image serves many sandboxes at once) and gives ' +
    'commands a tmpfs on /tmp, /run and /var/tmp. Programs must run on the project\'s kernel (x86-64 Linux).',
  '',
  'Examples:',
  '  tsvmm image build --from ./rootfs -o tools.img',
  '  sudo tsvmm image build --debian --packages python3-minimal -o py.img',
  '',
  '--debian runs debootstrap (installed with apt when missing) and caches the image in the guest cache under ' +
    'the suite, packages, mirror and agent; the same request again only copies it.',
].join('\n');

export type ImageSource = { kind: 'dir'; from: string } | {
  kind: 'debian'; suite: string; packages: string[]; mirror?: string; force: boolean;
};

export interface ImageBuildSpec {
  source: ImageSource;
  out: string;
  size?: number;
}

const PACKAGE_NAME = /^[a-z0-9][a-z0-9+.-]+$/;
const SUITE_NAME = /^[a-z][a-z0-9-]*$/;

function words(value: unknown): string[] {
  const list = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return list.flatMap((v) => String(v).split(/[\s,]+/)).filter(Boolean);
}

function stringOption(args: Record<string, unknown>, name: string): string | undefined {
  const v = args[name];
  const last = Array.isArray(v) ? v.at(-1) as unknown : v;
  if (last === undefined) return undefined;
  if (typeof last !== 'string' || last === '') throw new ConfigError(`--${name}`, 'needs a value');
  return last;
}

function isDir(p: string): boolean {
  try { return fs.statSync(p).isDirectory(); } catch { return false; }
}

/** The build asked for, checked before anything runs; ConfigError naming the option for a bad one. */
export function imageBuildSpec(args: Record<string, unknown>, cwd: string): ImageBuildSpec {
  const from = stringOption(args, 'from');
  const debian = args.debian === true;
  if ((from === undefined) === !debian) throw new ConfigError('--from', 'give one of --from DIR or --debian');
  const outText = stringOption(args, 'output');
  if (outText === undefined) throw new ConfigError('--output', 'required: the image file to write (-o FILE)');
  const out = path.resolve(cwd, outText);
  if (!isDir(path.dirname(out))) throw new ConfigError('--output', `the folder ${path.dirname(out)} does not exist`);
  if (isDir(out)) throw new ConfigError('--output', `${out} is a folder; name the image file`);
  const spec: ImageBuildSpec = { out, source: { kind: 'dir', from: '' } };
  const sizeText = stringOption(args, 'size');
  if (sizeText !== undefined) {
    let size: number;
    try { size = parseSize(sizeText, { numberUnit: 'M' }); } catch (e) { throw new ConfigError('--size', (e as Error).message); }
    if (size < 16 * 1024 * 1024) throw new ConfigError('--size', `${JSON.stringify(sizeText)} is below 16M`);
    spec.size = Math.ceil(size / 4096) * 4096;
  }
  const debianOnly = ['suite', 'packages', 'mirror'].filter((k) => args[k] !== undefined);
  if (from !== undefined) {
    if (debianOnly.length > 0) throw new ConfigError(`--${debianOnly[0]!}`, 'only used with --debian');
    const dir = path.resolve(cwd, from);
    if (!isDir(dir)) throw new ConfigError('--from', `${dir} is not a folder`);
    if (path.relative(dir, out) !== '' && !path.relative(dir, out).startsWith('..')) {
      throw new ConfigError('--output', `${out} is inside --from ${dir}; write the image elsewhere`);
    }
    spec.source = { kind: 'dir', from: dir };
    return spec;
  }
  const suite = stringOption(args, 'suite') ?? 'bookworm';
  if (!SUITE_NAME.test(suite)) throw new ConfigError('--suite', `${JSON.stringify(suite)} is not a Debian suite name`);
  const packages = [...new Set(words(args.packages))].sort();
  const bad = packages.find((p) => !PACKAGE_NAME.test(p));
  if (bad !== undefined) throw new ConfigError('--packages', `${JSON.stringify(bad)} is not a Debian package name`);
  const mirror = stringOption(args, 'mirror');
  if (mirror !== undefined && !/^https?:\/\/[^\s/]+/.test(mirror)) {
    throw new ConfigError('--mirror', `${JSON.stringify(mirror)} is not an http(s) URL`);
  }
  spec.source = { kind: 'debian', suite, packages, force: args.force === true, ...(mirror ? { mirror } : {}) };
  return spec;
}

export interface ImageBuilder {
  buildImageFromDir(from: string, opts: { out: string; size?: number; log: (line: string) => void }): Promise<unknown>;
  buildDebianImage(request: { suite: string; packages: readonly string[]; mirror: string },
    opts: { out: string; size?: number; force?: boolean; log: (line: string) => void }): Promise<unknown>;
  systemMirror(): string;
}

export interface ImageDeps {
  builder?: ImageBuilder;
  stderr: { write(text: string): unknown };
}

async function loadBuilder(): Promise<ImageBuilder> {
  const [build, debian] = await Promise.all([import('../guest/image-build'), import('../guest/debian-image')]);
  return { buildImageFromDir: build.buildImageFromDir, buildDebianImage: build.buildDebianImage, systemMirror: () => debian.systemMirror() };
}

export async function imageBuildCommand(args: Record<string, unknown>, cwd: string, deps: ImageDeps): Promise<number> {
  const spec = imageBuildSpec(args, cwd);
  const builder = deps.builder ?? await loadBuilder();
  const log = (line: string): void => void deps.stderr.write(line + '\n');
  const size = spec.size === undefined ? {} : { size: spec.size };
  if (spec.source.kind === 'dir') {
    await builder.buildImageFromDir(spec.source.from, { out: spec.out, log, ...size });
  } else {
    const request = { suite: spec.source.suite, packages: spec.source.packages, mirror: spec.source.mirror ?? builder.systemMirror() };
    await builder.buildDebianImage(request, { out: spec.out, log, force: spec.source.force, ...size });
  }
  return 0;
}
