/**
 * Test and demo audio: deterministic, pleasant-enough Ogg Vorbis tracks of any length, so tests,
 * the simulator's ingest and `npm start` need no audio files from outside (DESIGN §8).
 *
 * A track is a seeded little song: a key, tempo and chord progression, a pad playing the chords,
 * a bass line, a lead melody built from repeated motifs with a dotted-eighth echo, and kick /
 * snare / hi-hat from noise bursts, in stereo. It is rendered block by block from a list of note
 * events (each sample is a closed-form function of its absolute position, so block boundaries
 * do not change the output) and encoded with libvorbis compiled to WebAssembly.
 */
import { createOggEncoder } from 'wasm-media-encoders';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { seededRng, randomInt, type Rng } from '../core/clock.ts';
import { parseOgg } from './ogg.ts';
import { PacketAssembler, PAGE_HEADER_BYTES, paginate, readPage, setPageSequence } from './ogg-page.ts';

/** What to synthesize. */
export interface SynthOptions {
  /** Same seed and options give byte-identical output. */
  seed: number;
  /** Length of the track in seconds. */
  durationSec: number;
  /** @default 44100 */
  sampleRate?: number;
  /** @default 2 */
  channels?: 1 | 2;
  /**
   * Vorbis VBR quality, -1..10. @default 6, which gives about 95-135 kbps (median ~120) on this
   * sparse synthetic music; real music needs a lower quality for the same rate (libvorbis' own
   * table: q4 ~128 kbps, q6 ~192 kbps).
   */
  quality?: number;
  /** Written to the Vorbis comment header as TITLE, ARTIST, ALBUM, TRACKNUMBER. */
  tags?: { title?: string; artist?: string; album?: string; trackNo?: number };
}

/** Default Vorbis quality of `synthesizeVorbis`. */
export const DEFAULT_QUALITY = 6;

/** Samples rendered and encoded per step: small enough that a long track needs little memory. */
const BLOCK = 8192;

/**
 * Synthesizes and encodes a track.
 * @returns the complete Ogg Vorbis file
 */
