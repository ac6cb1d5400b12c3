// Runs a property over generated cases for a time budget. In `npm test` each property gets a fixed seed and a short
// budget (the same cases every run, as far as the budget reaches); `npm run fuzz` sets TSVMM_FUZZ_SECONDS and
// either TSVMM_FUZZ_SEED (replay) or nothing (a fresh random seed per property). Case k of a run uses seed + k, so
// the seed a failure names reproduces it as the first case of `npm run fuzz -- --seed N`.
import { Rand } from './prng';

export interface FuzzPlan {
  seed: number;
  budgetMs: number;
  /** At least this many cases, however long they take (so a slow host still tries something). */
  minCases: number;
}

/** The plan for one property: `testMs` is its share of `npm test`. */
export function plan(testMs: number, fixedSeed: number): FuzzPlan {
  const seconds = Number(process.env.TSVMM_FUZZ_SECONDS);
  const seedText = process.env.TSVMM_FUZZ_SEED;
  const seed = seedText !== undefined && seedText !== '' ? Number(seedText) >>> 0
    : Number.isFinite(seconds) ? (Math.random() * 0x1_0000_0000) >>> 0 : fixedSeed;
  return { seed, budgetMs: Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : testMs, minCases: 3 };
}

export class FuzzFailure extends Error {
  constructor(readonly property: string, readonly caseSeed: number, cause: unknown) {
    super(`${property}: case seed ${caseSeed} failed (replay: npm run fuzz -- --seed ${caseSeed} --seconds 1): `
      + (cause instanceof Error ? cause.stack ?? cause.message : String(cause)), { cause });
    this.name = 'FuzzFailure';
  }
}

/** Runs `check` on fresh generators until the budget is spent; returns how many cases ran. */
export async function forAll(name: string, p: FuzzPlan, check: (r: Rand) => void | Promise<void>): Promise<number> {
  const t0 = performance.now();
  let k = 0;
  while (k < p.minCases || performance.now() - t0 < p.budgetMs) {
    const caseSeed = (p.seed + k) >>> 0;
    // A case that kills the process (out of memory) or hangs cannot report its seed afterwards.
    if (process.env.TSVMM_FUZZ_TRACE) process.stderr.write(`fuzz ${name} case seed ${caseSeed}\n`);
    try {
      await check(new Rand(caseSeed));
    } catch (e) {
      console.error(`FUZZ FAILURE ${name} seed=${caseSeed}`);
      throw new FuzzFailure(name, caseSeed, e);
    }
    k++;
  }
  if (process.env.TSVMM_FUZZ_SECONDS !== undefined) console.log(`# fuzz ${name}: ${k} cases from seed ${p.seed}`);
  return k;
}
