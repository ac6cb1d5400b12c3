// The control socket's routes: each a method, a path (in the OpenAPI document's template form) and a handler that
// validates its body strictly (errors name the field) and calls the controller. docs/api.yaml describes exactly
// these; test/api/openapi.test.ts keeps the two in step.
import * as path from 'node:path';
import { HttpError } from './http-json';
import { METRICS_CONTENT_TYPE, metricsText } from './metrics';
import {
  asField, integer, NO_CONTENT, requireBody, type Method, type Reply, type Route, type RouteContext,
} from './route-kit';
import { INPUT_ROUTES } from './routes-input';
import { SANDBOX_ROUTES } from './routes-sandbox';
import { checkEvent, type InputEvent } from '../devices/input';
import { checkDeviceIndex, checkStopOptions } from './vm';
import { VmError } from './errors';
import { DIRECTIONS } from './rate-limiter-args';
import { LOG_LEVELS, toConfigInput } from '../vmm/config';
import { checkEnum, checkPath, ConfigError } from '../vmm/config-check';
import { RateLimiterSchema } from '../vmm/config-schema';
import { checkShape } from '../vmm/config-shape';
import { packageVersion } from '../version';

export type { Method, Reply, Route, RouteContext } from './route-kit';

export const ACTIONS = ['start', 'pause', 'resume', 'ctrl-alt-del', 'power-button', 'stop'] as const;
export type Action = (typeof ACTIONS)[number];

async function action(ctx: RouteContext): Promise<Reply> {
  const b = requireBody(ctx.body, ['action', 'timeoutMs']);
  if (b.action === undefined) throw new ConfigError('action', `required (one of ${ACTIONS.join(', ')})`);
  const what = checkEnum('action', b.action, ACTIONS);
  if (b.timeoutMs !== undefined && what !== 'stop') throw new ConfigError('timeoutMs', 'only used with action stop');
  const stop = b.timeoutMs === undefined ? {} : { timeoutMs: integer('timeoutMs', b.timeoutMs) };
  const c = ctx.controller;
  switch (what) {
    case 'start':
      await c.start();
      return NO_CONTENT;
    case 'pause':
      await c.requireVm('pause').pause();
      return NO_CONTENT;
    case 'resume':
      await c.requireVm('resume').resume();
      return NO_CONTENT;
    case 'ctrl-alt-del':
      if (!c.requireVm('send Ctrl-Alt-Del').sendCtrlAltDel()) {
        throw new HttpError(409, 'the guest\'s keyboard buffer is full (it does not read its i8042 keyboard)');
      }
      return NO_CONTENT;
    case 'power-button':
      if (!c.requireVm('press the power button').pressPowerButton()) {
        throw new HttpError(409, 'the machine has no power button (it needs acpi: on)');
      }
      return NO_CONTENT;
    case 'stop': {
      asField('timeoutMs', () => checkStopOptions(stop)); // a bad timeout is a 400 even before there is a machine
      return { status: 200, body: await c.requireVm('stop').stop(stop) };
    }
  }
}

/** PUT /snapshot/create `{ path }`: a snapshot of the paused machine into that folder (docs/snapshot.md). */
async function createSnapshot(ctx: RouteContext): Promise<Reply> {
  const b = requireBody(ctx.body, ['path']);
  if (typeof b.path !== 'string' || b.path === '') throw new ConfigError('path', 'required: the snapshot\'s folder');
  await ctx.controller.requireVm('snapshot').snapshot(path.resolve(ctx.controller.baseDir, b.path));
  return NO_CONTENT;
}

/** PUT /snapshot/load `{ path, paused? }`: the machine a snapshot holds, started; only before there is one. */
async function loadSnapshot(ctx: RouteContext): Promise<Reply> {
  const b = requireBody(ctx.body, ['path', 'paused']);
  const dir = checkPath('path', b.path, ctx.controller.baseDir, 'dir');
  if (b.paused !== undefined && typeof b.paused !== 'boolean') throw new ConfigError('paused', 'must be a boolean');
  await ctx.controller.restore(dir, b.paused === true);
  return NO_CONTENT;
}

