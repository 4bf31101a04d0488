import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import Database from 'better-sqlite3';
import {
  DEFAULT_SCRYPT,
  InvalidPasswordError,
  InvalidUserNameError,
  SqliteAccounts,
  validateUserName,
} from '../../src/server/accounts.ts';
import { SqliteCatalog } from '../../src/server/sqlite-catalog.ts';
import { tempDir } from './storage-fixtures.ts';

describe('SqliteAccounts', () => {
  const tmp = tempDir();
  after(() => tmp.cleanup());
  let n = 0;
  // Cheap parameters for most tests; one test uses the defaults.
  const fresh = () => SqliteAccounts.open(path.join(tmp.dir, `a${++n}.db`), { params: { N: 1024 } });

  it('verifies the right password and refuses a wrong one (default parameters)', async () => {
    const file = path.join(tmp.dir, 'default.db');
    const acc = SqliteAccounts.open(file);
    await acc.setPassword('alice', 'correct horse battery staple');
    assert.equal(await acc.verify('alice', 'correct horse battery staple'), true);
    assert.equal(await acc.verify('alice', 'correct horse battery stapl'), false);
    assert.equal(await acc.verify('alice', ''), false);
    await acc.close();
    const db = new Database(file);
    const row = db.prepare('SELECT * FROM users').get() as Record<string, unknown>;
    db.close();
    assert.deepEqual([row.scrypt_n, row.scrypt_r, row.scrypt_p], [16384, 8, 1]);
    assert.equal((row.hash as Buffer).length, DEFAULT_SCRYPT.keyLen);
    assert.equal((row.salt as Buffer).length, 16);
    assert.ok(!(row.hash as Buffer).includes(Buffer.from('correct horse')), 'no plaintext stored');
  });

  it('refuses unknown users without throwing, whatever the input', async () => {
    const acc = fresh();
    assert.equal(await acc.verify('nobody', 'pw'), false);
    assert.equal(await acc.verify('', 'pw'), false);
    assert.equal(await acc.verify('bad name!', 'pw'), false);
    assert.equal(await acc.verify('x'.repeat(1000), 'pw'), false);
    assert.equal(await acc.verify(undefined as never, undefined as never), false);
    await acc.close();
  });

  it('validates user names with a clear error', async () => {
    const acc = fresh();
    for (const ok of ['a', 'Alice_01', 'x.y-z', 'A'.repeat(64)]) validateUserName(ok);
    const bad: [unknown, RegExp][] = [
      ['', /empty/],
      ['A'.repeat(65), /65 characters.*at most 64/],
      ['with space', /contains " "/],
      ['ünïcode', /contains "ü"/],
      ['semi;colon', /contains ";"/],
      ['slash/', /contains "\/"/],
      [42, /must be a string/],
    ];
    for (const [name, msg] of bad) {
      assert.throws(() => validateUserName(name), (e: Error) => e instanceof InvalidUserNameError && msg.test(e.message));
      await assert.rejects(acc.setPassword(name as string, 'pw'), InvalidUserNameError);
    }
    await assert.rejects(acc.setPassword('bob', ''), InvalidPasswordError);
    await assert.rejects(acc.setPassword('bob', 'x'.repeat(2000)), InvalidPasswordError);
    assert.deepEqual(await acc.listUsers(), []);
    await acc.close();
  });

  it('replaces a password, treats names case-insensitively and salts per user', async () => {
    const acc = fresh();
    await acc.setPassword('Carol', 'one');
    await acc.setPassword('dave', 'one');
    await acc.setPassword('carol', 'two');
    assert.equal(await acc.verify('carol', 'one'), false);
    assert.equal(await acc.verify('CAROL', 'two'), true);
    assert.equal(await acc.verify('dave', 'one'), true);
    assert.deepEqual(await acc.listUsers(), ['Carol', 'dave']);
    assert.equal(await acc.hasUser('DAVE'), true);
    assert.equal(await acc.removeUser('dave'), true);
    assert.equal(await acc.verify('dave', 'one'), false);
    await acc.close();
  });

  it('compares the NFC form of passwords', async () => {
    const acc = fresh();
    await acc.setPassword('erin', 'caf\u00e9');
    assert.equal(await acc.verify('erin', 'cafe\u0301'), true);
    await acc.close();
  });

  it('keeps verifying old hashes after the parameters change, and shares the catalog database', async () => {
    const file = path.join(tmp.dir, 'shared.db');
    const cat = SqliteCatalog.open(file);
    const low = new SqliteAccounts(cat.database, { params: { N: 1024, r: 4 } });
    await low.setPassword('frank', 'secret');
    const high = new SqliteAccounts(cat.database, { params: { N: 2048 } });
    assert.equal(await high.verify('frank', 'secret'), true);
    assert.equal(await cat.trackCount(), 0);
    await cat.close();
    cat.database.close();
  });
});
