/**
 * `minidocker run -it` and `exec -it` end to end: the CLI runs on a terminal of the test's own (a pty
 * made on the host, its slave as the CLI's stdin/stdout/stderr), and the test types into it as a
 * person would. The container's shell then has a second pty, in the container's devpts, which the CLI
 * relays to ours: two terminals, as with `docker run -it` in an xterm.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { REPO_ROOT } from '../../src/build/bundle.js';
import { describeAsRoot } from '../helpers/root.js';
import { throwawayNetns } from '../helpers/netns.js';
import { spawnOnTerminal, TestTerminal, within } from '../helpers/terminal.js';
import { alive, cli, COMMAND_PATIENCE_MS, leftovers, MINIDOCKER, recordedPids, killRecorded } from './helpers.js';

let stateDir: string;
let hostNetns: string;
const md = (...args: string[]) => cli(MINIDOCKER, stateDir, args, { hostNetns });

/** Starts the CLI on a new terminal of `rows`×`cols`; returns the terminal and the CLI's process. */
function onTerminal(args: string[], rows = 33, cols = 101): { terminal: TestTerminal; child: ChildProcess; exited: Promise<number | null> } {
  return spawnOnTerminal(process.execPath, [path.join(REPO_ROOT, MINIDOCKER), ...args], {
    rows, cols, env: { ...process.env, LAB_STATE_DIR: stateDir, MINIDOCKER_NETNS: hostNetns, TERM: 'xterm' },
  });
}

describeAsRoot('minidocker run -it and exec -it', () => {
  const netns = throwawayNetns();
  const children: ChildProcess[] = [];
  beforeEach(() => {
    hostNetns = netns.create('lab-test-mdtty');
    stateDir = mkdtempSync(path.join(tmpdir(), 'mdl-tty-'));
  });
  afterEach(() => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
    killRecorded(stateDir);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('run -it: a shell with its own /dev/pts/0, the window size (also after a resize), job control, its exit code', async () => {
    const { terminal, child, exited } = onTerminal(['run', '-it', '--rm', '--name', 'shell', 'busybox', 'sh']);
    children.push(child);
    await terminal.waitFor(/\/ # /, COMMAND_PATIENCE_MS);
    terminal.type('echo "tty=$(tty) size=$(stty size)"');
    await terminal.waitFor(/tty=\/dev\/pts\/0 size=33 101/);

    // The window changes: the terminal gets the new size, the CLI hears SIGWINCH and resizes the container's pty.
    terminal.pty.resize(40, 120);
    child.kill('SIGWINCH');
    terminal.type('echo "now=$(stty size)"');
    await terminal.waitFor(/now=40 120/);

    // Job control: a background job, listed and killed by its job number (needs a controlling terminal).
    terminal.type('sleep 300 &');
    terminal.type('jobs');
    await terminal.waitFor(/\[1\]\+\s+Running\s+sleep 300/);
    terminal.type('kill %1; echo "killed=$?"');
    await terminal.waitFor(/killed=0/);
    expect(terminal.output).not.toContain('job control turned off');

    // Line ends as the container's terminal made them: our terminal adds no second "\r" (raw output, as docker's).
    terminal.type('echo one; echo two');
    await terminal.waitFor(/one\r\ntwo\r\n/);

    terminal.type('exit 5');
    expect(await within(exited, COMMAND_PATIENCE_MS, 'the CLI to exit')).toBe(5);
    // ... and the terminal gets its own settings back, output processing too.
    expect(spawnSync('stty', ['-F', terminal.pty.slavePath, '-a'], { encoding: 'utf8' }).stdout).toMatch(/(^|\s)opost(\s|$)/m);
    await terminal.finish();
    expect(md('ps', '-a').stdout.trim().split('\n')).toHaveLength(1); // --rm: gone
    expect(leftovers(stateDir)).toEqual([]);
  }, 180_000);

  it('exec -it: a second shell in a running container gets a terminal of the container’s own', async () => {
    expect(md('run', '-d', '--name', 'box', 'busybox', 'sleep', '1000')).toExitWith(0);
    const { terminal, child, exited } = onTerminal(['exec', '-it', 'box', 'sh'], 24, 80);
    children.push(child);
    await terminal.waitFor(/\/ # /, COMMAND_PATIENCE_MS);
    terminal.type('echo "tty=$(tty) size=$(stty size) host=$(hostname)"; ps -o pid,comm | grep -c sleep');
    await terminal.waitFor(/tty=\/dev\/pts\/0 size=24 80 host=\w+/);
    await terminal.waitFor(/^1\r?$/m); // the container's own sleep: same PID namespace
    terminal.type('exit 3');
    expect(await within(exited, COMMAND_PATIENCE_MS, 'the CLI to exit')).toBe(3);
    await terminal.finish();
    expect(md('rm', '-f', 'box')).toExitWith(0);
    expect(recordedPids(stateDir).filter(alive)).toEqual([]);
    expect(leftovers(stateDir)).toEqual([]);
  }, 180_000);

  it('-t rules as Docker’s: not with -d; -it needs a terminal on stdin; both refused in one line, nothing created', () => {
    const detached = md('run', '-dit', 'busybox', 'sh');
    expect(detached).toExitWith(125);
    expect(detached.stderr).toBe('minidocker: -t with -d is not supported: nothing could attach to the terminal later; run it in the foreground with -it\n');
    const piped = md('run', '-it', '--rm', 'busybox', 'sh'); // stdin is a pipe here
    expect(piped).toExitWith(125);
    expect(piped.stderr).toBe('minidocker: the input device is not a TTY: run it from a terminal, or leave out -t\n');
    expect(leftovers(stateDir)).toEqual([]);
  }, 180_000);

  it('-i without -t passes stdin; without -i the command reads nothing, as with Docker', () => {
    const withInput = cli(MINIDOCKER, stateDir, ['run', '-i', '--rm', '--network', 'none', 'busybox', 'tr', 'a-z', 'A-Z'], { hostNetns, input: 'shout\n' });
    expect(withInput).toMatchObject({ code: 0, stdout: 'SHOUT\n' });
    const without = cli(MINIDOCKER, stateDir, ['run', '--rm', '--network', 'none', 'busybox', 'cat'], { hostNetns, input: 'ignored\n' });
    expect(without).toMatchObject({ code: 0, stdout: '' });
  }, 180_000);
});
