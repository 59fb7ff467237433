/**
 * What every endpoint shares: Docker's error body {"message": "..."} with its status code, JSON answers,
 * the request body read with a size limit, and query flags read the way moby reads them.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { exitCodeInChain, formatErrorLine } from '../../sys/errors.js';
import { UsageError } from '../flags.js';

/** An error with the HTTP status Docker gives it (moby's errdefs: NotFound → 404, Conflict → 409 …). */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(readonly status: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export const badRequest = (message: string) => new ApiError(400, message);
export const notFound = (message: string) => new ApiError(404, message);
export const conflict = (message: string) => new ApiError(409, message);

/** The largest request body the service reads: a create is a few KB, so 1 MiB is generous (413 beyond). */
export const BODY_LIMIT = 1024 * 1024;

/**
 * The status for an error from minidocker's own functions, which throw one-line OciErrors: read from their
 * words (Docker's own messages, which the CLI shows as they are), as moby's errdefs classes would be.
 */
export function statusOf(error: unknown): number {
  if (error instanceof ApiError) return error.status;
  if (error instanceof UsageError) return 400;
  // A command that cannot be executed (not found: 127, not executable: 126) is the request's mistake.
  const code = exitCodeInChain(error);
  if (code === 126 || code === 127) return 400;
  const line = formatErrorLine(error);
  if (/No such (container|image|exec instance)|Unable to find image|does not exist/i.test(line)) return 404;
  if (/Conflict|already in use|already allocated|cannot remove a|must force|is not running|is paused|is already paused|is not paused|cannot start a container that is/i.test(line)) return 409;
  if (/^invalid |invalid (volume|reference|signal|container name)|unknown signal|Invalid container name|requires|must be/i.test(line)) return 400;
  return 500;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.destroy(); // a stream already under way cannot turn into an error: end it
    return;
  }
  const text = body === undefined ? '' : `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** 204 No Content: how Docker answers start, stop, kill, rm, resize. */
export function sendEmpty(res: ServerResponse, status = 204): void {
  res.writeHead(status);
  res.end();
}

/** Docker's error body: one line, the whole cause chain (as the CLI prints an error). */
export function sendError(res: ServerResponse, error: unknown): void {
  sendJson(res, statusOf(error), { message: formatErrorLine(error) });
}

/** The request's body, at most BODY_LIMIT bytes (413 beyond, without reading the rest). */
export function readBody(req: IncomingMessage, limit = BODY_LIMIT): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) return Promise.reject(new ApiError(413, `request body is too large: ${declared} bytes, at most ${limit}`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.pause();
        reject(new ApiError(413, `request body is too large: more than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** A request body as a JSON object; an empty body is {} (dockerode sends none for start, docker for wait). */
export function parseJsonObject(bytes: Buffer): Record<string, unknown> {
  if (!bytes.length) return {};
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw badRequest(`invalid JSON: ${(error as Error).message}`);
  }
  if (value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw badRequest('invalid JSON: the body must be a JSON object');
  return value as Record<string, unknown>;
}

/** A boolean query flag as moby's httputils.BoolValue reads it: anything but "", "0", "no", "false", "none" is true. */
export function queryFlag(query: URLSearchParams, name: string): boolean {
  const value = query.get(name);
  return value !== null && !['', '0', 'no', 'false', 'none'].includes(value.trim().toLowerCase());
}

/** An integer query parameter, or the default; 400 when it is not a whole number. */
export function queryInt(query: URLSearchParams, name: string, fallback: number): number {
  const value = query.get(name);
  if (value === null || value === '') return fallback;
  if (!/^-?\d+$/.test(value)) throw badRequest(`invalid value for ${name}: "${value}" is not a whole number`);
  return Number(value);
}

/**
 * `filters`: a JSON map from a filter's name to its values, in either of the two forms Docker has used —
 * {"name":["web"]} (API ≥ 1.22 clients send this…) or {"name":{"web":true}} (…and the CLI this).
 */
export function parseFilters(query: URLSearchParams): Map<string, string[]> {
  const text = query.get('filters');
  const filters = new Map<string, string[]>();
  if (!text) return filters;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw badRequest(`invalid filters: ${text}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badRequest(`invalid filters: ${text}`);
  for (const [name, values] of Object.entries(value)) {
    if (Array.isArray(values)) filters.set(name, values.map(String));
    else if (typeof values === 'object' && values !== null) filters.set(name, Object.keys(values).filter((key) => (values as Record<string, unknown>)[key]));
    else throw badRequest(`invalid filters: ${name}`);
  }
  return filters;
}
