/**
 * The OCI runtime's records (src/final/oci/state.ts), without root: a record whose process is gone is
 * repaired to "stopped" with the code the shim wrote to exit.json, or 137 when nobody saw the end (the
 * shim died first, taking the command with it: SIGKILL); a broken state file says which and what is
 * wrong, and lesson 06's lease that is not one stays taken by nobody. The processes are ones this test
 * starts and ends itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { processIdentity } from '../../src/sys/process.js';
import { BadJsonFileError } from '../../src/sys/json.js';
import { containerDir, newRecord, readExit, readRecord, refresh, writeRecord, type ContainerRecord } from '../../src/final/oci/state.js';
import { checkOperation, transition, TRANSITIONS } from '../../src/final/oci/status.js';
import { OciError } from '../../src/final/oci/spec.js';
import { AddressPool, parseSubnet } from '../../lessons/06-network/ipam.js';

/** A process of our own, and its identity while it ran. */
async function startSleeper(): Promise<{ child: ChildProcess; identity: string }> {
  const child = spawn('sleep', ['300'], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('spawn', resolve));
  const identity = processIdentity(child.pid!);
  if (!identity) throw new Error('the sleeper is not running');
  return { child, identity };
}

async function end(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const closed = new Promise((resolve) => child.once('close', resolve));
  child.kill('SIGKILL');
  await closed; // reaped: its identity is gone from /proc
}

let stateDir: string;
let alive: { child: ChildProcess; identity: string };
let dead: { child: ChildProcess; identity: string };
beforeAll(async () => {
  alive = await startSleeper();
  dead = await startSleeper();
  await end(dead.child);
});
afterAll(async () => end(alive.child));
beforeEach(() => (stateDir = mkdtempSync(path.join(tmpdir(), 'state-'))));
afterEach(() => rmSync(stateDir, { recursive: true, force: true }));

function record(fields: { pid: typeof alive; monitor: typeof alive; status?: ContainerRecord['status'] }): ContainerRecord {
  mkdirSync(containerDir('c1', stateDir), { recursive: true });
  const made = {
    ...newRecord({
      id: 'c1', pid: fields.pid.child.pid!, pidIdentity: fields.pid.identity, monitorPid: fields.monitor.child.pid!, monitorIdentity: fields.monitor.identity,
      bundle: '/nowhere', annotations: {}, created: '2026-01-01T00:00:00.000Z',
    }),
    status: fields.status ?? 'running',
  };
  writeRecord(made, stateDir);
  return made;
}

const writeExit = (exit: unknown) => writeFileSync(path.join(containerDir('c1', stateDir), 'exit.json'), JSON.stringify(exit));
const saved = () => JSON.parse(readFileSync(path.join(containerDir('c1', stateDir), 'state.json'), 'utf8')) as ContainerRecord;

