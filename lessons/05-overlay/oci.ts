/**
 * Lesson 05 — the OCI image format: what an image is once it leaves a folder and becomes layers.
 *
 * The OCI image spec (github.com/opencontainers/image-spec) describes an image as a few JSON documents
 * that name each other by digest, "sha256:" + the SHA-256 of their exact bytes:
 *
 *   index.json ──▶ manifest ──▶ config   (rootfs.diff_ids: one per layer, history, Env, Cmd ...)
 *                     └──────▶ layers   (tar archives, maybe gzipped, bottom layer first)
 *
 * A digest is a name that cannot lie: whoever holds the bytes can check them. Docker calls the config's
 * digest the image ID; a layer has two digests, the blob's (as stored or downloaded, compressed or not)
 * and its diff_id (of the uncompressed tar), which is what the config lists.
 */
import { createHash } from 'node:crypto';

export const MEDIA_TYPES = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  layerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  // Docker's own names for the same things (registries and `docker save` still use them).
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

/** A pointer to a blob: what it is, its digest, its size in bytes. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string; variant?: string };
}

/** An image manifest: one config and the layers, bottom first. */
export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

/** An index: a list of manifests (one per platform, or one per tag in an OCI layout's index.json). */
export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
}

/** One line of `docker history`: which step made the layer (empty_layer: the step changed only metadata). */
export interface HistoryEntry {
  created?: string;
  created_by?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** The image config (Docker's image JSON has the same fields): how to run it and which layers it has. */
export interface ImageConfig {
  created?: string;
  architecture: string;
  os: string;
  config?: { Env?: string[]; Cmd?: string[]; Entrypoint?: string[]; WorkingDir?: string; User?: string; Labels?: Record<string, string> };
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: HistoryEntry[];
}

/** A digest that does not match its content, or is not a digest at all. */
export class DigestError extends Error {
  override name = 'DigestError';
}

/** An image document that is not what the spec says it must be. */
export class ImageFormatError extends Error {
  override name = 'ImageFormatError';
}

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** "sha256:<hex>" of some bytes. */
export function digestOf(bytes: Uint8Array | string): string {
  return `sha256:${sha256Hex(bytes)}`;
}

/** The hex part of a well-formed "sha256:<64 hex>" digest; throws DigestError on anything else. */
export function digestHex(digest: string): string {
  const match = /^sha256:([a-f0-9]{64})$/.exec(digest);
  if (!match) throw new DigestError(`"${digest}" is not a sha256 digest ("sha256:" and 64 lowercase hex digits)`);
  return match[1]!;
}

/** "sha256:0123456789ab…" → "0123456789ab", the 12-digit short form Docker prints. */
export function shortDigest(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12);
}

/**
 * Checks content against the digest that names it. `actualHex` is the SHA-256 of the bytes, computed
 * while they were read; `what` says what they are, for the message ("layer 2 of busybox:latest").
 * Content addressing is only as good as this check: skip it and a tampered or truncated blob is
 * accepted under the name of the real one.
 */
export function verifyDigest(expected: string, actualHex: string, what: string): void {
  // EXERCISE(oci.digest): Throw a DigestError unless `expected` is a well-formed "sha256:<64 lowercase hex>" digest equal to "sha256:" + actualHex; the message names `what` and both digests.
  // HINT: Only sha256 is supported here: /^sha256:[a-f0-9]{64}$/ tells a well-formed digest. Anything else (another algorithm, upper case, a short hex) is refused too.
  // HINT: digestHex(expected) already does the format check and throws a DigestError; what is left is comparing its hex with actualHex.
  // HINT: The OCI image spec's descriptor.md, "Digests".
  const expectedHex = digestHex(expected);
  if (expectedHex !== actualHex) throw new DigestError(`${what}: digest mismatch: expected ${expected}, got sha256:${actualHex}`);
  // END EXERCISE
}

/** An image reference split into its parts: "busybox" is busybox:latest. */
export interface Reference {
  name: string;
  tag: string;
}

// Docker's reference grammar (distribution/reference), slightly simplified: an optional registry host
// (with a port), then path components of lowercase letters and digits joined by ".", "_", "__" or "-".
const HOST = '(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)?';
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const NAME = new RegExp(`^${HOST}${COMPONENT}(?:/${COMPONENT})*$`);
const TAG = /^[\w][\w.-]{0,127}$/;

/**
 * "busybox" → busybox:latest; "lab05/demo:step-2" → lab05/demo, step-2. A strict grammar is also a
 * safety check: names become folders of the store (tags/<name>/<tag>), so "../x" must never be one.
 */
export function parseReference(text: string): Reference {
  const colon = text.lastIndexOf(':');
  // A colon before the last "/" belongs to a registry port (localhost:5000/app), not to a tag.
  const hasTag = colon > text.lastIndexOf('/');
  const name = hasTag ? text.slice(0, colon) : text;
  const tag = hasTag ? text.slice(colon + 1) : 'latest';
  if (name.length > 255 || !NAME.test(name)) throw new ImageFormatError(`"${text}" is not a valid image name (lowercase letters, digits, and . _ - / between them)`);
  if (!TAG.test(tag)) throw new ImageFormatError(`"${text}": "${tag}" is not a valid tag (letters, digits, _ . -; at most 128)`);
  return { name, tag };
}

export function formatReference(reference: Reference): string {
  return `${reference.name}:${reference.tag}`;
}

/** The platform of this machine as OCI names it (Node says x64, Go and OCI say amd64). */
export function hostPlatform(): { architecture: string; os: string } {
  const architectures: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return { architecture: architectures[process.arch] ?? process.arch, os: 'linux' };
}

// --- reading the documents, strictly --------------------------------------------------------------

function object(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ImageFormatError(`${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

export function parseJson(bytes: Uint8Array | string, what: string): unknown {
  try {
    return JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8'));
  } catch (error) {
    throw new ImageFormatError(`${what} is not valid JSON: ${(error as Error).message}`);
  }
}

export function parseDescriptor(value: unknown, what: string): Descriptor {
  const fields = object(value, what);
  if (typeof fields.mediaType !== 'string') throw new ImageFormatError(`${what} has no mediaType`);
  if (typeof fields.digest !== 'string') throw new ImageFormatError(`${what} has no digest`);
  digestHex(fields.digest); // well-formed, or a DigestError
  if (typeof fields.size !== 'number' || !Number.isSafeInteger(fields.size) || fields.size < 0) throw new ImageFormatError(`${what} has no valid size`);
  return fields as unknown as Descriptor;
}

export function parseIndex(bytes: Uint8Array | string, what: string): ImageIndex {
  const fields = object(parseJson(bytes, what), what);
  if (fields.schemaVersion !== 2) throw new ImageFormatError(`${what}: schemaVersion must be 2`);
  if (!Array.isArray(fields.manifests)) throw new ImageFormatError(`${what} has no manifests list`);
  fields.manifests.forEach((entry, index) => parseDescriptor(entry, `${what}: manifests[${index}]`));
  return fields as unknown as ImageIndex;
}

export function parseManifest(bytes: Uint8Array | string, what: string): ImageManifest {
  const fields = object(parseJson(bytes, what), what);
  if (fields.schemaVersion !== 2) throw new ImageFormatError(`${what}: schemaVersion must be 2`);
  parseDescriptor(fields.config, `${what}: config`);
  if (!Array.isArray(fields.layers)) throw new ImageFormatError(`${what} has no layers list`);
  fields.layers.forEach((entry, index) => parseDescriptor(entry, `${what}: layers[${index}]`));
  return fields as unknown as ImageManifest;
}

export function parseConfig(bytes: Uint8Array | string, what: string): ImageConfig {
  const fields = object(parseJson(bytes, what), what);
  const rootfs = object(fields.rootfs, `${what}: rootfs`);
  if (rootfs.type !== 'layers' || !Array.isArray(rootfs.diff_ids)) throw new ImageFormatError(`${what}: rootfs must be {"type": "layers", "diff_ids": [...]}`);
  for (const diffId of rootfs.diff_ids) digestHex(String(diffId));
  if (fields.os !== undefined && fields.os !== 'linux') throw new ImageFormatError(`${what}: an image for ${String(fields.os)}, not linux`);
  return fields as unknown as ImageConfig;
}

/** The compression a layer's media type announces. Docker's and OCI's names both count. */
export function layerCompression(mediaType: string): 'none' | 'gzip' | 'zstd' {
  if (mediaType.endsWith('+gzip') || mediaType.endsWith('.tar.gzip')) return 'gzip';
  if (mediaType.endsWith('+zstd')) return 'zstd';
  if (mediaType.endsWith('.tar') || mediaType === MEDIA_TYPES.layer) return 'none';
  throw new ImageFormatError(`unsupported layer media type ${mediaType}`);
}

/** JSON as stored: compact, so that the digest of the bytes is the digest of the document. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value);
}
