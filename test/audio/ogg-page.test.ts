import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  FLAG_BOS,
  FLAG_CONTINUED,
  NO_GRANULE,
  PacketAssembler,
  oggCrc32,
  paginate,
  readPage,
  setPageSequence,
  writePage,
  type OggPage,
} from '../../src/audio/ogg-page.ts';

test('oggCrc32 is CRC-32 with polynomial 0x04c11db7, init 0, no reflection, no final xor', () => {
  // The catalogued CRC-32/CKSUM check value of "123456789" is 0x765e7680 with a final xor of
  // 0xffffffff; without that xor (the Ogg variant) it is 0x89a1897f.
  const data = new TextEncoder().encode('123456789');
  assert.equal(oggCrc32(data), 0x89a1897f);
  assert.equal(oggCrc32(new Uint8Array(0)), 0);
  // Continuing a CRC over two parts equals the CRC of the whole.
  assert.equal(oggCrc32(data, 4, 9, oggCrc32(data, 0, 4)), 0x89a1897f);
});

test('writePage then readPage round-trips every field and the CRC', () => {
  const body = new Uint8Array(600).map((_, i) => i * 7);
  const bytes = writePage({ flags: FLAG_BOS, granule: 123456789012n, serial: 0xdeadbeef, sequence: 42, lacing: [255, 255, 90], body });
  const r = readPage(bytes, 0);
  assert.ok(r.ok, !r.ok ? r.problem : '');
  const p = r.page;
  assert.equal(p.flags, FLAG_BOS);
  assert.equal(p.granule, 123456789012n);
  assert.equal(p.serial, 0xdeadbeef);
  assert.equal(p.sequence, 42);
  assert.deepEqual([...p.lacing], [255, 255, 90]);
  assert.deepEqual(p.body, body);
  assert.equal(p.length, bytes.length);
});

test('readPage rejects a flipped bit anywhere in a page, and truncation', () => {
  const bytes = writePage({ flags: 0, granule: 1000n, serial: 7, sequence: 3, lacing: [10, 0], body: new Uint8Array(10).fill(9) });
  for (let bit = 0; bit < bytes.length * 8; bit++) {
    const copy = bytes.slice();
    copy[bit >> 3]! ^= 1 << (bit & 7);
    assert.equal(readPage(copy, 0).ok, false, `bit ${bit} flipped went unnoticed`);
  }
  for (let n = 0; n < bytes.length; n++) {
    const r = readPage(bytes.subarray(0, n), 0);
    assert.equal(r.ok, false);
  }
  const r = readPage(bytes.subarray(0, 30), 0);
  assert.ok(!r.ok && /truncated/.test(r.problem), JSON.stringify(r));
});

test('setPageSequence rewrites the sequence number with a valid CRC', () => {
  const bytes = writePage({ flags: 0, granule: 5n, serial: 1, sequence: 3, lacing: [1], body: new Uint8Array([1]) });
  setPageSequence(bytes, 99);
  const r = readPage(bytes, 0);
  assert.ok(r.ok);
  assert.equal(r.page.sequence, 99);
});

function readAll(data: Uint8Array): OggPage[] {
  const pages: OggPage[] = [];
  for (let o = 0; o < data.length; ) {
    const r = readPage(data, o);
    if (!r.ok) throw new Error(r.problem);
    pages.push(r.page);
    o += r.page.length;
  }
  return pages;
}

test('paginate lays out any packets so that PacketAssembler gets them back (property)', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          fc.uint8Array({ minLength: 0, maxLength: 20000, size: 'max' }),
          // Multiples of 255 end in a 0 lacing value; 65025 fills a page's segment table exactly.
          fc.constantFrom(0, 254, 255, 510, 65025, 65280, 70000).map((n) => new Uint8Array(n).fill(n & 0xff)),
        ),
        { minLength: 1, maxLength: 6 },
      ),
      fc.integer({ min: 1, max: 70000 }),
      (packets, target) => {
        const pages = paginate(packets, { serial: 77, firstSequence: 5, firstFlags: FLAG_BOS, granule: 0n, targetBody: target });
        const joined = Buffer.concat(pages);
        const parsed = readAll(joined);
        const asm = new PacketAssembler();
        const got: Uint8Array[] = [];
        parsed.forEach((p, i) => {
          assert.equal(p.sequence, 5 + i);
          assert.equal(p.serial, 77);
          assert.equal((p.flags & FLAG_BOS) !== 0, i === 0);
          assert.ok(p.lacing.length <= 255);
          const out = asm.push(p);
          assert.ok(Array.isArray(out), String(out));
          // Granule -1 exactly on pages where no packet finishes.
          assert.equal(p.granule === NO_GRANULE, out.length === 0);
          got.push(...out);
        });
        assert.equal(asm.pending, false);
        assert.deepEqual(
          got.map((g) => Buffer.from(g).toString('hex')),
          packets.map((g) => Buffer.from(g).toString('hex')),
        );
      },
    ),
    { numRuns: 60, seed: 11 },
  );
});

test('PacketAssembler rejects a continuation flag that does not match the previous page', () => {
  const a = writePage({ flags: FLAG_CONTINUED, granule: 0n, serial: 1, sequence: 0, lacing: [3], body: new Uint8Array(3) });
  const r = readPage(a, 0);
  assert.ok(r.ok);
  assert.equal(typeof new PacketAssembler().push(r.page), 'string');
  const open = readPage(writePage({ flags: 0, granule: NO_GRANULE, serial: 1, sequence: 0, lacing: [255], body: new Uint8Array(255) }), 0);
  const fresh = readPage(writePage({ flags: 0, granule: 0n, serial: 1, sequence: 1, lacing: [3], body: new Uint8Array(3) }), 0);
  assert.ok(open.ok && fresh.ok);
  const asm = new PacketAssembler();
  assert.deepEqual(asm.push(open.page), []);
  assert.equal(typeof asm.push(fresh.page), 'string');
});
