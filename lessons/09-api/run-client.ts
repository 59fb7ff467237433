/**
 * The other half of lesson 09: a client of the Engine API, as thin as the `docker` command is. It knows
 * no namespace, no cgroup, no image: it turns a wish into HTTP requests on the daemon's socket
 * (unix:///run/minidocker.sock; dockerd's is /var/run/docker.sock) and reads the answers. Everything
 * else happens on the other side of the socket.
 *
 * `docker run` is no single request. The CLI (docker/cli, cli/command/container/run.go) makes four:
 *   1. POST /containers/create            the container exists, nothing runs yet (201 {"Id": …})
 *   2. POST /containers/{id}/attach       the connection becomes the container's output (101 UPGRADED)
 *   3. POST /containers/{id}/wait         headers now; the exit code when the container exits
 *   4. POST /containers/{id}/start        the process starts (204)
 * Attach and wait come before start: output written, or an exit that happens, before they are in place
 * would be lost.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { demultiplexer, type StreamName } from './frames.js';

/** The API version this client speaks: every path goes out as /v1.43/… (docker 24; the service speaks it). */
export const CLIENT_API_VERSION = '1.43';

/** The daemon said no: its status and its {"message": …}. */
export class EngineError extends Error {
  override name = 'EngineError';
  constructor(
    readonly status: number,
    readonly request: string,
    message: string,
  ) {
    super(`${request}: ${message} (${status})`);
  }
}

/** An answer whose status line has arrived; the body may still be on its way (a wait's is). */
export interface Answer {
  status: number;
  headers: IncomingMessage['headers'];
  text(): Promise<string>;
  /** The body parsed as JSON; undefined for an empty one (204, 304). */
  json<T = unknown>(): Promise<T>;
}

export class EngineClient {
  constructor(
    /** The daemon's unix socket. */
    readonly socketPath: string,
    readonly version: string = CLIENT_API_VERSION,
  ) {}

  /** Sends one request; resolves as soon as the status line and headers are in. */
  send(method: string, path: string, body?: unknown): Promise<Answer> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        {
          socketPath: this.socketPath,
          method,
          path: `/v${this.version}${path}`,
          headers: payload ? { 'Content-Type': 'application/json', 'Content-Length': payload.length } : {},
        },
        (res) => {
          const body = readAll(res);
          body.catch(() => {}); // read or not, a cut connection is no unhandled rejection
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: () => body,
            json: async <T>() => {
              const text = await body;
              return (text.trim() ? JSON.parse(text) : undefined) as T;
            },
          });
        },
      );
      req.on('error', (error) => reject(new Error(`cannot reach the daemon at unix://${this.socketPath}: ${error.message}`)));
      req.end(payload);
    });
  }

  /** One request whose answer is JSON: the value, or an EngineError carrying the daemon's message. */
  async call<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const answer = await this.send(method, path, body);
    if (answer.status >= 400) throw new EngineError(answer.status, `${method} ${path}`, await messageOf(answer));
    return answer.json<T>();
  }

  /**
   * A hijacked request (Engine API "Hijacking"): "Connection: Upgrade" + "Upgrade: tcp", the daemon
   * answers 101, and from then on the connection is a raw two-way stream — the container's output one
   * way, what you type the other.
   */
  hijack(method: string, path: string): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const req = httpRequest({
        socketPath: this.socketPath,
        method,
        path: `/v${this.version}${path}`,
        headers: { Connection: 'Upgrade', Upgrade: 'tcp' },
      });
      req.on('upgrade', (_res, socket, head) => {
        if (head.length) socket.unshift(head); // output that came with the 101
        resolve(socket);
      });
      // No upgrade: the daemon answered with an error instead.
      req.on('response', (res) => {
        const answer: Answer = { status: res.statusCode ?? 0, headers: res.headers, text: () => readAll(res), json: async () => JSON.parse(await readAll(res)) };
        messageOf(answer).then((message) => reject(new EngineError(answer.status, `${method} ${path}`, message)), reject);
      });
      req.on('error', (error) => reject(new Error(`cannot reach the daemon at unix://${this.socketPath}: ${error.message}`)));
      req.end();
    });
  }
}

