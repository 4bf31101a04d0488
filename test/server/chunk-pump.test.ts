/**
 * The chunk pump over a real link: every request is answered in full and ends with `chunk-end`,
 * whatever more urgent requests arrive while it is being read, and a store failure answers only
 * the request that hit it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChunkPump, type ChunkReader } from '../../src/server/chunk-pump.ts';
import type { Message } from '../../src/protocol/messages.ts';
import { linkPair, waitFor } from '../net/helpers.ts';

const CHUNK = 1024;
/** 10 full chunks and a partial 11th. */
const SIZE = 10 * CHUNK + 300;

/** A store whose reads wait until the test lets them go, failing like the real one on bad ranges. */
function slowStore(failFor?: string): ChunkReader & { release(): void; reads: number } {
  let waiting: (() => void)[] = [];
  const store = {
    reads: 0,
    release() {
      const w = waiting;
      waiting = [];
      for (const f of w) f();
    },
    async read(fileId: string, offset: number, length: number): Promise<Buffer> {
      store.reads++;
      await new Promise<void>((r) => waiting.push(r));
      if (fileId === failFor) throw new Error('disk gone');
      if (length < 0 || offset + length > SIZE) throw new RangeError(`bad length ${length}`);
      return Buffer.alloc(length, offset / CHUNK);
    },
  };
  return store;
}

/** What the receiving side saw, by request id. */
function collect(link: import('../../src/net/link.ts').Link): Map<number, string[]> {
  const seen = new Map<number, string[]>();
  link.on('message', (msg: Message, requestId: number) => {
    const list = seen.get(requestId) ?? [];
    seen.set(requestId, list);
    if (msg.type === 'chunk') list.push(`chunk ${msg.index}:${msg.data.length}`);
    else list.push(msg.type === 'error' ? `error ${msg.code}` : msg.type);
  });
  return seen;
}

const chunks = (first: number, count: number) =>
  Array.from({ length: count }, (_, k) => `chunk ${first + k}:${first + k === 10 ? 300 : CHUNK}`);

test('a request whose last read overlaps a more urgent arrival still ends with chunk-end, and the others are answered', async () => {
  const { a, b, close } = await linkPair();
  try {
    const seen = collect(b);
    const store = slowStore();
    const pump = new ChunkPump(a, store, CHUNK, 0, () => {});
    let done = 0;
    pump.enqueue({ requestId: 1, fileId: 'f', size: SIZE, first: 0, count: 11, urgency: 5 }, () => done++);
    store.release(); // chunks 0-7
    await waitFor(() => store.reads === 2);
    // While chunks 8-10 (the file's end) are read, two more requests arrive, one more urgent.
    pump.enqueue({ requestId: 3, fileId: 'f', size: SIZE, first: 0, count: 2, urgency: 0 }, () => done++);
    pump.enqueue({ requestId: 5, fileId: 'f', size: SIZE, first: 9, count: 2, urgency: 9 }, () => done++);
    while (done < 3) {
      store.release();
      await new Promise((r) => setTimeout(r, 5));
    }
    await waitFor(() => (seen.get(5) ?? []).includes('chunk-end'));
    assert.deepEqual(seen.get(1), [...chunks(0, 11), 'chunk-end']);
    assert.deepEqual(seen.get(3), [...chunks(0, 2), 'chunk-end']);
    assert.deepEqual(seen.get(5), [...chunks(9, 2), 'chunk-end']);
  } finally {
    close();
  }
});

test('a store failure answers the request that hit it; the next request on the link is still served', async () => {
  const { a, b, close } = await linkPair();
  try {
    const seen = collect(b);
    const store = slowStore('broken');
    const pump = new ChunkPump(a, store, CHUNK, 0, () => {});
    let done = 0;
    pump.enqueue({ requestId: 1, fileId: 'broken', size: SIZE, first: 0, count: 4, urgency: 0 }, () => done++);
    pump.enqueue({ requestId: 3, fileId: 'f', size: SIZE, first: 2, count: 3, urgency: 1 }, () => done++);
    while (done < 2) {
      store.release();
      await new Promise((r) => setTimeout(r, 5));
    }
    await waitFor(() => (seen.get(3) ?? []).includes('chunk-end'));
    assert.deepEqual(seen.get(1), ['error internal']);
    assert.deepEqual(seen.get(3), [...chunks(2, 3), 'chunk-end']);
  } finally {
    close();
  }
});
