/**
 * Lesson 08 graded checks: user namespaces. The code on its own (the maps' text, host IDs, /etc/subuid),
 * then real user namespaces, mapped by the code under test and asked from inside (nsenter: `id`) and
 * from outside (/proc/PID/uid_map, the Uid line of /proc/PID/status).
 *
 * Every namespace here is held by a process the test started and ends; the host IDs mapped are random
 * ranges above 100000 that no file of the machine is touched with. The unprivileged writer is nobody,
 * through setpriv: no user is added to the machine, and /etc/subuid is never written.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { graded } from '../../src/course/grading.js';
import { lessonFile } from '../../src/course/impl.js';
import type { OciIdMapping } from '../../src/container/config.js';
import { importLesson } from '../helpers/impl.js';
import { eventually, isRunning } from '../helpers/processes.js';
import { describeAsRoot } from '../helpers/root.js';

const userns = await importLesson<typeof import('../../lessons/08-userns/userns.js')>('08-userns', 'userns.ts');
const subid = await importLesson<typeof import('../../lessons/08-userns/subid.js')>('08-userns', 'subid.ts');
const containers = await importLesson<typeof import('../../lessons/08-userns/container.js')>('08-userns', 'container.ts');
const idmap = await importLesson<typeof import('../../lessons/08-userns/idmap.js')>('08-userns', 'idmap.ts');

/** A random range of host IDs, 65536 wide, somewhere from 100000 up: no machine's user owns files there. */
const randomBase = () => 100000 + 65536 * randomInt(1, 2000);

/** Two random mappings that do not overlap, inside or outside. */
function randomMappings(): OciIdMapping[] {
  const size = randomInt(10, 5000);
  const base = randomBase();
  return [
    { containerID: 0, hostID: base, size },
    { containerID: size + randomInt(0, 100), hostID: base + 10000, size: randomInt(1, 5000) },
  ];
}

describe('lesson 08 · the code, on its own', () => {
  graded('userns.format', 'formatIdMap writes one "containerID hostID size" line per mapping, each ending with a newline', () => {
    const mappings = randomMappings();
    expect(userns.formatIdMap(mappings)).toBe(mappings.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join(''));
    expect(userns.formatIdMap([{ containerID: 0, hostID: 1000, size: 1 }])).toBe('0 1000 1\n');
    expect(userns.formatIdMap([])).toBe('');
  }, { requires: ['containerID hostID size', 'newline'] });

  graded('userns.host-id', 'hostIdOf shifts an ID by its mapping, and says undefined for an ID no mapping holds', () => {
    const mappings = randomMappings();
    const [first, second] = mappings as [OciIdMapping, OciIdMapping];
    expect(userns.hostIdOf(mappings, 0)).toBe(first.hostID);
    expect(userns.hostIdOf(mappings, first.size - 1)).toBe(first.hostID + first.size - 1);
    expect(userns.hostIdOf(mappings, second.containerID)).toBe(second.hostID);
    expect(userns.hostIdOf(mappings, second.containerID + second.size - 1)).toBe(second.hostID + second.size - 1);
    expect(userns.hostIdOf(mappings, second.containerID + second.size)).toBeUndefined();
    if (second.containerID > first.size) expect(userns.hostIdOf(mappings, first.size)).toBeUndefined();
    expect(userns.hostIdOf([{ containerID: 0, hostID: 100000, size: 65536 }], 1000)).toBe(101000);
    expect(userns.hostIdOf([], 0)).toBeUndefined();
  }, { requires: ['undefined'] });

  graded('subid.parse', 'parseSubordinateIds reads "owner:start:count" lines and skips blank and malformed ones', () => {
    const name = `u${randomBytes(3).toString('hex')}`;
    const [start, count, uid] = [randomBase(), randomInt(1, 70000), randomInt(1000, 60000)];
    const text = [
      `${name}:${start}:${count}`,
      '',
      `${uid}:${start + count}:65536`,
      'not a line',
      `${name}:${start}`,
      `${name}:x:65536`,
      `${name}:${start}:0`,
      `${name}:${start}:10:extra`,
      `:${start}:10`,
      `  ${name}:1:2  `,
    ].join('\n');
    expect(subid.parseSubordinateIds(text)).toEqual([
      { owner: name, start, count },
      { owner: String(uid), start: start + count, count: 65536 },
      { owner: name, start: 1, count: 2 },
    ]);
    expect(subid.parseSubordinateIds('')).toEqual([]);
  }, { requires: ['owner:start:count', 'a count of at least 1'] });

  graded('subid.ranges', "rangesFor keeps the user's ranges, by login name or by UID, in file order", () => {
    const user = { name: `u${randomBytes(3).toString('hex')}`, uid: randomInt(1000, 60000) };
    const base = randomBase();
    const ranges = [
      { owner: user.name, start: base, count: 65536 },
      { owner: 'someone-else', start: base + 65536, count: 65536 },
      { owner: String(user.uid), start: base + 131072, count: 100 },
      { owner: String(user.uid + 1), start: base + 200000, count: 100 },
      { owner: user.name, start: base + 300000, count: 5 },
    ];
    expect(subid.rangesFor(ranges, user)).toEqual([ranges[0], ranges[2], ranges[4]]);
    expect(subid.rangesFor(ranges, { name: 'nobody-here', uid: 1 })).toEqual([]);
  }, { requires: ['login name or the UID'] });
});

