/**
 * The catalog: every check the doctor knows, as data, plus which lesson needs which check.
 *
 * A check is a title, the phrase used in "lesson N needs <need>", and a small function that looks at
 * the machine through a Probe and returns an Outcome (ok, what it found, the fix).
 */
import { describeLayout, ownV2Cgroup, bootParameterValues, type LabController } from '../../sys/cgroupfs.js';
import { controllerOutcome } from './cgroups.js';
import { elfLinkage } from '../../sys/elf.js';
import { aptInstall, bootParameterFix, STOCK_KERNEL_FIX, type Outcome } from './outcome.js';
import type { Located, Probe } from './probe.js';
import {
  formatVersion,
  KERNEL_TARGET,
  missingKernelFeatures,
  NODE_MINIMUM,
  parseIptablesVersion,
  parseVersion,
  versionAtLeast,
} from './versions.js';

export const GROUPS = ['System', 'Namespaces', 'Process tools', 'cgroups', 'Filesystems', 'Network tools', 'Images', 'Optional'] as const;
export type Group = (typeof GROUPS)[number];

export interface CheckContext {
  probe: Probe;
  /** The command the student ran, to repeat in the "run it as root" fix: "npm run doctor". */
  rerun: string;
}

export interface Check {
  id: string;
  group: Group;
  /** Short label in the doctor's list. */
  title: string;
  /** Completes "lesson 3 needs ...": "a static busybox". */
  need: string;
  /** false: informational, never fails the doctor or a lesson. */
  required: boolean;
  run(context: CheckContext): Promise<Outcome>;
}

// --- System --------------------------------------------------------------------------------------

const root: Check = {
  id: 'system.root',
  group: 'System',
  title: 'root',
  need: 'root',
  required: true,
  async run({ probe, rerun }) {
    const euid = probe.machine.euid();
    if (euid === 0) return { ok: true, found: 'running as root (euid 0)' };
    return {
      ok: false,
      // Creating namespaces (except user), mounting, writing cgroup files and iptables all need CAP_SYS_ADMIN/CAP_NET_ADMIN.
      found: euid === null ? 'no user ids on this platform (the lab needs Linux)' : `euid ${euid}, not root`,
      fix:
        `run \`sudo env "PATH=$PATH" ${rerun}\`` +
        ' (plain sudo resets PATH, so it would not find a node installed with nvm)',
    };
  },
};

const node: Check = {
  id: 'system.node',
  group: 'System',
  title: 'Node.js',
  need: `Node.js ≥ ${formatVersion(NODE_MINIMUM)}`,
  required: true,
  async run({ probe, rerun }) {
    const text = probe.machine.nodeVersion();
    const version = parseVersion(text);
    const ok = version !== null && versionAtLeast(version, NODE_MINIMUM);
    const found = `v${text} (need ≥ ${formatVersion(NODE_MINIMUM)})`;
    if (ok) return { ok, found };
    return {
      ok,
      found,
      fix:
        `install Node.js ≥ ${formatVersion(NODE_MINIMUM)} (with nvm: \`nvm install 20\`)` +
        // Debian 12's own nodejs package is 18.x: under plain sudo, root finds that one, not nvm's.
        (probe.machine.euid() === 0
          ? `; if your own \`node --version\` is already newer, sudo picked root's node: run \`sudo env "PATH=$PATH" ${rerun}\``
          : ''),
    };
  },
};

const kernel: Check = {
  id: 'system.kernel',
  group: 'System',
  title: 'kernel',
  need: `Linux ≥ ${formatVersion(KERNEL_TARGET)}`,
  required: true,
  async run({ probe }) {
    const release = probe.machine.kernelRelease();
    const version = parseVersion(release);
    if (version && versionAtLeast(version, KERNEL_TARGET)) {
      return { ok: true, found: `${release} (need ≥ ${formatVersion(KERNEL_TARGET)})` };
    }
    const missing = version ? missingKernelFeatures(version) : [];
    return {
      ok: false,
      found: `${release}, older than ${formatVersion(KERNEL_TARGET)}${missing.length ? ` (${missing.join('; ')})` : ''}`,
      fix: `${STOCK_KERNEL_FIX} (Ubuntu 22.04 ships 5.15, Debian 12 ships 6.1)`,
    };
  },
};

// --- Namespaces ----------------------------------------------------------------------------------

