/**
 * User accounts of the AP (DESIGN §5): scrypt-hashed passwords in a `users` table of the
 * catalog database (or any SQLite database).
 *
 * Each user has a random 16-byte salt and the scrypt parameters stored next to the hash, so the
 * parameters can be raised later without invalidating existing passwords. User names are
 * 1-64 characters of `[A-Za-z0-9_.-]` and case-insensitive (`Alice` and `alice` are one user;
 * the spelling first used is kept). Passwords are compared in constant time.
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { Accounts } from './catalog.ts';
import { migrate, openSqliteDatabase } from './sqlite-catalog.ts';

/** Parameters of the scrypt key derivation. */
export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  N: number;
  /** Block size. */
  r: number;
  /** Parallelisation. */
  p: number;
  /** Derived key length, bytes. */
  keyLen: number;
}

/** What new passwords are hashed with: N=16384, r=8, p=1 (16 MiB, ~50 ms), 32-byte key. */
export const DEFAULT_SCRYPT: Readonly<ScryptParams> = Object.freeze({ N: 16384, r: 8, p: 1, keyLen: 32 });

/** Salt length, bytes. */
const SALT_BYTES = 16;
/** Longest password accepted, in UTF-8 bytes. */
export const MAX_PASSWORD_BYTES = 1024;

/** Thrown for a user name that is not 1-64 characters of `[A-Za-z0-9_.-]`. */
export class InvalidUserNameError extends Error {
  override name = 'InvalidUserNameError';
}

/** Thrown for an empty or over-long password. */
export class InvalidPasswordError extends Error {
  override name = 'InvalidPasswordError';
}

const USER_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** True when `name` is a valid user name. */
export function isValidUserName(name: unknown): name is string {
  return typeof name === 'string' && USER_NAME.test(name);
}

/** Throws {@link InvalidUserNameError} with a message saying what is wrong, unless `name` is valid. */
export function validateUserName(name: unknown): asserts name is string {
  if (typeof name !== 'string') throw new InvalidUserNameError('user name must be a string');
  if (name.length === 0) throw new InvalidUserNameError('user name is empty');
  if (name.length > 64) throw new InvalidUserNameError(`user name is ${name.length} characters long; at most 64 are allowed`);
  const bad = [...name].find((c) => !/[A-Za-z0-9_.-]/.test(c));
  if (bad !== undefined) {
    throw new InvalidUserNameError(
      `user name ${JSON.stringify(name)} contains ${JSON.stringify(bad)}; only letters A-Z a-z, digits, '_', '.' and '-' are allowed`,
    );
  }
}

function normalizePassword(password: unknown): Buffer {
  if (typeof password !== 'string') throw new InvalidPasswordError('password must be a string');
  // NFC so the same password typed on systems that compose differently still matches.
  const bytes = Buffer.from(password.normalize('NFC'), 'utf8');
  if (bytes.length === 0) throw new InvalidPasswordError('password is empty');
  if (bytes.length > MAX_PASSWORD_BYTES) throw new InvalidPasswordError(`password is longer than ${MAX_PASSWORD_BYTES} bytes`);
  return bytes;
}

