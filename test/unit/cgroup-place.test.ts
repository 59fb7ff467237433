/**
 * Where a container's cgroup goes, from config.json's linux.cgroupsPath (runtime-spec config-linux.md,
 * "Cgroups Path"): pure logic, no cgroups touched.
 */
import { existsSync, mkdirSync, mkdtempSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cgroupPlaceOf } from '../../lessons/04-cgroups/feature.js';
import { removeParentIfEmpty } from '../../lessons/04-cgroups/manager.js';
import { defaultConfig } from '../../src/final/oci/spec.js';

const withPath = (cgroupsPath?: string, limits = false) => {
  const config = defaultConfig(['true']);
  config.linux = { ...config.linux, cgroupsPath, resources: limits ? { pids: { limit: 10 } } : {} };
  return config;
};

describe('cgroupPlaceOf', () => {
  it('puts a container with limits and no cgroupsPath under the lab parent, named after its ID; one without either gets none', () => {
    expect(cgroupPlaceOf(withPath(undefined, true), 'abc')).toEqual({ parent: 'mini-docker-lab', name: 'abc' });
    expect(cgroupPlaceOf(withPath(undefined), 'abc')).toBeNull();
  });

  it('takes an absolute path from the hierarchy root (an engine such as podman names its own), a relative one under the lab parent', () => {
    expect(cgroupPlaceOf(withPath('/libpod_parent/libpod-0123'), 'x')).toEqual({ parent: 'libpod_parent', name: 'libpod-0123' });
    expect(cgroupPlaceOf(withPath('/mini-docker-lab/web'), 'x')).toEqual({ parent: 'mini-docker-lab', name: 'web' });
    expect(cgroupPlaceOf(withPath('/top'), 'x')).toEqual({ parent: '', name: 'top' });
    expect(cgroupPlaceOf(withPath('web'), 'x')).toEqual({ parent: 'mini-docker-lab', name: 'web' });
    expect(cgroupPlaceOf(withPath('group/web'), 'x')).toEqual({ parent: 'mini-docker-lab/group', name: 'web' });
  });

  it('refuses a systemd slice:prefix:name and paths that climb out, in one line', () => {
    expect(() => cgroupPlaceOf(withPath('system.slice:docker:abc'), 'abc')).toThrow(/systemd slice:prefix:name: this runtime writes cgroupfs itself/);
    expect(() => cgroupPlaceOf(withPath('/a/../b'), 'x')).toThrow(/folder names of letters, digits/);
    expect(() => cgroupPlaceOf(withPath('/'), 'x')).toThrow(/folder names of letters, digits/);
  });
});

describe('removeParentIfEmpty', () => {
  // Plain folders stand in for a hierarchy: rmdir fails on a non-empty one just as on a cgroup in use.
  it('removes the empty folders up to and including the lab parent, stopping at one still in use; never a parent of an engine', () => {
    const root = mkdtempSync(path.join(tmpdir(), 'mdl-cgroup-place-'));
    try {
      const web = path.join(root, 'mini-docker-lab', 'group', 'web');
      const other = path.join(root, 'mini-docker-lab', 'other');
      mkdirSync(web, { recursive: true });
      mkdirSync(other);
      rmdirSync(web);
      removeParentIfEmpty(web);
      expect(existsSync(path.join(root, 'mini-docker-lab', 'group'))).toBe(false);
      expect(existsSync(other)).toBe(true); // another container's: the lab parent stays
      rmdirSync(other);
      removeParentIfEmpty(other);
      expect(existsSync(path.join(root, 'mini-docker-lab'))).toBe(false);

      const podman = path.join(root, 'libpod_parent', 'libpod-1');
      mkdirSync(podman, { recursive: true });
      rmdirSync(podman);
      removeParentIfEmpty(podman);
      expect(existsSync(path.join(root, 'libpod_parent'))).toBe(true);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
