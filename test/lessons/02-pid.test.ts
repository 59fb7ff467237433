/**
 * Lesson 02 graded checks: PID and IPC namespaces, from inside the container and from the host.
 */
import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { afterEach, describe, expect } from 'vitest';
import { graded } from '../../src/course/grading.js';
import { CLONE_NEWIPC, CLONE_NEWPID, MS_NODEV, MS_NOEXEC, MS_NOSUID, RecordingSyscalls } from '../../src/sys/index.js';
import { captureInContainer, startContainer, type Container } from '../../src/container/runtime.js';
import { bundleUnderTest, importLesson } from '../helpers/impl.js';
import { describeAsRoot } from '../helpers/root.js';
import { eventually } from '../helpers/processes.js';
import '../helpers/syscalls.js';

const pid = await importLesson<typeof import('../../lessons/02-pid/pid.js')>('02-pid', 'pid.ts');
const { pidContainerPlan, TINI } = await import('../../lessons/02-pid/lesson.js');

describe('lesson 02 · the code, on its own', () => {
  graded('pid.unshare', 'newPidNamespace asks for a new PID namespace', () => {
    const sys = new RecordingSyscalls();
    pid.newPidNamespace(sys);
    expect(sys.calls).toMakeSyscalls([{ call: 'unshare', args: [CLONE_NEWPID] }]);
  }, { requires: ['CLONE_NEWPID'] });

  graded('ipc.unshare', 'newIpcNamespace asks for a new IPC namespace', () => {
    const sys = new RecordingSyscalls();
    pid.newIpcNamespace(sys);
    expect(sys.calls).toMakeSyscalls([{ call: 'unshare', args: [CLONE_NEWIPC] }]);
  }, { requires: ['CLONE_NEWIPC'] });

  graded('pid.proc', 'mountProc mounts a proc filesystem on /proc, nosuid, nodev, noexec', () => {
    const sys = new RecordingSyscalls();
    pid.mountProc(sys);
    expect(sys.calls.filter((record) => record.call === 'mount')).toMakeSyscalls([{ call: 'mount', args: ['proc', '/proc', 'proc', MS_NOSUID | MS_NODEV | MS_NOEXEC, null] }]);
  }, { requires: ['MS_NOSUID', 'MS_NODEV', 'MS_NOEXEC', '/proc'] });

  graded('pid.nspid', 'parseNSpid reads every PID of the NSpid line, outermost first', () => {
    const outer = randomInt(1000, 99999);
    const middle = randomInt(2, 999);
    const status = `Name:\tsleep\nTgid:\t${outer}\nNSpid:\t${outer}\t${middle}\t1\nNSpgid:\t${outer}\n`;
    expect(pid.parseNSpid(status)).toEqual([outer, middle, 1]);
    expect(pid.parseNSpid(`NSpid:\t${outer}\n`)).toEqual([outer]);
    expect(() => pid.parseNSpid('Name:\tsleep\n')).toThrow();
  }, { requires: ['NSpid:', 'outermost first', 'throw'] });

  graded('pid.init', 'withInit puts the init program in front: init -- command...', () => {
    const init = `/sbin/init-${randomInt(1000)}`;
    expect(pid.withInit(['sh', '-c', 'exit 3'], init)).toEqual([init, '--', 'sh', '-c', 'exit 3']);
  }, { requires: ['the init, "--", then the command'] });

  graded('pid.stop', 'stopContainer returns at once when SIGTERM is enough', async () => {
    const code = randomInt(1, 100);
    const signals: string[] = [];
    const fake = { kill: (signal: NodeJS.Signals) => (signals.push(signal), true), wait: async () => ({ exitCode: code }) };
    expect(await pid.stopContainer(fake, 60_000)).toBe(code);
    expect(signals).toEqual(['SIGTERM']);
  });

  graded('pid.stop', 'stopContainer sends SIGKILL after the grace period when SIGTERM is ignored', async () => {
    const signals: string[] = [];
    let exit!: (status: { exitCode: number }) => void;
    const exited = new Promise<{ exitCode: number }>((resolve) => (exit = resolve));
    const fake = {
      kill: (signal: NodeJS.Signals) => {
        signals.push(signal);
        if (signal === 'SIGKILL') exit({ exitCode: 137 });
        return true;
      },
      wait: () => exited,
    };
    const started = Date.now();
    expect(await pid.stopContainer(fake, 150)).toBe(137);
    expect(signals).toEqual(['SIGTERM', 'SIGKILL']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  }, { requires: ['SIGTERM', 'graceMs', 'SIGKILL', 'exit code'] });
});

describeAsRoot('lesson 02 · a real container', () => {
  const running: Container[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((container) => container.destroy()));
  });

  async function start(args: string[]) {
    const container = await startContainer(pidContainerPlan(args), { stdio: 'ignore', bundle: bundleUnderTest() });
    running.push(container);
    return container;
  }
  const inside = async (container: Container, script: string) =>
    (await captureInContainer(container.pid, ['sh', '-c', script], bundleUnderTest())).stdout.trim();
  /** `ps` inside, as [pid, ppid, state, command] rows. */
  const ps = async (container: Container) =>
    (await inside(container, 'ps -o pid=,ppid=,stat=,comm='))
      .split('\n')
      .map((line) => line.trim().split(/\s+/));

  graded('pid.unshare', 'inside, the command is PID 1', async () => {
    const seconds = String(randomInt(1000, 9999));
    const container = await start(['sleep', seconds]);
    expect(await inside(container, 'cat /proc/1/cmdline | tr "\\0" " "')).toBe(`sleep ${seconds}`);
  });

  graded('pid.proc', 'ps inside lists only the container’s processes', async () => {
    const extra = randomInt(1, 4);
    const container = await start(['sh', '-c', `${'sleep 1000 & '.repeat(extra)}exec sleep 1001`]);
    await eventually(() => readFileSync(`/proc/${container.pid}/status`, 'utf8').includes('sleep'), 2000);
    const rows = await ps(container);
    // PID 1, the background sleeps, and the `sh` + `ps` of our own exec.
    const commands = rows.map(([, , , command]) => command).sort();
    expect(commands).toEqual([...Array(extra + 1).fill('sleep'), 'ps', 'sh'].sort());
    expect(rows.every(([inner]) => Number(inner) < 1000)).toBe(true);
  });

  graded('pid.nspid', 'NSpid maps the host PID to PID 1 inside', async () => {
    const container = await start(['sleep', '1000']);
    expect(pid.parseNSpid(readFileSync(`/proc/${container.pid}/status`, 'utf8'))).toEqual([container.pid, 1]);
    expect(pid.pidInside(container.pid)).toBe(1);
    expect(readlinkSync(`/proc/${container.pid}/ns/pid`)).not.toBe(readlinkSync('/proc/self/ns/pid'));
  });

  graded('pid.stop', 'a sleep as PID 1 ignores SIGTERM: stop needs SIGKILL, exit code 137', async () => {
    const container = await start(['sleep', '1000']);
    container.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(existsSync(`/proc/${container.pid}/status`)).toBe(true);
    expect(await pid.stopContainer(container, 200)).toBe(137);
  });

  graded('pid.stop', 'a PID 1 with a SIGTERM handler stops on SIGTERM, with its own exit code', async () => {
    const code = randomInt(1, 100);
    const container = await start(['sh', '-c', `trap "exit ${code}" TERM; while :; do sleep 0.05; done`]);
    await new Promise((resolve) => setTimeout(resolve, 200)); // let the shell install its trap
    expect(await pid.stopContainer(container, 10_000)).toBe(code);
  });

  const orphanMaker = ['sh', '-c', '(sh -c "sleep 0.1" &); exec sleep 1000'];

  graded('pid.init', 'without an init, an orphan that exits stays a zombie under PID 1', async () => {
    const container = await start(orphanMaker);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await ps(container)).some(([, ppid, state]) => ppid === '1' && state!.startsWith('Z'))).toBe(true);
  });

  graded('pid.init', 'with --init (tini) as PID 1, the orphan is reaped: no zombie', async () => {
    const container = await start(pid.withInit(orphanMaker, TINI));
    await new Promise((resolve) => setTimeout(resolve, 500));
    const rows = await ps(container);
    expect(rows.find(([inner]) => inner === '1')?.[3]).toMatch(/^tini/);
    expect(rows.some(([, , state]) => state!.startsWith('Z'))).toBe(false);
  });

  graded('pid.unshare', 'when PID 1 dies, the kernel kills the rest of the namespace', async () => {
    const container = await start(['sh', '-c', 'sleep 1000 & sleep 1000 & exec sleep 1000']);
    await eventually(() => pid.hostPidsInNamespaceOf(container.pid).length === 3, 2000, 'three processes');
    const members = pid.hostPidsInNamespaceOf(container.pid);
    container.kill('SIGKILL');
    await container.wait();
    await eventually(() => members.every((member) => !existsSync(`/proc/${member}`)), 2000, 'all gone');
  });

  graded('ipc.unshare', 'message queues do not cross between host and container', async () => {
    const hostQueue = /(\d+)/.exec(execFileSync('ipcmk', ['-Q'], { encoding: 'utf8' }))![1]!;
    try {
      const hostKey = execFileSync('ipcs', ['-q'], { encoding: 'utf8' }).split('\n').find((line) => line.split(/\s+/)[1] === hostQueue)!.split(/\s+/)[0];
      const container = await start(['sleep', '1000']);
      const created = await inside(container, 'ipcmk -Q >/dev/null && ipcs -q');
      const containerKeys = created.split('\n').filter((line) => line.startsWith('0x')).map((line) => line.split(/\s+/)[0]);
      expect(containerKeys).toHaveLength(1);
      expect(containerKeys).not.toContain(hostKey);
      expect(execFileSync('ipcs', ['-q'], { encoding: 'utf8' })).not.toContain(containerKeys[0]);
      expect(readlinkSync(`/proc/${container.pid}/ns/ipc`)).not.toBe(readlinkSync('/proc/self/ns/ipc'));
    } finally {
      execFileSync('ipcrm', ['-q', hostQueue]);
    }
  });
});
