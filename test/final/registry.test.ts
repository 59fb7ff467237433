/**
 * Images from a registry: minidocker's pull and push against real registries and hostile ones.
 *
 *   - Debian's docker-registry, started here on 127.0.0.1 (a free port, its own storage and config), once
 *     over plain HTTP and once with TLS (a CA made here) and htpasswd users; skopeo, a second and
 *     independent client, pushes what minidocker pulls and reads what minidocker pushes;
 *   - a fake registry in this process for what a real one never does: wrong digests, "../" in a layer,
 *     endless blobs, gigantic manifests, silence, 404/429/401, a download that breaks and resumes.
 *
 * Every command is a new minidocker process (async: the fake registry answers from this process), with
 * the test's own LAB_STATE_DIR; registries and state folders go in afterAll/afterEach, pass or fail.
 * Missing docker-registry or skopeo FAILS the file with the install command: CI installs them.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../src/build/bundle.js';
import { hostPlatform, MEDIA_TYPES } from '../../lessons/05-overlay/oci.js';
import { openImageStore, listTags } from '../../lessons/05-overlay/store.js';
import { describeAsRoot } from '../helpers/root.js';
import { throwawayNetns } from '../helpers/netns.js';
import { makeTar, sha256, tarOfFiles, writeOciLayout, type TarEntry } from '../fixtures/overlay/archives.js';
import {
  bcryptLine, makeTestCa, requireRegistryTools, serveBytes, startDistribution, startFakeRegistry, type Distribution, type FakeRegistry,
} from '../fixtures/registry/servers.js';
import { killRecorded, MINIDOCKER } from './helpers.js';

const hex = (bytes = 4) => randomBytes(bytes).toString('hex');

let stateDir: string;
let hostNetns: string;

/** One minidocker command, as a separate process that does not block this one (the fake registry lives here). */
function md(args: string[], env: Record<string, string> = {}, input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, MINIDOCKER), ...args], {
      env: { ...process.env, LAB_STATE_DIR: stateDir, MINIDOCKER_NETNS: hostNetns, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.stdin.end(input ?? '');
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A refusal as the bar wants it: exit 125, one line on stderr that says `pattern`, nothing else. */
function expectOneLine(result: { code: number | null; stderr: string }, pattern: RegExp): void {
  const lines = result.stderr.trim().split('\n').filter((line) => line.startsWith('minidocker:'));
  expect(result.code, result.stderr).toBe(125);
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
}

/** What the store holds: a refused pull must leave all of it as it was. */
function storeState() {
  const root = path.join(stateDir, 'images');
  if (!existsSync(root)) return { layers: [], blobs: [], tags: [], jobs: [] };
  return {
    layers: readdirSync(path.join(root, 'layers')).sort(),
    blobs: readdirSync(path.join(root, 'blobs', 'sha256')).sort(),
    tags: [...listTags(openImageStore(stateDir)).keys()].sort(),
    jobs: readdirSync(path.join(root, 'tmp')),
  };
}

/** A root file system with a static BusyBox (the lab's dependency) and a file that names this test run. */
function busyboxRootfs(marker: string): Buffer {
  const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((file) => existsSync(file));
  if (!busybox) throw new Error('no static busybox: apt-get install -y busybox-static');
  const entries: TarEntry[] = [
    { path: 'bin/', type: 'Directory', mode: 0o755 },
    { path: 'bin/busybox', content: readFileSync(busybox), mode: 0o755 },
    ...['sh', 'echo', 'cat'].map((name): TarEntry => ({ path: `bin/${name}`, type: 'SymbolicLink', linkpath: 'busybox' })),
    { path: 'marker', content: marker, mode: 0o644 },
  ];
  return makeTar(entries);
}

// --- images for the fake registry ----------------------------------------------------------------------

interface Published {
  manifest: Buffer;
  manifestDigest: string;
  config: Buffer;
  layer: Buffer;
  layerDigest: string;
}

/** An honest one-layer image: the blobs and documents a registry serves. */
function image(tar: Buffer, options: { architecture?: string; layerBytes?: Buffer; layerSize?: number } = {}): Published {
  const layer = options.layerBytes ?? gzipSync(tar);
  const config = Buffer.from(JSON.stringify({
    architecture: options.architecture ?? hostPlatform().architecture, os: 'linux', config: { Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: [`sha256:${sha256(tar)}`] },
  }));
  const layerDigest = `sha256:${sha256(gzipSync(tar))}`;
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: MEDIA_TYPES.manifest,
    config: { mediaType: MEDIA_TYPES.config, digest: `sha256:${sha256(config)}`, size: config.length },
    layers: [{ mediaType: MEDIA_TYPES.layerGzip, digest: layerDigest, size: options.layerSize ?? gzipSync(tar).length }],
  }));
  return { manifest, manifestDigest: `sha256:${sha256(manifest)}`, config, layer, layerDigest };
}

