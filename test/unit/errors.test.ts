/**
 * Errors with a cause chain (src/sys/errors.ts): one line by default — each layer's words joined with
 * ": " — and every cause with its stack under --debug or DEBUG=1; Docker's exit codes travel on the
 * innermost error. How minidocker and oci print them: test/final/errors.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { errorChain, exitCodeInChain, formatErrorDebug, formatErrorLine, SyscallError, takeDebugFlag } from '../../src/sys/errors.js';
import { FeatureRegistry, defineFeature } from '../../src/container/features.js';
import { RecordingSyscalls } from '../../src/sys/recording.js';
import type { Syscalls } from '../../src/sys/syscalls.js';
import { ContainerError } from '../../src/container/runtime.js';
import { resolveImage } from '../../src/final/docker.js';
import { openImageStore, tagImage, writeBlob } from '../../lessons/05-overlay/store.js';

describe('formatErrorLine', () => {
  it('joins what each layer was doing, outermost first', () => {
    const syscall = new SyscallError('mount', ['proc', '/r/proc', 'proc', 0], 2, 'No such file or directory');
    const mount = new Error('mount /proc', { cause: syscall });
    const create = new Error('create container abc', { cause: mount });
    expect(errorChain(create)).toEqual([create, mount, syscall]);
    expect(formatErrorLine(create)).toBe('create container abc: mount /proc: mount("proc", "/r/proc", "proc", 0): ENOENT — No such file or directory');
  });

  it('does not repeat a cause its wrapper already quotes, and keeps each message\'s first line', () => {
    const inner = new Error('ENOENT: no such file');
    const quoting = new Error(`reading x: ${inner.message}`, { cause: inner });
    expect(formatErrorLine(new Error('outer', { cause: quoting }))).toBe('outer: reading x: ENOENT: no such file');
    expect(formatErrorLine(new Error('first line\n  more detail'))).toBe('first line');
    expect(formatErrorLine('a string')).toBe('a string');
  });

  it('survives a cause that is not an Error, and a loop', () => {
    expect(formatErrorLine(new Error('outer', { cause: 'plain words' }))).toBe('outer: plain words');
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    expect(formatErrorLine(b)).toBe('b: a');
  });

  it('keeps a setup step\'s whole chain: which step of which lesson, which mount, which call', () => {
    const feature = defineFeature({
      name: 'lesson 03 (mount)',
      steps: {
        rootfs: (sys: Syscalls, _config: Record<string, never>) => {
          try {
            sys.mount('proc', '/r/proc', 'proc', 0);
          } catch (error) {
            throw new Error('mount /proc', { cause: error });
          }
        },
      },
    });
    const sys = new RecordingSyscalls().failOn('mount', 'ENOENT');
    let caught: unknown;
    try {
      new FeatureRegistry([feature]).runStep(sys, { step: 'rootfs', config: {} });
    } catch (error) {
      caught = error;
    }
    expect(formatErrorLine(caught)).toBe('step "rootfs" (lesson 03 (mount)): mount /proc: mount("proc", "/r/proc", "proc", 0, NULL): ENOENT — injected by RecordingSyscalls');
  });
});

describe('formatErrorDebug, exitCodeInChain, takeDebugFlag', () => {
  it('shows every layer with its stack', () => {
    const text = formatErrorDebug(new Error('outer', { cause: new TypeError('inner') }));
    expect(text).toMatch(/^Error: outer\n\s+at /);
    expect(text).toMatch(/\ncaused by: TypeError: inner\n\s+at /);
  });

  it('finds Docker\'s exit code on a cause', () => {
    expect(exitCodeInChain(new Error('create container abc', { cause: new ContainerError('exec: "x": not found', 127) }))).toBe(127);
    expect(exitCodeInChain(new Error('plain'))).toBeUndefined();
  });

  it('takes --debug only before the command, or from DEBUG', () => {
    const saved = process.env.DEBUG;
    delete process.env.DEBUG;
    try {
      expect(takeDebugFlag(['--debug', 'run', 'busybox'])).toEqual({ argv: ['run', 'busybox'], debug: true });
      expect(takeDebugFlag(['--mine', '--debug', 'ps'])).toEqual({ argv: ['--mine', 'ps'], debug: true });
      expect(takeDebugFlag(['run', 'busybox', 'prog', '--debug'])).toEqual({ argv: ['run', 'busybox', 'prog', '--debug'], debug: false });
      process.env.DEBUG = '1';
      expect(takeDebugFlag(['ps'])).toEqual({ argv: ['ps'], debug: true });
    } finally {
      if (saved === undefined) delete process.env.DEBUG;
      else process.env.DEBUG = saved;
    }
  });
});

describe('an image that cannot be used', () => {
  let stateDir: string;
  beforeEach(() => (stateDir = mkdtempSync(path.join(tmpdir(), 'errors-image-'))));
  afterEach(() => rmSync(stateDir, { recursive: true, force: true }));

  it('is "Unable to find image" only when the store has no such name', async () => {
    const store = openImageStore(stateDir);
    await expect(resolveImage(store, 'nothing:1')).rejects.toThrow(/^Unable to find image 'nothing:1' locally$/);
    // A name whose manifest is not one: found, and damaged — the message says what is wrong with it.
    tagImage(store, writeBlob(store, 'not a manifest'), 'broken:1');
    const error = await resolveImage(store, 'broken:1').catch((caught: unknown) => caught);
    expect(formatErrorLine(error)).toMatch(/^image broken:1: manifest of broken:1/);
    expect(formatErrorLine(error)).not.toContain('Unable to find');
  });
});
