// The source layers import one way: base <- virtio-mmio <- devices <- vmm <- api <- cli, and src/guest and
// src/sandbox stand apart (docs/design.md, Layers).
// `npm run lint:layers` checks it, and `npm test` runs that after the build.
const layer = (names) => `^src/(${names.join('|')})(/|\\.ts$)`;

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'base-is-the-bottom',
      comment: 'src/base (guest memory, the native binding, the bus, locks) imports nothing else of src.',
      severity: 'error',
      from: { path: '^src/base/' },
      to: { path: '^src/', pathNot: '^src/base/' },
    },
    {
      name: 'virtio-mmio-below-devices',
      comment: 'The virtio-mmio transport knows devices only through its VirtioDevice interface.',
      severity: 'error',
      from: { path: '^src/virtio-mmio/' },
      to: { path: layer(['devices', 'vmm', 'api', 'cli']) },
    },
    {
      name: 'devices-below-vmm',
      comment: 'Devices take their own options and throw their own errors; the machine maps them to the config.',
      severity: 'error',
      from: { path: '^src/devices/' },
      to: { path: layer(['vmm', 'api', 'cli']) },
    },
    {
      name: 'vmm-below-api',
      comment: 'The machine layer (assembly, boot, config) knows nothing of the API or the command line.',
      severity: 'error',
      from: { path: '^src/vmm/' },
      to: { path: layer(['api', 'cli']) },
    },
    {
      name: 'api-below-cli',
      comment: 'The API (Vm, control socket, client) is used by the command line, never the other way.',
      severity: 'error',
      from: { path: '^src/api/' },
      to: { path: layer(['cli']) },
    },
    {
      name: 'guest-stands-apart',
      comment: 'Building guest artifacts needs nothing of the machine: src/guest uses only src/base.',
      severity: 'error',
      from: { path: '^src/guest/' },
      to: { path: '^src/', pathNot: '^src/(guest|base)/' },
    },
    {
      name: 'sandbox-client-stands-apart',
      comment: 'src/sandbox (the host side of the guest agent) knows nothing of the machine, the API or the CLI.',
      severity: 'error',
      from: { path: '^src/sandbox/' },
      to: { path: '^src/', pathNot: '^src/(sandbox|base)/' },
    },
    {
      name: 'no-circular',
      comment: 'No import cycles inside src.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    // Only what src imports from src; type-only imports count too (they are a dependency of the design).
    includeOnly: '^src/',
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // A require() by a literal path (the CLI loads its runner lazily) is a dependency like an import.
    moduleSystems: ['cjs', 'es6'],
  },
};
