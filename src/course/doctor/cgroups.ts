/**
 * The doctor's verdict on lesson 4's controllers: usable where the lab creates its cgroups, and if not,
 * the real fix. The facts themselves are read by src/sys/cgroupfs.ts.
 */
import { bootParameterValues, CGROUP_ROOT, type CgroupFacts, type LabController } from '../../sys/cgroupfs.js';
import { bootParameterFix, STOCK_KERNEL_FIX, type Outcome } from './outcome.js';

/** The kernel config option behind each controller, for "your kernel lacks it". */
const KCONFIG: Record<LabController, string> = {
  cpu: 'CONFIG_CGROUP_SCHED',
  memory: 'CONFIG_MEMCG',
  pids: 'CONFIG_CGROUP_PIDS',
};

/** Is the controller usable where the lab will create its cgroups, and if not, what is the real fix? */
export function controllerOutcome(name: LabController, facts: CgroupFacts): Outcome {
  const { layout } = facts;
  if (layout.active === null) {
    return { ok: false, found: 'no cgroup file system mounted', fix: `run \`sudo mount -t cgroup2 none ${CGROUP_ROOT}\`` };
  }
  if (layout.active === 'v2') {
    const root = layout.v2Mount ?? CGROUP_ROOT;
    const enableCommand = `\`echo +${name} | sudo tee ${root}/cgroup.subtree_control\``;
    // A v2 controller is usable in a child cgroup only once its parent lists it in cgroup.subtree_control
    // ("top-down constraint", cgroup-v2.rst). The root may enable anything in its cgroup.controllers.
    if (facts.v2SubtreeControl?.includes(name)) {
      return { ok: true, found: `v2, enabled in ${root}/cgroup.subtree_control` };
    }
    if (facts.v2Controllers?.includes(name)) {
      return {
        ok: true,
        found: `v2, available but not yet enabled for child cgroups`,
        hint: `enable it with ${enableCommand}`,
      };
    }
    return { ok: false, found: `v2, not in ${root}/cgroup.controllers`, fix: missingControllerFix(name, facts) ?? `run ${enableCommand} on the host (inside a container, the host must delegate it)` };
  }

  const mountPoint = layout.v1Mounts[name];
  if (mountPoint) return { ok: true, found: `v1, mounted at ${mountPoint}` };
  const kernel = facts.kernel?.get(name);
  const fix = missingControllerFix(name, facts);
  if (fix) return { ok: false, found: 'v1, not mounted', fix };
  if (kernel && kernel.hierarchy === 0 && facts.v2Controllers?.includes(name)) {
    // Hybrid hosts may hand a controller to the cgroup2 side. It cannot sit on both at once.
    return {
      ok: false,
      found: `v1, not mounted: it is attached to cgroup2 at ${layout.v2Mount}`,
      fix: `switch the host to cgroup v2 (the course's default): ${bootParameterFix({ add: 'systemd.unified_cgroup_hierarchy=1' })}`,
    };
  }
  const target = `${CGROUP_ROOT}/${name}`;
  const remount = layout.tmpfsReadOnly ? `sudo mount -o remount,rw ${CGROUP_ROOT} && ` : '';
  return {
    ok: false,
    found: 'v1, not mounted',
    fix: `run \`${remount}sudo mkdir -p ${target} && sudo mount -t cgroup -o ${name} cgroup ${target}\``,
  };
}

/** Fixes that hold for v1 and v2 alike: the kernel lacks the controller, or the boot command line hid it. */
function missingControllerFix(name: LabController, facts: CgroupFacts): string | null {
  const kernel = facts.kernel?.get(name);
  if (facts.kernel && !kernel) return `your kernel was built without it (${KCONFIG[name]}): ${STOCK_KERNEL_FIX}`;
  if (bootParameterValues(facts.cmdline, 'cgroup_disable').includes(name)) {
    return bootParameterFix({ remove: `cgroup_disable=${name}` });
  }
  if (kernel && !kernel.enabled) return bootParameterFix({ add: `cgroup_enable=${name}` });
  // cgroup_no_v1=all (or =memory,...) keeps controllers off v1 so that only cgroup2 can use them.
  const noV1 = bootParameterValues(facts.cmdline, 'cgroup_no_v1');
  if (facts.layout.active === 'v1' && (noV1.includes('all') || noV1.includes(name))) {
    return bootParameterFix({ remove: `cgroup_no_v1=${noV1.join(',')}` });
  }
  return null;
}
