/**
 * Lesson 06 as the TUI shows it: docker0 rebuilt, one command at a time. The host pane shows the
 * host's network (brctl, ip, iptables) and the commands each step ran; the container pane shows each
 * container's own stack.
 *
 *   npm run lesson 6                   on the machine's own network stack (on subnets no route there uses)
 *   npm run lesson 6 -- --sandbox      in a throwaway namespace playing the host
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { LessonContext, LessonFactory, LessonStep, PaneRow } from '../../src/course/lesson.js';
import { initBundle } from '../../src/build/bundle.js';
import { createContainer, type Container } from '../../src/container/runtime.js';
import { makePlan, type ContainerPlan, type NamespaceKind } from '../../src/container/plan.js';
import { newContainerId } from '../../src/container/id.js';
import { pidFeature } from '../02-pid/feature.js';
import { defaultHostname } from '../01-uts/uts.js';
import { utsFeature } from '../01-uts/feature.js';
import { commandLine, NetworkHost, type CommandResult } from './commands.js';
import { parseLinkNames } from './iproute.js';
import {
  addressPool, bringUpLoopback, configureContainerInterface, connectContainer, createBridge, createVethPair, disconnectContainer,
  enableOutboundNat, enablePortPublishing, publishPort, removeNetwork, vethNames,
  type Endpoint, type NetworkMode,
} from './network.js';
import { startNetworkedContainer, type NetworkedContainer } from './containers.js';
import { parsePublish } from './ports.js';
import { createOutside, createSandbox, removeNetns, removeOrphanedNetns, SANDBOX_PREFIX, sessionFolder, type Outside } from './sandbox.js';
import { chooseNetworks } from './subnets.js';

/**
 * Sandbox or real host? `npm run lesson 6 -- --sandbox` sets context.sandbox; the environment variable
 * LAB_NET_SANDBOX=1 does the same (handy for a whole test run, like the VM suite's).
 */
export function wantsSandbox(context: LessonContext, env: NodeJS.ProcessEnv = process.env): boolean {
  return context.sandbox === true || env.LAB_NET_SANDBOX === '1';
}

/** A container like the earlier lessons' (its own host name, PIDs, IPC, mounts and /proc), without its network yet. */
export function networkLessonPlan(args: string[], id = newContainerId()): ContainerPlan {
  const namespaces: NamespaceKind[] = ['uts', 'pid', 'ipc', 'mnt'];
  return makePlan({
    id,
    namespaces,
    steps: [
      utsFeature.step('hostname', { hostname: defaultHostname(id) }),
      pidFeature.step('mountProc', {}),
    ],
    process: { args },
  });
}

/** One lab container on screen. */
interface Shown {
  name: string;
  mode: string;
  container: Container;
  /** For bridge containers wired step by step (web): the endpoint, once it exists. */
  endpoint: Endpoint | null;
  destroy(): Promise<void>;
}

/** One step: its title and narration may name this run's subnets and port, so each step is made for the run. */
type StepOf = (lab: NetworkLab) => LessonStep;

/** The lesson, step by step: each function below makes one step (title, narration, what it runs). */
const steps: StepOf[] = [
  onlyLoopback,
  aBridge,
  aVethPair,
  anAddressAndARoute,
  aSecondContainer,
  outToTheWorld,
  publishFromPrerouting,
  publishFromOutputToo,
  networkNone,
  networkHost,
  networkContainer,
  containersGone,
];

const lesson: LessonFactory = (context) => ({
  number: 6,
  slug: '06-network',
  title: 'Network — veth, a bridge, NAT and published ports: docker0 rebuilt',
  async start() {
    const lab = await NetworkLab.open(context);
    return {
      steps: steps.map((makeStep) => {
        const step = makeStep(lab);
        // Each step's pane lists the commands it ran and the results it noted, from its start.
        return {
          ...step,
          run: () => {
            lab.beginStep();
            return step.run();
          },
        };
      }),
      snapshot: async () => ({ host: await hostRows(lab), container: await containerRows(lab) }),
      shell() {
        const entry = lab.web() ?? lab.shown.at(-1);
        if (!entry) return null;
        return {
          file: process.execPath,
          args: [lab.bundleFile, 'enter', String(entry.container.pid)],
          banner: `A shell in "${entry.name}" (PID ${entry.container.pid}). Try ip addr, ip route, busybox ping ${lab.network.gateway}. Type exit to return.`,
        };
      },
      close: () => lab.close(),
    };
  },
});

