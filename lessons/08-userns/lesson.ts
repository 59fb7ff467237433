/**
 * Lesson 08 as the TUI shows it: a user namespace made, mapped and used, step by step — the host's
 * view on the left (the IDs as the kernel keeps them), the container's on the right (the same IDs
 * through the mapping). Run it with `npm run lesson 8` (add `-- --plain` for plain text).
 *
 * Every attempt in this lesson is harmless even where the protection it shows were missing: it opens a
 * file of its own for reading, calls adjtimex and init_module with arguments the kernel rejects right
 * after the capability check (nothing changes either way), renames only namespaces it made (or the
 * host's with a name too long to be taken), and mounts only in mount namespaces it made, on folders it
 * made and removes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import type { LessonContext, LessonFactory, LessonStep, PaneRow } from '../../src/course/lesson.js';
import type { OciIdMapping } from '../../src/container/config.js';
import { HOST_RANGE, NOBODY, asNobody, endChild, program, runProgram, startUsernsContainer, untilRunning, untilUnshared, type Outcome, type UsernsContainer } from './container.js';
import { bindIdmappedInto, explainIdmapFailure, ownerOfNamespace } from './idmap.js';
import { labStateDir } from '../../src/container/state.js';
import { newContainerId } from '../../src/container/id.js';
import { defaultHostname } from '../01-uts/uts.js';
import { LAB_NAMESPACES, labConfig, startLabContainer } from '../03-mount/folders.js';
import { defaultImage, prepareOverlayContainerDir, withOverlay, type OverlayContainer } from '../05-overlay/containers.js';
import { openImageStore } from '../05-overlay/store.js';
import { mapHelpers, parseSubordinateIds, rangesFor, readSubordinateIds, rootlessMappings } from './subid.js';
import { OVERFLOW_ID_FILE, formatIdMap, hostIdOf, holdUserNamespace, statusIds, type NamespaceHolder } from './userns.js';

const lesson: LessonFactory = (context) => ({
  number: 8,
  slug: '08-userns',
  title: 'User namespace — root inside, nobody outside',
  async start() {
    const lab = new UsernsLab(context);
    return {
      steps: steps.map((makeStep) => makeStep(lab)),
      snapshot: async () => ({ host: await lab.view.host(), container: await lab.view.container() }),
      shell: () => lab.shell(),
      close: () => lab.close(),
    };
  },
});

export default lesson;

// ---------------------------------------------------------------------------------------------------
// The steps

type StepOf = (lab: UsernsLab) => LessonStep;
const steps: StepOf[] = [
  nobodyUntilMapped, theMapFromOutside, oneLineWithoutRoot, rangesFromSubuid, capabilitiesOverItsOwn,
  noneOverTheHost, filesThroughTheMapping, anIdmappedMount, overlayInside, whatAUserMayCreate, theLabsRuntime,
];

function nobodyUntilMapped(lab: UsernsLab): LessonStep {
  return {
    title: 'unshare(CLONE_NEWUSER): nobody until mapped',
    narration:
      '`unshare --user cat` made a user namespace and waits in it. Nothing is mapped yet: inside, every ID is the ' +
      'overflow ID 65534 (nobody), uid_map is empty, and a program executed there has no capability at all. The ' +
      'host still sees the same process as root (its Uid line): both are true, each in its own namespace.',
    run: async () => {
      await lab.reset();
      const holder = lab.keep(await holdUserNamespace(false));
      // --preserve-credentials: join without becoming uid 0, which is impossible while 0 is not mapped.
      const inside = (script: string) => runProgram([program('nsenter'), '--preserve-credentials', `--user=/proc/${holder.pid}/ns/user`, '--', 'sh', '-c', script]);
      lab.view = {
        host: async () => [
          ...hostIdentity(),
          { label: 'overflow ID', value: readFileSync(OVERFLOW_ID_FILE, 'utf8').trim(), source: `cat ${OVERFLOW_ID_FILE}` },
          { label: `the holder (PID ${holder.pid}), seen from here`, value: `uid ${statusIds(holder.pid).uid}, ${readlinkSync(`/proc/${holder.pid}/ns/user`)}`, source: `grep Uid /proc/${holder.pid}/status` },
        ],
        container: () => identityInside(inside),
      };
    },
  };
}

function theMapFromOutside(lab: UsernsLab): LessonStep {
  return {
    title: 'uid_map and gid_map: written once, from outside',
    narration:
      'The runtime (root, outside) writes "0 100000 65536" to the holder\'s uid_map and gid_map: the container\'s ' +
      '0–65535 are the host\'s 100000–165535. Then nsenter joins as uid 0 and keeps every capability. The host sees ' +
      'that root as 100000. A second write fails: a map is written once, in one write(2).',
    run: async () => {
      await lab.reset();
      const container = await lab.start(HOST_RANGE);
      const again = attempt(() => writeFileSync(`/proc/${container.holder.pid}/uid_map`, formatIdMap(HOST_RANGE)));
      lab.view = {
        host: async () => [
          ...hostIdentity(),
          { label: "the container's root, seen from here", value: `uid ${statusIds(container.pid).uid} (hostIdOf(map, 0) = ${hostIdOf(HOST_RANGE, 0)})`, source: `grep Uid /proc/${container.pid}/status` },
          { label: 'uid 1000 inside is, on the host', value: String(hostIdOf(HOST_RANGE, 1000)), source: 'hostIdOf(map, 1000)' },
          { label: 'its setgroups', value: readText(`/proc/${container.pid}/setgroups`), source: `cat /proc/${container.pid}/setgroups` },
          { label: 'write uid_map a second time', value: again, source: `echo "0 100000 65536" > /proc/${container.holder.pid}/uid_map` },
        ],
        container: () => identityInside(container.sh),
      };
    },
  };
}

function oneLineWithoutRoot(lab: UsernsLab): LessonStep {
  return {
    title: 'Without root: one line, your own ID',
    narration:
      'Now nobody (65534) makes the namespace and writes its maps, as any user can. A range is refused: more than ' +
      'one ID needs CAP_SETUID over the parent namespace. Its own ID, one line, is taken. gid_map is refused until ' +
      'setgroups says "deny" — else the user could drop a group that locks it out of a file. `unshare -r` does all this.',
    run: async () => {
      await lab.reset();
      const holder = await lab.spawnHolder(asNobody([program('unshare'), '--user', '--', 'cat']));
      const file = (name: string) => `/proc/${holder.pid}/${name}`;
      const writes: [string, string][] = [['uid_map', '0 100000 65536'], ['uid_map', `0 ${NOBODY} 1`], ['gid_map', `0 ${NOBODY} 1`], ['setgroups', 'deny'], ['gid_map', `0 ${NOBODY} 1`]];
      const results: PaneRow[] = [];
      for (const [name, text] of writes) {
        const { status, stderr } = await runProgram(asNobody(['sh', '-c', 'printf %s "$1" | dd of="$2" status=none', 'sh', text, file(name)]));
        results.push({ label: `nobody writes "${text}" to ${name}`, value: status === 0 ? 'taken' : `refused: ${errnoOf(stderr)}`, source: `setpriv --reuid=${NOBODY} … dd of=${file(name)}` });
      }
      const enter = [program('nsenter'), `--user=${file('ns/user')}`, '--'];
      const inside = (script: string) => runProgram([...enter, 'sh', '-c', script]);
      // A process that stays, root inside, for the host to look at.
      const root = await lab.spawnChild([...enter, 'sleep', 'infinity']);
      await untilRunning(root, 'sleep');
      lab.view = {
        host: async () => [
          ...results,
          { label: 'its setgroups', value: readText(file('setgroups')), source: `cat ${file('setgroups')}` },
          { label: 'its root, seen from here', value: `uid ${statusIds(root.pid).uid}: the one ID nobody could map`, source: `grep Uid /proc/${root.pid}/status` },
        ],
        container: () => identityInside(inside),
      };
    },
  };
}

/** An /etc/subuid as an administrator might write it, for when the machine's own lends nothing. */
export const EXAMPLE_SUBUID = 'alice:100000:65536\nbob:165536:65536\n1001:231072:65536\n';
const ALICE = { name: 'alice', uid: 1001 };

