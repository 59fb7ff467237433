/**
 * `npm run lesson N`, run the way a user runs it: bad input gets one line, an interrupted lesson
 * leaves nothing behind.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeAsRoot, isRoot } from '../helpers/root.js';
import { eventually } from '../helpers/processes.js';

const repo = new URL('../..', import.meta.url).pathname;

/** Can any user read files in `dir`: every folder on the way searchable, `dir` itself readable? */
function readableByOthers(dir: string): boolean {
  const folders = dir.split('/').filter(Boolean).map((_, index, parts) => `/${parts.slice(0, index + 1).join('/')}`);
  return folders.every((folder) => (statSync(folder).mode & 0o001) !== 0) && (statSync(dir).mode & 0o004) !== 0;
}
const lessonCli = (args: string[], user?: string) => {
  const command = [process.execPath, '--import', 'tsx', 'src/course/cli/lesson.ts', ...args];
  const [file, ...rest] = user ? ['runuser', '-u', user, '--', ...command] : command;
  return spawnSync(file!, rest, { cwd: repo, encoding: 'utf8', env: { ...process.env, CI: 'true' } });
};

describe('npm run lesson: bad input', () => {
  it.each([
    [[], /^error: which lesson\?/],
    [['10'], /^error: there is no lesson 10|^error: lesson 10 is not written yet/],
    [['one'], /^error: "one" is not a lesson number/],
    [['1', '--colour'], /^error: unknown option --colour/],
  ])('%j → one line on stderr, exit 2', (args, message) => {
    const result = lessonCli(args as string[]);
    expect(result.status).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr.trim()).toMatch(message);
    expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  // `nobody` must be able to read the checkout; a clone in root's own home (mode 700) is not readable.
  it.skipIf(!isRoot || !readableByOthers(repo))('not root, no IDs of its own → says why in one line, then tries sudo', () => {
    const result = lessonCli(['1', '--plain'], 'nobody');
    expect(result.status).not.toBe(0);
    // What sudo itself says (a password it has no terminal to ask for) may follow; ours is the first line.
    expect(result.stderr).toMatch(/^lesson 1 could run without root, but nobody has no subordinate user IDs in \/etc\/subuid: ask an administrator for a range: sudo usermod --add-subuids \S+ --add-subgids \S+ nobody; (trying sudo|there is no sudo here: run it again as root)\n/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it.skipIf(!isRoot || !readableByOthers(repo))('not root, a lesson that needs it → says why in one line', () => {
    const result = lessonCli(['4', '--plain'], 'nobody');
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/^lesson 4 needs root: its cgroups are made in the machine's own cgroup tree, which only root may write; (trying sudo|there is no sudo here: run it again as root)\n/);
  });
});

describeAsRoot('npm run lesson: interrupted with Ctrl-C', () => {
  it('closes the session: no container process, no monitor, no message queue is left', async () => {
    const queuesBefore = spawnSync('ipcs', ['-q'], { encoding: 'utf8' }).stdout;
    const lesson = spawn(process.execPath, ['--import', 'tsx', 'src/course/cli/lesson.ts', '2', '--plain'], {
      cwd: repo,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    lesson.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => lesson.on('close', (code) => resolve(code)));
    // Wait until a container of step 2 runs, then interrupt.
    await eventually(() => /parent chain: \d+ \S+ \(runtime\) → \d+ \S+ \(monitor\) → \d+ sleep/.test(output.split('Step 2/')[1] ?? ''), 60_000, 'step 2');
    const [, monitor, command] = /(\d+) \S+ \(monitor\) → (\d+) sleep/.exec(output.split('Step 2/')[1]!)!.map(Number) as [number, number, number];
    // The first lines say which code runs: without --mine, the reference.
    expect(output).toMatch(/^Lesson 2: .*\nRunning the reference code from lessons\/02-pid \(add --mine to run yours\)\.\n/);
    lesson.kill('SIGINT');
    expect(await exited).toBe(130);
    await eventually(() => !existsSync(`/proc/${monitor}`) && !existsSync(`/proc/${command}`), 5000, 'container gone');
    expect(spawnSync('ipcs', ['-q'], { encoding: 'utf8' }).stdout).toBe(queuesBefore);
  }, 90_000);
});
