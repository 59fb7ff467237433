/**
 * Lesson 05 — the other side of a pull: a tiny read-only registry that serves the images of a store.
 *
 * Just enough of the distribution API for the lesson's pull step to be a real HTTP conversation on
 * 127.0.0.1: the /v2/ probe answers 401 with a Bearer challenge, /token hands out an anonymous token, and
 * manifests and blobs are served from the store's blobs/ by tag or digest. (A real registry — Docker's
 * distribution, Harbor, Docker Hub — also takes pushes, checks scopes, and keeps blobs in object storage.)
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { MEDIA_TYPES } from './oci.js';
import { blobPath, getImage, type ImageStore } from './store.js';

export interface StoreRegistry {
  /** "127.0.0.1:PORT". */
  host: string;
  close(): Promise<void>;
}

/** Serves `images` ("repository" → the store's "name:tag") of `store` on 127.0.0.1, on a port the kernel picks. */
export async function serveStore(store: ImageStore, images: Record<string, string>): Promise<StoreRegistry> {
  const token = randomBytes(16).toString('hex');
  let host = '';
  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://registry');
    if (url.pathname === '/token') {
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ token }));
      return;
    }
    if (request.headers.authorization !== `Bearer ${token}`) {
      response.statusCode = 401;
      response.setHeader('www-authenticate', `Bearer realm="http://${host}/token",service="lesson-05"`);
      response.end();
      return;
    }
    if (url.pathname === '/v2/') {
      response.end('{}');
      return;
    }
    const match = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
    const local = match ? images[match[1]!] : undefined;
    if (!match || !local) {
      response.statusCode = 404;
      response.end('{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}');
      return;
    }
    const image = getImage(store, local);
    // A tag names the image's manifest; anything else must be a digest the image uses.
    const digest = match[2] === 'manifests' && !match[3]!.startsWith('sha256:') ? image.digest : match[3]!;
    const known = [image.digest, image.manifest.config.digest, ...image.manifest.layers.map((layer) => layer.digest)];
    const file = known.includes(digest) ? blobPath(store, digest) : '';
    if (!file || !existsSync(file)) {
      response.statusCode = 404;
      response.end(`{"errors":[{"code":"${match[2] === 'manifests' ? 'MANIFEST_UNKNOWN' : 'BLOB_UNKNOWN'}"}]}`);
      return;
    }
    if (match[2] === 'manifests') response.setHeader('content-type', image.manifest.mediaType ?? MEDIA_TYPES.manifest);
    response.setHeader('docker-content-digest', digest);
    response.setHeader('content-length', statSync(file).size);
    createReadStream(file).pipe(response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
