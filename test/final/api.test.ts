/**
 * `minidocker system service` end to end: the service runs as a real child process on a temporary unix
 * socket, with the tests' own LAB_STATE_DIR and a throwaway network namespace as its host, and is driven
 * by dockerode, by the real docker CLI (skipped, saying so, where there is none), and by raw HTTP for
 * what clients never send. Outside facts are checked too: the CLI sees the same containers, and when
 * everything is removed nothing is left in the state folder, the cgroups or the namespace's network.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createConnection, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import Docker from 'dockerode';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { REPO_ROOT } from '../../src/build/bundle.js';
import { describeAsRoot } from '../helpers/root.js';
import { createTestNetns, inNetns, removeOrphanedTestNetns, removeTestNetns } from '../helpers/netns.js';
import { eventually } from '../helpers/processes.js';
import { spawnOnTerminal, within } from '../helpers/terminal.js';
import { startDistribution } from '../fixtures/registry/servers.js';
import { cli, COMMAND_PATIENCE_MS, killRecorded, leftovers, MINIDOCKER, networkLeftovers } from './helpers.js';

const DOCKER_CLI = ['/usr/local/bin/docker', '/usr/bin/docker'].find((file) => existsSync(file));
const NO_DOCKER = 'no docker CLI on this machine (looked for /usr/local/bin/docker and /usr/bin/docker)';
const HAS_REGISTRY = spawnSync('sh', ['-c', 'command -v docker-registry'], { stdio: 'ignore' }).status === 0;

let stateDir: string;
let hostNetns: string;
let socketPath: string;
let service: ChildProcess | undefined;
let serviceLog = '';
let docker: Docker;
const made = new Set<string>(); // every container ID the tests made: their cgroups must be gone at the end

const md = (...args: string[]) => cli(MINIDOCKER, stateDir, args, { hostNetns });

/** The docker CLI against the service. */
function dk(args: string[], options: { input?: string } = {}) {
  const result = spawnSync(DOCKER_CLI!, args, {
    encoding: 'utf8', timeout: COMMAND_PATIENCE_MS, input: options.input,
    env: { ...process.env, DOCKER_HOST: `unix://${socketPath}`, DOCKER_CONFIG: path.join(stateDir, 'docker-cli') },
  });
  return { code: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
}

/** One raw request on the socket: status, headers, body text. */
function raw(method: string, target: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path: target, headers: { ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function startService(socket: string, host = `unix://${socket}`) {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, MINIDOCKER), 'system', 'service', '--host', host], {
    env: { ...process.env, LAB_STATE_DIR: stateDir, MINIDOCKER_NETNS: hostNetns },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => (output += text));
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (output += text));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => output };
}

function socketAnswers(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection(socket);
    probe.once('connect', () => (probe.destroy(), resolve(true)));
    probe.once('error', () => resolve(false));
  });
}

/** What a test made, gone: force-removed through the API. */
async function removeAll(): Promise<void> {
  for (const info of await docker.listContainers({ all: true })) await docker.getContainer(info.Id).remove({ force: true }).catch(() => {});
}

/** Cgroups of the tests' containers still on the machine (named by the full ID, which starts with ours). */
function cgroupLeftovers(): string[] {
  const root = '/sys/fs/cgroup';
  return readdirSync(root).flatMap((controller) => {
    const parent = path.join(root, controller, 'mini-docker-lab');
    if (!existsSync(parent)) return [];
    return readdirSync(parent).filter((name) => [...made].some((id) => name.startsWith(id))).map((name) => path.join(parent, name));
  });
}

/** dockerode's stream of a non-terminal container, taken apart into stdout and stderr. */
function demux(stream: NodeJS.ReadableStream): { stdout: () => string; stderr: () => string; ended: Promise<void> } {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  err.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  docker.modem.demuxStream(stream, out, err);
  const ended = new Promise<void>((resolve) => (stream.on('end', resolve), stream.on('close', resolve)));
  return { stdout: () => stdout, stderr: () => stderr, ended };
}

