import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadOrCreatePeerId } from '../../src/client/daemon.ts';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tunemesh-peer-id-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('peer id: created once as 16 random bytes in hex, then read back', () =>
  withDir(async (dir) => {
    const file = path.join(dir, 'peer-id');
    const id = await loadOrCreatePeerId(file);
    assert.match(id, /^[0-9a-f]{32}$/);
    assert.equal((await readFile(file, 'utf8')).trim(), id);
    assert.equal(await loadOrCreatePeerId(file), id);
    // no temporary files left behind
    assert.deepEqual(await readdir(dir), ['peer-id']);
    // another directory, another id
    await withDir(async (other) => assert.notEqual(await loadOrCreatePeerId(path.join(other, 'peer-id')), id));
  }));

test('peer id: concurrent starts agree on one id', () =>
  withDir(async (dir) => {
    const file = path.join(dir, 'peer-id');
    const ids = await Promise.all(Array.from({ length: 8 }, () => loadOrCreatePeerId(file)));
    assert.equal(new Set(ids).size, 1);
    assert.equal((await readFile(file, 'utf8')).trim(), ids[0]);
    assert.deepEqual(await readdir(dir), ['peer-id']);
  }));

test('peer id: an id written by hand is kept; a file with no valid id is replaced', () =>
  withDir(async (dir) => {
    const file = path.join(dir, 'peer-id');
    await writeFile(file, 'abc123\n');
    assert.equal(await loadOrCreatePeerId(file), 'abc123');
    for (const bad of ['', 'ABC', 'not hex', 'a'.repeat(65)]) {
      await writeFile(file, bad);
      const lines: string[] = [];
      const id = await loadOrCreatePeerId(file, (l) => lines.push(l));
      assert.match(id, /^[0-9a-f]{32}$/, JSON.stringify(bad));
      assert.equal((await readFile(file, 'utf8')).trim(), id);
      assert.equal(lines.length, 1);
    }
  }));
