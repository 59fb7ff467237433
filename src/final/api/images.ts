/**
 * /images/…: lesson 05's image store, as `minidocker images`, `rmi`, `tag` and `pull` use it.
 * Docker's image ID is the config's digest (StoredImage.id); a name is NAME:TAG in the store's form.
 */
import { fullName, localReference, parseImageName } from '../../../lessons/05-overlay/image-names.js';
import { pullImage, registryOptionsFromEnv } from '../../../lessons/05-overlay/registry.js';
import { createWriteStream, rmSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import {
  getImage, importImage, listImages, openImageStore, removeImage, saveImages, scratchPath, tagImage, UnknownImageError, type SavedImage, type StoredImage,
} from '../../../lessons/05-overlay/store.js';
import { ImageFormatError } from '../../../lessons/05-overlay/oci.js';
import { formatErrorLine } from '../../sys/errors.js';
import { listInfos, resolveImage } from '../docker.js';
import { commitContainer, type OverlayContainerDir } from '../../../lessons/05-overlay/containers.js';
import type { Engine } from './engine.js';
import type { Exchange } from './exchange.js';
import { badRequest, conflict, notFound } from './http.js';

function sizeOf(image: StoredImage): number {
  return image.layers.reduce((sum, layer) => sum + layer.size, 0);
}

function storeName(text: string): string {
  try {
    return localReference(parseImageName(text));
  } catch {
    throw badRequest(`invalid reference format: "${text}"`);
  }
}

/** An image by name (busybox, busybox:latest, localhost:5000/app:v1) or by ID (sha256:…, or a prefix of it). */
function findImage(engine: Engine, text: string): StoredImage {
  const store = openImageStore(engine.stateDir);
  const byId = text.replace(/^sha256:/, '');
  if (/^[0-9a-f]{4,64}$/.test(byId)) {
    const found = listImages(store).find((image) => image.id.replace('sha256:', '').startsWith(byId));
    if (found) return found;
  }
  try {
    return getImage(store, storeName(text));
  } catch (error) {
    if (error instanceof UnknownImageError) throw notFound(`No such image: ${text}`);
    throw error;
  }
}

/** Every name each image has: one entry per image ID, as `docker images` groups them. */
function byId(engine: Engine): { image: StoredImage; tags: string[] }[] {
  const groups = new Map<string, { image: StoredImage; tags: string[] }>();
  for (const image of listImages(openImageStore(engine.stateDir))) {
    const group = groups.get(image.id) ?? { image, tags: [] };
    if (image.reference) group.tags.push(image.reference);
    groups.set(image.id, group);
  }
  return [...groups.values()];
}

/** GET /images/json's rows (also /system/df's). */
export function imageSummaries(engine: Engine) {
  const containers = listInfos(engine.stateDir);
  return byId(engine).map(({ image, tags }) => ({
    Id: image.id,
    ParentId: '',
    RepoTags: tags.length ? tags : ['<none>:<none>'],
    RepoDigests: [],
    Created: image.config.created ? Math.floor(Date.parse(image.config.created) / 1000) : 0,
    Size: sizeOf(image),
    SharedSize: -1,
    Labels: image.config.config?.Labels ?? {},
    Containers: containers.filter((info) => info.imageId === image.id).length,
  }));
}

export async function listImagesHandler(engine: Engine, exchange: Exchange): Promise<void> {
  exchange.json(200, imageSummaries(engine));
}

export async function inspectImage(engine: Engine, exchange: Exchange): Promise<void> {
  const image = findImage(engine, exchange.params.name!);
  const tags = byId(engine).find((group) => group.image.id === image.id)?.tags ?? [];
  exchange.json(200, {
    Id: image.id,
    RepoTags: tags,
    RepoDigests: [],
    Parent: '',
    Comment: '',
    Created: image.config.created ?? '',
    Config: { Env: [], Cmd: null, Entrypoint: null, WorkingDir: '', User: '', Labels: {}, ...image.config.config },
    Architecture: image.config.architecture,
    Os: image.config.os,
    Size: sizeOf(image),
    GraphDriver: { Name: 'overlay2', Data: { LowerDir: image.layers.map((layer) => layer.dir).reverse().join(':') } },
    RootFS: { Type: 'layers', Layers: image.config.rootfs.diff_ids },
    Metadata: { LastTagTime: '0001-01-01T00:00:00Z' },
  });
}

/** DELETE /images/{name}: `minidocker rmi` — refused (409) while a container uses the image. */
export async function removeImageHandler(engine: Engine, exchange: Exchange): Promise<void> {
  const text = exchange.params.name!;
  const image = findImage(engine, text);
  const user = listInfos(engine.stateDir).find((info) => info.imageId === image.id);
  if (user) throw conflict(`conflict: unable to remove repository reference "${text}" (must force) - container ${user.id} is using its referenced image ${image.id.replace('sha256:', '').slice(0, 12)}`);
  const reference = image.reference ?? storeName(text);
  const layers = removeImage(openImageStore(engine.stateDir), reference);
  engine.events.imageEvent('untag', reference);
  exchange.json(200, [{ Untagged: reference }, ...layers.map((layer) => ({ Deleted: layer }))]);
}

/** POST /images/{name}/tag?repo=R&tag=T. */
export async function tagImageHandler(engine: Engine, exchange: Exchange): Promise<void> {
  const image = findImage(engine, exchange.params.name!);
  const repo = exchange.query.get('repo');
  if (!repo) throw badRequest('repository name (repo) is required');
  const target = storeName(`${repo}${exchange.query.get('tag') ? `:${exchange.query.get('tag')}` : ''}`);
  tagImage(openImageStore(engine.stateDir), image.digest, target);
  engine.events.imageEvent('tag', target);
  exchange.json(201, undefined);
}

/**
 * POST /images/create?fromImage=NAME&tag=TAG: `minidocker pull`, its progress as Docker's JSON lines
 * ({"status", "id", "progressDetail"}); a failure after the 200 is a last line with "error", as Docker does.
 */
export async function pullImageHandler(engine: Engine, exchange: Exchange): Promise<void> {
  const from = exchange.query.get('fromImage');
  if (exchange.query.get('fromSrc')) throw badRequest('minidocker does not import through the API (fromSrc): use `minidocker image import`');
  if (!from) throw badRequest('fromImage is required: the image to pull');
  const tag = exchange.query.get('tag');
  const text = tag ? (tag.startsWith('sha256:') ? `${from}@${tag}` : `${from}:${tag}`) : from;
  storeName(text);
  const stream = exchange.openJsonStream();
  try {
    const result = await pullImage(openImageStore(engine.stateDir), text, {
      ...registryOptionsFromEnv(),
      platform: exchange.query.get('platform') || undefined,
      onEvent: (event) => stream.write({ status: event.status, ...(event.id ? { id: event.id } : {}), ...(event.current !== undefined ? { progressDetail: { current: event.current, total: event.total } } : {}) }),
    });
    stream.write({ status: `Status: ${result.downloaded ? 'Downloaded newer image' : 'Image is up to date'} for ${fullName(parseImageName(text))}` });
    engine.events.imageEvent('pull', result.reference);
  } catch (error) {
    const message = formatErrorLine(error);
    stream.write({ errorDetail: { message }, error: message });
  }
  stream.end();
}

/**
 * POST /commit?container=C&repo=R&tag=T: `minidocker commit` — the container's writable layer on top of
 * its image, as a new image (lesson 05's commitContainer). A config to apply (`docker commit --change`)
 * is refused: the new image keeps the container's command.
 */
export async function commitHandler(engine: Engine, exchange: Exchange): Promise<void> {
  const ref = exchange.query.get('container');
  if (!ref) throw badRequest('container is required: the container to commit');
  const body = await exchange.body();
  if (Object.values(body).some((value) => value !== null && !(Array.isArray(value) && !value.length) && value !== '' && value !== false && !(typeof value === 'object' && !Object.keys(value).length))) {
    throw badRequest('minidocker does not apply a config at commit (docker commit --change): leave it out');
  }
  const info = engine.find(ref);
  const repo = exchange.query.get('repo');
  const tag = exchange.query.get('tag');
  const store = openImageStore(engine.stateDir);
  const base = listImages(store).find((image) => image.id === info.imageId) ?? (await resolveImage(store, info.image));
  const dir = { upper: `${info.layerDir}/upper`, image: base } as OverlayContainerDir;
  const image = await commitContainer(store, dir, { reference: repo ? storeName(tag ? `${repo}:${tag}` : repo) : undefined, createdBy: `minidocker commit ${info.name}`, cmd: info.args });
  engine.events.imageEvent('commit', repo ?? image.id);
  exchange.json(201, { Id: image.id });
}

/** An image asked for by ID (sha256:…, or a prefix of its hex), as opposed to by name. */
const looksLikeId = (text: string) => /^(sha256:)?[0-9a-f]{4,64}$/.test(text);

/**
 * GET /images/get?names=A&names=B and GET /images/{name}/get: `docker save` — one tar of the images
 * (lesson 05's saveImages). An image asked for by name keeps it in the archive; one asked for by ID
 * goes without, as Docker's.
 */
export async function saveImagesHandler(engine: Engine, exchange: Exchange): Promise<void> {
  const wanted = exchange.params.name ? [exchange.params.name] : exchange.query.getAll('names');
  if (wanted.length === 0) throw badRequest('names is required: the images to save');
  const byDigest = new Map<string, SavedImage>();
  for (const text of wanted) {
    const image = findImage(engine, text);
    const entry = byDigest.get(image.digest) ?? { image, names: [] };
    if (!looksLikeId(text) && !entry.names.includes(storeName(text))) entry.names.push(storeName(text));
    byDigest.set(image.digest, entry);
  }
  // The headers go only once every blob is found: until then an error is a plain 4xx/5xx answer.
  await saveImages(openImageStore(engine.stateDir), [...byDigest.values()], () => exchange.openStream('application/x-tar').output);
}

/**
 * POST /images/load: `docker load` — the body is what `docker save` or `podman save` wrote (an OCI
 * layout, Docker's manifest.json, or both), read into the store by lesson 05's importImage. It goes to a
 * file first: an image is no 1 MiB JSON body. Answers Docker's JSON lines, "Loaded image: NAME".
 */
export async function loadImagesHandler(engine: Engine, exchange: Exchange): Promise<void> {
  const store = openImageStore(engine.stateDir);
  const file = `${scratchPath(store, 'load')}.tar`;
  let images: StoredImage[];
  try {
    await pipeline(exchange.req, createWriteStream(file));
    images = await importImage(store, file);
  } catch (error) {
    if (error instanceof ImageFormatError) throw badRequest(`this is not an image archive that docker save or podman save writes: ${error.message}`);
    throw error;
  } finally {
    rmSync(file, { force: true });
  }
  const stream = exchange.openJsonStream();
  for (const image of images) {
    engine.events.imageEvent('load', image.reference ?? image.id);
    stream.write({ stream: image.reference ? `Loaded image: ${image.reference}\n` : `Loaded image ID: ${image.id}\n` });
  }
  stream.end();
}
