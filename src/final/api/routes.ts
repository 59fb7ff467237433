/**
 * The endpoints, as the Engine API reference lists them (docs.docker.com/reference/api/engine), each to
 * its handler. Endpoints of Docker's that minidocker has no part for (volumes, build, swarm, network create …)
 * are listed too, so that they answer 501 "minidocker does not implement …" instead of 404: the client
 * learns the service is the wrong one, not that it typed a wrong path.
 */
import { ApiError } from './http.js';
import type { Engine } from './engine.js';
import type { Exchange } from './exchange.js';
import type { Route } from '../../../lessons/09-api/router.js';
import { attachContainer, containerLogs } from './attach.js';
import {
  containerStats, createContainer, inspectContainer, killContainer, listContainers, pauseContainer, removeContainer, resizeContainer, renameContainer, restartContainer, startContainer, updateContainer,
  stopContainer, topContainer, waitContainer,
} from './containers.js';
import { createExec, inspectExec, resizeExec, startExec } from './exec.js';
import { commitHandler, inspectImage, listImagesHandler, loadImagesHandler, pullImageHandler, removeImageHandler, saveImagesHandler, tagImageHandler } from './images.js';
import { diskUsage, events, info, version } from './system.js';
import { inspectNetwork, listNetworks } from './networks.js';

export type Handler = (engine: Engine, exchange: Exchange) => Promise<void>;

const ping: Handler = async (_engine, exchange) => {
  // Plain text "OK"; the headers (API-Version …) are on every answer (server.ts).
  exchange.req.method === 'HEAD' ? exchange.empty(200) : exchange.text(200, 'OK');
};

/** Known to Docker, not done here: 501 with the method and path. */
const notImplemented: Handler = async (_engine, exchange) => {
  throw new ApiError(501, `minidocker does not implement ${exchange.req.method} ${exchange.path}`);
};

/** minidocker has no volumes and no plugins: asked for one by name, there is none (docker inspect tries every kind). */
const noSuch = (kind: string): Handler => async (_engine, exchange) => {
  throw new ApiError(404, `${kind} ${exchange.params.name} not found`);
};

const route = (method: string, pattern: string, handler: Handler): Route<Handler> => ({ method, pattern, handler });

export const ROUTES: Route<Handler>[] = [
  route('GET', '/_ping', ping),
  route('HEAD', '/_ping', ping),
  route('GET', '/version', version),
  route('GET', '/info', info),
  route('GET', '/events', events),
  route('GET', '/system/df', diskUsage),

  route('GET', '/containers/json', listContainers),
  route('POST', '/containers/create', createContainer),
  route('GET', '/containers/{id}/json', inspectContainer),
  route('POST', '/containers/{id}/start', startContainer),
  route('POST', '/containers/{id}/wait', waitContainer),
  route('POST', '/containers/{id}/attach', attachContainer),
  route('GET', '/containers/{id}/logs', containerLogs),
  route('POST', '/containers/{id}/resize', resizeContainer),
  route('POST', '/containers/{id}/stop', stopContainer),
  route('POST', '/containers/{id}/kill', killContainer),
  route('POST', '/containers/{id}/restart', restartContainer),
  route('POST', '/containers/{id}/update', updateContainer),
  route('POST', '/containers/{id}/rename', renameContainer),
  route('POST', '/containers/{id}/pause', (engine, exchange) => pauseContainer(engine, exchange, true)),
  route('POST', '/containers/{id}/unpause', (engine, exchange) => pauseContainer(engine, exchange, false)),
  route('DELETE', '/containers/{id}', removeContainer),
  route('GET', '/containers/{id}/top', topContainer),
  route('GET', '/containers/{id}/stats', containerStats),
  route('POST', '/containers/{id}/exec', createExec),
  route('POST', '/exec/{id}/start', startExec),
  route('POST', '/exec/{id}/resize', resizeExec),
  route('GET', '/exec/{id}/json', inspectExec),

  route('GET', '/images/json', listImagesHandler),
  route('POST', '/images/create', pullImageHandler),
  route('GET', '/images/{name*}/json', inspectImage),
  route('POST', '/images/{name*}/tag', tagImageHandler),
  route('GET', '/images/get', saveImagesHandler),
  route('GET', '/images/{name*}/get', saveImagesHandler),
  route('POST', '/images/load', loadImagesHandler),
  route('DELETE', '/images/{name*}', removeImageHandler),
  route('POST', '/commit', commitHandler),

  route('GET', '/networks', listNetworks),
  route('GET', '/networks/{name}', inspectNetwork),
  route('GET', '/volumes/{name}', noSuch('volume')),
  route('GET', '/plugins/{name}/json', noSuch('plugin')),
  ...[
    ['GET', '/containers/{id}/changes'], ['GET', '/containers/{id}/export'], ['GET', '/containers/{id}/attach/ws'],
    ['GET', '/containers/{id}/archive'], ['PUT', '/containers/{id}/archive'], ['HEAD', '/containers/{id}/archive'],
    ['POST', '/containers/prune'], ['POST', '/auth'], ['POST', '/build'], ['POST', '/build/prune'],
    ['GET', '/images/search'], ['POST', '/images/prune'],
    ['GET', '/images/{name*}/history'], ['POST', '/images/{name*}/push'],
    ['GET', '/distribution/{name*}/json'], ['POST', '/session'],
    ['POST', '/networks/{rest*}'], ['DELETE', '/networks/{rest*}'],
    ['GET', '/volumes'], ['POST', '/volumes/{rest*}'], ['PUT', '/volumes/{rest*}'], ['DELETE', '/volumes/{rest*}'],
    ...['swarm', 'nodes', 'services', 'tasks', 'secrets', 'configs', 'plugins'].flatMap((kind) =>
      ['GET', 'POST', 'DELETE'].flatMap((method) => [[method, `/${kind}`], [method, `/${kind}/{rest*}`]])),
  ].map(([method, pattern]) => route(method!, pattern!, notImplemented)),
];
