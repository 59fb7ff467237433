/**
 * A container's output to a client: POST /containers/{id}/attach and GET /containers/{id}/logs, framed
 * as lesson 09's frames.ts says.
 */
import { existsSync, openSync, readSync, closeSync, statSync } from 'node:fs';
import { runtimeState, type ContainerInfo } from '../docker.js';
import { sleep, type Engine } from './engine.js';
import type { Exchange } from './exchange.js';
import { badRequest, queryFlag } from './http.js';
import { MULTIPLEXED_STREAM, RAW_STREAM, frame, outputWriter, type StreamName } from '../../../lessons/09-api/frames.js';
import { jsonLogPath, parseTimeBound, readEntries, type LogEntry } from './json-log.js';
import { startOfLastLines } from '../log-tail.js';

/** How much of a container's output the service keeps for one attached client that is not reading. */
const UNREAD_LIMIT = 16 * 1024 * 1024;

/** POST /containers/{id}/attach?stream=1&stdin=1&stdout=1&stderr=1[&logs=1]. */
export async function attachContainer(engine: Engine, exchange: Exchange): Promise<void> {
  const info = engine.find(exchange.params.id!);
  const { query } = exchange;
  const tty = info.tty ?? false;
  const wanted = { stdout: queryFlag(query, 'stdout'), stderr: queryFlag(query, 'stderr') };
  // dockerode sends its options as a JSON body even on a hijack: what follows it is stdin.
  await exchange.bodyBytes();
  const stream = exchange.openStream(tty ? RAW_STREAM : MULTIPLEXED_STREAM);
  const write = outputWriter(stream.output, tty, wanted);
  if (queryFlag(query, 'logs') && info.logPath && existsSync(info.logPath)) write('stdout', readLog(info.logPath, 0).bytes);
  if (!queryFlag(query, 'stream')) {
    stream.output.end();
    return;
  }
  // An exited container: `docker start -a` attaches first, then starts it again — wait for that start.
  const state = await runtimeState(info.id, engine.stateDir).catch(() => null);
  if (state?.status === 'stopped' && !(await engine.nextStart(info.id, stream.closed))) return;
  const held = engine.held.get(info.id);
  if (!held) {
    // Not ours to hold (docker run -d, or made by the CLI): follow its log, as `logs -f` does.
    await followLog(engine, info, info.logPath && existsSync(info.logPath) ? statSync(info.logPath).size : 0, (bytes) => write('stdout', bytes), () => stream.output.writable === false);
    stream.output.end();
    return;
  }
  // A client that does not read while the container writes would make the service buffer without end:
  // past this much unread output it is cut off (the container, and the other clients, go on).
  const guarded = (name: StreamName, chunk: Buffer) => {
    if (stream.output.writableLength > UNREAD_LIMIT) return (stream.output as { destroy?: () => void }).destroy?.();
    write(name, chunk);
  };
  const detach = held.streams.attach({ write: guarded, end: () => stream.output.end() });
  const stdin = held.streams.stdin;
  if (queryFlag(query, 'stdin') && stream.input && stdin) {
    stream.input.on('data', (chunk: Buffer) => stdin.writable && stdin.write(chunk));
    // StdinOnce (docker run -i): the client's end of input is the command's. Without it, stdin stays
    // open for the next client (docker run -di, then docker attach).
    if (info.stdinOnce) stream.input.on('end', () => held.streams.closeStdin());
    stream.input.resume(); // reading the body may have paused it; a 'data' listener alone does not undo that
  } else {
    stream.input?.resume(); // read and drop: a client that sends nothing must not stall its connection
  }
  // A client that disconnects mid-attach leaves the container running, as with Docker.
  await stream.closed;
  detach();
}

/** The log from byte `offset` on, and where it ended. */
function readLog(file: string, offset: number): { bytes: Buffer; end: number } {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return { bytes: Buffer.alloc(0), end: offset }; // removed meanwhile
  }
  try {
    const size = statSync(file).size;
    const bytes = Buffer.alloc(Math.max(0, size - offset));
    let read = 0;
    while (read < bytes.length) {
      const count = readSync(fd, bytes, read, bytes.length - read, offset + read);
      if (count === 0) break;
      read += count;
    }
    return { bytes: bytes.subarray(0, read), end: offset + read };
  } finally {
    closeSync(fd);
  }
}

/** New bytes of the log as they come, until the container is no longer running (then the last of them). */
async function followLog(engine: Engine, info: ContainerInfo, from: number, write: (bytes: Buffer) => void, gone: () => boolean): Promise<void> {
  if (!info.logPath) return;
  let offset = from;
  const drain = () => {
    const { bytes, end } = readLog(info.logPath!, offset);
    if (bytes.length) write(bytes);
    offset = end;
  };
  for (;;) {
    drain();
    if (gone()) return;
    const state = await runtimeState(info.id, engine.stateDir).catch(() => null);
    // A held container's streams end a moment after its process: follow until the service has copied all.
    if (!(state?.status === 'running' || state?.status === 'paused' || state?.status === 'created') && !engine.held.has(info.id)) break;
    await sleep(100);
  }
  drain();
}