function rangesFromSubuid(lab: UsernsLab): LessonStep {
  return {
    title: 'Ranges: /etc/subuid and newuidmap',
    narration:
      'A container needs 65536 IDs; a user may map one. So root lends each user ranges in /etc/subuid and /etc/subgid ' +
      '("owner:start:count"), and two setuid-root helpers, newuidmap and newgidmap, check a request against them and ' +
      'write the map with root\'s power. Here, alice\'s two ranges (her name and her uid) give the map on the left; root wrote it.',
    run: async () => {
      await lab.reset();
      const own = readSubordinateIds('/etc/subuid');
      const ranges = rangesFor(parseSubordinateIds(EXAMPLE_SUBUID), ALICE);
      const mappings = rootlessMappings(ALICE.uid, ranges);
      const container = await lab.start(mappings);
      const helpers = mapHelpers();
      const tried = helpers.newuidmap ? await newuidmapAsNobody(lab, helpers.newuidmap) : 'not tried: newuidmap is not installed';
      lab.view = {
        host: async () => [
          { label: '/etc/subuid here', value: own.length ? own.map(({ owner, start, count }) => `${owner}:${start}:${count}`).join('\n') : '(no ranges: nobody on this machine is lent any IDs)', source: 'cat /etc/subuid' },
          { label: 'newuidmap, newgidmap', value: helpers.note, source: 'command -v newuidmap newgidmap' },
          { label: 'newuidmap as nobody, for a range', value: tried, source: `setpriv --reuid=${NOBODY} … newuidmap PID 0 100000 65536` },
          { label: 'an example /etc/subuid', value: EXAMPLE_SUBUID.trim(), source: 'parseSubordinateIds' },
          { label: `ranges of alice (uid ${ALICE.uid})`, value: ranges.map(({ owner, start, count }) => `${owner}: ${start}–${start + count - 1}`).join('\n'), source: 'rangesFor' },
          { label: 'uid_map', value: showMap(formatIdMap(mappings)), source: `rootlessMappings → cat /proc/${container.pid}/uid_map` },
          { label: 'inside 0, 1, 65537 are', value: [0, 1, 65537].map((id) => hostIdOf(mappings, id)).join(', '), source: 'hostIdOf' },
        ],
        container: () => identityInside(container.sh),
      };
    },
  };
}

