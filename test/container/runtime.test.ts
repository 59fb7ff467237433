/**
 * The container start core, seen from outside (the host's /proc) and from inside (the command's output).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { makePlan, type ContainerPlan } from '../../src/container/plan.js';
import { captureInContainer, createContainer, startContainer, type Container } from '../../src/container/runtime.js';
import { describeAsRoot } from '../helpers/root.js';
import { registry } from '../../lessons/registry.js';
import { eventually, isRunning } from '../helpers/processes.js';

const started: Container[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((container) => container.destroy()));
});

async function run(args: string[], extra: Partial<ContainerPlan> = {}) {
  const container = await startContainer(makePlan({ id: 'test', ...extra, process: { args } }), { stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(container);
  let stdout = '';
  container.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  const status = await container.wait();
  return { ...status, stdout, container };
}

describeAsRoot('starting a container', () => {
  it('reports the command’s exit code, and 128+N when a signal killed it', async () => {
    expect((await run(['sh', '-c', 'exit 7'])).exitCode).toBe(7);
    const killed = await run(['sh', '-c', 'kill -TERM $$']);
    expect(killed.signal).toBe('SIGTERM');
    expect(killed.exitCode).toBe(143);
  });

  it('answers 127 for an unknown command and 126 for a file that is not executable', async () => {
    await expect(run(['no-such-command-here'])).rejects.toMatchObject({ exitCode: 127 });
    const dir = mkdtempSync(path.join(tmpdir(), 'lab-exec-'));
    try {
      const data = path.join(dir, 'data.txt');
      writeFileSync(data, 'not a program', { mode: 0o644 });
      await expect(run([data])).rejects.toMatchObject({ exitCode: 126 });
      await expect(run([data])).rejects.toThrow(`exec: "${data}": permission denied`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a create that fails is reported once its monitor is gone: its shim folder gets nothing after that', async () => {
    const shimDir = mkdtempSync(path.join(tmpdir(), 'lab-shim-'));
    try {
      const failing = createContainer(makePlan({ id: 'test', process: { args: ['no-such-command-here'] } }), { stdio: 'ignore', shimDir, dieWithRuntime: false });
      await expect(failing).rejects.toMatchObject({ exitCode: 127 });
      // The monitor wrote how it ended before it went: the folder is complete, and can be removed at once.
      expect(readdirSync(shimDir)).toContain('exit.json');
      expect(spawnSync('pgrep', ['-f', '--', `--shim ${shimDir}`]).status).toBe(1); // no monitor of this folder left
    } finally {
      rmSync(shimDir, { recursive: true, force: true });
    }
  });

  it('gives the command its output streams, no other descriptors and no ignored signals', async () => {
    const { stdout } = await run(['sh', '-c', 'echo hello; ls /proc/self/fd; grep SigIgn /proc/self/status']);
    const [greeting, ...rest] = stdout.trim().split('\n');
    expect(greeting).toBe('hello');
    // ls itself opens one descriptor (3) to read the directory; nothing else may be there.
    expect(rest.slice(0, -1).map(Number)).toEqual([0, 1, 2, 3]);
    expect(rest.at(-1)).toMatch(/SigIgn:\s+0+$/);
  });

  it('leaves no process behind: neither the command nor its monitor', async () => {
    const { container } = await run(['true']);
    await eventually(() => !isRunning(container.pid) && !isRunning(container.monitorPid), 5000, 'processes gone');
  });

  it('puts the command in a new UTS namespace, which exec can join', async () => {
    const container = await startContainer(
      makePlan({ id: 'test', namespaces: ['uts'], steps: [{ step: 'hostname', config: { hostname: 'core-test' } }], process: { args: ['sleep', '60'] } }),
      { stdio: 'ignore' },
    );
    started.push(container);
    expect(readlinkSync(`/proc/${container.pid}/ns/uts`)).not.toBe(readlinkSync('/proc/self/ns/uts'));
    const inside = await captureInContainer(container.pid, ['hostname']);
    expect(inside.stdout.trim()).toBe('core-test');
  });

  it('exec joins every namespace, also those after the mount namespace (net, cgroup)', async () => {
    const container = await startContainer(
      makePlan({ id: 'test', namespaces: ['pid', 'mnt', 'net'], steps: [{ step: 'mountProc', config: {} }], process: { args: ['sleep', '60'] } }),
      { stdio: 'ignore' },
    );
    started.push(container);
    const inside = await captureInContainer(container.pid, ['readlink', '/proc/self/ns/net']);
    expect(inside.stderr).toBe('');
    expect(inside.stdout.trim()).toBe(readlinkSync(`/proc/${container.pid}/ns/net`));
  });

  it('forwards the signals the runtime receives to the container', async () => {
    // A runtime process that forwards signals; its container exits with 42 on SIGTERM.
    const script = `
      import { startContainer } from './src/container/runtime.ts';
      import { makePlan } from './src/container/plan.ts';
      const c = await startContainer(makePlan({ id: 'fwd', process: { args: ['sh', '-c', 'trap "exit 42" TERM; echo ready; while :; do sleep 0.05; done'] } }), { stdio: ['ignore', 'inherit', 'inherit'] });
      c.forwardSignals();
      console.log('forwarding');
      process.exitCode = (await c.wait()).exitCode;`;
    const runtime = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    await new Promise<void>((resolve) =>
      runtime.stdout!.on('data', (chunk) => (output += chunk).includes('ready') && output.includes('forwarding') && resolve()),
    );
    runtime.kill('SIGTERM');
    expect(await new Promise((resolve) => runtime.on('close', resolve))).toBe(42);
  });

  it('kills the container when the runtime itself is killed with SIGKILL', async () => {
    // A separate runtime process that starts a container, prints its PID and waits forever.
    const script = `
      import { startContainer } from './src/container/runtime.ts';
      import { makePlan } from './src/container/plan.ts';
      const c = await startContainer(makePlan({ id: 'orphan', namespaces: ['uts'], process: { args: ['sleep', '600'] } }), { stdio: 'ignore' });
      console.log(c.pid, c.monitorPid);
      setInterval(() => {}, 1000);`;
    const runtime = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise<string>((resolve) => runtime.stdout!.once('data', (chunk) => resolve(String(chunk))));
    const [pid, monitorPid] = line.trim().split(' ').map(Number) as [number, number];
    expect(isRunning(pid)).toBe(true);
    runtime.kill('SIGKILL');
    await eventually(() => !isRunning(pid) && !isRunning(monitorPid), 5000, 'container and monitor killed with the runtime');
  });
});

describeAsRoot('starting a container directly: no monitor, the runtime is init\'s parent (runc run\'s shape)', () => {
  it('makes init PID 1 of a new PID namespace with the registry\'s creator, steps back for its own later children, and reports the exit code', async () => {
    const plan = makePlan({ id: 'direct', namespaces: ['pid'], process: { args: ['sh', '-c', 'echo "pid $$"; read line; exit 5'] } });
    const container = await startContainer(plan, { stdio: ['pipe', 'pipe', 'pipe'], direct: { registry } });
    started.push(container);
    let stdout = '';
    container.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    await eventually(() => stdout.includes('pid'), 5000, 'the command to start');
    expect(stdout).toBe('pid 1\n');
    // The command is our own child: nothing between this process and it.
    const stat = readFileSync(`/proc/${container.pid}/stat`, 'utf8');
    expect(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])).toBe(process.pid);
    expect(readlinkSync(`/proc/${container.pid}/ns/pid`)).not.toBe(readlinkSync('/proc/self/ns/pid'));
    // This thread's next children are in our own PID namespace again.
    const later = spawnSync('sh', ['-c', 'readlink /proc/self/ns/pid'], { encoding: 'utf8' });
    expect(later.stdout.trim()).toBe(readlinkSync('/proc/self/ns/pid'));
    container.stdin!.end('go\n');
    expect((await container.wait()).exitCode).toBe(5);
  });
});
