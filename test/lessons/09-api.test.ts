/**
 * Lesson 09 graded checks: the daemon's router and the client's `docker run`. The router and the frame
 * reader on their own first, with random inputs; then the real service — `minidocker system service`,
 * built from the implementation under test — on a socket and a state folder of the test's own, driven
 * by raw HTTP and by the client's runContainer, and seen from outside: its request log, `minidocker ps`,
 * and nothing left behind. Its containers use no network (NetworkMode none): no host network is touched.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { buildBundle, bundlePath, REPO_ROOT } from '../../src/build/bundle.js';
import { isStale } from '../../src/build/fresh.js';
import { graded } from '../../src/course/grading.js';
import { requestsOf, routeShape } from '../../lessons/09-api/request-log.js';
import { bundleUnderTest, importLesson } from '../helpers/impl.js';
import { eventually } from '../helpers/processes.js';
import { describeAsRoot } from '../helpers/root.js';
import { killRecorded, leftovers } from '../final/helpers.js';

const router = await importLesson<typeof import('../../lessons/09-api/router.js')>('09-api', 'router.ts');
const frames = await importLesson<typeof import('../../lessons/09-api/frames.js')>('09-api', 'frames.ts');
const client = await importLesson<typeof import('../../lessons/09-api/run-client.js')>('09-api', 'run-client.ts');

const randomName = () => `c${randomBytes(4).toString('hex')}`;

describe('lesson 09 · the router and the frames, on their own', () => {
  graded('api.pattern', 'compilePattern: {name} is one segment, {name*} spans slashes, the rest is literal; a repeated or unclosed name throws', () => {
    const [a, b] = [randomName(), randomName()];
    const { regex, names } = router.compilePattern(`/things/{${a}}/parts.v2/{${b}*}`);
    expect(names).toEqual([a, b]);
    expect(regex.exec('/things/x1/parts.v2/deep/er/path')?.slice(1)).toEqual(['x1', 'deep/er/path']);
    expect(regex.test('/things/x1/y/parts.v2/z')).toBe(false); // {name} is one segment only
    expect(regex.test('/things/x1/partsXv2/z')).toBe(false); // the dot is a dot
    expect(regex.test('/things/x1/parts.v2/z/extra/../')).toBe(true);
    expect(regex.test('/prefix/things/x1/parts.v2/z')).toBe(false); // anchored at the start …
    expect(router.compilePattern('/_ping').regex.test('/_ping/more')).toBe(false); // … and at the end
    expect(() => router.compilePattern(`/a/{${a}}/{${a}}`)).toThrow(/twice/);
    expect(() => router.compilePattern('/a/{id')).toThrow(/unclosed/);
  }, { requires: ['{name}', '{name*}', 'twice', 'unclosed'] });

  graded('api.target', 'splitTarget: the version prefix taken off and returned, the query apart, a trailing slash dropped', () => {
    const minor = 12 + Math.floor(Math.random() * 40);
    const split = router.splitTarget(`/v1.${minor}/containers/json?all=1&filters=%7B%7D`);
    expect(split.path).toBe('/containers/json');
    expect(split.version).toBe(`1.${minor}`);
    expect(Object.fromEntries(split.query)).toEqual({ all: '1', filters: '{}' });
    expect(router.splitTarget('/_ping')).toMatchObject({ path: '/_ping', version: null });
    expect(router.splitTarget('/_ping').query.toString()).toBe('');
    expect(router.splitTarget('/v1.43/_ping/')).toMatchObject({ path: '/_ping', version: '1.43' });
    expect(router.splitTarget('/')).toMatchObject({ path: '/' });
    expect(router.splitTarget('/containers/v1.2/json')).toMatchObject({ path: '/containers/v1.2/json', version: null }); // a name, not a version
    expect(router.splitTarget('/a?b=/v1.43/')).toMatchObject({ path: '/a', version: null });
  }, { requires: ['/v1.43/', 'URLSearchParams', 'trailing slash'] });

  graded('api.match', 'the router: the first matching route with its decoded params, 405 with the allowed methods, 404, HEAD answered by GET', () => {
    const id = randomName();
    const table = createTable();
    const found = table.match('POST', `/v1.43/containers/${id}/start?detachKeys=x`);
    expect(found).toMatchObject({ kind: 'found', handler: 'start', params: { id }, version: '1.43', path: `/containers/${id}/start` });
    expect(found.kind === 'found' && found.query.get('detachKeys')).toBe('x');
    expect(table.match('GET', '/images/localhost:5000/lab/app%3Av1/json')).toMatchObject({ kind: 'found', handler: 'image', params: { name: 'localhost:5000/lab/app:v1' } });
    expect(table.match('GET', '/containers/json')).toMatchObject({ kind: 'found', handler: 'list' }); // table order: before {id}
    expect(table.match('GET', `/containers/${id}/start`)).toMatchObject({ kind: 'wrong-method', allowed: ['POST'] });
    expect(table.match('PUT', `/containers/${id}`)).toMatchObject({ kind: 'wrong-method', allowed: ['DELETE', 'PATCH'] });
    expect(table.match('GET', '/no/such/thing')).toEqual({ kind: 'not-found', path: '/no/such/thing', version: null });
    expect(table.match('HEAD', '/version')).toMatchObject({ kind: 'found', handler: 'version' });
    expect(table.match('HEAD', '/_ping')).toMatchObject({ kind: 'found', handler: 'ping-head' });
    expect(table.match('GET', '/containers/%E0%A4%A/json')).toMatchObject({ kind: 'not-found' });
  }, { requires: ['405', '404', 'decodeURIComponent', 'HEAD'] });

  graded('api.demux', 'splitFrames: the whole frames in order, whatever the chunks; the rest kept; a byte that names no stream throws', () => {
    const sent = Array.from({ length: 20 }, (_, index) => ({
      stream: (Math.random() < 0.5 ? 'stdout' : 'stderr') as 'stdout' | 'stderr',
      payload: index === 3 ? Buffer.alloc(0) : randomBytes(1 + Math.floor(Math.random() * 300)),
    }));
    const wire = Buffer.concat(sent.map(({ stream, payload }) => frames.frame(stream, payload)));
    // Cut at random places, as a socket does, and fed piece by piece.
    const received: { stream: string; payload: Buffer }[] = [];
    let rest = Buffer.alloc(0);
    for (let offset = 0; offset < wire.length;) {
      const size = 1 + Math.floor(Math.random() * 200);
      const split = frames.splitFrames(Buffer.concat([rest, wire.subarray(offset, offset + size)]));
      received.push(...split.frames);
      rest = Buffer.from(split.rest);
      offset += size;
    }
    expect(rest.length).toBe(0);
    expect(received.map(({ stream, payload }) => [stream, payload.toString('hex')])).toEqual(sent.map(({ stream, payload }) => [stream, payload.toString('hex')]));
    const half = frames.splitFrames(Buffer.concat([frames.frame('stdout', Buffer.from('whole')), frames.frame('stderr', Buffer.from('half')).subarray(0, 10)]));
    expect(half.frames.map(({ stream, payload }) => [stream, payload.toString()])).toEqual([['stdout', 'whole']]);
    expect(half.rest.length).toBe(10);
    expect(() => frames.splitFrames(Buffer.from('HTTP/1.1 200 OK\r\n'))).toThrow(frames.StreamFormatError);
  }, { requires: ['8-byte header', 'big-endian', 'stdout', 'stderr'] });
});

function createTable() {
  return router.createRouter([
    { method: 'GET', pattern: '/_ping', handler: 'ping' },
    { method: 'HEAD', pattern: '/_ping', handler: 'ping-head' },
    { method: 'GET', pattern: '/version', handler: 'version' },
    { method: 'GET', pattern: '/containers/json', handler: 'list' },
    { method: 'POST', pattern: '/containers/{id}/start', handler: 'start' },
    { method: 'DELETE', pattern: '/containers/{id}', handler: 'remove' },
    { method: 'PATCH', pattern: '/containers/{id}', handler: 'patch' },
    { method: 'DELETE', pattern: '/containers/{id}', handler: 'remove-again' },
    { method: 'GET', pattern: '/images/{name*}/json', handler: 'image' },
  ]);
}

// ---------------------------------------------------------------------------------------------------
// The real service

/** The service under test: a child process on its own socket and state folder, its stderr collected. */
interface Service {
  child: ChildProcess;
  socket: string;
  stateDir: string;
  log: () => string[];
  exited: Promise<void>;
}

