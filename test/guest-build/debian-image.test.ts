// The Debian image's cache key, the mirror apt uses, and what debootstrap's output becomes: progress lines and a
// one-sentence reason for a failure.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DEFAULT_MIRROR, debianImageKey, debootstrapProgress, explainDebootstrapFailure, mirrorFromSources,
} from '../../src/guest/debian-image';

const request = { suite: 'bookworm', packages: ['python3', 'curl'], mirror: 'http://deb.debian.org/debian' };
const agent = Buffer.from('agent v1');

test('the cache key: packages in any order are one key; suite, packages, mirror, size and agent each change it', () => {
  const key = debianImageKey(request, agent);
  assert.match(key, /^[0-9a-f]{16}$/);
  assert.equal(debianImageKey({ ...request, packages: ['curl', 'python3', 'curl'] }, agent), key);
  assert.equal(debianImageKey({ ...request, mirror: 'http://deb.debian.org/debian/' }, agent), key);
  const others = [
    debianImageKey({ ...request, suite: 'trixie' }, agent),
    debianImageKey({ ...request, packages: ['python3'] }, agent),
    debianImageKey({ ...request, mirror: 'http://mirror.example/debian' }, agent),
    debianImageKey(request, Buffer.from('agent v2')),
    debianImageKey(request, agent, 512 * 1024 * 1024),
  ];
  assert.equal(new Set([key, ...others]).size, 6);
});

test('the mirror: the first Debian archive in apt\'s sources, deb822 or one-line; security and others are not one', () => {
  const deb822 = `Types: deb
URIs: http://snapshot.example/debian-security
Suites: bookworm-security

Types: deb-src
URIs: http://src.example/debian

Types: deb
URIs: http://mirror.example/debian/
Suites: bookworm
`;
  assert.equal(mirrorFromSources([{ name: 'a.sources', text: deb822 }]), 'http://mirror.example/debian');
  const list = '# deb http://commented.example/debian bookworm main\n' +
    'deb http://archive.ubuntu.com/ubuntu jammy main\n' +
    'deb [signed-by=/k.gpg arch=amd64] https://one.example/debian bookworm main\n';
  assert.equal(mirrorFromSources([{ name: 'sources.list', text: list }]), 'https://one.example/debian');
  assert.equal(mirrorFromSources([{ name: 'x.list', text: 'deb http://archive.ubuntu.com/ubuntu jammy main\n' }]), undefined);
  assert.equal(DEFAULT_MIRROR, 'http://deb.debian.org/debian');
});

test('debootstrap\'s failures in one sentence: unknown packages, no network, an unknown suite', () => {
  assert.equal(explainDebootstrapFailure(['I: Resolving dependencies of base packages...',
    'E: Couldn\'t find these debs: python4 frob'], request),
  'unknown packages python4 frob: not in bookworm at http://deb.debian.org/debian');
  assert.match(explainDebootstrapFailure(['E: Failed getting release file http://x/dists/bookworm/Release'], request),
    /cannot download from the mirror .*is there a network/);
  assert.equal(explainDebootstrapFailure(['E: No such script: /usr/share/debootstrap/scripts/frob'], { ...request, suite: 'frob' }),
    'debootstrap does not know the suite frob');
  assert.equal(explainDebootstrapFailure(['W: x', 'E: something else'], request), 'debootstrap: something else');
});

test('debootstrap\'s progress: each stage once, a run of per-package lines as one line', () => {
  const progress = debootstrapProgress();
  const lines = [
    'I: Retrieving InRelease ', 'I: Validating Packages ', 'I: Resolving dependencies of required packages...',
    'I: Retrieving adduser 3.134', 'I: Validating adduser 3.134', 'I: Retrieving apt 2.6.1', 'I: Validating apt 2.6.1',
    'I: Extracting adduser...', 'I: Extracting apt...', 'I: Installing core packages...', 'I: Unpacking required packages...',
    'I: Unpacking adduser...', 'I: Configuring required packages...', 'I: Configuring apt...', 'W: Failure trying to run: x',
    'dpkg: warning: y', 'I: Base system installed successfully.',
  ];
  assert.deepEqual(lines.map(progress).filter((l) => l !== undefined), [
    'Retrieving InRelease ...', 'Validating Packages ...', 'Resolving dependencies of required packages...',
    'Retrieving and validating packages ...', 'Extracting packages ...', 'Installing core packages...',
    'Unpacking required packages...', 'Unpacking packages ...', 'Configuring required packages...', 'Configuring packages ...',
    'W: Failure trying to run: x', 'Base system installed successfully.',
  ]);
});