function scrypt(password: Buffer, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  const opts: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scryptCb(password, salt, params.keyLen, opts, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** Sane bounds for stored parameters, so a damaged row cannot make a login allocate gigabytes. */
function checkParams(p: ScryptParams): void {
  const pow2 = p.N > 1 && (p.N & (p.N - 1)) === 0;
  if (!pow2 || p.N > 2 ** 20 || p.r < 1 || p.r > 32 || p.p < 1 || p.p > 16 || p.keyLen < 16 || p.keyLen > 64) {
    throw new RangeError(`unsupported scrypt parameters N=${p.N} r=${p.r} p=${p.p} keyLen=${p.keyLen}`);
  }
}

const ACCOUNTS_MIGRATIONS = [
  `CREATE TABLE users (
    name       TEXT PRIMARY KEY COLLATE NOCASE,
    salt       BLOB NOT NULL,
    hash       BLOB NOT NULL,
    scrypt_n   INTEGER NOT NULL,
    scrypt_r   INTEGER NOT NULL,
    scrypt_p   INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  ) WITHOUT ROWID;`,
];

interface UserRow {
  name: string;
  salt: Buffer;
  hash: Buffer;
  scrypt_n: number;
  scrypt_r: number;
  scrypt_p: number;
}

/** Accounts stored in a SQLite database (by default the catalog's). */
export class SqliteAccounts implements Accounts {
  readonly #db: Database.Database;
  readonly #ownsDb: boolean;
  readonly #params: ScryptParams;
  /** Verified against when the user does not exist, so "no such user" takes as long as "wrong password". */
  #dummy?: Promise<{ salt: Buffer; hash: Buffer }>;

  /**
   * Accounts in `db` (creating the `users` table if needed). `params` are used for new
   * passwords only (tests may lower N); with `ownsDb` {@link close} closes the database.
   */
  constructor(db: Database.Database, opts: { params?: Partial<ScryptParams>; ownsDb?: boolean } = {}) {
    this.#db = db;
    this.#ownsDb = opts.ownsDb ?? false;
    this.#params = { ...DEFAULT_SCRYPT, ...opts.params };
    checkParams(this.#params);
    migrate(db, 'accounts', ACCOUNTS_MIGRATIONS);
  }

  /** Opens or creates a database file holding only accounts. */
  static open(file: string, opts: { params?: Partial<ScryptParams> } = {}): SqliteAccounts {
    const db = openSqliteDatabase(file);
    try {
      return new SqliteAccounts(db, { ...opts, ownsDb: true });
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /**
   * Creates the user or replaces their password. Throws {@link InvalidUserNameError} or
   * {@link InvalidPasswordError} for bad input.
   */
  async setPassword(user: string, password: string): Promise<void> {
    validateUserName(user);
    const pw = normalizePassword(password);
    const salt = randomBytes(SALT_BYTES);
    const p = this.#params;
    const hash = await scrypt(pw, salt, p);
    const now = Date.now();
    this.#db
      .prepare(
        `INSERT INTO users(name, salt, hash, scrypt_n, scrypt_r, scrypt_p, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(name) DO UPDATE SET salt = excluded.salt, hash = excluded.hash, scrypt_n = excluded.scrypt_n,
           scrypt_r = excluded.scrypt_r, scrypt_p = excluded.scrypt_p, updated_at = excluded.updated_at`,
      )
      .run(user, salt, hash, p.N, p.r, p.p, now, now);
  }

  /**
   * True when the user exists and the password matches. Never throws for bad input: an invalid
   * name or password is simply not a match. An unknown user costs as much time as a wrong password.
   */
  async verify(user: string, password: string): Promise<boolean> {
    let pw: Buffer;
    try {
      pw = normalizePassword(password);
    } catch {
      return false;
    }
    const row = isValidUserName(user)
      ? (this.#db.prepare('SELECT * FROM users WHERE name = ?').get(user) as UserRow | undefined)
      : undefined;
    if (!row) {
      const dummy = await this.#dummyHash();
      const key = await scrypt(pw, dummy.salt, this.#params);
      timingSafeEqual(key, dummy.hash);
      return false;
    }
    const params: ScryptParams = { N: row.scrypt_n, r: row.scrypt_r, p: row.scrypt_p, keyLen: row.hash.length };
    checkParams(params);
    const key = await scrypt(pw, row.salt, params);
    return key.length === row.hash.length && timingSafeEqual(key, row.hash);
  }

  /** True when the user exists (names are case-insensitive). */
  async hasUser(user: string): Promise<boolean> {
    if (!isValidUserName(user)) return false;
    return this.#db.prepare('SELECT 1 FROM users WHERE name = ?').get(user) !== undefined;
  }

  /** Removes a user; true when there was one. */
  async removeUser(user: string): Promise<boolean> {
    if (!isValidUserName(user)) return false;
    return this.#db.prepare('DELETE FROM users WHERE name = ?').run(user).changes > 0;
  }

  /** All user names, sorted case-insensitively. */
  async listUsers(): Promise<string[]> {
    return this.#db.prepare('SELECT name FROM users ORDER BY name').pluck().all() as string[];
  }

  /** Closes the database if these accounts opened it. Idempotent. */
  async close(): Promise<void> {
    if (this.#ownsDb && this.#db.open) this.#db.close();
  }

  #dummyHash(): Promise<{ salt: Buffer; hash: Buffer }> {
    this.#dummy ??= (async () => {
      const salt = randomBytes(SALT_BYTES);
      return { salt, hash: await scrypt(randomBytes(16), salt, this.#params) };
    })();
    return this.#dummy;
  }
}
