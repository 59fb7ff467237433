/**
 * `minidocker system service`: the Engine API over node:http, on a unix socket (default
 * /run/minidocker.sock) or a loopback TCP port, so that the docker CLI (DOCKER_HOST=unix://…) and
 * libraries such as dockerode drive minidocker. It works on the same state folder as the CLI, and is
 * never needed by it: stop it and every container goes on running (see streams.ts for the one catch).
 *
 * Whoever can reach the socket can run a --privileged container with the host's / mounted: root. So
 * the socket is made with mode 0600 (root only; dockerd gives the `docker` group access, we have none),
 * and TCP — no TLS, no authentication — is only for loopback addresses, with a warning.
 */
import { splitFlag } from '../argv.js';
import { chmodSync, existsSync, lstatSync, unlinkSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createConnection, isIP, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { formatErrorLine } from '../../sys/errors.js';
import { OciError } from '../oci/spec.js';
import { UsageError } from '../flags.js';
import { Engine } from './engine.js';
import { Exchange } from './exchange.js';
import { createRouter } from '../../../lessons/09-api/router.js';
import { formatRequestEvent, type RequestEvent } from '../../../lessons/09-api/request-log.js';
import { ROUTES, type Handler } from './routes.js';
import { isRootless } from '../rootless.js';
import { join } from 'node:path';
import { API_VERSION, MIN_API_VERSION, PING_HEADERS, compareVersions } from './system.js';

export const DEFAULT_HOST = 'unix:///run/minidocker.sock';

export type Listen = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

/** --host unix:///PATH or tcp://LOOPBACK:PORT, as dockerd's -H reads them; anything else is refused. */
export function parseHost(text: string): Listen {
  if (text.startsWith('unix://')) {
    const path = text.slice('unix://'.length);
    if (!path.startsWith('/')) throw new UsageError(`invalid --host "${text}": a unix socket needs an absolute path, e.g. unix:///run/minidocker.sock`);
    return { kind: 'unix', path };
  }
  const tcp = /^tcp:\/\/(\[[^\]]+\]|[^:/]+):(\d+)$/.exec(text);
  if (!tcp) throw new UsageError(`invalid --host "${text}": use unix:///PATH or tcp://127.0.0.1:PORT`);
  const host = tcp[1]!.replace(/^\[|\]$/g, '');
  const port = Number(tcp[2]);
  if (port < 1 || port > 65535) throw new UsageError(`invalid --host "${text}": the port must be 1-65535`);
  const loopback = host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
  if (!loopback) throw new UsageError(`refusing --host "${text}": the API is root-equivalent and has no TLS here, so it listens on loopback addresses only (127.0.0.1, ::1)`);
  return { kind: 'tcp', host, port };
}

/** Is another service answering on this socket? (A file left by one that died answers nothing.) */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection(path);
    probe.once('connect', () => (probe.destroy(), resolve(true)));
    probe.once('error', () => resolve(false));
  });
}

async function claimSocket(path: string, text: string): Promise<void> {
  if (!existsSync(path)) return;
  if (!lstatSync(path).isSocket()) throw new OciError(`${text}: ${path} exists and is not a socket: remove it, or choose another --host`);
  if (await socketAnswers(path)) throw new OciError(`${text} is in use by another service: stop it first, or choose another --host`);
  unlinkSync(path); // stale: its service is gone
}

export interface RunningService {
  engine: Engine;
  server: Server;
  close(): Promise<void>;
}

export interface ServiceOptions {
  /** Each request's arrival, status line and end, as lessons/09-api/request-log.ts formats them. */
  logRequest?: (line: string) => void;
}

export async function startService(listen: Listen, text: string, stateDir: string, options: ServiceOptions = {}): Promise<RunningService> {
  const engine = new Engine(stateDir);
  const router = createRouter(ROUTES);
  const connections = new Set<Socket>();
  let requests = 0;
  // Whatever goes wrong outside a handler's own error handling still ends the request: never a hang.
  const dispatch = (req: IncomingMessage, res: ServerResponse | null, socket: Duplex | null, head?: Buffer) =>
    handle(engine, router, req, res, socket, head, options.logRequest && requestLogger(options.logRequest, ++requests, req, res ?? socket!)).catch((error) => {
      process.stderr.write(`WARNING: ${req.method} ${req.url}: ${formatErrorLine(error)}\n`);
      if (res && !res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json' }).end(`${JSON.stringify({ message: formatErrorLine(error) })}\n`);
      else (res ?? socket)?.destroy();
    });
  // node:http is loaded here, not at the top: every other minidocker command would pay for it (~10 ms).
  const { createServer } = await import('node:http');
  const server = createServer((req, res) => void dispatch(req, res, null));
  server.on('upgrade', (req, socket, head) => void dispatch(req, null, socket, head));
  server.on('connection', (socket) => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
  });
  // A client that sends garbage gets 400 and a closed connection, as node:http answers; the service goes on.
  server.on('clientError', (_error, socket) => socket.writable ? socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n') : socket.destroy());

  if (listen.kind === 'unix') await claimSocket(listen.path, text);
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) =>
      reject(error.code === 'EADDRINUSE' ? new OciError(`${text} is in use by another service: stop it first, or choose another --host`) : new OciError(`listen on ${text}`, { cause: error }));
    server.once('error', onError);
    // 0600 from the start: umask keeps the socket from being reachable by others even for a moment.
    const umask = listen.kind === 'unix' ? process.umask(0o177) : undefined;
    const done = () => {
      server.off('error', onError);
      resolve();
    };
    if (listen.kind === 'unix') server.listen(listen.path, done);
    else server.listen(listen.port, listen.host, done);
    if (umask !== undefined) process.umask(umask); // the bind happened inside listen()
  });
  if (listen.kind === 'unix') chmodSync(listen.path, 0o600);

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of connections) socket.destroy(); // attached clients, followers of logs and events
      engine.letGo();
      if (listen.kind === 'unix') {
        try {
          unlinkSync(listen.path);
        } catch {
          // already gone
        }
      }
    }));
  return { engine, server, close };
}