function capabilitiesOverItsOwn(lab: UsernsLab): LessonStep {
  const name = `lab-${randomBytes(2).toString('hex')}`;
  return {
    title: 'Capabilities belong to a user namespace',
    narration:
      'The container\'s root holds every capability — of its user namespace. The kernel asks for one over the namespace ' +
      'that owns the thing: its UTS and mount namespaces were made by it, so it renames and mounts there. The host\'s UTS ' +
      'namespace is owned by the host\'s user namespace: refused, EPERM (the 100-character name would fail anyway).',
    run: async () => {
      await lab.reset();
      const container = await lab.start(HOST_RANGE);
      const tooLong = 'x'.repeat(100);
      // Only the user namespace joined: the UTS namespace stays the host's. The name is too long to be taken.
      const hostsName = await runProgram([program('nsenter'), `--user=/proc/${container.holder.pid}/ns/user`, '--', program('busybox'), 'hostname', tooLong]);
      const ownName = await container.sh(`hostname ${name} && hostname`);
      const ownMount = await container.sh('mount -t tmpfs lab-08 /mnt && grep " /mnt " /proc/self/mounts');
      const hostTry = await runProgram([program('busybox'), 'hostname', tooLong]);
      lab.view = {
        host: async () => [
          { label: 'host name', value: hostname(), source: 'hostname' },
          { label: 'capabilities', value: capabilities(readText('/proc/self/status')), source: 'grep CapEff /proc/self/status' },
          { label: 'owner of the host\'s UTS namespace', value: ownerOfNamespace('/proc/self/ns/uts'), source: 'lsns -t uts -o NS,ONS -p 1' },
          { label: 'owner of the container\'s UTS namespace', value: ownerOfNamespace(`/proc/${container.pid}/ns/uts`), source: `lsns -t uts -o NS,ONS -p ${container.pid}` },
          { label: 'the container\'s user namespace', value: readlinkSync(`/proc/${container.pid}/ns/user`), source: `readlink /proc/${container.pid}/ns/user` },
          { label: 'rename the host\'s UTS namespace', value: judged(hostTry, 'EINVAL: past the capability check; the name is too long, so nothing changed'), source: `busybox hostname <100 characters>` },
        ],
        container: async () => [
          { label: 'host name', value: firstLine((await container.sh('hostname')).stdout), source: 'hostname' },
          { label: 'capabilities', value: capabilities((await container.sh('cat /proc/self/status')).stdout), source: 'grep CapEff /proc/self/status' },
          { label: 'rename its own UTS namespace', value: ownName.status === 0 ? `WORKS: ${firstLine(ownName.stdout)}` : `refused: ${errnoOf(ownName.stderr)}`, source: `hostname ${name}` },
          { label: 'mount a tmpfs in its own mount namespace', value: ownMount.status === 0 ? 'WORKS' : `refused: ${errnoOf(ownMount.stderr)}`, source: 'mount -t tmpfs lab-08 /mnt' },
          { label: 'rename the host\'s UTS namespace', value: judged(hostsName, ''), source: `nsenter --user=… busybox hostname <100 characters>` },
        ],
      };
    },
  };
}

