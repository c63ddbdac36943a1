import { describe, expect, test } from "bun:test";
import { ConnectionCaps } from "../../../src/server/admission.ts";

describe("ConnectionCaps", () => {
  test("caps connections per address and in total, and frees them on close", () => {
    const caps = new ConnectionCaps(2, 3);
    caps.opened("10.0.0.1");
    caps.opened("10.0.0.1");
    expect(caps.check("10.0.0.1")?.status).toBe(429);
    expect(caps.check("10.0.0.2")).toBeUndefined();
    caps.opened("10.0.0.2");
    expect(caps.check("10.0.0.3")).toEqual({ status: 429, reason: "the server is full" });
    caps.closed("10.0.0.1");
    expect(caps.check("10.0.0.1")).toBeUndefined();
  });
});
