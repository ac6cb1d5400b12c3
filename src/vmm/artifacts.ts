// `@guest/...` names in a config are built guest artifacts; they become paths just before a machine is made.
import type { MachineConfig } from './config';

/** Replaces `@guest/` kernel and initrd names with their paths, building the artifacts on first use. */
export async function resolveArtifacts(config: MachineConfig, progress: (line: string) => void): Promise<MachineConfig> {
  const resolve = async (ref: string): Promise<string> => {
    if (!ref.startsWith('@guest/')) return ref;
    // Loaded only when a guest artifact is named: building guests is not the run path's business otherwise.
    const { resolveGuestArtifact } = await import('../guest/build');
    return resolveGuestArtifact(ref, { log: progress });
  };
  const kernel = await resolve(config.kernel);
  const initrd = config.initrd ? await resolve(config.initrd) : undefined;
  return { ...config, kernel, ...(initrd ? { initrd } : {}) };
}