/** The request log's three lines for one request: now, when its status goes out, when its answer ends. */
function requestLogger(log: (line: string) => void, number: number, req: IncomingMessage, answer: ServerResponse | Duplex): (status: number) => void {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const write = (event: RequestEvent) => log(formatRequestEvent(event));
  write({ kind: 'arrived', number, method: req.method ?? 'GET', target: req.url ?? '/' });
  answer.once('close', () => write({ kind: 'done', number, ms: elapsed() }));
  return (status) => write({ kind: 'answered', number, status, ms: elapsed() });
}

async function handle(engine: Engine, router: ReturnType<typeof createRouter<Handler>>, req: IncomingMessage, res: ServerResponse | null, socket: Duplex | null, head?: Buffer, onAnswer?: (status: number) => void): Promise<void> {
  const match = router.match(req.method ?? 'GET', req.url ?? '/');
  const params = match.kind === 'found' ? match.params : {};
  const query = match.kind === 'found' ? match.query : new URLSearchParams();
  const exchange = new Exchange(req, match.path, params, query, res, socket, head);
  if (onAnswer) exchange.onAnswer = onAnswer;
  if (res) for (const [name, value] of Object.entries(PING_HEADERS)) res.setHeader(name, value);
  try {
    if (match.version && compareVersions(match.version, API_VERSION) > 0) {
      return exchange.json(400, { message: `client version ${match.version} is too new. Maximum supported API version is ${API_VERSION}` });
    }
    if (match.version && compareVersions(match.version, MIN_API_VERSION) < 0) {
      return exchange.json(400, { message: `client version ${match.version} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version` });
    }
    if (match.kind === 'not-found') return exchange.json(404, { message: 'page not found' });
    if (match.kind === 'wrong-method') return exchange.json(405, { message: `${req.method} is not allowed on ${match.path}: ${match.allowed.join(', ')}` });
    await match.handler(engine, exchange);
  } catch (error) {
    exchange.error(error);
  }
}

/** `minidocker system service [--host URL]`: serves until SIGINT or SIGTERM. */
export async function serviceCommand(args: string[], stateDir: string): Promise<number> {
  // Rootless, the user's own folder (podman's $XDG_RUNTIME_DIR/podman/podman.sock): /run is root's.
  let host = isRootless() && process.env.XDG_RUNTIME_DIR ? `unix://${join(process.env.XDG_RUNTIME_DIR, 'minidocker.sock')}` : DEFAULT_HOST;
  let logRequests = false;
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = splitFlag(args[i]!);
    if (flag === '--log-requests' && inline === undefined) logRequests = true;
    else if (flag === '-H' || flag === '--host') {
      const value = inline ?? args[++i];
      if (!value) throw new UsageError(`flag needs an argument: ${flag}`);
      host = value;
    } else if (flag === '--help') {
      process.stdout.write(`Usage:  minidocker system service [--host unix:///run/minidocker.sock | tcp://127.0.0.1:PORT] [--log-requests]\n\nServes the Docker Engine API (${API_VERSION}) on the same state as the minidocker CLI.\nThe socket is root-only (0600): whoever reaches it is root. DOCKER_HOST=unix://... points the docker CLI at it.\n--log-requests prints each request to stderr: when it arrives, its status, when its answer ends.\n`);
      return 0;
    } else {
      throw new UsageError(`unknown flag: ${args[i]} (system service takes --host and --log-requests)`);
    }
  }
  const listen = parseHost(host);
  if (listen.kind === 'tcp') process.stderr.write(`WARNING: ${host} has no TLS and no authentication: every local user can reach this root-equivalent API\n`);
  // A handler's mistake must not take the service (and every attached client) down: one line, and on.
  process.on('uncaughtException', (error) => process.stderr.write(`minidocker system service: ${formatErrorLine(error)}\n`));
  process.on('unhandledRejection', (error) => process.stderr.write(`minidocker system service: ${formatErrorLine(error)}\n`));
  const service = await startService(listen, host, stateDir, logRequests ? { logRequest: (line) => process.stderr.write(`${line}\n`) } : {});
  process.stderr.write(`minidocker system service: API ${API_VERSION} on ${host} (state: ${stateDir}); DOCKER_HOST=${host}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await service.close();
  process.stderr.write('minidocker system service: stopped; the containers go on running\n');
  return 0;
}
