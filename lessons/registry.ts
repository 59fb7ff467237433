/**
 * The one place where the lessons plug into a container's life: each lesson's feature (its feature.ts)
 * lists the namespaces it creates, the setup steps it lets init run, and what it does on the host
 * around them. The core (src/container) knows none of them: it is handed this registry by the program
 * every container starts as (program.ts) and by the runtimes that build containers (src/final).
 * A new lesson that adds to a container's life adds its feature here, and nowhere else.
 *
 * The order is the order in which init runs the features' steps for a config.json — runc's order:
 * into the cgroup first (so everything after is limited and counted), then the host name, then the root
 * file system (the image's layers merged, then the mounts and pivot_root), and last what the container's
 * root may do (capabilities, seccomp: nothing after them but exec). Host-side work follows the same
 * order, and is released in reverse. The user namespace (lesson 08) has no step: it is made on the host
 * before init starts, whatever its place here (builder.ts).
 */
import { FeatureRegistry } from '../src/container/features.js';
import { utsFeature } from './01-uts/feature.js';
import { pidFeature } from './02-pid/feature.js';
import { mountFeature } from './03-mount/feature.js';
import { cgroupFeature } from './04-cgroups/feature.js';
import { overlayFeature } from './05-overlay/feature.js';
import { networkFeature } from './06-network/feature.js';
import { securityFeature } from './07-security/feature.js';
import { userFeature } from './08-userns/feature.js';

export const registry = new FeatureRegistry([cgroupFeature, utsFeature, pidFeature, overlayFeature, mountFeature, networkFeature, securityFeature, userFeature]);