/** An answer's whole body as text; rejects when the connection breaks first. */
function readAll(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    res.on('end', () => resolve(text)).on('error', reject);
  });
}

/** Docker's error body is {"message": "…"}; anything else is shown as it came. */
async function messageOf(answer: Answer): Promise<string> {
  const text = (await answer.text()).trim();
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    if (typeof parsed.message === 'string') return parsed.message;
  } catch {
    // not JSON
  }
  return text || `status ${answer.status}`;
}

/** What `docker run` was asked for, in the create request's words. */
export interface RunRequest {
  image: string;
  cmd: string[];
  name?: string;
  hostname?: string;
  /** --rm: the daemon removes the container when it exits (HostConfig.AutoRemove). */
  autoRemove?: boolean;
  /** --network; the lesson uses "none", so no host network is touched. */
  networkMode?: string;
}

export interface RunResult {
  id: string;
  exitCode: number;
}

/** The body of POST /containers/create for a RunRequest (Engine API ContainerConfig + HostConfig). */
export function createBody(run: RunRequest): Record<string, unknown> {
  return {
    Image: run.image,
    Cmd: run.cmd,
    ...(run.hostname ? { Hostname: run.hostname } : {}),
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    HostConfig: { AutoRemove: run.autoRemove ?? false, ...(run.networkMode ? { NetworkMode: run.networkMode } : {}) },
  };
}

/** Where a container's output goes: stdout and stderr, each its own callback. */
export type OutputSink = (stream: StreamName, chunk: Buffer) => void;

/**
 * `docker run` without a terminal: create, attach, wait, start; the output to `sink` as it comes; the
 * exit code from the wait. With autoRemove the wait's condition is "removed", so the answer comes only
 * once the daemon has removed the container (the CLI does the same for --rm).
 */
export async function runContainer(client: EngineClient, run: RunRequest, sink: OutputSink): Promise<RunResult> {
  // EXERCISE(api.run): Make docker run's four requests in its order: POST /containers/create (the createBody, and ?name= when run.name is set; the answer's Id), client.hijack POST /containers/{id}/attach?stream=1&stdout=1&stderr=1 (feed its data to a demultiplexer that calls sink), client.send POST /containers/{id}/wait?condition=next-exit (removed when run.autoRemove; send resolves at its headers), POST /containers/{id}/start; then the wait's StatusCode, once the attach stream has ended, is the exit code.
  // HINT: call() is for answers you need at once (create's Id, start's 204); send() hands back the wait while the daemon is still waiting, and its json() resolves when the container has exited.
  // HINT: encodeURIComponent(run.name) in the query; `${id}` in the paths. A wait answer that is not 200 is an EngineError too.
  // HINT: The attach socket's 'end' (or 'close') event says all output has arrived: wait for it before you return, or the last line may be missing.
  const query = run.name ? `?name=${encodeURIComponent(run.name)}` : '';
  const { Id: id } = await client.call<{ Id: string }>('POST', `/containers/create${query}`, createBody(run));
  const attached = await client.hijack('POST', `/containers/${id}/attach?stream=1&stdout=1&stderr=1`);
  const frames = demultiplexer(({ stream, payload }) => sink(stream, payload));
  const outputEnded = new Promise<void>((resolve) => {
    attached.on('data', (chunk: Buffer) => frames.push(chunk));
    attached.once('end', resolve).once('close', resolve);
  });
  const waiting = await client.send('POST', `/containers/${id}/wait?condition=${run.autoRemove ? 'removed' : 'next-exit'}`);
  if (waiting.status !== 200) throw new EngineError(waiting.status, `POST /containers/${id}/wait`, await messageOf(waiting));
  await client.call('POST', `/containers/${id}/start`);
  const { StatusCode } = await waiting.json<{ StatusCode: number }>();
  await outputEnded;
  return { id, exitCode: StatusCode };
  // END EXERCISE
}