describeAsRoot('minidocker system service: the Docker Engine API', () => {
  beforeAll(async () => {
    removeOrphanedTestNetns();
    hostNetns = createTestNetns('lab-test-api');
    stateDir = mkdtempSync(path.join(tmpdir(), 'mdl-api-'));
    socketPath = path.join(stateDir, 'docker.sock');
    const started = startService(socketPath);
    service = started.child;
    started.child.on('exit', () => (serviceLog = started.output()));
    await eventually(() => existsSync(socketPath), 20_000, `the service's socket (${started.output()})`);
    docker = new Docker({ socketPath });
  }, 60_000);

  // Each test ends with nothing left; one that failed half-way must not fail the next ones with its leftovers.
  afterEach(async () => {
    if (service?.exitCode === null) await removeAll().catch(() => {});
  }, 60_000);

  afterAll(async () => {
    // A test that failed half-way may leave containers: removed through the service first, so that their
    // cgroups and rules go too, then whatever is left is killed by PID.
    if (service && service.exitCode === null) await removeAll().catch(() => {});
    if (service && service.exitCode === null) {
      service.kill('SIGTERM'); // ours, by PID
      await within(new Promise((resolve) => service!.once('exit', resolve)), 10_000, 'the service to stop').catch(() => service!.kill('SIGKILL'));
    }
    killRecorded(stateDir);
    rmSync(stateDir, { recursive: true, force: true });
    removeTestNetns(hostNetns);
  }, 60_000);

  it('answers /_ping (GET and HEAD) with the version headers, and errors as Docker does', async () => {
    const ping = await raw('GET', '/_ping');
    expect(ping).toMatchObject({ status: 200, body: 'OK' });
    expect(ping.headers).toMatchObject({ 'api-version': '1.43', 'docker-experimental': 'false', ostype: 'linux' });
    expect((await raw('HEAD', '/v1.43/_ping')).status).toBe(200);
    expect(await raw('GET', '/v1.43/nope')).toMatchObject({ status: 404, body: '{"message":"page not found"}\n' });
    expect(await raw('GET', '/v1.43/volumes')).toMatchObject({ status: 501, body: '{"message":"minidocker does not implement GET /volumes"}\n' });
    expect(JSON.parse((await raw('GET', '/v1.99/version')).body).message).toBe('client version 1.99 is too new. Maximum supported API version is 1.43');
    expect(JSON.parse((await raw('GET', '/version')).body)).toMatchObject({ ApiVersion: '1.43', Os: 'linux' });
    expect(await raw('GET', '/containers/no-such/json')).toMatchObject({ status: 404, body: '{"message":"No such container: no-such"}\n' });
  });

  it('refuses bad input in one line and keeps serving: malformed JSON, unsupported fields, oversized bodies', async () => {
    const malformed = await raw('POST', '/containers/create', '{"Image": "busybox",');
    expect(malformed.status).toBe(400);
    expect(JSON.parse(malformed.body).message).toMatch(/^invalid JSON: /);
    const unsupported = await raw('POST', '/containers/create', JSON.stringify({ Image: 'busybox', HostConfig: { RestartPolicy: { Name: 'always' } } }));
    expect(unsupported.status).toBe(400);
    expect(JSON.parse(unsupported.body).message).toMatch(/^minidocker does not support HostConfig\.RestartPolicy /);
    const unknown = await raw('POST', '/containers/create', JSON.stringify({ Image: 'busybox', Frobnicate: true }));
    expect(JSON.parse(unknown.body).message).toMatch(/^minidocker does not support Frobnicate/);
    const badFlag = await raw('POST', '/containers/create', JSON.stringify({ Image: 'busybox', HostConfig: { Memory: -5 } }));
    expect(badFlag.status).toBe(400);
    const big = await raw('POST', '/containers/create', `{"Image":"busybox","Env":["X=${'x'.repeat(2 * 1024 * 1024)}"]}`);
    expect(big.status).toBe(413);
    expect(big.body.trim().split('\n')).toHaveLength(1);
    expect(await raw('POST', '/containers/create', JSON.stringify({ Image: 'no-such-image' }))).toMatchObject({ status: 404 });
    // Not HTTP at all: node:http's 400, the connection closed, the service unharmed.
    const garbage = await new Promise<string>((resolve) => {
      let answer = '';
      const socket = createConnection(socketPath, () => socket.write('GARBAGE \x00\x01\r\n\r\n'));
      socket.setEncoding('utf8').on('data', (text: string) => (answer += text));
      socket.on('error', () => {}); // the server may close before our write is done
      socket.on('close', () => resolve(answer));
    });
    expect(garbage).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect((await raw('GET', '/_ping')).status).toBe(200); // still serving
    expect(await docker.listContainers({ all: true })).toEqual([]); // nothing half-made
  });

  it('dockerode: create, attach, start, wait — stdout and stderr apart, the exit code, inspect and list', async () => {
    const container = await docker.createContainer({
      Image: 'busybox', Cmd: ['sh', '-c', 'echo out; echo err >&2; exit 3'], AttachStdout: true, AttachStderr: true,
      Labels: { lab: 'api' }, HostConfig: { NetworkMode: 'none' },
    });
    made.add(container.id);
    const stream = await container.attach({ stream: true, stdout: true, stderr: true });
    const output = demux(stream);
    const waited = container.wait({ condition: 'next-exit' }); // the default, not-running, is over at once for a created container
    await container.start();
    expect(await waited).toEqual({ StatusCode: 3, Error: null });
    await within(output.ended, 10_000, 'the attach stream to end');
    expect(output.stdout()).toBe('out\n');
    expect(output.stderr()).toBe('err\n');
    const inspected = await container.inspect();
    expect(inspected).toMatchObject({ Id: container.id, State: { Status: 'exited', ExitCode: 3, Running: false }, Config: { Tty: false, Labels: { lab: 'api' } } });
    const listed = await docker.listContainers({ all: true, filters: { label: ['lab=api'] } });
    expect(listed.map((row) => row.Id)).toEqual([container.id]);
    expect(listed[0]).toMatchObject({ State: 'exited', Labels: { lab: 'api' }, Names: [expect.stringMatching(/^\//)] });
    expect(await docker.listContainers({ all: true, filters: { label: ['lab=other'] } })).toEqual([]);
    // The same container, seen by the CLI on the same state folder.
    expect(md('ps', '-a').stdout).toContain(container.id);
    await container.remove();
    expect(md('ps', '-a').stdout).not.toContain(container.id);
  });

  it('dockerode: exec with its exit code, top, stats, stdin through attach, and the events of a container', async () => {
    const events = await docker.getEvents({ filters: { type: ['container'] } });
    const seen: string[] = [];
    events.on('data', (chunk: Buffer) => chunk.toString().trim().split('\n').forEach((line) => seen.push(JSON.parse(line).Action)));
    const container = await docker.createContainer({
      Image: 'busybox', Cmd: ['sh', '-c', 'read line; echo "got $line"; sleep 1000'], OpenStdin: true, StdinOnce: true, AttachStdin: true, AttachStdout: true, AttachStderr: true,
      HostConfig: { NetworkMode: 'none', Memory: 64 * 1024 * 1024 },
    });
    made.add(container.id);
    const stream = await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true });
    const output = demux(stream);
    await container.start();
    stream.write('hello\n');
    await eventually(() => output.stdout() === 'got hello\n', 10_000, 'the line read from stdin');
    const exec = await container.exec({ Cmd: ['sh', '-c', 'echo from-exec; exit 4'], AttachStdout: true, AttachStderr: true });
    const execStream = await exec.start({ hijack: true, stdin: false });
    const execOutput = demux(execStream);
    await within(execOutput.ended, 10_000, 'the exec stream to end');
    expect(execOutput.stdout()).toBe('from-exec\n');
    expect(await exec.inspect()).toMatchObject({ Running: false, ExitCode: 4 });
    // A hijack whose body comes in a packet of its own, then stdin: nothing the client typed is lost.
    const execId = JSON.parse((await raw('POST', `/containers/${container.id}/exec`, JSON.stringify({ Cmd: ['sh', '-c', 'read a; echo "exec read $a"'], AttachStdin: true, AttachStdout: true }))).body).Id;
    const hijacked = await new Promise<string>((resolve, reject) => {
      const body = JSON.stringify({ Detach: false, Tty: false });
      const socket = createConnection(socketPath, () => {
        socket.write(`POST /v1.43/exec/${execId}/start HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`);
        setTimeout(() => socket.write(body), 200);
        setTimeout(() => socket.write('typed\n'), 400);
      });
      let answer = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => (answer = Buffer.concat([answer, chunk])));
      socket.on('error', reject);
      socket.on('close', () => resolve(answer.toString('latin1')));
      setTimeout(() => socket.destroy(), 15_000);
    });
    expect(hijacked).toMatch(/^HTTP\/1\.1 101 UPGRADED\r\n/);
    expect(hijacked).toContain('exec read typed\n');
    const top = await container.top();
    expect(top.Processes.map((row: string[]) => row.at(-1))).toContain('sleep 1000');
    const stats = await container.stats({ stream: false });
    expect(stats.memory_stats.limit).toBe(64 * 1024 * 1024);
    // A client that disconnects mid-attach leaves the container running.
    (stream as unknown as { destroy(): void }).destroy();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await container.inspect()).State.Running).toBe(true);
    await container.remove({ force: true });
    await eventually(() => seen.includes('destroy'), 10_000, `the destroy event (seen: ${seen.join(', ')})`);
    expect(seen).toEqual(['create', 'start', 'die', 'destroy']);
    (events as unknown as { destroy(): void }).destroy();
  });

  it('100 concurrent creates: each gets its own container and name, a name taken twice is a 409; all removed, nothing left', async () => {
    const creates = Array.from({ length: 100 }, (_, index) =>
      raw('POST', `/containers/create?name=many${index % 90}`, JSON.stringify({ Image: 'busybox', Cmd: ['true'], HostConfig: { NetworkMode: 'none' } })));
    const answers = await Promise.all(creates);
    const created = answers.filter((answer) => answer.status === 201).map((answer) => JSON.parse(answer.body).Id as string);
    created.forEach((id) => made.add(id));
    expect(created).toHaveLength(90);
    const conflicts = answers.filter((answer) => answer.status === 409);
    expect(conflicts).toHaveLength(10);
    expect(JSON.parse(conflicts[0]!.body).message).toMatch(/Conflict\. The container name "\/many\d+" is already in use/);
    expect(new Set(created).size).toBe(90);
    const removed = await Promise.all(created.map((id) => raw('DELETE', `/containers/${id}?force=1`)));
    expect(removed.map((answer) => answer.status)).toEqual(created.map(() => 204));
    expect(leftovers(stateDir)).toEqual([]);
  }, 300_000);

  it.skipIf(!DOCKER_CLI)(`docker run --rm: the output, the command's exit code (0, 7, 127, 126), nothing left${DOCKER_CLI ? '' : ` (skipped: ${NO_DOCKER})`}`, () => {
    expect(dk(['run', '--rm', 'busybox', 'echo', 'hi'])).toMatchObject({ code: 0, stdout: 'hi\n' });
    expect(dk(['run', '--rm', 'busybox', 'sh', '-c', 'echo to-stderr >&2; exit 7'])).toMatchObject({ code: 7, stdout: '', stderr: 'to-stderr\n' });
    const missing = dk(['run', '--rm', 'busybox', 'no-such-command']);
    expect(missing.code).toBe(127);
    expect(missing.stderr).toMatch(/executable file not found/);
    expect(dk(['run', '--rm', 'busybox', '/etc/hostname']).code).toBe(126);
    expect(dk(['run', '--rm', '-i', 'busybox', 'sh', '-c', 'read a; echo "read $a"'], { input: 'typed\n' })).toMatchObject({ code: 0, stdout: 'read typed\n' });
    // run's flags, through Config and HostConfig, onto the CLI's own parser.
    const data = mkdtempSync(path.join(stateDir, 'data-'));
    writeFileSync(path.join(data, 'file'), 'from-host\n');
    chmodSync(data, 0o755); // readable by the container's user nobody
    const flags = dk(['run', '--rm', '--hostname', 'box', '-e', 'GREETING=hi', '-w', '/tmp', '--init', '--read-only', '-u', 'nobody', '-m', '64m', '--pids-limit', '32',
      '--cap-drop', 'ALL', '-v', `${data}:/data:ro`, '--label', 'lab=flags', 'busybox',
      'sh', '-c', 'hostname; echo $GREETING; pwd; id -u; cat /data/file; tr "\\0" " " < /proc/1/cmdline; echo; grep CapEff /proc/self/status; touch /x 2>/dev/null || echo read-only']);
    expect(flags.code, flags.stderr).toBe(0);
    const lines = flags.stdout.trim().split('\n');
    expect(lines.slice(0, 5)).toEqual(['box', 'hi', '/tmp', '65534', 'from-host']);
    expect(lines[5]).toMatch(/^\/sbin\/docker-init -- sh -c/);
    expect(lines.slice(6)).toEqual(['CapEff:\t0000000000000000', 'read-only']);
    expect(dk(['run', '--restart', 'always', 'busybox', 'true'])).toMatchObject({ code: 125, stderr: expect.stringMatching(/minidocker does not support HostConfig\.RestartPolicy/) });
    expect(dk(['ps', '-aq']).stdout).toBe('');
    expect(leftovers(stateDir)).toEqual([]);
  }, 180_000);

  it.skipIf(!DOCKER_CLI)(`docker run -d, ps, logs (-f ends with the container), exec, inspect, stop, rm -f, images — the CLI on the same state${DOCKER_CLI ? '' : ` (skipped: ${NO_DOCKER})`}`, async () => {
    const started = dk(['run', '-d', '--name', 'worker', '-m', '64m', 'busybox', 'sh', '-c', 'echo up; trap "echo bye; exit 7" TERM; while true; do sleep 0.1; done']);
    expect(started.code, started.stderr).toBe(0);
    const id = started.stdout.trim();
    made.add(id);
    expect(dk(['ps']).stdout).toMatch(new RegExp(`^${id}\\s+busybox\\s+.*Up .*worker$`, 'm'));
    expect(md('ps').stdout).toMatch(new RegExp(`${id}.*worker`));
    await eventually(() => dk(['logs', 'worker']).stdout === 'up\n', 10_000, 'the log line');
    expect(dk(['exec', 'worker', 'sh', '-c', 'echo "in $(hostname)"; exit 3'])).toMatchObject({ code: 3, stdout: `in ${id}\n` });
    expect(dk(['exec', '-i', '-u', 'nobody', '-w', '/tmp', 'worker', 'sh', '-c', 'read a; echo "$a $(id -u) $PWD"'], { input: 'typed\n' })).toMatchObject({ code: 0, stdout: 'typed 65534 /tmp\n' });
    const missing = dk(['exec', 'worker', 'no-such-command']);
    expect(missing.code).toBe(127);
    expect(missing.stdout).toMatch(/executable file not found/);
    expect(JSON.parse(dk(['inspect', 'worker']).stdout)[0]).toMatchObject({ Id: id, Name: '/worker', State: { Running: true }, HostConfig: { Memory: 64 * 1024 * 1024 } });
    expect(dk(['update', '-m', '128m', '--pids-limit', '50', 'worker'])).toMatchObject({ code: 0, stdout: 'worker\n' });
    expect(JSON.parse(dk(['inspect', 'worker']).stdout)[0].HostConfig).toMatchObject({ Memory: 128 * 1024 * 1024, PidsLimit: 50 });
    expect(dk(['update', '--restart', 'always', 'worker']).stderr).toMatch(/minidocker does not support HostConfig\.RestartPolicy/);
    expect(dk(['stop', '-t', '5', 'worker'])).toMatchObject({ code: 0, stdout: 'worker\n' });
    expect(dk(['ps', '-a']).stdout).toMatch(new RegExp(`${id}.*Exited \\(7\\).*worker`));
    expect(dk(['logs', 'worker']).stdout).toBe('up\nbye\n');
    expect(dk(['logs', '--tail', '1', 'worker']).stdout).toBe('bye\n');
    expect(dk(['logs', '-t', 'worker']).stderr).toMatch(/this container's log records no times/);
    expect(dk(['rename', 'worker', 'worker2'])).toMatchObject({ code: 0 });
    expect(md('ps', '-a').stdout).toMatch(new RegExp(`${id}.*worker2`));
    expect(dk(['rename', 'worker2', 'bad name']).stderr).toMatch(/Invalid container name/);
    expect(dk(['rm', 'worker2'])).toMatchObject({ code: 0 });

    // A container the CLI made shows in docker ps; logs -f ends when it does; rm -f of a running one.
    const cliMade = md('run', '-d', '--name', 'counter', 'busybox', 'sh', '-c', 'for i in 1 2 3; do echo n$i; sleep 0.3; done');
    made.add(cliMade.stdout.trim());
    expect(dk(['ps', '-a']).stdout).toContain('counter');
    const follow = dk(['logs', '-f', 'counter']);
    expect(follow).toMatchObject({ code: 0, stdout: 'n1\nn2\nn3\n' });
    const sleeper = dk(['run', '-d', 'busybox', 'sleep', '1000']).stdout.trim();
    made.add(sleeper);
    expect(dk(['rm', 'counter', sleeper]).code).not.toBe(0); // the running one: refused
    expect(dk(['rm', '-f', sleeper]).code).toBe(0);
    expect(dk(['images']).stdout).toMatch(/^busybox\s+latest\s+[0-9a-f]{12}/m);
    expect(dk(['ps', '-aq']).stdout).toBe('');
    expect(leftovers(stateDir)).toEqual([]);
  }, 180_000);

  it.skipIf(!DOCKER_CLI)(`docker restart and start -a: the same container again, its writable layer kept${DOCKER_CLI ? '' : ` (skipped: ${NO_DOCKER})`}`, async () => {
    const started = dk(['run', '-d', '--name', 'again', 'busybox', 'sh', '-c', 'echo "run $(cat /runs 2>/dev/null)"; echo x >> /runs; trap "exit 0" TERM; while true; do sleep 0.1; done']);
    expect(started.code, started.stderr).toBe(0);
    made.add(started.stdout.trim());
    await eventually(() => dk(['logs', 'again']).stdout === 'run \n', 10_000, 'the first run');
    expect(dk(['restart', '-t', '5', 'again'])).toMatchObject({ code: 0, stdout: 'again\n' });
    await eventually(() => dk(['logs', 'again']).stdout === 'run \nrun x\n', 10_000, 'the second run, which sees the first one\'s file');
    expect(dk(['ps']).stdout).toMatch(/Up .*again/);
    // Stopped, its layer outlives the next container's create (whose sweep takes the folders of the gone), as Docker keeps it.
    expect(dk(['stop', 'again']).code).toBe(0);
    expect(dk(['run', '--rm', 'busybox', 'true']).code).toBe(0);
    expect(dk(['start', 'again']).code).toBe(0);
    await eventually(() => dk(['logs', 'again']).stdout === 'run \nrun x\nrun x\nx\n', 10_000, 'the third run');
    // docker commit: its writable layer as a new image.
    expect(dk(['commit', 'again', 'snap:v1'])).toMatchObject({ code: 0, stdout: expect.stringMatching(/^sha256:[0-9a-f]{64}\n$/) });
    expect(dk(['run', '--rm', 'snap:v1', 'cat', '/runs'])).toMatchObject({ code: 0, stdout: 'x\nx\nx\n' });
    expect(dk(['rmi', 'snap:v1']).code).toBe(0);
    expect(dk(['rm', '-f', 'again']).code).toBe(0);
    // docker start -a: attached before the start, the second run's output and exit code.
    expect(dk(['run', '--name', 'twice', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 4'])).toMatchObject({ code: 4, stdout: 'out\n', stderr: 'err\n' });
    made.add(JSON.parse(dk(['inspect', 'twice']).stdout)[0].Id);
    // Its output passed through the service: a json-file log, the streams apart, each line with its time.
    expect(dk(['logs', 'twice'])).toMatchObject({ stdout: 'out\n', stderr: 'err\n' });
    expect(dk(['logs', '-t', 'twice']).stdout).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z out\n$/);
    expect(dk(['logs', '--since', '2000-01-01T00:00:00Z', '--until', '2000-01-02T00:00:00Z', 'twice'])).toMatchObject({ stdout: '', stderr: '' });
    expect(dk(['start', '-a', 'twice'])).toMatchObject({ code: 4, stdout: 'out\n', stderr: 'err\n' });
    // The exit code is the new run's, not the last one's (wait?condition=next-exit before the start).
    expect(dk(['run', '--name', 'changes', 'busybox', 'sh', '-c', 'test -e /ran && exit 5; touch /ran; exit 3']).code).toBe(3);
    made.add(JSON.parse(dk(['inspect', 'changes']).stdout)[0].Id);
    expect(dk(['start', '-a', 'changes']).code).toBe(5);
    expect(dk(['rm', 'changes']).code).toBe(0);
    expect(dk(['rm', 'twice']).code).toBe(0);
    expect(leftovers(stateDir)).toEqual([]);
  }, 120_000);

  /** The docker CLI's environment on a terminal: this service, a config folder of the test's own. */
  const cliEnv = () => ({ ...process.env, DOCKER_HOST: `unix://${socketPath}`, DOCKER_CONFIG: path.join(stateDir, 'docker-cli'), TERM: 'xterm' });

  it.skipIf(!DOCKER_CLI)(`docker run -it and exec -it on a terminal: /dev/pts/N, the window size, keys in, the exit code${DOCKER_CLI ? '' : ` (skipped: ${NO_DOCKER})`}`, async () => {
    const { terminal, child, exited } = spawnOnTerminal(DOCKER_CLI!, ['run', '-it', '--rm', 'busybox', 'sh'], { rows: 31, cols: 97, env: cliEnv() });
    try {
      terminal.type('echo "tty=$(tty) size=$(stty size)"');
      await terminal.waitFor(/tty=\/dev\/pts\/0 size=31 97/);
      terminal.type('exit 6');
      expect(await within(exited, 20_000, 'docker run -it to end')).toBe(6);
    } finally {
      child.kill('SIGKILL');
      await terminal.finish().catch(() => {});
      if (child.exitCode !== 6) await removeAll(); // a failed run leaves its shell running, as a killed docker run would
    }
    await eventually(() => dk(['ps', '-aq']).stdout === '', 10_000, 'the --rm container to be gone');

    // docker exec -it: a second terminal, in the container's own devpts, sized from the start.
    const box = dk(['run', '-d', '--name', 'box', 'busybox', 'sleep', '1000']);
    made.add(box.stdout.trim());
    const { terminal: execTerminal, child: exec, exited: execExited } = spawnOnTerminal(DOCKER_CLI!, ['exec', '-it', 'box', 'sh'], { rows: 25, cols: 81, env: cliEnv() });
    try {
      execTerminal.type('echo "tty=$(tty) size=$(stty size) pid1=$(cat /proc/1/comm)"');
      await execTerminal.waitFor(/tty=\/dev\/pts\/\d+ size=25 81 pid1=sleep/);
      execTerminal.type('exit 4');
      expect(await within(execExited, 20_000, 'docker exec -it to end')).toBe(4);
    } finally {
      exec.kill('SIGKILL');
      await execTerminal.finish().catch(() => {});
    }
    expect(dk(['rm', '-f', 'box']).code).toBe(0);
  }, 120_000);

  it.skipIf(!DOCKER_CLI)(`docker run -p HOSTPORT:80 answers in the service's host namespace${DOCKER_CLI ? '' : ` (skipped: ${NO_DOCKER})`}`, async () => {
    const web = dk(['run', '-d', '--name', 'web', '-p', '8080:80', 'busybox', 'sh', '-c', 'mkdir -p /www && echo hello-api > /www/index.html && exec httpd -f -p 80 -h /www']);
    expect(web.code, web.stderr).toBe(0);
    made.add(web.stdout.trim());
    expect(dk(['ps']).stdout).toMatch(/0\.0\.0\.0:8080->80\/tcp\s+web/);
    let body = '';
    await eventually(() => {
      try {
        body = inNetns(hostNetns, ['timeout', '5', 'busybox', 'wget', '-q', '-O-', 'http://127.0.0.1:8080/']);
      } catch {
        return false;
      }
      return true;
    }, 10_000, 'the published port');
    expect(body).toBe('hello-api\n');
    expect(dk(['rm', '-f', 'web']).code).toBe(0);
    expect(networkLeftovers(hostNetns)).toEqual([]);
    expect(dk(['network', 'ls', '--format', '{{.Name}} {{.Driver}}']).stdout).toBe('bridge bridge\nhost host\nnone null\n');
    expect(JSON.parse(dk(['network', 'inspect', 'bridge']).stdout)[0]).toMatchObject({ Name: 'bridge', IPAM: { Config: [{ Subnet: '172.29.0.0/24', Gateway: '172.29.0.1' }] } });
    expect(dk(['network', 'create', 'mine']).stderr).toMatch(/minidocker does not implement POST \/networks\/create/);
  }, 120_000);

  it.skipIf(!DOCKER_CLI || !HAS_REGISTRY)(`docker pull, tag, rmi and a run that pulls, against a docker-registry on 127.0.0.1${DOCKER_CLI && HAS_REGISTRY ? '' : ' (skipped: no docker CLI or no docker-registry here)'}`, async () => {
    const registry = await startDistribution();
    try {
      expect(dk(['run', '--rm', 'busybox', 'true']).code).toBe(0); // the lab's busybox in the store
      const name = `${registry.host}/lab/busybox:v1`;
      expect(md('tag', 'busybox', name)).toExitWith(0);
      expect(md('push', name)).toExitWith(0);
      expect(dk(['rmi', name])).toMatchObject({ code: 0, stdout: `Untagged: ${name}\n` });
      const pulled = dk(['pull', name]);
      expect(pulled.code, pulled.stderr).toBe(0);
      expect(pulled.stdout).toContain(`Status: Downloaded newer image for ${name}`);
      expect(dk(['images', '--format', '{{.Repository}}:{{.Tag}}']).stdout.split('\n')).toContain(name);
      expect(dk(['tag', name, 'mine:v2']).code).toBe(0);
      expect(dk(['run', '--rm', 'mine:v2', 'echo', 'tagged']).stdout).toBe('tagged\n');
      expect(dk(['rmi', 'mine:v2', name]).code).toBe(0);
      // Not here: `docker run` pulls it through POST /images/create, then runs it.
      const run = dk(['run', '--rm', name, 'echo', 'after-pull']);
      expect(run).toMatchObject({ code: 0, stdout: 'after-pull\n' });
      expect(run.stderr).toContain(`Unable to find image '${name}' locally`);
      expect(dk(['pull', `${registry.host}/lab/none:v1`]).code).not.toBe(0);
      expect(dk(['rmi', name]).code).toBe(0);
    } finally {
      await registry.stop();
    }
  }, 120_000);

  it.skipIf(!DOCKER_CLI)(`docker save and load: a file and a pipe, the image ID kept, read by skopeo too; a tar that is no image is refused${DOCKER_CLI ? '' : ` (skipped: ${NO_DOCKER})`}`, () => {
    expect(dk(['run', '--rm', 'busybox', 'true']).code).toBe(0); // the lab's busybox in the store
    expect(dk(['tag', 'busybox', 'kept:v1']).code).toBe(0);
    const id = dk(['inspect', '--format', '{{.Id}}', 'kept:v1']).stdout.trim();
    const archive = path.join(stateDir, 'kept.tar');
    expect(dk(['save', '-o', archive, 'kept:v1'])).toMatchObject({ code: 0, stderr: '' });
    expect(dk(['rmi', 'kept:v1']).code).toBe(0);
    expect(dk(['load', '-i', archive])).toMatchObject({ code: 0, stdout: 'Loaded image: kept:v1\n' });
    expect(dk(['inspect', '--format', '{{.Id}}', 'kept:v1']).stdout.trim()).toBe(id);
    expect(dk(['run', '--rm', 'kept:v1', 'echo', 'loaded'])).toMatchObject({ code: 0, stdout: 'loaded\n' });
    // `docker save | docker load`: the archive through stdout and stdin.
    expect(dk(['rmi', 'kept:v1']).code).toBe(0);
    expect(dk(['tag', 'busybox', 'kept:v1']).code).toBe(0);
    const piped = spawnSync('sh', ['-c', `"${DOCKER_CLI}" save kept:v1 > "${archive}.2" && "${DOCKER_CLI}" rmi kept:v1 >/dev/null && "${DOCKER_CLI}" load < "${archive}.2"`], {
      encoding: 'utf8', timeout: COMMAND_PATIENCE_MS, env: { ...process.env, DOCKER_HOST: `unix://${socketPath}`, DOCKER_CONFIG: path.join(stateDir, 'docker-cli') },
    });
    expect(piped).toMatchObject({ status: 0, stdout: 'Loaded image: kept:v1\n' });
    // Another reader of the same file: skopeo takes it as Docker's archive and as an OCI layout.
    if (spawnSync('sh', ['-c', 'command -v skopeo'], { stdio: 'ignore' }).status === 0) {
      const docker = spawnSync('skopeo', ['inspect', '--config', `docker-archive:${archive}`], { encoding: 'utf8' });
      expect(docker.status, docker.stderr).toBe(0);
      expect(JSON.parse(docker.stdout).rootfs.diff_ids.length).toBeGreaterThan(0); // the image's config, read back
      expect(spawnSync('skopeo', ['inspect', `oci-archive:${archive}:v1`], { encoding: 'utf8' }).status).toBe(0);
    }
    const bogus = path.join(stateDir, 'bogus.tar');
    writeFileSync(bogus, 'not a tar at all\n');
    const refused = dk(['load', '-i', bogus]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/not an image archive that docker save or podman save writes/);
    expect(dk(['save', 'no-such-image:v9']).stderr).toMatch(/No such image: no-such-image:v9/);
    expect(readdirSync(path.join(stateDir, 'images', 'tmp'))).toEqual([]); // nothing of the loads and saves left
    expect(dk(['rmi', 'kept:v1']).code).toBe(0);
  }, 120_000);

  it('a second service on the same socket is refused in one line; a stale socket file is replaced', async () => {
    const second = startService(socketPath);
    expect(await within(second.exited, 20_000, 'the second service to give up')).toBe(125);
    expect(second.output()).toBe(`minidocker: unix://${socketPath} is in use by another service: stop it first, or choose another --host\n`);
    expect(await socketAnswers(socketPath)).toBe(true); // the first one still has it

    // A service killed with SIGKILL leaves its socket file behind: the next one takes its place.
    const stalePath = path.join(stateDir, 'stale.sock');
    const dead = startService(stalePath);
    await eventually(() => existsSync(stalePath), 20_000, 'the doomed service');
    dead.child.kill('SIGKILL');
    await dead.exited;
    expect(existsSync(stalePath)).toBe(true);
    const next = startService(stalePath);
    await eventually(() => next.output().includes('API 1.43'), 20_000, `the next service (${next.output()})`);
    expect(statSync(stalePath).mode & 0o777).toBe(0o600);
    next.child.kill('SIGTERM');
    expect(await within(next.exited, 10_000, 'the next service to stop')).toBe(0);
    expect(existsSync(stalePath)).toBe(false);
  }, 60_000);

  it('listens on TCP only on a loopback address, with a warning', async () => {
    const open = startService('', 'tcp://0.0.0.0:2375');
    expect(await within(open.exited, 20_000, 'the refusal')).toBe(125);
    expect(open.output()).toMatch(/^minidocker: refusing --host "tcp:\/\/0\.0\.0\.0:2375": the API is root-equivalent .*loopback addresses only.*\n$/);
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port: free } = probe.address() as AddressInfo;
        probe.close(() => resolve(free));
      });
    });
    const tcp = startService('', `tcp://127.0.0.1:${port}`);
    try {
      await eventually(() => tcp.output().includes('API 1.43'), 20_000, `the TCP service (${tcp.output()})`);
      expect(tcp.output()).toMatch(/^WARNING: tcp:\/\/127\.0\.0\.1:\d+ has no TLS and no authentication/);
      const answer = await fetch(`http://127.0.0.1:${port}/v1.43/_ping`);
      expect(answer.headers.get('api-version')).toBe('1.43');
      expect(await answer.text()).toBe('OK');
    } finally {
      tcp.child.kill('SIGTERM');
      await within(tcp.exited, 10_000, 'the TCP service to stop');
    }
  }, 60_000);

  it('SIGTERM stops the service and removes its socket; a detached container lives on, and nothing is left once it is removed', async () => {
    const sleeper = await docker.createContainer({ Image: 'busybox', Cmd: ['sleep', '1000'] });
    made.add(sleeper.id);
    await sleeper.start();
    service!.kill('SIGTERM');
    expect(await within(new Promise((resolve) => service!.once('exit', resolve)), 10_000, 'the service to stop')).toBe(0);
    expect(serviceLog).toContain('stopped; the containers go on running');
    expect(existsSync(socketPath)).toBe(false);
    expect(md('ps').stdout).toMatch(new RegExp(`${sleeper.id}.*Up `));
    expect(md('rm', '-f', sleeper.id)).toExitWith(0);
    await removeAll().catch(() => {}); // the service is gone: nothing to ask
    expect(leftovers(stateDir)).toEqual([]);
    expect(cgroupLeftovers()).toEqual([]);
    expect(networkLeftovers(hostNetns)).toEqual([]);
  }, 60_000);
});
