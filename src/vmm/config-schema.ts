// The machine config as it is written (a YAML file, a PUT /config body, createVm's argument), defined once. One
// TypeBox schema gives the TypeScript type of such a config (MachineConfigInput), the run-time shape check
// (config-shape.ts turns its first failure into a one-line ConfigError naming the field) and the JSON Schema in
// docs/config.schema.json (scripts/config-schema.js writes it from this). What a schema cannot say (files exist,
// sizes in bytes, fields that depend on each other, unique devices) is code after the shape check, in config.ts and
// config-devices.ts.
//
// Why TypeBox rather than zod: a TypeBox schema is JSON Schema already, so the document is exactly what is checked
// with no exporter in between; its error records carry the subschema that failed, so the messages state the limits
// from the schema itself (range, allowed values, known keys for "did you mean"); and it is lighter to load, which
// every `tsvmm run` pays (bundled with esbuild, TypeBox's builders and error iterator came to about 0.4 MB against
// zod 4's 1 MB, and a script that builds and checks a small schema started faster). zod's transforms and
// discriminated unions would have been its advantage; the conversions (sizes to bytes, relative paths) are done
// after the check, where they need the config's folder anyway, and the one union with a tag (devices) is
// explained by its `type` in config-shape.ts.
import { Kind, Type, TypeRegistry, type Static, type TUnsafe } from '@sinclair/typebox';
import {
  GPU_DEFAULT_HEIGHT, GPU_DEFAULT_WIDTH, GPU_HEIGHT_MAX, GPU_HEIGHT_MIN, GPU_WIDTH_MAX, GPU_WIDTH_MIN,
} from '../devices/gpu/device';
import { MAX_SCANOUTS } from '../devices/gpu/protocol';
import { DEFAULT_MAX_SESSIONS, MAX_SESSIONS_LIMIT } from '../devices/crypto/sessions';
import { BUCKET_SIZE_MAX, REFILL_TIME_MAX_MS } from '../devices/rate-limiter';

/**
 * Keywords of our own on a schema, used for messages and left out of the published document: `errorMessage` is
 * what a value that fails the schema's pattern (or every branch of its union) is said to be, after the value.
 */
export const PRIVATE_KEYWORDS = ['errorMessage'] as const;

// A string enum as JSON Schema's `enum` (TypeBox's literal unions become anyOf/const, which read worse).
TypeRegistry.Set<{ enum: readonly string[] }>('StringEnum',
  (schema, value) => typeof value === 'string' && schema.enum.includes(value));

export function StringEnum<const T extends readonly string[]>(values: T, options: object = {}): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ ...options, [Kind]: 'StringEnum', type: 'string', enum: [...values] });
}

/** Any text but a NUL, which would end it early in the guest or in a system call. */
export function Text(options: object = {}) {
  return Type.String({ pattern: '^[^\\u0000]*$', errorMessage: 'contains a NUL character', ...options });
}

/** A host path; relative ones start at the config file's folder (the current directory for createVm). */
function Path(options: object = {}) {
  return Text({ minLength: 1, ...options });
}

/** Units as units.ts reads them (all binary); JSON Schema patterns have no flags, so both cases are spelt out. */
export const SIZE_PATTERN = '^\\s*[0-9]+(\\.[0-9]+)?\\s*([KMGTkmgt]([Ii]?[Bb])?|[Bb])?\\s*$';

/** A size: a string with a unit ("512M", "2GiB", "4096B") or a bare number, whose unit the field says. */
function Size(options: object) {
  return Type.Union([Type.String({ pattern: SIZE_PATTERN }), Type.Number({ minimum: 0 })],
    { errorMessage: 'is not a size (use e.g. 512M, 2GiB)', ...options });
}

const closed = { additionalProperties: false } as const;

export const BOOT_PROTOCOLS = ['auto', 'linux64', 'pvh'] as const;
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export const QUIRKS_MODES = ['auto', 'on', 'off'] as const;
export const ACPI_MODES = ['on', 'off'] as const;
export const ON_HALT_MODES = ['end', 'wait'] as const;
export const SERIAL_MODES = ['stdio', 'file', 'none'] as const;
export const DISPLAY_MODES = ['none', 'web'] as const;
export const CONSOLE_BACKENDS = ['stdio', 'file', 'socket'] as const;
export const BLK_CACHE_MODES = ['unsafe', 'writeback'] as const;
export const DEVICE_TYPES = ['rng', 'console', 'blk', 'net', 'vsock', 'balloon', 'fs', 'input', 'iommu', 'gpu',
  'scsi', 'crypto', 'snd'] as const;
