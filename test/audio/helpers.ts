/** Helpers shared by the audio tests: external tools, temp dirs, WAV reading. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const toolCache = new Map<string, boolean>();

/** True if the command exists on PATH (the Debian tools are optional for the test run). */
export function hasTool(cmd: string): boolean {
  let ok = toolCache.get(cmd);
  if (ok === undefined) {
    const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
    ok = r.status === 0;
    toolCache.set(cmd, ok);
  }
  return ok;
}

/** Why a test is skipped when `cmds` are not all installed, or undefined if they are. */
export function missing(...cmds: string[]): string | undefined {
  const absent = cmds.filter((c) => !hasTool(c));
  return absent.length ? `${absent.join(', ')} not installed (Debian packages vorbis-tools / opus-tools / sox / ffmpeg)` : undefined;
}

/** Runs a command, returns exit status and output. */
export function run(cmd: string, args: string[], input?: Uint8Array): { status: number; stdout: Buffer; stderr: string } {
  const r = spawnSync(cmd, args, { input, maxBuffer: 256 * 1024 * 1024 });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
}

/** A fresh temp directory and a function that removes it. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `tunemesh-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** 16-bit PCM WAV content as per-channel float arrays. */
export function readWav16(wav: Uint8Array): { sampleRate: number; channels: Float32Array[] } {
  const view = new DataView(wav.buffer, wav.byteOffset, wav.byteLength);
  const tag = (o: number) => String.fromCharCode(wav[o]!, wav[o + 1]!, wav[o + 2]!, wav[o + 3]!);
  if (tag(0) !== 'RIFF' || tag(8) !== 'WAVE') throw new Error('not a WAV file');
  let o = 12;
  let channels = 0;
  let sampleRate = 0;
  let bits = 0;
  while (o + 8 <= wav.length) {
    const id = tag(o);
    let size = view.getUint32(o + 4, true);
    if (id === 'fmt ') {
      channels = view.getUint16(o + 10, true);
      sampleRate = view.getUint32(o + 12, true);
      bits = view.getUint16(o + 22, true);
    } else if (id === 'data') {
      if (bits !== 16) throw new Error(`expected 16-bit PCM, got ${bits}`);
      // Streaming writers (oggdec on a pipe) may leave the size unset: take what is there.
      if (size === 0 || size === 0xffffffff || o + 8 + size > wav.length) size = wav.length - o - 8;
      const frames = Math.floor(size / (2 * channels));
      const out = Array.from({ length: channels }, () => new Float32Array(frames));
      for (let i = 0; i < frames; i++) {
        for (let c = 0; c < channels; c++) out[c]![i] = view.getInt16(o + 8 + (i * channels + c) * 2, true) / 32768;
      }
      return { sampleRate, channels: out };
    }
    o += 8 + size + (size & 1);
  }
  throw new Error('WAV without a data chunk');
}
