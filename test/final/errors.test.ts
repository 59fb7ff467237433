/**
 * How minidocker and oci report an error (src/sys/errors.ts): one line naming what went wrong, every
 * cause with its stack under --debug or DEBUG=1. The container they address has a broken state file, in
 * a state folder of the test's own: nothing is started. The tools run as root only, so this does too.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { repoRoot } from '../../src/build/repo.js';
import { describeAsRoot } from '../helpers/root.js';

describeAsRoot('minidocker and oci with a broken state file', () => {
  let stateDir: string;
  beforeEach(() => {
    stateDir = mkdtempSync(path.join(tmpdir(), 'errors-cli-'));
    mkdirSync(path.join(stateDir, 'runtime', 'abc'), { recursive: true });
    writeFileSync(path.join(stateDir, 'runtime', 'abc', 'state.json'), '{"id": "abc", ');
  });
  afterEach(() => rmSync(stateDir, { recursive: true, force: true }));

  const run = (entry: string, args: string[], env: Record<string, string> = {}) => {
    const environment: NodeJS.ProcessEnv = { ...process.env, LAB_STATE_DIR: stateDir, ...env };
    if (!('DEBUG' in env)) delete environment.DEBUG;
    const result = spawnSync(process.execPath, [path.join(repoRoot, 'bin', entry), ...args], { encoding: 'utf8', env: environment, timeout: 120_000 });
    return { code: result.status, stdout: result.stdout, stderr: result.stderr };
  };
  const file = () => path.join(stateDir, 'runtime', 'abc', 'state.json');
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

  it('oci: one line naming the file; --debug and DEBUG=1 add the causes with their stacks', () => {
    const plain = run('oci.js', ['state', 'abc']);
    expect(plain).toMatchObject({ code: 1, stdout: '' });
    expect(plain.stderr).toMatch(new RegExp(`^oci: ${escape(file())} is not valid JSON \\(.+\\)\n$`));
    for (const debug of [run('oci.js', ['--debug', 'state', 'abc']), run('oci.js', ['state', 'abc'], { DEBUG: '1' })]) {
      expect(debug.code).toBe(1);
      expect(debug.stderr).toMatch(/^BadJsonFileError: .*state\.json is not valid JSON.*\n\s+at /);
      expect(debug.stderr).toMatch(/\ncaused by: SyntaxError: /);
      expect(debug.stderr.trimEnd().split('\n').at(-1)).toBe(plain.stderr.trimEnd());
    }
  }, 180_000);

  it('minidocker: ps skips the container with a one-line warning; a command that names it fails with 125', () => {
    mkdirSync(path.join(stateDir, 'minidocker', 'abc'), { recursive: true });
    const info = {
      id: 'abc', name: 'web', image: 'busybox', imageId: 'sha256:0', args: ['sh'], created: '2026-01-01T00:00:00.000Z', autoRemove: false,
      detached: true, logPath: null, layerDir: path.join(stateDir, 'containers', 'abc'), networkMode: 'none', claimedPorts: { hostNetns: null, ports: [] },
    };
    writeFileSync(path.join(stateDir, 'minidocker', 'abc', 'container.json'), JSON.stringify(info));
    const listed = run('minidocker.js', ['ps', '-a']);
    expect(listed.code).toBe(0);
    expect(listed.stdout.trim().split('\n')).toHaveLength(1); // the header alone
    expect(listed.stderr).toMatch(new RegExp(`^WARNING: skipping container web: ${escape(file())} is not valid JSON \\(.+\\)\n$`));
    const inspected = run('minidocker.js', ['inspect', 'web']);
    expect(inspected).toMatchObject({ code: 125, stdout: '' });
    expect(inspected.stderr).toMatch(new RegExp(`^minidocker: ${escape(file())} is not valid JSON \\(.+\\)\n$`));
  }, 180_000);
});
