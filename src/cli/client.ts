import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { InvalidError } from '../core/errors.js';

/**
 * The CLI's HTTP client for a running `hangar serve`. Commands that change inventory go through the API rather
 * than the store, so the token decides the tenant and the audit actor exactly as for any other API client.
 */

export const DEFAULT_URL = 'http://127.0.0.1:8080';
/** The largest page the server returns; fewer round trips for long lists. */
const PAGE_SIZE = 1000;
const TIMEOUT_MS = 60_000;

export type QueryPairs = ReadonlyArray<readonly [name: string, value: string]>;

/** NetBox's list envelope. */
interface Page<T> {
  count: number;
  next: string | null;
  results: T[];
}

/** An error answer of the API: its `detail`, the offending `field` and the HTTP status. Exits 1 like any failed command. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly field: string | undefined,
  ) {
    super(`${detail} (HTTP ${status})`);
    this.name = 'ApiError';
  }
}

export interface ClientConfig {
  url: string;
  token: string;
}

/** HANGAR_URL (default http://127.0.0.1:8080) and HANGAR_TOKEN (required). */
export function clientConfigFrom(env: NodeJS.ProcessEnv): ClientConfig {
  const token = env.HANGAR_TOKEN?.trim();
  if (!token) {
    throw new InvalidError('HANGAR_TOKEN is not set: this command talks to `hangar serve` with an API token (create one with `hangar token create --scope write`)', 'HANGAR_TOKEN');
  }
  const text = env.HANGAR_URL?.trim() || DEFAULT_URL;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidError(`HANGAR_URL: '${text}' is not a URL (for example ${DEFAULT_URL})`, 'HANGAR_URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidError(`HANGAR_URL: '${text}' is not an http or https URL`, 'HANGAR_URL');
  return { url: url.toString().replace(/\/+$/, ''), token };
}

interface RequestBody {
  body: string | ReadableStream<Uint8Array>;
  headers: Record<string, string>;
}

function jsonBody(value: unknown): RequestBody {
  return { body: JSON.stringify(value), headers: { 'content-type': 'application/json' } };
}

/** A dispatcher without fetch's 300 s limits on headers and body. */
async function untimed(): Promise<{ dispatcher: unknown }> {
  const { Agent } = await import('undici');
  return { dispatcher: new Agent({ headersTimeout: 0, bodyTimeout: 0 }) };
}

export class HangarClient {
  constructor(private readonly config: ClientConfig) {}

  get<T>(path: string, query: QueryPairs = []): Promise<T> {
    return this.request<T>('GET', path, query);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, [], jsonBody(body));
  }

  /**
   * A request that may run for many minutes before the server answers (applying a large fleet): no client-side
   * time limit, and none for the answer's headers either (fetch gives up after 300 s by default).
   */
  async postLong<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, [], jsonBody(body), await untimed());
  }

  /** PUTs a local file as the request body, streamed, with no time limit (image files run to gigabytes). */
  async putFile<T>(path: string, query: QueryPairs, file: string): Promise<T> {
    const size = (await stat(file)).size;
    const body = Readable.toWeb(createReadStream(file)) as ReadableStream<Uint8Array>;
    return this.request<T>('PUT', path, query, { body, headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) } }, await untimed());
  }

  /** Every result of a NetBox list, following `next` until `limit` results (default: all). */
  async list<T>(path: string, query: QueryPairs, limit = Infinity): Promise<T[]> {
    const results: T[] = [];
    let pairs: QueryPairs = [...query, ['limit', String(Math.min(limit, PAGE_SIZE))]];
    for (;;) {
      const page = await this.get<Page<T>>(path, pairs);
      results.push(...page.results.slice(0, limit - results.length));
      if (!page.next || results.length >= limit || page.results.length === 0) return results;
      // Only next's query is taken: its host is the one the server saw, which behind a proxy may not be ours.
      pairs = [...new URL(page.next).searchParams];
    }
  }

  private async request<T>(method: string, path: string, query: QueryPairs, body?: RequestBody, long?: { dispatcher: unknown }): Promise<T> {
    const search = new URLSearchParams(query.map(([name, value]) => [name, value])).toString();
    const url = `${this.config.url}${path}${search ? `?${search}` : ''}`;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: {
          authorization: `Token ${this.config.token}`,
          accept: 'application/json',
          ...body?.headers,
        },
        ...(body === undefined ? {} : ({ body: body.body, duplex: 'half' } as RequestInit)),
        ...(long ? ({ dispatcher: long.dispatcher } as RequestInit) : { signal: AbortSignal.timeout(TIMEOUT_MS) }),
      });
    } catch (error) {
      throw this.unreachable(error);
    }
    const text = await response.text();
    let json: unknown;
    try {
      json = text === '' ? null : JSON.parse(text);
    } catch {
      throw new ApiError(response.status, `${method} ${this.config.url}${path} answered with something other than JSON: ${text.slice(0, 200)}`, undefined);
    }
    if (!response.ok) {
      const { detail, field } = (json ?? {}) as { detail?: unknown; field?: unknown };
      throw new ApiError(response.status, typeof detail === 'string' ? detail : `${method} ${path} failed`, typeof field === 'string' ? field : undefined);
    }
    return json as T;
  }

  private unreachable(error: unknown): Error {
    const at = `cannot reach Hangar at ${this.config.url}`;
    if (error instanceof DOMException && error.name === 'TimeoutError') return new Error(`${at}: no answer within ${TIMEOUT_MS / 1000} s`);
    const cause = error instanceof Error ? (error.cause as { code?: string; message?: string } | undefined) : undefined;
    if (cause?.code === 'ECONNREFUSED') return new Error(`${at} (is \`hangar serve\` running?)`);
    return new Error(`${at}: ${cause?.message ?? (error instanceof Error ? error.message : String(error))}`);
  }
}