/** The {index} of /devices/{index}: a device of the config, else 404. */
function deviceIndex(ctx: RouteContext): number {
  const raw = ctx.params.index!;
  const config = ctx.controller.getConfig();
  try {
    if (!/^[0-9]{1,4}$/.test(raw)) throw new RangeError(raw);
    return checkDeviceIndex(config, Number(raw));
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    throw new HttpError(404, `devices/${raw}: no such device (the machine has ${config.devices.length})`);
  }
}

/**
 * PUT /devices/{index}/rate-limiter: `{ direction?, bandwidth?, ops? }` sets a disk's limits or a network
 * direction's (both without `direction`); null, or no bucket, removes them. The body is checked before the machine
 * is asked, so a bad one is a 400 naming the field whatever the machine's state.
 */
function setRateLimiter(ctx: RouteContext): Reply {
  const index = deviceIndex(ctx);
  if (ctx.body === null) {
    ctx.controller.requireVm('set a rate limiter').setRateLimiter(index, null);
    return NO_CONTENT;
  }
  const { direction, ...limiter } = requireBody(ctx.body, ['direction', 'bandwidth', 'ops']);
  const dir = direction === undefined ? undefined : checkEnum('direction', direction, DIRECTIONS);
  const type = ctx.controller.getConfig().devices[index]?.type;
  if (type !== 'blk' && type !== 'net') {
    throw new VmError('ERR_VM_NO_DEVICE', `devices[${index}] is a ${String(type)} device, which has no rate limiter ` +
      '(blk and net have)');
  }
  if (dir !== undefined && type === 'blk') throw new ConfigError('direction', 'a disk has one limiter; leave it out');
  checkShape(RateLimiterSchema, limiter);
  ctx.controller.requireVm('set a rate limiter').setRateLimiter(index, limiter, dir);
  return NO_CONTENT;
}

/** GET /display/screenshot?scanout=N: a PNG of what the gpu's scanout N (default 0) shows. */
async function screenshot(ctx: RouteContext): Promise<Reply> {
  const raw = ctx.query.get('scanout');
  if (raw !== null && !/^[0-9]{1,2}$/.test(raw)) {
    throw new HttpError(400, `scanout: ${JSON.stringify(raw)} is not a scanout number`, 'scanout', 'ERR_INVALID_ARG_TYPE');
  }
  const display = ctx.controller.requireVm('take a screenshot').display;
  // A scanout the gpu does not have is the display's own RangeError, answered as a 400 on this field.
  const png = await display.screenshot(raw === null ? 0 : Number(raw))
    .catch((e: unknown) => asField('scanout', () => { throw e; }));
  return { status: 200, text: { contentType: 'image/png', body: png } };
}