export const SND_PLAYBACK_BACKENDS = ['discard', 'wav'] as const;
export const SND_CAPTURE_BACKENDS = ['silence', 'wav'] as const;
export const INPUT_KINDS = ['keyboard', 'tablet'] as const;

export const VCPUS_MAX = 254;
/** A tap name fits IFNAMSIZ (16) with its NUL. */
export const TAP_NAME_MAX = 15;
/** virtio-blk's serial (VIRTIO_BLK_T_GET_ID) is 20 bytes. */
export const BLK_SERIAL_MAX = 20;
/** Disks (targets) one virtio-scsi adapter takes. */
export const SCSI_DISKS_MAX = 16;
/** virtio-fs's tag field is 36 bytes. */
export const FS_TAG_MAX_BYTES = 36;

function TokenBucket(unit: string) {
  return Type.Object({
    size: Type.Integer({ minimum: 1, maximum: BUCKET_SIZE_MAX, description: `${unit} the bucket holds when full` }),
    oneTimeBurst: Type.Optional(Type.Integer({ minimum: 0, maximum: BUCKET_SIZE_MAX,
      description: `${unit} available once at the start, on top of size; never refilled`, default: 0 })),
    refillTime: Type.Integer({ minimum: 1, maximum: REFILL_TIME_MAX_MS,
      description: 'Milliseconds to refill size from empty (the rate is size per refillTime)' }),
  }, { ...closed, description: `A token bucket of ${unit.toLowerCase()}` });
}

/**
 * Caps on a disk's or a network direction's traffic; a bucket left out does not limit. A request starts while no
 * bucket is in debt and is charged its whole cost, so one larger than a bucket still goes through.
 */
function RateLimiter(what: string) {
  return Type.Object({
    bandwidth: Type.Optional(TokenBucket('Bytes')),
    ops: Type.Optional(TokenBucket('Requests')),
  }, { ...closed, description: `Caps on ${what}: token buckets for bytes (bandwidth) and requests (ops); default none` });
}

/** A rate limiter as the control socket takes it (PUT /devices/{index}/rate-limiter). */
export const RateLimiterSchema = RateLimiter('a device\'s traffic');

const RngInput = Type.Object({
  type: StringEnum(['rng']),
  rateLimit: Type.Optional(Type.Integer({ minimum: 1, maximum: 2 ** 32,
    description: 'Bytes per second the guest may take; default unlimited' })),
  iommu: Type.Optional(Type.Boolean({ description: 'Behind the machine\'s virtio-iommu: the device\'s DMA goes ' +
    'through the mappings its driver makes (endpoint ID: the index in devices); needs an iommu device', default: false })),
}, { ...closed, description: 'Entropy source (virtio-rng)' });

const ConsoleInput = Type.Object({
  type: StringEnum(['console']),
  backend: Type.Optional(StringEnum(CONSOLE_BACKENDS, {
    description: 'stdio, file (output appended to path) or socket (a unix socket at path that tsvmm listens on)',
    default: 'stdio' })),
  path: Type.Optional(Path({ description: 'Required for the file and socket backends, not allowed for stdio' })),
  iommu: Type.Optional(Type.Boolean({ description: 'Behind the machine\'s virtio-iommu: the device\'s DMA goes ' +
    'through the mappings its driver makes (endpoint ID: the index in devices); needs an iommu device', default: false })),
}, { ...closed, description: 'Console port (virtio-console, hvc0 in the guest)' });

const BlkInput = Type.Object({
  type: StringEnum(['blk']),
  path: Path({ description: 'Disk image (raw); must exist unless create is true' }),
  readonly: Type.Optional(Type.Boolean({ default: false })),
  cache: Type.Optional(StringEnum(BLK_CACHE_MODES, {
    description: 'writeback: guest flushes reach the disk (fdatasync); unsafe: they are ignored', default: 'writeback' })),
  serial: Type.Optional(Type.String({ maxLength: BLK_SERIAL_MAX, pattern: '^[ -~]*$', errorMessage: 'is not printable ASCII',
    description: 'The serial number the guest reads' })),
  create: Type.Optional(Type.Boolean({ description: 'Create the image (sparse) when it does not exist; not with readonly',
    default: false })),
  size: Type.Optional(Size({ description: 'Size of a created image, a positive multiple of 512 bytes; a bare number is ' +
    'MiB. Required with create when the image does not exist, not allowed without create' })),
  rateLimiter: Type.Optional(RateLimiter('the data the guest reads and writes (bytes) and its requests')),
  iommu: Type.Optional(Type.Boolean({ description: 'Behind the machine\'s virtio-iommu: the device\'s DMA goes ' +
    'through the mappings its driver makes (endpoint ID: the index in devices); needs an iommu device', default: false })),
}, { ...closed, description: 'Disk (virtio-blk)' });

