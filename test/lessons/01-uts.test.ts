/**
 * Lesson 01 graded checks: the UTS namespace, from inside the container and from the host.
 * Expected values are random on every run, so only a working implementation passes.
 */
import { randomBytes } from 'node:crypto';
import { readlinkSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { afterEach, describe, expect } from 'vitest';
import { graded } from '../../src/course/grading.js';
import { CLONE_NEWUTS, RecordingSyscalls } from '../../src/sys/index.js';
import { makePlan } from '../../src/container/plan.js';
import { captureInContainer, startContainer, type Container } from '../../src/container/runtime.js';
import { bundleUnderTest, importLesson } from '../helpers/impl.js';
import { describeAsRoot } from '../helpers/root.js';
import '../helpers/syscalls.js';

const uts = await importLesson<typeof import('../../lessons/01-uts/uts.js')>('01-uts', 'uts.ts');
const randomName = () => `lab-${randomBytes(4).toString('hex')}`;

describe('lesson 01 · the code, on its own', () => {
  graded('uts.unshare', 'newUtsNamespace asks the kernel for a new UTS namespace and nothing else', () => {
    const sys = new RecordingSyscalls();
    uts.newUtsNamespace(sys);
    expect(sys.calls).toMakeSyscalls([{ call: 'unshare', args: [CLONE_NEWUTS] }]);
  }, { requires: ['CLONE_NEWUTS'] });

  graded('uts.hostname', 'setUpUts sets the host name, and the domain name only when one is given', () => {
    const name = randomName();
    const withDomain = new RecordingSyscalls();
    uts.setUpUts(withDomain, { hostname: name, domainname: `${name}.domain` });
    expect(withDomain.argsOf('sethostname')).toEqual([[name]]);
    expect(withDomain.argsOf('setdomainname')).toEqual([[`${name}.domain`]]);
    const without = new RecordingSyscalls();
    uts.setUpUts(without, { hostname: name });
    expect(without.argsOf('sethostname')).toEqual([[name]]);
    expect(without.argsOf('setdomainname')).toEqual([]);
  }, { requires: ['host name', 'NIS domain name'] });

  graded('uts.default-hostname', "defaultHostname is Docker's short ID: the ID's first 12 hex digits", () => {
    const id = randomBytes(32).toString('hex');
    expect(uts.defaultHostname(id)).toBe(id.slice(0, 12));
  }, { requires: ['first 12 characters'] });

  graded('uts.inode', 'parseNamespaceLink reads the inode out of "uts:[N]" and rejects anything else', () => {
    const inode = 4026531000 + Math.floor(Math.random() * 1000);
    expect(uts.parseNamespaceLink(`uts:[${inode}]`)).toBe(inode);
    expect(uts.parseNamespaceLink(`net:[${inode}]`)).toBe(inode);
    expect(() => uts.parseNamespaceLink('uts:4026531838')).toThrow();
    expect(() => uts.parseNamespaceLink('')).toThrow();
  }, { requires: ['uts:[4026531838]', 'throw'] });

  graded('uts.inode', 'namespaceInode(self) is the inode of /proc/self/ns/uts', () => {
    expect(uts.namespaceInode('self', 'uts')).toBe(statSync('/proc/self/ns/uts').ino);
  });
});

describeAsRoot('lesson 01 · a real container', () => {
  const running: Container[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((container) => container.destroy()));
  });

  async function start(names?: { hostname: string; domainname?: string }) {
    const plan = makePlan({
      id: randomBytes(32).toString('hex'),
      namespaces: ['uts'],
      steps: names ? [{ step: 'hostname', config: names }] : [],
      process: { args: ['sleep', '60'] },
    });
    const container = await startContainer(plan, { stdio: 'ignore', bundle: bundleUnderTest() });
    running.push(container);
    return container;
  }
  const inside = async (container: Container, args: string[]) =>
    (await captureInContainer(container.pid, args, bundleUnderTest())).stdout.trim();

  graded('uts.unshare', 'the container is in another UTS namespace than the host (seen from the host)', async () => {
    const container = await start();
    expect(readlinkSync(`/proc/${container.pid}/ns/uts`)).not.toBe(readlinkSync('/proc/self/ns/uts'));
  });

  graded('uts.unshare', 'a new UTS namespace starts as a copy: same host name as the host', async () => {
    const container = await start();
    expect(await inside(container, ['hostname'])).toBe(hostname());
  });

  graded('uts.hostname', 'inside, `hostname` prints the chosen name; the host keeps its own', async () => {
    const before = hostname();
    const name = randomName();
    const container = await start({ hostname: name, domainname: `${name}.lab` });
    expect(await inside(container, ['hostname'])).toBe(name);
    expect(await inside(container, ['cat', '/proc/sys/kernel/domainname'])).toBe(`${name}.lab`);
    expect(hostname()).toBe(before);
  });

  graded('uts.inode', 'the inode the container reports from inside is the one the host sees for its PID', async () => {
    const container = await start({ hostname: randomName() });
    const fromInside = uts.parseNamespaceLink(await inside(container, ['readlink', '/proc/self/ns/uts']));
    expect(fromInside).toBe(uts.namespaceInode(container.pid, 'uts'));
    expect(fromInside).not.toBe(uts.namespaceInode('self', 'uts'));
  });
});
