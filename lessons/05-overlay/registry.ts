/**
 * Lesson 05 — images from a registry: `docker pull` and `docker push` over the distribution API.
 *
 * Docker's world has three parts: the client you type into, the daemon that does the work (here the
 * minidocker process itself), and the registry that keeps images for everyone (Docker Hub, or a private
 * one). A pull is a handful of HTTP requests (the OCI distribution spec):
 *
 *   GET  /v2/                                 the probe: "do you speak v2?" — 200, or 401 with a challenge
 *        WWW-Authenticate: Bearer realm="https://auth…/token",service="…",scope="repository:NAME:pull"
 *   GET  realm?service=…&scope=…              a token (anonymous, or for a user's credentials)
 *   GET  /v2/NAME/manifests/TAG               the manifest — or an index of manifests, one per platform
 *   GET  /v2/NAME/blobs/DIGEST                the config, then each layer, all named by their digest
 *
 * Nothing the registry sends is trusted: every document and blob is checked against the digest that named
 * it, and against its size, *while it streams* — an endless blob is cut at the size the manifest gave,
 * not when the disk is full. Layers land in the store (the Graph, store.ts) only when complete and
 * verified; what arrives half is kept in downloads/ to be resumed with an HTTP Range request.
 *
 * A push goes the other way: HEAD each blob (the registry may have it already), upload the missing ones
 * (POST for an upload URL, then one PUT with the bytes and their digest), then PUT the manifest under
 * its tag.
 */
import { createHash, type Hash } from 'node:crypto';
import {
  chmodSync, createReadStream, createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { labStateDir } from '../../src/container/state.js';
import { processIsAlive } from '../../src/sys/process.js';
import {
  DigestError, ImageFormatError, MEDIA_TYPES, digestHex, digestOf, hostPlatform, layerCompression, parseConfig, parseIndex, parseJson,
  parseManifest, shortDigest, verifyDigest, type Descriptor, type ImageManifest,
} from './oci.js';
import { apiHost, DOCKER_HUB, familiarRepository, fullName, localReference, parseImageName, type ImageName } from './image-names.js';
import { blobPath, downloadsDir, getImage, inJob, type ImageStore, type StoredImage } from './store.js';

/** A registry said no, or could not be talked to. The message is one line that says what to do. */
export class RegistryError extends Error {
  override name = 'RegistryError';
  constructor(message: string, readonly code?: string) {
    super(message);
  }
}

/** A blob that ended before its size: the bytes so far may be right, so they are kept for a resume. */
export class TruncatedBlobError extends DigestError {
  override name = 'TruncatedBlobError';
}

// --- the digest-verifying stream ----------------------------------------------------------------------

/** Where a verification starts: from nothing, or from the bytes of a partial download already on disk. */
export interface VerifiedSoFar {
  hash: Hash;
  bytes: number;
}

/**
 * A pass-through stream that checks what flows through it against a descriptor: never more bytes than
 * `expected.size` (refused at the first byte too many, so an endless blob costs no more than its size),
 * not fewer when the stream ends (a TruncatedBlobError), and the SHA-256 of all of them equal to
 * `expected.digest` (a DigestError). Bytes flow on as they arrive: the check must not hold a blob in
 * memory, and the caller writes them to a file that becomes visible only once this stream has ended well.
 */
export function verifyingStream(expected: { digest: string; size: number }, what: string, start?: VerifiedSoFar): Transform {
  // EXERCISE(registry.verify): Return a Transform that passes every chunk on unchanged, counting bytes (from start.bytes) and hashing them (into start.hash, or a new SHA-256). A chunk that takes the count past expected.size fails the stream with a DigestError at once; at the end, fewer bytes than expected.size fail it with a TruncatedBlobError, and a wrong hash with verifyDigest's DigestError.
  // HINT: new Transform({ transform(chunk, _encoding, done) {…}, flush(done) {…} }): call done(error) to fail the stream, done(null, chunk) to pass a chunk on.
  // HINT: Check the size BEFORE hashing and passing the chunk: a registry that sends forever must be stopped by the count, not by the end of the stream, which never comes.
  // HINT: flush runs once, at the end: a count below expected.size is a short blob; otherwise let verifyDigest judge the hash's hex digest, and hand any error it throws to done. Node's docs: "stream.Transform", transform._flush.
  const hash = start?.hash ?? createHash('sha256');
  let bytes = start?.bytes ?? 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      if (bytes > expected.size) {
        done(new DigestError(`${what}: more than the ${expected.size} bytes its descriptor says: refused`));
        return;
      }
      hash.update(chunk);
      done(null, chunk);
    },
    flush(done) {
      if (bytes < expected.size) {
        done(new TruncatedBlobError(`${what}: truncated: ${bytes} of ${expected.size} bytes`));
        return;
      }
      try {
        verifyDigest(expected.digest, hash.digest('hex'), what);
        done();
      } catch (error) {
        done(error as Error);
      }
    },
  });
  // END EXERCISE
}

// --- settings: plain HTTP, CAs, timeouts, credentials ----------------------------------------------------

