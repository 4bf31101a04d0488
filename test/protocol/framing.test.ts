import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LIMITS, MESSAGE_TYPE_IDS } from '../../src/protocol/codec.ts';
import { encodeFrame, encodeFrameParts, FRAME_HEADER_BYTES, FrameDecoder, type Frame } from '../../src/protocol/framing.ts';
import { Priority, type Message } from '../../src/protocol/messages.ts';
import { allSamples, sampleMessages } from './samples.ts';

const MAX = 1024 * 1024;

function concat(parts: Uint8Array[]): Uint8Array {
  return Buffer.concat(parts);
}

function errorName(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as Error).name;
  }
  return 'no error';
}

describe('framing: encodeFrame', () => {
  test('header layout: u32 BE length, type id, priority, u32 BE request id, payload', () => {
    const frame = encodeFrame({ type: 'ping', nonce: 0x01020304 }, 0xa1b2c3d4);
    assert.equal(frame.length, FRAME_HEADER_BYTES + 4);
    assert.deepEqual([...frame.subarray(0, 10)], [0, 0, 0, 10, MESSAGE_TYPE_IDS.ping, Priority.Interactive, 0xa1, 0xb2, 0xc3, 0xd4]);
  });

  test('chunks are bulk, everything else interactive', () => {
    for (const msg of allSamples) {
      assert.equal(encodeFrame(msg)[5], msg.type === 'chunk' ? Priority.Bulk : Priority.Interactive, msg.type);
    }
  });

  test('a 16 kB chunk frame is 16 kB plus a small header', () => {
    const frame = encodeFrame(sampleMessages.chunk[0]!, 1);
    assert.ok(frame.length > 16384 && frame.length < 16384 + 100, `${frame.length}`);
  });

  test('encodeFrameParts: the same bytes, with a chunk\'s audio as its own, uncopied part', () => {
    for (const msg of allSamples) {
      const parts = encodeFrameParts(msg, 99);
      assert.deepEqual(Buffer.concat(parts), Buffer.from(encodeFrame(msg, 99)), msg.type);
      if (msg.type === 'chunk' && msg.data.length >= 1024) {
        assert.equal(parts.length, 2);
        assert.equal(parts[1], msg.data);
      } else {
        assert.equal(parts.length, 1);
      }
    }
    assert.equal(errorName(() => encodeFrameParts(sampleMessages.chunk[0]!, 1, { maxFrameBytes: 16384 })), 'FrameTooLargeError');
    assert.equal(errorName(() => encodeFrameParts({ ...sampleMessages.chunk[0]!, data: new Uint8Array(LIMITS.chunkDataBytes + 1) })), 'InvalidFieldError');
    assert.equal(errorName(() => encodeFrameParts({ ...sampleMessages.chunk[0]!, index: -1 })), 'InvalidFieldError');
  });

  test('refuses a frame above maxFrameBytes, and request ids outside u32', () => {
    assert.equal(errorName(() => encodeFrame(sampleMessages.chunk[0]!, 1, { maxFrameBytes: 16384 })), 'FrameTooLargeError');
    assert.equal(errorName(() => encodeFrame({ type: 'cancel' }, 2 ** 32)), 'RangeError');
    assert.equal(errorName(() => encodeFrame({ type: 'cancel' }, -1)), 'RangeError');
  });
});

