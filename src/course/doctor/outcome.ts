/**
 * What one check concludes, and the few phrasings of a fix that keep coming back.
 *
 * A fix is ONE line that starts with a verb, so it reads well both in the doctor's list and after
 * "lesson 3 needs a static busybox: ...". Commands are wrapped in backticks so they can be copied.
 */

export interface Outcome {
  ok: boolean;
  /** What the check found, short: "v1.8.9 (nf_tables backend) at /usr/sbin/iptables". */
  found: string;
  /** For a failed check: exactly what to do. */
  fix?: string;
  /** For a passed check: something worth knowing ("the lab enables it itself"). */
  hint?: string;
}

export function aptInstall(pkg: string): string {
  return `run \`sudo apt-get install ${pkg}\``;
}

/**
 * Kernel command line changes go through GRUB on Debian/Ubuntu: edit GRUB_CMDLINE_LINUX, regenerate
 * grub.cfg, reboot. (The running kernel's command line is in /proc/cmdline.)
 */
export function bootParameterFix(change: { add?: string; remove?: string }): string {
  const edits = [
    change.remove ? `remove \`${change.remove}\` from` : null,
    change.add ? `add \`${change.add}\` to` : null,
  ].filter((edit) => edit !== null);
  return `${edits.join(' and ')} GRUB_CMDLINE_LINUX in /etc/default/grub, then run \`sudo update-grub\` and reboot`;
}

/** The distribution kernels have every feature the lab needs built in or as a module. */
export const STOCK_KERNEL_FIX =
  'boot your distribution\'s stock kernel: `sudo apt-get install linux-image-amd64` (Debian) or `sudo apt-get install linux-generic` (Ubuntu), then reboot';
