/**
 * GET /events: what the service does, as it happens — Docker's event stream (Engine API "SystemEvents"),
 * one JSON object a line. The service reports what it does itself and what it sees (a container it
 * started ending); a daemon-less `minidocker` command tells nobody, so its actions are not here.
 */
import type { ContainerInfo } from '../docker.js';

export interface DockerEvent {
  Type: 'container' | 'image';
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  time: number;
  timeNano: number;
  /** The pre-1.22 fields, which the docker CLI's formatter still reads. */
  status: string;
  id: string;
  from?: string;
}

export type EventFilter = Map<string, string[]>;

export class EventBus {
  private readonly listeners = new Set<(event: DockerEvent) => void>();

  containerEvent(action: string, info: Pick<ContainerInfo, 'id' | 'name' | 'image'>, extra: Record<string, string> = {}): void {
    const now = Date.now();
    this.emit({
      Type: 'container', Action: action, Actor: { ID: info.id, Attributes: { image: info.image, name: info.name, ...extra } },
      scope: 'local', time: Math.floor(now / 1000), timeNano: now * 1e6, status: action, id: info.id, from: info.image,
    });
  }

  imageEvent(action: string, reference: string): void {
    const now = Date.now();
    this.emit({ Type: 'image', Action: action, Actor: { ID: reference, Attributes: { name: reference } }, scope: 'local', time: Math.floor(now / 1000), timeNano: now * 1e6, status: action, id: reference });
  }

  private emit(event: DockerEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  subscribe(listener: (event: DockerEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** Docker's event filters: type, event (the action), container (ID, a prefix of it, or name), image. */
export function matchesFilters(event: DockerEvent, filters: EventFilter): boolean {
  const allow = (name: string, test: (value: string) => boolean) => !filters.has(name) || filters.get(name)!.some(test);
  return (
    allow('type', (value) => value === event.Type) &&
    allow('event', (value) => value === event.Action) &&
    allow('container', (value) => event.Type === 'container' && (event.Actor.ID.startsWith(value) || event.Actor.Attributes.name === value)) &&
    allow('image', (value) => event.from === value || event.Actor.Attributes.image === value)
  );
}
