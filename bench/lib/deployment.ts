// What one run of a scenario measures: a single server process (every scenario but
// cluster, once per server of the run), or a cluster of nodes of ours on a private
// Redis. The runner starts one per run and always stops it, whatever happened.
import { REDIS_COMMAND, startRedis, type RedisProcess } from "./redis-process.ts";
import { startServer, type ServerProcess, type ServerSpec } from "./server-process.ts";

export interface Deployment {
  /** The server processes clients connect to; one but in a cluster. */
  nodes: ServerProcess[];
  /** The cluster's Redis; undefined for a single server. */
  redis: RedisProcess | undefined;
  /** Every process started, nodes first, so a report's reader can check they are gone. */
  pids: number[];
  /** One note per process that died during the run. */
  deaths(): string[];
  /** Nodes first: closing clients into a live server would start a leave storm. */
  stop(): Promise<void>;
}

/** A named way to start a deployment: a column of a scenario's table. */
export interface Setup {
  name: string;
  /** For the report's header. */
  command: string;
  start(): Promise<Deployment>;
}

/** One server process; `shown` is the command for the header when the one started differs (flood's limits). */
export function singleServer(spec: ServerSpec, shown: ServerSpec = spec): Setup {
  return {
    name: spec.name,
    command: shown.argv.join(" "),
    async start() {
      const server = await startServer(spec);
      return {
        nodes: [server],
        redis: undefined,
        pids: [server.pid],
        deaths: () => (server.alive ? [] : [`the server exited during the run: ${server.lastWords()}`]),
        stop: () => server.stop(),
      };
    },
  };
}

/**
 * `count` nodes of `spec` on a fresh private Redis. --redis comes last, after any
 * --server-args: the Redis is the one this run started, whatever else was asked for.
 */
export function cluster(name: string, spec: ServerSpec, count: number): Setup {
  const nodeArgv = (url: string) => [...spec.argv, "--redis", url];
  return {
    name,
    command: `${REDIS_COMMAND}; then ${count} × ${nodeArgv("redis://127.0.0.1:<that port>").join(" ")}`,
    async start() {
      const redis = await startRedis();
      const nodes: ServerProcess[] = [];
      try {
        // One at a time: the second joins a cluster the first has already set up.
        for (let i = 0; i < count; i++) {
          nodes.push(await startServer({ ...spec, name: `${name} node ${i + 1}`, argv: nodeArgv(redis.url) }));
        }
      } catch (error) {
        await Promise.all(nodes.map((node) => node.stop()));
        await redis.stop();
        throw error;
      }
      return {
        nodes,
        redis,
        pids: [...nodes.map((node) => node.pid), redis.pid],
        deaths: () => [
          ...nodes.flatMap((node, i) => (node.alive ? [] : [`node ${i + 1} exited during the run: ${node.lastWords()}`])),
          ...(redis.alive ? [] : [`redis-server exited during the run: ${redis.lastWords()}`]),
        ],
        async stop() {
          await Promise.all(nodes.map((node) => node.stop()));
          await redis.stop();
        },
      };
    },
  };
}