export interface Credentials {
  username: string;
  password: string;
}

export interface RegistryOptions {
  /** The lab's state folder: the credentials file lives there. */
  stateDir?: string;
  /** Registries (host[:port]) that may be reached over plain HTTP besides localhost (Docker's --insecure-registry). */
  insecureRegistries?: string[];
  /** Docker's certs.d: <dir>/<host[:port]>/*.crt are extra CAs for that registry. */
  certsDir?: string;
  /** Silence (no byte from the registry) longer than this fails the request. */
  timeoutMs?: number;
  /** Manifests larger than this are refused (Docker's limit is 4 MiB). */
  maxManifestBytes?: number;
  /** Layers downloaded or uploaded at once (Docker's default is 3). */
  concurrency?: number;
  /** Called with each HTTP exchange ("GET /v2/ → 401"): the lesson shows them; MINIDOCKER_REGISTRY_TRACE=1 prints them. */
  trace?: (line: string) => void;
}

const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_CONFIG_BYTES = 8 * 1024 * 1024;
const MANIFEST_TYPES = [MEDIA_TYPES.index, MEDIA_TYPES.dockerManifestList, MEDIA_TYPES.manifest, MEDIA_TYPES.dockerManifest];
const CONFIG_TYPES = [MEDIA_TYPES.config, 'application/vnd.docker.container.image.v1+json'];

/** Settings from the environment: MINIDOCKER_INSECURE_REGISTRIES (comma-separated), MINIDOCKER_CERTS_D, MINIDOCKER_REGISTRY_TIMEOUT (seconds). */
export function registryOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): RegistryOptions {
  const seconds = Number(env.MINIDOCKER_REGISTRY_TIMEOUT ?? 30);
  return {
    stateDir: labStateDir(env),
    insecureRegistries: (env.MINIDOCKER_INSECURE_REGISTRIES ?? '').split(',').map((host) => host.trim()).filter(Boolean),
    certsDir: env.MINIDOCKER_CERTS_D ?? '/etc/docker/certs.d',
    timeoutMs: Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 30_000,
    trace: env.MINIDOCKER_REGISTRY_TRACE ? (line) => process.stderr.write(`${line}\n`) : undefined,
  };
}

/** Docker allows plain HTTP to a registry on this machine, and to those the user listed. */
export function allowsPlainHttp(registry: string, options: RegistryOptions): boolean {
  const host = registry.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host) || (options.insecureRegistries ?? []).includes(registry);
}

/** Docker's config.json, under the state folder so that only root reads it: <state>/docker/config.json. */
export function credentialsFile(stateDir: string = labStateDir()): string {
  return path.join(stateDir, 'docker', 'config.json');
}

/** Docker Hub's credentials are filed under its old index URL, as the docker CLI does. */
function credentialsKey(registry: string): string {
  return registry === DOCKER_HUB ? 'https://index.docker.io/v1/' : registry;
}

interface DockerConfig {
  auths?: Record<string, { auth?: string }>;
  [other: string]: unknown;
}

function readDockerConfig(stateDir: string): DockerConfig {
  const file = credentialsFile(stateDir);
  if (!existsSync(file)) return {};
  const parsed = parseJson(readFileSync(file), file);
  return typeof parsed === 'object' && parsed !== null ? (parsed as DockerConfig) : {};
}

function writeDockerConfig(stateDir: string, config: DockerConfig): void {
  const file = credentialsFile(stateDir);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  chmodSync(path.dirname(file), 0o700);
  const temporary = `${file}.tmp-${process.pid}`;
  writeFileSync(temporary, `${JSON.stringify(config, null, '\t')}\n`, { mode: 0o600 }); // the passwords are only base64: root-only
  renameSync(temporary, file);
}