/** Kernel config option of each namespace type, see namespaces(7). */
const NAMESPACES = {
  uts: { what: 'host name', config: 'CONFIG_UTS_NS' },
  ipc: { what: 'System V IPC, POSIX queues', config: 'CONFIG_IPC_NS' },
  pid: { what: 'process ids', config: 'CONFIG_PID_NS' },
  mnt: { what: 'mounts', config: 'always built in' },
  net: { what: 'network stack', config: 'CONFIG_NET_NS' },
  cgroup: { what: 'cgroup root', config: 'CONFIG_CGROUPS' },
  user: { what: 'uid/gid maps', config: 'CONFIG_USER_NS' },
} as const;

function namespaceCheck(name: keyof typeof NAMESPACES, required = true): Check {
  const { what, config } = NAMESPACES[name];
  return {
    id: `ns.${name}`,
    group: 'Namespaces',
    title: name,
    need: `the ${name} namespace`,
    required,
    async run({ probe }) {
      // Each namespace a process is in shows up as a link in /proc/self/ns (namespaces(7)).
      if (!(await probe.machine.exists(`/proc/self/ns/${name}`))) {
        return { ok: false, found: `no /proc/self/ns/${name}`, fix: `your kernel lacks it (${config}): ${STOCK_KERNEL_FIX}` };
      }
      // /proc/sys/user/max_<name>_namespaces caps how many may exist; 0 forbids creating any.
      const sysctl = `user.max_${name}_namespaces`;
      const limit = await probe.machine.readText(`/proc/sys/user/max_${name}_namespaces`);
      if (limit !== null && Number(limit.trim()) === 0) {
        return { ok: false, found: `${sysctl} = 0`, fix: `run \`sudo sysctl -w ${sysctl}=10000\`` };
      }
      return { ok: true, found: `${what}${limit !== null ? ` (max ${limit.trim()})` : ''}` };
    },
  };
}

/**
 * May an ordinary user create a user namespace (lesson 08's steps as nobody; rootless containers)? The
 * kernel allows it, but distributions may turn it off: Debian's older kernels with a sysctl of their
 * own, Ubuntu 23.10 and later through AppArmor, anyone through the namespace count.
 */
const unprivilegedUserns: Check = {
  id: 'userns.unprivileged',
  group: 'Namespaces',
  title: 'user namespaces for users',
  need: 'user namespaces that ordinary users may create',
  required: false,
  async run({ probe }) {
    const setting = async (name: string) => (await probe.machine.readText(`/proc/sys/${name.replaceAll('.', '/')}`))?.trim() ?? null;
    const keep = (name: string, value: string) => `run \`sudo sysctl -w ${name}=${value}\`, and to keep it: \`echo ${name}=${value} | sudo tee /etc/sysctl.d/60-userns.conf\``;
    if ((await setting('kernel.unprivileged_userns_clone')) === '0') {
      return { ok: false, found: 'kernel.unprivileged_userns_clone = 0', fix: keep('kernel.unprivileged_userns_clone', '1') };
    }
    if ((await setting('kernel.apparmor_restrict_unprivileged_userns')) === '1') {
      return { ok: false, found: 'kernel.apparmor_restrict_unprivileged_userns = 1 (Ubuntu 23.10 and later)', fix: `${keep('kernel.apparmor_restrict_unprivileged_userns', '0')}; or allow only the programs that need it, with an AppArmor profile that says \`userns,\`` };
    }
    const max = await setting('user.max_user_namespaces');
    if (max === '0') return { ok: false, found: 'user.max_user_namespaces = 0', fix: keep('user.max_user_namespaces', '28633') };
    return { ok: true, found: `allowed${max !== null ? ` (max ${max})` : ''}` };
  },
};

/**
 * `minidocker run --userns=auto` takes each container's IDs from the ranges /etc/subuid and /etc/subgid
 * lend the user "containers" (podman's convention); newuidmap and newgidmap (uidmap) map ranges for
 * ordinary users.
 */
