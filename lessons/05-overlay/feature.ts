/**
 * What lesson 05 adds to a container's life (see lessons/registry.ts): its root file system as the
 * image's layers and its own layer, merged by overlayfs inside the container's mount namespace, before
 * lesson 03's step pivots into it. config.json has no field for that (Docker mounts overlay2 on the host
 * and hands runc the merged folder); the layers travel in the annotation below.
 */
import { hasOwnNamespace, type OciConfig } from '../../src/container/config.js';
import { defineFeature } from '../../src/container/features.js';
import { mountOverlay, type OverlayMount } from './overlay.js';

/** config.json annotation: the OverlayMount (JSON) whose target is root.path. */
export const OVERLAY_ANNOTATION = 'lab.mini-docker.overlay';

export function overlayOf(config: OciConfig): OverlayMount | null {
  const text = config.annotations?.[OVERLAY_ANNOTATION];
  return text ? (JSON.parse(text) as OverlayMount) : null;
}

export const overlayFeature = defineFeature({
  name: 'lesson 05 (overlay)',
  steps: { overlay: mountOverlay },
  plan(config, _context, step) {
    const overlay = overlayOf(config);
    // In a user namespace of its own the container's root may not read the layers' trusted.* attributes
    // (whiteouts): the host mounts the view for it instead (lesson 08).
    if (hasOwnNamespace(config, 'user')) return [];
    return overlay ? [step('overlay', overlay)] : [];
  },
});