export async function synthesizeVorbis(opts: SynthOptions): Promise<Uint8Array> {
  const sampleRate = opts.sampleRate ?? 44100;
  const channels = opts.channels ?? 2;
  const quality = opts.quality ?? DEFAULT_QUALITY;
  if (!(opts.durationSec > 0) || !Number.isFinite(opts.durationSec)) {
    throw new RangeError(`durationSec must be a positive number, got ${opts.durationSec}`);
  }
  if (!(sampleRate >= 8000 && sampleRate <= 192000)) throw new RangeError(`unsupported sample rate ${sampleRate}`);
  const total = Math.round(opts.durationSec * sampleRate);
  const song = composeSong(opts.seed, sampleRate, total);
  const tagger = new TagRewriter(commentsFor(opts.tags));

  const encoder = await acquireEncoder();
  try {
    // The serial number would otherwise come from Math.random; derive it from the seed so the
    // output is byte-identical for the same options.
    encoder.configure({ channels, sampleRate, vbrQuality: quality, oggSerialNo: hash32(opts.seed, 0x5e1a1) | 0 });
    const left = new Float32Array(BLOCK);
    const right = new Float32Array(BLOCK);
    let sinceYield = 0;
    for (let pos = 0; pos < total; pos += BLOCK) {
      const n = Math.min(BLOCK, total - pos);
      const l = n === BLOCK ? left : left.subarray(0, n);
      const r = n === BLOCK ? right : right.subarray(0, n);
      song.render(pos, l, r);
      if (channels === 1) for (let i = 0; i < n; i++) l[i] = (l[i]! + r[i]!) * 0.5;
      // encode() returns a view into wasm memory that the next call overwrites: the tagger copies.
      tagger.push(encoder.encode(channels === 1 ? [l] : [l, r]));
      sinceYield += n;
      if (sinceYield >= sampleRate * 2) {
        // Let timers and sockets run during long tracks; the encoder is ours until released.
        sinceYield = 0;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
    tagger.push(encoder.finalize());
  } finally {
    releaseEncoder(encoder);
  }
  return tagger.finish();
}

// ---------------------------------------------------------------------------------------------
// Encoder pool: instantiating the 450 kB wasm module costs tens of ms, so encoders are reused.
// Several can be busy at once because synthesizeVorbis yields between blocks.

type OggEncoder = Awaited<ReturnType<typeof createOggEncoder>>;
const idleEncoders: OggEncoder[] = [];

async function acquireEncoder(): Promise<OggEncoder> {
  return idleEncoders.pop() ?? (await createOggEncoder());
}

function releaseEncoder(e: OggEncoder): void {
  if (idleEncoders.length < 4) idleEncoders.push(e);
}

// ---------------------------------------------------------------------------------------------
// Tags: libvorbis writes a comment header with only its vendor string. We replace that packet
// and lay the comment and setup headers out on pages again; if that takes a different number of
// pages, every later page gets a new sequence number and CRC.

function commentsFor(tags: SynthOptions['tags']): string[] {
  const c: string[] = [];
  if (tags?.title !== undefined) c.push(`TITLE=${tags.title}`);
  if (tags?.artist !== undefined) c.push(`ARTIST=${tags.artist}`);
  if (tags?.album !== undefined) c.push(`ALBUM=${tags.album}`);
  if (tags?.trackNo !== undefined) c.push(`TRACKNUMBER=${tags.trackNo}`);
  return c;
}

/** Streams encoder output through, replacing the comment header once the headers are complete. */
class TagRewriter {
  private readonly out: Uint8Array[] = [];
  private pending = new Uint8Array(0);
  private readonly assembler = new PacketAssembler();
  private readonly headerPackets: Uint8Array[] = [];
  private headerPagesIn = 0;
  private idPage: Uint8Array | undefined;
  private serial = 0;
  private headersDone = false;
  private seqDelta = 0;

  constructor(private readonly comments: string[]) {}

  /** Takes encoder output (copied: the encoder reuses its buffer). */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (this.headersDone && this.seqDelta === 0 && this.pending.length === 0) {
      // Fast path: nothing to rewrite any more.
      this.out.push(chunk.slice());
      return;
    }
    const buf = new Uint8Array(this.pending.length + chunk.length);
    buf.set(this.pending);
    buf.set(chunk, this.pending.length);
    let pos = 0;
    for (;;) {
      const len = completePageLength(buf, pos);
      if (len === undefined) break;
      this.page(buf.slice(pos, pos + len));
      pos += len;
    }
    this.pending = buf.slice(pos);
  }

  /** @returns the whole rewritten file */
  finish(): Uint8Array {
    if (this.pending.length > 0) throw new Error(`encoder output ends with ${this.pending.length} bytes of an incomplete page`);
    if (!this.headersDone) throw new Error('encoder output ended before the Vorbis headers were complete');
    let n = 0;
    for (const p of this.out) n += p.length;
    const file = new Uint8Array(n);
    let o = 0;
    for (const p of this.out) {
      file.set(p, o);
      o += p.length;
    }
    return file;
  }

  private page(bytes: Uint8Array): void {
    if (this.headersDone) {
      if (this.seqDelta !== 0) {
        const seq = new DataView(bytes.buffer, bytes.byteOffset).getUint32(18, true);
        setPageSequence(bytes, seq + this.seqDelta);
      }
      this.out.push(bytes);
      return;
    }
    // Our own encoder's output: a failure here is a bug, not bad input.
    const r = readPage(bytes, 0);
    if (!r.ok) throw new Error(`encoder produced a bad Ogg page: ${r.problem}`);
    const page = r.page;
    if (this.headerPagesIn === 0) {
      this.idPage = bytes;
      this.serial = page.serial;
    }
    this.headerPagesIn++;
    const packets = this.assembler.push(page);
    if (typeof packets === 'string') throw new Error(`encoder produced bad Ogg paging: ${packets}`);
    this.headerPackets.push(...packets);
    if (this.headerPackets.length < 3) return;
    if (this.headerPackets.length > 3 || this.assembler.pending) {
      throw new Error('encoder put audio on a header page');
    }
    const [id, comment, setup] = this.headerPackets as [Uint8Array, Uint8Array, Uint8Array];
    if (this.headerPagesIn < 2 || this.idPage === undefined || id[0] !== 1) throw new Error('unexpected Vorbis header layout');
    const newComment = rewriteComment(comment, this.comments);
    const pages = paginate([newComment, setup], { serial: this.serial, firstSequence: 1, granule: 0n });
    this.out.push(this.idPage, ...pages);
    this.seqDelta = 1 + pages.length - this.headerPagesIn;
    this.headersDone = true;
  }
}

/** Length of the page at `pos` if it is completely inside `buf`, else undefined. */
function completePageLength(buf: Uint8Array, pos: number): number | undefined {
  if (pos + PAGE_HEADER_BYTES > buf.length) return undefined;
  const nSegs = buf[pos + 26]!;
  if (pos + PAGE_HEADER_BYTES + nSegs > buf.length) return undefined;
  let len = PAGE_HEADER_BYTES + nSegs;
  for (let i = 0; i < nSegs; i++) len += buf[pos + PAGE_HEADER_BYTES + i]!;
  return pos + len <= buf.length ? len : undefined;
}

/**
 * Builds a Vorbis comment header (Vorbis I §5) with the vendor string and comments of `original`
 * plus `extra`.
 */
function rewriteComment(original: Uint8Array, extra: string[]): Uint8Array {
  const view = new DataView(original.buffer, original.byteOffset, original.byteLength);
  let p = 7;
  const vendorLen = view.getUint32(p, true);
  p += 4;
  const vendor = original.subarray(p, p + vendorLen);
  p += vendorLen;
  const count = view.getUint32(p, true);
  p += 4;
  const entries: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const len = view.getUint32(p, true);
    p += 4;
    entries.push(original.subarray(p, p + len));
    p += len;
  }
  const enc = new TextEncoder();
  for (const c of extra) entries.push(enc.encode(c));
  let size = 7 + 4 + vendor.length + 4 + 1;
  for (const e of entries) size += 4 + e.length;
  const out = new Uint8Array(size);
  const w = new DataView(out.buffer);
  out.set([0x03, 0x76, 0x6f, 0x72, 0x62, 0x69, 0x73], 0); // 0x03 "vorbis"
  let o = 7;
  w.setUint32(o, vendor.length, true);
  o += 4;
  out.set(vendor, o);
  o += vendor.length;
  w.setUint32(o, entries.length, true);
  o += 4;
  for (const e of entries) {
    w.setUint32(o, e.length, true);
    o += 4;
    out.set(e, o);
    o += e.length;
  }
  out[o] = 1; // framing bit
  return out;
}