export function readCredentials(registry: string, stateDir: string = labStateDir()): Credentials | undefined {
  const auth = readDockerConfig(stateDir).auths?.[credentialsKey(registry)]?.auth;
  if (!auth) return undefined;
  const decoded = Buffer.from(auth, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export function saveCredentials(registry: string, credentials: Credentials, stateDir: string = labStateDir()): void {
  const config = readDockerConfig(stateDir);
  config.auths = { ...config.auths, [credentialsKey(registry)]: { auth: Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64') } };
  writeDockerConfig(stateDir, config);
}

/** Returns false when there was nothing to remove. */
export function removeCredentials(registry: string, stateDir: string = labStateDir()): boolean {
  const config = readDockerConfig(stateDir);
  if (!config.auths?.[credentialsKey(registry)]) return false;
  delete config.auths[credentialsKey(registry)];
  writeDockerConfig(stateDir, config);
  return true;
}

// --- the HTTP client ---------------------------------------------------------------------------------

/** A WWW-Authenticate header: `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`. */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const space = header.indexOf(' ');
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const params: Record<string, string> = {};
  for (const match of header.slice(space + 1).matchAll(/(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
    params[match[1]!.toLowerCase()] = (match[2] ?? match[3] ?? '').replace(/\\(.)/g, '$1');
  }
  return { scheme, params };
}

/** Reads a whole response, refusing more than `limit` bytes (announced or sent). */
async function readLimited(response: IncomingMessage, limit: number, what: string): Promise<Buffer> {
  const announced = Number(response.headers['content-length'] ?? NaN);
  if (announced > limit) {
    response.destroy();
    throw new ImageFormatError(`${what} is ${announced} bytes, more than the ${limit} allowed: refused`);
  }
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of response) {
    bytes += (chunk as Buffer).length;
    if (bytes > limit) {
      response.destroy();
      throw new ImageFormatError(`${what} is more than the ${limit} bytes allowed: refused`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** A small blob (a config) read whole, through the verifying stream. */
async function readVerified(answer: IncomingMessage, blob: Descriptor, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(answer, verifyingStream(blob, what), async function* (source) {
    for await (const chunk of source) chunks.push(chunk as Buffer);
  });
  return Buffer.concat(chunks);
}

interface RequestOptions {
  headers?: OutgoingHttpHeaders;
  body?: Buffer | (() => Readable);
  /** What is asked for, for messages: "manifest for mine:v1". */
  what: string;
  /** Statuses that are answers, not errors. */
  ok: number[];
}

/**
 * One repository of one registry, and what it took to be let in: the scheme (https, or http where
 * allowed), the token or Basic credentials the challenge asked for.
 */
export class RegistryClient {
  private base?: URL;
  private authorization?: string;
  /** A registry's own CA certificates (certs.d/REGISTRY/*.crt), trusted besides the usual ones. */
  private readonly extraCa?: string[];
  private readonly controller = new AbortController();

  constructor(
    readonly registry: string,
    readonly repository: string,
    private readonly options: RegistryOptions,
    /** "pull", or "pull,push": the scope a token is asked for. */
    private readonly actions = 'pull',
    private readonly credentials: Credentials | undefined = readCredentials(registry, options.stateDir),
  ) {
    const certs = path.join(options.certsDir ?? '/etc/docker/certs.d', registry);
    if (existsSync(certs)) {
      const extra = readdirSync(certs).filter((name) => name.endsWith('.crt')).map((name) => readFileSync(path.join(certs, name), 'utf8'));
      if (extra.length) this.extraCa = extra;
    }
  }

  /** Stops every request under way (a failed layer stops the others). */
  abort(): void {
    this.controller.abort();
  }

  private async send(url: URL, method: string, headers: OutgoingHttpHeaders, body?: Buffer | (() => Readable)): Promise<IncomingMessage> {
    const timeoutMs = this.options.timeoutMs ?? 30_000;
    // HTTP, TLS and the CA list are loaded on the first request: a `run` of an image that is there never
    // pays for them (~10 ms). Node's `ca` replaces the default CAs: a registry's own CA comes on top of them.
    const transport = url.protocol === 'https:' ? (await import('node:https')).default : (await import('node:http')).default;
    const ca = this.extraCa && [...(await import('node:tls')).rootCertificates, ...this.extraCa];
    return new Promise((resolve, reject) => {
      const request = transport.request(url, { method, headers, ca, signal: this.controller.signal });
      let response: IncomingMessage | undefined;
      // Silence, not slowness, is what fails: the socket's idle timer restarts with every byte.
      request.setTimeout(timeoutMs, () => {
        const error = new RegistryError(`${this.registry} did not answer within ${timeoutMs / 1000} s (${method} ${url.pathname}): try again later`);
        response?.destroy(error);
        request.destroy(error);
      });
      request.on('response', (answer: IncomingMessage) => {
        response = answer;
        this.options.trace?.(`${method} ${url.pathname}${url.search} → ${answer.statusCode}${answer.headers['www-authenticate'] ? ` (WWW-Authenticate: ${answer.headers['www-authenticate']})` : ''}`);
        resolve(answer);
      });
      request.on('error', (error: NodeJS.ErrnoException) => {
        if (error instanceof RegistryError) reject(error);
        else if (error.name === 'AbortError') reject(new RegistryError(`${method} ${url.pathname}: stopped`));
        else if (/CERT|SIGNATURE|SELF_SIGNED|ALTNAME|ISSUER/.test(error.code ?? '')) {
          const where = path.join(this.options.certsDir ?? '/etc/docker/certs.d', this.registry, 'ca.crt');
          reject(new RegistryError(`${url.host}: the certificate is not trusted (${error.code}): put the registry's CA in ${where}`, 'certificate'));
        } else reject(new RegistryError(`cannot reach ${url.host} (${url.protocol.slice(0, -1)}): ${error.code ?? error.message}`, error.code));
      });
      if (typeof body === 'function') body().on('error', (error) => request.destroy(error)).pipe(request);
      else request.end(body);
    });
  }

  /** https, or http when the registry is allowed to be plain and does not speak TLS. Found once, with the /v2/ probe. */
  private async baseUrl(): Promise<URL> {
    if (this.base) return this.base;
    const host = apiHost(this.registry);
    try {
      const answer = await this.send(new URL(`https://${host}/v2/`), 'GET', {});
      answer.resume();
      this.base = new URL(`https://${host}`);
    } catch (error) {
      // A certificate that is not trusted is an answer: the registry speaks TLS. Plain HTTP is only for one that does not.
      if ((error as RegistryError).code === 'certificate') throw error;
      if (!allowsPlainHttp(this.registry, this.options)) {
        throw new RegistryError(`${(error as Error).message} (a registry without TLS must be allowed: MINIDOCKER_INSECURE_REGISTRIES=${this.registry})`);
      }
      const answer = await this.send(new URL(`http://${host}/v2/`), 'GET', {});
      answer.resume();
      this.base = new URL(`http://${host}`);
    }
    return this.base;
  }

  /** Answers a 401's challenge: a Bearer token from the realm, or Basic credentials. */
  private async authenticate(challenge: string | undefined, what: string): Promise<void> {
    const { scheme, params } = parseChallenge(challenge ?? '');
    const basic = this.credentials ? `Basic ${Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString('base64')}` : undefined;
    if (scheme === 'basic') {
      if (!basic) throw new RegistryError(`unauthorized: ${this.registry} wants a login for ${what}: minidocker login ${this.registry}`);
      this.authorization = basic;
      return;
    }
    if (scheme !== 'bearer' || !params.realm) throw new RegistryError(`${this.registry} asked for an unsupported authentication (${challenge ?? 'no WWW-Authenticate'})`);
    const realm = new URL(params.realm);
    if (realm.protocol !== 'https:' && !(realm.protocol === 'http:' && allowsPlainHttp(realm.host, this.options))) {
      throw new RegistryError(`${this.registry} sends the token request to ${realm.origin} without TLS: refused (the credentials would travel in clear)`);
    }
    if (params.service) realm.searchParams.set('service', params.service);
    realm.searchParams.set('scope', params.scope ?? `repository:${this.repository}:${this.actions}`);
    const answer = await this.send(realm, 'GET', basic ? { authorization: basic } : {});
    if (answer.statusCode !== 200) {
      answer.resume();
      throw new RegistryError(`unauthorized: the token service of ${this.registry} answered ${answer.statusCode}${basic ? ' to the saved credentials: minidocker login again' : `: minidocker login ${this.registry}`}`);
    }
    const body = parseJson(await readLimited(answer, 1 << 20, 'token'), 'the token answer') as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw new RegistryError(`the token service of ${this.registry} sent no token`);
    this.authorization = `Bearer ${token}`;
  }

  /** A request under the repository's authorization; a 401 is answered once, redirects (blob storage) followed. */
  async request(method: string, target: string, options: RequestOptions): Promise<IncomingMessage> {
    const base = await this.baseUrl();
    let url = new URL(target, base);
    for (let attempt = 0, redirects = 0; ; ) {
      // Credentials go only to the registry itself, never to a storage host it redirects to.
      const headers = { ...options.headers, ...(this.authorization && url.host === base.host ? { authorization: this.authorization } : {}) };
      const answer = await this.send(url, method, headers, options.body);
      const status = answer.statusCode ?? 0;
      if (status === 401 && attempt++ === 0 && url.host === base.host && (typeof options.body !== 'function' || method === 'HEAD')) {
        answer.resume();
        await this.authenticate(answer.headers['www-authenticate'], options.what);
        continue;
      }
      if ([301, 302, 303, 307, 308].includes(status) && answer.headers.location && redirects++ < 5 && !options.ok.includes(status)) {
        answer.resume();
        url = new URL(answer.headers.location, url);
        continue;
      }
      if (options.ok.includes(status)) return answer;
      throw await this.statusError(answer, method, options.what);
    }
  }

  private async statusError(answer: IncomingMessage, method: string, what: string): Promise<RegistryError> {
    const status = answer.statusCode ?? 0;
    let detail = '';
    try {
      const body = parseJson(await readLimited(answer, 64 * 1024, 'an error'), 'an error') as { errors?: { code?: string; message?: string }[] };
      const first = body.errors?.[0];
      if (first) detail = [first.code?.toLowerCase().replace(/_/g, ' '), first.message].filter(Boolean).join(': ');
    } catch {
      answer.destroy(); // not the registry's JSON: the status says enough
    }
    const said = detail ? ` (${detail})` : '';
    switch (status) {
      case 401:
        return new RegistryError(this.credentials
          ? `unauthorized: ${this.registry} refused the credentials of ${this.credentials.username} for ${what}${said}: minidocker login ${this.registry}`
          : `unauthorized: ${this.registry} wants a login for ${what}${said}: minidocker login ${this.registry}`);
      case 403:
        return new RegistryError(`denied: ${this.registry} does not allow ${method} of ${what}${said}`);
      case 404:
        return new RegistryError(`${what} not found${said}`);
      case 429: {
        const after = answer.headers['retry-after'];
        return new RegistryError(`toomanyrequests: ${this.registry} limits the rate of requests${said}; try again${after ? ` in ${after} s` : ' later'}`);
      }
      default:
        return new RegistryError(`${this.registry} answered ${status} to ${method} of ${what}${said}`);
    }
  }

  /** The /v2/ probe with this client's credentials: a login checks them so. */
  async checkLogin(): Promise<void> {
    await this.request('GET', '/v2/', { what: 'a login', ok: [200] });
  }

  /**
   * A manifest (or index) by tag or digest: its bytes, read up to the size limit, its media type, and
   * its digest — checked against Docker-Content-Digest, and against the digest asked for if it was one.
   */
  async getManifest(reference: string, what: string): Promise<{ bytes: Buffer; mediaType: string; digest: string }> {
    const answer = await this.request('GET', `/v2/${this.repository}/manifests/${reference}`, {
      headers: { accept: MANIFEST_TYPES.join(', ') },
      what,
      ok: [200],
    });
    const bytes = await readLimited(answer, this.options.maxManifestBytes ?? MAX_MANIFEST_BYTES, what);
    const digest = digestOf(bytes);
    const announced = answer.headers['docker-content-digest'];
    if (typeof announced === 'string' && announced.startsWith('sha256:')) verifyDigest(announced, digestHex(digest), `${what} (Docker-Content-Digest)`);
    if (reference.startsWith('sha256:')) verifyDigest(reference, digestHex(digest), what);
    const header = String(answer.headers['content-type'] ?? '').split(';')[0]!.trim();
    const declared = (parseJson(bytes, what) as { mediaType?: string }).mediaType;
    const mediaType = MANIFEST_TYPES.includes(header as never) ? header : (declared ?? header);
    if (!MANIFEST_TYPES.includes(mediaType as never)) {
      throw new ImageFormatError(`${what}: unsupported media type ${mediaType || '(none)'} (supported: OCI and Docker schema 2 manifests and indexes)`);
    }
    return { bytes, mediaType, digest };
  }

  /** A blob's bytes from `offset` on (a Range request, to resume); 200 means the registry sends it whole. */
  async getBlob(digest: string, what: string, offset = 0): Promise<IncomingMessage> {
    return this.request('GET', `/v2/${this.repository}/blobs/${digest}`, {
      headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
      what,
      ok: offset > 0 ? [200, 206, 416] : [200],
    });
  }

  async hasBlob(digest: string, what: string): Promise<boolean> {
    const answer = await this.request('HEAD', `/v2/${this.repository}/blobs/${digest}`, { what, ok: [200, 404] });
    answer.resume();
    return answer.statusCode === 200;
  }

  /** A monolithic upload: POST opens it, one PUT carries all the bytes and says their digest. */
  async uploadBlob(file: string, blob: Descriptor, what: string): Promise<void> {
    const opened = await this.request('POST', `/v2/${this.repository}/blobs/uploads/`, { what, ok: [202], headers: { 'content-length': 0 } });
    opened.resume();
    const location = opened.headers.location;
    if (!location) throw new RegistryError(`${this.registry} opened an upload for ${what} without a Location`);
    const url = new URL(location, await this.baseUrl());
    url.searchParams.set('digest', blob.digest);
    const put = await this.request('PUT', url.pathname + url.search, {
      headers: { 'content-type': 'application/octet-stream', 'content-length': blob.size },
      body: () => createReadStream(file),
      what,
      ok: [201],
    });
    put.resume();
  }

  /** PUTs a manifest under a tag; returns the digest the registry computed (it must be ours). */
  async putManifest(tag: string, bytes: Buffer, mediaType: string, what: string): Promise<string> {
    const answer = await this.request('PUT', `/v2/${this.repository}/manifests/${tag}`, {
      headers: { 'content-type': mediaType, 'content-length': bytes.length },
      body: bytes,
      what,
      ok: [201],
    });
    answer.resume();
    const digest = digestOf(bytes);
    const stored = answer.headers['docker-content-digest'];
    if (typeof stored === 'string' && stored !== digest) throw new DigestError(`${what}: the registry stored ${stored}, we sent ${digest}`);
    return digest;
  }
}

// --- pull --------------------------------------------------------------------------------------------

/** Docker's progress messages: a line without id ("Digest: …"), or a layer's status ("3f4a…: Downloading"). */
export interface RegistryEvent {
  id?: string;
  status: string;
  current?: number;
  total?: number;
}

export interface PullOptions extends RegistryOptions {
  /** "linux/arm64", "linux/arm/v7": which manifest of an index. Default: this machine's. */
  platform?: string;
  onEvent?: (event: RegistryEvent) => void;
}

export interface PullResult {
  image: StoredImage;
  /** The store's name for it ("busybox:latest"). */
  reference: string;
  /** The digest the registry knows it by (of the index, when the name led to one). */
  digest: string;
  /** false: the store had it already ("Image is up to date"). */
  downloaded: boolean;
}

/** "linux/arm64/v8" → its parts; checked, since a typo would otherwise say "no matching manifest". */
export function parsePlatform(text: string | undefined): { os: string; architecture: string; variant?: string } {
  if (!text) return hostPlatform();
  const [os, architecture, variant, extra] = text.split('/');
  if (!os || !architecture || extra !== undefined) throw new ImageFormatError(`"${text}" is not a platform: OS/ARCH[/VARIANT], e.g. linux/arm64`);
  return { os, architecture, ...(variant ? { variant } : {}) };
}

/** The index entry for a platform, as Docker picks it (a variant must match when one is asked for). */
function pickPlatform(manifests: Descriptor[], wanted: { os: string; architecture: string; variant?: string }, what: string): Descriptor {
  const found = manifests.find((entry) => entry.platform?.os === wanted.os && entry.platform.architecture === wanted.architecture
    && (!wanted.variant || entry.platform.variant === wanted.variant));
  if (found) return found;
  const offered = manifests.map((entry) => entry.platform ? [entry.platform.os, entry.platform.architecture, entry.platform.variant].filter(Boolean).join('/') : '?').join(', ');
  throw new ImageFormatError(`no matching manifest for ${[wanted.os, wanted.architecture, wanted.variant].filter(Boolean).join('/')} in ${what} (it has: ${offered || 'nothing'})`);
}

/** Runs `work` on every item, at most `limit` at a time; the first failure rejects (the rest are left to the caller to stop). */
function limited<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R>[] {
  let running = 0;
  const waiting: (() => void)[] = [];
  return items.map(async (item) => {
    if (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
    try {
      return await work(item);
    } finally {
      running--;
      waiting.shift()?.();
    }
  });
}

/**
 * Downloads one blob into downloads/, verified as it streams; returns the complete file. A partial
 * file left by a pull that broke (its process gone) is taken over and continued with a Range request;
 * a registry that ignores the Range sends it whole and the download starts again from zero.
 */
async function downloadBlob(client: RegistryClient, store: ImageStore, blob: Descriptor, what: string, progress: (bytes: number) => void): Promise<string> {
  const hex = digestHex(blob.digest);
  const dir = downloadsDir(store);
  const mine = path.join(dir, `${hex}.partial-${process.pid}`);
  for (const name of readdirSync(dir)) {
    const owner = new RegExp(`^${hex}\\.partial-(\\d+)$`).exec(name)?.[1];
    if (owner && !processIsAlive(Number(owner)) && !existsSync(mine)) {
      try {
        renameSync(path.join(dir, name), mine); // rename(2) is atomic: one pull takes it over
      } catch {
        // another pull took it first
      }
    }
  }
  let offset = existsSync(mine) ? statSync(mine).size : 0;
  if (offset > blob.size) {
    rmSync(mine, { force: true });
    offset = 0;
  }
  const hash = createHash('sha256');
  if (offset > 0) for await (const chunk of createReadStream(mine)) hash.update(chunk as Buffer);
  if (offset === blob.size) {
    // A download that finished, kept by a pull that failed elsewhere: complete if its digest says so.
    const complete = path.join(dir, `${hex}.complete-${process.pid}`);
    if (`sha256:${hash.digest('hex')}` === blob.digest) {
      renameSync(mine, complete);
      progress(blob.size);
      return complete;
    }
    rmSync(mine, { force: true });
    return downloadBlob(client, store, blob, what, progress);
  }
  let answer = await client.getBlob(blob.digest, what, offset);
  const range = answer.headers['content-range'];
  const resumed = answer.statusCode === 206 && typeof range === 'string' && range.startsWith(`bytes ${offset}-`);
  if (offset > 0 && !resumed) {
    // No resume offered: a 200 is the whole blob, anything else is asked again; either way from zero.
    if (answer.statusCode !== 200) {
      answer.resume();
      answer = await client.getBlob(blob.digest, what);
    }
    offset = 0;
  }
  return finish(offset > 0 ? hash : createHash('sha256'));

  async function finish(started: Hash): Promise<string> {
    let bytes = offset;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        bytes += chunk.length;
        progress(bytes);
        done(null, chunk);
      },
    });
    const file = createWriteStream(mine, { flags: offset > 0 ? 'a' : 'w' });
    try {
      await pipeline(answer, verifyingStream(blob, what, { hash: started, bytes: offset }), counter, file);
    } catch (error) {
      // The file is opened asynchronously: wait for it to be closed, or a late open would bring back a removed file.
      if (!file.closed) await new Promise<void>((resolve) => file.once('close', () => resolve()));
      // Wrong bytes are never resumed from; bytes that merely stopped coming are.
      if (error instanceof DigestError && !(error instanceof TruncatedBlobError)) rmSync(mine, { force: true });
      if (error instanceof DigestError || error instanceof RegistryError) throw error;
      throw new RegistryError(`${what}: the download broke after ${bytes} of ${blob.size} bytes (${(error as Error).message}); pull again to resume`);
    }
    const complete = path.join(dir, `${hex}.complete-${process.pid}`);
    renameSync(mine, complete);
    return complete;
  }
}

/**
 * `docker pull`: the manifest (resolved through an index to this platform), the config, the layers the
 * store lacks — downloaded in parallel, verified, extracted in order — then the tag. All of it in one
 * import job: the store gains the whole image or nothing.
 */
export async function pullImage(store: ImageStore, text: string, options: PullOptions = {}): Promise<PullResult> {
  const name = parseImageName(text);
  const platform = parsePlatform(options.platform);
  const report = options.onEvent ?? (() => {});
  const reference = localReference(name);
  const client = new RegistryClient(name.registry, name.repository, options);
  const what = `manifest for ${fullName(name)}`;
  report({ status: `${name.digest ?? name.tag}: Pulling from ${name.repository}` });
  try {
    // The manifest, through an index if the name leads to one.
    const top = await client.getManifest(name.digest ?? name.tag ?? 'latest', what);
    let manifestBytes = top.bytes;
    if (top.mediaType === MEDIA_TYPES.index || top.mediaType === MEDIA_TYPES.dockerManifestList) {
      const chosen = pickPlatform(parseIndex(top.bytes, what).manifests, platform, what);
      const inner = await client.getManifest(chosen.digest, `${what} (${platform.os}/${platform.architecture})`);
      if (inner.mediaType !== MEDIA_TYPES.manifest && inner.mediaType !== MEDIA_TYPES.dockerManifest) {
        throw new ImageFormatError(`${what}: an index inside an index is not supported`);
      }
      manifestBytes = inner.bytes;
    }
    const manifest = parseManifest(manifestBytes, what);
    if (!CONFIG_TYPES.includes(manifest.config.mediaType)) {
      throw new ImageFormatError(`${what}: unsupported media type ${manifest.config.mediaType} for a config (not a container image)`);
    }
    manifest.layers.forEach((layer) => layerCompression(layer.mediaType)); // unsupported ones refused before any download
    const manifestDigest = digestOf(manifestBytes);
    // Up to date: the tag already names this very manifest.
    try {
      const local = getImage(store, reference);
      if (local.digest === manifestDigest) {
        report({ status: `Digest: ${top.digest}` });
        report({ status: `Status: Image is up to date for ${fullName(name)}` });
        return { image: local, reference, digest: top.digest, downloaded: false };
      }
    } catch {
      // not here (or damaged): pull it
    }
    if (manifest.config.size > MAX_CONFIG_BYTES) throw new ImageFormatError(`${what}: a config of ${manifest.config.size} bytes: refused`);
    const configAnswer = await client.getBlob(manifest.config.digest, `config of ${fullName(name)}`);
    const configBytes = await readVerified(configAnswer, manifest.config, `config of ${fullName(name)}`);
    const config = parseConfig(configBytes, `config of ${fullName(name)}`);
    if (config.architecture && config.architecture !== platform.architecture) {
      throw new ImageFormatError(`${fullName(name)} is for ${config.os}/${config.architecture}, this pull is for ${platform.os}/${platform.architecture}`);
    }
    if (config.rootfs.diff_ids.length !== manifest.layers.length) {
      throw new ImageFormatError(`${what} lists ${manifest.layers.length} layers, its config ${config.rootfs.diff_ids.length}`);
    }
    await inJob(store, async (job) => {
      const layers = manifest.layers.map((blob, index) => ({ blob, diffId: config.rootfs.diff_ids[index]!, id: shortDigest(blob.digest), what: `layer ${index + 1}/${manifest.layers.length} (${shortDigest(blob.digest)})` }));
      const fetched = new Map<string, Promise<string | null>>(); // one download per blob, however often the manifest lists it
      const toFetch = layers.filter((layer) => {
        if (job.has(layer.diffId) || fetched.has(layer.blob.digest)) return false;
        fetched.set(layer.blob.digest, Promise.resolve(null));
        return true;
      });
      for (const layer of layers) report({ id: layer.id, status: job.has(layer.diffId) ? 'Already exists' : 'Pulling fs layer' });
      const downloads = limited(toFetch, options.concurrency ?? 3, async (layer) => {
        if (existsSync(blobPath(store, layer.blob.digest))) return blobPath(store, layer.blob.digest); // the store has the blob, not the layer
        const file = await downloadBlob(client, store, layer.blob, layer.what, (bytes) => report({ id: layer.id, status: 'Downloading', current: bytes, total: layer.blob.size }));
        report({ id: layer.id, status: 'Verifying Checksum' });
        report({ id: layer.id, status: 'Download complete' });
        return file;
      });
      toFetch.forEach((layer, index) => {
        const download = downloads[index]!;
        download.catch(() => client.abort()); // one failed layer stops the others (their partial files stay, to resume)
        fetched.set(layer.blob.digest, download);
      });
      try {
        // Extracted bottom first, each as soon as it is there: the job checks the paths (no "..") and the diff_id.
        for (const layer of layers) {
          if (job.has(layer.diffId)) continue;
          const file = (await fetched.get(layer.blob.digest))!;
          report({ id: layer.id, status: 'Extracting', current: 0, total: layer.blob.size });
          try {
            await job.stageLayer(createReadStream(file), {
              what: layer.what,
              mediaType: layer.blob.mediaType,
              expectedDiffId: layer.diffId,
              blobFile: file === blobPath(store, layer.blob.digest) ? undefined : file,
              onBytes: (bytes) => report({ id: layer.id, status: 'Extracting', current: bytes, total: layer.blob.size }),
            });
          } catch (error) {
            if (file !== blobPath(store, layer.blob.digest)) rmSync(file, { force: true }); // a hostile layer is not kept for next time
            throw error;
          }
          report({ id: layer.id, status: 'Pull complete' });
        }
      } catch (error) {
        client.abort(); // a refused layer ends the pull: the downloads still running stop too (their partial files stay)
        throw error;
      } finally {
        // A failure: wait for the others to stop, so that nothing writes into downloads/ after we return.
        await Promise.allSettled(downloads);
      }
      job.addBlob(configBytes);
      job.addBlob(manifestBytes);
      job.addTag(reference, manifestDigest);
    });
    report({ status: `Digest: ${top.digest}` });
    report({ status: `Status: Downloaded newer image for ${fullName(name)}` });
    return { image: getImage(store, reference), reference, digest: top.digest, downloaded: true };
  } finally {
    // Completed downloads that no job took (a failure elsewhere) are kept for the next pull to use.
    for (const entry of readdirSync(downloadsDir(store))) {
      const match = /^([a-f0-9]{64})\.complete-(\d+)$/.exec(entry);
      if (match && Number(match[2]) === process.pid) {
        try {
          renameSync(path.join(downloadsDir(store), entry), path.join(downloadsDir(store), `${match[1]}.partial-${process.pid}`));
        } catch {
          // gone already
        }
      }
    }
  }
}

// --- push --------------------------------------------------------------------------------------------

export interface PushOptions extends RegistryOptions {
  onEvent?: (event: RegistryEvent) => void;
}

/**
 * `docker push NAME:TAG`: every blob the registry lacks (HEAD says), then the manifest — the very bytes
 * the store keeps, so the registry's digest is the store's.
 */
export async function pushImage(store: ImageStore, text: string, options: PushOptions = {}): Promise<{ digest: string; size: number }> {
  const name = parseImageName(text);
  if (name.digest) throw new ImageFormatError(`push ${text}: push a tag, not a digest`);
  const image = getImage(store, localReference(name));
  const report = options.onEvent ?? (() => {});
  const client = new RegistryClient(name.registry, name.repository, options, 'pull,push');
  report({ status: `The push refers to repository [${name.registry}/${name.repository}]` });
  const blobs: { blob: Descriptor; file: string; id: string; shown: boolean }[] = [];
  for (const [index, layer] of image.manifest.layers.entries()) {
    const file = blobPath(store, layer.digest);
    if (!existsSync(file)) {
      throw new ImageFormatError(`layer ${index + 1} of ${image.reference} has no blob in the store (imported before blobs were kept): import the image again`);
    }
    blobs.push({ blob: layer, file, id: shortDigest(layer.digest), shown: true });
  }
  blobs.push({ blob: image.manifest.config, file: blobPath(store, image.manifest.config.digest), id: shortDigest(image.manifest.config.digest), shown: false });
  for (const { id, shown } of blobs) if (shown) report({ id, status: 'Preparing' });
  // Authenticate once, before the parallel uploads (each would otherwise answer the challenge itself).
  await client.hasBlob(image.manifest.config.digest, `config of ${text}`);
  const uploads = limited(blobs, options.concurrency ?? 3, async ({ blob, file, id, shown }) => {
    const what = `blob ${shortDigest(blob.digest)} of ${text}`;
    if (await client.hasBlob(blob.digest, what)) {
      if (shown) report({ id, status: 'Layer already exists' });
      return;
    }
    if (shown) report({ id, status: 'Pushing', current: 0, total: blob.size });
    await client.uploadBlob(file, blob, what);
    if (shown) report({ id, status: 'Pushed' });
  });
  uploads.forEach((upload) => upload.catch(() => client.abort()));
  await Promise.all(uploads);
  const manifestBytes = readFileSync(blobPath(store, image.digest));
  const mediaType = (image.manifest as ImageManifest).mediaType ?? MEDIA_TYPES.manifest;
  const digest = await client.putManifest(name.tag ?? 'latest', manifestBytes, mediaType, `manifest of ${text}`);
  report({ status: `${name.tag}: digest: ${digest} size: ${manifestBytes.length}` });
  return { digest, size: manifestBytes.length };
}

/** `docker login`: the credentials are checked against the registry before they are saved. */
export async function login(registry: string, credentials: Credentials, options: RegistryOptions = {}): Promise<void> {
  const client = new RegistryClient(registry, '', options, '', credentials);
  await client.checkLogin();
  saveCredentials(registry, credentials, options.stateDir);
}

/** The registry part of a SERVER argument: "localhost:5000", "https://localhost:5000/", "docker.io". */
export function registryOf(server: string | undefined): string {
  if (!server) return DOCKER_HUB;
  const host = server.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  return ['index.docker.io', 'registry-1.docker.io'].includes(host) ? DOCKER_HUB : host;
}

export { familiarRepository, localReference, parseImageName, type ImageName };
