/**
 * The project's own rules, checked with the real tools: the whole tree type-checks and lints
 * clean, and the lint rule that keeps src/core/ pure (DESIGN §2) really rejects time,
 * randomness and I/O there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ESLint } from 'eslint';
import { ROOT, run } from '../helpers/processes.ts';

test('src/core/ may not read the clock, draw random numbers or do I/O', async () => {
  const eslint = new ESLint({ cwd: ROOT });
  const forbidden = [
    'export const t = Date.now();',
    'export const r = Math.random();',
    'export const p = performance.now();',
    'setTimeout(() => {}, 1);',
    'setInterval(() => {}, 1);',
    "import { readFileSync } from 'node:fs';\nexport const f = readFileSync;",
    "import net from 'net';\nexport const n = net;",
    'export const d = new Date();',
  ];
  for (const code of forbidden) {
    const [result] = await eslint.lintText(code, { filePath: path.join(ROOT, 'src/core/probe.ts') });
    assert.ok(result!.errorCount > 0, `lint must reject in src/core: ${code}`);
  }
  const [allowed] = await eslint.lintText('export const twice = (n: number): number => 2 * n;', { filePath: path.join(ROOT, 'src/core/probe.ts') });
  assert.equal(allowed!.errorCount, 0);
  // Outside the core, the runtime may use the clock.
  const [runtime] = await eslint.lintText('export const t = Date.now();', { filePath: path.join(ROOT, 'src/client/probe.ts') });
  assert.equal(runtime!.errorCount, 0);
});

test('the whole tree lints clean', async () => {
  const eslint = new ESLint({ cwd: ROOT });
  const results = await eslint.lintFiles(['src', 'test', 'bench']);
  const errors = results.filter((r) => r.errorCount > 0).map((r) => `${path.relative(ROOT, r.filePath)}: ${r.messages.map((m) => `${m.line}: ${m.message}`).join('; ')}`);
  assert.deepEqual(errors, []);
});

test('the whole tree type-checks (strict)', async () => {
  const r = await run(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', ROOT]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
});
