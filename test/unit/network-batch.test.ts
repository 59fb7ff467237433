/**
 * NetworkHost.batched: the commands a container's wiring issues run as one shell script, in order,
 * stopping at the first that fails — which is named, with its status — and each one is recorded as if it
 * had run alone. Plain `sh` commands on files in a temporary folder: nothing of the machine is touched;
 * the `ip -batch` runs, as root, in a throwaway network namespace.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CommandFailed, NetworkHost, ipBatches } from '../../lessons/06-network/commands.js';
import { describeAsRoot } from '../helpers/root.js';
import { ip, throwawayNetns } from '../helpers/netns.js';

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

describe('NetworkHost.batched: runs of `ip` commands', () => {
  it('groups consecutive ip commands for one namespace into one `ip -batch`; anything else runs alone', () => {
    const queued = [
      ['ip', '-n', 'hostns', 'link', 'add', 'a', 'type', 'veth', 'peer', 'name', 'b'],
      ['ip', '-n', 'hostns', 'link', 'set', 'b', 'netns', '42'],
      ['nsenter', '--net=/proc/42/ns/net', 'ip', 'link', 'set', 'b', 'name', 'eth0'],
      ['ip', '-n', 'hostns', 'link', 'set', 'a', 'up'],
      ['nsenter', '--net=/proc/42/ns/net', 'ip', 'addr', 'add', '10.0.0.2/24', 'dev', 'eth0'],
      ['nsenter', '--net=/proc/42/ns/net', 'ip', 'link', 'set', 'eth0', 'up'],
      ['sh', '-c', 'echo not ip'],
      ['ip', 'link', 'set', 'x', 'alias', 'two words'],
    ];
    expect(ipBatches(queued)).toEqual([
      { first: 0, argv: ['ip', '-n', 'hostns'], batch: ['link add a type veth peer name b', 'link set b netns 42'] },
      { first: 2, argv: queued[2] },
      { first: 3, argv: queued[3] },
      { first: 4, argv: ['nsenter', '--net=/proc/42/ns/net', 'ip'], batch: ['addr add 10.0.0.2/24 dev eth0', 'link set eth0 up'] },
      { first: 6, argv: queued[6] },
      { first: 7, argv: queued[7] }, // a word with a blank would split in a batch line
    ]);
  });

  describeAsRoot('in a throwaway namespace', () => {
    const netns = throwawayNetns();
    it('a failing line of a batch is the failing command, named; the ones before it are recorded as run', async () => {
      const host = new NetworkHost({ sandbox: netns.create(), stateDir: mkdtempSync(path.join(tmpdir(), 'mdl-batch-')) });
      let error: unknown;
      try {
        await host.batched(async () => {
          await host.run(['ip', 'link', 'add', 'lab-b1', 'type', 'bridge']);
          await host.run(['ip', 'link', 'add', 'lab-b2', 'type', 'bridge']);
          await host.run(['ip', 'link', 'add', 'lab-b1', 'type', 'bridge']); // exists: fails
          await host.run(['ip', 'link', 'add', 'lab-b3', 'type', 'bridge']); // never runs
        });
      } catch (caught) {
        error = caught;
      } finally {
        rmSync(host.labStateDir, { recursive: true, force: true });
      }
      expect(error).toBeInstanceOf(CommandFailed);
      expect((error as CommandFailed).command).toBe(`ip -n ${host.sandbox} link add lab-b1 type bridge`);
      expect((error as CommandFailed).result.stderr).toMatch(/File exists/);
      expect((error as CommandFailed).result.stderr).not.toMatch(/Command failed|lab-batch-failed/);
      expect(host.history.map((record) => record.exitCode)).toEqual([0, 0, 1]);
      const links = ip(['-n', host.sandbox!, '-o', 'link', 'show']);
      expect(links).toContain('lab-b2');
      expect(links).not.toContain('lab-b3');
    });
  });
});