/** The last `tail` lines of a log ("all", or a count). */
export function lastLines(bytes: Buffer, tail: string | null): Buffer {
  if (tail === null || tail === '' || tail === 'all') return bytes;
  if (!/^\d+$/.test(tail)) throw badRequest(`invalid tail "${tail}": a number of lines, or "all"`);
  return bytes.subarray(startOfLastLines(bytes, Number(tail)));
}

/**
 * GET /containers/{id}/logs?stdout=1&stderr=1[&follow=1][&tail=N][&timestamps=1][&since=T][&until=T].
 * A container whose streams the service held has a json-file log (json-log.ts): the streams apart, each
 * line with its time. Any other has only minidocker's raw log — both streams in the order they were
 * written, as `minidocker logs` prints it — which comes as stdout; it records no times, so `timestamps`,
 * `since` and `until` are refused for it rather than made up.
 */
export async function containerLogs(engine: Engine, exchange: Exchange): Promise<void> {
  const info = engine.find(exchange.params.id!);
  const { query } = exchange;
  const wanted = { stdout: queryFlag(query, 'stdout'), stderr: queryFlag(query, 'stderr') };
  if (!wanted.stdout && !wanted.stderr) throw badRequest('You must choose at least one stream');
  if (!info.logPath || !existsSync(info.logPath)) throw badRequest(`container ${info.name} has no log: it was run in the foreground by minidocker, whose terminal had its output`);
  const tty = info.tty ?? false;
  const follow = queryFlag(query, 'follow');
  if (existsSync(jsonLogPath(info.logPath))) return jsonLogs(engine, exchange, info, wanted, tty, follow);
  if (queryFlag(query, 'timestamps')) throw badRequest('this container\'s log records no times (only the output of containers the API service attached has them): leave out timestamps (-t)');
  for (const name of ['since', 'until']) if (parseTimeBound(query.get(name)) !== null) throw badRequest(`this container's log records no times: leave out ${name}`);
  const { bytes, end } = readLog(info.logPath, 0);
  const tail = lastLines(bytes, query.get('tail'));
  const stream = exchange.openStream(tty ? RAW_STREAM : MULTIPLEXED_STREAM);
  // As one stream: the log does not say which line came from where (see above); both flags get it.
  const write = (chunk: Buffer) => chunk.length && stream.output.writable && stream.output.write(tty ? chunk : frame('stdout', chunk));
  write(tail);
  if (follow) {
    let closed = false;
    void stream.closed.then(() => (closed = true));
    await followLog(engine, info, end, write, () => closed);
  }
  stream.output.end();
}

async function jsonLogs(engine: Engine, exchange: Exchange, info: ContainerInfo, wanted: Record<StreamName, boolean>, tty: boolean, follow: boolean): Promise<void> {
  const { query } = exchange;
  const since = parseTimeBound(query.get('since'));
  const until = parseTimeBound(query.get('until'));
  if (Number.isNaN(since) || Number.isNaN(until)) throw badRequest('since and until are Unix times in seconds');
  const tail = query.get('tail');
  if (tail && tail !== 'all' && !/^\d+$/.test(tail)) throw badRequest(`invalid tail "${tail}": a number of lines, or "all"`);
  const timestamps = queryFlag(query, 'timestamps');
  const file = jsonLogPath(info.logPath!);
  const shown = (entry: LogEntry) => {
    const time = Date.parse(entry.time);
    return wanted[entry.stream] && (since === null || time >= since) && (until === null || time <= until);
  };
  const stream = exchange.openStream(tty ? RAW_STREAM : MULTIPLEXED_STREAM);
  const write = outputWriter(stream.output, tty, wanted);
  const send = (entries: LogEntry[]) => {
    for (const entry of entries) write(entry.stream, Buffer.from(timestamps ? `${entry.time} ${entry.log}` : entry.log));
  };
  let { entries, end } = readEntries(file, 0);
  entries = entries.filter(shown);
  send(tail && tail !== 'all' ? entries.slice(Math.max(0, entries.length - Number(tail))) : entries);
  if (follow && until === null) {
    let closed = false;
    void stream.closed.then(() => (closed = true));
    for (;;) {
      const more = readEntries(file, end);
      send(more.entries.filter(shown));
      end = more.end;
      if (closed) break;
      const state = await runtimeState(info.id, engine.stateDir).catch(() => null);
      if (!(state?.status === 'running' || state?.status === 'paused' || state?.status === 'created') && !engine.held.has(info.id)) {
        send(readEntries(file, end).entries.filter(shown)); // the last lines
        break;
      }
      await sleep(100);
    }
  }
  stream.output.end();
}
