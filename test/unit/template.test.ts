/**
 * `inspect --format` (src/final/template.ts): what Go's text/template prints for the forms it knows,
 * and a one-line refusal for the rest.
 */
import { describe, expect, it } from 'vitest';
import { renderTemplate, TemplateError } from '../../src/final/template.js';

const details = {
  Id: 'abc',
  State: { Pid: 4242, Running: true, FinishedAt: null },
  Config: { Env: ['PATH=/bin', 'A=1'], Labels: { b: '2', a: '1' } },
  NetworkSettings: { Ports: { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }] } },
};

describe('inspect --format templates', () => {
  it('fields by path, text around them, several actions in one template', () => {
    expect(renderTemplate('{{.State.Pid}}', details)).toBe('4242');
    expect(renderTemplate('pid={{ .State.Pid }} running={{.State.Running}} id={{.Id}}', details)).toBe('pid=4242 running=true id=abc');
  });

  it("prints as Go's fmt does: lists, maps with sorted keys, null, a missing field", () => {
    expect(renderTemplate('{{.Config.Env}}', details)).toBe('[PATH=/bin A=1]');
    expect(renderTemplate('{{.Config.Labels}}', details)).toBe('map[a:1 b:2]');
    expect(renderTemplate('{{.State.FinishedAt}}', details)).toBe('<nil>');
    expect(renderTemplate('{{.State.Nope}} {{.Nope.Deeper}}', details)).toBe('<no value> <no value>');
  });

  it('json, and index for keys that are not names', () => {
    expect(renderTemplate('{{json .Config.Env}}', details)).toBe('["PATH=/bin","A=1"]');
    expect(renderTemplate('{{json .Nope}}', details)).toBe('null');
    expect(renderTemplate('{{index .NetworkSettings.Ports "80/tcp"}}', details)).toBe('[map[HostIp:0.0.0.0 HostPort:8080]]');
    expect(JSON.parse(renderTemplate('{{json .}}', details))).toEqual(details);
  });

  it('refuses what it does not know, in one line, rather than printing half of it', () => {
    expect(() => renderTemplate('{{range .Config.Env}}{{.}}{{end}}', details)).toThrow(TemplateError);
    expect(() => renderTemplate('{{.State.Pid | printf "%d"}}', details)).toThrow(/is not supported: use \{\{\.Field\.Path\}\}/);
    expect(() => renderTemplate('{{.State.Pid', details)).toThrow(/unclosed action/);
  });
});