// ---------------------------------------------------------------------------------------------
// Composition.

/** Kinds of sound, each with its own waveform and envelope. */
const enum Kind {
  Pad,
  Bass,
  Lead,
  Kick,
  Snare,
  Hat,
}

/** One sound: starts at sample `start`, lasts `len` samples (release included). */
interface NoteEvent {
  kind: Kind;
  start: number;
  len: number;
  /** Length of the held part before the release, samples (pad, lead, bass). */
  hold: number;
  freq: number;
  gainL: number;
  gainR: number;
  /** Per-event noise seed / detune. */
  id: number;
}

const MAJOR = [0, 2, 4, 5, 7, 9, 11];
const MINOR = [0, 2, 3, 5, 7, 8, 10];
/** Chord progressions as scale degrees (0 = tonic), four bars each. */
const MAJOR_PROGRESSIONS = [
  [0, 4, 5, 3], // I V vi IV
  [0, 5, 3, 4], // I vi IV V
  [5, 3, 0, 4], // vi IV I V
  [0, 3, 0, 4], // I IV I V
  [1, 4, 0, 5], // ii V I vi
  [3, 4, 2, 5], // IV V iii vi
];
const MINOR_PROGRESSIONS = [
  [0, 5, 2, 6], // i VI III VII
  [0, 3, 4, 0], // i iv v i
  [0, 6, 5, 6], // i VII VI VII
  [0, 5, 3, 4], // i VI iv v
];
/** Rhythms of one bar of melody in eighth notes. */
const RHYTHMS = [
  [2, 2, 2, 2],
  [3, 1, 2, 2],
  [2, 1, 1, 2, 2],
  [4, 2, 2],
  [1, 1, 2, 1, 1, 2],
  [3, 3, 2],
  [2, 2, 4],
  [1, 1, 1, 1, 2, 2],
];
/** Bass patterns: [eighth within the bar, scale steps above the chord root (0 root, 4 fifth, 7 octave)]. */
const BASS_PATTERNS = [
  [[0, 0], [4, 0]],
  [[0, 0], [3, 0], [4, 4], [6, 0]],
  [[0, 0], [2, 7], [4, 0], [6, 7]],
  [[0, 0], [4, 4], [6, 2]],
];

interface Motif {
  rhythm: number[][];
  /** Scale steps above the chord root for each note; null is a rest. */
  steps: (number | null)[][];
}

function makeMotif(rng: Rng): Motif {
  const rhythm: number[][] = [];
  const steps: (number | null)[][] = [];
  let step = [0, 2, 4, 7][randomInt(rng, 4)]!;
  for (let bar = 0; bar < 2; bar++) {
    const r = RHYTHMS[randomInt(rng, RHYTHMS.length)]!;
    rhythm.push(r);
    const s: (number | null)[] = [];
    let at = 0;
    for (const d of r) {
      const strong = at % 4 === 0;
      if (!strong && rng.next() < 0.12) s.push(null);
      else {
        // Strong beats land on chord tones, the rest move by step: that is most of what makes a
        // random melody sound like a tune.
        if (strong) step = [0, 2, 4, 7, 9][randomInt(rng, 5)]!;
        else step += rng.next() < 0.5 ? -1 : 1;
        step = Math.max(-2, Math.min(8, step));
        s.push(step);
      }
      at += d;
    }
    steps.push(s);
  }
  return { rhythm, steps };
}

