/**
 * `minidocker run`'s command line (src/final/flags.ts), read without starting anything: Docker's
 * combined switches, the valued flags, where the flags stop, and the one-line refusals (exit 125).
 */
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseRun, splitShortFlags, UsageError } from '../../src/final/flags.js';
import { looksLikePlainRun } from '../../src/final/early-init.js';
import { OciError } from '../../src/final/oci/spec.js';

const hostDir = mkdtempSync(path.join(tmpdir(), 'flags-'));
afterAll(() => rmSync(hostDir, { recursive: true, force: true }));

describe('splitShortFlags', () => {
  it('takes -dit apart, but only before the image: the command\'s own -it is left alone', () => {
    expect(splitShortFlags(['-dit', 'busybox', 'sh', '-it'], 'dit')).toEqual(['-d', '-i', '-t', 'busybox', 'sh', '-it']);
    expect(splitShortFlags(['-it', '--rm', 'busybox'], 'dit')).toEqual(['-i', '-t', '--rm', 'busybox']);
  });

  it('leaves a word with a letter it does not know as it is', () => {
    expect(splitShortFlags(['-dx', 'busybox'], 'dit')).toEqual(['-dx', 'busybox']);
  });
});

describe('parseRun', () => {
  it('reads switches and the image, and keeps everything after the image as the command', () => {
    expect(parseRun(['--rm', '-dit', '--name', 'web', '--init', '--read-only', 'busybox', 'sh', '-c', 'echo -e hi'])).toMatchObject({
      autoRemove: true, detach: true, interactive: true, tty: true, name: 'web', init: true, readOnly: true,
      image: 'busybox', args: ['sh', '-c', 'echo -e hi'],
    });
    expect(parseRun(['busybox'])).toMatchObject({ image: 'busybox', args: [], env: [], volumes: [], publish: [] });
  });

  it('collects repeated -e, -v and -p, with the value after the flag or joined with "="', () => {
    const options = parseRun(['-e', 'A=1', '--env=B', '-v', `${hostDir}:/data:ro`, '-p', '8080:80', '--publish=0.0.0.0:53:53/udp', '-w', '/srv', '-h', 'box', 'busybox', 'true']);
    expect(options.env).toEqual(['A=1', 'B']);
    expect(options.volumes).toEqual([{ destination: '/data', type: 'bind', source: realpathSync(hostDir), options: ['rbind', 'ro'] }]);
    expect(options.publish).toEqual([
      { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
      { hostPort: 53, containerPort: 53, protocol: 'udp' },
    ]);
    expect(options).toMatchObject({ workdir: '/srv', hostname: 'box' });
  });

  it('reads the limit flags into linux.resources\' shape', () => {
    expect(parseRun(['-m', '64m', '--pids-limit', '20', 'busybox']).resources).toEqual({
      memory: { limit: 64 * 1024 * 1024, swap: 64 * 1024 * 1024 },
      pids: { limit: 20 },
    });
    expect(parseRun(['--memory=32m', '--memory-swap', '-1', 'busybox']).resources).toMatchObject({ memory: { limit: 32 * 1024 * 1024, swap: -1 } });
    expect(parseRun(['busybox']).resources).toEqual({});
  });

  it('reads --network', () => {
    expect(parseRun(['--network', 'none', 'busybox']).network).toEqual({ mode: 'none' });
    expect(parseRun(['--net=container:web', 'busybox']).network).toEqual({ mode: 'container', container: 'web' });
  });

  /** The refusal's one line, which must be a UsageError or another OciError (the CLI exits 125 with it). */
  function refusal(args: string[]): { message: string; usage: boolean } {
    try {
      parseRun(args);
    } catch (error) {
      expect(error).toBeInstanceOf(OciError);
      expect((error as Error).message).not.toContain('\n');
      return { message: (error as Error).message, usage: error instanceof UsageError };
    }
    throw new Error(`parseRun accepted ${args.join(' ')}`);
  }

  it('refuses an unknown flag, a flag without its value, and a missing image, as usage errors', () => {
    expect(refusal(['--frobnicate', 'busybox'])).toEqual({ message: 'unknown flag: --frobnicate', usage: true });
    expect(refusal(['-dx', 'busybox'])).toEqual({ message: 'unknown flag: -dx', usage: true });
    expect(refusal(['--name'])).toEqual({ message: 'flag needs an argument: --name', usage: true });
    expect(refusal([])).toEqual({ message: '"run" requires at least 1 argument: IMAGE [COMMAND...]', usage: true });
    expect(refusal(['--rm', '-d'])).toEqual({ message: '"run" requires at least 1 argument: IMAGE [COMMAND...]', usage: true });
    expect(refusal(['-m', '64q', 'busybox']).usage).toBe(true);
  });

  it('refuses bad values of -v, -p and --network in one line each', () => {
    expect(refusal(['-v', 'relative:/data', 'busybox']).message).toMatch(/^invalid volume specification: "relative:\/data": the host path must be absolute/);
    expect(refusal(['-v', `${hostDir}/missing:/data`, 'busybox']).message).toMatch(/bind source path does not exist/);
    expect(refusal(['-p', '99999:80', 'busybox']).message).toBe('-p 99999:80: the host port must be a number from 1 to 65535');
    expect(refusal(['--network', 'bogus', 'busybox']).message).toBe('invalid --network "bogus": use bridge, host, none, slirp4netns or container:NAME');
  });
});

describe('looksLikePlainRun (the early init of src/final/early-init.ts)', () => {
  const lines = [
    ['run', '--rm', 'busybox', 'true'],
    ['run', '--rm', '--network', 'none', '-e', 'A=1', '-w', '/tmp', 'busybox', 'sh', '-c', 'exit 3'],
    ['run', '-d', 'busybox', 'sleep', '9'],
    ['run', '-it', 'busybox', 'sh'],
    ['run', '--rm', '-i', 'busybox', 'cat'],
    ['run', '-t', 'busybox', 'sh'],
    ['run', '--tty', 'busybox'],
    ['run', '--detach=true', 'busybox'],
    ['run', '--rm', '--interactive', 'busybox', 'cat'],
    ['run', '--rm', 'busybox', 'ls', '-d', '/'],
  ];

  it('says yes only to runs with neither -d, -i nor -t: an early init never meets a run that cannot use it', () => {
    for (const argv of lines) {
      if (!looksLikePlainRun(argv)) continue;
      const options = parseRun(argv.slice(1));
      expect({ argv, detach: options.detach, interactive: options.interactive, tty: options.tty }).toEqual({ argv, detach: undefined, interactive: undefined, tty: undefined });
    }
  });

  it('says yes to the plain runs, and no to any other command', () => {
    expect(lines.filter(looksLikePlainRun)).toEqual([lines[0], lines[1]]);
    expect(looksLikePlainRun(['ps', '-a'])).toBe(false);
    expect(looksLikePlainRun(['exec', 'web', 'true'])).toBe(false);
  });
});
