/**
 * Lesson 05 — image names as Docker reads them: which registry, which repository, which tag or digest.
 *
 *   busybox                          → docker.io / library/busybox : latest
 *   alpine:3.19                      → docker.io / library/alpine  : 3.19
 *   bitnami/redis                    → docker.io / bitnami/redis   : latest
 *   localhost:5000/mine:v1           → localhost:5000 / mine       : v1
 *   ghcr.io/org/app@sha256:…         → ghcr.io / org/app           @ sha256:…
 *
 * The rule (distribution/reference's ParseNormalizedNamed): the first path component is a registry host
 * only if it looks like one — it has a "." or a ":" (a port), upper case, or is "localhost". Otherwise the name is on
 * Docker Hub, and a name without a "/" there is an official image under "library/". Locally Docker shows
 * Hub names in their short ("familiar") form, and so does the store: `busybox:latest`, not
 * `docker.io/library/busybox:latest`.
 */
import { digestHex, ImageFormatError, parseReference } from './oci.js';

export const DOCKER_HUB = 'docker.io';

export interface ImageName {
  /** "docker.io", "localhost:5000", "ghcr.io". */
  registry: string;
  /** The repository inside the registry: "library/busybox", "mine", "org/app". */
  repository: string;
  /** The tag, "latest" when neither a tag nor a digest was given. */
  tag?: string;
  /** "sha256:…" when the name pins a digest (then the tag, if any, is only a label). */
  digest?: string;
}

function looksLikeHost(component: string): boolean {
  // Upper case too: repository names are lowercase, so "Registry/app" can only mean a host.
  return component.includes('.') || component.includes(':') || component === 'localhost' || component !== component.toLowerCase();
}

/** Parses an image name the way `docker pull` does; throws ImageFormatError with the reason. */
export function parseImageName(text: string): ImageName {
  const at = text.indexOf('@');
  const digest = at >= 0 ? text.slice(at + 1) : undefined;
  const rest = at >= 0 ? text.slice(0, at) : text;
  if (digest !== undefined) digestHex(digest); // "sha256:" + 64 hex, or a DigestError
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  let registry = DOCKER_HUB;
  let path = rest;
  if (slash >= 0 && looksLikeHost(first)) {
    registry = first === 'index.docker.io' ? DOCKER_HUB : first;
    path = rest.slice(slash + 1);
  }
  // What remains is "repository[:tag]": oci.ts's grammar checks it (lowercase, no "..", a sane tag).
  const hasTag = path.lastIndexOf(':') > path.lastIndexOf('/');
  const checked = parseReference(`${registry === DOCKER_HUB ? '' : `${registry}/`}${path}`);
  let repository = hasTag ? path.slice(0, path.lastIndexOf(':')) : path;
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  if (!repository) throw new ImageFormatError(`"${text}" names no repository`);
  const tag = hasTag ? checked.tag : digest ? undefined : 'latest';
  return { registry, repository, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/** The short name the store and `docker images` use: "busybox", "bitnami/redis", "localhost:5000/mine". */
export function familiarRepository(name: ImageName): string {
  if (name.registry !== DOCKER_HUB) return `${name.registry}/${name.repository}`;
  return name.repository.startsWith('library/') ? name.repository.slice('library/'.length) : name.repository;
}

/**
 * The store's "name:tag" for an image name. A pin by digest has no tag: the store keeps it under the tag
 * "sha256-<hex>" (a tag cannot hold a ":"), so that it stays kept until `rmi`.
 */
export function localReference(name: ImageName): string {
  return `${familiarRepository(name)}:${name.digest ? name.digest.replace(':', '-') : (name.tag ?? 'latest')}`;
}

/** The full name, as `docker pull` prints it: "docker.io/library/busybox:latest". */
export function fullName(name: ImageName): string {
  return `${name.registry}/${name.repository}${name.digest ? `@${name.digest}` : `:${name.tag ?? 'latest'}`}`;
}

/** Where the registry API of a registry name lives: Docker Hub's API host is not "docker.io". */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? 'registry-1.docker.io' : registry;
}
