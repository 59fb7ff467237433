/**
 * `docker run -it` for real: a BusyBox container (lesson 03's rootfs, with its own devpts) whose shell
 * gets a pseudo-terminal made by the runtime, typed into and read from the master like a user would.
 */
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { attachTerminal, openConsole } from '../../src/container/console.js';
import { TestTerminal, within } from '../helpers/terminal.js';
import { makePlan } from '../../src/container/plan.js';
import { createContainer, execInContainer, startContainer, type Container, type CreateOptions } from '../../src/container/runtime.js';
import { busyboxImage, type Image } from '../../lessons/03-mount/image.js';
import { prepareContainerDir, removeContainerDir, rootfsContainerPlan } from '../../lessons/03-mount/containers.js';
import { describeAsRoot } from '../helpers/root.js';
import { eventually, isRunning } from '../helpers/processes.js';

/** The descriptors of this process, with what they point to (a leaked master shows as .../ptmx). */
function openDescriptors(): string[] {
  return readdirSync('/proc/self/fd').map((fd) => {
    try {
      return `${fd} ${readlinkSync(`/proc/self/fd/${fd}`)}`;
    } catch {
      return `${fd} (closed meanwhile)`; // the one readdirSync itself used
    }
  });
}

describeAsRoot('a container with a terminal (console)', () => {
  let stateDir: string;
  let image: Image;
  const cleanups: (() => Promise<void> | void)[] = [];

  beforeAll(() => {
    stateDir = mkdtempSync(path.join(tmpdir(), 'lab-console-test-'));
    image = busyboxImage({ stateDir }).image;
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(() => {
    if (stateDir) removeContainerDir(stateDir);
  });

  let serial = 0;
  /** Created, not started: init has pivot_rooted into a copy of the BusyBox image and waits. */
  async function createBusybox(args: string[], options: CreateOptions = {}): Promise<Container> {
    const id = `console-${process.pid}-${++serial}`;
    const dir = prepareContainerDir(id, image, 'console-box', stateDir);
    cleanups.push(() => removeContainerDir(dir.path));
    const container = await createContainer(rootfsContainerPlan(dir, 'console-box', { mode: 'pivot_root', args }), { stdio: 'ignore', ...options });
    cleanups.push(async () => void (await container.destroy()));
    return container;
  }

  it('gives the shell /dev/pts/0 of the container’s own devpts, its size, job control and its exit code', async () => {
    const descriptorsBefore = openDescriptors().length;
    const container = await createBusybox(['sh']);
    const pty = openConsole(container.pid);
    expect(pty.slavePath).toBe('/dev/pts/0'); // a fresh devpts instance numbers from 0, whatever the host has
    pty.resize(33, 101);
    const terminal = new TestTerminal(pty);
    await within(container.start({ console: pty.slavePath }), 10_000, 'start');

    terminal.type('echo "tty=$(tty)"; echo "size=$(stty size)"');
    expect((await terminal.waitFor(/tty=(\/\S+)/))[1]).toBe('/dev/pts/0');
    expect((await terminal.waitFor(/size=(\d+ \d+)/))[1]).toBe('33 101');

    // Job control: the foreground command runs in a process group of its own, and that group owns the
    // terminal. /proc/self/stat fields 5, 6, 8: process group, session, the terminal's foreground group.
    terminal.type("cut -d' ' -f5,6,8 /proc/self/stat");
    const [, group, session, foreground] = await terminal.waitFor(/^(\d+) (\d+) (\d+)\r?$/m);
    expect(session).toBe('1'); // the shell (PID 1) leads the session init started with setsid
    expect(group).not.toBe(session);
    expect(foreground).toBe(group);
    terminal.type('sleep 30 & jobs');
    await terminal.waitFor(/\[1\]\+\s+Running\s+sleep 30/);
    terminal.type('kill %1');

    // Resized while it runs: the kernel has the new size at once.
    pty.resize(40, 120);
    expect(pty.size()).toMatchObject({ rows: 40, cols: 120 });
    terminal.type('echo "now=$(stty size)"');
    expect((await terminal.waitFor(/now=(\d+ \d+)/))[1]).toBe('40 120');

    terminal.type('exit 7');
    expect((await within(container.wait(), 10_000, 'the container to exit')).exitCode).toBe(7);
    await terminal.finish();
    expect(terminal.output).not.toMatch(/job control turned off|can't access tty/);

    // Nothing left behind: the container and its monitor are gone, every descriptor is closed.
    await eventually(() => !isRunning(container.pid) && !isRunning(container.monitorPid), 5000, 'container and monitor gone');
    await eventually(() => openDescriptors().length <= descriptorsBefore, 5000, 'descriptors closed');
    expect(openDescriptors().filter((line) => /ptmx|\/dev\/pts\//.test(line))).toEqual([]);
  }, 60_000);

  it('gives a shell exec’d into the running container a console of its own: /dev/pts/1', async () => {
    const container = await createBusybox(['sh']);
    const main = new TestTerminal(openConsole(container.pid));
    await within(container.start({ console: main.pty.slavePath }), 10_000, 'start');

    const exec = await within(execInContainer(container.pid, { args: ['sh'] }, { tty: true, stdio: 'ignore' }), 10_000, 'exec');
    cleanups.push(async () => void (await exec.destroy()));
    expect(exec.console?.slavePath).toBe('/dev/pts/1');
    const second = new TestTerminal(exec.console!);
    second.type('echo "tty=$(tty)"; exit 3');
    expect((await second.waitFor(/tty=(\/\S+)/))[1]).toBe('/dev/pts/1');
    expect((await within(exec.wait(), 10_000, 'the exec to exit')).exitCode).toBe(3);
    await second.finish();
    expect(second.output).not.toMatch(/job control turned off|can't access tty/);

    // The container's own shell still has its terminal.
    main.type('echo "tty=$(tty)"; exit 0');
    expect((await main.waitFor(/tty=(\/\S+)/))[1]).toBe('/dev/pts/0');
    expect((await within(container.wait(), 10_000, 'the container to exit')).exitCode).toBe(0);
    await main.finish();
  }, 60_000);

  it('takes the console from a start message sent to the shim’s socket (the OCI create/start path)', async () => {
    const shimDir = mkdtempSync(path.join(tmpdir(), 'lab-console-shim-'));
    cleanups.push(() => rmSync(shimDir, { recursive: true, force: true }));
    const container = await createBusybox(['sh', '-c', 'echo "tty=$(tty)"; exit 4'], { shimDir });
    const pty = openConsole(container.pid);
    const terminal = new TestTerminal(pty);

    const socket = createConnection(path.join(shimDir, 'monitor.sock'));
    cleanups.push(() => void socket.destroy());
    let heard = '';
    socket.setEncoding('utf8').on('data', (text: string) => (heard += text));
    socket.write(`${JSON.stringify({ type: 'start', console: pty.slavePath })}\n`);

    expect((await terminal.waitFor(/tty=(\/\S+)/))[1]).toBe('/dev/pts/0'); // without the console: "not a tty"
    expect((await within(container.wait(), 10_000, 'the container to exit')).exitCode).toBe(4);
    await eventually(() => heard.includes('"exit"'), 5000, 'the shim to report the exit on its socket');
    expect(heard).toContain('{"type":"started"}');
    await terminal.finish();
  }, 60_000);

  it('without a mount namespace of its own, the container gets a pty of the host’s devpts', async () => {
    const container = await within(
      startContainer(makePlan({ id: 'console-host', namespaces: ['uts'], process: { args: ['sh', '-c', 'tty; exit 5'] } }), { tty: true, stdio: 'ignore' }),
      10_000,
      'start',
    );
    cleanups.push(async () => void (await container.destroy()));
    // Attached after the start, maybe after the exit: the pty keeps the output until it is read.
    const terminal = new TestTerminal(container.console!);
    expect((await within(container.wait(), 10_000, 'the container to exit')).exitCode).toBe(5);
    await terminal.finish();
    expect(terminal.output.trim()).toBe(container.console!.slavePath);
  }, 30_000);

  it('loses none of the output a command wrote before it ended, attached or not', async () => {
    // When the last slave closes, libuv takes the pty's hang-up for the end of file after ONE more read
    // (at most 4095 bytes: the line discipline's buffer), though the pty may hold more; attachTerminal
    // reads the rest. Attached only after the exit, the pty holds all ~8 KB of output: that one read
    // cannot take it all, every time.
    const lines = (count: number) => `seq 1 ${count}; echo "end of output"`;
    const run = async (script: string, attachAfterExit: boolean) => {
      const container = await within(
        startContainer(makePlan({ id: 'console-tail', process: { args: ['sh', '-c', script] } }), { tty: true, stdio: 'ignore' }),
        10_000,
        'start',
      );
      cleanups.push(async () => void (await container.destroy()));
      if (attachAfterExit) await within(container.wait(), 10_000, 'the container to exit');
      const terminal = new TestTerminal(container.console!);
      await within(container.wait(), 10_000, 'the container to exit');
      await terminal.finish();
      return terminal.output.split('\r\n');
    };
    const late = await run(lines(1500), true);
    expect(late.at(-2)).toBe('end of output');
    expect(late).toHaveLength(1502); // every number, the last line, and the empty string after its \r\n
    // While attached: the same race, with far more output than the pty holds (the writer waits for us).
    const streamed = await run(lines(30000), false);
    expect(streamed.at(-2)).toBe('end of output');
    expect(streamed).toHaveLength(30002);
  }, 30_000);

  it('makes a terminal stdin raw while attached, and sizes the console after the terminal stdout', async () => {
    const container = await createBusybox(['true']);
    const pty = container.openConsole();
    const rawModes: boolean[] = [];
    const stdin = Object.assign(new PassThrough(), { isTTY: true, isRaw: false, setRawMode: (raw: boolean) => rawModes.push(raw) });
    const stdout = Object.assign(new PassThrough(), { isTTY: true, rows: 21, columns: 77 });
    const exitListeners = process.listenerCount('exit');

    const detach = attachTerminal(pty, { stdin, stdout });
    expect(rawModes).toEqual([true]);
    expect(process.listenerCount('exit')).toBe(exitListeners + 1); // restores the terminal if we exit attached
    expect(pty.size()).toMatchObject({ rows: 21, cols: 77 });
    // What Node does on SIGWINCH: new rows/columns on stdout, then a 'resize' event.
    Object.assign(stdout, { rows: 50, columns: 132 }).emit('resize');
    expect(pty.size()).toMatchObject({ rows: 50, cols: 132 });

    detach();
    expect(rawModes).toEqual([true, false]);
    expect(process.listenerCount('exit')).toBe(exitListeners);
    Object.assign(stdout, { rows: 10, columns: 10 }).emit('resize');
    expect(pty.size()).toMatchObject({ rows: 50, cols: 132 }); // not followed any more
    await within(detach.outputEnded, 1000, 'outputEnded after detach');
  }, 30_000);
});