const NetInput = Type.Object({
  type: StringEnum(['net']),
  tap: Type.Optional(Type.String({ minLength: 1, maxLength: TAP_NAME_MAX, pattern: '^[!-.0-9;-~]*$',
    errorMessage: 'is not an interface name (printable ASCII without blanks, / or :)',
    description: 'Host tap interface; default: one tsvmm creates' })),
  mac: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$',
    errorMessage: 'is not a MAC address (aa:bb:cc:dd:ee:ff)',
    description: 'Guest MAC address, not multicast (first byte even); default: a random locally administered one' })),
  rxRateLimiter: Type.Optional(RateLimiter('what the guest receives (frame bytes without the virtio-net header, ' +
    'frames)')),
  txRateLimiter: Type.Optional(RateLimiter('what the guest sends (frame bytes without the virtio-net header, frames)')),
  iommu: Type.Optional(Type.Boolean({ description: 'Behind the machine\'s virtio-iommu: the device\'s DMA goes ' +
    'through the mappings its driver makes (endpoint ID: the index in devices); needs an iommu device', default: false })),
}, { ...closed, description: 'Network (virtio-net) on a host tap device' });

const VsockInput = Type.Object({
  type: StringEnum(['vsock']),
  cid: Type.Integer({ minimum: 3, maximum: 0xffff_fffe, description: 'The guest\'s context id (0..2 are reserved)',
  }),
  socket: Path({ description: 'Host-side unix socket tsvmm listens on; guest connections to host port P go to ' +
    '"<socket>_P"' }),
  iommu: Type.Optional(Type.Boolean({ description: 'Behind the machine\'s virtio-iommu: the device\'s DMA goes ' +
    'through the mappings its driver makes (endpoint ID: the index in devices); needs an iommu device', default: false })),
}, { ...closed, description: 'Host-guest sockets (virtio-vsock), at most one' });

const BalloonInput = Type.Object({
  type: StringEnum(['balloon']),
  targetMiB: Type.Optional(Type.Integer({ minimum: 0, maximum: 64 * 1024,
    description: 'MiB the balloon takes from the guest once its driver starts, at most the guest\'s memory', default: 0 })),
  deflateOnOom: Type.Optional(Type.Boolean({ default: false })),
  statsInterval: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400,
    description: 'Seconds between memory statistics requests; 0 turns them off', default: 0 })),
  iommu: Type.Optional(Type.Boolean({ description: 'Behind the machine\'s virtio-iommu: the device\'s DMA goes ' +
    'through the mappings its driver makes (endpoint ID: the index in devices); needs an iommu device', default: false })),
}, { ...closed, description: 'Memory balloon (virtio-balloon), at most one' });

const FsInput = Type.Object({
  type: StringEnum(['fs']),
  tag: Text({ minLength: 1, maxLength: FS_TAG_MAX_BYTES, description: 'Mount tag, at most 36 bytes (UTF-8), unique ' +
    'among fs devices' }),
  path: Path({ description: 'Host directory to share; must exist' }),
  readonly: Type.Optional(Type.Boolean({ default: false })),
  iommu: Type.Optional(Type.Boolean({ description: 'Behind the machine\'s virtio-iommu: the device\'s DMA goes ' +
    'through the mappings its driver makes (endpoint ID: the index in devices); needs an iommu device', default: false })),
}, { ...closed, description: 'Shared folder (virtio-fs)' });

const InputInput = Type.Object({
  type: StringEnum(['input']),
  kind: StringEnum(INPUT_KINDS, { description: 'keyboard (every key) or tablet (absolute pointer, three buttons)' }),
  iommu: Type.Optional(Type.Boolean({ description: 'Behind the machine\'s virtio-iommu: the device\'s DMA goes ' +
    'through the mappings its driver makes (endpoint ID: the index in devices); needs an iommu device', default: false })),
}, { ...closed, description: 'Keyboard or tablet (virtio-input) whose events the host sends (Vm.sendInput)' });

