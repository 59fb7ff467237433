/**
 * The Engine API's router on its own: patterns, parameters, the version prefix, and what is not found.
 */
import { describe, expect, it } from 'vitest';
import { compilePattern, createRouter, splitTarget } from '../../src/final/api/router.js';

const router = createRouter([
  { method: 'GET', pattern: '/_ping', handler: 'ping' },
  { method: 'HEAD', pattern: '/_ping', handler: 'ping-head' },
  { method: 'GET', pattern: '/containers/json', handler: 'list' },
  { method: 'GET', pattern: '/containers/{id}/json', handler: 'inspect' },
  { method: 'DELETE', pattern: '/containers/{id}', handler: 'remove' },
  { method: 'GET', pattern: '/images/json', handler: 'images' },
  { method: 'GET', pattern: '/images/{name*}/json', handler: 'image' },
  { method: 'GET', pattern: '/version', handler: 'version' },
]);

describe('the API router', () => {
  it('matches a path to its handler, with its parameters and query', () => {
    const found = router.match('GET', '/containers/web/json?size=1');
    expect(found).toMatchObject({ kind: 'found', handler: 'inspect', params: { id: 'web' }, version: null, path: '/containers/web/json' });
    expect(found.kind === 'found' && found.query.get('size')).toBe('1');
    expect(router.match('GET', '/containers/json')).toMatchObject({ kind: 'found', handler: 'list', params: {} });
  });

  it('takes a version prefix off and returns it', () => {
    expect(router.match('GET', '/v1.43/containers/abc/json')).toMatchObject({ kind: 'found', handler: 'inspect', params: { id: 'abc' }, version: '1.43' });
    expect(router.match('HEAD', '/v1.24/_ping')).toMatchObject({ kind: 'found', handler: 'ping-head', version: '1.24' });
    // Only /vN.N/ at the start is a version: a container named v1.2 is a name.
    expect(router.match('GET', '/containers/v1.2/json')).toMatchObject({ params: { id: 'v1.2' }, version: null });
  });

  it('lets {name*} span slashes (image names) and decodes %-escapes', () => {
    expect(router.match('GET', '/images/localhost:5000/lab/app:v1/json')).toMatchObject({ handler: 'image', params: { name: 'localhost:5000/lab/app:v1' } });
    expect(router.match('GET', '/images/busybox%3Alatest/json')).toMatchObject({ params: { name: 'busybox:latest' } });
    expect(router.match('GET', '/images/json')).toMatchObject({ handler: 'images' });
  });

  it('answers HEAD with the GET route where there is no HEAD route', () => {
    expect(router.match('HEAD', '/version')).toMatchObject({ kind: 'found', handler: 'version' });
    expect(router.match('HEAD', '/_ping')).toMatchObject({ handler: 'ping-head' });
  });

  it('says not found, or which methods the path has', () => {
    expect(router.match('GET', '/nope')).toEqual({ kind: 'not-found', path: '/nope', version: null });
    expect(router.match('GET', '/v1.43/containers/a/b/c')).toMatchObject({ kind: 'not-found', version: '1.43' });
    expect(router.match('POST', '/containers/json')).toMatchObject({ kind: 'wrong-method', allowed: ['GET', 'DELETE'] }); // {id} matches "json" too
    expect(router.match('GET', '/containers/%E0%A4%A/json')).toMatchObject({ kind: 'not-found' }); // a broken escape names nothing
  });

  it('treats a trailing slash as the same endpoint', () => {
    expect(splitTarget('/v1.43/_ping/?x=1')).toMatchObject({ path: '/_ping', version: '1.43' });
  });

  it('refuses broken patterns when the table is built', () => {
    expect(() => compilePattern('containers')).toThrow(/must start with/);
    expect(() => compilePattern('/a/{id}/{id}')).toThrow(/twice/);
    expect(() => compilePattern('/a/{id')).toThrow(/unclosed/);
    expect(compilePattern('/a.b/{x}').regex.test('/aXb/1')).toBe(false); // literal dots
  });
});
