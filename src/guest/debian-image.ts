// The Debian root tree of `tsvmm image build --debian`: debootstrap --variant=minbase with the packages asked for,
// from the mirror apt already uses (or the one given), its progress said one line per stage, and its failures
// said in one sentence (no network, an unknown package, a suite the mirror lacks) with the full output kept.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CommandError, runCommand } from './exec';

export const DEFAULT_SUITE = 'bookworm';
export const DEFAULT_MIRROR = 'http://deb.debian.org/debian';
export const DEBIAN_IMAGE_FILE = 'root.img';
// Bump when the build steps change in a way that changes the image for the same inputs.
const DEBIAN_RECIPE = 1;
const PROBE_TIMEOUT_MS = 20_000;

export interface DebianImageRequest {
  suite: string;
  /** Extra packages (debootstrap --include), in any order. */
  packages: readonly string[];
  mirror: string;
}

/** The cache key: every input that changes the image. */
export function debianImageKey(request: DebianImageRequest, agentBinary: Uint8Array, size?: number): string {
  const h = createHash('sha256').update(JSON.stringify({
    recipe: DEBIAN_RECIPE, suite: request.suite, packages: [...new Set(request.packages)].sort(),
    mirror: request.mirror.replace(/\/+$/, ''), size: size ?? 'default',
  }));
  return h.update(agentBinary).digest('hex').slice(0, 16);
}

/**
 * The first Debian archive among apt's sources (one-line .list files and deb822 .sources files): a `deb` source
 * whose URI ends in /debian (security and backports archives, and other distributions, are not one).
 */
export function mirrorFromSources(files: readonly { name: string; text: string }[]): string | undefined {
  const isArchive = (uri: string): boolean => /^https?:\/\/.+\/debian\/?$/.test(uri);
  for (const { name, text } of files) {
    const uris: string[] = [];
    if (name.endsWith('.sources')) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (key: string): string[] => (new RegExp(`^${key}:(.*)$`, 'mi').exec(stanza)?.[1] ?? '').trim().split(/\s+/);
        if (field('Types').includes('deb') && !/^Enabled:\s*no\s*$/mi.test(stanza)) uris.push(...field('URIs'));
      }
    } else {
      for (const line of text.split('\n')) {
        const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)/.exec(line);
        if (m?.[1]) uris.push(m[1]);
      }
    }
    const found = uris.find(isArchive);
    if (found) return found.replace(/\/+$/, '');
  }
  return undefined;
}

/** apt's Debian mirror on this machine, else deb.debian.org. */
export function systemMirror(aptDir = '/etc/apt'): string {
  const files: { name: string; text: string }[] = [];
  const read = (file: string): void => {
    try { files.push({ name: file, text: fs.readFileSync(file, 'utf8') }); } catch { /* absent */ }
  };
  read(path.join(aptDir, 'sources.list'));
  let listed: string[] = [];
  try { listed = fs.readdirSync(path.join(aptDir, 'sources.list.d')).sort(); } catch { /* none */ }
  for (const f of listed) if (/\.(list|sources)$/.test(f)) read(path.join(aptDir, 'sources.list.d', f));
  return mirrorFromSources(files) ?? DEFAULT_MIRROR;
}

/** Says at once, before debootstrap's minutes, when the mirror cannot be reached or lacks the suite. */
async function probeMirror(request: DebianImageRequest): Promise<void> {
  // fetch ignores http_proxy, which debootstrap honours: with a proxy, debootstrap's own error has to do.
  if (process.env.http_proxy || process.env.HTTP_PROXY) return;
  const url = `${request.mirror.replace(/\/+$/, '')}/dists/${request.suite}/Release`;
  let status: number;
  try {
    status = (await fetch(url, { method: 'HEAD', signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) })).status;
  } catch (e) {
    const why = e instanceof Error ? ((e.cause as Error | undefined)?.message ?? e.message) : String(e);
    throw new Error(`image build: cannot reach the mirror ${request.mirror} (${why}); is there a network? ` +
      '(another mirror: --mirror URL)', { cause: e });
  }
  if (status === 404) throw new Error(`image build: the mirror ${request.mirror} has no suite ${request.suite} (${url}: 404)`);
  if (status >= 400) throw new Error(`image build: the mirror ${request.mirror} answered ${status} for ${url}`);
}

