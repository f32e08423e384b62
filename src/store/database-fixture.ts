import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Backend, StoreLocation } from './store.js';

/**
 * Test support: a fresh, empty database on each backend. SQLite always; PostgreSQL when HANGAR_TEST_PG_URL names
 * a server (the test command starts a throw-away cluster and sets it). In CI a missing PostgreSQL is an error, so
 * the PostgreSQL lane can never be skipped silently.
 */
export interface TestDatabase {
  backend: Backend;
  location: StoreLocation;
  drop(): Promise<void>;
}

const pgUrl = process.env.HANGAR_TEST_PG_URL;
if (!pgUrl && process.env.CI) {
  throw new Error('HANGAR_TEST_PG_URL is not set: run the tests with `npm test`, which starts a PostgreSQL cluster');
}

export const testBackends: Backend[] = pgUrl ? ['sqlite', 'postgres'] : ['sqlite'];

export async function createTestDatabase(backend: Backend): Promise<TestDatabase> {
  if (backend === 'sqlite') {
    const dataDir = mkdtempSync(join(tmpdir(), 'hangar-test-'));
    return { backend, location: { dataDir }, drop: async () => rmSync(dataDir, { recursive: true, force: true }) };
  }
  if (!pgUrl) throw new Error('HANGAR_TEST_PG_URL is not set');
  const name = `hangar_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: pgUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(pgUrl);
  url.pathname = `/${name}`;
  return {
    backend,
    location: { dataDir: '', databaseUrl: url.toString() },
    async drop() {
      const client = new pg.Client({ connectionString: pgUrl });
      await client.connect();
      try {
        await client.query(`drop database if exists ${name} with (force)`);
      } finally {
        await client.end();
      }
    },
  };
}