/** A variant of a motif: same rhythm, the last note of the second bar moved. */
function varyMotif(m: Motif, rng: Rng): Motif {
  const steps = m.steps.map((s) => s.slice());
  const last = steps[1]!;
  for (let i = last.length - 1; i >= 0; i--) {
    if (last[i] !== null) {
      last[i] = [0, 2, 4][randomInt(rng, 3)]!;
      break;
    }
  }
  return { rhythm: m.rhythm, steps };
}

function midiFreq(m: number): number {
  return 440 * Math.pow(2, (m - 69) / 12);
}

/** Equal-power pan: -1 left, +1 right. */
function pan(p: number, gain: number): [number, number] {
  const a = ((p + 1) * Math.PI) / 4;
  return [Math.cos(a) * gain, Math.sin(a) * gain];
}

interface Song {
  /** Adds samples [pos, pos + l.length) into `l` and `r` (which it clears first). */
  render(pos: number, l: Float32Array, r: Float32Array): void;
}

/** Plans the whole track as note events; only the event list (a few thousand objects) is kept. */
function composeSong(seed: number, sr: number, total: number): Song {
  const rng = seededRng(hash32(seed, 0x50e6));
  const minor = rng.next() < 0.4;
  const scale = minor ? MINOR : MAJOR;
  const progs = minor ? MINOR_PROGRESSIONS : MAJOR_PROGRESSIONS;
  const verseProg = progs[randomInt(rng, progs.length)]!;
  const chorusProg = progs[randomInt(rng, progs.length)]!;
  const tonic = 45 + randomInt(rng, 12); // A2..G#3
  const bpm = 84 + randomInt(rng, 45);
  const beat = (60 / bpm) * sr;
  const eighth = beat / 2;
  const bar = beat * 4;
  const bassPattern = BASS_PATTERNS[randomInt(rng, BASS_PATTERNS.length)]!;
  const hatsOnSixteenths = rng.next() < 0.3;
  const leadPan = rng.next() * 0.6 - 0.3;
  const motifs = [makeMotif(rng), makeMotif(rng), makeMotif(rng), makeMotif(rng)];
  const variants = motifs.map((m) => varyMotif(m, rng));

  /** MIDI note of scale degree `deg` (any integer) counted from the tonic. */
  const noteOf = (deg: number): number => {
    const oct = Math.floor(deg / 7);
    return tonic + 12 * oct + scale[deg - oct * 7]!;
  };

  const events: NoteEvent[] = [];
  let id = 0;
  const add = (kind: Kind, start: number, hold: number, release: number, freq: number, gain: number, p: number): void => {
    const s = Math.round(start);
    if (s >= total) return;
    const [gl, gr] = pan(p, gain);
    events.push({ kind, start: s, len: Math.round(hold + release), hold: Math.round(hold), freq, gainL: gl, gainR: gr, id: id++ });
  };

  const bars = Math.ceil(total / bar);
  for (let b = 0; b < bars; b++) {
    const t0 = b * bar;
    const section = Math.floor(b / 8);
    const chorus = section % 2 === 1;
    const prog = chorus ? chorusProg : verseProg;
    const chord = prog[b % 4]!;
    const intro = b < 2;

    // Pad: the triad around the tonic's octave, slightly detuned per side for width.
    for (const k of [0, 2, 4]) {
      const m = noteOf(chord + k) + 12;
      add(Kind.Pad, t0, bar, 0.35 * sr, midiFreq(m), chorus ? 0.055 : 0.05, k === 0 ? 0 : k === 2 ? -0.5 : 0.5);
    }
    if (intro && bars > 4) continue;

    // Bass.
    for (const [at, step] of bassPattern) {
      add(Kind.Bass, t0 + at! * eighth, eighth * 1.6, 0.08 * sr, midiFreq(noteOf(chord + step!) - 12), 0.22, 0);
    }

    // Drums: kick on 1 and 3 (plus an extra in the chorus), snare on 2 and 4, hats on eighths.
    for (const at of chorus ? [0, 4, 5] : [0, 4]) add(Kind.Kick, t0 + at * eighth, 0, 0.35 * sr, 0, 0.5, 0);
    for (const at of [2, 6]) add(Kind.Snare, t0 + at * eighth, 0, 0.22 * sr, 0, 0.2, 0.1);
    const hatStep = hatsOnSixteenths ? eighth / 2 : eighth;
    for (let i = 0; i * hatStep < bar - 1; i++) {
      add(Kind.Hat, t0 + i * hatStep, 0, 0.06 * sr, 0, i % 2 === 0 ? 0.05 : 0.03, 0.45);
    }

    // Lead: motif pairs A A' B A per eight bars, transposed with the chord.
    const slot = b % 8;
    const pair = chorus ? 2 : 0;
    const motif = slot >= 4 && slot < 6 ? motifs[pair + 1]! : slot >= 2 && slot < 4 ? variants[pair]! : motifs[pair]!;
    const half = slot % 2;
    let at = 0;
    const rhythm = motif.rhythm[half]!;
    rhythm.forEach((d, i) => {
      const step = motif.steps[half]![i];
      if (step !== null && step !== undefined) {
        const f = midiFreq(noteOf(chord + step) + 12); // around C5: a singing register
        const start = t0 + at * eighth;
        const hold = d * eighth * 0.85;
        add(Kind.Lead, start, hold, 0.12 * sr, f, 0.1, leadPan);
        // A dotted-eighth echo, bouncing between the sides: space without a stateful reverb.
        add(Kind.Lead, start + 1.5 * eighth, hold, 0.12 * sr, f, 0.035, -0.7);
        add(Kind.Lead, start + 3 * eighth, hold, 0.12 * sr, f, 0.015, 0.7);
      }
      at += d;
    });
  }
  events.sort((a, b) => a.start - b.start || a.id - b.id);

  const fadeIn = Math.round(0.02 * sr);
  const fadeOut = Math.round(Math.min(2, (total / sr) * 0.1) * sr);
  const tables = [PAD_TABLE, BASS_TABLE, LEAD_TABLE];
  let first = 0; // events before this index ended before the block being rendered

  return {
    render(pos, l, r) {
      const n = l.length;
      l.fill(0);
      r.fill(0);
      const end = pos + n;
      // Events are sorted by start, not end: skip only a prefix that has certainly ended.
      while (first < events.length && events[first]!.start + events[first]!.len <= pos) first++;
      for (let e = first; e < events.length; e++) {
        const ev = events[e]!;
        if (ev.start >= end) break;
        if (ev.start + ev.len <= pos) continue;
        const from = Math.max(pos, ev.start);
        const to = Math.min(end, ev.start + ev.len);
        renderEvent(ev, from, to, pos, l, r, sr, tables);
      }
      // Fades and a soft limiter so overlapping hits never clip hard.
      for (let i = 0; i < n; i++) {
        const t = pos + i;
        let g = 1;
        if (t < fadeIn) g = t / fadeIn;
        const left = total - t;
        if (left < fadeOut) g *= left / fadeOut;
        l[i] = soft(l[i]! * g);
        r[i] = soft(r[i]! * g);
      }
    },
  };
}