describe('refresh', () => {
  it('leaves a record whose process runs as it is', () => {
    const running = record({ pid: alive, monitor: alive });
    expect(refresh(running, stateDir)).toEqual(running);
  });

  it('a gone process with exit.json: stopped, with the code and time the shim wrote, and saved', () => {
    const running = record({ pid: dead, monitor: dead });
    writeExit({ code: 3, signal: null, failed: false, at: '2026-01-01T00:01:00.000Z' });
    const repaired = refresh(running, stateDir);
    expect(repaired).toMatchObject({ status: 'stopped', exitCode: 3, finished: '2026-01-01T00:01:00.000Z' });
    expect(saved()).toEqual(repaired);
  });

  it('a command ended by a signal: 128 + its number, as Docker reports it', () => {
    const created = record({ pid: dead, monitor: dead, status: 'created' });
    writeExit({ code: null, signal: 'SIGTERM', failed: false, at: '2026-01-01T00:01:00.000Z' });
    expect(refresh(created, stateDir)).toMatchObject({ status: 'stopped', exitCode: 143 });
  });

  it('a gone process and a gone shim without exit.json: stopped with 137 (SIGKILL)', () => {
    const running = record({ pid: dead, monitor: dead });
    const repaired = refresh(running, stateDir);
    expect(repaired).toMatchObject({ status: 'stopped', exitCode: 137 });
    expect(Date.parse(repaired.finished!)).not.toBeNaN();
    expect(saved().status).toBe('stopped');
  });

  it('a gone process whose shim lives and has not written exit.json yet: still running', () => {
    const running = record({ pid: dead, monitor: alive });
    expect(refresh(running, stateDir)).toEqual(running);
    expect(saved().status).toBe('running');
  });

  it('conmon as the shim: its exit file (a number) is the code; while conmon lives without one, still running; conmon gone without one: unknown', () => {
    const exitFile = path.join(stateDir, 'conmon-exit');
    const conmonRecord = (monitor: typeof alive) => {
      const made = { ...record({ pid: dead, monitor }), conmonExitFile: exitFile };
      writeRecord(made, stateDir);
      return made;
    };
    expect(refresh(conmonRecord(alive), stateDir).status).toBe('running');
    expect(refresh(conmonRecord(dead), stateDir)).toMatchObject({ status: 'stopped', exitCode: null }); // conmon does not take the command along
    writeFileSync(exitFile, '143');
    expect(refresh(conmonRecord(alive), stateDir)).toMatchObject({ status: 'stopped', exitCode: 143 });
    writeFileSync(exitFile, 'three');
    expect(() => refresh(conmonRecord(dead), stateDir)).toThrow(BadJsonFileError);
  });

  it('a stopped record stays as it is', () => {
    const stopped = { ...record({ pid: dead, monitor: dead }), status: 'stopped' as const, exitCode: 0 };
    expect(refresh(stopped, stateDir)).toBe(stopped);
  });
});