function noneOverTheHost(lab: UsernsLab): LessonStep {
  return {
    title: '…and none over the host',
    narration:
      'The clock, the kernel\'s modules and the host\'s files belong to the initial user namespace. Root inside is 100000 ' +
      'there, without CAP_DAC_OVERRIDE, CAP_SYS_TIME or CAP_SYS_MODULE: a root-only file of the host does not open, ' +
      'adjtimex and init_module say EPERM. The host\'s root gets past each check, to an argument error: nothing changes.',
    run: async () => {
      await lab.reset();
      const container = await lab.start(HOST_RANGE);
      const dir = lab.scratch();
      const secret = path.join(dir, 'root-only');
      writeFileSync(secret, 'only the host\'s root may read this\n', { mode: 0o600 });
      // Not an ELF file: init_module refuses it (ENOEXEC) after the capability check, so nothing can load.
      const junk = path.join(dir, 'not-a-module.ko');
      writeFileSync(junk, 'junk');
      const tries = (run: (script: string) => Promise<Outcome>) => Promise.all([
        run(`(: < ${secret})`),
        run(`${program('busybox')} adjtimex -t 0 >/dev/null`),
        run(`${program('busybox')} insmod ${junk}`),
      ]);
      const [inside, onHost] = [await tries(container.sh), await tries((script) => runProgram(['sh', '-c', script]))];
      const rows = (results: Outcome[], host: boolean): PaneRow[] => [
        { label: 'open a root-only (0600) file', value: results[0]!.status === 0 ? 'WORKS (opened for reading, nothing read)' : `refused: ${errnoOf(results[0]!.stderr)}`, source: `: < ${secret}` },
        { label: 'set the clock', value: judged(results[1]!, host ? 'EINVAL: past the capability check; tick 0 is invalid, nothing changed' : ''), source: 'busybox adjtimex -t 0  (ADJ_TICK with an invalid tick)' },
        { label: 'load a kernel module', value: judged(results[2]!, host ? 'ENOEXEC: past the capability check; not a module, nothing loaded' : ''), source: `busybox insmod ${junk}  (4 bytes, not ELF)` },
      ];
      lab.view = {
        host: async () => [{ label: 'uid', value: String(process.getuid!()), source: 'id -u' }, ...rows(onHost, true)],
        container: async () => [{ label: 'uid', value: `${firstLine((await container.sh('id -u')).stdout)} (host: ${statusIds(container.pid).uid})`, source: 'id -u' }, ...rows(inside, false)],
      };
    },
  };
}

function filesThroughTheMapping(lab: UsernsLab): LessonStep {
  return {
    title: 'Files through the mapping',
    narration:
      'A folder both sides can write: the container\'s root creates a file and a folder in it. Inside they belong to 0; on ' +
      'disk, and so on the host, to 100000 — the kernel stores host IDs. The file the host\'s root made shows as 65534 ' +
      'inside: host 0 is not mapped. Press s for a shell, create files, and watch both panes.',
    run: async () => {
      await lab.reset();
      const container = await lab.start(HOST_RANGE);
      const shared = path.join(lab.scratch(), 'shared');
      mkdirSync(shared);
      chownSync(shared, hostIdOf(HOST_RANGE, 0)!, hostIdOf(HOST_RANGE, 0)!);
      writeFileSync(path.join(shared, 'made-on-the-host'), '');
      const made = await container.sh(`touch ${shared}/made-inside && mkdir ${shared}/folder-inside`);
      if (made.status !== 0) throw new Error(`the container's root could not write ${shared}: ${made.stderr.trim()}`);
      lab.view = {
        host: async () => [{ label: `ls -ln ${shared}`, value: listHere(shared), source: `ls -ln ${shared}` }],
        container: async () => [{ label: `ls -ln ${shared}`, value: await listInside(container, shared), source: `ls -ln ${shared}` }],
      };
    },
  };
}

function anIdmappedMount(lab: UsernsLab): LessonStep {
  return {
    title: 'An idmapped mount: the image as the container\'s own',
    narration:
      'An image\'s files belong to the host\'s root: 65534 inside, not writable. The runtime (root) binds the folder into ' +
      'the container\'s mount namespace through the mapping: open_tree, mount_setattr(MOUNT_ATTR_IDMAP), move_mount. ' +
      'Through it, host 0 reads as the container\'s 0; what it writes there is stored as 0. No file was copied or chowned.',
    run: async () => {
      await lab.reset();
      const container = await lab.start(HOST_RANGE);
      const { image, view } = makeImage(lab.scratch());
      const bound = await attemptAsync(() => bindIdmappedInto(container.pid, `/proc/${container.holder.pid}/ns/user`, image, view));
      const wrote = bound === 'done' ? await container.sh(`touch ${view}/written-inside`) : undefined;
      lab.view = {
        host: async () => [
          { label: 'the image on disk', value: listHere(image), source: `ls -ln ${image}` },
          { label: 'the idmapped view', value: bound === 'done' ? listHere(`/proc/${container.pid}/root${view}`) : bound, source: `ls -ln /proc/${container.pid}/root${view}  (the container's mount namespace)` },
        ],
        container: async () => [
          { label: 'the image on disk', value: await listInside(container, image), source: `ls -ln ${image}` },
          { label: 'the idmapped view', value: bound === 'done' ? await listInside(container, view) : bound, source: `ls -ln ${view}` },
          ...(wrote ? [{ label: 'write through it', value: wrote.status === 0 ? 'WORKS: written-inside' : `refused: ${errnoOf(wrote.stderr)}`, source: `touch ${view}/written-inside` }] : []),
        ],
      };
    },
  };
}

