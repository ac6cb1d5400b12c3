// Changing the log level of a running machine (PUT /logger). A pino child copies its parent's level when it is
// made and keeps its own from then on, so setting the root's level alone would leave every component's logger
// (serial, vcpuN, virtio-blk, ...) where it was. A LoggerFamily learns of each descendant through pino's onChild
// hook, which children inherit from the logger it is set on, and sets them all.
import type { Logger } from 'pino';
import type { LogLevel } from '../vmm/config';

class LoggerFamily {
  private readonly members = new Set<WeakRef<Logger>>();

  constructor(root: Logger) {
    this.members.add(new WeakRef(root));
    const before = root.onChild;
    // Children inherit onChild from their parent's prototype chain: grandchildren are reported here too.
    root.onChild = (child: Logger): void => {
      this.members.add(new WeakRef(child));
      before.call(root, child);
    };
  }

  setLevel(level: LogLevel): void {
    for (const ref of this.members) {
      const logger = ref.deref();
      if (logger) logger.level = level;
      else this.members.delete(ref);
    }
  }
}

const families = new WeakMap<Logger, LoggerFamily>();

/**
 * Starts following `root`'s descendants made from now on (idempotent). Call it before the loggers whose level
 * should follow are made.
 */
export function followLevels(root: Logger): void {
  if (!families.has(root)) families.set(root, new LoggerFamily(root));
}

/** Sets the level of `root` and of every logger made from it since followLevels(root). */
export function setLevels(root: Logger, level: LogLevel): void {
  followLevels(root);
  families.get(root)!.setLevel(level);
}