const subordinateIds: Check = {
  id: 'userns.subid',
  group: 'Namespaces',
  title: 'subordinate IDs',
  need: 'subordinate IDs for --userns=auto',
  required: false,
  async run({ probe }) {
    const lent = async (file: string) => {
      const lines = ((await probe.machine.readText(file)) ?? '').split('\n');
      return lines.map((line) => line.trim().split(':')).filter(([owner, start, count]) => owner === 'containers' && Number(start) >= 0 && Number(count) > 0).reduce((sum, [, , count]) => sum + Number(count), 0);
    };
    const [uids, gids] = [await lent('/etc/subuid'), await lent('/etc/subgid')];
    const helpers = (await probe.locate('newuidmap')) && (await probe.locate('newgidmap'));
    const missing = [!uids && '/etc/subuid', !gids && '/etc/subgid'].filter(Boolean);
    const fixes = [
      ...(missing.length ? ['run `echo containers:2147483647:2147483648 | sudo tee -a /etc/subuid /etc/subgid` (podman\'s convention)'] : []),
      ...(helpers ? [] : [aptInstall('uidmap')]),
    ];
    const found = `${missing.length ? `no range for "containers" in ${missing.join(' and ')}` : `"containers" is lent ${uids} uids and ${gids} gids`}${helpers ? '' : '; newuidmap and newgidmap are missing'}`;
    return fixes.length ? { ok: false, found, fix: fixes.join('; ') } : { ok: true, found };
  },
};

/**
 * minidocker without root, for the user who runs the doctor (or who ran sudo): its own ranges in
 * /etc/subuid and /etc/subgid (the pause process's map), slirp4netns and a /dev/net/tun it may open (its
 * network), and whether limits can apply (cgroup v2: systemd delegates the user a subtree).
 */
const rootlessMinidocker: Check = {
  id: 'userns.rootless',
  group: 'Namespaces',
  title: 'rootless minidocker',
  need: 'what minidocker needs without root',
  required: false,
  async run({ probe }) {
    const user = process.env.SUDO_USER || process.env.USER || process.env.LOGNAME || '';
    const uid = process.env.SUDO_UID ?? String(probe.machine.euid() ?? '');
    const owns = async (file: string) => ((await probe.machine.readText(file)) ?? '').split('\n').some((line) => {
      const [owner, start, count] = line.trim().split(':');
      return (owner === user || owner === uid) && Number(start) >= 0 && Number(count) > 0;
    });
    const problems: string[] = [];
    const fixes: string[] = [];
    if (!user || user === 'root') return { ok: true, found: 'run by root: run `npm run doctor` as the user who will use minidocker without sudo' };
    if (!(await owns('/etc/subuid')) || !(await owns('/etc/subgid'))) {
      problems.push(`${user} has no range in /etc/subuid or /etc/subgid`);
      fixes.push(`run \`sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${user}\` (a range no other user has)`);
    }
    if (!(await probe.locate('slirp4netns'))) {
      problems.push('slirp4netns is missing');
      fixes.push(aptInstall('slirp4netns'));
    }
    const stat = await probe.locate('stat');
    const tun = stat ? await probe.machine.run(stat.path, ['-c', '%a', '/dev/net/tun']) : null;
    if (tun?.exitCode === 0 && tun.stdout.trim() !== '666') {
      problems.push(`/dev/net/tun is ${tun.stdout.trim()}, not 666 (slirp4netns needs it)`);
      fixes.push('run `sudo chmod 0666 /dev/net/tun` (udev\'s default on Debian and Ubuntu)');
    }
    const v2 = (await probe.machine.fsType('/sys/fs/cgroup')) === 'cgroup2fs';
    const limits = v2 ? 'limits through systemd\'s delegation (a login session, or `loginctl enable-linger`)' : 'no limits (cgroup v1: only root writes its files)';
    return problems.length ? { ok: false, found: `${problems.join('; ')}; ${limits}`, fix: fixes.join('; ') } : { ok: true, found: `${user}'s ranges, slirp4netns; ${limits}` };
  },
};

// --- cgroups -------------------------------------------------------------------------------------

const cgroupVersion: Check = {
  id: 'cgroup.version',
  group: 'cgroups',
  title: 'version',
  need: 'a mounted cgroup file system',
  required: true,
  async run({ probe }) {
    const facts = await probe.cgroupFacts();
    const found = describeLayout(facts);
    switch (facts.layout.kind) {
      case 'v2':
        return { ok: true, found };
      case 'hybrid':
      case 'v1':
        return {
          ok: true,
          found,
          hint: `the lab uses v1 here; the course VMs use v2. To switch: ${bootParameterFix({ add: 'systemd.unified_cgroup_hierarchy=1' })}`,
        };
      case 'none':
        return { ok: false, found, fix: 'run `sudo mount -t cgroup2 none /sys/fs/cgroup`' };
    }
  },
};

