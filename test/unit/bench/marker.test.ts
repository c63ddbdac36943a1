// The generator's marker: found in a raw frame or inside any envelope, and only
// within the frame's own bytes.
import { describe, expect, test } from "bun:test";
import { encodeMarker, findMarker } from "../../../bench/lib/marker.ts";

const find = (text: string, start = 0, end?: number) => {
  const bytes = Buffer.from(text);
  const marker = findMarker(bytes, start, end ?? bytes.length);
  return marker === undefined ? undefined : { ...marker };
};

describe("findMarker", () => {
  const marker = encodeMarker(7, 12, 345, 1_764_170_000_123_456);

  test("finds room and send time in a raw frame and inside a JSON envelope", () => {
    expect(find(marker)).toEqual({ room: 7, sentUs: 1_764_170_000_123_456 });
    const envelope = JSON.stringify({ type: "message", id: 9, room: "r7", userId: "User-~b~~", content: marker, timestamp: "2026-11-26T00:00:00.000Z" });
    expect(find(envelope)).toEqual({ room: 7, sentUs: 1_764_170_000_123_456 });
  });

  test("frames without a marker, or with a broken one, are not ours", () => {
    expect(find('{"type":"system","event":"welcome","content":"Welcome ~ friend"}')).toBeUndefined();
    expect(find("~b|x|1|2|3|")).toBeUndefined();
    expect(find("~b|1|2|3||")).toBeUndefined();
    expect(find("~b|1|2|3")).toBeUndefined();
  });

  test("looks only within [start, end): a marker in the next frame of the same read is not this frame's", () => {
    const two = `{"type":"system"}${marker}`;
    const firstEnd = '{"type":"system"}'.length;
    expect(find(two, 0, firstEnd)).toBeUndefined();
    expect(find(two, firstEnd)).toEqual({ room: 7, sentUs: 1_764_170_000_123_456 });
    // Cut off inside the marker: not found.
    expect(find(two, firstEnd, firstEnd + 8)).toBeUndefined();
  });
});
