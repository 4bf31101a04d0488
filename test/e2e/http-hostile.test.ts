/**
 * The client's local HTTP endpoint under hostile requests (issue 6 item 5), against a real AP and
 * a real client process: requests naming another host (DNS rebinding), carrying another origin
 * or `Sec-Fetch-Site: cross-site`, and requests with bad parameters are each refused with the
 * right status and a clear message, no response grants CORS, and the daemon keeps serving: a
 * play afterwards is byte-identical. Then a real chromium: a page from another origin gets
 * nothing from the API or the audio route, while the daemon's own player page works.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { synthesizeVorbis } from '../../src/audio/synth.ts';
import { startHttpApi } from '../../src/client/http-api.ts';
import type { ClientDaemon } from '../../src/client/daemon.ts';
import { have, runCli, startCli, type Running } from '../helpers/processes.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
let dir: string;
let ap: Running;
let client: Running;
let url: string;
let port: number;
let track: { id: string; src: Buffer };

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tunemesh-http-hostile-'));
  const data = path.join(dir, 'data');
  const src = Buffer.from(await synthesizeVorbis({ seed: 91, durationSec: 20, tags: { title: 'Origin Story', artist: 'Same Site', album: 'Loopback' } }));
  await writeFile(path.join(dir, 't.ogg'), src);
  const ingest = await runCli(['ingest', path.join(dir, 't.ogg'), '--data', data, '--json']);
  assert.equal(ingest.code, 0, ingest.stderr);
  track = { id: JSON.parse(ingest.stdout).added[0].id, src };
  await runCli(['user', 'add', 'erin', '--password', 'pw', '--data', data]);
  ap = await startCli(['server', '--data', data, '--port', '0', '--json']);
  const address = JSON.parse(ap.firstLine).address;
  client = await startCli(['client', '--server', address, '--cache', path.join(dir, 'c'), '--http-port', '0', '--user', 'erin', '--password', 'pw', '--json']);
  url = JSON.parse(client.firstLine).url;
  port = Number(new URL(url).port);
});

after(async () => {
  await client?.stop();
  await ap?.stop();
  await rm(dir, { recursive: true, force: true });
});

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A raw HTTP request to the daemon: any Host (or none), any headers, any path bytes. */
function raw(method: string, target: string, headers: Record<string, string | undefined> = {}, body?: Buffer | string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const h: Record<string, string> = {};
    if (!('host' in headers)) h.host = `127.0.0.1:${port}`;
    for (const [k, v] of Object.entries(headers)) if (v !== undefined) h[k] = v;
    const req = http.request({ host: '127.0.0.1', port, method, path: target, headers: h, setHost: false, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
const message = (a: Answer) => (JSON.parse(a.body.toString()) as { error: string }).error;

function assertNoCors(a: Answer, what: string): void {
  for (const name of Object.keys(a.headers)) assert.ok(!name.startsWith('access-control-'), `${what}: no CORS header (${name})`);
}

test('requests from other origins are refused on every route, GETs and audio included', async () => {
  const routes = ['/', '/index.html', `/audio/${track.id}`, '/api/stats', '/api/search?q=origin', `/api/tracks/${track.id}`, '/api/playlists', '/api/queue', '/nothing-here'];
  for (const route of routes) {
    // DNS rebinding: a name of the attacker's resolving to 127.0.0.1 arrives as the Host.
    const rebound = await raw('GET', route, { host: `evil.example:${port}` });
    assert.equal(rebound.status, 403, `${route} with a foreign Host`);
    assert.match(message(rebound), /only from this machine/);
    assertNoCors(rebound, route);
    const origin = await raw('GET', route, { origin: 'http://evil.example' });
    assert.equal(origin.status, 403, `${route} with a foreign Origin`);
    assert.match(message(origin), /cross-origin requests are not accepted \(Origin\)/);
    assert.equal((await raw('GET', route, { origin: 'null' })).status, 403, `${route} from a sandboxed page (Origin: null)`);
    assert.equal((await raw('GET', route, { origin: `http://127.0.0.2:${port}` })).status, 403, `${route} from another loopback origin`);
    for (const site of ['cross-site', 'same-site']) {
      const a = await raw('GET', route, { 'sec-fetch-site': site });
      assert.equal(a.status, 403, `${route} with Sec-Fetch-Site: ${site}`);
      assert.match(message(a), /Sec-Fetch-Site/);
    }
  }
  // Without a Host node's parser answers 400 itself (HTTP/1.1 requires one); the rest are ours.
  assert.equal((await raw('GET', '/api/stats', { host: undefined })).status, 400, 'no Host');
  for (const host of ['', 'localhost.evil.example', '127.0.0.1.nip.io', 'user@127.0.0.1', '127.0.0.1/x', '[::2]', '0.0.0.0']) {
    const a = await raw('GET', '/api/stats', { host });
    assert.ok(a.status === 403 || (host === '' && a.status === 400), `Host ${JSON.stringify(host)}: ${a.status}`);
  }
  // A CORS preflight gets no grant.
  const preflight = await raw('OPTIONS', '/api/playlists', { origin: 'http://evil.example', 'access-control-request-method': 'POST' });
  assert.equal(preflight.status, 403);
  assertNoCors(preflight, 'preflight');
  // Changes too (a playlist is the user's data at the AP).
  const post = await raw('POST', '/api/playlists', { origin: 'http://evil.example', 'content-type': 'application/json' }, '{"name":"pwned"}');
  assert.equal(post.status, 403);
  // Loopback names and the endpoint's own origin are fine; so are players that send neither header.
  for (const headers of [{}, { host: `localhost:${port}` }, { origin: `http://127.0.0.1:${port}`, 'sec-fetch-site': 'same-origin' }, { 'sec-fetch-site': 'none' }]) {
    const a = await raw('GET', '/api/stats', headers);
    assert.equal(a.status, 200, JSON.stringify(headers));
    assertNoCors(a, 'stats');
  }
  const lists = JSON.parse((await raw('GET', '/api/playlists')).body.toString());
  assert.equal(lists.total, 0, 'no cross-origin playlist was created');
});

test('every parameter is validated: a 400 (or 413/415/416) with a clear message', async () => {
  const cases: [method: string, target: string, status: number, pattern: RegExp, headers?: Record<string, string>, body?: string][] = [
    ['GET', '/api/search?q=x&limit=abc', 400, /limit must be an integer from 1 to 100/],
    ['GET', '/api/search?q=x&limit=1000', 400, /limit must be an integer/],
    ['GET', '/api/search?q=x&limit=-1', 400, /limit must be an integer/],
    ['GET', `/api/search?q=${'a'.repeat(201)}`, 400, /query too long/],
    ['GET', '/api/search?q=%00x', 400, /control characters/],
    ['GET', '/api/search?q=a%0Ab', 400, /control characters/],
    ['GET', '/api/search?q=a&q=b', 400, /given twice/],
    ['GET', '/api/search?q=a&debug=1', 400, /unknown query parameter "debug"/],
    ['GET', '/api/stats?x=1', 400, /no query parameters here/],
    ['GET', '/api/artists?offset=-5', 400, /offset must be an integer/],
    ['GET', '/api/artists?offset=1e3', 400, /offset must be an integer/],
    ['GET', '/api/artists?limit=99999999999', 400, /limit must be an integer/],
    ['GET', '/api/playlists?offset=0x10', 400, /offset must be an integer/],
    ['GET', '/api/plays/abc', 400, /play id/],
    ['GET', '/api/plays/1e9', 400, /play id/],
    ['GET', '/api/plays/123456789', 404, /no such play/],
    ['GET', `/api/tracks/${'x'.repeat(65)}`, 400, /bad track id/],
    ['GET', '/api/tracks/..%2F..%2Fetc', 400, /bad track id/],
    ['GET', '/audio/%ZZ', 400, /bad track id/],
    ['GET', '/audio/a%00b', 400, /bad track id/],
    ['GET', '/api/albums/%F0%9F%8E%B5', 400, /bad album id/],
    ['GET', '/api/resolve', 400, /uri is required/],
    ['GET', `/api/resolve?uri=${'t'.repeat(300)}`, 400, /uri too long/],
    ['GET', '/api/resolve?uri=spotify:track:1', 400, /./],
    ['POST', '/api/playlists', 415, /must be JSON/, { 'content-type': 'text/plain' }, '{"name":"x"}'],
    ['POST', '/api/playlists', 400, /not valid JSON/, { 'content-type': 'application/json' }, '{"name":'],
    ['POST', '/api/playlists', 400, /JSON object/, { 'content-type': 'application/json' }, '["x"]'],
    ['POST', '/api/playlists', 400, /unknown field "__proto__"/, { 'content-type': 'application/json' }, '{"__proto__":{"admin":true},"name":"x"}'],
    ['POST', '/api/playlists', 400, /name must be a string/, { 'content-type': 'application/json' }, '{"name":42}'],
    ['POST', '/api/playlists', 400, /longer than 200 bytes/, { 'content-type': 'application/json' }, JSON.stringify({ name: 'é'.repeat(101) })],
    ['POST', '/api/playlists', 400, /control characters/, { 'content-type': 'application/json' }, JSON.stringify({ name: 'a\u0007b' })],
    ['POST', '/api/playlists', 413, /larger than/, { 'content-type': 'application/json' }, JSON.stringify({ name: 'x'.repeat(1024 * 1024 + 10) })],
    ['POST', '/api/queue', 400, /start must be an integer/, { 'content-type': 'application/json' }, JSON.stringify({ trackIds: ['abc'], start: -1 })],
    ['POST', '/api/queue', 400, /trackIds\[0\] is not valid/, { 'content-type': 'application/json' }, JSON.stringify({ trackIds: ['../x'] })],
    ['POST', '/api/queue', 400, /at most 10000 entries/, { 'content-type': 'application/json' }, JSON.stringify({ trackIds: Array(10_001).fill('a') })],
    ['DELETE', '/api/playlists/abc/tracks/99999999', 400, /position must be an integer/],
    ['PUT', '/api/stats', 405, /not allowed here/],
  ];
  for (const [method, target, status, pattern, headers, body] of cases) {
    const a = await raw(method, target, headers, body);
    assert.equal(a.status, status, `${method} ${target.slice(0, 80)}: ${a.body.toString().slice(0, 200)}`);
    assert.match(message(a), pattern, `${method} ${target.slice(0, 80)}`);
  }
  // The Range header: malformed, multiple, unsatisfiable ranges get 416 with the size.
  for (const range of ['bytes=abc', 'bytes=0-1,5-6', 'items=0-1', 'bytes=-0', `bytes=${track.src.length}-`, 'bytes=10-5', `bytes=${'9'.repeat(400)}-`]) {
    const a = await raw('GET', `/audio/${track.id}`, { range });
    assert.equal(a.status, 416, `Range: ${range.slice(0, 40)}`);
    assert.equal(a.headers['content-range'], `bytes */${track.src.length}`);
  }
  // A request line the HTTP parser refuses never reaches a route, and costs only its socket.
  const garbage = await new Promise<string>((resolve) => {
    const s = http.request({ host: '127.0.0.1', port, method: 'GET', path: '/api/stats', headers: { 'content-length': 'nope' }, agent: false });
    s.on('response', (r) => resolve(String(r.statusCode)));
    s.on('error', (e) => resolve(e.message));
    s.end();
  });
  assert.ok(/400|socket hang up|ECONNRESET/.test(garbage), garbage);
});

test('after all that the daemon serves a normal play with identical bytes', async () => {
  const res = await fetch(`${url}/audio/${track.id}`);
  assert.equal(res.status, 200);
  const body = Buffer.from(await res.arrayBuffer());
  assert.equal(createHash('sha256').update(body).digest('hex'), createHash('sha256').update(track.src).digest('hex'));
  const part = await raw('GET', `/audio/${track.id}`, { range: 'bytes=100-199' });
  assert.equal(part.status, 206);
  assert.ok(part.body.equals(track.src.subarray(100, 200)));
  assert.equal(client.proc.exitCode, null, 'the client keeps running');
});

test('the endpoint refuses to listen on a non-loopback address unless forced', async () => {
  const noDaemon = {} as ClientDaemon; // refused before the daemon is used
  for (const host of ['0.0.0.0', '::', '192.168.1.10', 'example.com']) {
    await assert.rejects(startHttpApi(noDaemon, host, 0), { name: 'NonLoopbackHostError' });
  }
  // Any loopback address is fine (127.0.0.0/8).
  const api = await startHttpApi(noDaemon, '127.0.0.3', 0);
  await api.close();
});

test('chromium: a page from another origin gets nothing from the API or the audio; the own player page works', async (t) => {
  if (!(await have(CHROMIUM))) {
    t.skip('chromium is not installed');
    return;
  }
  // The hostile page, on another origin (127.0.0.2, its own port).
  const target = `http://127.0.0.1:${port}`;
  const evilPage = `<!doctype html><title>evil</title><audio id="a" src="${target}/audio/${track.id}" preload="auto"></audio><img id="i" src="${target}/api/stats">`;
  const evil = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(evilPage));
  await new Promise<void>((r) => evil.listen(0, '127.0.0.2', () => r()));
  const evilUrl = `http://127.0.0.2:${(evil.address() as { port: number }).port}/`;
  const before = JSON.parse((await raw('GET', '/api/stats')).body.toString());
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--autoplay-policy=no-user-gesture-required'] });
  try {
    const page = await browser.newPage();
    await page.goto(evilUrl);
    // A string, not a function: tsx would wrap a function's inner names in a helper the page lacks.
    const results = (await page.evaluate(`(async () => {
      const target = ${JSON.stringify(target)}, id = ${JSON.stringify(track.id)};
      async function attempt(path, init) {
        try {
          const r = await fetch(target + path, init);
          return { status: r.status, type: r.type, body: (await r.text()).length };
        } catch (err) {
          return { error: String(err) };
        }
      }
      const a = document.getElementById('a');
      a.play().catch(() => {});
      await new Promise((r) => setTimeout(r, 1500));
      return {
        stats: await attempt('/api/stats'),
        audio: await attempt('/audio/' + id),
        range: await attempt('/audio/' + id, { headers: { range: 'bytes=0-99' } }),
        noCors: await attempt('/api/stats', { mode: 'no-cors' }),
        post: await attempt('/api/playlists', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"name":"pwned"}', mode: 'no-cors' }),
        queue: await attempt('/api/queue', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ trackIds: [id] }) }),
        audioElement: { error: a.error ? a.error.code : null, played: a.currentTime },
      };
    })()`)) as Record<string, any>;
    // Cross-origin reads fail outright (no CORS grant), no-cors ones are opaque (nothing readable).
    for (const k of ['stats', 'audio', 'range', 'queue']) assert.ok('error' in results[k], `${k}: ${JSON.stringify(results[k])}`);
    for (const k of ['noCors', 'post']) assert.deepEqual(results[k], { status: 0, type: 'opaque', body: 0 }, k);
    assert.notEqual(results.audioElement.error, null, 'the <audio> of the other origin does not load');
    assert.equal(results.audioElement.played, 0);
    // And the daemon did nothing for it: no play started, no playlist made, no queue set.
    const after = JSON.parse((await raw('GET', '/api/stats')).body.toString());
    assert.equal(after.playback.plays, before.playback.plays, 'no play was started by the other origin');
    assert.equal(JSON.parse((await raw('GET', '/api/playlists')).body.toString()).total, 0);
    assert.equal(JSON.parse((await raw('GET', '/api/queue')).body.toString()).tracks.length, 0);

    // The daemon's own page, in the same browser, searches and plays.
    await page.goto(`${target}/`);
    await page.fill('#q', 'origin');
    await page.click('button[type=submit]');
    await page.waitForSelector('li.track', { timeout: 10_000 });
    await page.locator('li.track').first().click();
    await page.waitForFunction(() => {
      const a = document.querySelector('audio')!;
      return a.currentTime > 0.5 && !a.error;
    }, undefined, { timeout: 30_000 });
  } finally {
    await browser.close();
    evil.close();
  }
});
