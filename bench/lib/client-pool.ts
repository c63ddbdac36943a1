// The WebSocket clients one generator process holds, and the counting they do.
// Every received frame is searched for a marker in its raw bytes, never decoded or
// parsed as JSON, so the generator stays cheaper than the servers it measures.
import { clientUrl, nodeOf, roomMembers, roomOf, type Layout } from "./layout.ts";
import { encodeMarker, findMarker, nowUs } from "./marker.ts";
import { RawWebSocket } from "./raw-websocket.ts";

export interface Counts {
  /** Every frame received, ours or not (welcome, join, leave...). */
  frames: number;
  /** Marked frames received by a client in the sender's room. */
  deliveries: number;
  /** Marked frames received by a client in a different room: a room leak. */
  crossRoom: number;
  /** Marked messages sent. */
  sent: number;
  /** Connections the server closed (or lost) after they had opened. */
  dropped: number;
  /** `deliveries` by the server process the receiving client is connected to (see connect's urls). */
  deliveriesPerNode: number[];
}

export interface ConnectResult {
  /** Clients this call was to open. */
  planned: number;
  opened: number;
  /** Refused, closed or answered without an upgrade. */
  failed: number;
  /** Still connecting when the connect phase's time ran out. */
  timedOut: number;
  /** The first failure, to show in the report instead of a bare count. */
  firstError?: string;
  /** `opened` by server process, in the order of connect's urls. */
  openedPerNode: number[];
}

export interface RoundResult {
  complete: boolean;
  /** Deliveries still missing when the round gave up. */
  missing: number;
}

/** Send messages on a global timetable shared by every generator process. */
export interface OpenLoopPlan {
  ratePerSecond: number;
  seconds: number;
  startUs: number;
  /** This process takes messages agentIndex, agentIndex + agentCount, ... */
  agentIndex: number;
  agentCount: number;
}

export interface OpenLoopResult {
  sent: number;
  /** How late sends left against the timetable: a lagging generator shows here. */
  lagUs: number[];
}

interface PoolClient {
  socket: RawWebSocket | undefined;
  index: number;
  room: number;
  /** Index into connect's urls of the server process this client is connected to. */
  node: number;
  seq: number;
  inRoom: number;
  /** Cumulative in-room deliveries this client must reach to finish the current round. */
  target: number;
}

export class ClientPool {
  private readonly clients: PoolClient[] = [];
  private counts: Counts = zeroCounts();
  private latenciesUs: number[] = [];
  private recordLatency = false;
  private roundWaiter: { remaining: number; resolve: () => void } | undefined;
  private nodeCount = 1;
  /** The first client no connect call has tried yet. */
  private nextToOpen: number;

  constructor(
    private readonly layout: Layout,
    private readonly first: number,
    private readonly count: number,
  ) {
    this.nextToOpen = first;
  }

  /**
   * Opens this process's clients `batch` at a time, each batch fully open before the
   * next starts, so the accept rate is not hidden behind an unbounded SYN flood.
   * Stops starting batches once `timeoutMs` has passed. With several urls (the nodes
   * of a cluster), each client connects to one of them (layout's nodeOf). `share`
   * (0 to 1) stops once that share of this process's clients has been tried; the next
   * call goes on from there.
   */
  async connect(urls: string[], batch: number, timeoutMs: number, share = 1): Promise<ConnectResult> {
    const deadline = performance.now() + timeoutMs;
    this.nodeCount = Math.max(1, urls.length);
    const end = this.first + Math.round(this.count * share);
    const result: ConnectResult = { planned: Math.max(0, end - this.nextToOpen), opened: 0, failed: 0, timedOut: 0, openedPerNode: zeros(this.nodeCount) };
    while (this.nextToOpen < end) {
      const left = deadline - performance.now();
      if (left <= 0) break;
      const start = this.nextToOpen;
      this.nextToOpen = Math.min(end, start + batch);
      const indices = range(start, this.nextToOpen);
      const outcomes = await Promise.all(indices.map((i) => this.openOne(urls[nodeOf(i, this.nodeCount)] ?? "", i, left)));
      for (const outcome of outcomes) {
        if (outcome === TIMED_OUT) {
          result.timedOut++;
        } else if (typeof outcome === "string") {
          result.failed++;
          result.firstError ??= outcome;
        } else {
          this.clients.push(outcome);
          result.opened++;
          result.openedPerNode[outcome.node] = (result.openedPerNode[outcome.node] ?? 0) + 1;
        }
      }
    }
    return result;
  }

  private openOne(baseUrl: string, index: number, timeoutMs: number): Promise<PoolClient | string> {
    return new Promise((resolve) => {
      const node = nodeOf(index, this.nodeCount);
      const client: PoolClient = { socket: undefined, index, room: roomOf(this.layout, index), node, seq: 0, inRoom: 0, target: 0 };
      const timer = setTimeout(() => {
        client.socket?.close();
        resolve(TIMED_OUT);
      }, timeoutMs);
      client.socket = RawWebSocket.connect(clientUrl(baseUrl, this.layout, index), {
        onOpen: () => {
          clearTimeout(timer);
          resolve(client);
        },
        onData: (bytes, start, end) => this.onFrame(client, bytes, start, end),
        onClose: (reason, wasOpen) => {
          if (wasOpen) {
            this.counts.dropped++;
            return;
          }
          clearTimeout(timer);
          resolve(reason);
        },
      });
    });
  }

