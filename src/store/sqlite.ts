import BetterSqlite3 from 'better-sqlite3';
import { CompiledQuery, SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver } from 'kysely';

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

class ImmediateSqliteDialect extends SqliteDialect {
  private readonly database: BetterSqlite3.Database;
  constructor(database: BetterSqlite3.Database) {
    super({ database });
    this.database = database;
  }
  override createDriver(): Driver {
    return new ImmediateSqliteDriver({ database: this.database });
  }
}

export function openSqlite(file: string): SqliteDialect {
  const database = new BetterSqlite3(file);
  database.pragma('journal_mode = WAL');
  // WAL with synchronous=FULL: every commit is on disk before the caller is told it succeeded.
  database.pragma('synchronous = FULL');
  database.pragma('busy_timeout = 10000');
  database.pragma('foreign_keys = ON');
  return new ImmediateSqliteDialect(database);
}
