/**
 * The image store from the command line — `docker import`/`load`, `images`, `history`, `rmi` — plus the
 * start-latency measurement of this lesson. As root (it writes to the lab's state folder):
 *
 *   sudo env "PATH=$PATH" npx tsx lessons/05-overlay/images.ts import FILE [NAME:TAG]
 *   sudo env "PATH=$PATH" npx tsx lessons/05-overlay/images.ts ls
 *   sudo env "PATH=$PATH" npx tsx lessons/05-overlay/images.ts history NAME:TAG
 *   sudo env "PATH=$PATH" npx tsx lessons/05-overlay/images.ts rm NAME:TAG
 *   sudo env "PATH=$PATH" npx tsx lessons/05-overlay/images.ts measure-start [MB]
 *
 * FILE is a root file system tarball (`docker export`), an OCI image layout (folder or tar), or a
 * `docker save` archive; gzip-compressed or not. LAB_STATE_DIR chooses the state folder.
 */
import { CourseError, exitWithError } from '../../src/course/errors.js';
import { loadRegistry } from '../../src/course/lesson.js';
import { DigestError, ImageFormatError } from './oci.js';
import { CorruptArchiveError, UnsafeArchiveError } from './layers.js';
import { defaultImage, largeImage, measureStart, median } from './containers.js';
import { formatBytes, progressPrinter } from './progress.js';
import { ImageNotFoundError, getImage, importImage, listImages, openImageStore, removeImage } from './store.js';

const USAGE = 'images.ts import FILE [NAME:TAG] | ls | history NAME:TAG | rm NAME:TAG | measure-start [MB]';

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  if (process.getuid?.() !== 0) throw new CourseError('run this as root: sudo env "PATH=$PATH" npx tsx lessons/05-overlay/images.ts …', 1);
  const store = openImageStore();
  switch (command) {
    case 'import': {
      const [file, reference] = args;
      if (!file) throw new CourseError(`usage: ${USAGE}`);
      const started = performance.now();
      const images = await importImage(store, file, { reference, onProgress: progressPrinter() });
      for (const image of images) {
        console.log(`${image.reference ?? '(untagged)'}  ${image.digest}  ${image.layers.length} layer(s)`);
      }
      console.log(`imported in ${((performance.now() - started) / 1000).toFixed(1)} s`);
      return;
    }
    case 'ls': {
      console.log(['REFERENCE'.padEnd(32), 'IMAGE ID'.padEnd(13), 'LAYERS', 'SIZE'].join(' '));
      for (const image of listImages(store)) {
        const size = image.layers.reduce((sum, layer) => sum + layer.size, 0);
        console.log([(image.reference ?? '').padEnd(32), image.id.slice(7, 19).padEnd(13), String(image.layers.length).padEnd(6), formatBytes(size)].join(' '));
      }
      return;
    }
    case 'history': {
      const image = getImage(store, args[0] ?? '');
      let layer = 0;
      for (const entry of image.config.history ?? []) {
        const diffId = entry.empty_layer ? '(no layer)' : (image.layers[layer++]?.diffId.slice(7, 19) ?? '?');
        console.log(`${diffId.padEnd(13)} ${entry.created ?? ''}  ${entry.created_by ?? ''}`);
      }
      return;
    }
    case 'rm': {
      const removed = removeImage(store, args[0] ?? '');
      console.log(`untagged ${args[0]}; removed ${removed.length} layer(s) no other image or container uses`);
      return;
    }
    case 'measure-start': {
      const megabytes = Number(args[0] ?? 200);
      if (!Number.isInteger(megabytes) || megabytes < 1) throw new CourseError(`"${args[0]}" is not a size in MB`);
      const { image: small } = await defaultImage(store);
      const buildStarted = performance.now();
      const registry = await loadRegistry();
      const { image: large, built } = await largeImage(store, small, megabytes, { registry });
      if (built) console.log(`built ${large.reference} (+${megabytes} MB layer) in ${((performance.now() - buildStarted) / 1000).toFixed(1)} s`);
      for (const { image, startMs, copyMs } of await measureStart(store, [small, large], 9, { registry })) {
        const size = image.layers.reduce((sum, layer) => sum + layer.size, 0);
        console.log(
          `${(image.reference ?? '').padEnd(24)} ${formatBytes(size).padStart(9)}   start (median of ${startMs.length}): ${median(startMs).toFixed(0)} ms ` +
            `[${startMs.map((ms) => ms.toFixed(0)).join(' ')}]   a copy of it (lesson 03's way): ${copyMs.toFixed(0)} ms`,
        );
      }
      return;
    }
    default:
      throw new CourseError(`usage: ${USAGE}`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  // The store's refusals are answers, not bugs: one line, exit code 1.
  const known = [UnsafeArchiveError, CorruptArchiveError, DigestError, ImageFormatError, ImageNotFoundError].some((kind) => error instanceof kind);
  exitWithError(known ? new CourseError((error as Error).message, 1) : error);
});
