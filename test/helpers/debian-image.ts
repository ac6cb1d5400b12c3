// The Debian root image that test/integration/sandbox-image.test.ts boots (bookworm minbase with python3-minimal).
// debootstrap needs the network, which the test host does not have: `npm test` builds it on this machine before
// the test host starts (prepareDebianTestImage) and writes the outcome, the image's path or the build's error, to
// .test-results/, which the test host sees through its share of the checkout. The test reads that file; run
// without it (on its own, where KVM is real), the test builds the image itself.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { systemMirror } from '../../src/guest/debian-image';
import { ensureDebianImage } from '../../src/guest/image-build';
import { resultsDir } from '../run/files';

export const DEBIAN_TEST_IMAGE = { suite: 'bookworm', packages: ['python3-minimal'] } as const;
/** The integration file that needs the image (the runner builds it only when that file is selected). */
export const DEBIAN_IMAGE_TEST_FILE = 'sandbox-image.test.js';

type Outcome = { image: string } | { error: string };

function outcomeFile(): string {
  return path.join(resultsDir(), 'sandbox-image-debian.json');
}

async function build(log: (line: string) => void): Promise<string> {
  const request = { ...DEBIAN_TEST_IMAGE, packages: [...DEBIAN_TEST_IMAGE.packages], mirror: systemMirror() };
  return (await ensureDebianImage(request, { log })).path;
}

/** Builds (or finds in the cache) the image and records the outcome for the test; never throws. */
export async function prepareDebianTestImage(log: (line: string) => void): Promise<void> {
  let outcome: Outcome;
  try {
    outcome = { image: await build(log) };
  } catch (e) {
    outcome = { error: e instanceof Error ? e.message : String(e) };
    log(`[test] the Debian image for ${DEBIAN_IMAGE_TEST_FILE} could not be built; that test will fail: ${outcome.error.split('\n')[0]}`);
  }
  fs.mkdirSync(resultsDir(), { recursive: true });
  fs.writeFileSync(outcomeFile(), `${JSON.stringify(outcome)}\n`);
}

/** The image's path: the runner's outcome when it left one, else built here. Throws the build's reason. */
export async function debianTestImage(log: (line: string) => void): Promise<string> {
  let recorded: Outcome | undefined;
  try {
    recorded = JSON.parse(fs.readFileSync(outcomeFile(), 'utf8')) as Outcome;
  } catch {
    recorded = undefined;
  }
  if (recorded && 'error' in recorded) {
    throw new Error(`the Debian image (built before the test host started) failed to build: ${recorded.error}`);
  }
  if (recorded && fs.existsSync(recorded.image)) return recorded.image;
  return build(log);
}
