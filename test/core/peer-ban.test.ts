import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PeerBans } from '../../src/core/peer-ban.ts';
import { defaultConfig } from '../../src/core/config.ts';

test('a banned peer is kept out for badPeerBanMs, then let back in', () => {
  const bans = new PeerBans({ badPeerBanMs: 1000, maxBannedPeers: 10 });
  assert.equal(bans.isBanned('aa', 0), false);
  assert.equal(bans.ban('aa', 100), 1100);
  assert.equal(bans.isBanned('aa', 100), true);
  assert.equal(bans.isBanned('aa', 1099), true);
  assert.equal(bans.bannedUntil('aa', 500), 1100);
  assert.equal(bans.isBanned('bb', 500), false);
  assert.equal(bans.isBanned('aa', 1100), false);
  assert.equal(bans.size, 0, 'an ended ban is forgotten when looked at');
});

test('a second offence restarts the ban', () => {
  const bans = new PeerBans({ badPeerBanMs: 1000, maxBannedPeers: 10 });
  bans.ban('aa', 0);
  bans.ban('aa', 900);
  assert.equal(bans.isBanned('aa', 1500), true);
  assert.equal(bans.isBanned('aa', 1900), false);
});

test('memory is bounded: beyond maxBannedPeers the ban that ends first goes', () => {
  const bans = new PeerBans({ badPeerBanMs: 1000, maxBannedPeers: 3 });
  for (let i = 0; i < 5; i++) bans.ban(`p${i}`, i);
  assert.equal(bans.size, 3);
  assert.deepEqual([0, 1, 2, 3, 4].map((i) => bans.isBanned(`p${i}`, 10)), [false, false, true, true, true]);
  // Re-banning an old offender moves it to the end: it is not the next one forgotten.
  bans.ban('p2', 20);
  bans.ban('p5', 21);
  assert.deepEqual(['p2', 'p3', 'p4', 'p5'].map((p) => bans.isBanned(p, 30)), [true, false, true, true]);
});

test('prune forgets ended bans; the defaults keep a peer out for an hour', () => {
  const bans = new PeerBans(defaultConfig);
  bans.ban('aa', 0);
  bans.ban('bb', 1_000_000);
  bans.prune(3_600_000);
  assert.equal(bans.size, 1);
  assert.equal(bans.isBanned('bb', 3_600_000), true);
});
