// The commands and options of `tsvmm`, as data: the yargs builders in cli.ts take their options from here, and
// shell completion and the "did you mean" hints read the same tree, so none of them can name an option that
// another does not know.
import type { Options } from 'yargs';
import { EXEC_OPTIONS, SANDBOX_RUN_OPTIONS } from './exec-command';
import { GUEST_ARTIFACTS } from './guest-command';
import { IMAGE_BUILD_OPTIONS } from './image-command';
import { RUN_OPTIONS } from './run-command';

export interface CommandNode {
  options: Readonly<Record<string, Options>>;
  commands?: Readonly<Record<string, CommandNode>>;
  /** What a positional argument can be: fixed words, or files. */
  positional?: readonly string[] | 'file';
}

export const GUEST_BUILD_OPTIONS: Readonly<Record<string, Options>> = {
  force: { type: 'boolean', default: false, describe: 'rebuild even when up to date' },
};

export const DOCTOR_OPTIONS: Readonly<Record<string, Options>> = {
  json: { type: 'boolean', default: false, describe: 'the report as JSON' },
};

export const COMPLETION_SHELLS = ['bash', 'zsh'] as const;

/** Options every command takes. */
export const GLOBAL_FLAGS = ['help', 'version'] as const;

export const COMMAND_TREE: CommandNode = {
  options: {},
  commands: {
    run: { options: RUN_OPTIONS, positional: 'file' },
    exec: { options: EXEC_OPTIONS },
    sandbox: { options: {}, commands: { run: { options: SANDBOX_RUN_OPTIONS } } },
    guest: {
      options: {},
      commands: {
        build: { options: GUEST_BUILD_OPTIONS },
        path: { options: {}, positional: GUEST_ARTIFACTS.map((n) => `@guest/${n}`) },
      },
    },
    image: { options: {}, commands: { build: { options: IMAGE_BUILD_OPTIONS } } },
    doctor: { options: DOCTOR_OPTIONS },
    completion: { options: {}, positional: COMPLETION_SHELLS },
  },
};

/** The command named by the words before the first option (`guest path x` -> guest path) and its node. */
export function commandAt(argv: readonly string[]): { path: string[]; node: CommandNode } {
  const path: string[] = [];
  let node = COMMAND_TREE;
  for (const word of argv) {
    if (word.startsWith('-')) break;
    const next = node.commands?.[word];
    if (!next) break;
    path.push(word);
    node = next;
  }
  return { path, node };
}
