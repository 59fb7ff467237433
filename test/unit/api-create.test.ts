/**
 * POST /containers/create's body → `minidocker run`'s options: the body the docker CLI sends (every
 * field, most at their zero value) asks for nothing more than its flags; what minidocker lacks is refused
 * with the field's name.
 */
import { describe, expect, it } from 'vitest';
import { runOptionsFromBody, updateChangesFromBody, wantsStreams } from '../../src/final/api/create.js';
import { ApiError } from '../../src/final/api/http.js';

/** `docker create -it --rm busybox sh` as docker CLI 28 sends it (abridged only where fields repeat). */
const DOCKER_CLI_BODY = {
  Hostname: '', Domainname: '', User: '', AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: true, OpenStdin: true, StdinOnce: true,
  Env: null, Cmd: ['sh'], Image: 'busybox', Volumes: {}, WorkingDir: '', Entrypoint: null, OnBuild: null, Labels: {},
  HostConfig: {
    Binds: null, ContainerIDFile: '', LogConfig: { Type: '', Config: {} }, NetworkMode: 'default', PortBindings: {}, RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
    AutoRemove: true, VolumeDriver: '', VolumesFrom: null, ConsoleSize: [24, 80], CapAdd: null, CapDrop: null, CgroupnsMode: '', Dns: [], DnsOptions: [], DnsSearch: [],
    ExtraHosts: null, GroupAdd: null, IpcMode: '', Cgroup: '', Links: null, OomScoreAdj: 0, PidMode: '', Privileged: false, PublishAllPorts: false, ReadonlyRootfs: false,
    SecurityOpt: null, UTSMode: '', UsernsMode: '', ShmSize: 0, Isolation: '', CpuShares: 0, Memory: 0, NanoCpus: 0, CgroupParent: '', BlkioWeight: 0,
    BlkioWeightDevice: [], CpuPeriod: 0, CpuQuota: 0, CpusetCpus: '', Devices: [], DeviceCgroupRules: null, DeviceRequests: null, MemoryReservation: 0,
    MemorySwap: 0, MemorySwappiness: -1, OomKillDisable: false, PidsLimit: 0, Ulimits: [], MaskedPaths: null, ReadonlyPaths: null,
  },
  NetworkingConfig: { EndpointsConfig: { default: { IPAMConfig: null, Links: null, Aliases: null, MacAddress: '', DriverOpts: null, GwPriority: 0, NetworkID: '', IPAddress: '' } } },
};

function refusal(body: Record<string, unknown>): ApiError {
  try {
    runOptionsFromBody(body, null);
  } catch (error) {
    return error as ApiError;
  }
  throw new Error('not refused');
}

