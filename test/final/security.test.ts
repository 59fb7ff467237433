/**
 * What a container's root may do (lesson 07), end to end: minidocker's defaults and flags, and
 * `oci spec`'s bundle under `npm run oci`, each seen from inside the container (/proc/self/status, and
 * the attacks themselves) and from outside (config.json, inspect).
 *
 * Every attack here is harmless even where the protection is missing: the host name and the mount are
 * the container's own (its UTS and mount namespaces), core_pattern and sysrq-trigger are opened for
 * appending and nothing is written, `unshare -u` makes a namespace that dies with the command, and the
 * clock is judged by the capability bit alone — never by setting it.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { describeAsRoot } from '../helpers/root.js';
import { throwawayNetns } from '../helpers/netns.js';
import type { OciConfig } from '../../src/container/config.js';
import { busyboxImage } from '../../lessons/03-mount/image.js';
import { decodeCapabilities } from '../../lessons/07-security/capabilities.js';
import { hostDisk, PTRACE_ATTACK, SETUID_ATTACK } from '../../lessons/07-security/probe.js';
import { DOCKER_DEFAULT_CAPABILITIES, RUNC_SPEC_CAPABILITIES } from '../../lessons/07-security/defaults.js';
import { hostDevices } from '../../src/final/security.js';
import { cli, MINIDOCKER, OCI, killRecorded, leftovers } from './helpers.js';

let stateDir: string;
let hostNetns: string;
const md = (...args: string[]) => cli(MINIDOCKER, stateDir, args, { hostNetns });

/** A block device the host itself may open (lesson 07's probe makes a node with its numbers), or null. */
const DISK = hostDisk();

/** The status lines lesson 07 is about, and each attack's outcome, printed by one shell inside. */
const PROBE = [
  'grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status',
  // Each attack in a subshell: a failed redirection ends a non-interactive sh.
  'hostname changed-inside 2>/dev/null && echo "hostname: yes" || echo "hostname: no"',
  'mount -t tmpfs lab-probe /mnt 2>/dev/null && echo "mount: yes" || echo "mount: no"',
  '(: >> /proc/sys/kernel/core_pattern) 2>/dev/null && echo "core_pattern: yes" || echo "core_pattern: no"',
  // Opened for appending, nothing written: only a written character makes the kernel act. (Some kernels have none.)
  '[ -e /proc/sysrq-trigger ] && { (: >> /proc/sysrq-trigger) 2>/dev/null && echo "sysrq: yes" || echo "sysrq: no"; } || echo "sysrq: n/a"',
  'unshare -u true 2>/dev/null && echo "unshare: yes" || echo "unshare: no"',
  // A module that does not exist: refused (EPERM) before the kernel looks, or looked for (ENOENT, ENOSYS).
  // (A kernel built without modules answers ENOSYS to everyone: then the probe says "n/a".)
  'm=$(rmmod lab_no_such_module 2>&1); case "$m" in *"not permitted"*) echo "module: no";; *"not implemented"*) echo "module: n/a";; *) echo "module: yes";; esac',
  // A network device, in the container's own network namespace: it goes with it.
  // Tried only where lo is the only interface: never in a namespace that could be the host's.
  '[ "$(ip -o link | wc -l)" = 1 ] && ip link add lab-probe0 type veth peer name lab-probe1 2>/dev/null && echo "netdev: yes" || echo "netdev: no"',
  // The host's disk: mknod is allowed (CAP_MKNOD), opening it for reading is what the device cgroup judges.
  // A user inside becomes root through a setuid-root program; root reads another user's process (ptrace's check).
  SETUID_ATTACK,
  PTRACE_ATTACK,
  ...(DISK ? [`mknod /tmp/lab-disk b ${DISK.major} ${DISK.minor} && (: < /tmp/lab-disk) 2>/dev/null && echo "disk: yes" || echo "disk: no"`] : []),
].join('; ');
/** What the probe says of the module attack where the kernel has modules (/proc/modules): else refusing it proves nothing. */
const MODULES = existsSync('/proc/modules');
const modules = (outcome: 'yes' | 'no') => (MODULES ? { module: outcome } : {});
/** Yama's ptrace_scope 3 forbids every attach, even with CAP_SYS_PTRACE: then the probe's "ptrace: yes" cannot be. */
const ATTACH_FORBIDDEN = existsSync('/proc/sys/kernel/yama/ptrace_scope') && readFileSync('/proc/sys/kernel/yama/ptrace_scope', 'utf8').trim() === '3';
const ptrace = (outcome: 'yes' | 'no') => (ATTACH_FORBIDDEN ? {} : { ptrace: outcome });
/** What the probe says of /proc/sysrq-trigger where the kernel has one (the container's /proc shows the same). */
const sysrq = (outcome: 'yes' | 'no') => (existsSync('/proc/sysrq-trigger') ? { sysrq: outcome } : { sysrq: 'n/a' });
/** What the probe reports about the disk, when this machine has one the host may open. */
const disk = (outcome: 'yes' | 'no') => (DISK ? { disk: outcome } : {});

