// Notices a guest that has halted for good: every vCPU in HLT with interrupts disabled (or never started), which
// is how Linux's `halt` leaves a machine with no power-off. KVM runs HLT in the kernel, so user space never sees
// it. A guest that has made no exit to user space for a whole interval is asked: each vCPU is kicked out of
// KVM_RUN and reads its own KVM_GET_MP_STATE and RFLAGS.IF (one interrupted KVM_RUN and two ioctls a vCPU). A
// guest at work makes exits all the time and is never kicked; an idle one costs one kick a vCPU a second. Several
// answers in a row must agree before the machine ends, so a guest passing through `cli; hlt` on its way
// somewhere is never taken for one that stopped.

export interface ProbedVcpu {
  probe(): void;
  probeAnswer(): 'running' | 'halted' | 'waiting' | undefined;
}

export const HALT_PROBE_MS = 1000;
/** Probes in a row that must find the guest halted: the machine ends 3 to 4 intervals after the guest halts. */
export const HALT_STRIKES = 3;

export class HaltWatch {
  private timer: NodeJS.Timeout | undefined;
  private asked = false;
  private strikes = 0;
  private ended = false;
  private lastActivity: number | undefined;

  /**
   * `activity` counts the guest's exits to user space (not those the probes cause): while it moves the guest is
   * at work, and no vCPU is kicked.
   */
  constructor(
    private readonly vcpus: readonly ProbedVcpu[],
    private readonly activity: () => number,
    private readonly onHalted: () => void,
    private readonly intervalMs = HALT_PROBE_MS,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref(); // the machine's own handles keep the process alive, not this
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One interval: judge the answers to the last probe, then ask again. Public for tests. */
  tick(): void {
    if (this.ended) return;
    const activity = this.activity();
    const busy = activity !== this.lastActivity;
    this.lastActivity = activity;
    if (busy) {
      this.strikes = 0;
      this.asked = false; // answers from before the guest moved say nothing now
      return;
    }
    if (this.asked) {
      const answers = this.vcpus.map((v) => v.probeAnswer());
      // A vCPU that has not answered is paused, busy in a long exit, or missed the kick (its thread was still
      // starting when it came, and a guest halted in the kernel never comes back by itself): no verdict, and
      // those vCPUs are asked, and kicked, again.
      if (answers.includes(undefined)) {
        this.strikes = 0;
        this.vcpus.forEach((v, i) => { if (answers[i] === undefined) v.probe(); });
        return;
      }
      const halted = answers.includes('halted') && !answers.includes('running');
      this.strikes = halted ? this.strikes + 1 : 0;
      if (this.strikes >= HALT_STRIKES) {
        this.ended = true;
        this.stop();
        this.onHalted();
        return;
      }
    }
    for (const v of this.vcpus) v.probe();
    this.asked = true;
  }
}