/** One sentence for debootstrap's failure, from its output's last lines. */
export function explainDebootstrapFailure(tail: readonly string[], request: DebianImageRequest): string {
  const text = tail.join('\n');
  const debs = /Couldn't find these debs:\s*(.*)/.exec(text);
  if (debs?.[1]) {
    return `unknown package${debs[1].trim().includes(' ') ? 's' : ''} ${debs[1].trim()}: not in ${request.suite} at ${request.mirror}`;
  }
  if (/No such script/.test(text)) return `debootstrap does not know the suite ${request.suite}`;
  if (/Failed getting release file|Couldn't download|Temporary failure|Could not resolve|Connection refused|unable to resolve/i.test(text)) {
    return `cannot download from the mirror ${request.mirror}; is there a network?`;
  }
  if (/Release signed by unknown key|Invalid Release signature/.test(text)) {
    return `the ${request.suite} Release file's signature does not check out (install debian-archive-keyring)`;
  }
  const firstError = tail.find((l) => l.startsWith('E: '));
  return firstError ? `debootstrap: ${firstError.slice(3)}` : `debootstrap failed; its last line: ${tail.at(-1) ?? '(none)'}`;
}

const PER_PACKAGE = /^I: (Retrieving|Validating|Extracting|Unpacking|Configuring) [a-z0-9][a-z0-9+.-]*(\.\.\.| \d\S*)$/;
const GROUP_NAMES: Readonly<Record<string, string>> = {
  Retrieving: 'Retrieving and validating packages', Validating: 'Retrieving and validating packages',
  Extracting: 'Extracting packages', Unpacking: 'Unpacking packages', Configuring: 'Configuring packages',
};

/**
 * debootstrap's output as progress lines: each stage once ("Resolving dependencies ...", "Installing required
 * packages ..."), and a run of per-package lines ("I: Retrieving adduser 3.134", "I: Unpacking bash...") as one line
 * for the run. Returns what to say for `line`, or undefined.
 */
export function debootstrapProgress(): (line: string) => string | undefined {
  let group: string | undefined;
  return (line) => {
    const perPackage = PER_PACKAGE.exec(line);
    if (perPackage) {
      const name = GROUP_NAMES[perPackage[1]!]!;
      if (name === group) return undefined;
      group = name;
      return `${name} ...`;
    }
    if (line.startsWith('I: ')) {
      group = undefined;
      const text = line.slice(3).trim();
      return /\.{3}$|\.$/.test(text) ? text : `${text} ...`;
    }
    return /^[EW]: /.test(line) ? line : undefined;
  };
}

/** debootstrap minbase into `tree`, its whole output in `workDir`/build.log; then apt's downloads are dropped. */
export async function debootstrapInto(request: DebianImageRequest, tree: string, workDir: string,
  log: (line: string) => void): Promise<void> {
  await probeMirror(request);
  const extra = request.packages.length > 0 ? ` + ${request.packages.join(' ')}` : '';
  log(`[image] debootstrap ${request.suite} (minbase${extra}) from ${request.mirror} ...`);
  const buildLog = fs.createWriteStream(path.join(workDir, 'build.log'));
  const progress = debootstrapProgress();
  const args = ['--variant=minbase', ...(request.packages.length > 0 ? [`--include=${request.packages.join(',')}`] : []),
    request.suite, tree, request.mirror];
  try {
    await runCommand('debootstrap', args, {
      env: { ...process.env, LC_ALL: 'C', DEBIAN_FRONTEND: 'noninteractive' }, tailLines: 60,
      onLine: (line) => {
        buildLog.write(line + '\n');
        const said = progress(line);
        if (said !== undefined) log(`[image]   ${said}`);
      },
    });
  } catch (e) {
    if (e instanceof CommandError) {
      throw new Error(`image build: ${explainDebootstrapFailure(e.tail, request)}`, { cause: e });
    }
    throw e;
  } finally {
    await new Promise((resolve) => buildLog.end(resolve));
  }
  for (const dir of ['var/cache/apt/archives', 'var/lib/apt/lists']) {
    const full = path.join(tree, dir);
    for (const f of fs.existsSync(full) ? fs.readdirSync(full) : []) {
      if (f !== 'partial' && f !== 'lock') fs.rmSync(path.join(full, f), { recursive: true, force: true });
    }
  }
}
