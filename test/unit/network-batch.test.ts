/**
 * NetworkHost.batched: the commands a container's wiring issues run as one shell script, in order,
 * stopping at the first that fails — which is named, with its status — and each one is recorded as if it
 * had run alone. Plain `sh` commands on files in a temporary folder: nothing of the machine is touched.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CommandFailed, NetworkHost } from '../../lessons/06-network/commands.js';

describe('NetworkHost.batched', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'mdl-batch-'));
    file = path.join(dir, 'log');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const append = (word: string) => ['sh', '-c', `echo ${word} >> "$0"`, file];

  it('runs the queued commands in order, in one shell, and records each', async () => {
    const seen: string[] = [];
    const host = new NetworkHost({ stateDir: dir, onCommand: (record) => seen.push(`${record.exitCode} ${record.command}`) });
    const result = await host.batched(async () => {
      for (const word of ['one', 'two', 'three']) expect(await host.run(append(word))).toEqual({ stdout: '', stderr: '', exitCode: 0 });
      expect(existsSync(file)).toBe(false); // queued, not run yet
      return 'done';
    }).catch((error: unknown) => error);
    expect(result).toBe('done');
    expect(readFileSync(file, 'utf8')).toBe('one\ntwo\nthree\n');
    expect(seen).toEqual(['one', 'two', 'three'].map((word) => `0 sh -c 'echo ${word} >> "$0"' ${file}`));
  });

  it('stops at the first command that fails and throws it, named, with its status and stderr; the rest never run', async () => {
    const host = new NetworkHost({ stateDir: dir });
    const error = await host.batched(async () => {
      await host.run(append('first'));
      await host.run(['sh', '-c', 'echo broken >&2; exit 3']);
      await host.run(append('never'));
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CommandFailed);
    expect((error as CommandFailed).command).toBe("sh -c 'echo broken >&2; exit 3'");
    expect((error as CommandFailed).result).toMatchObject({ exitCode: 3, stderr: 'broken\n' });
    expect(readFileSync(file, 'utf8')).toBe('first\n');
    expect(host.history.map((record) => record.exitCode)).toEqual([0, 3]);
  });

  it('runs the queue before a command whose result is read (allowFailure), so it sees their effect', async () => {
    const host = new NetworkHost({ stateDir: dir });
    await host.batched(async () => {
      await host.run(append('before'));
      const read = await host.run(['cat', file], { allowFailure: true });
      expect(read.stdout).toBe('before\n');
    });
  });
});
