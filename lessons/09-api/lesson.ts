/**
 * Lesson 09 as the TUI shows it: the daemon on the left — a process, its socket, the requests as they
 * arrive — and on the right what the client got back, and the container. The daemon is the course's
 * own, `minidocker system service`, started for the lesson on a socket and a state folder of its own;
 * the client is this lesson's run-client.ts, then the real `docker` CLI.
 * Run it with `npm run lesson 9` (add `-- --plain` for plain text).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { LessonContext, LessonFactory, LessonStep, PaneRow } from '../../src/course/lesson.js';
import { isTodo } from '../../src/course/todo.js';
import { repoRoot } from '../../src/build/repo.js';
import { parseMountinfo } from '../../src/sys/mountinfo.js';
import { processIsAlive } from '../../src/sys/process.js';
import { EngineClient, runContainer, type Answer } from './run-client.js';
import { requestsOf, routeShape, type LoggedRequest } from './request-log.js';
import { createRouter } from './router.js';

const lesson: LessonFactory = (context) => ({
  number: 9,
  slug: '09-api',
  title: 'Client and server — the daemon behind the docker command',
  // The request log grows while a step waits (an attach ends, a wait answers): read it again each second.
  refreshMs: 1000,
  async start() {
    const lab = ApiLab.open(context);
    return {
      steps: steps.map((makeStep) => makeStep(lab)),
      snapshot: async () => ({ host: daemonRows(lab), container: clientRows(lab) }),
      shell: () =>
        lab.serviceRunning()
          ? {
              file: '/usr/bin/env',
              args: [`DOCKER_HOST=unix://${lab.socket}`, `DOCKER_CONFIG=${path.join(lab.dir, 'docker-cli')}`, 'sh'],
              banner:
                `A shell on the host with DOCKER_HOST=unix://${lab.socket}. Try \`docker ps -a\`, or ` +
                `\`curl -s --unix-socket ${lab.socket} http://docker/v1.43/containers/json\`; watch the left pane. Type exit to return.`,
            }
          : null,
      close: () => lab.close(),
    };
  },
});

export default lesson;

// ---------------------------------------------------------------------------------------------------
// The steps

type StepOf = (lab: ApiLab) => LessonStep;
const steps: StepOf[] = [aDaemonOnASocket, theRouter, dockerRunIsFourRequests, theRealDockerCli, daemonLess];

function aDaemonOnASocket(lab: ApiLab): LessonStep {
  return {
    title: 'A daemon: one process, one socket',
    narration:
      'The docker command does no container work itself: it sends HTTP requests to a daemon over a unix socket ' +
      '(dockerd: /var/run/docker.sock; -H or DOCKER_HOST pick another). Here the daemon is minidocker\'s ' +
      '`system service`, started for this lesson. Its socket is 0600: whoever can write to it can start a ' +
      'privileged container, so it is root\'s alone. The client\'s first request: GET /_ping.',
    run: async () => {
      await lab.startService();
      lab.showAnswers([await lab.ask('GET', '/_ping')]);
      await lab.settle();
    },
  };
}

/** The requests of the router step: what each one shows about matching. */
const ROUTER_TRIES: { method: string; target: string }[] = [
  { method: 'GET', target: '/version' },
  { method: 'GET', target: '/containers/json?all=1' },
  { method: 'DELETE', target: '/_ping' },
  { method: 'GET', target: '/no/such/endpoint' },
];

function theRouter(lab: ApiLab): LessonStep {
  return {
    title: 'The router: a method and a path choose the handler',
    narration:
      'Inside the daemon, a router (the seeds\' Docker Server used gorilla/mux) holds routes: a method, a path pattern ' +
      'such as /containers/{id}/start, a handler. It takes the version (/v1.43/) off the path and finds the route; ' +
      'the path known with another method is a 405, an unknown path a 404 — both a JSON {"message": …}. On the left, ' +
      'router.ts matching docker run\'s routes: the {id} comes out as a parameter.',
    run: async () => {
      const answers: ShownAnswer[] = [];
      for (const { method, target } of ROUTER_TRIES) answers.push(await lab.ask(method, target));
      // A version newer than the daemon's is refused before any route is looked at.
      answers.push(await lab.ask('GET', '/_ping', { version: '9.99' }));
      lab.showAnswers(answers);
      lab.showRouter();
      await lab.settle();
    },
  };
}