function publish(fake: FakeRegistry, repository: string, tag: string, published: Published): void {
  const manifest = serveBytes(published.manifest, { contentType: MEDIA_TYPES.manifest, digest: published.manifestDigest });
  fake.routes.set(`/v2/${repository}/manifests/${tag}`, manifest);
  fake.routes.set(`/v2/${repository}/manifests/${published.manifestDigest}`, manifest);
  fake.routes.set(`/v2/${repository}/blobs/sha256:${sha256(published.config)}`, serveBytes(published.config));
  fake.routes.set(`/v2/${repository}/blobs/${published.layerDigest}`, serveBytes(published.layer, { ranges: true }));
}

const layerGets = (fake: FakeRegistry, digest: string) => fake.log.filter((line) => line.startsWith(`GET /v2/`) && line.includes(`/blobs/${digest}`)).length;

describeAsRoot('minidocker pull from a registry that does not play by the rules', () => {
  const netns = throwawayNetns();
  let fake: FakeRegistry;
  const env = () => ({ MINIDOCKER_REGISTRY_TIMEOUT: '2' });
  beforeAll(async () => {
    fake = await startFakeRegistry();
  });
  afterAll(async () => {
    await fake?.stop();
  });
  beforeEach(() => {
    hostNetns = netns.create('lab-test-reg');
    stateDir = mkdtempSync(path.join(tmpdir(), 'mdl-registry-'));
  });
  afterEach(() => {
    killRecorded(stateDir);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('pulls through a Bearer challenge, verifies and stores the image; a layer two images share is downloaded once', async () => {
    const repository = `good/app-${hex()}`;
    const tar = tarOfFiles({ 'etc/greeting': `hello ${hex()}\n` });
    const first = image(tar);
    publish(fake, repository, 'v1', first);
    const pulled = await md(['pull', `${fake.host}/${repository}:v1`], env());
    expect(pulled.code, pulled.stderr).toBe(0);
    // Not a terminal: Docker's plain lines, one per status change.
    expect(pulled.stdout).toContain(`v1: Pulling from ${repository}`);
    expect(pulled.stdout).toContain(`${first.layerDigest.slice(7, 19)}: Pull complete`);
    expect(pulled.stdout).toContain(`Digest: ${first.manifestDigest}`);
    expect(pulled.stdout).toContain(`Status: Downloaded newer image for ${fake.host}/${repository}:v1`);
    expect(pulled.stdout).not.toContain('\x1b[');
    expect(fake.log).toContain('GET /token');
    const store = openImageStore(stateDir);
    expect(listTags(store).get(`${fake.host}/${repository}:v1`)).toBe(first.manifestDigest);
    expect(readFileSync(path.join(stateDir, 'images/layers', sha256(tar), 'diff/etc/greeting'), 'utf8')).toMatch(/^hello /);
    expect(existsSync(path.join(stateDir, 'images/blobs/sha256', first.layerDigest.slice(7)))).toBe(true);

    // A second image on the same layer (another config): the layer is "Already exists", never fetched again.
    const second = image(tar);
    second.config = Buffer.from(JSON.stringify({ ...JSON.parse(first.config.toString()), config: { Cmd: ['/bin/true'] } }));
    const again = image(tar);
    const manifest = JSON.parse(again.manifest.toString());
    manifest.config = { mediaType: MEDIA_TYPES.config, digest: `sha256:${sha256(second.config)}`, size: second.config.length };
    second.manifest = Buffer.from(JSON.stringify(manifest));
    second.manifestDigest = `sha256:${sha256(second.manifest)}`;
    publish(fake, repository, 'v2', second);
    const other = await md(['pull', `${fake.host}/${repository}:v2`], env());
    expect(other.code, other.stderr).toBe(0);
    expect(other.stdout).toContain(`${first.layerDigest.slice(7, 19)}: Already exists`);
    expect(layerGets(fake, first.layerDigest)).toBe(1);
    // Pulled again: nothing to do.
    const same = await md(['pull', `${fake.host}/${repository}:v2`], env());
    expect(same.stdout).toContain(`Status: Image is up to date for ${fake.host}/${repository}:v2`);
  });

  it('an index is resolved to this machine\'s platform; --platform picks another; a platform it lacks is one line', async () => {
    const repository = `multi/app-${hex()}`;
    const native = image(tarOfFiles({ which: 'native\n' }));
    const foreign = image(tarOfFiles({ which: 's390x\n' }), { architecture: 's390x' });
    publish(fake, repository, 'native', native);
    publish(fake, repository, 'foreign', foreign);
    const index = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: MEDIA_TYPES.index,
      manifests: [
        { mediaType: MEDIA_TYPES.manifest, digest: foreign.manifestDigest, size: foreign.manifest.length, platform: { os: 'linux', architecture: 's390x' } },
        { mediaType: MEDIA_TYPES.manifest, digest: native.manifestDigest, size: native.manifest.length, platform: { os: 'linux', architecture: hostPlatform().architecture } },
      ],
    }));
    fake.routes.set(`/v2/${repository}/manifests/v1`, serveBytes(index, { contentType: MEDIA_TYPES.index }));
    expect((await md(['pull', `${fake.host}/${repository}:v1`], env())).code).toBe(0);
    expect(listTags(openImageStore(stateDir)).get(`${fake.host}/${repository}:v1`)).toBe(native.manifestDigest);
    expect((await md(['pull', '--platform', 'linux/s390x', `${fake.host}/${repository}:v1`], env())).code).toBe(0);
    expect(listTags(openImageStore(stateDir)).get(`${fake.host}/${repository}:v1`)).toBe(foreign.manifestDigest);
    expectOneLine(await md(['pull', '--platform', 'linux/mips64le', `${fake.host}/${repository}:v1`], env()), /no matching manifest for linux\/mips64le .*linux\/s390x/);
  });

  it('pull by digest: the manifest must have that digest', async () => {
    const repository = `pinned/app-${hex()}`;
    const published = image(tarOfFiles({ pinned: 'yes\n' }));
    publish(fake, repository, 'v1', published);
    const pulled = await md(['pull', `${fake.host}/${repository}@${published.manifestDigest}`], env());
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(listTags(openImageStore(stateDir)).get(`${fake.host}/${repository}:${published.manifestDigest.replace(':', '-')}`)).toBe(published.manifestDigest);
    // A registry that answers a digest with other bytes.
    const liar = image(tarOfFiles({ pinned: 'no\n' }));
    const wanted = `sha256:${sha256(`not ${hex()}`)}`;
    fake.routes.set(`/v2/${repository}/manifests/${wanted}`, serveBytes(liar.manifest, { contentType: MEDIA_TYPES.manifest }));
    const before = storeState();
    expectOneLine(await md(['pull', `${fake.host}/${repository}@${wanted}`], env()), /digest mismatch: expected sha256:/);
    expect(storeState()).toEqual(before);
  });

  const hostile: [string, (repository: string) => void, RegExp][] = [
    ['a layer whose bytes do not match its digest', (repository) => {
      const published = image(tarOfFiles({ a: 'real\n' }));
      const tampered = Buffer.from(published.layer);
      tampered[Math.floor(tampered.length / 2)]! ^= 0xff; // one byte changed, the size the same
      publish(fake, repository, 'v1', { ...published, layer: tampered });
    }, /digest mismatch: expected sha256:/],
    ['a layer with "../" in a path', (repository) => {
      const tar = makeTar([{ path: '../../escaped', content: 'out\n' }]);
      publish(fake, repository, 'v1', image(tar));
    }, /a "\.\." part/],
    ['an endless blob', (repository) => {
      const published = image(tarOfFiles({ a: 'x\n' }));
      publish(fake, repository, 'v1', published);
      fake.routes.set(`/v2/${repository}/blobs/${published.layerDigest}`, (_request, response) => {
        // Bounded (it stops by itself at 64 MiB), and the client must give up long before.
        let sent = 0;
        const more = () => {
          while (sent < 64 << 20) {
            sent += 64 << 10;
            if (!response.write(Buffer.alloc(64 << 10, 0x61))) return void response.once('drain', more);
          }
          response.end();
        };
        response.on('close', () => (sent = Infinity));
        more();
      });
    }, /more than the \d+ bytes its descriptor says: refused/],
    ['a gigantic manifest', (repository) => {
      fake.routes.set(`/v2/${repository}/manifests/v1`, (_request, response) => {
        response.setHeader('content-type', MEDIA_TYPES.manifest);
        response.write('{"schemaVersion":2,"layers":[');
        let sent = 0;
        const more = () => {
          while (sent < 64 << 20) {
            sent += 64 << 10;
            if (!response.write(' '.repeat(64 << 10))) return void response.once('drain', more);
          }
          response.end(']}');
        };
        response.on('close', () => (sent = Infinity));
        more();
      });
    }, /more than the 4194304 bytes allowed: refused/],
    ['a manifest of an unsupported media type (schema 1)', (repository) => {
      fake.routes.set(`/v2/${repository}/manifests/v1`, serveBytes(Buffer.from('{"schemaVersion":1}'), { contentType: 'application/vnd.docker.distribution.manifest.v1+prettyjws' }));
    }, /unsupported media type application\/vnd\.docker\.distribution\.manifest\.v1\+prettyjws/],
    ['a layer of an unsupported media type', (repository) => {
      const published = image(tarOfFiles({ a: 'x\n' }));
      const manifest = JSON.parse(published.manifest.toString());
      manifest.layers[0].mediaType = 'application/vnd.example.strange';
      published.manifest = Buffer.from(JSON.stringify(manifest));
      published.manifestDigest = `sha256:${sha256(published.manifest)}`;
      publish(fake, repository, 'v1', published);
    }, /unsupported layer media type application\/vnd\.example\.strange/],
    ['a repository that does not exist (404)', () => {}, /not found \(manifest unknown: manifest unknown\)/],
    ['a registry that limits the rate (429)', (repository) => {
      fake.routes.set(`/v2/${repository}/manifests/v1`, (_request, response) => {
        response.statusCode = 429;
        response.setHeader('retry-after', '30');
        response.end('{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}');
      });
    }, /toomanyrequests: .* limits the rate of requests .*try again in 30 s/],
    ['a repository that wants a login (401)', (repository) => {
      fake.routes.set(`/v2/${repository}/manifests/v1`, (_request, response) => {
        response.statusCode = 401;
        response.setHeader('www-authenticate', 'Basic realm="private"');
        response.end();
      });
    }, /unauthorized: .* wants a login .*: minidocker login 127\.0\.0\.1:\d+/],
    ['a registry that never answers', (repository) => {
      fake.routes.set(`/v2/${repository}/manifests/v1`, () => {
        // Says nothing: the client's timeout (2 s here) must end it. The socket is closed by stop().
      });
    }, /did not answer within 2 s/],
  ];
  for (const [name, setUp, refusal] of hostile) {
    it(`refused in one line, the store unchanged: ${name}`, async () => {
      const repository = `bad/case-${hex()}`;
      setUp(repository);
      const before = storeState();
      expectOneLine(await md(['pull', `${fake.host}/${repository}:v1`], env()), refusal);
      expect(storeState()).toEqual(before);
      // Nothing kept to resume from: these bytes were wrong, not cut short.
      expect(readdirSync(path.join(stateDir, 'images/downloads'))).toEqual([]);
      expect(readdirSync(path.join(stateDir, 'images/layers'))).toEqual([]);
    });
  }

  it('a download cut short is refused in one line, and the next pull resumes it with a Range request', async () => {
    const repository = `cut/app-${hex()}`;
    const tar = makeTar([{ path: 'big', content: randomBytes(600_000) }]);
    const published = image(tar);
    publish(fake, repository, 'v1', published);
    const half = Math.floor(published.layer.length / 2);
    fake.routes.set(`/v2/${repository}/blobs/${published.layerDigest}`, (_request, response) => {
      response.setHeader('content-length', published.layer.length);
      response.write(published.layer.subarray(0, half), () => setTimeout(() => response.destroy(), 50));
    });
    expectOneLine(await md(['pull', `${fake.host}/${repository}:v1`], env()), /the download broke after \d+ of \d+ bytes .*pull again to resume/);
    expect(storeState()).toEqual({ layers: [], blobs: [], tags: [], jobs: [] });
    const partial = readdirSync(path.join(stateDir, 'images/downloads'));
    expect(partial).toHaveLength(1);
    expect(partial[0]).toMatch(new RegExp(`^${published.layerDigest.slice(7)}\\.partial-\\d+$`));
    const kept = statSync(path.join(stateDir, 'images/downloads', partial[0]!)).size;
    expect(kept).toBeGreaterThan(0);
    // The registry is well again, and honours Range.
    fake.routes.set(`/v2/${repository}/blobs/${published.layerDigest}`, serveBytes(published.layer, { ranges: true }));
    const resumed = await md(['pull', `${fake.host}/${repository}:v1`], env());
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(fake.log).toContain(`GET /v2/${repository}/blobs/${published.layerDigest} range=bytes=${kept}-`);
    expect(readFileSync(path.join(stateDir, 'images/blobs/sha256', published.layerDigest.slice(7)))).toEqual(published.layer);
    expect(readdirSync(path.join(stateDir, 'images/downloads'))).toEqual([]);
  });
});

