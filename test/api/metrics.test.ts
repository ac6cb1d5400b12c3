// GET /metrics: the Prometheus text exposition format, checked line by line against the format's rules.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { escapeHelp, escapeLabelValue, metricsText, snakeName } from '../../src/api/metrics';
import type { VmCounters } from '../../src/api/vm';
import { checkExposition } from '../helpers/exposition';

const counters: VmCounters = {
  vcpus: [0, 1].map((index) => ({ index, state: 'running', exits: { io: 5 + index, mmio: 2, hlt: 0 } as never })),
  devices: [
    { index: 0, type: 'blk', counters: { requests: 3, readBytes: 4096, inFlight: 1, notifies: 7 } },
    { index: 1, type: 'fs', counters: { requests: 9, 'op.lookup': 4, 'op.read_buf': 1, handles: 2 } },
    { index: 2, type: 'vsock', counters: { connectionsTotal: 2, connectionsOpen: 1 } },
  ],
  console: { droppedOutput: 12, inputPending: 0, interruptLine: 0, interruptEnable: 1 },
};

test('the counters as metric families, each with HELP and TYPE first and valid names', () => {
  const samples = checkExposition(metricsText({ version: '1.2.3', state: 'running' }, counters));
  const expect: [string, string][] = [
    ['tsvmm_info{version="1.2.3",state="running"}', '1'],
    ['tsvmm_vcpu_exits_total{vcpu="1",kind="io"}', '6'],
    ['tsvmm_console_dropped_output_bytes_total', '12'],
    ['tsvmm_console_input_pending_bytes', '0'],
    ['tsvmm_device_requests_total{device="0",type="blk"}', '3'],
    ['tsvmm_device_requests_total{device="1",type="fs"}', '9'],
    ['tsvmm_device_read_bytes_total{device="0",type="blk"}', '4096'],
    ['tsvmm_device_in_flight{device="0",type="blk"}', '1'],
    ['tsvmm_device_op_total{device="1",type="fs",op="lookup"}', '4'],
    ['tsvmm_device_op_total{device="1",type="fs",op="read_buf"}', '1'],
    ['tsvmm_device_connections_total{device="2",type="vsock"}', '2'],
    ['tsvmm_device_connections_open{device="2",type="vsock"}', '1'],
  ];
  for (const [series, value] of expect) assert.equal(samples.get(series), value, series);
  const text = metricsText({ version: '1.2.3', state: 'running' }, counters);
  assert.match(text, /^# TYPE tsvmm_device_in_flight gauge$/m);
  assert.match(text, /^# TYPE tsvmm_device_op_total counter$/m);
});

test('before a machine exists: tsvmm_info alone', () => {
  const text = metricsText({ version: '0.1.0', state: 'unconfigured' });
  assert.deepEqual([...checkExposition(text)], [['tsvmm_info{version="0.1.0",state="unconfigured"}', '1']]);
});

test('escaping: label values and HELP text; names made valid', () => {
  assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  assert.equal(escapeHelp('a\\b\nc "d"'), 'a\\\\b\\nc "d"');
  const text = metricsText({ version: 'x"y\\z\nw', state: 'running' });
  assert.equal(checkExposition(text).get('tsvmm_info{version="x\\"y\\\\z\\nw",state="running"}'), '1');
  assert.equal(snakeName('readBytes'), 'read_bytes');
  assert.equal(snakeName('rx-frames'), 'rx_frames');
  assert.equal(snakeName('9lives'), '_9lives');
  const odd = metricsText({ version: '1', state: 'running' }, { ...counters, devices: [
    { index: 0, type: 'x', counters: { 'weird name!': 1, nan: Number.NaN, inf: Infinity } }] });
  const samples = checkExposition(odd);
  assert.equal(samples.get('tsvmm_device_weird_name__total{device="0",type="x"}'), '1');
  assert.equal(samples.get('tsvmm_device_nan_total{device="0",type="x"}'), 'NaN');
  assert.equal(samples.get('tsvmm_device_inf_total{device="0",type="x"}'), '+Inf');
});