function controllerCheck(name: LabController, purpose: string): Check {
  return {
    id: `cgroup.${name}`,
    group: 'cgroups',
    title: name,
    need: `the cgroup ${name} controller (${purpose})`,
    required: true,
    run: async ({ probe }) => controllerOutcome(name, await probe.cgroupFacts()),
  };
}

/** Docker prints "WARNING: No swap limit support" for the same reason; the fix is the same too. */
function swapAccountingFix(cmdline: string): string {
  return bootParameterValues(cmdline, 'swapaccount').includes('0')
    ? bootParameterFix({ remove: 'swapaccount=0' })
    : bootParameterFix({ add: 'swapaccount=1' });
}

const swap: Check = {
  id: 'cgroup.swap',
  group: 'cgroups',
  title: 'swap accounting',
  need: 'memory+swap accounting',
  required: false,
  async run({ probe }) {
    const { layout, v2SubtreeControl, cmdline } = await probe.cgroupFacts();
    const machine = probe.machine;
    if (layout.active === 'v1') {
      const memory = layout.v1Mounts.memory;
      if (!memory) return { ok: false, found: 'memory controller not mounted', fix: 'fix the memory line above first' };
      // v1 limits memory+swap together in memory.memsw.limit_in_bytes; the file is absent without swap accounting.
      return (await machine.exists(`${memory}/memory.memsw.limit_in_bytes`))
        ? { ok: true, found: 'v1, memory.memsw.limit_in_bytes present' }
        : { ok: false, found: 'v1, no memory.memsw.* files', fix: swapAccountingFix(cmdline) };
    }
    if (layout.active === 'v2' && layout.v2Mount) {
      const root = layout.v2Mount;
      // The root cgroup has no memory.* limit files: look at child cgroups that have the memory controller.
      if (!v2SubtreeControl?.includes('memory')) {
        return {
          ok: false,
          found: 'unknown until memory is enabled for child cgroups',
          fix: `run \`echo +memory | sudo tee ${root}/cgroup.subtree_control\``,
        };
      }
      const own = ownV2Cgroup((await machine.readText('/proc/self/cgroup')) ?? '');
      const children = ((await machine.listDir(root)) ?? []).map((entry) => `${root}/${entry}`);
      const candidates = [...(own && own !== '/' ? [`${root}${own}`] : []), ...children];
      let sawMemory = false;
      for (const dir of candidates) {
        if (await machine.exists(`${dir}/memory.swap.max`)) return { ok: true, found: `v2, ${dir}/memory.swap.max present` };
        if (await machine.exists(`${dir}/memory.max`)) sawMemory = true;
      }
      return sawMemory
        ? { ok: false, found: 'v2, child cgroups have memory.max but no memory.swap.max', fix: swapAccountingFix(cmdline) }
        : { ok: false, found: 'unknown: no child cgroup with the memory controller yet', fix: 'run the doctor again after lesson 4 made a cgroup' };
    }
    return { ok: false, found: 'no cgroup file system mounted', fix: 'fix the cgroup version line above first' };
  },
};

// --- Filesystems ---------------------------------------------------------------------------------

const overlay: Check = {
  id: 'fs.overlay',
  group: 'Filesystems',
  title: 'overlayfs',
  need: 'overlayfs',
  required: true,
  async run({ probe }) {
    const machine = probe.machine;
    // /proc/filesystems lists the types the running kernel can mount right now ("nodev\toverlay").
    const filesystems = (await machine.readText('/proc/filesystems')) ?? '';
    if (filesystems.split('\n').some((line) => line.trim().split(/\s+/).at(-1) === 'overlay')) {
      return { ok: true, found: 'overlay in /proc/filesystems' };
    }
    const modules = `/lib/modules/${machine.kernelRelease()}`;
    const modulesDep = await machine.readText(`${modules}/modules.dep`);
    if (modulesDep === null) {
      return {
        ok: false,
        found: `not in /proc/filesystems, and no ${modules}/modules.dep`,
        fix: `if you just upgraded the kernel, reboot into it; otherwise ${STOCK_KERNEL_FIX}`,
      };
    }
    if (/\/overlay\.ko/.test(modulesDep)) {
      // The first mount -t overlay makes the kernel load the module itself (request_module("fs-overlay")),
      // which is the state of a freshly booted Debian or Ubuntu machine: nothing to fix.
      return {
        ok: true,
        found: 'a module, loaded by the kernel on the first overlay mount',
        hint: 'to load it now: `sudo modprobe overlay`',
      };
    }
    return { ok: false, found: 'no overlay in /proc/filesystems nor in the modules', fix: `your kernel lacks CONFIG_OVERLAY_FS: ${STOCK_KERNEL_FIX}` };
  },
};