describeAsRoot('lesson 08 · real user namespaces', () => {
  const holders: { end(): void }[] = [];
  const children: ChildProcess[] = [];
  const folders: string[] = [];
  const fds: number[] = [];
  afterEach(async () => {
    for (const fd of fds.splice(0)) closeSync(fd);
    await Promise.all(children.splice(0).map((child) => containers.endChild(child)));
    for (const holder of holders.splice(0)) holder.end();
    for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
  });

  async function hold() {
    const holder = await userns.holdUserNamespace(false);
    holders.push(holder);
    return holder;
  }
  /** A command joined to the holder's user namespace as its root (nsenter sets uid and gid 0), run to its end. */
  const asRootInside = (pid: number, args: string[]) => containers.runProgram(['nsenter', `--user=/proc/${pid}/ns/user`, '--', ...args]);
  /** A process that stays: `sleep` as uid (and gid) `id` of the holder's user namespace, for the host to look at. */
  async function sleeperInside(pid: number, id: number): Promise<number> {
    const child = spawn('nsenter', [`--user=/proc/${pid}/ns/user`, '--', 'setpriv', `--reuid=${id}`, `--regid=${id}`, '--clear-groups', '--', 'sleep', '60'], { stdio: 'ignore' });
    children.push(child);
    await containers.untilRunning(child, 'sleep');
    return child.pid!;
  }
  const mapsOf = (pid: number) => ({ uid: readFileSync(`/proc/${pid}/uid_map`, 'utf8'), gid: readFileSync(`/proc/${pid}/gid_map`, 'utf8') });
  const squeeze = (text: string) => text.trim().split('\n').map((line) => line.trim().split(/\s+/).join(' ')).join('\n');

  graded('userns.format', "the kernel takes formatIdMap's text as it is: the map reads back the same", async () => {
    const { pid } = await hold();
    const mappings = randomMappings();
    writeFileSync(`/proc/${pid}/uid_map`, userns.formatIdMap(mappings));
    expect(squeeze(mapsOf(pid).uid)).toBe(mappings.map((m) => `${m.containerID} ${m.hostID} ${m.size}`).join('\n'));
  });

  graded('userns.host-id', 'hostIdOf agrees with the kernel: uid N inside runs as hostIdOf(map, N) on the host', async () => {
    const { pid } = await hold();
    const mappings = randomMappings();
    writeFileSync(`/proc/${pid}/uid_map`, mappings.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join(''));
    writeFileSync(`/proc/${pid}/gid_map`, mappings.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join(''));
    const second = mappings[1]!;
    const id = second.containerID + randomInt(0, second.size);
    const sleeper = await sleeperInside(pid, id);
    expect(userns.statusIds(sleeper).uid).toBe(userns.hostIdOf(mappings, id));
  });

  graded('userns.write-maps', 'root maps ranges: inside, the process is root; on the host, the mapped IDs', async () => {
    const { pid } = await hold();
    const [uidBase, gidBase] = [randomBase(), randomBase()];
    userns.writeIdMaps(pid, [{ containerID: 0, hostID: uidBase, size: 65536 }], [{ containerID: 0, hostID: gidBase, size: 65536 }]);
    expect(squeeze(mapsOf(pid).uid)).toBe(`0 ${uidBase} 65536`);
    expect(squeeze(mapsOf(pid).gid)).toBe(`0 ${gidBase} 65536`);
    // Root over the parent namespace keeps setgroups allowed: the container's root may call setgroups(2).
    expect(readFileSync(`/proc/${pid}/setgroups`, 'utf8').trim()).toBe('allow');
    const inside = await asRootInside(pid, ['sh', '-c', 'id -u; id -g']);
    expect(inside.stdout.trim().split('\n')).toEqual(['0', '0']);
    const sleeper = await sleeperInside(pid, 1000);
    expect(userns.statusIds(sleeper)).toEqual({ uid: uidBase + 1000, gid: gidBase + 1000 });
  }, { requires: ['uid_map', 'gid_map'] });

  graded('userns.write-maps', 'a map of several lines is taken whole: each file is written in one write', async () => {
    const { pid } = await hold();
    const mappings = randomMappings();
    userns.writeIdMaps(pid, mappings, mappings);
    const expected = mappings.map((m) => `${m.containerID} ${m.hostID} ${m.size}`).join('\n');
    expect(squeeze(mapsOf(pid).uid)).toBe(expected);
    expect(squeeze(mapsOf(pid).gid)).toBe(expected);
  }, { requires: ['one write'] });

  graded('userns.write-maps', 'an unprivileged writer (nobody) maps its own ID: "deny" goes to setgroups before gid_map', async () => {
    // Node as a descriptor we opened (/proc/self/fd/3 for nobody): a node in a folder nobody may search
    // (nvm's, in a home folder) runs all the same, as the lab's own init does (src/container/namespaces.ts).
    if (!(statSync(process.execPath).mode & 0o001)) throw new Error(`nobody may not execute ${process.execPath} (mode ${(statSync(process.execPath).mode & 0o777).toString(8)}): this check needs a node that every user may run`);
    const nodeFd = openSync(process.execPath, 'r');
    fds.push(nodeFd);
    // The module under test, bundled into one file nobody may read (the repository may be private to root).
    const dir = mkdtempSync(path.join(tmpdir(), 'lab08-nobody-'));
    folders.push(dir);
    chmodSync(dir, 0o755);
    const bundle = path.join(dir, 'userns.mjs');
    const { build } = await import('esbuild');
    await build({ entryPoints: [lessonFile('08-userns', 'userns.ts')], bundle: true, platform: 'node', format: 'esm', outfile: bundle, logLevel: 'silent' });
    chmodSync(bundle, 0o644);
    const script = `
      import { readFileSync } from 'node:fs';
      const { holdUserNamespace, writeIdMaps } = await import(process.env.LAB_USERNS_MODULE);
      const holder = await holdUserNamespace(false);
      const read = (name) => readFileSync('/proc/' + holder.pid + '/' + name, 'utf8');
      try {
        const own = [{ containerID: 0, hostID: process.getuid(), size: 1 }];
        writeIdMaps(holder.pid, own, [{ containerID: 0, hostID: process.getgid(), size: 1 }]);
        console.log(JSON.stringify({ uid: read('uid_map'), gid: read('gid_map'), setgroups: read('setgroups') }));
      } catch (error) {
        console.log(JSON.stringify({ error: error.message }));
      } finally {
        holder.end();
      }`;
    const result = await containers.runProgram([...containers.asNobody(['/proc/self/fd/3', '--input-type=module', '-e', script])], { fds: [nodeFd], env: { ...process.env, LAB_USERNS_MODULE: bundle } });
    const report = JSON.parse(result.stdout.trim().split('\n').at(-1) || `{"error": ${JSON.stringify(result.stderr.trim() || 'no output')}}`) as { error?: string; uid: string; gid: string; setgroups: string };
    expect(report.error).toBeUndefined();
    expect(squeeze(report.uid)).toBe('0 65534 1');
    expect(squeeze(report.gid)).toBe('0 65534 1');
    expect(report.setgroups.trim()).toBe('deny');
  }, { timeout: 60_000, requires: ['setgroups', 'deny', 'CAP_SETGID'] });

  graded('subid.ranges', "a namespace mapped with a user's ranges: its uid 1 is the first range's start on the host", async () => {
    const user = { name: `u${randomBytes(3).toString('hex')}`, uid: randomInt(1000, 60000) };
    const base = randomBase();
    const ranges = [
      { owner: 'other', start: base - 65536, count: 65536 },
      { owner: user.name, start: base, count: 65536 },
      { owner: String(user.uid), start: base + 65536, count: 100 },
    ];
    const mappings = subid.rootlessMappings(user.uid, subid.rangesFor(ranges, user));
    const { pid } = await hold();
    writeFileSync(`/proc/${pid}/uid_map`, mappings.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join(''));
    writeFileSync(`/proc/${pid}/gid_map`, `0 ${base} 1\n`);
    expect(squeeze(mapsOf(pid).uid)).toBe(`0 ${user.uid} 1\n1 ${base} 65536\n65537 ${base + 65536} 100`);
    const sleeper = await sleeperInside(pid, 0);
    expect(userns.statusIds(sleeper).uid).toBe(user.uid);
  });

  it('startUsernsContainer: root inside with every capability of its namespace; end() leaves no process behind', async () => {
    const container = await containers.startUsernsContainer();
    try {
      const inside = await container.sh('id -u; grep CapEff /proc/self/status');
      expect(inside.stdout).toMatch(/^0\nCapEff:\s*[0-9a-f]+/);
      expect(userns.statusIds(container.pid).uid).toBe(100000);
      expect(readlinkSync(`/proc/${container.pid}/ns/uts`)).not.toBe(readlinkSync('/proc/self/ns/uts'));
    } finally {
      await container.end();
    }
    await eventually(() => !isRunning(container.pid) && !isRunning(container.holder.pid), 5000, 'the container and its holder gone');
  });

  it("an idmapped bind shows the host's root as the container's root, in the container's mount namespace only", async () => {
    const container = await containers.startUsernsContainer();
    const dir = mkdtempSync(path.join(tmpdir(), 'lab08-idmap-'));
    folders.push(dir);
    try {
      chmodSync(dir, 0o755);
      const [image, view] = [path.join(dir, 'image'), path.join(dir, 'view')];
      mkdirSync(image);
      mkdirSync(view);
      writeFileSync(path.join(image, 'file'), 'x');
      await idmap.bindIdmappedInto(container.pid, `/proc/${container.holder.pid}/ns/user`, image, view);
      expect((await container.sh(`stat -c %u ${image}/file ${view}/file`)).stdout.trim().split('\n')).toEqual(['65534', '0']);
      expect(statSync(`/proc/${container.pid}/root${view}/file`).uid).toBe(100000);
      // Not in ours: the view is still the empty folder here, and nothing of ours is mounted on it.
      expect(existsSync(path.join(view, 'file'))).toBe(false);
      expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(view);
    } finally {
      await container.end();
    }
  });
});

/** Can every user run `file`: each folder on the way searchable, the file itself executable by others? */