describe('state files, checked when read', () => {
  it('reads back what was written, and null when there is none', () => {
    const written = record({ pid: alive, monitor: alive });
    expect(readRecord('c1', stateDir)).toEqual(written);
    expect(readRecord('other', stateDir)).toBeNull();
    expect(readExit('c1', stateDir)).toBeNull();
  });

  it('a broken state.json names the file and what is wrong, in one line', () => {
    record({ pid: alive, monitor: alive });
    const file = path.join(containerDir('c1', stateDir), 'state.json');
    const cases: [string, RegExp][] = [
      ['{"id": ', /state\.json is not valid JSON \(.+\)$/],
      ['[]', /state\.json: not an object$/],
      [JSON.stringify({ ...saved(), status: 'frozen' }), /state\.json: status "frozen" is not one of created, running, paused, stopped$/],
      [JSON.stringify({ ...saved(), pid: 'one' }), /state\.json: pid is missing or not a process ID$/],
      [JSON.stringify({ ...saved(), bundle: undefined }), /state\.json: bundle is missing or not a string$/],
    ];
    for (const [text, message] of cases) {
      writeFileSync(file, text);
      let caught: unknown;
      try {
        readRecord('c1', stateDir);
      } catch (error) {
        caught = error;
      }
      expect(caught, text).toBeInstanceOf(BadJsonFileError);
      expect((caught as Error).message).toContain(file);
      expect((caught as Error).message).toMatch(message);
      expect((caught as Error).message).not.toContain('\n');
    }
  });

  it('a broken exit.json too', () => {
    record({ pid: dead, monitor: dead });
    writeExit({ code: 'three', signal: null, at: 'now' });
    expect(() => readExit('c1', stateDir)).toThrow(/exit\.json: code is neither a number nor null$/);
    writeExit({ code: null, signal: 'SIGNOPE', at: 'now' });
    expect(() => readExit('c1', stateDir)).toThrow(/exit\.json: signal "SIGNOPE" is not a signal's name$/);
  });
});

describe('the lifecycle (oci/status.ts)', () => {
  it('allows created → running → stopped and created → stopped, running ⇄ paused, and nothing back', () => {
    expect(TRANSITIONS).toEqual({ created: ['running', 'stopped'], running: ['paused', 'stopped'], paused: ['running', 'stopped'], stopped: [] });
    expect(transition('created', 'running')).toBe('running');
    expect(transition('running', 'paused')).toBe('paused');
    expect(transition('paused', 'stopped')).toBe('stopped');
    expect(() => transition('created', 'paused')).toThrow(new OciError('a created container cannot become paused'));
    expect(() => transition('stopped', 'running')).toThrow(new OciError('a stopped container cannot become running'));
    expect(() => transition('running', 'created')).toThrow(OciError);
  });

  it('refuses each operation outside its statuses, in the words of runc and Docker', () => {
    const refusal = (...args: Parameters<typeof checkOperation>) => {
      try {
        checkOperation(...args);
        return null;
      } catch (error) {
        expect(error).toBeInstanceOf(OciError);
        return (error as Error).message;
      }
    };
    expect(refusal('start', 'c1', 'created')).toBeNull();
    expect(refusal('start', 'c1', 'running')).toBe('cannot start a container that is running');
    expect(refusal('start', 'c1', 'stopped')).toBe('cannot start a container that is stopped');
    expect(refusal('kill', 'c1', 'created')).toBeNull();
    expect(refusal('kill', 'c1', 'stopped')).toBe('container "c1" is not running');
    expect(refusal('delete', 'c1', 'stopped')).toBeNull();
    expect(refusal('delete', 'c1', 'created')).toBe('cannot delete container "c1" that is not stopped: created');
    for (const status of ['created', 'running', 'stopped'] as const) expect(refusal('delete --force', 'c1', status)).toBeNull();
    expect(refusal('exec', 'c1', 'running')).toBeNull();
    expect(refusal('exec', 'c1', 'stopped')).toBe('container c1 is not running');
    expect(refusal('exec', 'c1', null)).toBe('container c1 is not running');
    expect(refusal('rm', 'c1', 'running')).toBe('You cannot remove a running container c1. Stop the container before attempting removal or force remove');
    expect(refusal('join network', 'web', 'created')).toBe('cannot join network of a non running container: web: start it first');
    expect(refusal('pause', 'c1', 'running')).toBeNull();
    expect(refusal('pause', 'c1', 'created')).toBe('container "c1" is created: only a running container can be paused');
    expect(refusal('resume', 'c1', 'running')).toBe('container "c1" is running, not paused');
    expect(refusal('exec', 'c1', 'paused')).toBe('Container c1 is paused, unpause the container before exec');
    expect(refusal('oci exec', 'c1', 'created')).toBeNull();
    expect(refusal('oci exec', 'c1', 'paused')).toBe('cannot exec in a paused container');
    expect(refusal('update', 'c1', 'paused')).toBeNull();
    expect(refusal('update', 'c1', 'stopped')).toBe('container "c1" is stopped: there is nothing left to update');
  });
});

describe('lesson 06\'s lease files, checked when read', () => {
  it('a lease that is not one stays taken, owned by nobody alive, and is reclaimed as stale', () => {
    const pool = new AddressPool(stateDir, parseSubnet('10.99.0.0/29'), ['10.99.0.1']);
    const mine = pool.allocate({ containerId: 'live', pid: process.pid });
    expect(mine.address).toBe('10.99.0.2');
    // A lease with a pid that is not a number (another version, a hand edit): JSON, but not a lease.
    writeFileSync(path.join(pool.leaseDir, '10.99.0.3'), JSON.stringify({ containerId: 'odd', pid: 'x', startTime: null }));
    expect(pool.leases().find((lease) => lease.address === '10.99.0.3')).toEqual({ address: '10.99.0.3', containerId: '', pid: 0, startTime: null });
    expect(pool.reclaimStale().map((lease) => lease.address)).toEqual(['10.99.0.3']);
    expect(pool.leases().map((lease) => lease.containerId)).toEqual(['live']);
  });
});