function soft(x: number): number {
  const a = Math.abs(x);
  if (a <= 0.8) return x;
  const y = 0.8 + 0.2 * Math.tanh((a - 0.8) / 0.2);
  return x < 0 ? -y : y;
}

// Single-cycle wavetables: one lookup per note and side instead of one sine per harmonic.
const TABLE_SIZE = 2048;

function makeTable(harmonics: number[]): Float32Array {
  const t = new Float32Array(TABLE_SIZE + 1);
  let peak = 0;
  for (let i = 0; i <= TABLE_SIZE; i++) {
    let v = 0;
    harmonics.forEach((a, h) => (v += a * Math.sin((2 * Math.PI * (h + 1) * i) / TABLE_SIZE)));
    t[i] = v;
    peak = Math.max(peak, Math.abs(v));
  }
  for (let i = 0; i <= TABLE_SIZE; i++) t[i] = t[i]! / peak;
  return t;
}

const PAD_TABLE = makeTable([1, 0.45, 0.3, 0.12, 0.08, 0.04]);
const BASS_TABLE = makeTable([1, 0.7, 0.35, 0.15]);
const LEAD_TABLE = makeTable([1, 0.5, 0.33, 0.2, 0.12, 0.06]);
const SINE_TABLE = makeTable([1]);

function lookup(t: Float32Array, cycles: number): number {
  const x = (cycles - Math.floor(cycles)) * TABLE_SIZE;
  const i = x | 0;
  const a = t[i]!;
  return a + (t[i + 1]! - a) * (x - i);
}