export default lesson;

// ---------------------------------------------------------------------------------------------------
// The steps

function onlyLoopback(lab: NetworkLab): LessonStep {
  const { host, network, context } = lab;
  return {
    title: 'A network namespace of its own: only lo',
    narration:
      (lab.sandboxed
        ? `The "host" is ${lab.sandbox}, a network namespace made with \`ip netns add\`: everything this lesson builds lives there and goes with it. `
        : 'This runs on your machine\'s own network stack: it adds labbr0, lab… veths, LAB-… iptables chains, and removes them all when you quit. ') +
      'The container "web" runs busybox httpd. Its init called unshare(CLONE_NEWNET): a new network namespace has exactly one ' +
      'interface, lo, and even that is down. The runtime switches it on from outside (CNI has a plugin, "loopback", just for that).',
    run: async () => {
      const plan = networkLessonPlan(['busybox', 'httpd', '-f', '-p', '80', '-h', lab.www]);
      const container = await createContainer({ ...plan, namespaces: [...plan.namespaces, 'net'] }, { stdio: 'ignore', bundle: context.bundle });
      const entry: Shown = {
        name: 'web',
        mode: 'bridge',
        container,
        endpoint: null,
        destroy: async () => {
          await container.destroy();
          if (entry.endpoint) await disconnectContainer(host, entry.endpoint, network);
          entry.endpoint = null;
        },
      };
      await lab.replaceEntry('web', entry);
      await bringUpLoopback(host, container.pid);
      await container.start();
    },
  };
}

function aBridge(lab: NetworkLab): LessonStep {
  return {
    title: 'docker0 rebuilt: a bridge called labbr0',
    narration:
      'A Linux bridge is a virtual switch inside the kernel: interfaces plugged into it ("ports", see `brctl show`) exchange ' +
      `Ethernet frames. Give it an address, ${lab.network.gateway}/24, and it is also the host's own interface on that ` +
      'subnet: the containers\' gateway. Docker makes docker0 (172.17.0.1/16) the same way when the daemon starts.',
    run: async () => {
      await createBridge(lab.host, lab.network);
    },
  };
}

function aVethPair(lab: NetworkLab): LessonStep {
  const { host, network } = lab;
  return {
    title: 'A veth pair: eth0 in the container, its twin on the bridge',
    narration:
      'A veth pair is two interfaces joined back to back: a frame sent into one comes out of the other, copied in kernel ' +
      'memory. One end is moved into the container (`ip link set … netns PID`) and renamed eth0; the other stays on the host ' +
      'and becomes a port of labbr0. The address comes from the lab\'s IPAM: the lowest free one, leased in a file.',
    run: async () => {
      const entry = lab.web()!;
      const pid = entry.container.pid;
      const lease = addressPool(host, network).allocate({ containerId: entry.container.plan.id, pid });
      const names = vethNames(entry.container.plan.id);
      entry.endpoint = { containerId: entry.container.plan.id, pid, address: lease.address, hostVeth: names.host, published: [] };
      lab.notes.push(`IPAM: leased ${lease.address} to ${entry.container.plan.id.slice(0, 12)} (${addressPool(host, network).leaseDir}/${lease.address})`);
      await createVethPair(host, names, pid);
      await host.run(['ip', 'link', 'set', names.host, 'master', network.bridge]);
      await host.run(['ip', 'link', 'set', names.host, 'up']);
    },
  };
}

