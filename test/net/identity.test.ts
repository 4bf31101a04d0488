import assert from 'node:assert/strict';
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { formatServerAddress, loadOrCreateIdentity, parseServerAddress } from '../../src/net/identity.ts';
import { tempDir, testIdentities } from './helpers.ts';

describe('identity: loadOrCreateIdentity', () => {
  test('creates an EC P-256 self-signed certificate, key.pem with mode 0600, and reuses it', async () => {
    const { dir, remove } = await tempDir();
    try {
      const idDir = join(dir, 'nested', 'tls');
      const created = await loadOrCreateIdentity(idDir);
      assert.deepEqual((await readdir(idDir)).sort(), ['cert.pem', 'key.pem']); // no temp files left
      assert.equal((await stat(join(idDir, 'key.pem'))).mode & 0o777, 0o600);
      assert.equal(await readFile(join(idDir, 'key.pem'), 'utf8'), created.key);
      assert.equal(await readFile(join(idDir, 'cert.pem'), 'utf8'), created.cert);

      const key = createPrivateKey(created.key);
      assert.equal(key.asymmetricKeyType, 'ec');
      assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
      const x509 = new X509Certificate(created.cert);
      assert.ok(x509.checkPrivateKey(key));
      assert.ok(x509.verify(x509.publicKey), 'self-signed');
      assert.equal(created.fingerprint, createHash('sha256').update(x509.raw).digest('hex'));
      assert.match(created.fingerprint, /^[0-9a-f]{64}$/);

      const again = await loadOrCreateIdentity(idDir);
      assert.deepEqual(again, created);
    } finally {
      await remove();
    }
  });

  test('two directories get two identities', async () => {
    const [a, b] = await testIdentities();
    assert.notEqual(a!.fingerprint, b!.fingerprint);
  });

  test('a key without a certificate (crash during creation) is replaced', async () => {
    const { dir, remove } = await tempDir();
    try {
      const first = await loadOrCreateIdentity(dir);
      await rm(join(dir, 'cert.pem'));
      const second = await loadOrCreateIdentity(dir);
      assert.notEqual(second.fingerprint, first.fingerprint);
    } finally {
      await remove();
    }
  });

  test('unusable files are refused with IdentityError and left alone', async () => {
    const [other] = await testIdentities();
    const { dir, remove } = await tempDir();
    try {
      const mine = await loadOrCreateIdentity(dir);
      await writeFile(join(dir, 'key.pem'), other!.key);
      await assert.rejects(loadOrCreateIdentity(dir), { name: 'IdentityError', message: /do not belong together/ });
      await writeFile(join(dir, 'cert.pem'), 'not a certificate');
      await assert.rejects(loadOrCreateIdentity(dir), { name: 'IdentityError' });
      assert.equal(await readFile(join(dir, 'cert.pem'), 'utf8'), 'not a certificate');
      await rm(join(dir, 'key.pem'));
      await writeFile(join(dir, 'cert.pem'), mine.cert);
      await assert.rejects(loadOrCreateIdentity(dir), { name: 'IdentityError', message: /without/ });
    } finally {
      await remove();
    }
  });
});

describe('identity: server addresses', () => {
  const fp = 'ab'.repeat(32);

  test('parses host:port and host:port#fingerprint', () => {
    assert.deepEqual(parseServerAddress('127.0.0.1:4000'), { host: '127.0.0.1', port: 4000 });
    assert.deepEqual(parseServerAddress(`ap.example.com:443#${fp}`), { host: 'ap.example.com', port: 443, fingerprint: fp });
    assert.deepEqual(parseServerAddress('[::1]:65535'), { host: '::1', port: 65535 });
    assert.deepEqual(parseServerAddress(`localhost:1#${fp.toUpperCase().match(/../g)!.join(':')}`), { host: 'localhost', port: 1, fingerprint: fp });
  });

  test('formats what it parses', () => {
    for (const address of ['127.0.0.1:4000', `ap.example.com:443#${fp}`, `[::1]:7000#${fp}`, '[fe80::1%eth0]:80']) {
      assert.equal(formatServerAddress(parseServerAddress(address)), address);
    }
  });

  const bad = [
    '',
    'localhost',
    ':4000',
    'localhost:',
    'localhost:0',
    'localhost:65536',
    'localhost:80x',
    'localhost:-1',
    'local host:80',
    '::1:4000',
    '[::1]4000',
    '[nothost]:80',
    `localhost:80#${fp.slice(1)}`,
    `localhost:80#${'g'.repeat(64)}`,
    'localhost:80#',
    'a_b:80',
  ];
  for (const address of bad) {
    test(`refuses ${JSON.stringify(address)} with InvalidAddressError`, () => {
      assert.throws(() => parseServerAddress(address), { name: 'InvalidAddressError' });
    });
  }
});