function dockerRunIsFourRequests(lab: ApiLab): LessonStep {
  return {
    title: '`docker run` is four requests',
    narration:
      'run-client.ts runs a busybox container as the docker CLI does: create (the container exists, nothing runs), ' +
      'attach (101: the connection becomes its output), wait (headers at once, the answer when it exits), start. ' +
      'Attach and wait come first, or early output and a quick exit would be lost. On the right, the output ' +
      'taken apart into stdout and stderr (8-byte frame headers), and the exit code from the wait.',
    run: () => lab.runWithOurClient(),
  };
}

function theRealDockerCli(lab: ApiLab): LessonStep {
  return {
    title: 'The real docker CLI, pointed at our daemon',
    narration:
      'DOCKER_HOST=unix://… docker run -it --rm … : Docker\'s own client, unchanged, on a terminal of its own. It opens ' +
      'with HEAD /_ping (the API-Version header tells it which version to speak), then the same create (Tty: true), attach ' +
      '(stdin=1 too: what you type goes up the same connection, raw, no frames with a terminal), wait (condition=removed, ' +
      'for --rm), start — and resize, the window\'s size. Every endpoint and its handler is in this lesson\'s README.',
    run: () => lab.runWithDockerCli(),
  };
}

function daemonLess(lab: ApiLab): LessonStep {
  return {
    title: 'Stop the daemon; the container lives on',
    narration:
      'A container started through the API (sleep), then the service stopped with SIGTERM. The container still ' +
      'runs: its state is in files (config.json, state.json), not in the daemon\'s memory, and `minidocker ps` reads ' +
      'them without any daemon. Started again, the service finds it. (dockerd needs live-restore for that; podman, ' +
      'like minidocker, has no daemon at all.)',
    run: () => lab.outliveTheDaemon(),
  };
}

// ---------------------------------------------------------------------------------------------------
// What the panes show

const MAX_REQUEST_ROWS = 12;

function daemonRows(lab: ApiLab): PaneRow[] {
  const rows: PaneRow[] = [];
  const pid = lab.servicePid();
  rows.push({
    label: 'daemon',
    value: pid ? `minidocker system service, PID ${pid}` : lab.serviceError ? `not running: ${lab.serviceError}` : '(not running)',
    source: pid ? `ps -o pid,rss,args -p ${pid}` : undefined,
  });
  if (pid && existsSync(lab.socket)) rows.push({ label: 'socket', value: describeSocket(lab.socket), source: `ls -l ${lab.socket}` });
  // Each run of the service numbers from #1: a line between runs, the newest lines last.
  const lines = lab.requests().flatMap((run, index) => [...(index > 0 ? ['— the daemon stopped; started again —'] : []), ...run.map(requestLine)]);
  rows.push({
    label: 'requests',
    value: lines.length ? lines.slice(-MAX_REQUEST_ROWS).join('\n') : '(none yet)',
    source: 'minidocker system service --log-requests (stderr)',
  });
  if (lab.routerRows) rows.push({ label: 'router.match', value: lab.routerRows, source: 'lessons/09-api/router.ts' });
  if (lab.containersText) rows.push({ label: 'containers', value: lab.containersText, source: 'minidocker ps -a (the state folder, no daemon asked)' });
  return rows;
}

/** "#4  POST   /containers/{id}/start   204    11 ms" — still open: "…". */
function requestLine(request: LoggedRequest): string {
  const status = request.status === null ? '…' : String(request.status);
  const time = request.doneMs !== null ? `${request.doneMs} ms` : request.status !== null ? `open ${request.answeredMs} ms+` : '…';
  return `#${String(request.number).padEnd(3)} ${request.method.padEnd(6)} ${routeShape(request.target).padEnd(28)} ${status.padEnd(4)} ${time}`;
}

function describeSocket(socket: string): string {
  const stats = lstatSync(socket);
  const mode = (stats.mode & 0o777).toString(8).padStart(4, '0');
  return `${socket} (a unix socket, mode ${mode}, owner uid ${stats.uid})`;
}

function clientRows(lab: ApiLab): PaneRow[] {
  const rows: PaneRow[] = [];
  if (lab.answers.length) {
    rows.push({ label: 'answers', value: lab.answers.map(describeAnswer).join('\n'), source: 'run-client.ts: EngineClient' });
  }
  const run = lab.run;
  if (run) {
    rows.push({ label: 'command', value: run.command, source: run.source });
    if (run.id) rows.push({ label: 'container', value: run.id });
    rows.push({ label: 'output', value: run.output.length ? run.output.join('\n') : '(nothing yet)' });
    rows.push({ label: 'exit code', value: run.error ?? (run.exitCode === null ? '(running)' : String(run.exitCode)) });
  }
  if (lab.aliveText) rows.push({ label: 'after the daemon stopped', value: lab.aliveText, source: 'kill -0 PID; minidocker ps' });
  return rows.length ? rows : [{ label: 'container', value: '(none yet)' }];
}