// --- Network tools -------------------------------------------------------------------------------

/** "at /usr/sbin/ip", plus a hint when the tool is only reachable outside $PATH. */
function whereHint(located: Located): { at: string; hint?: string } {
  if (located.onPath) return { at: `at ${located.path}` };
  const dir = located.path.slice(0, located.path.lastIndexOf('/'));
  return {
    at: `at ${located.path} (not on PATH)`,
    hint: `${dir} is not on your PATH (usual for non-root users on Debian): run \`export PATH="$PATH:/usr/sbin:/sbin"\` before \`sudo env "PATH=$PATH" ...\``,
  };
}

const ip: Check = {
  id: 'net.ip',
  group: 'Network tools',
  title: 'ip',
  need: 'the `ip` command (iproute2)',
  required: true,
  async run({ probe }) {
    const located = await probe.locate('ip');
    if (!located) return { ok: false, found: 'not found', fix: aptInstall('iproute2') };
    // `ip -V` prints "ip utility, iproute2-6.1.0, libbpf 1.1.0".
    const { stdout } = await probe.machine.run(located.path, ['-V']);
    const version = /iproute2-(\S+?),?(\s|$)/.exec(stdout)?.[1];
    const { at, hint } = whereHint(located);
    return { ok: true, found: `${version ? `iproute2 ${version} ` : ''}${at}`, ...(hint ? { hint } : {}) };
  },
};

const iptables: Check = {
  id: 'net.iptables',
  group: 'Network tools',
  title: 'iptables',
  need: 'iptables',
  required: true,
  async run({ probe }) {
    const located = await probe.locate('iptables');
    if (!located) return { ok: false, found: 'not found', fix: aptInstall('iptables') };
    const { stdout, stderr } = await probe.machine.run(located.path, ['--version']);
    const parsed = parseIptablesVersion(stdout || stderr);
    const { at, hint } = whereHint(located);
    if (!parsed) return { ok: true, found: `${at} (version unknown)`, ...(hint ? { hint } : {}) };
    // Since iptables 1.8 the same commands can drive two kernel back ends: the old x_tables ("legacy")
    // or nf_tables. Rules made by one are invisible to the other's `iptables -L`.
    return {
      ok: true,
      found: `v${parsed.version} (${parsed.backend} backend) ${at}`,
      hint:
        hint ??
        (parsed.backend === 'nf_tables' ? 'the rules live in nf_tables: `sudo nft list ruleset` shows them too' : undefined),
    };
  },
};

const bridgeTools: Check = {
  id: 'net.bridge',
  group: 'Network tools',
  title: 'brctl / bridge',
  need: 'brctl (bridge-utils) or `bridge` (iproute2)',
  required: true,
  async run({ probe }) {
    const brctl = await probe.locate('brctl');
    if (brctl) {
      const { at, hint } = whereHint(brctl);
      return { ok: true, found: `brctl ${at}`, ...(hint ? { hint } : {}) };
    }
    const bridge = await probe.locate('bridge');
    if (bridge) {
      return {
        ok: true,
        found: `no brctl; bridge (iproute2) ${whereHint(bridge).at}`,
        hint: `the course's examples use brctl: ${aptInstall('bridge-utils')}`,
      };
    }
    return { ok: false, found: 'neither brctl nor bridge found', fix: aptInstall('bridge-utils') };
  },
};

// --- Process tools -------------------------------------------------------------------------------

const tini: Check = {
  id: 'proc.tini',
  group: 'Process tools',
  title: 'tini',
  need: "a static tini (Docker's --init)",
  required: true,
  async run({ probe }) {
    // A static build, because from lesson 03 on it runs inside a root filesystem with no C library.
    const path = '/usr/bin/tini-static';
    const bytes = await probe.machine.readBytes(path, 64 * 1024);
    if (!bytes) return { ok: false, found: `no ${path}`, fix: aptInstall('tini') };
    const linkage = elfLinkage(bytes);
    if (linkage?.kind !== 'static') return { ok: false, found: `${path} is not a static program`, fix: aptInstall('tini') };
    return { ok: true, found: `static at ${path}` };
  },
};

