/**
 * Where the lab keeps what outlives one command: built images and one folder per container, like
 * Docker's /var/lib/docker. The default is /var/lib/mini-docker-lab; LAB_STATE_DIR moves it (the tests
 * point it at a temporary folder of their own, so they never touch the machine's real state).
 *
 *   <state>/images/busybox/        an image: its rootfs/ and image.json   (lesson 03)
 *   <state>/containers/<id>/       one container: its rootfs copy, generated /etc files, owner
 */
import path from 'node:path';

export const DEFAULT_STATE_DIR = '/var/lib/mini-docker-lab';

/** The state folder, absolute. */
export function labStateDir(env: Record<string, string | undefined> = process.env): string {
  const chosen = env.LAB_STATE_DIR || DEFAULT_STATE_DIR;
  if (!path.isAbsolute(chosen)) throw new Error(`LAB_STATE_DIR must be an absolute path, got "${chosen}"`);
  return chosen;
}