interface ShownAnswer {
  request: string;
  status: number;
  summary: string;
}

function describeAnswer(answer: ShownAnswer): string {
  return `${answer.request} → ${answer.status} ${answer.summary}`;
}

/** One line of an answer's body: Docker's {"message"}, a few fields of an object, a list's length. */
async function summarise(answer: Answer): Promise<string> {
  const text = (await answer.text()).trim();
  const version = answer.headers['api-version'];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return `${text.slice(0, 40)}${version ? `  (API-Version: ${version})` : ''}`;
  }
  if (Array.isArray(parsed)) return `[${parsed.length} item${parsed.length === 1 ? '' : 's'}]`;
  if (parsed && typeof parsed === 'object') {
    const object = parsed as Record<string, unknown>;
    if (typeof object.message === 'string') return `{"message": "${object.message}"}`;
    const fields = ['Version', 'ApiVersion', 'MinAPIVersion', 'Os'].filter((key) => key in object);
    return `{${fields.map((key) => `"${key}": ${JSON.stringify(object[key])}`).join(', ')}${fields.length < Object.keys(object).length ? ', …' : ''}}`;
  }
  return text;
}

// ---------------------------------------------------------------------------------------------------
// One run of the lesson: its daemon, its state folder, and what it has shown

interface ShownRun {
  command: string;
  source: string;
  id?: string;
  output: string[];
  exitCode: number | null;
  error?: string;
}

/** docker run's routes, as a router table of the daemon's would hold them (the handlers are names here). */
const RUN_ROUTES = [
  { method: 'HEAD', pattern: '/_ping', handler: 'ping' },
  { method: 'POST', pattern: '/containers/create', handler: 'postContainersCreate' },
  { method: 'POST', pattern: '/containers/{id}/attach', handler: 'postContainersAttach' },
  { method: 'POST', pattern: '/containers/{id}/wait', handler: 'postContainersWait' },
  { method: 'POST', pattern: '/containers/{id}/start', handler: 'postContainersStart' },
  { method: 'GET', pattern: '/containers/json', handler: 'getContainersJSON' },
];
const ROUTER_EXAMPLES = ['POST /v1.43/containers/4f3a9c/start', 'GET /v1.43/containers/json?all=1', 'GET /containers/4f3a9c/start', 'POST /v1.43/images/busybox/push'];

class ApiLab {
  readonly socket: string;
  answers: ShownAnswer[] = [];
  run: ShownRun | undefined;
  routerRows: string | undefined;
  containersText: string | undefined;
  aliveText: string | undefined;
  serviceError: string | undefined;
  private service: ChildProcess | undefined;
  private serviceExited: Promise<void> | undefined;
  /** The service's stderr lines, one list per time it was started (each numbers its requests from 1). */
  private logs: string[][] = [];
  private client: EngineClient;

  private constructor(
    readonly context: LessonContext,
    readonly dir: string,
  ) {
    this.socket = path.join(dir, 'docker.sock');
    this.client = new EngineClient(this.socket);
  }

  static open(context: LessonContext): ApiLab {
    // A state folder of its own: the lesson's containers and images, removed when it ends.
    return new ApiLab(context, mkdtempSync(path.join(tmpdir(), 'mdl-lesson09-')));
  }

  servicePid(): number | undefined {
    return this.serviceRunning() ? this.service!.pid : undefined;
  }

  serviceRunning(): boolean {
    return !!this.service && this.service.exitCode === null && this.service.signalCode === null;
  }

  /** The requests of each run of the service, oldest run first. */
  requests(): LoggedRequest[][] {
    return this.logs.map((lines) => requestsOf(lines));
  }

  /** `minidocker [--mine] system service --host unix://DIR/docker.sock --log-requests`, until its socket answers. */
  async startService(): Promise<void> {
    if (this.serviceRunning()) return;
    this.serviceError = undefined;
    const args = [path.join(repoRoot, 'bin', 'minidocker.js'), ...(this.context.mine ? ['--mine'] : []), 'system', 'service', '--host', `unix://${this.socket}`, '--log-requests'];
    const child = spawn(process.execPath, args, { env: { ...process.env, LAB_STATE_DIR: this.dir }, stdio: ['ignore', 'ignore', 'pipe'] });
    this.service = child;
    const log: string[] = [];
    this.logs.push(log);
    let partial = '';
    child.stderr!.setEncoding('utf8').on('data', (text: string) => {
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      log.push(...lines);
    });
    this.serviceExited = new Promise((resolve) => child.once('exit', () => resolve()));
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (!this.serviceRunning()) {
        // With --mine, an unfinished router stops the service as it builds its table: its last line says which.
        const last = [...log, partial].filter((line) => line.trim()).at(-1) ?? 'exited';
        const todo = /TODO\(([^)\s]+)\)/.exec(last)?.[1];
        this.serviceError = todo ? `exercise ${todo} is not done yet: npm run hint 9 ${todo}` : last.replace(/^minidocker: /, '');
        throw new Error(`the service did not start: ${this.serviceError}`);
      }
      if (existsSync(this.socket) && (await this.answers200())) return;
      if (Date.now() > deadline) throw new Error('the service did not answer on its socket within 30 s');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  private async answers200(): Promise<boolean> {
    try {
      return (await this.client.send('HEAD', '/_ping')).status === 200;
    } catch {
      return false;
    }
  }