/** Lesson 07's seccomp filters are compiled by libseccomp, as runc's and crun's are. */
const LIBSECCOMP_PATHS = ['x86_64-linux-gnu', 'aarch64-linux-gnu', 'arm-linux-gnueabihf']
  .flatMap((triplet) => [`/usr/lib/${triplet}/libseccomp.so.2`, `/lib/${triplet}/libseccomp.so.2`]);

const seccomp: Check = {
  id: 'sec.seccomp',
  group: 'System',
  title: 'libseccomp',
  need: 'libseccomp, which compiles seccomp profiles (lesson 07)',
  required: true,
  async run({ probe }) {
    for (const path of LIBSECCOMP_PATHS) {
      if (await probe.machine.readBytes(path, 4)) return { ok: true, found: path };
    }
    return { ok: false, found: 'no libseccomp.so.2', fix: aptInstall('libseccomp2') };
  },
};

/** A check that some plain programs are on PATH, e.g. `ps`, `ipcmk` and `ipcs`. */
function programsCheck(id: string, group: Group, programs: readonly string[], need: string, packages: string): Check {
  return {
    id,
    group,
    title: programs.join(', '),
    need,
    required: true,
    async run({ probe }) {
      const missing: string[] = [];
      for (const program of programs) if (!(await probe.locate(program))) missing.push(program);
      if (missing.length === 0) return { ok: true, found: `${programs.join(', ')} found` };
      return { ok: false, found: `${missing.join(', ')} not found`, fix: aptInstall(packages) };
    },
  };
}

const processTools = programsCheck('proc.tools', 'Process tools', ['ps', 'ipcmk', 'ipcs'], 'ps (procps) and ipcmk/ipcs (util-linux)', 'procps util-linux');

// Lesson 06 enters namespaces with nsenter, drops privileges with setpriv and bounds waits with timeout.
const networkHelpers = programsCheck('net.helpers', 'Network tools', ['nsenter', 'setpriv', 'timeout'], 'nsenter, setpriv (util-linux) and timeout (coreutils)', 'util-linux coreutils');

// --- Images --------------------------------------------------------------------------------------

const busybox: Check = {
  id: 'image.busybox',
  group: 'Images',
  title: 'busybox',
  need: 'a static busybox',
  required: true,
  async run({ probe }) {
    const fix = `${aptInstall('busybox-static')} (the Debian/Ubuntu \`busybox\` package is dynamically linked; busybox-static replaces it)`;
    const candidates = await probe.locateAll('busybox');
    if (candidates.length === 0) return { ok: false, found: 'not found', fix };
    let dynamic: string | null = null;
    for (const { path } of candidates) {
      const bytes = await probe.machine.readBytes(path, 64 * 1024);
      const linkage = bytes ? elfLinkage(bytes) : null;
      if (linkage?.kind === 'static') {
        const { stdout, stderr } = await probe.machine.run(path, ['--help']);
        const version = /BusyBox v\S+/.exec(stdout || stderr)?.[0];
        return { ok: true, found: `static${version ? `, ${version}` : ''} at ${path}` };
      }
      if (linkage?.kind === 'dynamic' && dynamic === null) {
        dynamic = `${path} is dynamically linked${linkage.interpreter ? ` (needs ${linkage.interpreter})` : ''}`;
      }
    }
    return { ok: false, found: dynamic ?? `${candidates[0]!.path} is not an ELF program`, fix };
  },
};

// --- Optional ------------------------------------------------------------------------------------

function optionalTool(id: string, program: string, title: string, pkg: string, purpose: string): Check {
  return {
    id,
    group: 'Optional',
    title,
    need: `${program} (${purpose})`,
    required: false,
    async run({ probe }) {
      const located = await probe.locate(program);
      if (!located) return { ok: false, found: `not found (used by ${purpose})`, fix: aptInstall(pkg) };
      const { stdout } = await probe.machine.run(located.path, ['--version']);
      const firstLine = stdout.split('\n')[0]?.trim();
      return { ok: true, found: `${firstLine ? `${firstLine} ` : ''}${whereHint(located).at}` };
    },
  };
}

// --- the catalog ---------------------------------------------------------------------------------