/** Adds event `ev` over absolute samples [from, to) into the block starting at `pos`. */
function renderEvent(
  ev: NoteEvent,
  from: number,
  to: number,
  pos: number,
  l: Float32Array,
  r: Float32Array,
  sr: number,
  tables: Float32Array[],
): void {
  const { gainL, gainR, freq, hold, len } = ev;
  switch (ev.kind) {
    case Kind.Pad: {
      const attack = 0.12 * sr;
      const rel = len - hold;
      const fl = freq / sr;
      const fr = (freq * 1.004) / sr; // detuned right side: slow beating, a wider sound
      const tab = tables[0]!;
      for (let a = from; a < to; a++) {
        const k = a - ev.start;
        const env = k < attack ? k / attack : k < hold ? 1 : 1 - (k - hold) / rel;
        l[a - pos]! += gainL * env * lookup(tab, fl * k);
        r[a - pos]! += gainR * env * lookup(tab, fr * k + 0.25);
      }
      break;
    }
    case Kind.Bass: {
      const f = freq / sr;
      const tau = 0.35 * sr;
      const rel = len - hold;
      const tab = tables[1]!;
      // exp(-k/tau) by recurrence from an exact start value: one Math.exp per block, not per sample.
      let decay = Math.exp(-(from - ev.start) / tau);
      const step = Math.exp(-1 / tau);
      for (let a = from; a < to; a++, decay *= step) {
        const k = a - ev.start;
        let env = Math.min(1, k / (0.004 * sr)) * decay;
        if (k > hold) env *= 1 - (k - hold) / rel;
        const v = env * lookup(tab, f * k);
        l[a - pos]! += gainL * v;
        r[a - pos]! += gainR * v;
      }
      break;
    }
    case Kind.Lead: {
      const f = freq / sr;
      const rel = len - hold;
      const attack = 0.01 * sr;
      const decay = 0.12 * sr;
      // Vibrato (5.5 Hz, 0.4 %) in closed form: phase = f k + f d (1 - cos(2 pi v k)) / (2 pi v).
      const v = 5.5 / sr;
      const depth = (f * 0.004) / (2 * Math.PI * v);
      const tab = tables[2]!;
      for (let a = from; a < to; a++) {
        const k = a - ev.start;
        let env = k < attack ? k / attack : k < attack + decay ? 1 - (0.3 * (k - attack)) / decay : 0.7;
        if (k > hold) env *= 1 - (k - hold) / rel;
        const s = env * lookup(tab, f * k + depth * (1 - lookup(SINE_TABLE, v * k + 0.25)));
        l[a - pos]! += gainL * s;
        r[a - pos]! += gainR * s;
      }
      break;
    }
    case Kind.Kick: {
      // A sine falling from 150 to 48 Hz: phase is the integral of f(t) = f1 + (f0 - f1) e^(-t/tau).
      const tauS = 0.03;
      for (let a = from; a < to; a++) {
        const t = (a - ev.start) / sr;
        const ph = 48 * t + (150 - 48) * tauS * (1 - Math.exp(-t / tauS));
        const s = Math.exp(-t / 0.11) * Math.sin(2 * Math.PI * ph);
        l[a - pos]! += gainL * s;
        r[a - pos]! += gainR * s;
      }
      break;
    }
    case Kind.Snare: {
      const k0 = from - ev.start;
      let dn = Math.exp(-k0 / (0.06 * sr));
      let dt = Math.exp(-k0 / (0.04 * sr));
      const sn = Math.exp(-1 / (0.06 * sr));
      const st = Math.exp(-1 / (0.04 * sr));
      const f = 185 / sr;
      for (let a = from; a < to; a++, dn *= sn, dt *= st) {
        const k = a - ev.start;
        // Averaging neighbouring noise samples tames the top end: a duller, snare-like hiss.
        const noise = (hashNoise(k, ev.id) + hashNoise(k - 1, ev.id)) * 0.5;
        const s = noise * dn + 0.6 * lookup(SINE_TABLE, f * k) * dt;
        l[a - pos]! += gainL * s;
        r[a - pos]! += gainR * s;
      }
      break;
    }
    case Kind.Hat: {
      let d = Math.exp(-(from - ev.start) / (0.018 * sr));
      const step = Math.exp(-1 / (0.018 * sr));
      for (let a = from; a < to; a++, d *= step) {
        const k = a - ev.start;
        // Differencing the noise leaves mostly high frequencies: a hi-hat tick.
        const s = (hashNoise(k, ev.id) - hashNoise(k - 1, ev.id)) * 0.5 * d;
        l[a - pos]! += gainL * s;
        r[a - pos]! += gainR * s;
      }
      break;
    }
  }
}