const IommuInput = Type.Object({
  type: StringEnum(['iommu']),
}, { ...closed, description: 'IOMMU (virtio-iommu) for the devices that say iommu: true, at most one; needs acpi: on ' +
  '(the guest finds it and its endpoints in the VIOT table)' });

const GpuInput = Type.Object({
  type: StringEnum(['gpu']),
  width: Type.Optional(Type.Integer({ minimum: GPU_WIDTH_MIN, maximum: GPU_WIDTH_MAX,
    description: 'Each scanout\'s width in pixels, as GET_DISPLAY_INFO and the EDID give it', default: GPU_DEFAULT_WIDTH })),
  height: Type.Optional(Type.Integer({ minimum: GPU_HEIGHT_MIN, maximum: GPU_HEIGHT_MAX,
    description: 'Each scanout\'s height in pixels', default: GPU_DEFAULT_HEIGHT })),
  scanouts: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_SCANOUTS, description: 'Displays the guest sees',
    default: 1 })),
  iommu: Type.Optional(Type.Boolean({ description: 'Behind the machine\'s virtio-iommu: the device\'s DMA goes ' +
    'through the mappings its driver makes (endpoint ID: the index in devices); needs an iommu device', default: false })),
}, { ...closed, description: 'Display (virtio-gpu, 2D), at most one; the host reads what it shows as a PNG ' +
  '(Vm.display.screenshot)' });

const ScsiDiskInput = Type.Object({
  path: Path({ description: 'Disk image (raw), at least 512 bytes; must exist unless create is true' }),
  readonly: Type.Optional(Type.Boolean({ default: false })),
  serial: Type.Optional(Type.String({ maxLength: BLK_SERIAL_MAX, pattern: '^[ -~]*$', errorMessage: 'is not printable ASCII',
    description: 'The unit serial number the guest reads (VPD page 0x80), unique on the adapter' })),
  create: Type.Optional(Type.Boolean({ description: 'Create the image (sparse) when it does not exist; not with readonly',
    default: false })),
  size: Type.Optional(Size({ description: 'Size of a created image, a positive multiple of 512 bytes; a bare number is ' +
    'MiB. Required with create when the image does not exist, not allowed without create' })),
}, { ...closed, description: 'A disk on a virtio-scsi adapter' });

const ScsiInput = Type.Object({
  type: StringEnum(['scsi']),
  disks: Type.Array(ScsiDiskInput, { minItems: 1, maxItems: SCSI_DISKS_MAX,
    description: 'One target each, in order (target N is disks[N]), each with one logical unit, LUN 0' }),
  iommu: Type.Optional(Type.Boolean({ description: 'Behind the machine\'s virtio-iommu: the device\'s DMA goes ' +
    'through the mappings its driver makes (endpoint ID: the index in devices); needs an iommu device', default: false })),
}, { ...closed, description: 'SCSI adapter (virtio-scsi) with up to 16 disks' });

const CryptoInput = Type.Object({
  type: StringEnum(['crypto']),
  maxSessions: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_SESSIONS_LIMIT,
    description: 'Cipher sessions the guest may hold at once (each keeps its key on the host)',
    default: DEFAULT_MAX_SESSIONS })),
  iommu: Type.Optional(Type.Boolean({ description: 'Behind the machine\'s virtio-iommu: the device\'s DMA goes ' +
    'through the mappings its driver makes (endpoint ID: the index in devices); needs an iommu device', default: false })),
}, { ...closed, description: 'Crypto accelerator (virtio-crypto): AES in ECB, CBC, CTR and XTS by the host, at most ' +
  'one' });

const SndInput = Type.Object({
  type: StringEnum(['snd']),
  playback: Type.Optional(Type.Object({
    backend: StringEnum(SND_PLAYBACK_BACKENDS, { description: 'discard: played frames are dropped; wav: recorded ' +
      'into a WAV file at path (created or emptied; one format per file, the first one the guest plays)' }),
    path: Type.Optional(Path({ description: 'Required for the wav backend, not allowed for discard' })),
  }, { ...closed, description: 'Where the playback stream\'s frames go; default discard' })),
  capture: Type.Optional(Type.Object({
    backend: StringEnum(SND_CAPTURE_BACKENDS, { description: 'silence: zeros; wav: the frames of a WAV file at ' +
      'path, over and over (16- or 32-bit PCM, 44100 or 48000 Hz, 1 or 2 channels: the only format offered)' }),
    path: Type.Optional(Path({ description: 'Required for the wav backend, not allowed for silence' })),
  }, { ...closed, description: 'Where the capture stream\'s frames come from; default silence' })),
  iommu: Type.Optional(Type.Boolean({ description: 'Behind the machine\'s virtio-iommu: the device\'s DMA goes ' +
    'through the mappings its driver makes (endpoint ID: the index in devices); needs an iommu device', default: false })),
}, { ...closed, description: 'Sound card (virtio-snd): one playback and one capture stream of PCM (S16_LE or ' +
  'S32_LE, 44100 or 48000 Hz, 1 or 2 channels), paced by the stream\'s rate' });