function anAddressAndARoute(lab: NetworkLab): LessonStep {
  const { host, network } = lab;
  return {
    title: 'An address and a default route: host ↔ container',
    narration:
      'Inside: the leased address on eth0 (with /24 the kernel adds the route to the bridge\'s subnet by itself), eth0 up, and ' +
      `everything else via ${network.gateway}, the bridge. Now the host reaches the container and back — the host through ` +
      'labbr0, a route the bridge\'s own address gave it.',
    run: async () => {
      const entry = lab.web()!;
      await configureContainerInterface(host, entry.container.pid, `${entry.endpoint!.address}/24`, network.gateway);
      await lab.ping(`host → web ${entry.endpoint!.address}`, lab.onHost, entry.endpoint!.address);
      await lab.ping(`web → host ${network.gateway}`, lab.inside(entry), network.gateway);
    },
  };
}

function aSecondContainer(lab: NetworkLab): LessonStep {
  const { host, network, context } = lab;
  return {
    title: 'A second container on the same bridge',
    narration:
      'The container "client" gets the same treatment in one go (the library\'s connectContainer): the next address, a veth ' +
      'pair of its own, a second port on labbr0. The bridge switches frames between its ports, so client and web talk ' +
      'directly — no routing, no NAT: `brctl show` lists both veths.',
    run: async () => {
      const plan = networkLessonPlan(['sleep', 'infinity']);
      const container = await createContainer({ ...plan, namespaces: [...plan.namespaces, 'net'] }, { stdio: 'ignore', bundle: context.bundle });
      let endpoint: Endpoint | null = null;
      const entry: Shown = {
        name: 'client',
        mode: 'bridge',
        container,
        endpoint: null,
        destroy: async () => {
          await container.destroy();
          if (endpoint) await disconnectContainer(host, endpoint, network);
          endpoint = null;
        },
      };
      await lab.replaceEntry('client', entry);
      endpoint = await connectContainer(host, { id: plan.id, pid: container.pid }, { mode: 'bridge' }, network);
      entry.endpoint = endpoint;
      await container.start();
      await lab.ping(`client → web ${lab.web()!.endpoint!.address}`, lab.inside(entry), lab.web()!.endpoint!.address);
      await lab.fetch(`client → http://${lab.web()!.endpoint!.address}/`, lab.inside(entry), `http://${lab.web()!.endpoint!.address}/`);
    },
  };
}

function outToTheWorld(lab: NetworkLab): LessonStep {
  const { host, network, outsideNetwork } = lab;
  return {
    title: 'Out to the world: IP forwarding and MASQUERADE',
    narration:
      `A network namespace "outside" (${outsideNetwork.address}) plays another machine: it knows no way to ${network.subnet}. First the ` +
      'client tries to reach it as is: the host neither forwards packets nor rewrites them, so nothing comes back. Then ' +
      'net.ipv4.ip_forward=1 and a MASQUERADE rule for traffic from the subnet that leaves by another interface: the outside ' +
      `sees the host's address, ${outsideNetwork.hostAddress}, and conntrack takes the replies back to the container.`,
    run: async () => {
      lab.outside ??= await createOutside(host, lab.folder, outsideNetwork);
      lab.outside.serveWhoami();
      const client = lab.shown.find((entry) => entry.name === 'client');
      await lab.fetch(`before: client → http://${outsideNetwork.address}/cgi-bin/whoami`, lab.inside(client), `http://${outsideNetwork.address}/cgi-bin/whoami`, 1);
      const { enabledForwarding } = await enableOutboundNat(host, network);
      if (enabledForwarding) lab.notes.push(`net.ipv4.ip_forward was 0 on ${host.label}: the lab set it to 1 and sets it back when you quit`);
      await lab.fetch(`after: client → outside, which sees the request coming from`, lab.inside(client), `http://${outsideNetwork.address}/cgi-bin/whoami`);
    },
  };
}

