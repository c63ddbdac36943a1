// `bun run build [OUTDIR]`: single-file executables of the server and the client,
// each with the Bun runtime inside, into OUTDIR (default dist/). The server's binary
// carries the browser page too: `bun build --compile` bundles the HTML import of
// src/server/web-page.ts ahead of time and embeds its assets.
import path from "node:path";

const ROOT = path.resolve(import.meta.dir, "..");
const outdir = path.resolve(process.argv[2] ?? path.join(ROOT, "dist"));

const targets = [
  {
    outfile: "chat-server",
    // A Worker's script is not found by following imports: it is named here so it is
    // embedded too (src/server/history/sqlite.ts starts it).
    entrypoints: ["src/server.ts", "src/server/history/checkpointer.ts"],
  },
  { outfile: "chat", entrypoints: ["src/client.ts"] },
];

for (const target of targets) {
  const started = performance.now();
  const outfile = path.join(outdir, target.outfile);
  const result = await Bun.build({
    entrypoints: target.entrypoints.map((file) => path.join(ROOT, file)),
    // Embedded files are named by their path from src/ (sqlite.ts finds its worker so).
    root: path.join(ROOT, "src"),
    compile: { outfile },
  });
  if (!result.success) {
    for (const log of result.logs) console.error(log);
    console.error(`error: could not build ${target.outfile}`);
    process.exit(1);
  }
  console.log(`built ${path.relative(process.cwd(), outfile)} in ${Math.round(performance.now() - started)} ms`);
}
