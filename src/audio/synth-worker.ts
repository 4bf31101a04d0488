/**
 * Worker thread body for `writeDemoLibrary`: encodes one track per message so several CPUs
 * share the libvorbis work. Messages are `SynthOptions`; replies carry the file (transferred, not
 * copied) or an error message.
 */
import { parentPort } from 'node:worker_threads';
import { synthesizeVorbis, type SynthOptions } from './synth.ts';

const port = parentPort;
if (!port) throw new Error('synth-worker.ts must run in a worker thread');
port.on('message', (opts: SynthOptions) => {
  synthesizeVorbis(opts).then(
    (data) => port.postMessage({ ok: true, data }, [data.buffer as ArrayBuffer]),
    (e: unknown) => port.postMessage({ ok: false, error: e instanceof Error ? e.message : String(e) }),
  );
});