function publishFromPrerouting(lab: NetworkLab): LessonStep {
  const { host, network, outsideNetwork, hostPort } = lab;
  return {
    title: `-p ${hostPort}:80, with a DNAT rule jumped to from PREROUTING only`,
    narration:
      `Publishing web's port 80 as the host's ${hostPort}: a DNAT rule in the chain LAB-DNAT (Docker's: DOCKER) rewrites the ` +
      `destination of packets for the host's own addresses, port ${hostPort}, to web:80. The nat table's PREROUTING jumps to the ` +
      'chain — and that is enough for the outside machine. But a connection the host ITSELF opens never passes PREROUTING: ' +
      'it starts in OUTPUT. Watch it fail.',
    run: async () => {
      await enablePortPublishing(host, { fromOutput: false });
      await publishPort(host, lab.web()!.endpoint!, parsePublish(`${hostPort}:80`), network);
      await lab.fetch(`outside → http://${outsideNetwork.hostAddress}:${hostPort}/`, lab.inOutside, `http://${outsideNetwork.hostAddress}:${hostPort}/`);
      await lab.fetch(`host itself → http://${outsideNetwork.hostAddress}:${hostPort}/`, lab.onHost, `http://${outsideNetwork.hostAddress}:${hostPort}/`, 1);
    },
  };
}

function publishFromOutputToo(lab: NetworkLab): LessonStep {
  const { host, network, outsideNetwork, hostPort } = lab;
  return {
    title: '…and from OUTPUT: the host\'s own connections too',
    narration:
      'A second jump to LAB-DNAT, from OUTPUT, and the host reaches the port on any of its addresses. Not on 127.0.0.1: a ' +
      'packet from 127.0.0.1 may not leave the loopback interface, so Docker leaves 127.0.0.0/8 out of this jump (as the lab ' +
      'does) and answers localhost with a userland proxy, docker-proxy. The client container also gets in through the host\'s ' +
      'address ("hairpin"): LAB-SNAT masquerades it, or web would answer it directly over the bridge.',
    run: async () => {
      await enablePortPublishing(host, { fromOutput: true });
      await lab.fetch(`host itself → http://${outsideNetwork.hostAddress}:${hostPort}/`, lab.onHost, `http://${outsideNetwork.hostAddress}:${hostPort}/`);
      await lab.fetch(`host itself → http://${network.gateway}:${hostPort}/`, lab.onHost, `http://${network.gateway}:${hostPort}/`);
      await lab.fetch(`host itself → http://127.0.0.1:${hostPort}/ (not DNAT'ed)`, lab.onHost, `http://127.0.0.1:${hostPort}/`, 1);
      const client = lab.shown.find((entry) => entry.name === 'client');
      await lab.fetch(`client → http://${network.gateway}:${hostPort}/ (hairpin)`, lab.inside(client), `http://${network.gateway}:${hostPort}/`);
    },
  };
}

function networkNone(lab: NetworkLab): LessonStep {
  return {
    title: '--network none: a namespace with lo and nothing else',
    narration:
      'Docker\'s none mode: a network namespace of its own, lo up, no veth, no address. The container can only talk to ' +
      'itself. This time init switched lo on itself, with two ioctls right after unshare (as runc does): the host ran nothing. The seed articles wire such a container by hand — ip link add, ip link set … netns $PID, ip addr, ip route — ' +
      'the very commands steps 3 and 4 ran.',
    run: async () => {
      await lab.startInMode('none', ['sleep', 'infinity'], { mode: 'none' });
    },
  };
}

function networkHost(lab: NetworkLab): LessonStep {
  return {
    title: '--network host: no network namespace at all',
    narration:
      (lab.sandboxed
        ? 'Host mode joins the host\'s network namespace: here the sandbox\'s (/run/netns/' + lab.sandbox + '), on a real machine simply none of its own. '
        : 'Host mode: the container gets no network namespace of its own: ') +
      'It sees labbr0, every veth and the host\'s addresses, and a server in it listens on the host\'s ports directly: fast, ' +
      'nothing to publish, and no isolation.',
    run: async () => {
      await lab.startInMode('host-mode', ['sleep', 'infinity'], { mode: 'host' });
    },
  };
}