  async stopService(): Promise<void> {
    if (!this.serviceRunning()) return;
    this.service!.kill('SIGTERM');
    await this.serviceExited;
  }

  /** One request from the client, for the right pane. */
  async ask(method: string, target: string, options: { version?: string } = {}): Promise<ShownAnswer> {
    const client = options.version ? new EngineClient(this.socket, options.version) : this.client;
    const answer = await client.send(method, target);
    return { request: `${method} /v${client.version}${target}`, status: answer.status, summary: await summarise(answer) };
  }

  showAnswers(answers: ShownAnswer[]): void {
    this.answers = answers;
  }

  showRouter(): void {
    try {
      const router = createRouter(RUN_ROUTES);
      this.routerRows = ROUTER_EXAMPLES.map((request) => {
        const [method = '', target = ''] = request.split(' ');
        const found = router.match(method, target);
        if (found.kind === 'found') return `${request}\n   → ${found.handler} ${JSON.stringify(found.params)}${found.version ? `, version ${found.version}` : ''}`;
        if (found.kind === 'wrong-method') return `${request}\n   → 405: ${found.path} takes ${found.allowed.join(', ')}`;
        return `${request}\n   → 404: no route for ${found.path}`;
      }).join('\n');
    } catch (error) {
      this.routerRows = orTodo(error);
    }
  }

  async runWithOurClient(): Promise<void> {
    this.answers = [];
    const shown: ShownRun = {
      command: "busybox sh -c 'hostname; echo to stdout; echo to stderr >&2; exit 3'  (hostname lesson-09, network none)",
      source: 'run-client.ts: runContainer',
      output: [],
      exitCode: null,
    };
    this.run = shown;
    try {
      const result = await runContainer(
        this.client,
        { image: 'busybox', cmd: ['sh', '-c', 'hostname; echo to stdout; echo to stderr >&2; exit 3'], hostname: 'lesson-09', networkMode: 'none', name: 'lesson-09-run' },
        (stream, chunk) => shown.output.push(...chunk.toString().replace(/\n$/, '').split('\n').map((line) => `${stream.padEnd(6)} | ${line}`)),
      );
      shown.id = result.id;
      shown.exitCode = result.exitCode;
    } catch (error) {
      shown.error = orTodo(error);
    }
    this.containersText = this.minidockerPs();
    await this.settle();
  }

  /**
   * `docker run -it` as you would type it: the CLI needs a terminal for -t, and the lesson's own belongs
   * to the TUI, so script(1) (util-linux's; Debian's bsdutils package) gives it one of its own, 24×80 — the size the CLI then sends
   * in POST /containers/{id}/resize. Its output is the terminal's: the lines, their \r taken off.
   */
  async runWithDockerCli(): Promise<void> {
    this.answers = [];
    const cli = dockerCli();
    const command = `docker run -it --rm --network none busybox sh -c '${DOCKER_CLI_SCRIPT}'`;
    const shown: ShownRun = { command, source: `DOCKER_HOST=unix://${this.socket}, on a terminal of its own (script)`, output: [], exitCode: null };
    this.run = shown;
    if (!cli) {
      shown.error = 'no docker CLI on this machine: install Docker\'s client (Debian 13 and Ubuntu: docker-cli or docker.io; Docker\'s apt repository: docker-ce-cli) and run the lesson again';
      return;
    }
    // Not spawnSync: this process must go on reading the service's request log meanwhile.
    const result = await runProgram('script', ['-qefc', `stty rows 24 cols 80; ${command.replace(/^docker/, cli)}`, '/dev/null'], {
      ...process.env, DOCKER_HOST: `unix://${this.socket}`, DOCKER_CONFIG: path.join(this.dir, 'docker-cli'),
    });
    // ^@: the end of script(1)'s (empty) input, which docker -i passes on and the terminal echoes.
    shown.output = lines(result.output.replace(/\r|\0|\^@/g, '')).map((line) => `tty    | ${line}`);
    shown.exitCode = result.exitCode;
    if (result.error) shown.error = result.error.code === 'ENOENT' ? 'script(1) is missing: apt install bsdutils' : `docker did not run: ${result.error.message}`;
    this.containersText = this.minidockerPs();
    await this.settle();
  }

