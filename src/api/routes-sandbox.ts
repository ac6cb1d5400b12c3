// The control socket's sandbox routes: commands and files in the guest through its agent (src/api/vm-agent.ts),
// answered with the same error codes as in the process (AgentError's NOT_FOUND, TIMEOUT, LIMIT, ...; VmError's
// ERR_VM_NO_AGENT). POST /exec answers once the command has ended; POST /exec/stream (exec-stream.ts) streams.
import { checkExecBody } from './exec-body';
import { execStream } from './exec-stream';
import { getFile, putFile, queryFlag, queryPath } from './file-transfer';
import { NO_CONTENT, type Route, type RouteContext, type Reply } from './route-kit';

async function exec(ctx: RouteContext): Promise<Reply> {
  const spec = checkExecBody(ctx.body, { stream: false, maxOutputBytes: ctx.limits.maxExecOutputBytes });
  const vm = ctx.controller.requireVm('run a command');
  // A client that goes away does not leave its command running.
  const gone = new AbortController();
  const onClose = (): void => { if (!ctx.res.writableEnded) gone.abort(); };
  ctx.res.on('close', onClose);
  try {
    const r = await vm.exec(spec.argv, {
      encoding: 'buffer', signal: gone.signal,
      ...(spec.env ? { env: spec.env } : {}), ...(spec.cwd !== undefined ? { cwd: spec.cwd } : {}),
      ...(spec.stdin ? { stdin: spec.stdin } : {}), ...(spec.timeoutMs !== undefined ? { timeoutMs: spec.timeoutMs } : {}),
      ...(spec.maxOutputBytes !== undefined ? { maxOutputBytes: spec.maxOutputBytes } : {}),
    });
    const enc = spec.encoding === 'base64' ? 'base64' : 'utf8';
    return {
      status: 200,
      body: { exitCode: r.exitCode, signal: r.signal, stdout: r.stdout.toString(enc), stderr: r.stderr.toString(enc), encoding: spec.encoding },
    };
  } finally {
    ctx.res.off('close', onClose);
  }
}

export const SANDBOX_ROUTES: readonly Route[] = [
  { method: 'POST', path: '/exec', body: true, handle: exec },
  { method: 'POST', path: '/exec/stream', body: true, raw: true, handle: execStream },
  { method: 'GET', path: '/files', body: false, raw: true, handle: getFile },
  { method: 'PUT', path: '/files', body: true, raw: true, handle: putFile },
  {
    method: 'DELETE', path: '/files', body: false,
    handle: async (ctx) => {
      const path = queryPath(ctx);
      const opts = { recursive: queryFlag(ctx, 'recursive'), force: queryFlag(ctx, 'force') };
      await ctx.controller.requireVm('remove a file').files.remove(path, opts);
      return NO_CONTENT;
    },
  },
  {
    method: 'GET', path: '/files/stat', body: false,
    handle: async (ctx) => ({ status: 200, body: await ctx.controller.requireVm('stat a file').files.stat(queryPath(ctx)) }),
  },
  {
    method: 'GET', path: '/files/list', body: false,
    handle: async (ctx) => {
      const entries = await ctx.controller.requireVm('list a directory').files.list(queryPath(ctx));
      return { status: 200, body: { entries } };
    },
  },
];
