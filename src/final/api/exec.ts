/**
 * `docker exec` over the API: POST /containers/{id}/exec makes an exec instance (nothing runs yet),
 * POST /exec/{id}/start runs it — hijacked, its streams on the connection — and GET /exec/{id}/json
 * says how it ended (the docker CLI's exit code comes from there). The process is built as
 * `minidocker exec` builds it: the container's own process (environment, user, capabilities, seccomp)
 * running this command, through the runtime's exec (oci/runtime.ts ociExec).
 */
import { randomBytes } from 'node:crypto';
import { PassThrough, Writable } from 'node:stream';
import { attachTerminal } from '../../container/console.js';
import type { Container } from '../../container/runtime.js';
import { configOf, mergeEnv, runtimeState } from '../docker.js';
import { checkOperation } from '../oci/status.js';
import { ociExec } from '../oci/runtime.js';
import { containerUserFiles, resolveUser, withUser } from '../user.js';
import { MULTIPLEXED_STREAM, RAW_STREAM, outputWriter } from '../../../lessons/09-api/frames.js';
import type { Engine, ExecInstance } from './engine.js';
import type { Exchange } from './exchange.js';
import { badRequest, conflict, notFound, queryInt } from './http.js';
import { exitCodeInChain, formatErrorLine } from '../../sys/errors.js';

const strings = (value: unknown, field: string): string[] => {
  if (value === undefined || value === null) return [];
  if (typeof value === 'string') return [value];
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) throw badRequest(`${field} must be a list of strings`);
  return value;
};

export async function createExec(engine: Engine, exchange: Exchange): Promise<void> {
  const info = engine.find(exchange.params.id!);
  const body = await exchange.body();
  const state = await runtimeState(info.id, engine.stateDir);
  checkOperation('exec', info.name, state?.status ?? null);
  const args = strings(body.Cmd, 'Cmd');
  if (!args.length) throw badRequest('No exec command specified');
  if (body.Privileged === true) throw badRequest('minidocker does not support Privileged for exec: the process gets the container\'s own powers');
  const workdir = typeof body.WorkingDir === 'string' && body.WorkingDir ? body.WorkingDir : undefined;
  if (workdir !== undefined && !workdir.startsWith('/')) throw badRequest(`the working directory "${workdir}" is invalid, it needs to be an absolute path`);
  const exec: ExecInstance = {
    id: randomBytes(32).toString('hex'),
    containerId: info.id,
    args,
    env: strings(body.Env, 'Env'),
    workdir,
    user: typeof body.User === 'string' && body.User ? body.User : undefined,
    tty: body.Tty === true,
    attach: { stdin: body.AttachStdin === true, stdout: body.AttachStdout === true, stderr: body.AttachStderr === true },
    running: false,
    exitCode: null,
    pid: 0,
  };
  engine.forgetOldExecs();
  engine.execs.set(exec.id, exec);
  exchange.json(201, { Id: exec.id });
}

function findExec(engine: Engine, id: string): ExecInstance {
  const exec = engine.execs.get(id);
  if (!exec) throw notFound(`No such exec instance: ${id}`);
  return exec;
}