  /**
   * Until every request the service logged has ended (its "done" line read), at most 2 s: the log
   * arrives on the service's stderr a moment after the client has its answer.
   */
  async settle(): Promise<void> {
    const deadline = Date.now() + 2000;
    while (Date.now() < deadline && (this.requests().at(-1) ?? []).some((request) => request.doneMs === null)) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async outliveTheDaemon(): Promise<void> {
    this.answers = [];
    this.run = undefined;
    const created = await this.client.call<{ Id: string }>('POST', '/containers/create?name=lesson-09-sleeper', {
      Image: 'busybox', Cmd: ['sleep', '1000'], HostConfig: { NetworkMode: 'none' },
    });
    await this.client.call('POST', `/containers/${created.Id}/start`);
    const inspected = await this.client.call<{ State: { Pid: number } }>('GET', `/containers/${created.Id}/json`);
    const pid = inspected.State.Pid;
    await this.stopService();
    const alive = processIsAlive(pid);
    this.aliveText = `the daemon is gone; the container's process ${pid} ${alive ? 'still runs' : 'is gone'}\n${this.minidockerPs()}`;
    await this.startService();
    const listed = await this.client.call<{ Names: string[]; State: string }[]>('GET', '/containers/json');
    this.answers = [{ request: 'GET /v1.43/containers/json (the daemon started again)', status: 200, summary: listed.map((entry) => `${entry.Names.join(',')} ${entry.State}`).join('; ') || '[]' }];
    this.containersText = this.minidockerPs();
    await this.settle();
  }

  /** `minidocker ps -a` on the lesson's state folder: the CLI reads the files, no daemon asked. */
  private minidockerPs(): string {
    const result = this.minidocker(['ps', '-a']);
    return (result.stdout || result.stderr).trimEnd();
  }

  /** The minidocker CLI (the same build as the service) on the lesson's state folder. */
  private minidocker(args: string[]): { stdout: string; stderr: string } {
    const result = spawnSync(process.execPath, [path.join(repoRoot, 'bin', 'minidocker.js'), ...(this.context.mine ? ['--mine'] : []), ...args], {
      encoding: 'utf8', timeout: 60_000, env: { ...process.env, LAB_STATE_DIR: this.dir },
    });
    return { stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
  }

  async close(): Promise<void> {
    // The state folder is the lesson's alone: every container in it is one the lesson (or the docker CLI
    // it ran) made. They go through the CLI, which needs no daemon: rm -f, then the service.
    const ids = this.minidocker(['ps', '-aq']).stdout.split('\n').filter(Boolean);
    if (ids.length) this.minidocker(['rm', '-f', ...ids]);
    await this.stopService();
    // The folder goes only when nothing is mounted below it any more (a container that could not be removed).
    const mounted = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')).some((mount) => mount.mountPoint.startsWith(`${this.dir}/`));
    if (!mounted) rmSync(this.dir, { recursive: true, force: true });
  }
}

function orTodo(error: unknown): string {
  return isTodo(error) ? `exercise ${error.exercise} is not done yet: npm run hint 9 ${error.exercise}` : (error as Error).message;
}

/** A program's exit code and its output (stdout and stderr as they came), without blocking this process. */
function runProgram(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ exitCode: number | null; output: string; error?: NodeJS.ErrnoException }> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
    let output = '';
    child.stdout!.setEncoding('utf8').on('data', (text: string) => (output += text));
    child.stderr!.setEncoding('utf8').on('data', (text: string) => (output += text));
    child.once('error', (error: NodeJS.ErrnoException) => resolve({ exitCode: null, output, error }));
    child.once('close', (code) => resolve({ exitCode: code, output }));
  });
}

function lines(text: string | null | undefined): string[] {
  return (text ?? '').split('\n').filter((line) => line !== '');
}

/** What the docker CLI's container runs: its terminal, the size the CLI sent, a line, an exit code. */
const DOCKER_CLI_SCRIPT = 'tty; stty size; echo hello from the docker CLI; exit 3';

/** Docker's client where distributions and Docker's own packages put it. */
function dockerCli(): string | undefined {
  return ['/usr/local/bin/docker', '/usr/bin/docker'].find((file) => existsSync(file));
}