/** The probe's output as a map: "CapEff" → "00000000a80425fb", "mount" → "no" ... */
function probed(stdout: string): Record<string, string> {
  return Object.fromEntries(stdout.trim().split('\n').map((line) => line.split(/:\s*/, 2) as [string, string]));
}

const CAP_SYS_TIME = 25;
const hasBit = (hex: string, bit: number) => ((BigInt(`0x${hex}`) >> BigInt(bit)) & 1n) === 1n;

describeAsRoot('lesson 07 in minidocker: secure by default, Docker\'s flags', () => {
  const netns = throwawayNetns();
  beforeEach(() => {
    hostNetns = netns.create('lab-test-sec');
    stateDir = mkdtempSync(path.join(tmpdir(), 'mdl-sec-'));
  });
  afterEach(() => {
    killRecorded(stateDir);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it("by default: Docker's 14 capabilities, a seccomp filter, and every attack fails", () => {
    const result = md('run', '--rm', '--network', 'none', 'busybox', 'sh', '-c', PROBE);
    expect(result).toExitWith(0);
    const inside = probed(result.stdout);
    expect(decodeCapabilities(inside.CapEff!).sort()).toEqual([...DOCKER_DEFAULT_CAPABILITIES].sort());
    expect(inside.CapBnd).toBe(inside.CapEff);
    expect(hasBit(inside.CapEff!, CAP_SYS_TIME)).toBe(false); // the clock cannot be set
    expect(inside).toMatchObject({ NoNewPrivs: '0', Seccomp: '2', hostname: 'no', mount: 'no', core_pattern: 'no', ...sysrq('no'), unshare: 'no', module: 'no', netdev: 'no', ptrace: 'no', ...disk('no') });
    // As in Docker, no_new_privs is not set by default: a user inside may become the container's root
    // again through a setuid program (a root with the 14 capabilities only). The next test turns it on.
    expect(inside.setuid).toBe('yes');
    expect(leftovers(stateDir)).toEqual([]);
  }, 180_000);

  it('--privileged gives every power back: the same harmless attacks succeed', () => {
    const result = md('run', '--rm', '--network', 'none', '--privileged', 'busybox', 'sh', '-c', PROBE);
    expect(result).toExitWith(0);
    const inside = probed(result.stdout);
    const ours = /^CapBnd:\s*(\w+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1];
    expect(inside.CapEff).toBe(ours); // everything this runtime itself may have
    expect(inside).toMatchObject({ Seccomp: '0', hostname: 'yes', mount: 'yes', core_pattern: 'yes', ...sysrq('yes'), unshare: 'yes', ...modules('yes'), netdev: 'yes', ...ptrace('yes'), ...disk('yes') });
  }, 180_000);

  it("--privileged copies the host's /dev in, node for node; by default only /dev's standard nodes are there", () => {
    const nodes = (...flags: string[]) => {
      const result = md('run', '--rm', '--network', 'none', ...flags, 'busybox', 'sh', '-c', 'find /dev -type c -o -type b | sort');
      expect(result).toExitWith(0);
      return result.stdout.trim().split('\n');
    };
    const host = hostDevices().map((node) => node.path);
    expect(host.length).toBeGreaterThan(0);
    expect(nodes('--privileged')).toEqual(expect.arrayContaining(host));
    expect(nodes()).toEqual(['/dev/full', '/dev/null', '/dev/pts/ptmx', '/dev/random', '/dev/tty', '/dev/urandom', '/dev/zero']);
    expect(leftovers(stateDir)).toEqual([]);
  }, 180_000);

  it('--device FOLDER: every device node under it, at the same place under the path inside', () => {
    // A folder of our own with a twin of /dev/null in a subfolder (made on the host in a temporary folder: harmless).
    const folder = path.join(stateDir, 'devs');
    mkdirSync(path.join(folder, 'sub'), { recursive: true });
    execFileSync('mknod', ['-m', '666', path.join(folder, 'sub', 'null0'), 'c', '1', '3']);
    writeFileSync(path.join(folder, 'not-a-device'), '');
    const result = md('run', '--rm', '--network', 'none', '--device', `${folder}:/dev/lab:rw`, 'busybox', 'sh', '-c',
      'ls /dev/lab /dev/lab/sub; stat -c "%F %t:%T" /dev/lab/sub/null0; echo x > /dev/lab/sub/null0 && echo "write: yes"');
    expect(result).toExitWith(0);
    expect(result.stdout).toBe('/dev/lab:\nsub\n\n/dev/lab/sub:\nnull0\ncharacter special file 1:3\nwrite: yes\n');
    expect(leftovers(stateDir)).toEqual([]);
  }, 180_000);

  it('-u runs the command as a user of the image (its /etc/passwd), with no capabilities in effect; exec -u too; inspect shows it', () => {
    const status = 'id; echo "HOME: $HOME"; grep -E "^(CapEff|CapBnd):" /proc/self/status';
    const nobody = md('run', '--rm', '--network', 'none', '-u', 'nobody', 'busybox', 'sh', '-c', status);
    expect(nobody).toExitWith(0);
    expect(nobody.stdout).toMatch(/^uid=65534\(nobody\) gid=65534\(nogroup\)/);
    // As Docker: a UID other than 0 keeps its capabilities in the bounding set only (what execve would leave it).
    expect(probed(nobody.stdout)).toMatchObject({ HOME: '/home', CapEff: '0000000000000000' });
    expect(decodeCapabilities(probed(nobody.stdout).CapBnd!).sort()).toEqual([...DOCKER_DEFAULT_CAPABILITIES].sort());
    expect(md('run', '--rm', '--network', 'none', '-u', '1000:1000', 'busybox', 'id').stdout).toMatch(/^uid=1000 gid=1000\b/);

    expect(md('run', '-d', '--name', 'user', '--network', 'none', '-u', 'daemon', 'busybox', 'sleep', '1000')).toExitWith(0);
    expect(JSON.parse(md('inspect', 'user').stdout)[0].Config.User).toBe('daemon');
    expect(md('exec', 'user', 'id').stdout).toMatch(/^uid=1\(daemon\)/);
    // exec -u root: root's powers again, within the container's own bounding set; the environment stays the container's (as Docker's).
    const root = md('exec', '-u', 'root', 'user', 'sh', '-c', status);
    expect(root.stdout).toMatch(/^uid=0\(root\)/);
    expect(probed(root.stdout)).toMatchObject({ HOME: '/usr/sbin' });
    expect(decodeCapabilities(probed(root.stdout).CapEff!).sort()).toEqual([...DOCKER_DEFAULT_CAPABILITIES].sort());
    // exec -u finds a user made after the start: it reads the container's files as they are now.
    expect(md('exec', '-u', 'root', 'user', 'sh', '-c', "echo 'lab:x:1234:1234::/lab:/bin/sh' >> /etc/passwd; echo 'staff:x:50:lab' >> /etc/group")).toExitWith(0);
    expect(md('exec', '-u', 'lab', 'user', 'id').stdout).toBe('uid=1234(lab) gid=1234 groups=50(staff)\n');
    expect(md('rm', '-f', 'user')).toExitWith(0);

    const ghost = md('run', '--rm', '--network', 'none', '-u', 'ghost', 'busybox', 'id');
    expect(ghost).toExitWith(125);
    expect(ghost.stderr).toBe('minidocker: unable to find user ghost: no matching entries in passwd file\n');
    expect(leftovers(stateDir)).toEqual([]);
  }, 180_000);

  it('--security-opt no-new-privileges: a setuid-root program no longer makes a user root; --cap-add SYS_PTRACE lets root trace other users', () => {
    const sealed = md('run', '--rm', '--network', 'none', '--security-opt', 'no-new-privileges', 'busybox', 'sh', '-c', PROBE);
    expect(sealed).toExitWith(0);
    expect(probed(sealed.stdout)).toMatchObject({ NoNewPrivs: '1', setuid: 'no', ptrace: 'no' });
    const tracer = md('run', '--rm', '--network', 'none', '--cap-add', 'SYS_PTRACE', 'busybox', 'sh', '-c', PROBE);
    expect(tracer).toExitWith(0);
    expect(probed(tracer.stdout)).toMatchObject({ NoNewPrivs: '0', setuid: 'yes', ...ptrace('yes'), mount: 'no' });
  }, 180_000);

  it.runIf(DISK)('--device lets one host device in, with the access it names; inspect shows it', () => {
    const { path: disk, major, minor } = DISK!;
    const result = md('run', '--name', 'dev', '--network', 'none', '--device', `${disk}:/dev/xvda:r`, 'busybox', 'sh', '-c',
      '(: < /dev/xvda) 2>/dev/null && echo "read: yes" || echo "read: no"; (: >> /dev/xvda) 2>/dev/null && echo "write: yes" || echo "write: no"; ls -l /dev/xvda');
    expect(result).toExitWith(0);
    expect(probed(result.stdout)).toMatchObject({ read: 'yes', write: 'no' });
    expect(result.stdout).toMatch(new RegExp(`^b.* ${major}, +${minor} .*/dev/xvda$`, 'm'));
    const { Id, HostConfig } = JSON.parse(md('inspect', 'dev').stdout)[0];
    expect(HostConfig.Devices).toEqual([{ PathInContainer: '/dev/xvda', CgroupPermissions: 'r' }]);
    expect(md('rm', 'dev')).toExitWith(0);
    // Its cgroup, and on v1 its folder in the devices hierarchy, went with it.
    const cgroupDirs = ['/sys/fs/cgroup', '/sys/fs/cgroup/devices', '/sys/fs/cgroup/memory'].map((mount) => path.join(mount, 'mini-docker-lab', Id));
    expect(cgroupDirs.filter((dir) => existsSync(dir))).toEqual([]);
    const missing = md('run', '--rm', '--network', 'none', '--device', '/dev/lab-no-such-device', 'busybox', 'true');
    expect(missing).toExitWith(125);
    expect(missing.stderr).toBe('minidocker: --device /dev/lab-no-such-device: no such device on this machine\n');
    expect(leftovers(stateDir)).toEqual([]);
  }, 180_000);

  it('--sysctl sets the container\'s own net.* and IPC values and refuses global ones', () => {
    // The CLI itself runs in throwaway network and IPC namespaces: should the container not get its own,
    // the values land there, never on the host. (Not `ip netns exec`: it remounts /sys, cgroups and all.)
    const run = (...args: string[]) => cli(MINIDOCKER, stateDir, args, { hostNetns, under: ['unshare', '--net', '--ipc', '--'] });
    const result = run('run', '--name', 'tuned', '--network', 'none', '--sysctl', 'net.ipv4.ip_unprivileged_port_start=80', '--sysctl', 'kernel.shmmni=1000',
      'busybox', 'sh', '-c', 'echo "port_start: $(cat /proc/sys/net/ipv4/ip_unprivileged_port_start)"; echo "shmmni: $(cat /proc/sys/kernel/shmmni)"');
    expect(result).toExitWith(0);
    expect(probed(result.stdout)).toEqual({ port_start: '80', shmmni: '1000' });
    expect(JSON.parse(run('inspect', 'tuned').stdout)[0].HostConfig.Sysctls).toEqual({ 'net.ipv4.ip_unprivileged_port_start': '80', 'kernel.shmmni': '1000' });
    expect(run('rm', 'tuned')).toExitWith(0);
    const global = run('run', '--rm', '--network', 'none', '--sysctl', 'kernel.panic=1', 'busybox', 'true');
    expect(global).toExitWith(125);
    expect(global.stderr).toMatch(/^minidocker: create container \w+: linux\.sysctl "kernel\.panic" is not namespaced: it would change the whole machine, so a container may not set it\n$/);
    const hostNetwork = run('run', '--rm', '--network', 'host', '--sysctl', 'net.ipv4.ip_forward=1', 'busybox', 'true');
    expect(hostNetwork).toExitWith(125);
    expect(hostNetwork.stderr).toBe("minidocker: --sysctl net.ipv4.ip_forward is not allowed with --network host: that network is not the container's own\n");
    expect(leftovers(stateDir)).toEqual([]);
  }, 180_000);

  it('--cap-add SYS_ADMIN allows mount and unshare again, as in Docker (its own namespaces: harmless)', () => {
    const result = md('run', '--rm', '--network', 'none', '--cap-add', 'SYS_ADMIN', 'busybox', 'sh', '-c', PROBE);
    expect(result).toExitWith(0);
    expect(probed(result.stdout)).toMatchObject({ Seccomp: '2', mount: 'yes', unshare: 'yes', hostname: 'yes', core_pattern: 'no' });
  }, 180_000);

  it('--cap-drop ALL --cap-add, --security-opt no-new-privileges, --ulimit; inspect shows them', () => {
    const created = md('run', '-d', '--name', 'tight', '--network', 'none', '--cap-drop', 'ALL', '--cap-add', 'chown', '--cap-add', 'CAP_KILL',
      '--security-opt', 'no-new-privileges', '--ulimit', 'nofile=100:200', 'busybox', 'sleep', '1000');
    expect(created).toExitWith(0);
    // The container's process, and a process exec starts later: the same powers, the same limits.
    for (const pid of ['1', 'self']) {
      const inside = md('exec', 'tight', 'sh', '-c', `grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/${pid}/status; grep "open files" /proc/${pid}/limits | awk '{ print "nofile: " $4 " " $5 }'`);
      expect(probed(inside.stdout), pid).toMatchObject({ NoNewPrivs: '1', Seccomp: '2', nofile: '100 200' });
      expect(decodeCapabilities(probed(inside.stdout).CapEff!), pid).toEqual(['CAP_CHOWN', 'CAP_KILL']);
    }
    const { HostConfig } = JSON.parse(md('inspect', 'tight').stdout)[0];
    expect(HostConfig).toMatchObject({
      Privileged: false,
      CapAdd: [],
      SecurityOpt: ['no-new-privileges'],
      Ulimits: [{ Name: 'nofile', Soft: 100, Hard: 200 }],
    });
    expect(HostConfig.CapDrop).toHaveLength(DOCKER_DEFAULT_CAPABILITIES.length - 2);
    expect(md('rm', '-f', 'tight')).toExitWith(0);
    expect(leftovers(stateDir)).toEqual([]);
  }, 180_000);

  it('--security-opt seccomp=FILE loads a profile in Docker\'s format; unconfined has none', () => {
    // Docker's format, with its extensions (archMap, includes): refuses mkdir(2) (in the container's own /tmp: harmless).
    const profile = path.join(stateDir, 'profile.json');
    writeFileSync(profile, JSON.stringify({
      defaultAction: 'SCMP_ACT_ALLOW',
      archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] }, { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] }],
      syscalls: [
        { names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 },
        { names: ['getcwd'], action: 'SCMP_ACT_ERRNO', includes: { caps: ['CAP_SYS_ADMIN'] } }, // not for this container
      ],
    }));
    const filtered = md('run', '--rm', '--network', 'none', '--security-opt', `seccomp=${profile}`, 'busybox', 'sh', '-c', 'mkdir /tmp/new || echo "mkdir refused"; pwd');
    expect(filtered).toExitWith(0);
    expect(filtered.stdout).toBe('mkdir refused\n/\n');
    expect(filtered.stderr).toMatch(/Operation not permitted/);
    const unconfined = md('run', '--rm', '--network', 'none', '--security-opt', 'seccomp=unconfined', 'busybox', 'grep', '^Seccomp:', '/proc/self/status');
    expect(unconfined.stdout).toMatch(/^Seccomp:\s+0$/m);
  }, 180_000);

  it('refuses bad security flags in one line, leaving nothing behind', () => {
    const cases: [string[], RegExp][] = [
      [['--cap-add', 'FLY'], /^minidocker: invalid --cap-add value "FLY": unknown capability/],
      [['--ulimit', 'nofile=9:1'], /^minidocker: invalid --ulimit "nofile=9:1": the soft limit is above the hard limit/],
      [['--ulimit', 'speed=1'], /unknown limit "speed"/],
      [['--security-opt', 'apparmor=x'], /^minidocker: invalid --security-opt "apparmor=x"/],
      [['--sysctl', 'nope'], /^minidocker: invalid --sysctl "nope": use KEY=VALUE/],
      [['--device', 'dev/fuse:/dev/fuse'], /^minidocker: invalid --device "dev\/fuse:\/dev\/fuse": both paths must be absolute/],
      [['--security-opt', `seccomp=${path.join(stateDir, 'missing.json')}`], /cannot read the profile \(ENOENT\)/],
    ];
    for (const [flags, message] of cases) {
      const result = md('run', '--rm', '--network', 'none', ...flags, 'busybox', 'true');
      expect(result).toExitWith(125);
      expect(result.stderr).toMatch(message);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(leftovers(stateDir)).toEqual([]);
  }, 180_000);
});

