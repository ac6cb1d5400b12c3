// The browser console's page: one file, its script and style inline (no framework, nothing fetched from elsewhere).
// It draws the scanout on a canvas from the pixel messages (web-frame.ts), sends keys while the canvas has the
// focus and the pointer in screen pixels (web-messages.ts), and shows the serial console beside it with a line to
// send to it. The page reads its token from its own address and opens the WebSocket with it. The content security
// policy allows exactly this script and this style (by hash) and a WebSocket to the console itself.
import { createHash } from 'node:crypto';

const STYLE = `
body { margin: 0; padding: 8px; box-sizing: border-box; height: 100vh; display: flex; gap: 8px;
  background: #1e1e1e; color: #ddd; font: 13px system-ui, sans-serif; }
#left { flex: 3; min-width: 0; display: flex; flex-direction: column; }
#right { flex: 2; min-width: 0; display: flex; flex-direction: column; }
#status { margin-bottom: 4px; color: #aaa; }
canvas { max-width: 100%; max-height: calc(100vh - 40px); background: #000; cursor: crosshair; }
canvas:focus { outline: 2px solid #4a8; }
pre { flex: 1; margin: 0; padding: 4px; overflow: auto; background: #000; color: #ccc;
  font: 12px monospace; white-space: pre-wrap; word-break: break-all; }
input { width: 100%; box-sizing: border-box; margin-top: 4px; font: 12px monospace; }
`;

