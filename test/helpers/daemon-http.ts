/**
 * What end-to-end tests do with a running client daemon over its HTTP API: play a track through
 * the player endpoint (bytes and the play's record), read its stats, and wait for a condition.
 */
import assert from 'node:assert/strict';

/** Plays a track through `/audio/<id>`: the bytes the listener got and the play's record. */
export async function play(url: string, id: string): Promise<{ body: Buffer; record: any }> {
  const res = await fetch(`${url}/audio/${id}`);
  assert.equal(res.status, 200, `GET /audio/${id}`);
  const playId = res.headers.get('x-tunemesh-play');
  const body = Buffer.from(await res.arrayBuffer());
  return { body, record: await (await fetch(`${url}/api/plays/${playId}`)).json() };
}

/** The daemon's `/api/stats`. */
export const stats = async (url: string): Promise<any> => (await fetch(`${url}/api/stats`)).json();

/** Polls `cond` every 50 ms until it holds; fails the test naming `what` after `ms`. */
export async function until(what: string, cond: () => Promise<boolean>, ms = 15_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting until ${what}`);
}