/** minidocker's bundle from the implementation under test (the student's router, with a workshop). */
async function serviceBundle(): Promise<string> {
  const target = bundleUnderTest();
  const file = bundlePath('minidocker', target);
  if (isStale(file, REPO_ROOT)) await buildBundle('minidocker', target);
  return file;
}

async function startService(stateDir: string): Promise<Service> {
  const socket = path.join(stateDir, 'docker.sock');
  const child = spawn(process.execPath, [await serviceBundle(), 'system', 'service', '--host', `unix://${socket}`, '--log-requests'], {
    env: { ...process.env, LAB_STATE_DIR: stateDir },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let text = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const service = { child, socket, stateDir, log: () => text.split('\n'), exited };
  await eventually(() => existsSync(socket) || child.exitCode !== null, 30_000, 'the service socket');
  if (!existsSync(socket)) throw new Error(`the service did not start: ${text.trim().split('\n').at(-1)}`);
  return service;
}

async function stopService(service: Service | undefined): Promise<void> {
  if (!service || service.child.exitCode !== null || service.child.signalCode !== null) return;
  service.child.kill('SIGTERM');
  await service.exited;
}

function raw(socket: string, method: string, target: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, method, path: target }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function minidocker(stateDir: string, args: string[]) {
  const result = spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin', 'minidocker.js'), ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, LAB_STATE_DIR: stateDir } });
  return { code: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
}

/** Cgroup folders of the lab named after one of these container IDs, on any hierarchy. */
function cgroupsOf(ids: string[]): string[] {
  return readdirSync('/sys/fs/cgroup').flatMap((controller) => {
    const parent = path.join('/sys/fs/cgroup', controller, 'mini-docker-lab');
    return existsSync(parent) ? readdirSync(parent).filter((name) => ids.some((id) => name.startsWith(id))) : [];
  });
}

describeAsRoot('lesson 09 · the real service', () => {
  let stateDir: string;
  let service: Service | undefined;

  beforeAll(() => {
    stateDir = mkdtempSync(path.join(tmpdir(), 'mdl-lesson09-test-'));
  });

  afterAll(async () => {
    const ids = minidocker(stateDir, ['ps', '-aq']).stdout.split('\n').filter(Boolean);
    if (ids.length) minidocker(stateDir, ['rm', '-f', ...ids]);
    await stopService(service);
    killRecorded(stateDir);
    if (leftovers(stateDir).every((entry) => !entry.startsWith('/'))) rmSync(stateDir, { recursive: true, force: true });
  }, 120_000);

  graded('api.match', 'the service built from your router answers over its socket: /_ping, a versioned path, Docker\'s 404 and 405', async () => {
    service = await startService(stateDir);
    expect(await raw(service.socket, 'GET', '/_ping')).toEqual({ status: 200, body: 'OK' });
    const version = await raw(service.socket, 'GET', '/v1.43/version');
    expect(version.status).toBe(200);
    expect(JSON.parse(version.body)).toMatchObject({ ApiVersion: expect.any(String), Os: 'linux' });
    expect(await raw(service.socket, 'GET', '/v1.43/no/such/thing')).toMatchObject({ status: 404, body: '{"message":"page not found"}\n' });
    const wrong = await raw(service.socket, 'DELETE', '/v1.43/_ping');
    expect(wrong.status).toBe(405);
    expect(JSON.parse(wrong.body).message).toMatch(/GET, HEAD/);
    // The log saw each one, with its status.
    const logged = requestsOf(service.log()).map((entry) => `${entry.method} ${routeShape(entry.target)} ${entry.status}`);
    expect(logged).toEqual(expect.arrayContaining(['GET /_ping 200', 'GET /version 200', 'GET /no/such/thing 404', 'DELETE /_ping 405']));
  }, { timeout: 120_000, requires: ['page not found', '405'] });

  graded('api.run', 'runContainer: stdout and stderr apart, the exit code from the wait, in docker\'s order — create, attach, wait, start; --rm leaves nothing', async () => {
    service ??= await startService(stateDir);
    const engine = new client.EngineClient(service.socket);
    const code = Math.floor(Math.random() * 100) + 1;
    const word = randomName();
    const output: string[] = [];
    const result = await client.runContainer(
      engine,
      { image: 'busybox', cmd: ['sh', '-c', `echo out-${word}; echo err-${word} >&2; hostname; exit ${code}`], name: word, hostname: `h-${word}`, networkMode: 'none' },
      (stream, chunk) => output.push(...chunk.toString().trim().split('\n').map((line) => `${stream} ${line}`)),
    );
    expect(result.exitCode).toBe(code);
    expect(output.sort()).toEqual([`stderr err-${word}`, `stdout h-${word}`, `stdout out-${word}`].sort());
    // Outside: the CLI sees the container, exited with that code, under its name.
    expect(minidocker(stateDir, ['ps', '-a']).stdout).toMatch(new RegExp(`${result.id.slice(0, 12)}.*Exited \\(${code}\\).*${word}`));
    // The daemon's log: the four requests in docker's order, the wait asked for the next exit.
    const mine = requestsOf(service.log()).filter((entry) => entry.target.includes('/containers/create') ? entry.target.includes(word) : entry.target.includes(result.id));
    expect(mine.map((entry) => `${entry.method} ${routeShape(entry.target)} ${entry.status}`)).toEqual([
      'POST /containers/create 201', 'POST /containers/{id}/attach 101', 'POST /containers/{id}/wait 200', 'POST /containers/{id}/start 204',
    ]);
    expect(mine[2]!.target).toContain('condition=next-exit');

    // --rm: the daemon removes it, and the wait answers only then.
    const gone = await client.runContainer(engine, { image: 'busybox', cmd: ['sh', '-c', 'exit 3'], networkMode: 'none', autoRemove: true }, () => {});
    expect(gone.exitCode).toBe(3);
    expect(requestsOf(service.log()).some((entry) => entry.target.includes(`${gone.id}/wait?condition=removed`))).toBe(true);
    expect(minidocker(stateDir, ['ps', '-aq']).stdout).not.toContain(gone.id.slice(0, 12));
    expect(cgroupsOf([gone.id])).toEqual([]);
  }, { timeout: 180_000, requires: ['create', 'attach', 'wait', 'start', 'condition=next-exit', 'removed', 'StatusCode'] });
});
