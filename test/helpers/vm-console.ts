// A Vm's serial console as an OutputWatch, for tests (and the benchmark) that wait on what the guest prints: a wait
// fails as soon as the machine ends, saying how it ended.
import type { Vm } from '../../src/api/vm';
import { OutputWatch } from './wait';

export function watchConsole(vm: Vm): OutputWatch {
  const out = new OutputWatch(() => `machine ${vm.state}`);
  vm.console.on('data', (d: Buffer) => { out.append(d.toString('latin1')); });
  void vm.wait().then((e) => { out.end(`the machine ended (${e.reason}: ${e.detail})`); });
  return out;
}