describeAsRoot("lesson 07 in the OCI runtime: oci spec's bundle, process.user, masked and read-only paths", () => {
  let bundle: string;
  beforeEach(() => {
    stateDir = mkdtempSync(path.join(tmpdir(), 'mdl-sec-oci-'));
    bundle = path.join(stateDir, 'bundle');
    mkdirSync(bundle);
    const { image } = busyboxImage({ stateDir });
    execFileSync('cp', ['-a', image.rootfs, path.join(bundle, 'rootfs')]);
    chmodSync(path.join(bundle, 'rootfs', 'tmp'), 0o1777);
  });
  afterEach(() => {
    killRecorded(stateDir);
    rmSync(stateDir, { recursive: true, force: true });
  });

  /** create + start, the container's output into a file (runc's pass-through stdio); waits until it stopped, then deletes it. */
  function runBundle(id: string, edit: (config: OciConfig) => void): Record<string, string> {
    if (!existsSync(path.join(bundle, 'config.json'))) expect(cli(OCI, stateDir, ['spec', '--bundle', bundle])).toExitWith(0);
    const config = JSON.parse(readFileSync(path.join(bundle, 'config.json'), 'utf8')) as OciConfig;
    edit(config);
    writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(config));
    const output = path.join(stateDir, `${id}.out`);
    const outputFd = openSync(output, 'w');
    try {
      expect(cli(OCI, stateDir, ['create', '--bundle', bundle, id], { stdio: ['ignore', outputFd, outputFd] })).toExitWith(0);
    } finally {
      closeSync(outputFd);
    }
    expect(cli(OCI, stateDir, ['start', id])).toExitWith(0);
    for (let i = 0; i < 600 && JSON.parse(cli(OCI, stateDir, ['state', id]).stdout).status !== 'stopped'; i++) execFileSync('sleep', ['0.1']);
    expect(cli(OCI, stateDir, ['delete', id])).toExitWith(0);
    return probed(readFileSync(output, 'utf8'));
  }

  it("`oci spec` writes runc's defaults, and a container made from them has exactly those powers", () => {
    expect(cli(OCI, stateDir, ['spec', '--bundle', bundle])).toExitWith(0);
    expect(cli(OCI, stateDir, ['spec', '--bundle', bundle]).stderr).toMatch(/^oci: File .*config\.json exists\. Remove it first\n$/);
    const inside = runBundle(`spec${process.pid}`, (config) => {
      config.process.args = ['sh', '-c', `${PROBE}; echo "timer_list: $(cat /proc/timer_list 2>/dev/null | wc -c)"; echo "nofile: $(ulimit -n)"`];
    });
    expect(decodeCapabilities(inside.CapEff!).sort()).toEqual([...RUNC_SPEC_CAPABILITIES].sort());
    expect(inside).toMatchObject({ NoNewPrivs: '1', Seccomp: '0', hostname: 'no', mount: 'no', core_pattern: 'no', unshare: 'no', ...modules('no'), netdev: 'no', ...disk('no'), ...sysrq('no'), nofile: '1024' });
    // Masked: empty inside, whatever the host's kernel shows there.
    expect(inside.timer_list).toBe('0');
    expect(leftovers(stateDir)).toEqual([]);
  }, 180_000);

  it('process.user: the IDs, the groups and the umask; capabilities only as ambient ones', () => {
    const inside = runBundle(`user${process.pid}`, (config) => {
      config.process.user = { uid: 1000, gid: 1000, additionalGids: [5, 20], umask: 0o077 };
      // A UID other than 0 keeps a capability through execve only as an ambient one (capabilities(7)).
      const chown = ['CAP_CHOWN'];
      config.process.capabilities = { bounding: chown, effective: chown, permitted: chown, inheritable: chown, ambient: chown };
      config.process.args = ['sh', '-c', 'echo "id: $(id -u) $(id -g) $(id -G)"; echo "umask: $(umask)"; grep -E "^(CapEff|CapPrm):" /proc/self/status'];
    });
    expect(inside).toMatchObject({ id: '1000 1000 1000 5 20', umask: '0077' });
    expect(decodeCapabilities(inside.CapEff!)).toEqual(['CAP_CHOWN']);
    const plain = runBundle(`nocaps${process.pid}`, (config) => {
      config.process.user = { uid: 1000, gid: 1000 };
      delete config.process.capabilities; // no capabilities asked for: a UID other than 0 keeps none
      config.process.args = ['sh', '-c', 'grep -E "^(CapEff|CapPrm):" /proc/self/status'];
    });
    expect(plain).toMatchObject({ CapEff: '0000000000000000', CapPrm: '0000000000000000' });
  }, 180_000);

  it('refuses what it cannot honour in one line at create, leaving nothing', () => {
    expect(cli(OCI, stateDir, ['spec', '--bundle', bundle])).toExitWith(0);
    const config = JSON.parse(readFileSync(path.join(bundle, 'config.json'), 'utf8')) as OciConfig;
    config.process.rlimits = [{ type: 'RLIMIT_SPEED', soft: 1, hard: 1 }];
    writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(config));
    const created = cli(OCI, stateDir, ['create', '--bundle', bundle, `bad${process.pid}`]);
    expect(created).toExitWith(1);
    expect(created.stderr).toMatch(/^oci: .*process\.rlimits: unknown limit "RLIMIT_SPEED".*\n$/);
    expect(leftovers(stateDir)).toEqual([]);
  }, 180_000);
});
