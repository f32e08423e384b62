import pg from 'pg';
import { PostgresDialect } from 'kysely';

// bigint (int8) columns hold ids and counters that stay far below 2^53: read them as numbers, not strings.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number(value));

export function openPostgres(url: string): { dialect: PostgresDialect; pool: pg.Pool } {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  // An idle client that loses its server must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  return { dialect: new PostgresDialect({ pool }), pool };
}