describe('framing: FrameDecoder', () => {
  const frames = allSamples.map((m, i) => ({ msg: m, requestId: i * 7919 + 1 }));
  const stream = concat(frames.map(({ msg, requestId }) => encodeFrame(msg, requestId)));
  const expected: Frame[] = frames.map(({ msg, requestId }) => ({
    requestId,
    priority: msg.type === 'chunk' ? Priority.Bulk : Priority.Interactive,
    message: msg,
  }));

  test('decodes many frames pushed at once', () => {
    assert.deepStrictEqual(new FrameDecoder({ maxFrameBytes: MAX }).push(stream), expected);
  });

  test('decodes the same frames pushed one byte at a time', () => {
    const decoder = new FrameDecoder({ maxFrameBytes: MAX });
    const out: Frame[] = [];
    for (let i = 0; i < stream.length; i++) out.push(...decoder.push(stream.subarray(i, i + 1)));
    assert.deepStrictEqual(out, expected);
    assert.equal(decoder.bufferedBytes, 0);
  });

  test('decodes the same frames pushed in uneven pieces', () => {
    const decoder = new FrameDecoder({ maxFrameBytes: MAX });
    const out: Frame[] = [];
    let size = 1;
    for (let i = 0; i < stream.length; i += size, size = (size * 7 + 3) % 5003) {
      out.push(...decoder.push(stream.subarray(i, i + size)));
    }
    assert.deepStrictEqual(out, expected);
  });

  test('a frame whole in one push decodes its chunk data in place', () => {
    const frame = encodeFrame(sampleMessages.chunk[0]!, 3);
    const [decoded] = new FrameDecoder({ maxFrameBytes: MAX }).push(frame);
    const msg = decoded!.message as Extract<Message, { type: 'chunk' }>;
    assert.equal(msg.data.buffer, frame.buffer);
  });

  test('an oversized length is refused as soon as its 4 bytes arrive, before buffering anything', () => {
    const decoder = new FrameDecoder({ maxFrameBytes: 1000 });
    assert.deepEqual(decoder.push(Uint8Array.of(0, 0)), []);
    assert.equal(errorName(() => decoder.push(Uint8Array.of(3, 0xe9))), 'FrameTooLargeError');
    assert.equal(decoder.bufferedBytes, 0);
    // a 4 GB claim is refused the same way
    assert.equal(errorName(() => new FrameDecoder({ maxFrameBytes: 1000 }).push(Uint8Array.of(0xff, 0xff, 0xff, 0xff))), 'FrameTooLargeError');
  });

  test('a length exactly at the limit is accepted', () => {
    const msg = { type: 'bye', reason: 'x'.repeat(100) } as const;
    const frame = encodeFrame(msg);
    const limit = frame.length - 4;
    assert.equal(new FrameDecoder({ maxFrameBytes: limit }).push(frame)[0]!.message.type, 'bye');
    assert.equal(errorName(() => new FrameDecoder({ maxFrameBytes: limit - 1 }).push(frame)), 'FrameTooLargeError');
  });

  test('malformed headers', () => {
    const d = () => new FrameDecoder({ maxFrameBytes: MAX });
    assert.equal(errorName(() => d().push(Uint8Array.of(0, 0, 0, 5, 1, 0, 0, 0, 0))), 'MalformedFrameError');
    assert.equal(errorName(() => d().push(Uint8Array.of(0, 0, 0, 0))), 'MalformedFrameError');
    assert.equal(errorName(() => d().push(Uint8Array.of(0, 0, 0, 6, MESSAGE_TYPE_IDS.cancel, 2, 0, 0, 0, 1))), 'MalformedFrameError');
    assert.ok(!(Object.values(MESSAGE_TYPE_IDS) as number[]).includes(250));
    assert.equal(errorName(() => d().push(Uint8Array.of(0, 0, 0, 6, 250, 0, 0, 0, 0, 1))), 'UnknownMessageTypeError');
    assert.equal(errorName(() => d().push(Uint8Array.of(0, 0, 0, 7, MESSAGE_TYPE_IDS.cancel, 0, 0, 0, 0, 1, 0))), 'TrailingBytesError');
    assert.equal(errorName(() => d().push(Uint8Array.of(0, 0, 0, 7, MESSAGE_TYPE_IDS.ping, 0, 0, 0, 0, 1, 0))), 'TruncatedError');
  });

  test('after an error the decoder stays failed', () => {
    const decoder = new FrameDecoder({ maxFrameBytes: MAX });
    assert.equal(errorName(() => decoder.push(Uint8Array.of(0, 0, 0, 1))), 'MalformedFrameError');
    assert.equal(errorName(() => decoder.push(encodeFrame({ type: 'cancel' }))), 'MalformedFrameError');
  });

  test('holds at most one frame', () => {
    const decoder = new FrameDecoder({ maxFrameBytes: MAX });
    const frame = encodeFrame(sampleMessages.chunk[0]!, 1);
    const two = concat([frame, frame]);
    decoder.push(two.subarray(0, frame.length + 100));
    assert.equal(decoder.bufferedBytes, 100);
  });
});
