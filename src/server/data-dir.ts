/**
 * The AP's data directory (DESIGN §6, embedded default): one directory holds everything a site
 * needs, so `tunemesh ingest --data d` and `tunemesh server --data d` agree without setup.
 *
 * ```
 * <dir>/catalog.db     SQLite: catalog tables, FTS indexes, users   (+ -wal, -shm)
 * <dir>/store/         content-addressed encrypted audio files (DirStore); their keys and
 *                      chunk hashes are in catalog.db (ContentKeys), never in the store
 * <dir>/tls/           the AP's TLS identity (created by the server)
 * <dir>/address        the AP's address once it listens
 * ```
 */
import { mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Accounts, Catalog } from './catalog.ts';
import type { FileStore } from './file-store.ts';
import { SqliteAccounts } from './accounts.ts';
import { DirStore } from './dir-store.ts';
import { ContentKeys } from './content-keys.ts';
import { openSqliteDatabase, SqliteCatalog } from './sqlite-catalog.ts';

/** Where the parts of a data directory live. All paths are absolute. */
export interface DataDirPaths {
  /** The data directory itself. */
  root: string;
  /** The SQLite database file (catalog and accounts). */
  db: string;
  /** The audio file store directory. */
  store: string;
  /** The directory of the AP's TLS key and certificate (not created here). */
  tls: string;
  /** The file the running AP writes its address to. */
  address: string;
}

/** An open data directory. */
export interface DataDir {
  catalog: Catalog;
  accounts: Accounts;
  store: FileStore;
  /** Keys, plaintext hashes and chunk hashes of the stored files (DESIGN §5). */
  keys: ContentKeys;
  paths: DataDirPaths;
  /**
   * Closes the database at once (synchronously, so a process may exit right after) and the
   * store's file handles; the returned promise settles when those are closed. Idempotent.
   */
  close(): Promise<void>;
}

/** The paths of a data directory, without opening anything. */
export function dataDirPaths(dir: string): DataDirPaths {
  const root = path.resolve(dir);
  return {
    root,
    db: path.join(root, 'catalog.db'),
    store: path.join(root, 'store'),
    tls: path.join(root, 'tls'),
    address: path.join(root, 'address'),
  };
}

/**
 * Opens the data directory `dir`, creating it (and an empty catalog and store) if needed.
 * Throws when `dir` exists but is not a directory, or the database is from a newer tunemesh.
 * Several processes may open the same directory at once (SQLite WAL; atomic store writes).
 */
export function openDataDir(dir: string): DataDir {
  const paths = dataDirPaths(dir);
  const st = statSync(paths.root, { throwIfNoEntry: false });
  if (st && !st.isDirectory()) throw new Error(`data directory ${paths.root} exists and is not a directory`);
  mkdirSync(paths.root, { recursive: true });
  const db = openSqliteDatabase(paths.db);
  let catalog: SqliteCatalog;
  let accounts: SqliteAccounts;
  let store: DirStore;
  let keys: ContentKeys;
  try {
    catalog = new SqliteCatalog(db);
    accounts = new SqliteAccounts(db);
    store = new DirStore(paths.store);
    keys = new ContentKeys(db);
  } catch (err) {
    db.close();
    throw err;
  }
  let closing: Promise<void> | undefined;
  return {
    catalog,
    accounts,
    store,
    keys,
    paths,
    close() {
      if (!closing) {
        if (db.open) db.close();
        closing = store.close();
      }
      return closing;
    },
  };
}