function overlayInside(lab: UsernsLab): LessonStep {
  return {
    title: 'overlay, mounted by the container\'s root',
    narration:
      'Since Linux 5.11 root in a user namespace may mount overlay itself. Lower: the idmapped image; upper and work: ' +
      'folders chowned to 100000. The container changes the image — a new file, an edited one — and only the upper ' +
      'layer changes, owned by 100000 on the host; the image on disk stays as it was. This is rootless podman\'s storage.',
    run: async () => {
      await lab.reset();
      const container = await lab.start(HOST_RANGE);
      const dir = lab.scratch();
      const { image, view } = makeImage(dir);
      const [upper, work, merged] = ['upper', 'work', 'merged'].map((name) => path.join(dir, name)) as [string, string, string];
      const root = hostIdOf(HOST_RANGE, 0)!;
      for (const folder of [upper, work, merged]) {
        mkdirSync(folder);
        chownSync(folder, root, root);
      }
      const bound = await attemptAsync(() => bindIdmappedInto(container.pid, `/proc/${container.holder.pid}/ns/user`, image, view));
      let mounted = bound;
      if (bound === 'done') {
        const result = await container.sh(`mount -t overlay overlay -o lowerdir=${view},upperdir=${upper},workdir=${work} ${merged} && echo edited > ${merged}/hostname && touch ${merged}/new-file`);
        mounted = result.status === 0 ? 'done' : `overlay refused: ${errnoOf(result.stderr)} (root in a user namespace may mount overlay since Linux 5.11)`;
      }
      lab.view = {
        host: async () => [
          { label: 'the image on disk', value: listHere(image), source: `ls -ln ${image}` },
          { label: 'the upper layer', value: mounted === 'done' ? listHere(upper) : mounted, source: `ls -ln ${upper}` },
        ],
        container: async () => [
          { label: 'the merged folder', value: mounted === 'done' ? await listInside(container, merged) : mounted, source: `ls -ln ${merged}` },
          { label: 'its hostname file', value: mounted === 'done' ? firstLine((await container.sh(`cat ${merged}/hostname`)).stdout) : '—', source: `cat ${merged}/hostname` },
        ],
      };
    },
  };
}

function whatAUserMayCreate(lab: UsernsLab): LessonStep {
  return {
    title: 'What an ordinary user may create',
    narration:
      'As nobody, `unshare --uts` is refused: a new UTS namespace needs CAP_SYS_ADMIN over the user namespace that will ' +
      'own it. With --user in the same call it works: the kernel creates the user namespace first, the caller is root ' +
      'there, and the others are owned by it. That is how rootless containers start — and why some distributions turn it off.',
    run: async () => {
      await lab.reset();
      const all = ['--uts', '--ipc', '--net', '--mount', '--pid', '--fork', '--cgroup'];
      const alone = await runProgram(asNobody([program('unshare'), '--uts', 'true']));
      const together = await runProgram(asNobody([program('unshare'), '--user', '--map-root-user', ...all, 'true']));
      const name = `lab-nobody-${randomBytes(2).toString('hex')}`;
      const inside = await runProgram(asNobody([program('unshare'), '--user', '--map-root-user', '--uts', '--net', '--', 'sh', '-c', `id -u; hostname ${name}; hostname; ip -br link | cut -d' ' -f1 | tr '\\n' ' '`]));
      const [uid = '?', shownName = '?', devices = ''] = inside.stdout.split('\n');
      lab.view = {
        host: async () => [
          { label: 'uid', value: String(NOBODY), source: `setpriv --reuid=${NOBODY} --regid=${NOBODY} --clear-groups` },
          { label: 'unshare --uts', value: alone.status === 0 ? 'WORKS' : `refused: ${errnoOf(alone.stderr)}`, source: 'unshare --uts true' },
          { label: `unshare --user --map-root-user ${all.join(' ')}`, value: together.status === 0 ? 'WORKS' : `refused: ${errnoOf(together.stderr)}${userNamespacesOff()}`, source: 'unshare(CLONE_NEWUSER|CLONE_NEWUTS|…): one call, the user namespace first' },
          { label: 'host name', value: hostname(), source: 'hostname' },
        ],
        container: async () => inside.status !== 0
          ? [{ label: 'error', value: `nobody could not make its namespaces: ${errnoOf(inside.stderr)}${userNamespacesOff()}` }]
          : [
            { label: 'uid', value: uid, source: 'id -u' },
            { label: 'host name', value: shownName, source: `hostname ${name}; hostname` },
            { label: 'network devices', value: devices.trim() || '(none)', source: 'ip -br link' },
          ],
      };
    },
  };
}

