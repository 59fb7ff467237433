/**
 * /proc/PID/mountinfo, parsed: the one parser the lab's machinery uses (the doctor, the cgroup managers,
 * the cleanup that looks for leaked mounts). Lesson 03 has the student write one of their own.
 */
/** One line of /proc/self/mountinfo, see proc_pid_mountinfo(5). */
export interface MountInfo {
  mountId: number;
  parentId: number;
  /** "major:minor" of the device. */
  device: string;
  /** The directory of the file system that is mounted here ("/" unless it is a bind mount). */
  root: string;
  mountPoint: string;
  /** Per-mount options: "rw", "nosuid", ... */
  mountOptions: string[];
  /** "shared:1", "master:2", ... (propagation, lesson 3). */
  optionalFields: string[];
  fsType: string;
  source: string;
  /** Per-superblock options. For a cgroup v1 mount they name its controllers: "rw,cpu,cpuacct". */
  superOptions: string[];
}

/** mountinfo escapes space, tab, newline and backslash as octal: "\040" is a space. */
function unescapeOctal(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/**
 * "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue"
 *   ↑id ↑parent ↑dev ↑root ↑mount point ↑options ↑optional fields, ended by "-", then type source super-options
 */
export function parseMountinfo(text: string): MountInfo[] {
  const mounts: MountInfo[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(' ');
    const separator = fields.indexOf('-', 6);
    if (separator < 0 || fields.length < separator + 4) continue; // not a mountinfo line
    mounts.push({
      mountId: Number(fields[0]),
      parentId: Number(fields[1]),
      device: fields[2]!,
      root: unescapeOctal(fields[3]!),
      mountPoint: unescapeOctal(fields[4]!),
      mountOptions: fields[5]!.split(','),
      optionalFields: fields.slice(6, separator),
      fsType: fields[separator + 1]!,
      source: unescapeOctal(fields[separator + 2]!),
      superOptions: fields[separator + 3]!.split(','),
    });
  }
  return mounts;
}