  private onFrame(client: PoolClient, bytes: Buffer, start: number, end: number): void {
    this.counts.frames++;
    const marker = findMarker(bytes, start, end);
    if (marker === undefined) return;
    if (marker.room !== client.room) {
      this.counts.crossRoom++;
      return;
    }
    this.counts.deliveries++;
    client.inRoom++;
    if (this.recordLatency) this.latenciesUs.push(nowUs() - marker.sentUs);
    const waiter = this.roundWaiter;
    if (waiter !== undefined && client.inRoom === client.target && --waiter.remaining === 0) waiter.resolve();
  }

  private sendFrom(client: PoolClient): void {
    client.socket?.sendText(encodeMarker(client.room, client.index, client.seq++, nowUs()));
    this.counts.sent++;
  }

  getCounts(): Counts {
    return { ...this.counts, deliveriesPerNode: this.deliveriesPerNode() };
  }

  /**
   * Summed from the clients' own counts when asked, not counted per frame: only the
   * cluster scenario has more than one node, and the hot path stays as it was.
   */
  private deliveriesPerNode(): number[] {
    if (this.nodeCount === 1) return [this.counts.deliveries];
    const perNode = zeros(this.nodeCount);
    for (const client of this.clients) perNode[client.node] = (perNode[client.node] ?? 0) + client.inRoom;
    return perNode;
  }

  /** Starts a measurement phase: counters to zero, latency recording on or off. */
  reset(recordLatency: boolean): void {
    this.counts = { ...zeroCounts(), dropped: this.counts.dropped };
    this.latenciesUs = [];
    this.recordLatency = recordLatency;
    for (const client of this.clients) {
      client.inRoom = 0;
      client.target = 0;
    }
  }

  /**
   * One closed-loop round: every client sends `perClient` messages, then we wait until
   * every client has received every message of its room for rounds 1..round.
   */
  async round(round: number, perClient: number, timeoutMs: number): Promise<RoundResult> {
    let remaining = 0;
    for (const client of this.clients) {
      client.target = round * perClient * roomMembers(this.layout, client.room);
      if (client.inRoom < client.target) remaining++;
    }
    const done = new Promise<void>((resolve) => {
      this.roundWaiter = { remaining, resolve };
    });
    for (const client of this.clients) {
      for (let n = 0; n < perClient; n++) this.sendFrom(client);
    }
    const complete = remaining === 0 || (await raceTimeout(done, timeoutMs));
    this.roundWaiter = undefined;
    let missing = 0;
    for (const client of this.clients) missing += Math.max(0, client.target - client.inRoom);
    return { complete, missing };
  }

  /** Sends one message from global client `index` if it lives in this process. */
  sendOne(index: number): boolean {
    const client = this.clients.find((c) => c.index === index);
    if (client === undefined) return false;
    this.sendFrom(client);
    return true;
  }

  /**
   * Open loop: sends on the timetable whatever the server does, round-robin over this
   * process's clients. Messages carry their actual send time; lateness against the
   * timetable is returned separately so a saturated generator is visible.
   */
  async openLoop(plan: OpenLoopPlan): Promise<OpenLoopResult> {
    const total = Math.floor(plan.ratePerSecond * plan.seconds);
    const gapUs = 1e6 / plan.ratePerSecond;
    const lagUs: number[] = [];
    let next = 0;
    for (let j = plan.agentIndex; j < total && this.clients.length > 0; ) {
      const dueUs = plan.startUs + j * gapUs;
      const now = nowUs();
      if (dueUs > now) {
        // Timers are ~1 ms grained and a shorter sleep spins the event loop; sending
        // up to 1 ms late is fine because messages carry their actual send time.
        await Bun.sleep(Math.max(1, (dueUs - now) / 1000));
        continue;
      }
      const client = this.clients[next++ % this.clients.length];
      if (client !== undefined) this.sendFrom(client);
      lagUs.push(now - dueUs);
      j += plan.agentCount;
    }
    return { sent: lagUs.length, lagUs };
  }

  takeLatencies(): number[] {
    const taken = this.latenciesUs;
    this.latenciesUs = [];
    return taken;
  }

  close(): void {
    for (const client of this.clients) client.socket?.close();
    this.clients.length = 0;
  }
}

const TIMED_OUT = "timed out";

function zeroCounts(): Counts {
  return { frames: 0, deliveries: 0, crossRoom: 0, sent: 0, dropped: 0, deliveriesPerNode: [] };
}

function zeros(length: number): number[] {
  return new Array<number>(length).fill(0);
}

function range(start: number, end: number): number[] {
  return Array.from({ length: end - start }, (_, i) => start + i);
}

/** Resolves true if `promise` settles within `ms`, false otherwise. */
async function raceTimeout(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: Timer | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const won = await Promise.race([promise.then(() => true), timeout]);
  clearTimeout(timer);
  return won;
}
