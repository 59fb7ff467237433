/**
 * One request and its answer, the same for the two ways a request arrives:
 *   - a plain HTTP request (node:http's 'request': a ServerResponse to write to);
 *   - a hijack (node:http's 'upgrade'): `docker attach`, `docker run` and `docker exec` send
 *     "Connection: Upgrade" + "Upgrade: tcp" on POST /containers/{id}/attach and /exec/{id}/start, and
 *     after Docker's "101 UPGRADED" the connection is a raw two-way stream (Engine API "Hijacking").
 * Handlers answer JSON, nothing, or a stream, without caring which it was.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { Duplex, Readable, Writable } from 'node:stream';
import { formatErrorLine } from '../../sys/errors.js';
import { ApiError, BODY_LIMIT, badRequest, parseJsonObject, readBody, statusOf } from './http.js';

export interface OpenedStream {
  /** Where the container's output goes. */
  output: Writable;
  /** What the client types (a hijacked connection only; a plain request's body is not stdin). */
  input: Readable | null;
  /** Resolves when the client has gone (closed the connection, or its end of it). */
  closed: Promise<void>;
}

export class Exchange {
  private answered = false;
  private bodyRead: Promise<Buffer> | undefined;
  /** Told the status as its line goes out (the service's request log). */
  onAnswer: (status: number) => void = () => {};

  constructor(
    readonly req: IncomingMessage,
    /** The path without its version prefix, as routed. */
    readonly path: string,
    readonly params: Record<string, string>,
    readonly query: URLSearchParams,
    private readonly res: ServerResponse | null,
    private readonly socket: Duplex | null,
    private head: Buffer = Buffer.alloc(0),
  ) {}

  get hijacked(): boolean {
    return this.socket !== null;
  }

  /** The body: from the response's request, or, hijacked, the Content-Length bytes after the headers. */
  bodyBytes(): Promise<Buffer> {
    this.bodyRead ??= this.readBodyBytes();
    return this.bodyRead;
  }

  private async readBodyBytes(): Promise<Buffer> {
    if (!this.socket) return readBody(this.req);
    const length = Number(this.req.headers['content-length'] ?? 0);
    if (length > BODY_LIMIT) throw new ApiError(413, `request body is too large: ${length} bytes, at most ${BODY_LIMIT}`);
    while (this.head.length < length) {
      const chunk = await new Promise<Buffer | null>((resolve) => {
        const onData = (data: Buffer) => (cleanup(), resolve(data));
        const onEnd = () => (cleanup(), resolve(null));
        const cleanup = () => {
          this.socket!.off('data', onData);
          this.socket!.off('end', onEnd);
          this.socket!.off('close', onEnd);
          this.socket!.pause();
        };
        this.socket!.on('data', onData).on('end', onEnd).on('close', onEnd);
        this.socket!.resume();
      });
      if (!chunk) throw badRequest('the connection ended before the request body did');
      this.head = Buffer.concat([this.head, chunk]);
    }
    const body = this.head.subarray(0, length);
    this.head = this.head.subarray(length);
    return body;
  }

  async body(): Promise<Record<string, unknown>> {
    return parseJsonObject(await this.bodyBytes());
  }

  json(status: number, value: unknown): void {
    const text = value === undefined ? '' : `${JSON.stringify(value)}\n`;
    this.send(status, value === undefined ? {} : { 'Content-Type': 'application/json' }, text);
  }

  text(status: number, body: string): void {
    this.send(status, { 'Content-Type': 'text/plain; charset=utf-8' }, body);
  }

  empty(status = 204): void {
    this.send(status, {}, '');
  }

  /** Docker's error body: one line with the cause chain. */
  error(error: unknown): void {
    if (this.answered) {
      this.destroy(); // a stream already under way cannot become an error: cut it
      return;
    }
    this.json(statusOf(error), { message: formatErrorLine(error) });
  }

  private send(status: number, headers: Record<string, string>, text: string): void {
    if (this.answered) return;
    this.answered = true;
    this.onAnswer(status);
    const all = { ...headers, 'Content-Length': String(Buffer.byteLength(text)) };
    if (this.res) {
      this.res.writeHead(status, all);
      this.res.end(text);
      return;
    }
    const lines = Object.entries(all).map(([name, value]) => `${name}: ${value}\r\n`).join('');
    // node:http by require, when an answer is written (the service has it loaded): not on every CLI command's start.
    const { STATUS_CODES } = createRequire(import.meta.url)('node:http') as typeof import('node:http');
    this.socket!.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n${lines}Connection: close\r\n\r\n${text}`);
  }

  /**
   * A stream answer: hijacked, "101 UPGRADED" and the raw connection both ways; otherwise 200 with a body
   * that flows until the handler ends it. `contentType`: Docker's raw-stream (a terminal's bytes) or
   * multiplexed-stream (stdcopy frames, see lesson 09's frames.ts).
   */
  openStream(contentType: string): OpenedStream {
    this.answered = true;
    this.onAnswer(this.socket ? 101 : 200);
    if (this.socket) {
      const socket = this.socket;
      socket.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`);
      // What came after the body is the client's first input. The socket stays paused (no 'data' listener
      // yet): it is buffered until the handler has somewhere to put it and resumes the stream.
      if (this.head.length) socket.unshift(this.head);
      this.head = Buffer.alloc(0);
      socket.on('error', () => {});
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      return { output: socket, input: socket, closed };
    }
    const res = this.res!;
    res.writeHead(200, { 'Content-Type': contentType });
    res.flushHeaders();
    res.on('error', () => {});
    // A client that goes away closes the socket under the response before it ends ('close' without finish).
    const closed = new Promise<void>((resolve) => res.once('close', () => resolve()));
    return { output: res, input: null, closed };
  }

  /** A streamed JSON-lines answer: events, a wait (its headers now, its one line later), pull progress, stats. */
  openJsonStream(): { write(value: unknown): void; end(): void; closed: Promise<void> } {
    this.answered = true;
    this.onAnswer(200);
    const res = this.res;
    const out: Writable = res ?? this.socket!;
    if (res) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.flushHeaders();
    } else {
      out.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n');
    }
    out.on('error', () => {});
    const closed = new Promise<void>((resolve) => (res ?? out).once('close', () => resolve()));
    return { write: (value) => void (out.writable && out.write(`${JSON.stringify(value)}\n`)), end: () => out.end(), closed };
  }

  destroy(): void {
    (this.res ?? this.socket)?.destroy();
  }
}
