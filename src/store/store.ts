import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Kysely, Migrator, sql, type Transaction } from 'kysely';
import type { Database } from './schema.js';
import { migrationProvider } from './migrations/index.js';

export type Backend = 'sqlite' | 'postgres';

/** Named locks that serialise writers across processes for the length of one transaction. */
export type LockName = 'journal' | 'ipam';

/** A transaction in progress: its query builder, locks, and work to run once it has committed. */
export interface Tx {
  readonly db: Transaction<Database>;
  /** Serialises this transaction against every other holder of the lock, in every process, until it ends. */
  lock(name: LockName): Promise<void>;
  /** Runs after a successful commit (never after a rollback), for example to wake event streams. */
  onCommit(callback: () => void): void;
}

export interface StoreLocation {
  /** Directory of the embedded SQLite database, used when no database URL is given. */
  dataDir: string;
  /** `postgres://...` selects PostgreSQL. */
  databaseUrl?: string | undefined;
}

export class Store {
  private constructor(
    readonly db: Kysely<Database>,
    readonly backend: Backend,
    readonly description: string,
    /** Where it is, so a worker thread can open a connection of its own. */
    readonly location: StoreLocation,
    private readonly syncEachCommit = true,
  ) {}

  /**
   * Opens the store and applies pending migrations. `syncEachCommit: false` (SQLite only) defers the fsync of
   * ordinary commits; durably() still syncs. PostgreSQL commits are always durable.
   */
  static async open(location: StoreLocation, options: { syncEachCommit?: boolean } = {}): Promise<Store> {
    const store = await Store.connect(location, options.syncEachCommit ?? true);
    try {
      await store.migrate();
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }

  private static async connect(location: StoreLocation, syncEachCommit: boolean): Promise<Store> {
    const url = location.databaseUrl;
    if (url) {
      if (!/^postgres(ql)?:\/\//.test(url)) {
        throw new Error(`HANGAR_DATABASE_URL must start with postgres:// (got '${url.replace(/:[^:@/]*@/, ':***@')}')`);
      }
      // Each driver is loaded only when chosen: start-up time matters for `hangar serve` and every CLI command.
      const { openPostgres } = await import('./postgres.js');
      const { dialect } = openPostgres(url);
      return new Store(new Kysely<Database>({ dialect }), 'postgres', url.replace(/:[^:@/]*@/, ':***@'), location);
    }
    const { openSqlite } = await import('./sqlite.js');
    mkdirSync(location.dataDir, { recursive: true });
    const file = join(location.dataDir, 'hangar.sqlite');
    return new Store(new Kysely<Database>({ dialect: openSqlite(file, { syncEachCommit }) }), 'sqlite', file, location, syncEachCommit);
  }

  private async migrate(): Promise<void> {
    const migrator = new Migrator({
      db: this.db,
      provider: migrationProvider(this.backend),
      migrationTableName: 'hangar_migrations',
      migrationLockTableName: 'hangar_migrations_lock',
    });
    const { error, results } = await migrator.migrateToLatest();
    if (error) {
      const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
      throw new Error(`database migration ${failed} failed: ${String(error instanceof Error ? error.message : error)}`);
    }
  }

  /** Runs `work` in one transaction: all of its writes commit together or none do. */
  async transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    const callbacks: Array<() => void> = [];
    const held = new Set<LockName>();
    const backend = this.backend;
    const result = await this.db.transaction().execute(async (db) => {
      const tx: Tx = {
        db,
        async lock(name) {
          // SQLite transactions start with BEGIN IMMEDIATE and so already exclude every other writer.
          if (backend === 'postgres' && !held.has(name)) {
            await sql`select pg_advisory_xact_lock(hashtext(${'hangar:' + name}))`.execute(db);
          }
          held.add(name);
        },
        onCommit(callback) {
          callbacks.push(callback);
        },
      };
      return work(tx);
    });
    for (const callback of callbacks) callback();
    return result;
  }

  /** A transaction that is on disk when it returns, with every commit before it, whatever the connection defers. */
  async durably<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    if (this.backend === 'postgres' || this.syncEachCommit) return this.transaction(work);
    // In WAL mode a FULL commit syncs the log, and with it every frame committed before.
    await sql`pragma synchronous = FULL`.execute(this.db);
    try {
      return await this.transaction(work);
    } finally {
      await sql`pragma synchronous = NORMAL`.execute(this.db);
    }
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}
