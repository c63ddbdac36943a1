// The scenarios in report order.
import type { ScenarioName } from "../lib/options.ts";
import { clusterScenario } from "./cluster.ts";
import { floodScenario } from "./flood.ts";
import { idleScenario } from "./idle.ts";
import { largeRoomScenario } from "./large-room.ts";
import { latencyScenario } from "./latency.ts";
import { manyRoomsScenario } from "./many-rooms.ts";
import type { Scenario } from "./scenario.ts";
import { throughputScenario } from "./throughput.ts";

export const scenarios: Record<ScenarioName, Scenario> = {
  throughput: throughputScenario,
  latency: latencyScenario,
  idle: idleScenario,
  "large-room": largeRoomScenario,
  "many-rooms": manyRoomsScenario,
  flood: floodScenario,
  cluster: clusterScenario,
};