/** One schema per device type, in DEVICE_TYPES order; `type` tells which one an entry is checked against. */
export const DEVICE_SCHEMAS = [RngInput, ConsoleInput, BlkInput, NetInput, VsockInput, BalloonInput, FsInput, InputInput,
  IommuInput, GpuInput, ScsiInput, CryptoInput, SndInput] as const;

export const DeviceInput = Type.Union([...DEVICE_SCHEMAS]);

export const MachineConfigSchema = Type.Object({
  vcpus: Type.Optional(Type.Integer({ minimum: 1, maximum: VCPUS_MAX, default: 1 })),
  memory: Type.Optional(Size({ description: 'Guest RAM: 32M..64G, a multiple of 4 KiB; a bare number is MiB',
    default: '256M' })),
  kernel: Path({ description: 'An uncompressed vmlinux, a bzImage or a PVH ELF, or a guest artifact (@guest/NAME)',
    examples: ['@guest/vmlinux', './vmlinux'] }),
  initrd: Type.Optional(Type.Union([Path({ description: 'Initial RAM disk, same rules as kernel' }), Type.Null()])),
  cmdline: Type.Optional(Text({ description: 'Kernel command line, at most 65535 bytes',
    default: 'console=ttyS0 reboot=k panic=-1' })),
  boot: Type.Optional(StringEnum(BOOT_PROTOCOLS, { default: 'auto' })),
  serial: Type.Optional(Type.Object({
    mode: Type.Optional(StringEnum(SERIAL_MODES, {
      description: 'stdio: the tsvmm process\'s terminal (or the Vm\'s console stream); file: appended to path; ' +
        'none: dropped', default: 'stdio' })),
    path: Type.Optional(Path({ description: 'Required with mode file, not allowed otherwise' })),
  }, { ...closed, description: 'The serial console (COM1, ttyS0)' })),
  display: Type.Optional(Type.Object({
    mode: Type.Optional(StringEnum(DISPLAY_MODES, {
      description: 'web: `tsvmm run` serves the gpu\'s scanout 0, the keyboard, the pointer and the serial console ' +
        'to a browser on 127.0.0.1 and prints the address (with its token) on stderr; needs a gpu device. ' +
        'none: nothing is served', default: 'none' })),
    port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535,
      description: 'The port on 127.0.0.1 (mode web only); 0 takes a free one', default: 0 })),
  }, { ...closed, description: 'The browser console (Vm.display.serveWeb for programs)' })),
  log: Type.Optional(Type.Object({
    level: Type.Optional(StringEnum(LOG_LEVELS, { default: 'info' })),
  }, { ...closed, description: 'The VMM\'s own log' })),
  quirks: Type.Optional(StringEnum(QUIRKS_MODES, {
    description: 'Workarounds for a kvm_pvm host; auto: only on such a host', default: 'auto' })),
  acpi: Type.Optional(StringEnum(ACPI_MODES, { description: 'ACPI tables and guest power-off through them',
    default: 'off' })),
  onHalt: Type.Optional(StringEnum(ON_HALT_MODES, { description: 'A guest that halts for good (every vCPU in HLT, ' +
    'interrupts off) ends the machine with reason halted (end) or is kept (wait)', default: 'end' })),
  devices: Type.Optional(Type.Union([Type.Array(DeviceInput, { description: 'Virtio devices, in order' }),
    Type.Null()])),
  apiSocket: Type.Optional(Path({ description: 'Unix socket for the control API; not allowed in PUT /config' })),
}, { ...closed, title: 'MachineConfig', description: 'A tsvmm machine config (configs/example.yaml documents every field)' });

/** A config as written: what createVm takes, what a YAML file and PUT /config hold. */
export type MachineConfigInput = Static<typeof MachineConfigSchema>;
export type DeviceConfigInput = Static<typeof DeviceInput>;
