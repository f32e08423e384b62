import BetterSqlite3 from 'better-sqlite3';
import { CompiledQuery, SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver, type SqliteDatabase } from 'kysely';

/**
 * SQLite takes its write lock lazily with a plain BEGIN, so two processes that both read and then write deadlock
 * with SQLITE_BUSY that no busy timeout resolves. BEGIN IMMEDIATE takes the write lock up front and makes
 * concurrent writers queue behind busy_timeout instead.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

/**
 * Kysely prepares every statement anew; preparing costs as much as running a small one. The engine issues a few
 * hundred distinct statements, so they are kept, bounded, by their SQL text. (Kysely's streamQuery would iterate a
 * shared statement; Hangar does not stream from SQLite.)
 */
const STATEMENT_CACHE_SIZE = 2000;

function withStatementCache(database: BetterSqlite3.Database): SqliteDatabase {
  const statements = new Map<string, BetterSqlite3.Statement>();
  return {
    prepare(sql: string) {
      let statement = statements.get(sql);
      if (!statement) {
        if (statements.size >= STATEMENT_CACHE_SIZE) statements.clear();
        statement = database.prepare(sql);
        statements.set(sql, statement);
      }
      return statement;
    },
    close: () => database.close(),
  };
}

class ImmediateSqliteDialect extends SqliteDialect {
  private readonly database: SqliteDatabase;
  constructor(database: BetterSqlite3.Database) {
    const cached = withStatementCache(database);
    super({ database: cached });
    this.database = cached;
  }
  override createDriver(): Driver {
    return new ImmediateSqliteDriver({ database: this.database });
  }
}

/**
 * WAL with synchronous=FULL: every commit is on disk before the caller is told it succeeded. A connection whose
 * writes are kept durably elsewhere (the DHCP lease journal's indexer) may open with `syncEachCommit: false`:
 * synchronous=NORMAL survives a crash of the process, and its fsyncs no longer stall the disk for others.
 */
export function openSqlite(file: string, { syncEachCommit = true }: { syncEachCommit?: boolean } = {}): SqliteDialect {
  const database = new BetterSqlite3(file);
  database.pragma('journal_mode = WAL');
  database.pragma(syncEachCommit ? 'synchronous = FULL' : 'synchronous = NORMAL');
  database.pragma('busy_timeout = 10000');
  database.pragma('foreign_keys = ON');
  return new ImmediateSqliteDialect(database);
}
