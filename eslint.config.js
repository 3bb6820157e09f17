// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** What the pure Raft core may not touch: a failing simulator seed must replay exactly. */
const impureImports = {
  patterns: [
    { group: ['node:*', 'fs', 'net', 'level', 'classic-level', '@grpc/*', 'pino'], message: 'src/raft is pure: no I/O.' },
    { group: ['../storage/*', '../transport/*', '../server/*', '../kv/*', '../client/*'], message: 'src/raft depends on nothing outside itself.' },
  ],
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    // The live cluster page's script runs in the browser, as a module, with no build step.
    files: ['web/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: Object.fromEntries(['window', 'document', 'location', 'fetch', 'AbortSignal', 'performance', 'setTimeout', 'globalThis'].map((name) => [name, 'readonly'])),
    },
  },
  {
    files: ['src/raft/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', impureImports],
      'no-restricted-globals': ['error',
        { name: 'setTimeout', message: 'Raft time is ticks.' },
        { name: 'setInterval', message: 'Raft time is ticks.' },
        { name: 'setImmediate', message: 'Raft time is ticks.' },
        { name: 'process', message: 'src/raft is pure.' },
      ],
      'no-restricted-properties': ['error',
        { object: 'Math', property: 'random', message: 'Use the injected Rng.' },
        { object: 'Date', property: 'now', message: 'Raft time is ticks.' },
      ],
      'no-restricted-syntax': ['error',
        { selector: 'NewExpression[callee.name="Date"]', message: 'Raft time is ticks.' },
        { selector: 'FunctionDeclaration[async=true]', message: 'The core is synchronous.' },
        { selector: 'ArrowFunctionExpression[async=true]', message: 'The core is synchronous.' },
        { selector: 'FunctionExpression[async=true]', message: 'The core is synchronous.' },
      ],
    },
  },
);
