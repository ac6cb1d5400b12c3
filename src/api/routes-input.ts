// The control socket's input routes: keys, text and the pointer through vm.input (src/api/vm-input.ts). The body's
// fields are vm.input's arguments under the same names, so an argument it refuses is a 400 naming that field (with
// the code it has in the process); each answers how many events were queued.
import { HttpError } from './http-json';
import { requireBody, type Reply, type Route, type RouteContext } from './route-kit';
import type { PointerButtons } from './input-pointer';
import { ConfigError, show } from '../vmm/config-check';

/** Runs a vm.input call; a TypeError / RangeError about one of its arguments is a 400 naming it as the body field. */
function asArgument(call: () => number): Reply {
  try {
    return { status: 200, body: { queued: call() } };
  } catch (e) {
    const err = e as { argument?: unknown; code?: unknown; range?: unknown; value?: unknown };
    if (!(e instanceof TypeError || e instanceof RangeError) || typeof err.argument !== 'string') throw e;
    const field = err.argument;
    const code = typeof err.code === 'string' ? err.code : undefined;
    const why = typeof err.range === 'string' ? `${show(err.value)} is out of range: it must be ${err.range}` : e.message;
    throw new HttpError(400, `${field}: ${why}`, field, code);
  }
}

/** The body's fields `names` that are present, as an options object. */
function present(b: Record<string, unknown>, names: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(names.filter((n) => b[n] !== undefined).map((n) => [n, b[n]]));
}

/** POST /input/key `{ key, action?, modifiers?, device? }`. */
function key(ctx: RouteContext): Reply {
  const b = requireBody(ctx.body, ['key', 'action', 'modifiers', 'device']);
  if (b.key === undefined) throw new ConfigError('key', 'required (a key name such as "Enter" or a key code)');
  const input = ctx.controller.requireVm('send a key').input;
  return asArgument(() => input.key(b.key as string, present(b, ['action', 'modifiers', 'device'])));
}

/** POST /input/type `{ text, device? }`. */
function type(ctx: RouteContext): Reply {
  const b = requireBody(ctx.body, ['text', 'device']);
  if (b.text === undefined) throw new ConfigError('text', 'required (the text to type)');
  const input = ctx.controller.requireVm('type text').input;
  return asArgument(() => input.type(b.text as string, present(b, ['device'])));
}

/** POST /input/pointer `{ x, y, buttons?, width?, height?, device? }`. */
function pointer(ctx: RouteContext): Reply {
  const b = requireBody(ctx.body, ['x', 'y', 'buttons', 'width', 'height', 'device']);
  if (b.x === undefined) throw new ConfigError('x', 'required (a pixel column)');
  if (b.y === undefined) throw new ConfigError('y', 'required (a pixel row)');
  const input = ctx.controller.requireVm('move the pointer').input;
  return asArgument(() => input.pointer(b.x as number, b.y as number, b.buttons as PointerButtons | undefined,
    present(b, ['width', 'height', 'device'])));
}

export const INPUT_ROUTES: readonly Route[] = [
  { method: 'POST', path: '/input/key', body: true, handle: key },
  { method: 'POST', path: '/input/type', body: true, handle: type },
  { method: 'POST', path: '/input/pointer', body: true, handle: pointer },
];
