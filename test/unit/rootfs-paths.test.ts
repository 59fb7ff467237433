import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { pathInsideRootfs } from '../../lessons/03-mount/mount.js';

describe('pathInsideRootfs: never write through an image’s symbolic links', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((dir) => rmSync(dir, { recursive: true, force: true })));
  const tempDir = () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'lab-rootfs-'));
    dirs.push(dir);
    return dir;
  };

  it('joins ordinary paths, existing or not', () => {
    const rootfs = tempDir();
    mkdirSync(path.join(rootfs, 'etc'));
    expect(pathInsideRootfs(rootfs, '/etc/hostname')).toBe(path.join(rootfs, 'etc/hostname'));
    expect(pathInsideRootfs(rootfs, 'proc')).toBe(path.join(rootfs, 'proc'));
  });

  it('refuses a symbolic link anywhere along the path, and `..`', () => {
    const rootfs = tempDir();
    const outside = tempDir();
    symlinkSync(outside, path.join(rootfs, 'etc'));
    symlinkSync('/', path.join(rootfs, 'proc'));
    expect(() => pathInsideRootfs(rootfs, '/etc/hostname')).toThrow('etc is a symbolic link in the image');
    expect(() => pathInsideRootfs(rootfs, 'proc')).toThrow('proc is a symbolic link in the image');
    expect(() => pathInsideRootfs(rootfs, '../x')).toThrow('climbs out');
    expect(existsSync(path.join(outside, 'hostname'))).toBe(false);
  });
});