const SCRIPT = String.raw`
'use strict';
(() => {
  const token = new URLSearchParams(location.search).get('token') || '';
  const canvas = document.getElementById('screen');
  const ctx = canvas.getContext('2d');
  const status = document.getElementById('status');
  const out = document.getElementById('serial');
  const line = document.getElementById('line');
  const decoder = new TextDecoder();
  const MAX_SERIAL_CHARS = 200000;
  const MAX_SEND_CHARS = 4000;
  let ws;
  let blank = true;
  const say = (text) => { status.textContent = text; };
  const send = (m) => { if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(m)); };

  // Pixels: kind 1, 3 zero bytes, then u16 x, y, width, height, screen width, screen height, then RGBA rows.
  function pixels(buf) {
    const v = new DataView(buf);
    const [x, y, w, h, sw, sh] = [4, 6, 8, 10, 12, 14].map((at) => v.getUint16(at, true));
    if (w * h * 4 !== buf.byteLength - 16 || w === 0 || h === 0) return;
    if (canvas.width !== sw || canvas.height !== sh) { canvas.width = sw; canvas.height = sh; }
    ctx.putImageData(new ImageData(new Uint8ClampedArray(buf, 16), w, h), x, y);
    if (blank) { blank = false; say('screen ' + sw + ' x ' + sh + ': click it to type there'); }
  }

  // Serial output: the guest's bytes; terminal escape sequences and carriage returns are left out. A chunk may end
  // inside an escape sequence: that start of one waits for the next chunk (unless it is longer than any real one).
  let partial = '';
  function serial(bytes) {
    const atEnd = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
    let text = partial + decoder.decode(bytes, { stream: true });
    const cut = text.search(/\x1b(\[[0-9;?]*[ -\/]*)?$/);
    partial = cut >= 0 && text.length - cut <= 64 ? text.slice(cut) : '';
    if (partial) text = text.slice(0, cut);
    text = text.replace(/\x1b\[[0-9;?]*[ -\/]*[@-~]|\r/g, '');
    let all = out.textContent + text;
    if (all.length > MAX_SERIAL_CHARS) all = all.slice(-MAX_SERIAL_CHARS);
    out.textContent = all;
    if (atEnd) out.scrollTop = out.scrollHeight;
  }

  function message(e) {
    if (typeof e.data === 'string') {
      const m = JSON.parse(e.data);
      if (m.t === 'blank') { blank = true; say('the guest shows nothing on this screen (yet)'); }
      else if (m.t === 'error') say('the machine refused input: ' + m.message);
      return;
    }
    const kind = new Uint8Array(e.data, 0, 1)[0];
    if (kind === 1) pixels(e.data);
    else if (kind === 2) serial(new Uint8Array(e.data, 1));
  }

  function connect() {
    ws = new WebSocket('ws://' + location.host + '/ws?token=' + encodeURIComponent(token));
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => say('connected');
    ws.onmessage = message;
    ws.onclose = (e) => say('disconnected' + (e.reason ? ': ' + e.reason : '') + ' (reload the page to connect again)');
  }

  // Keys go to the guest while the screen has the focus; the guest repeats held keys itself.
  const held = new Set();
  const key = (e, down) => {
    e.preventDefault();
    if (!/^[A-Za-z0-9]{1,32}$/.test(e.code) || (down && e.repeat)) return;
    if (down) held.add(e.code); else held.delete(e.code);
    send({ t: 'key', code: e.code, down });
  };
  canvas.addEventListener('keydown', (e) => key(e, true));
  canvas.addEventListener('keyup', (e) => key(e, false));
  canvas.addEventListener('blur', () => {
    for (const code of held) send({ t: 'key', code, down: false });
    held.clear();
  });

  // The pointer in screen pixels: the canvas may be drawn smaller than the screen (it keeps its aspect ratio).
  function position(e) {
    const r = canvas.getBoundingClientRect();
    const clamp = (v, n) => Math.min(Math.max(Math.floor(v), 0), n - 1);
    return { x: clamp((e.clientX - r.left) * canvas.width / r.width, canvas.width),
      y: clamp((e.clientY - r.top) * canvas.height / r.height, canvas.height) };
  }
  let moved;
  const pointer = (e, now) => {
    if (blank) return;
    moved = { t: 'pointer', ...position(e), buttons: e.buttons & 7 };
    // Moves go once a frame at most; presses and releases at once, after the move before them.
    if (now) { send(moved); moved = undefined; return; }
    requestAnimationFrame(() => { if (moved) { send(moved); moved = undefined; } });
  };
  canvas.addEventListener('pointermove', (e) => pointer(e, false));
  canvas.addEventListener('pointerdown', (e) => { canvas.focus(); canvas.setPointerCapture(e.pointerId); pointer(e, true); });
  canvas.addEventListener('pointerup', (e) => pointer(e, true));
  canvas.addEventListener('contextmenu', (e) => e.preventDefault());

  document.getElementById('form').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = line.value + '\r';
    for (let i = 0, end; i < text.length; i = end) {
      end = Math.min(i + MAX_SEND_CHARS, text.length);
      // Not between the halves of a surrogate pair: each half alone would reach the guest as U+FFFD.
      const c = text.charCodeAt(end - 1);
      if (end < text.length && c >= 0xd800 && c <= 0xdbff) end--;
      send({ t: 'serial', text: text.slice(i, end) });
    }
    line.value = '';
  });
  connect();
})();
`;

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<title>tsvmm console</title>
<style>${STYLE}</style>
</head>
<body>
<div id="left">
<div id="status">connecting</div>
<canvas id="screen" width="640" height="480" tabindex="0" aria-label="the guest's screen"></canvas>
</div>
<div id="right">
<pre id="serial" aria-label="serial console"></pre>
<form id="form"><input id="line" autocomplete="off" spellcheck="false"
  placeholder="a line for the serial console (Enter sends it)"></form>
</div>
<script>${SCRIPT}</script>
</body>
</html>
`;

const hash = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** The headers the page is served with, for a console listening on `port` of 127.0.0.1. */
export function pageHeaders(port: number): Record<string, string> {
  const csp = [
    "default-src 'none'", `script-src ${hash(SCRIPT)}`, `style-src ${hash(STYLE)}`,
    `connect-src ws://127.0.0.1:${port} ws://localhost:${port}`, "base-uri 'none'", "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return {
    'content-type': 'text/html; charset=utf-8', 'content-security-policy': csp, 'cache-control': 'no-store',
    'referrer-policy': 'no-referrer', 'x-content-type-options': 'nosniff', 'x-frame-options': 'DENY',
  };
}
