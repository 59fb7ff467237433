/**
 * Is a program statically linked? Read its ELF program headers and look for PT_INTERP.
 *
 * A dynamically linked program names its loader ("/lib64/ld-linux-x86-64.so.2") in a PT_INTERP
 * program header; execve(2) opens that file *inside the current root*. In the empty root file system
 * of lesson 3 there is no loader, so a dynamic busybox fails with a baffling "No such file or
 * directory" although /bin/busybox is right there. A static binary has no PT_INTERP and runs anywhere.
 * (Static-PIE binaries are ET_DYN but still have no PT_INTERP, so the rule holds for them too.)
 *
 * Layout from elf(5): the ELF header says where the program header table is (e_phoff), how big one
 * entry is (e_phentsize) and how many there are (e_phnum); each entry starts with its p_type.
 */

export type ElfLinkage =
  | { kind: 'static' }
  | { kind: 'dynamic'; interpreter: string | null }
  | { kind: 'not-elf'; reason: string };

const PT_INTERP = 3;
const ET_EXEC = 2;
const ET_DYN = 3;

/** Looks at the first bytes of a file (64 KiB is plenty: the table sits right after the header). */
export function elfLinkage(bytes: Uint8Array): ElfLinkage {
  if (bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) {
    return { kind: 'not-elf', reason: 'no ELF magic (\\x7fELF)' };
  }
  const is64 = bytes[4] === 2; // EI_CLASS: 1 = ELFCLASS32, 2 = ELFCLASS64
  if (bytes.length < (is64 ? 64 : 52)) return { kind: 'not-elf', reason: 'truncated ELF header' };
  const little = bytes[5] === 1; // EI_DATA: 1 = little-endian, 2 = big-endian
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (at: number) => view.getUint16(at, little);
  const u32 = (at: number) => view.getUint32(at, little);
  const word = (at: number) => (is64 ? Number(view.getBigUint64(at, little)) : u32(at)); // Elf64_Off vs Elf32_Off

  const type = u16(16);
  if (type !== ET_EXEC && type !== ET_DYN) return { kind: 'not-elf', reason: `ELF type ${type} is not an executable` };
  const phoff = word(is64 ? 32 : 28);
  const phentsize = u16(is64 ? 54 : 42);
  const phnum = u16(is64 ? 56 : 44); // (0xffff = PN_XNUM means "more than 65534", never seen in a real program)
  if (phentsize < (is64 ? 56 : 32)) return { kind: 'not-elf', reason: `odd program header size ${phentsize}` };
  if (phoff + phnum * phentsize > bytes.length) return { kind: 'not-elf', reason: 'program headers beyond the bytes read' };

  for (let i = 0; i < phnum; i++) {
    const entry = phoff + i * phentsize;
    if (u32(entry) !== PT_INTERP) continue;
    // p_offset/p_filesz of the entry: where the loader's path (NUL-terminated) is in the file.
    const offset = word(entry + (is64 ? 8 : 4));
    const size = word(entry + (is64 ? 32 : 16));
    const path = offset + size <= bytes.length ? bytes.subarray(offset, offset + size) : null;
    return { kind: 'dynamic', interpreter: path ? new TextDecoder().decode(path).replace(/\0+$/, '') : null };
  }
  return { kind: 'static' };
}
