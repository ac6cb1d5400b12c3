// A futex-style mutex in one Int32 slot of a SharedArrayBuffer, for register state that vCPU threads and the main
// thread both change (the UART, the i8042). Three states: 0 free, 1 held, 2 held with (possible) waiters. Held only
// for a few loads and stores and, at most, an interrupt pulse (two KVM_IRQ_LINE calls, which wait for nothing but
// KVM's own short irq lock), never across a call that can block.

export function lockShared(i32: Int32Array, slot: number): void {
  let c = Atomics.compareExchange(i32, slot, 0, 1);
  if (c === 0) return;
  if (c !== 2) c = Atomics.exchange(i32, slot, 2);
  while (c !== 0) {
    Atomics.wait(i32, slot, 2);
    c = Atomics.exchange(i32, slot, 2);
  }
}

export function unlockShared(i32: Int32Array, slot: number): void {
  if (Atomics.sub(i32, slot, 1) !== 1) {
    Atomics.store(i32, slot, 0);
    Atomics.notify(i32, slot, 1);
  }
}