describe('the create body as run options', () => {
  it('takes the docker CLI’s whole body for what its flags said', () => {
    const options = runOptionsFromBody(DOCKER_CLI_BODY, 'box');
    expect(options).toMatchObject({ image: 'busybox', args: ['sh'], name: 'box', autoRemove: true, tty: true, interactive: true });
    expect(options.resources).toEqual({});
    expect(options.security).toBeUndefined();
    expect(options.network).toBeUndefined();
    expect(wantsStreams(DOCKER_CLI_BODY)).toBe(true);
    expect(wantsStreams({ Image: 'busybox', AttachStdout: false })).toBe(false);
  });

  it('maps Config and HostConfig onto the flags', () => {
    const options = runOptionsFromBody({
      Image: 'busybox', Entrypoint: ['/bin/sh', '-c'], Cmd: ['echo hi'], Env: ['A=1'], WorkingDir: '/tmp', Hostname: 'h', User: 'nobody', Labels: { a: 'b' },
      HostConfig: {
        Init: true, ReadonlyRootfs: true, NetworkMode: 'none', Memory: 64 * 1024 * 1024, NanoCpus: 500_000_000, CpuShares: 512, PidsLimit: 32,
        CapAdd: ['NET_ADMIN'], CapDrop: ['CHOWN'], SecurityOpt: ['no-new-privileges'], Ulimits: [{ Name: 'nofile', Soft: 100, Hard: 200 }],
      },
    }, null);
    expect(options).toMatchObject({
      args: ['/bin/sh', '-c', 'echo hi'], env: ['A=1'], workdir: '/tmp', hostname: 'h', user: 'nobody', init: true, readOnly: true,
      network: { mode: 'none' }, labels: { a: 'b' },
      resources: { memory: { limit: 64 * 1024 * 1024 }, cpu: { quota: 50_000, period: 100_000, shares: 512 }, pids: { limit: 32 } },
      security: { capAdd: ['CAP_NET_ADMIN'], capDrop: ['CAP_CHOWN'], noNewPrivileges: true },
    });
    // docker run --userns=host sends it; auto, as podman reads it, makes a user namespace of its own.
    expect(runOptionsFromBody({ Image: 'busybox', HostConfig: { UsernsMode: 'host' } }, null).userns).toEqual({ mode: 'host' });
    expect(runOptionsFromBody({ Image: 'busybox', HostConfig: { UsernsMode: 'auto' } }, null).userns).toEqual({ mode: 'auto', size: 65536 });
    expect(() => runOptionsFromBody({ Image: 'busybox', HostConfig: { UsernsMode: 'remap' } }, null)).toThrow(/--userns remap: use host, auto or auto:size=N/);
    const ports = runOptionsFromBody({ Image: 'busybox', HostConfig: { PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '8080' }] } } }, null);
    expect(ports.publish).toEqual([{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }]);
  });

  it('refuses, naming the field, what minidocker does not implement', () => {
    expect(refusal({ Image: 'busybox', HostConfig: { RestartPolicy: { Name: 'always' } } })).toMatchObject({ status: 400, message: expect.stringMatching(/^minidocker does not support HostConfig\.RestartPolicy /) });
    expect(refusal({ Image: 'busybox', Healthcheck: { Test: ['CMD', 'true'] } }).message).toMatch(/^minidocker does not support Healthcheck /);
    expect(refusal({ Image: 'busybox', NetworkingConfig: { EndpointsConfig: { mynet: { Aliases: ['a'] } } } }).message).toMatch(/NetworkingConfig\.EndpointsConfig/);
    expect(refusal({ Image: 'busybox', HostConfig: { PortBindings: { '80/tcp': [{ HostIp: '10.0.0.1', HostPort: '80' }] } } }).message).toMatch(/every address only/);
    expect(refusal({ Image: 'busybox', HostConfig: { PortBindings: { '80/tcp': [{ HostPort: '' }] } } }).message).toMatch(/no random ports/);
    expect(refusal({ Cmd: ['true'] })).toMatchObject({ status: 400, message: expect.stringMatching(/Image is required/) });
    expect(refusal({ Image: 'busybox', Cmd: 'true', Env: [1] }).message).toBe('Env must be a list of strings');
    expect(refusal({ Image: 'busybox', HostConfig: { Memory: 'lots' } }).message).toBe('HostConfig.Memory must be a number');
  });

  it('refuses what `run` would refuse, in its words', () => {
    expect(() => runOptionsFromBody({ Image: 'busybox', HostConfig: { NetworkMode: 'mynet' } }, null)).toThrow(/mynet/);
    expect(() => runOptionsFromBody({ Image: 'busybox', HostConfig: { Binds: ['relative:/data'] } }, null)).toThrow(/invalid volume specification/);
  });
});

describe('the update body as limit changes', () => {
  it('takes what `minidocker update` takes, and refuses the rest', () => {
    expect(updateChangesFromBody({ Memory: 128 * 1024 * 1024, MemorySwap: -1, PidsLimit: 50, CpuShares: 0, RestartPolicy: { Name: '' }, BlkioWeight: 0 }))
      .toEqual({ memory: { limit: 128 * 1024 * 1024, swap: -1 }, pids: { limit: 50 } });
    expect(updateChangesFromBody({ NanoCpus: 500_000_000 })).toEqual({ cpu: { quota: 50_000, period: 100_000 } });
    expect(() => updateChangesFromBody({ RestartPolicy: { Name: 'always' } })).toThrow(/does not support HostConfig\.RestartPolicy/);
    expect(() => updateChangesFromBody({})).toThrow(/one or more limits/);
    expect(() => updateChangesFromBody({ Memory: 'lots' })).toThrow(/Memory must be a number/);
  });
});