export const ROUTES: readonly Route[] = [
  {
    method: 'GET', path: '/', body: false,
    handle: ({ controller }) => ({
      status: 200,
      body: { name: 'tsvmm', version: packageVersion(), state: controller.state },
    }),
  },
  {
    // In the form PUT /config takes (sizes with units), so what is read can be sent back; apiSocket is left out, as
    // PUT refuses it: it is the socket being spoken to.
    method: 'GET', path: '/config', body: false,
    handle: ({ controller }) => {
      const input = toConfigInput(controller.getConfig());
      delete input.apiSocket;
      return { status: 200, body: input };
    },
  },
  {
    method: 'PUT', path: '/config', body: true,
    handle: ({ controller, body }) => {
      if (body === undefined) throw new HttpError(400, 'body: required (the machine config as a JSON object)');
      controller.setConfig(body);
      return NO_CONTENT;
    },
  },
  { method: 'PUT', path: '/actions', body: true, handle: action },
  { method: 'PUT', path: '/snapshot/create', body: true, handle: createSnapshot },
  { method: 'PUT', path: '/snapshot/load', body: true, handle: loadSnapshot },
  {
    method: 'GET', path: '/exit', body: false,
    handle: async ({ controller }) => ({ status: 200, body: await controller.requireVm('wait for the end').wait() }),
  },
  {
    method: 'GET', path: '/counters', body: false,
    handle: ({ controller }) => ({ status: 200, body: controller.requireVm('read counters').counters() }),
  },
  {
    method: 'GET', path: '/metrics', body: false,
    handle: ({ controller }) => ({
      status: 200,
      text: {
        contentType: METRICS_CONTENT_TYPE,
        body: metricsText({ version: packageVersion(), state: controller.state }, controller.vm?.counters()),
      },
    }),
  },
  {
    method: 'GET', path: '/logger', body: false,
    handle: ({ controller }) => ({ status: 200, body: { level: controller.logLevel } }),
  },
  {
    method: 'PUT', path: '/logger', body: true,
    handle: (ctx) => {
      const b = requireBody(ctx.body, ['level']);
      if (b.level === undefined) throw new ConfigError('level', `required (one of ${LOG_LEVELS.join(', ')})`);
      ctx.controller.setLogLevel(checkEnum('level', b.level, LOG_LEVELS));
      return NO_CONTENT;
    },
  },
  {
    method: 'GET', path: '/balloon', body: false,
    handle: ({ controller }) => ({ status: 200, body: controller.requireVm('read the balloon').balloonStats() }),
  },
  {
    method: 'PUT', path: '/balloon', body: true,
    handle: (ctx) => {
      const b = requireBody(ctx.body, ['targetMiB']);
      if (b.targetMiB === undefined) throw new ConfigError('targetMiB', 'required');
      const mib = integer('targetMiB', b.targetMiB);
      const vm = ctx.controller.requireVm('set the balloon target');
      asField('targetMiB', () => vm.setBalloonTarget(mib));
      return NO_CONTENT;
    },
  },
  {
    method: 'PATCH', path: '/devices/{index}', body: true,
    handle: async (ctx) => {
      const index = deviceIndex(ctx);
      const b = requireBody(ctx.body, ['path']);
      if (b.path === undefined) throw new ConfigError('path', 'required (the new backing file)');
      // Held to what a disk in the config may be: a regular file, never a device or /proc/self/mem.
      const file = checkPath('path', b.path, ctx.controller.baseDir, 'file');
      await ctx.controller.requireVm('swap a disk').swapDisk(index, file);
      return NO_CONTENT;
    },
  },
  {
    method: 'POST', path: '/devices/{index}/input', body: true,
    handle: (ctx) => {
      const index = deviceIndex(ctx);
      const b = requireBody(ctx.body, ['events']);
      if (!Array.isArray(b.events)) throw new ConfigError('events', 'required: an array of { type, code, value }');
      const events = b.events as InputEvent[];
      events.forEach((e, i) => {
        try {
          checkEvent(e);
        } catch (err) {
          throw new ConfigError(`events[${i}]`, err instanceof Error ? err.message : String(err));
        }
      });
      return { status: 200, body: { queued: ctx.controller.requireVm('send input').sendInput(index, events) } };
    },
  },
  { method: 'PUT', path: '/devices/{index}/rate-limiter', body: true, handle: setRateLimiter },
  { method: 'GET', path: '/display/screenshot', body: false, handle: screenshot },
  ...INPUT_ROUTES,
  ...SANDBOX_ROUTES,
];

export type RouteMatch =
  | { kind: 'route'; route: Route; params: Record<string, string> }
  | { kind: 'wrong-method'; allow: Method[] }
  | { kind: 'none' };

/** Matches a request path against the route templates ({name} is one path segment). */
export function matchRoute(method: string, pathname: string): RouteMatch {
  const segments = pathname.split('/').slice(1);
  const allow: Method[] = [];
  for (const route of ROUTES) {
    const params = matchTemplate(route.path, segments);
    if (!params) continue;
    if (route.method === method) return { kind: 'route', route, params };
    allow.push(route.method);
  }
  return allow.length > 0 ? { kind: 'wrong-method', allow } : { kind: 'none' };
}

function matchTemplate(template: string, segments: string[]): Record<string, string> | undefined {
  const parts = template.split('/').slice(1);
  if (parts.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    const s = segments[i]!;
    if (p.startsWith('{') && p.endsWith('}')) {
      if (s === '') return undefined;
      try {
        params[p.slice(1, -1)] = decodeURIComponent(s);
      } catch {
        return undefined; // malformed %-escapes name no resource
      }
    } else if (p !== s) {
      return undefined;
    }
  }
  return params;
}
