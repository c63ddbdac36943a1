// The README is the user's manual: every option a program accepts must be in it.
import { expect, test } from "bun:test";
import { clientOptions, serverOptions } from "../../src/config.ts";

const readme = await Bun.file(`${import.meta.dir}/../../README.md`).text();

test.each([
  ["server", serverOptions],
  ["client", clientOptions],
] as const)("the README's %s table lists every flag and env var", (_program, specs) => {
  const missing = Object.entries(specs).flatMap(([flag, spec]) => [
    ...(readme.includes(`\`--${flag}`) ? [] : [`--${flag}`]),
    ...("env" in spec && spec.env && !readme.includes(`\`${spec.env}\``) ? [spec.env] : []),
  ]);
  expect(missing).toEqual([]);
});

test("the README shows the commands a newcomer runs", () => {
  for (const command of ["npm install -g bun@1.4.5", "bun install", "bun run src/server.ts", "bun run src/client.ts", "bun test"]) {
    expect(readme).toContain(command);
  }
});
