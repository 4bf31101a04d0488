// ESLint flat config. The block for src/core/ enforces the sans-IO rule of DESIGN §2:
// cores get time and randomness injected and never touch sockets or files, so the
// simulator can run exactly the code the product runs.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const ioModules = [
  'fs', 'fs/promises', 'net', 'tls', 'http', 'https', 'http2', 'dgram', 'child_process',
  'worker_threads', 'cluster', 'timers', 'timers/promises', 'readline', 'dns', 'os', 'process',
];

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'web/**/*.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
      'no-empty': ['error', { allowEmptyCatch: true }],
    },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-globals': ['error',
        { name: 'setTimeout', message: 'core is sans-IO: take time from the injected Clock and return timer effects' },
        { name: 'setInterval', message: 'core is sans-IO: return timer effects instead' },
        { name: 'setImmediate', message: 'core is sans-IO' },
        { name: 'performance', message: 'core is sans-IO: take time from the injected Clock' },
        { name: 'process', message: 'core is sans-IO' },
        { name: 'fetch', message: 'core is sans-IO' },
      ],
      'no-restricted-properties': ['error',
        { object: 'Date', property: 'now', message: 'core is sans-IO: take time from the injected Clock' },
        { object: 'Math', property: 'random', message: 'core is sans-IO: use the injected Rng' },
        { object: 'performance', property: 'now', message: 'core is sans-IO: take time from the injected Clock' },
        { object: 'globalThis', property: 'setTimeout', message: 'core is sans-IO' },
      ],
      'no-restricted-syntax': ['error',
        { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'core is sans-IO: take time from the injected Clock' },
      ],
      'no-restricted-imports': ['error', {
        paths: ioModules.flatMap((m) => [m, `node:${m}`]).map((name) => ({ name, message: 'core is sans-IO: no I/O modules' })),
      }],
    },
  },
);
