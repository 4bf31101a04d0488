import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { cryptAt, counterAt, fileCipher, ContentKeyError } from '../../src/core/content-cipher.ts';
import { ChunkHasher, hashChunks, verifyChunk, checkHashList, chunkHash, ChunkHashListError } from '../../src/core/chunk-hashes.ts';

const key = { key: randomBytes(32), iv: randomBytes(16) };

test('any byte range decrypts on its own to the plaintext at that offset', () => {
  const plain = randomBytes(100_000);
  const cipher = fileCipher(key).update(plain);
  assert.equal(cipher.length, plain.length);
  assert.notDeepEqual(cipher.subarray(0, 64), plain.subarray(0, 64));
  fc.assert(
    fc.property(fc.nat(plain.length), fc.nat(5000), (start, len) => {
      const end = Math.min(plain.length, start + len);
      assert.deepEqual(cryptAt(key, start, cipher.subarray(start, end)), plain.subarray(start, end));
    }),
    { seed: 42, numRuns: 300 },
  );
});

test('the counter carries across bytes like AES-CTR does (an iv near the wrap)', () => {
  const iv = Buffer.alloc(16, 0xff);
  iv[0] = 0x12;
  const k = { key: key.key, iv };
  const plain = randomBytes(4096);
  const reference = createCipheriv('aes-256-ctr', k.key, iv).update(plain);
  assert.deepEqual(cryptAt(k, 1000, reference.subarray(1000, 3000)), plain.subarray(1000, 3000));
  assert.deepEqual(counterAt(Buffer.alloc(16), 0x1_0000_0001), Buffer.from('00000000000000000000000100000001', 'hex'));
});

test('a key or iv of the wrong length is a typed error', () => {
  assert.throws(() => cryptAt({ key: randomBytes(16), iv: key.iv }, 0, Buffer.alloc(1)), ContentKeyError);
  assert.throws(() => cryptAt({ key: key.key, iv: randomBytes(8) }, 0, Buffer.alloc(1)), ContentKeyError);
});

test('chunk hashes: incremental equals whole, every chunk verifies, a changed byte does not', () => {
  const data = randomBytes(5 * 1000 + 123);
  const whole = hashChunks(data, 1000);
  assert.equal(whole.count, 6);
  checkHashList(whole);
  const inc = new ChunkHasher(1000);
  for (let off = 0; off < data.length; off += 777) inc.update(data.subarray(off, off + 777));
  assert.deepEqual(inc.digest(), whole);
  for (let i = 0; i < 6; i++) assert.equal(verifyChunk(whole, i, data.subarray(i * 1000, (i + 1) * 1000)), true);
  const bad = Buffer.from(data.subarray(2000, 3000));
  bad[17] ^= 1;
  assert.equal(verifyChunk(whole, 2, bad), false);
  assert.equal(verifyChunk(whole, 3, data.subarray(2000, 3000)), false, 'a good chunk at the wrong index fails');
  assert.equal(verifyChunk(whole, 6, data.subarray(0, 10)), false);
  assert.equal(verifyChunk(whole, -1, data.subarray(0, 10)), false);
  assert.deepEqual(whole.hashes.subarray(0, 32), chunkHash(data.subarray(0, 1000)));
  assert.throws(() => checkHashList({ ...whole, count: 7 }), ChunkHashListError);
  assert.equal(hashChunks(new Uint8Array(0), 1000).count, 0);
});
