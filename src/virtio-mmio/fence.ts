// A full memory fence for the shared rings. Guest RAM reaches TypeScript as external ArrayBuffers (not
// SharedArrayBuffers), so Atomics promise no ordering on it towards the guest's vCPUs; the addon's fence does.
import { native, type NativeAddon } from '../base/native';

type WithFence = NativeAddon & { memoryFence(this: void): void };

let fence: (() => void) | undefined;

/** Orders every load and store before it against every one after it, the store-load pair included. */
export function fullFence(): void {
  if (fence === undefined) fence = (native() as WithFence).memoryFence;
  fence();
}