/** 32-bit integer hash of two numbers (murmur3 finalizer): stateless, so noise is block-independent. */
function hash32(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** White noise in [-1, 1) as a function of (sample, event). */
function hashNoise(k: number, id: number): number {
  return hash32(k, id) / 2147483648 - 1;
}

// ---------------------------------------------------------------------------------------------
// Demo library.

/** Options of `writeDemoLibrary`. */
export interface DemoLibraryOptions {
  artists: number;
  albumsPerArtist: number;
  tracksPerAlbum: number;
  seed: number;
  /** Shortest track, seconds. */
  minSec: number;
  /** Longest track, seconds. */
  maxSec: number;
  /** Vorbis quality of every track. @default DEFAULT_QUALITY */
  quality?: number;
  /**
   * Tracks encoded at once in worker threads; 1 encodes in this thread.
   * @default the number of CPUs, at most 4
   */
  concurrency?: number;
  /**
   * Keep a file that is already there if it is a complete Ogg Vorbis file of the planned length,
   * so a restarted demo does not encode its library again. Off by default: a file left by an
   * older version of this generator would be kept as it is.
   */
  reuse?: boolean;
}

/** One track of the demo library, as planned before encoding. */
export interface DemoTrackPlan {
  path: string;
  options: SynthOptions;
}

const ADJECTIVES = [
  'Velvet', 'Golden', 'Quiet', 'Paper', 'Silver', 'Northern', 'Amber', 'Hollow', 'Electric', 'Gentle',
  'Distant', 'Crimson', 'Lucky', 'Wandering', 'Midnight', 'Blue', 'Glass', 'Summer', 'Faded', 'Bright',
];
const NOUNS = [
  'Harbor', 'Lantern', 'River', 'Meadow', 'Signal', 'Garden', 'Orchard', 'Tide', 'Comet', 'Canyon',
  'Window', 'Satellite', 'Forest', 'Lighthouse', 'Echo', 'Station', 'Island', 'Valley', 'Ribbon', 'Horizon',
];
const PLURALS = [
  'Harbors', 'Lanterns', 'Rivers', 'Foxes', 'Signals', 'Gardens', 'Comets', 'Swallows', 'Anchors', 'Owls',
];
const FIRST_NAMES = ['Mira', 'Jonas', 'Elin', 'Theo', 'Ada', 'Kasper', 'Lina', 'Oskar', 'Nora', 'Felix', 'Iris', 'Arvid'];
const LAST_NAMES = ['Solenne', 'Lindqvist', 'Hart', 'Moreau', 'Ekberg', 'Vale', 'Castell', 'Brandt', 'Okafor', 'Reyes'];
const PLACES = ['the Rain', 'Stockholm', 'the Dark', 'Blue Water', 'the Attic', 'Late August', 'the Static', 'Low Light'];
const VERBS = ['Chasing', 'Following', 'Leaving', 'Finding', 'Holding', 'Counting', 'Crossing', 'Dreaming of'];

function pick<T>(rng: Rng, list: readonly T[]): T {
  return list[randomInt(rng, list.length)]!;
}

function artistName(rng: Rng): string {
  switch (randomInt(rng, 4)) {
    case 0:
      return `The ${pick(rng, ADJECTIVES)} ${pick(rng, PLURALS)}`;
    case 1:
      return `${pick(rng, FIRST_NAMES)} ${pick(rng, LAST_NAMES)}`;
    case 2:
      return `${pick(rng, FIRST_NAMES)} & the ${pick(rng, PLURALS)}`;
    default:
      return `${pick(rng, ADJECTIVES)} ${pick(rng, NOUNS)}`;
  }
}

function albumTitle(rng: Rng): string {
  switch (randomInt(rng, 4)) {
    case 0:
      return `${pick(rng, ADJECTIVES)} ${pick(rng, NOUNS)}`;
    case 1:
      return `${pick(rng, NOUNS)}s of ${pick(rng, PLACES)}`;
    case 2:
      return `Songs for ${pick(rng, PLURALS)}`;
    default:
      return `The ${pick(rng, NOUNS)} Sessions`;
  }
}

function trackTitle(rng: Rng): string {
  switch (randomInt(rng, 4)) {
    case 0:
      return `${pick(rng, ADJECTIVES)} ${pick(rng, NOUNS)}`;
    case 1:
      return `${pick(rng, VERBS)} the ${pick(rng, NOUNS)}`;
    case 2:
      return `${pick(rng, NOUNS)} in ${pick(rng, PLACES)}`;
    default:
      return `${pick(rng, PLURALS)} Over ${pick(rng, PLACES).replace(/^the /, '')}`;
  }
}

/** Draws names from `gen` until one not in `used` comes up (a suffix after 20 tries). */
function unique(rng: Rng, used: Set<string>, gen: (rng: Rng) => string): string {
  let name = gen(rng);
  for (let i = 0; used.has(name) && i < 20; i++) name = gen(rng);
  for (let n = 2; used.has(name); n++) name = `${name.replace(/ \d+$/, '')} ${n}`;
  used.add(name);
  return name;
}

function safeFileName(s: string): string {
  return s.replace(/[/\\:*?"<>|\0]/g, '-');
}

/**
 * The tracks `writeDemoLibrary` would write, without encoding anything: names, paths (relative to
 * `dir`) and synthesis options, all determined by `opts.seed`.
 */
export function planDemoLibrary(dir: string, opts: DemoLibraryOptions): DemoTrackPlan[] {
  if (!(opts.minSec > 0 && opts.maxSec >= opts.minSec)) {
    throw new RangeError(`need 0 < minSec <= maxSec, got ${opts.minSec}..${opts.maxSec}`);
  }
  const rng = seededRng(hash32(opts.seed, 0xdee0));
  const plans: DemoTrackPlan[] = [];
  const artists = new Set<string>();
  for (let a = 0; a < opts.artists; a++) {
    const artist = unique(rng, artists, artistName);
    const albums = new Set<string>();
    for (let b = 0; b < opts.albumsPerArtist; b++) {
      const album = unique(rng, albums, albumTitle);
      const titles = new Set<string>();
      for (let t = 1; t <= opts.tracksPerAlbum; t++) {
        const title = unique(rng, titles, trackTitle);
        // Whole tenths of a second: durations read well in listings and tests.
        const durationSec = Math.round((opts.minSec + rng.next() * (opts.maxSec - opts.minSec)) * 10) / 10;
        const seed = randomInt(rng, 0x7fffffff);
        const path = join(dir, safeFileName(artist), safeFileName(album), `${String(t).padStart(2, '0')} ${safeFileName(title)}.ogg`);
        plans.push({
          path,
          options: { seed, durationSec, quality: opts.quality ?? DEFAULT_QUALITY, tags: { title, artist, album, trackNo: t } },
        });
      }
    }
  }
  return plans;
}

/**
 * Writes a demo library `dir/Artist/Album/NN Title.ogg`, deterministic from `opts.seed`.
 * Tracks are encoded in worker threads (see `concurrency`); the files are the same either way.
 * @returns the paths written, in artist/album/track order
 */
export async function writeDemoLibrary(dir: string, opts: DemoLibraryOptions): Promise<string[]> {
  const all = planDemoLibrary(dir, opts);
  const plans: DemoTrackPlan[] = [];
  for (const p of all) if (!(opts.reuse && (await reusable(p)))) plans.push(p);
  const concurrency = Math.max(1, Math.min(opts.concurrency ?? Math.min(4, availableParallelism()), plans.length));
  const dirs = new Set(plans.map((p) => join(p.path, '..')));
  for (const d of dirs) await mkdir(d, { recursive: true });

  if (concurrency === 1) {
    for (const p of plans) await writeFile(p.path, await synthesizeVorbis(p.options));
    return all.map((p) => p.path);
  }
  // Encoding is CPU-bound (libvorbis runs ~40-50x real time per core): spread it over workers.
  let next = 0;
  const runWorker = async (): Promise<void> => {
    const worker = startWorker();
    try {
      while (next < plans.length) {
        const p = plans[next++]!;
        let data: Uint8Array;
        try {
          data = worker ? await worker.synth(p.options) : await synthesizeVorbis(p.options);
        } catch (e) {
          // A worker that cannot start (e.g. no TypeScript loader in this runtime) must not
          // cost the demo its library: encode here instead.
          if (!(e instanceof WorkerUnavailable)) throw e;
          data = await synthesizeVorbis(p.options);
        }
        await writeFile(p.path, data);
      }
    } finally {
      await worker?.close();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, runWorker));
  return all.map((p) => p.path);
}

/** True if `p.path` holds a complete Ogg file of the planned length (parseOgg rejects partial files). */
async function reusable(p: DemoTrackPlan): Promise<boolean> {
  try {
    const info = parseOgg(await readFile(p.path), p.path);
    return info.codec === 'vorbis' && Math.abs(info.durationMs - p.options.durationSec * 1000) <= 50;
  } catch {
    return false;
  }
}

class WorkerUnavailable extends Error {}

interface SynthWorker {
  synth(opts: SynthOptions): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** Starts a worker running `synth-worker.ts`; undefined if workers cannot be created here. */
function startWorker(): SynthWorker | undefined {
  let worker: Worker;
  try {
    if (import.meta.url.endsWith('.js')) {
      // Compiled (dist/): the worker script sits beside this module as JavaScript.
      worker = new Worker(new URL('./synth-worker.js', import.meta.url));
    } else {
      // Workers do not inherit tsx's loader hooks, so a .ts worker script cannot be started
      // directly: the worker registers tsx itself, then imports the TypeScript module.
      const tsx = import.meta.resolve('tsx/esm/api');
      const script = new URL('./synth-worker.ts', import.meta.url).href;
      worker = new Worker(
        `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(script)}); });`,
        { eval: true },
      );
    }
  } catch {
    return undefined;
  }
  let broken: Error | undefined;
  let pending: { resolve: (d: Uint8Array) => void; reject: (e: Error) => void } | undefined;
  worker.on('message', (m: { ok: true; data: Uint8Array } | { ok: false; error: string }) => {
    const p = pending;
    pending = undefined;
    if (m.ok) p?.resolve(m.data);
    else p?.reject(new Error(m.error));
  });
  worker.on('error', (e) => {
    broken = new WorkerUnavailable(e.message);
    pending?.reject(broken);
    pending = undefined;
  });
  worker.on('exit', () => {
    broken ??= new WorkerUnavailable('synth worker exited');
    pending?.reject(broken);
    pending = undefined;
  });
  return {
    synth(opts) {
      if (broken) return Promise.reject(broken);
      return new Promise((resolve, reject) => {
        pending = { resolve, reject };
        worker.postMessage(opts);
      });
    },
    async close() {
      await worker.terminate();
    },
  };
}
