import assert from 'node:assert/strict';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { ManualClock } from '../core/clock.js';
import { openServices, type Services } from '../main.js';
import { createTestDatabase, type TestDatabase } from '../store/database-fixture.js';
import type { Backend } from '../store/store.js';
import { buildApi, type ApiOptions } from './app.js';

/** Test support: the whole API on a fresh database of one backend, with a manual clock and an admin token. */
export interface TestApi {
  app: FastifyInstance;
  services: Services;
  clock: ManualClock;
  database: TestDatabase;
  adminToken: string;
  tokenWith(scope: 'read' | 'write' | 'admin', options?: { tenant?: string; expires?: string }): Promise<string>;
  call(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    url: string,
    options?: { token?: string | null; body?: unknown; rawBody?: string; headers?: Record<string, string> },
  ): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export async function startTestApi(backend: Backend, options: Partial<ApiOptions> = {}): Promise<TestApi> {
  const database = await createTestDatabase(backend);
  const clock = new ManualClock(new Date());
  const services = await openServices(database.location, clock);
  const app = await buildApi(services, { logLevel: 'silent', ...options });
  const tokenWith: TestApi['tokenWith'] = async (scope, extra = {}) =>
    (await services.tokens.create({ scope, tenant: extra.tenant ?? null, expires: extra.expires ?? null }, 'test')).token;
  const adminToken = await tokenWith('admin');
  return {
    app,
    services,
    clock,
    database,
    adminToken,
    tokenWith,
    async call(method, url, { token = adminToken, body, rawBody, headers = {} } = {}) {
      const payload = rawBody ?? (body === undefined ? undefined : JSON.stringify(body));
      return app.inject({
        method,
        url,
        headers: {
          ...(token ? { authorization: `Token ${token}` } : {}),
          ...(payload !== undefined ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
        ...(payload !== undefined ? { payload } : {}),
      });
    },
    async close() {
      await app.close();
      await services.store.close();
      await database.drop();
    },
  };
}

/** A response body as tests read it: whatever JSON the server sent; the assertions check its shape. */
export type ResponseBody = any;

/** The body (an object or a list) of a response that must have `status`; the message shows what came back instead. */
export function expectStatus(res: LightMyRequestResponse, status: number): ResponseBody {
  assert.equal(res.statusCode, status, `${res.statusCode}: ${res.body}`);
  return res.statusCode === 204 ? {} : res.json();
}

/** What differs from the expected error status and field (null: any), one line per case, so one run reports every problem. */
export function refusalProblem(label: string, res: LightMyRequestResponse, status: number, field: string | null): string[] {
  const body = (res.statusCode >= 400 ? res.json() : {}) as { field?: string; detail?: string };
  const named = field === null || (body.field === field && String(body.detail).startsWith(field));
  if (res.statusCode === status && named) return [];
  return [`${label}: expected ${status}${field ? ` naming ${field}` : ''}, got ${res.statusCode} ${res.body.slice(0, 200)}`];
}