/** Runs the instance's process: the container's own process with this command, as `minidocker exec`. */
async function runExec(engine: Engine, exec: ExecInstance): Promise<Container> {
  const state = await runtimeState(exec.containerId, engine.stateDir);
  checkOperation('exec', exec.containerId, state?.status ?? null);
  const config = configOf({ id: exec.containerId }, engine.stateDir);
  const execConfig = config && exec.user !== undefined ? withUser(config, resolveUser(exec.user, containerUserFiles(state!.pid))) : config;
  const own = execConfig?.process ?? { args: [], cwd: '/' };
  return ociExec(exec.containerId, engine.stateDir, {
    process: { ...own, args: exec.args, env: mergeEnv(own.env ?? [], exec.env), cwd: exec.workdir ?? own.cwd, terminal: exec.tty },
    stdio: [exec.attach.stdin && !exec.tty ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    attachConsole: exec.tty,
  });
}

/** POST /exec/{id}/start {"Detach": false, "Tty": false}: hijacked unless Detach. */
export async function startExec(engine: Engine, exchange: Exchange): Promise<void> {
  const exec = findExec(engine, exchange.params.id!);
  const body = await exchange.body();
  if (exec.running || exec.exitCode !== null) throw conflict(`exec ${exec.id} has already been started`);
  const detach = body.Detach === true;
  // As moby does: the connection is hijacked first, so a process that cannot start says why on it (and
  // its 126/127 is the instance's exit code, which the docker CLI exits with).
  const stream = detach ? undefined : exchange.openStream(exec.tty ? RAW_STREAM : MULTIPLEXED_STREAM);
  const write = stream ? outputWriter(stream.output, exec.tty, { stdout: exec.attach.stdout, stderr: exec.attach.stderr }) : () => {};
  exec.running = true;
  let container: Container;
  try {
    container = await runExec(engine, exec);
  } catch (error) {
    finish(exec, exitCodeInChain(error) ?? 126);
    if (!stream) throw error;
    write('stdout', Buffer.from(`${formatErrorLine(error)}\r\n`));
    stream.output.end();
    return;
  }
  exec.container = container;
  exec.pid = container.pid;
  exec.pty = container.console;
  const size = Array.isArray(body.ConsoleSize) ? (body.ConsoleSize as number[]) : [];
  if (exec.pty && size[0] && size[1]) exec.pty.resize(size[0], size[1]);
  const ended = container.wait().then(({ exitCode }) => exitCode);
  if (!stream) {
    exchange.json(200, undefined);
    void copyOutput(exec, container, () => {}).then(() => ended).then((code) => finish(exec, code));
    return;
  }
  const input = exec.pty ? new PassThrough() : container.stdin;
  if (exec.attach.stdin && stream.input && input) {
    stream.input.on('data', (chunk: Buffer) => input.writable && input.write(chunk));
    stream.input.on('end', () => (exec.pty ? undefined : input.end()));
    stream.input.resume(); // reading the body may have paused it; a 'data' listener alone does not undo that
  } else {
    stream.input?.resume();
  }
  const copied = copyOutput(exec, container, write, input instanceof PassThrough ? input : undefined);
  const code = await ended;
  await copied;
  finish(exec, code); // before the stream ends: the client asks for the exit code as soon as it has
  stream.output.end();
}

function finish(exec: ExecInstance, code: number): void {
  exec.running = false;
  exec.exitCode = code;
  exec.finishedAt = Date.now();
  exec.pty?.close();
}

/** The process's output until its end: the pipes, or the pty (raw), as `minidocker exec -t` attaches it. */
async function copyOutput(exec: ExecInstance, container: Container, write: (stream: 'stdout' | 'stderr', chunk: Buffer) => void, ttyInput?: PassThrough): Promise<void> {
  if (exec.pty) {
    const output = new Writable({ write: (chunk: Buffer, _encoding, callback) => (write('stdout', chunk), callback()) });
    const detach = attachTerminal(exec.pty, { stdin: ttyInput ?? new PassThrough(), stdout: output });
    await container.wait();
    await detach.outputEnded.catch(() => {});
    detach();
    return;
  }
  const copy = (stream: NodeJS.ReadableStream | null, name: 'stdout' | 'stderr') =>
    new Promise<void>((resolve) => {
      if (!stream) return resolve();
      stream.on('data', (chunk: Buffer) => write(name, chunk));
      stream.on('end', resolve);
      stream.on('close', resolve);
      stream.on('error', () => resolve());
    });
  await Promise.all([copy(container.stdout, 'stdout'), copy(container.stderr, 'stderr')]);
}

export async function inspectExec(engine: Engine, exchange: Exchange): Promise<void> {
  const exec = findExec(engine, exchange.params.id!);
  exchange.json(200, {
    ID: exec.id,
    Running: exec.running,
    ExitCode: exec.exitCode,
    ProcessConfig: { tty: exec.tty, entrypoint: exec.args[0], arguments: exec.args.slice(1), privileged: false, user: exec.user ?? '' },
    OpenStdin: exec.attach.stdin,
    OpenStdout: exec.attach.stdout,
    OpenStderr: exec.attach.stderr,
    CanRemove: false,
    ContainerID: exec.containerId,
    DetachKeys: '',
    Pid: exec.pid,
  });
}

export async function resizeExec(engine: Engine, exchange: Exchange): Promise<void> {
  const exec = findExec(engine, exchange.params.id!);
  const rows = queryInt(exchange.query, 'h', 0);
  const cols = queryInt(exchange.query, 'w', 0);
  if (!exec.pty) throw badRequest(`exec ${exec.id} has no terminal: nothing to resize`);
  if (rows > 0 && cols > 0) exec.pty.resize(rows, cols);
  exchange.json(200, undefined);
}
