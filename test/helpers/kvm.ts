// What integration tests need to know about the host before they boot anything.
import * as fs from 'node:fs';

/** Why guests cannot be booted here, or undefined when /dev/kvm is usable. */
export function kvmUnavailable(): string | undefined {
  try {
    fs.accessSync('/dev/kvm', fs.constants.R_OK | fs.constants.W_OK);
    return undefined;
  } catch (e) {
    return `/dev/kvm is not usable here (${(e as NodeJS.ErrnoException).code}): booting guests needs KVM`;
  }
}