function networkContainer(lab: NetworkLab): LessonStep {
  return {
    title: '--network container:web: two containers, one stack',
    narration:
      'The new container joins web\'s network namespace by its /proc/PID/ns/net file — setns(2), the way `exec` enters a ' +
      'container. Same eth0, same address, same ports: it reaches web\'s httpd on 127.0.0.1. Kubernetes builds a pod this way: ' +
      'every container of the pod joins the network namespace of one "pause" container.',
    run: async () => {
      const joined = await lab.startInMode('sidecar', ['sleep', 'infinity'], { mode: 'container', pid: lab.web()!.container.pid });
      await lab.fetch('sidecar → http://127.0.0.1/ (web\'s server, same stack)', (argv) => lab.host.inContainer(joined.container.pid, argv, { allowFailure: true }), 'http://127.0.0.1/');
    },
  };
}

function containersGone(lab: NetworkLab): LessonStep {
  const { host, network } = lab;
  return {
    title: 'Containers gone: their veths went with them',
    narration:
      'All containers are killed. When a network namespace dies the kernel deletes its interfaces — and deleting one end of a ' +
      'veth pair deletes the other, so the bridge\'s ports vanish by themselves. What the kernel cannot know about is the ' +
      'lab\'s own bookkeeping: the DNAT and ACCEPT rules and the leases, which the runtime removes (after a kill -9 of the ' +
      'runtime, the next container start does: see cleanUpStale).',
    run: async () => {
      const entries = lab.shown;
      const bridgePorts = async () => parseLinkNames((await host.run(['ip', '-j', 'link', 'show', 'master', network.bridge], { unrecorded: true })).stdout || '[]');
      const before = await bridgePorts();
      for (const entry of entries) await entry.container.destroy();
      const killed = Date.now();
      // The kernel dismantles a dead namespace in the background, a moment after its last process exits.
      while ((await bridgePorts()).length > 0 && Date.now() - killed < 3000) await new Promise((resolve) => setTimeout(resolve, 50));
      const left = await bridgePorts();
      lab.notes.push(`bridge ports before: ${before.join(', ') || 'none'}; ${Date.now() - killed} ms after the kill: ${left.join(', ') || 'none'} (no command removed them)`);
      for (const entry of entries) await entry.destroy();
      lab.notes.push(`leases left: ${addressPool(host, network).leases().map((lease) => lease.address).join(', ') || 'none'}`);
      lab.shown = [];
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// What one run of the lesson holds: its "host", the networks it picked, the containers on screen

type Networks = Awaited<ReturnType<typeof chooseNetworks>>;
/** Runs a command somewhere (the host, a container, the outside) without failing on a non-zero exit. */
type Runner = (argv: string[]) => Promise<CommandResult>;

class NetworkLab {
  shown: Shown[] = [];
  outside: Outside | undefined;
  /** What the current step's checks found, one line each. */
  notes: string[] = [];
  /** Where the current step's commands begin in host.history. */
  stepStart = 0;

  private constructor(
    readonly context: LessonContext,
    readonly bundleFile: string,
    readonly sandboxed: boolean,
    public sandbox: string | null,
    /** This run's temporary files. */
    readonly folder: string,
    readonly host: NetworkHost,
    readonly network: Networks['network'],
    readonly outsideNetwork: Networks['outside'],
    readonly hostPort: number,
    /** The folder web's httpd serves. */
    readonly www: string,
  ) {}

  static async open(context: LessonContext): Promise<NetworkLab> {
    const bundleFile = await initBundle(context.bundle);
    const sandboxed = wantsSandbox(context);
    let sandbox: string | null = null;
    if (sandboxed) {
      for (const prefix of [SANDBOX_PREFIX, `${SANDBOX_PREFIX}-out`]) removeOrphanedNetns(prefix);
      sandbox = createSandbox();
    } else {
      removeOrphanedNetns('lab-out');
    }
    // This run's temporary files; a sandbox's leases are as throwaway as the sandbox, so they go there too.
    const folder = sessionFolder();
    const host = new NetworkHost({ sandbox, ...(sandboxed ? { stateDir: path.join(folder, 'state') } : {}) });
    let hostPort = 8080;

    // Free subnets for the bridge and the outside: on a real host, ones no route there uses yet.
    const { network, outside: outsideNetwork } = await chooseNetworks(host);
    if (!sandboxed) {
      await removeNetwork(host, network); // what a killed session left, unless a live container still uses it
      hostPort = await pickHostPort(host);
    }
    const www = mkdtempSync(path.join(folder, 'web-'));
    const token = `hello from the web container (${Math.random().toString(16).slice(2, 10)})`;
    writeFileSync(path.join(www, 'index.html'), `${token}\n`);
    return new NetworkLab(context, bundleFile, sandboxed, sandbox, folder, host, network, outsideNetwork, hostPort, www);
  }

  web(): Shown | undefined {
    return this.shown.find((entry) => entry.name === 'web');
  }

  beginStep(): void {
    this.stepStart = this.host.history.length;
    this.notes = [];
  }

  /** Runs a check and writes its outcome as a note: "✓ host → web: …" or "✗ …". */
  async attempt(what: string, run: () => Promise<CommandResult>): Promise<boolean> {
    const result = await run();
    const output = (result.stdout.trim() || result.stderr.trim()).split('\n').filter(Boolean);
    const summary = output.find((line) => /bytes from|packets transmitted/.test(line)) ?? output.at(-1) ?? '';
    const ok = result.exitCode === 0;
    this.notes.push(`${ok ? '✓' : '✗'} ${what}${summary ? `: ${summary}` : ok ? '' : ` (exit ${result.exitCode}${result.exitCode === 124 ? ': timed out' : ''})`}`);
    return ok;
  }

  ping(what: string, run: Runner, address: string): Promise<boolean> {
    return this.attempt(what, () => run(['busybox', 'ping', '-c', '1', '-W', '2', address]));
  }

  /** Retries a moment: a server started a split second ago may not listen yet. */
  async fetch(what: string, run: Runner, url: string, retries = 10): Promise<boolean> {
    for (let attempt = 0; attempt < retries; attempt++) {
      const result = await run(wget(url));
      if (result.exitCode === 0 || attempt === retries - 1) {
        const body = result.stdout.trim();
        const ok = result.exitCode === 0;
        this.notes.push(`${ok ? '✓' : '✗'} ${what}: ${ok ? body : `failed (exit ${result.exitCode}${result.exitCode === 124 ? ': timed out' : ''}) ${result.stderr.trim()}`}`);
        return ok;
      }
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    return false;
  }

  readonly onHost: Runner = (argv) => this.host.run(argv, { allowFailure: true });
  inside(entry: Shown | undefined): Runner {
    return (argv) => this.host.inContainer(entry!.container.pid, argv, { allowFailure: true });
  }
  readonly inOutside: Runner = (argv) => this.outside!.run(argv, { allowFailure: true });

  async replaceEntry(name: string, entry: Shown): Promise<void> {
    await this.shown.find((old) => old.name === name)?.destroy();
    this.shown = [...this.shown.filter((old) => old.name !== name), entry];
  }

  /** Starts a container in `mode`, wired by the library in one go (the modes steps). */
  async startInMode(name: string, args: string[], mode: NetworkMode): Promise<NetworkedContainer> {
    const started = await startNetworkedContainer(this.host, args, mode, {
      registry: this.context.registry, stdio: 'ignore', bundle: this.context.bundle, setUpNetwork: false, network: this.network,
      // The network feature runs its commands on a host of its own: the pane lists them with the lesson's.
      onCommand: (record) => this.host.history.push(record),
    });
    await this.replaceEntry(name, { name, mode: mode.mode === 'container' ? 'container:web' : mode.mode, container: started.container, endpoint: started.endpoint, destroy: started.destroy });
    return started;
  }

  async close(): Promise<void> {
    const entries = this.shown;
    this.shown = [];
    for (const entry of entries) await entry.destroy();
    await this.outside?.remove();
    this.outside = undefined;
    try {
      await removeNetwork(this.host, this.network);
    } finally {
      if (this.sandbox) removeNetns(this.sandbox);
      this.sandbox = null;
      rmSync(this.folder, { recursive: true, force: true });
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// What the panes show

/** What the step did comes first; the state of the host's network below it. */
async function hostRows(lab: NetworkLab): Promise<PaneRow[]> {
  const { host } = lab;
  const ran = host.since(lab.stepStart);
  const rows: PaneRow[] = [
    { label: 'where', value: lab.sandboxed ? `sandbox ${lab.sandbox} (a network namespace playing the host)` : 'the host itself' },
    { label: 'this step ran', value: ran.map((entry) => `${entry.exitCode === 0 ? '$' : `[exit ${entry.exitCode}] $`} ${entry.command}`).join('\n') || '(no commands)' },
    ...(lab.notes.length > 0 ? [{ label: 'results', value: lab.notes.join('\n') }] : []),
  ];
  const read = async (label: string, argv: string[], lines = 30) => {
    const result = await host.run(argv, { unrecorded: true, allowFailure: true });
    rows.push({ label, value: firstLines(result.stdout || result.stderr, lines) || '(nothing)', source: commandLine(host.hostArgv(argv)) });
  };
  await read('bridges', ['brctl', 'show']);
  await read('links', ['ip', '-br', 'link']);
  await read('addresses', ['ip', '-br', '-4', 'addr']);
  await read('nat table', [host.iptablesCommand, '-t', 'nat', '-L', '-n']);
  await read('forwarding', ['sysctl', 'net.ipv4.ip_forward']);
  return rows;
}

/** Each container's own stack: its addresses and routes. */
async function containerRows(lab: NetworkLab): Promise<PaneRow[]> {
  const rows: PaneRow[] = [];
  for (const entry of lab.shown) {
    const label = `${entry.name} (--network ${entry.mode}, PID ${entry.container.pid})`;
    const addresses = await lab.host.inContainer(entry.container.pid, ['ip', '-br', '-4', 'addr'], { unrecorded: true, allowFailure: true });
    const routes = await lab.host.inContainer(entry.container.pid, ['ip', 'route'], { unrecorded: true, allowFailure: true });
    rows.push(
      { label: `${label}: addresses`, value: firstLines(addresses.stdout || addresses.stderr, 12) || '(nothing)', source: `nsenter --net=/proc/${entry.container.pid}/ns/net ip -br -4 addr` },
      { label: `${entry.name}: routes`, value: firstLines(routes.stdout || routes.stderr, 8) || '(none)', source: `nsenter --net=/proc/${entry.container.pid}/ns/net ip route` },
    );
  }
  return rows.length > 0 ? rows : [{ label: 'containers', value: '(none running)' }];
}

// ---------------------------------------------------------------------------------------------------
// Helpers

/** busybox wget, given up after 3 s. */
function wget(url: string): string[] {
  return ['timeout', '3', 'busybox', 'wget', '-q', '-O', '-', url];
}

/** A free TCP port for -p on the real host: 8080 unless something already listens there. */
async function pickHostPort(host: NetworkHost): Promise<number> {
  for (const candidate of [8080, 18080, 28080]) {
    const { stdout } = await host.run(['ss', '-Htln', `sport = :${candidate}`], { unrecorded: true, allowFailure: true });
    if (stdout.trim() === '') return candidate;
  }
  throw new Error('ports 8080, 18080 and 28080 are all in use on this machine');
}

/** Long listings (a real host's iptables) are cut short. */
function firstLines(text: string, count: number): string {
  const lines = text.trimEnd().split('\n');
  return lines.length <= count ? lines.join('\n') : [...lines.slice(0, count), `… and ${lines.length - count} more lines`].join('\n');
}