function theLabsRuntime(lab: UsernsLab): LessonStep {
  return {
    title: 'The lab\'s runtime does it from config.json',
    narration:
      'config.json asks for {"type": "user"} with uidMappings and gidMappings, and feature.ts (your writeIdMaps with ' +
      '--mine) maps a holder; init enters through nsenter, unshare --pid and setsid --fork, since Node cannot. The image\'s ' +
      'layers are lesson 05\'s, untouched: the host mounts the overlay over idmapped views of them. Its root owns the ' +
      'image inside; outside it is 100000, and what it writes lands in its layer as 100000. minidocker run --userns=auto does this.',
    run: async () => {
      await lab.reset();
      const container = await lab.startFromConfig(HOST_RANGE, ['sh', '-c', 'echo hello > /root/made-inside; exec sleep 3600']);
      const pid = container.container.pid;
      const inside = (script: string) => runProgram([program('nsenter'), `--target=${pid}`, '--user', '--mount', '--pid', '--', 'sh', '-c', script]);
      lab.view = {
        host: async () => [
          { label: 'uid', value: String(statusIds(pid).uid), source: `grep Uid /proc/${pid}/status` },
          { label: 'parent', value: parentOf(pid), source: `ps -o ppid=,args= -p ${pid}` },
          { label: 'its layer', value: listHere(path.join(container.dir.upper, 'root')), source: `ls -ln ${path.join(container.dir.upper, 'root')}` },
          { label: 'the image', value: listHere(container.dir.image.layers[0]!.dir).split('\n').slice(0, 3).join('\n'), source: `ls -ln ${container.dir.image.layers[0]!.dir}` },
        ],
        container: async () => {
          const { stdout, stderr, status } = await inside('id -u; echo @; ls -ln / | sed -n "2,4p" | awk \'{print $3":"$4" "$9}\'; echo @; ls -ln /root | awk \'NR>1{print $3":"$4" "$9}\'');
          if (status !== 0) return [{ label: 'error', value: stderr.trim() || `exit ${status}` }];
          const [uid = '?', image = '', made = ''] = stdout.split('@\n').map((part) => part.trim());
          return [
            { label: 'uid', value: uid, source: 'id -u' },
            { label: 'its layer', value: made || '(empty)', source: 'ls -ln /root' },
            { label: 'the image', value: image, source: 'ls -ln /' },
          ];
        },
      };
    },
  };
}

/** Who adopted init: setsid forked it into its PID namespace and left, so its parent is the monitor. */
function parentOf(pid: number): string {
  const parent = readText(`/proc/${pid}/stat`).split(') ')[1]?.split(' ')[1] ?? '?';
  const args = readText(`/proc/${parent}/cmdline`).split('\0').filter(Boolean).map((arg) => path.basename(arg)).join(' ');
  return `${parent} (${args}): it adopted init, which setsid forked and left`;
}

// ---------------------------------------------------------------------------------------------------
// What the panes show

/** What both panes read, live: set by each step. */
interface View {
  host(): Promise<PaneRow[]>;
  container(): Promise<PaneRow[]>;
}

const NOTHING_YET: View = {
  host: async () => hostIdentity(),
  container: async () => [{ label: 'container', value: '(none yet)' }],
};

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (error) {
    return `(${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`;
  }
}

/** A map's lines with their columns squeezed: "0 100000 65536". */
function showMap(text: string): string {
  return text.trim().split('\n').map((line) => line.trim().split(/\s+/).join(' ')).join('\n') || '(empty: nothing is mapped yet)';
}

const lastCapability = () => Number(readText('/proc/sys/kernel/cap_last_cap'));

/** "41 of 41 (CapEff 000001ffffffffff)", from a /proc/PID/status text. */
function capabilities(status: string): string {
  const mask = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  if (!mask) return '?';
  const held = [...BigInt(`0x${mask}`).toString(2)].filter((bit) => bit === '1').length;
  return `${held} of ${lastCapability() + 1} (CapEff ${mask})`;
}

/** The same four facts about this runtime: its IDs, its user namespace, its map, its capabilities. */
function hostIdentity(): PaneRow[] {
  return [
    { label: 'uid', value: String(process.getuid!()), source: 'id -u' },
    { label: 'gid', value: String(process.getgid!()), source: 'id -g' },
    { label: 'user namespace', value: readlinkSync('/proc/self/ns/user'), source: 'readlink /proc/self/ns/user' },
    { label: 'uid_map', value: showMap(readText('/proc/self/uid_map')), source: 'cat /proc/self/uid_map' },
    { label: 'capabilities', value: capabilities(readText('/proc/self/status')), source: 'grep CapEff /proc/self/status' },
  ];
}

