// ESLint for the TypeScript sources with type information, and for the few plain JavaScript scripts without.
//
// The TypeScript rules are typescript-eslint's strictTypeChecked set (which includes recommendedTypeChecked): its
// extra rules (no-unnecessary-condition, no-unnecessary-type-assertion, unknown in catch callbacks, ...) found real
// dead code and stale assertions here. Three of its rules are relaxed below because, on this code, they were almost
// all noise; each says why.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    // Build outputs, the native addon's sources, and what the guest builds and the tests leave behind.
    ignores: ['dist/', 'build/', 'node_modules/', 'native/', 'test/guest/out/', '.cache/', '.test-results/'],
  },
  {
    files: ['**/*.ts'],
    extends: [js.configs.recommended, ...tseslint.configs.strictTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // node:test's test()/describe() return promises that the runner itself awaits; every other promise must be
      // awaited, returned, or marked with `void` where it deliberately runs on its own.
      '@typescript-eslint/no-floating-promises': ['error', {
        allowForKnownSafeCalls: [{
          from: 'package', package: 'node:test',
          name: ['test', 'it', 'describe', 'suite', 'before', 'after', 'beforeEach', 'afterEach'],
        }],
      }],
      // noUncheckedIndexedAccess is on: `!` marks an index the code just proved in range (typed arrays of fixed
      // layout, loops bounded by length); indices that come from outside are checked instead.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // Numbers in messages and paths are the point of most templates here; objects and nullish still must not be.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      // `() => void f()`-style shorthand in callbacks is a style choice, not a bug; it flagged nearly 300 of them.
      '@typescript-eslint/no-confusing-void-expression': 'off',
      // As tsc's noUnusedParameters: a leading underscore marks a parameter an interface makes a method take.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' }],
      // `this: void` is how a function taken off the native addon says it needs no receiver (see unbound-method).
      '@typescript-eslint/no-invalid-void-type': ['error', { allowAsThisParameter: true }],
      // A callback made before the variable is assigned may read it (`let device; ... device = new ...`).
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // Passing on what a catch caught (unknown) is a rethrow; anything else rejected must be an Error.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Fakes stand in for async interfaces (runMachine, build, ...) with bodies that have nothing to wait for.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    extends: [js.configs.recommended],
    languageOptions: { sourceType: 'commonjs', globals: globals.node },
  },
  {
    files: ['**/*.mjs'],
    extends: [js.configs.recommended],
    languageOptions: { sourceType: 'module', globals: globals.node },
  },
);
