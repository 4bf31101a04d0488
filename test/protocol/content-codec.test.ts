/** The codec of the content-protection messages: chunk hashes and file keys (issue 6). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeMessage, encodeMessage, LIMITS, MESSAGE_TYPE_IDS } from '../../src/protocol/codec.ts';
import { InvalidFieldError, TruncatedError } from '../../src/protocol/errors.ts';
import { defaultConfig } from '../../src/core/config.ts';
import { sampleFileId } from './samples.ts';
import { throwsNamed } from './assertions.ts';

test('a 10 MB track\'s 640 hashes fit one frame, and the largest answer fits half a frame', () => {
  const tenMb = { type: 'chunk-hashes' as const, fileId: sampleFileId, chunkSize: 16384, total: 640, first: 0, hashes: new Uint8Array(640 * 32).fill(7) };
  const payload = encodeMessage(tenMb);
  assert.ok(payload.length < 640 * 32 + 64, `${payload.length} bytes`);
  assert.deepEqual(decodeMessage(MESSAGE_TYPE_IDS['chunk-hashes'], payload), tenMb);
  const largest = encodeMessage({ ...tenMb, total: 1 << 20, hashes: new Uint8Array(LIMITS.chunkHashBytes) });
  assert.ok(largest.length <= defaultConfig.maxFrameBytes / 2 + 64, `${largest.length} bytes`);
});

test('hashes and keys keep their bounds both ways', () => {
  const base = { type: 'chunk-hashes' as const, fileId: sampleFileId, chunkSize: 16384, total: 1, first: 0, hashes: new Uint8Array(32) };
  throwsNamed(() => encodeMessage({ ...base, hashes: new Uint8Array(LIMITS.chunkHashBytes + 1) }), InvalidFieldError, 'hashes');
  throwsNamed(() => encodeMessage({ ...base, fileId: 'x' }), InvalidFieldError, 'fileId');
  throwsNamed(() => encodeMessage({ type: 'file-key', fileId: sampleFileId, key: new Uint8Array(LIMITS.contentKeyBytes + 1), iv: new Uint8Array(16) }), InvalidFieldError, 'key');
  throwsNamed(() => encodeMessage({ type: 'get-file-key', fileId: 'A'.repeat(64) }), InvalidFieldError, 'fileId');
  const ok = encodeMessage(base);
  throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS['chunk-hashes'], ok.subarray(0, ok.length - 1)), TruncatedError, 'hashes');
  const key = encodeMessage({ type: 'file-key', fileId: sampleFileId, key: new Uint8Array(32), iv: new Uint8Array(16) });
  assert.equal(key.length, 32 + 1 + 32 + 1 + 16);
  throwsNamed(() => decodeMessage(MESSAGE_TYPE_IDS['file-key'], key.subarray(0, 40)), TruncatedError, 'key');
});