const IDENTITY_SCRIPT = 'id -u; echo @; id -g; echo @; readlink /proc/self/ns/user; echo @; cat /proc/self/uid_map; echo @; cat /proc/self/status';

/** The same four facts, asked from inside with `sh -c`. */
async function identityInside(run: (script: string) => Promise<Outcome>): Promise<PaneRow[]> {
  const { status, stdout, stderr } = await run(IDENTITY_SCRIPT);
  if (status !== 0) return [{ label: 'error', value: `could not look inside: ${stderr.trim() || `exit ${status}`}` }];
  const [uid = '?', gid = '?', namespace = '?', map = '', proc = ''] = stdout.split('@\n').map((part) => part.trim());
  return [
    { label: 'uid', value: uid, source: 'id -u' },
    { label: 'gid', value: gid, source: 'id -g' },
    { label: 'user namespace', value: namespace, source: 'readlink /proc/self/ns/user' },
    { label: 'uid_map', value: showMap(map), source: 'cat /proc/self/uid_map' },
    { label: 'capabilities', value: capabilities(proc), source: 'grep CapEff /proc/self/status' },
  ];
}

/** "uid:gid name" per entry of a folder, as the reader's user namespace shows them (ls -ln's columns). */
function listHere(folder: string): string {
  try {
    return readdirSync(folder).sort().map((name) => {
      const { uid, gid, mode } = statSync(path.join(folder, name));
      return `${uid}:${gid} ${(mode & 0o040000) ? `${name}/` : name}`;
    }).join('\n') || '(empty)';
  } catch (error) {
    return `(${(error as NodeJS.ErrnoException).code})`;
  }
}

async function listInside(container: UsernsContainer, folder: string): Promise<string> {
  // The same columns as listHere: ls -ln's owner and group, a "/" after a folder's name.
  const script = `cd ${folder} && for f in *; do [ -e "$f" ] || continue; [ -d "$f" ] && s=/ || s=; echo "$(stat -c %u:%g "$f") $f$s"; done`;
  const { stdout, stderr, status } = await container.sh(script);
  if (status !== 0 && !stdout) return `(${errnoOf(stderr)})`;
  return stdout.trim() || '(empty)';
}

/** The image of steps 8 and 9: a root-owned folder with a file, and an empty folder to bind it on. */
function makeImage(dir: string): { image: string; view: string } {
  const image = path.join(dir, 'image');
  const view = path.join(dir, 'view');
  mkdirSync(image);
  mkdirSync(view);
  writeFileSync(path.join(image, 'hostname'), 'from-the-image\n');
  mkdirSync(path.join(image, 'etc'));
  return { image, view };
}

const ERRNO_WORDS: [RegExp, string][] = [
  [/Operation not permitted/i, 'EPERM'],
  [/Permission denied/i, 'EACCES'],
  [/Invalid argument/i, 'EINVAL'],
  [/invalid module format|Exec format error/i, 'ENOEXEC'],
  [/Function not implemented|does not support requested operation/i, 'ENOSYS'],
  [/No such file or directory/i, 'ENOENT'],
  [/Read-only file system/i, 'EROFS'],
];

/** The errno a program's message names ("…: Operation not permitted" → "EPERM"), or the message itself. */
export function errnoOf(message: string): string {
  const found = ERRNO_WORDS.find(([words]) => words.test(message));
  return found ? found[1] : message.trim().split('\n').at(-1) || 'failed';
}

/** A call that fails where the protection holds: its errno; EPERM is the capability check. */
function judged(outcome: Outcome, passedNote: string): string {
  if (outcome.status === 0) return 'WORKS';
  const errno = errnoOf(outcome.stderr);
  if (errno === 'EPERM') return 'refused: EPERM (the capability check)';
  if (errno === 'ENOSYS') return 'ENOSYS: this kernel has no module loader (built without CONFIG_MODULES): nothing to refuse';
  return passedNote && passedNote.startsWith(errno) ? passedNote : `${errno} (not the capability check)`;
}

function attempt(work: () => void): string {
  try {
    work();
    return 'taken';
  } catch (error) {
    return `refused: ${(error as NodeJS.ErrnoException).code} — a map is written once`;
  }
}

async function attemptAsync(work: () => Promise<void>): Promise<string> {
  try {
    await work();
    return 'done';
  } catch (error) {
    return explainIdmapFailure(error);
  }
}

/** Why nobody's namespaces may be refused on this machine, if a setting says so. */
function userNamespacesOff(): string {
  const settings: [string, string][] = [
    ['/proc/sys/kernel/unprivileged_userns_clone', '0'],
    ['/proc/sys/kernel/apparmor_restrict_unprivileged_userns', '1'],
    ['/proc/sys/user/max_user_namespaces', '0'],
  ];
  const found = settings.find(([file, off]) => readText(file) === off);
  return found ? ` (${found[0].replace('/proc/sys/', '').replaceAll('/', '.')} = ${found[1]} here)` : '';
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0] ?? '';
}

