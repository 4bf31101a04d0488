import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { DirStore, FileNotFoundError, StoreClosedError } from '../../src/server/dir-store.ts';
import { tempDir } from './storage-fixtures.ts';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Every file under `root` except in tmp/, as relative paths. */
function storedFiles(root: string): string[] {
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)))
    .filter((p) => !p.startsWith('tmp'));
}

describe('DirStore', () => {
  const tmp = tempDir();
  after(() => tmp.cleanup());
  let n = 0;
  const freshRoot = () => path.join(tmp.dir, `store${++n}`);
  const source = (bytes: number) => {
    const data = randomBytes(bytes);
    const file = path.join(tmp.dir, `src-${++n}.bin`);
    writeFileSync(file, data);
    return { file, data, id: sha(data) };
  };

  it('stores a file under its sha256 and reads it back', async () => {
    const root = freshRoot();
    const store = new DirStore(root);
    const { file, data, id } = source(300_000);
    const put = await store.putFile(file);
    assert.deepEqual(put, { fileId: id, bytes: data.length });
    assert.ok(existsSync(path.join(root, id.slice(0, 2), id)));
    assert.equal(await store.size(id), data.length);
    assert.deepEqual(await store.read(id, 0, data.length), data);
    assert.deepEqual(await store.read(id, 1000, 16384), data.subarray(1000, 17384));
    assert.deepEqual(await store.read(id, data.length - 10, 100), data.subarray(data.length - 10), 'short at the end');
    assert.equal((await store.read(id, data.length + 5, 100)).length, 0);
    assert.equal((await store.read(id, 0, 0)).length, 0);
    await store.close();
  });

  it('stores empty files', async () => {
    const store = new DirStore(freshRoot());
    const { file, id } = source(0);
    assert.deepEqual(await store.putFile(file), { fileId: id, bytes: 0 });
    assert.equal(await store.size(id), 0);
    await store.close();
  });

  it('answers unknown and malformed ids without touching other paths', async () => {
    const store = new DirStore(freshRoot());
    const missing = '0'.repeat(64);
    assert.equal(await store.size(missing), undefined);
    await assert.rejects(store.read(missing, 0, 10), FileNotFoundError);
    for (const bad of ['../../etc/passwd', 'A'.repeat(64), '0'.repeat(63), '', 'tmp']) {
      assert.equal(await store.size(bad), undefined);
      await assert.rejects(store.read(bad, 0, 10), RangeError);
    }
    const { file, id } = source(10);
    await store.putFile(file);
    await assert.rejects(store.read(id, -1, 10), RangeError);
    await assert.rejects(store.read(id, 0, 1.5), RangeError);
    await assert.rejects(store.read(id, 0, 2 ** 40), RangeError);
    await store.close();
  });

  it('is idempotent, also for concurrent puts of the same file', async () => {
    const root = freshRoot();
    const store = new DirStore(root);
    const { file, data, id } = source(2_000_000);
    const results = await Promise.all(Array.from({ length: 12 }, () => store.putFile(file)));
    for (const r of results) assert.deepEqual(r, { fileId: id, bytes: data.length });
    assert.deepEqual(await store.putFile(file), { fileId: id, bytes: data.length });
    assert.deepEqual(storedFiles(root), [path.join(id.slice(0, 2), id)]);
    assert.deepEqual(readdirSync(path.join(root, 'tmp')), [], 'no temp files left');
    assert.deepEqual(readFileSync(path.join(root, id.slice(0, 2), id)), data);
    await store.close();
  });

  it('leaves nothing behind when a put fails', async () => {
    const root = freshRoot();
    const store = new DirStore(root);
    await assert.rejects(store.putFile(path.join(tmp.dir, 'does-not-exist')), /ENOENT/);
    await assert.rejects(store.putFile(tmp.dir), /EISDIR/);
    assert.deepEqual(storedFiles(root), []);
    assert.deepEqual(readdirSync(path.join(root, 'tmp')), []);
    await store.close();
  });

  it('never leaves a half file under a final name when the process dies mid-put; open cleans up', async () => {
    const root = freshRoot();
    mkdirSync(root, { recursive: true });
    const fifo = path.join(tmp.dir, `fifo-${++n}`);
    execFileSync('mkfifo', [fifo]);
    const storeUrl = pathToFileURL(path.resolve('src/server/dir-store.ts')).href;
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e',
        `import { DirStore } from ${JSON.stringify(storeUrl)}; await new DirStore(${JSON.stringify(root)}).putFile(${JSON.stringify(fifo)});`],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    const writer = await open(fifo, 'w');
    await writer.write(randomBytes(1_000_000));
    // Wait until the child has written part of the data to its temp file.
    const tmpDir = path.join(root, 'tmp');
    let partial = '';
    for (let i = 0; i < 200 && !partial; i++) {
      await sleep(25);
      const names = existsSync(tmpDir) ? readdirSync(tmpDir) : [];
      partial = names.find((f) => statSync(path.join(tmpDir, f)).size > 0) ?? '';
    }
    assert.ok(partial, 'the child started writing a temp file');
    child.kill('SIGKILL');
    await exited;
    await writer.close().catch(() => undefined);
    assert.deepEqual(storedFiles(root), [], 'no file under a final name');
    assert.deepEqual(readdirSync(tmpDir), [partial], 'the partial temp file is still there');
    const reopened = new DirStore(root);
    assert.deepEqual(readdirSync(tmpDir), [], 'open removed the dead process\'s temp file');
    await reopened.close();
  });

  it('keeps a temp file of a live process at open', async () => {
    const root = freshRoot();
    mkdirSync(path.join(root, 'tmp'), { recursive: true });
    const mine = path.join(root, 'tmp', `put-${process.pid}-0123456789abcdef`);
    writeFileSync(mine, 'x');
    const store = new DirStore(root);
    assert.ok(existsSync(mine));
    await store.close();
  });

  it('serves many concurrent reads through a bounded set of open handles', async () => {
    const store = new DirStore(freshRoot(), { maxOpenFiles: 3 });
    const files: { file: string; data: Buffer; id: string }[] = [];
    for (let i = 0; i < 10; i++) {
      const s = source(50_000 + i);
      await store.putFile(s.file);
      files.push(s);
    }
    const reads = Array.from({ length: 400 }, (_, i) => {
      const f = files[(i * 7) % files.length]!;
      const off = (i * 997) % f.data.length;
      return store.read(f.id, off, 4096).then((b) => assert.deepEqual(b, f.data.subarray(off, off + 4096)));
    });
    await Promise.all(reads);
    assert.ok(store.openHandles <= 3, `${store.openHandles} handles open`);
    await store.close();
    await assert.rejects(store.read(files[0]!.id, 0, 1), StoreClosedError);
    await assert.rejects(store.putFile(files[0]!.file), StoreClosedError);
  });
});