// --- a real registry ---------------------------------------------------------------------------------

const skopeo = (args: string[]) => {
  const result = spawnSync('skopeo', ['--insecure-policy', ...args], { encoding: 'utf8', timeout: 120_000 });
  if (result.status !== 0) throw new Error(`skopeo ${args.join(' ')}: ${result.stderr.trim()}`);
  return result.stdout;
};

describeAsRoot('minidocker push and pull with a real registry (docker-registry) and a second client (skopeo)', () => {
  const netns = throwawayNetns();
  let registry: Distribution | undefined;
  let secure: Distribution | undefined;
  let work: string;
  const user = `lab${hex(3)}`;
  const password = hex(12);
  beforeAll(async () => {
    requireRegistryTools();
    work = mkdtempSync(path.join(tmpdir(), 'lab-registry-test-'));
    registry = await startDistribution();
    const tls = makeTestCa(work);
    secure = await startDistribution({ tls, htpasswd: bcryptLine(user, password) });
  }, 60_000);
  afterAll(async () => {
    await registry?.stop();
    await secure?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });
  beforeEach(() => {
    hostNetns = netns.create('lab-test-reg');
    stateDir = mkdtempSync(path.join(tmpdir(), 'mdl-registry-'));
  });
  afterEach(() => {
    killRecorded(stateDir);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('import → push → rmi → run pulls it again: the same image ID, and skopeo agrees on the digests', async () => {
    const name = `${registry!.host}/mine-${hex()}:v1`;
    const marker = `pushed ${hex()}`;
    const rootfs = path.join(stateDir, 'rootfs.tar');
    writeFileSync(rootfs, busyboxRootfs(marker));
    const imported = await md(['image', 'import', rootfs, name]);
    expect(imported.code, imported.stderr).toBe(0);
    const id = imported.stdout.trim();
    const pushed = await md(['push', name]);
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(pushed.stdout).toContain(`The push refers to repository [${name.slice(0, -3)}]`);
    expect(pushed.stdout).toMatch(/: Pushed\n/);
    const digest = /v1: digest: (sha256:[a-f0-9]{64}) size: \d+/.exec(pushed.stdout)?.[1];
    expect(digest).toBeDefined();
    // skopeo reads it back: the same manifest digest, our config as the image, our layer.
    const inspected = JSON.parse(skopeo(['inspect', '--tls-verify=false', `docker://${name}`]));
    expect(inspected.Digest).toBe(digest);
    const raw = skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${name}`]);
    expect(`sha256:${createHash('sha256').update(raw).digest('hex')}`).toBe(digest);
    expect(JSON.parse(raw).config.digest).toBe(id);
    // A second push: every blob is there already.
    expect((await md(['push', name])).stdout).toMatch(/: Layer already exists\n/);

    expect((await md(['rmi', name])).code).toBe(0);
    expect(storeState().layers).toEqual([]);
    const ran = await md(['run', '--rm', '--network', 'none', name, 'cat', '/marker']);
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toBe(marker);
    expect(ran.stderr).toContain(`Unable to find image '${name}' locally`);
    expect(ran.stderr).toContain('Pull complete');
    expect(ran.stderr).toContain(`Digest: ${digest}`);
    const images = await md(['images']);
    expect(images.stdout).toContain(id.slice(7, 19));
  });

  it('an image pushed by skopeo is pulled and run by minidocker, with the digest skopeo reports', async () => {
    const layout = path.join(stateDir, 'layout');
    const marker = `from skopeo ${hex()}`;
    writeOciLayout(layout, [busyboxRootfs(marker)], { gzip: [0] });
    const name = `${registry!.host}/theirs-${hex()}:v2`;
    skopeo(['copy', '--dest-tls-verify=false', `oci:${layout}`, `docker://${name}`]);
    const digest = JSON.parse(skopeo(['inspect', '--tls-verify=false', `docker://${name}`])).Digest;
    const pulled = await md(['pull', name]);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(pulled.stdout).toContain(`Digest: ${digest}`);
    const ran = await md(['run', '--rm', '--network', 'none', name, 'cat', '/marker']);
    expect(ran.stdout).toBe(marker);
  });

  it('TLS with the test\'s CA and htpasswd: refused without the CA or a login; login, push, pull; skopeo agrees; logout', async () => {
    const name = `${secure!.host}/private-${hex()}:v1`;
    const certs = path.join(work, 'certs.d');
    const trusted = { MINIDOCKER_CERTS_D: certs };
    const hostCerts = path.join(certs, secure!.host);
    // Docker's layout: certs.d/<host:port>/ca.crt
    spawnSync('mkdir', ['-p', hostCerts]);
    writeFileSync(path.join(hostCerts, 'ca.crt'), readFileSync(path.join(work, 'ca.crt')));
    const rootfs = path.join(stateDir, 'rootfs.tar');
    const marker = `private ${hex()}`;
    writeFileSync(rootfs, busyboxRootfs(marker));
    expect((await md(['image', 'import', rootfs, name])).code).toBe(0);

    // A certificate nobody vouched for: refused, with where the CA goes (and no retreat to plain HTTP).
    expectOneLine(await md(['push', name], { MINIDOCKER_CERTS_D: path.join(work, 'nowhere') }), /certificate .*: put the registry's CA in .*nowhere\/127\.0\.0\.1:\d+\/ca\.crt/);
    // Trusted, but no login.
    expectOneLine(await md(['push', name], trusted), /unauthorized: .* wants a login .*: minidocker login 127\.0\.0\.1:\d+/);
    // A wrong password: refused, nothing saved.
    expectOneLine(await md(['login', '-u', user, '--password-stdin', secure!.host], trusted, 'wrong\n'), /unauthorized/);
    const configFile = path.join(stateDir, 'docker', 'config.json');
    expect(existsSync(configFile)).toBe(false);
    const loggedIn = await md(['login', '-u', user, '--password-stdin', secure!.host], trusted, `${password}\n`);
    expect(loggedIn.code, loggedIn.stderr).toBe(0);
    expect(loggedIn.stdout).toBe('Login Succeeded\n');
    expect(statSync(configFile).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(configFile)).mode & 0o777).toBe(0o700);
    expect(JSON.parse(readFileSync(configFile, 'utf8')).auths[secure!.host].auth).toBe(Buffer.from(`${user}:${password}`).toString('base64'));

    const pushed = await md(['push', name], trusted);
    expect(pushed.code, pushed.stderr).toBe(0);
    const digest = /digest: (sha256:[a-f0-9]{64})/.exec(pushed.stdout)?.[1];
    const inspected = JSON.parse(skopeo(['inspect', '--cert-dir', hostCerts, '--creds', `${user}:${password}`, `docker://${name}`]));
    expect(inspected.Digest).toBe(digest);

    expect((await md(['rmi', name])).code).toBe(0);
    const ran = await md(['run', '--rm', '--network', 'none', name, 'cat', '/marker'], trusted);
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toBe(marker);

    const out = await md(['logout', secure!.host]);
    expect(out.stdout).toBe(`Removing login credentials for ${secure!.host}\n`);
    expect(JSON.parse(readFileSync(configFile, 'utf8')).auths[secure!.host]).toBeUndefined();
    expectOneLine(await md(['pull', name.replace(':v1', ':v2')], trusted), /unauthorized/);
  });
});

describe('image names as Docker parses them', () => {
  it('Docker Hub, official images, hosts with ports, tags and digests', async () => {
    const { parseImageName, localReference, fullName } = await import('../../lessons/05-overlay/image-names.js');
    const digest = `sha256:${'a'.repeat(64)}`;
    expect(parseImageName('busybox')).toEqual({ registry: 'docker.io', repository: 'library/busybox', tag: 'latest' });
    expect(fullName(parseImageName('busybox'))).toBe('docker.io/library/busybox:latest');
    expect(localReference(parseImageName('docker.io/library/busybox:1.36'))).toBe('busybox:1.36');
    expect(parseImageName('bitnami/redis:7')).toEqual({ registry: 'docker.io', repository: 'bitnami/redis', tag: '7' });
    expect(parseImageName('localhost:5000/mine:v1')).toEqual({ registry: 'localhost:5000', repository: 'mine', tag: 'v1' });
    expect(parseImageName('localhost/mine')).toEqual({ registry: 'localhost', repository: 'mine', tag: 'latest' });
    expect(parseImageName(`ghcr.io/org/app@${digest}`)).toEqual({ registry: 'ghcr.io', repository: 'org/app', digest });
    expect(localReference(parseImageName(`127.0.0.1:5000/a/b@${digest}`))).toBe(`127.0.0.1:5000/a/b:sha256-${'a'.repeat(64)}`);
    expect(parseImageName('Host/app').registry).toBe('Host');
    for (const bad of ['Upper', 'host/Upper', 'a/../b', 'x:', `app@sha256:${'a'.repeat(10)}`, 'host:5000/']) expect(() => parseImageName(bad), bad).toThrow();
  });
});