/** newuidmap as nobody, asked for a range nobody was not lent: its refusal, in one line. */
async function newuidmapAsNobody(lab: UsernsLab, newuidmap: string): Promise<string> {
  const holder = await lab.spawnHolder(asNobody([program('unshare'), '--user', '--', 'cat']));
  const { status, stdout, stderr } = await runProgram(asNobody([newuidmap, String(holder.pid), '0', '100000', '65536']));
  return status === 0 ? 'taken: nobody is lent 100000–165535 in /etc/subuid' : `refused: ${(stderr || stdout).trim().split('\n')[0]}`;
}

// ---------------------------------------------------------------------------------------------------
// One run of the lesson: what it started, and the folders it made

class UsernsLab {
  view: View = NOTHING_YET;
  container: UsernsContainer | undefined;
  /** Step 11's container, built by the lab's runtime. */
  built: OverlayContainer | undefined;
  private readonly holders: NamespaceHolder[] = [];
  private readonly children: ChildProcess[] = [];
  private readonly folders: string[] = [];

  constructor(readonly context: LessonContext) {}

  keep(holder: NamespaceHolder): NamespaceHolder {
    this.holders.push(holder);
    return holder;
  }

  /** A lab container mapped with these mappings: the one the shell key enters. */
  async start(uidMappings: readonly OciIdMapping[]): Promise<UsernsContainer> {
    this.container = await startUsernsContainer(uidMappings);
    return this.container;
  }

  /**
   * A container of the lab's own runtime, built from a config.json with a user namespace of these
   * mappings, over lesson 05's busybox image: what feature.ts and the core do with it.
   */
  async startFromConfig(mappings: readonly OciIdMapping[], args: string[]): Promise<OverlayContainer> {
    const store = openImageStore(labStateDir());
    const { image } = await defaultImage(store);
    const id = newContainerId();
    const dir = prepareOverlayContainerDir(id, image, defaultHostname(id), store);
    const config = withOverlay(labConfig(id, args, { namespaces: [...LAB_NAMESPACES, 'network', 'user'], linux: { uidMappings: [...mappings], gidMappings: [...mappings] } }), dir, store);
    const started = await startLabContainer(id, config, { registry: this.context.registry, bundle: this.context.bundle, dir: dir.path, stateDir: store.stateDir });
    this.built = { ...started, dir, hostname: config.hostname!, startMs: 0 };
    return this.built;
  }

  /** A holder started some other way (as nobody): `… unshare --user cat`, waited for. */
  async spawnHolder(args: string[]): Promise<{ pid: number }> {
    const child = await this.spawnChild(args);
    await untilUnshared(child, 'user', 'unshare --user');
    return { pid: child.pid! };
  }

  /** A process that runs until the step is left; its stdin is a pipe from us, so `cat` waits on it. */
  async spawnChild(args: string[]): Promise<ChildProcess & { pid: number }> {
    const [file, ...rest] = args;
    const child = spawn(file!, rest, { stdio: ['pipe', 'ignore', 'ignore'] });
    this.children.push(child);
    await new Promise((resolve, reject) => child.once('spawn', resolve).once('error', reject));
    return child as ChildProcess & { pid: number };
  }

  /** A fresh folder for this step, everyone may enter it (the container's root is "others" on the host). */
  scratch(): string {
    const dir = mkdtempSync(path.join(tmpdir(), 'lab08-'));
    chmodSync(dir, 0o755);
    this.folders.push(dir);
    return dir;
  }

  shell() {
    const pid = this.container?.pid ?? this.built?.container.pid;
    if (!pid) return null;
    return {
      file: program('nsenter'),
      args: [`--target=${pid}`, '--user', '--mount', '--uts', ...(this.built ? ['--pid', '--root', '--wd'] : []), '--', 'sh'],
      banner: `A shell as the container's root (PID ${pid} on the host is uid ${statusIds(pid).uid}). Try id, ls -ln, hostname. Type exit to return.`,
    };
  }

  /** Ends what the last step started: the container (its mounts go with its mount namespace), holders, folders. */
  async reset(): Promise<void> {
    this.view = NOTHING_YET;
    const container = this.container;
    this.container = undefined;
    await container?.end();
    const built = this.built;
    this.built = undefined;
    await built?.destroy();
    for (const holder of this.holders.splice(0)) holder.end();
    await Promise.all(this.children.splice(0).map((child) => endChild(child)));
    for (const folder of this.folders.splice(0)) rmSync(folder, { recursive: true, force: true });
  }

  close(): Promise<void> {
    return this.reset();
  }
}