/** Every check, in the order the doctor prints them. */
export const CHECKS: readonly Check[] = [
  root,
  node,
  kernel,
  namespaceCheck('uts'),
  namespaceCheck('ipc'),
  namespaceCheck('pid'),
  namespaceCheck('mnt'),
  namespaceCheck('net'),
  namespaceCheck('cgroup'),
  namespaceCheck('user', false),
  unprivilegedUserns,
  subordinateIds,
  rootlessMinidocker,
  tini,
  processTools,
  cgroupVersion,
  controllerCheck('cpu', 'CPU time'),
  controllerCheck('memory', 'memory limits'),
  controllerCheck('pids', 'process count limits'),
  swap,
  overlay,
  ip,
  iptables,
  bridgeTools,
  networkHelpers,
  busybox,
  seccomp,
  optionalTool('opt.docker', 'docker', 'docker CLI', 'docker.io', "lesson 9's real client"),
  optionalTool('opt.runc', 'runc', 'runc', 'runc', 'the benchmark'),
  optionalTool('opt.crun', 'crun', 'crun', 'crun', 'the benchmark'),
  optionalTool('opt.qemu', 'qemu-system-x86_64', 'qemu', 'qemu-system-x86', 'the VM test'),
];

export type CheckId = string;

export function checkById(id: CheckId): Check {
  const check = CHECKS.find((c) => c.id === id);
  if (!check) throw new Error(`unknown doctor check "${id}"`);
  return check;
}

/** What each lesson adds to the lessons before it. */
export const LESSON_NEEDS: Readonly<Record<number, readonly CheckId[]>> = {
  1: ['system.root', 'system.node', 'system.kernel', 'ns.uts'],
  2: ['ns.pid', 'ns.ipc', 'ns.mnt', 'proc.tools', 'proc.tini'],
  3: ['ns.mnt', 'image.busybox'],
  4: ['cgroup.version', 'cgroup.cpu', 'cgroup.memory', 'cgroup.pids'],
  5: ['fs.overlay'],
  6: ['ns.net', 'net.ip', 'net.iptables', 'net.bridge', 'net.helpers'],
  7: ['sec.seccomp'],
  // Containers of its own made with unshare, nsenter and setpriv (lesson 06's net.helpers), mapped by the runtime.
  8: ['ns.user'],
  // The daemon runs full containers: everything above. The docker CLI is optional (opt.docker).
  9: [],
};

/** The numbers of the lessons the table knows (a course may skip a number while a lesson is written). */
/**
 * Why a lesson needs the machine's root, or null when it runs without: as root of the user's own user
 * namespace (lesson 08's rootless.ts), where namespaces, mounts and overlayfs are the user's to make.
 */
export const LESSON_NEEDS_ROOT: Readonly<Record<number, string | null>> = {
  1: null,
  2: null,
  3: null,
  4: 'its cgroups are made in the machine\'s own cgroup tree, which only root may write',
  5: null,
  6: 'veth pairs, the bridge and NAT rules change the host\'s network, which only root may',
  7: 'its device cgroup rules are written into the machine\'s cgroups, which only root may',
  8: 'it maps IDs that are not yours (100000–165535) into namespaces, which only root may',
  9: null,
};

const LESSON_NUMBERS = Object.keys(LESSON_NEEDS).map(Number).sort((a, b) => a - b);
export const LAST_LESSON = LESSON_NUMBERS.at(-1)!;

/** A lesson number or the final docker-like runtime. */
export type LessonTarget = number | 'final';

/** The checks a lesson needs, in the order they are tried: its own plus those of every earlier lesson. */
export function checksFor(lesson: LessonTarget): CheckId[] {
  if (lesson === 'final') return CHECKS.filter((c) => c.required).map((c) => c.id);
  if (!LESSON_NUMBERS.includes(lesson)) {
    throw new RangeError(`there is no lesson ${lesson} (lessons are ${LESSON_NUMBERS.join(', ')}, or 'final')`);
  }
  const ids: CheckId[] = [];
  for (let n = 1; n <= lesson; n++) {
    for (const id of LESSON_NEEDS[n] ?? []) if (!ids.includes(id)) ids.push(id);
  }
  return ids;
}

/** The first lesson that needs a check ("final" for checks only the final runtime needs, null for optional ones). */
export function firstNeededBy(id: CheckId): LessonTarget | null {
  for (let n = 1; n <= LAST_LESSON; n++) if (LESSON_NEEDS[n]?.includes(id)) return n;
  return checkById(id).required ? 'final' : null;
}
