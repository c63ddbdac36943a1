import { describe, expect, test } from "bun:test";
import {
  clientOptions,
  ConfigError,
  helpText,
  parseClientArgs,
  parseServerArgs,
  readOptions,
  serverOptions,
} from "../../src/config.ts";

/** The ConfigError a call throws; fails the test when it throws nothing or something else. */
function configError(call: () => unknown): ConfigError {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error("expected a ConfigError, nothing was thrown");
}

describe("parseServerArgs", () => {
  test("every option takes its default when neither flag nor env var is given", () => {
    const values = parseServerArgs([], {}) as Record<string, unknown>;
    for (const [flag, spec] of Object.entries(serverOptions)) expect(values[flag]).toBe(spec.default);
  });

  test("the defaults are the documented ones", () => {
    expect(parseServerArgs([], {})).toMatchObject({
      port: 8080,
      host: undefined,
      "max-content": 4096,
      "max-payload": 65536,
      "backpressure-limit": 1048576,
      heartbeat: 30,
      "log-level": "info",
      "log-format": "text",
      help: false,
    });
  });

  test("flags set values, with a space or an '='", () => {
    expect(
      parseServerArgs(["--port", "9000", "--host=127.0.0.1", "--heartbeat", "0.5", "--log-level=debug", "--log-format", "json", "--help"], {}),
    ).toMatchObject({ port: 9000, host: "127.0.0.1", heartbeat: 0.5, "log-level": "debug", "log-format": "json", help: true });
  });

  test("env vars set values", () => {
    const env = { PORT: "9001", HOST: "::1", MAX_CONTENT_BYTES: "100", MAX_PAYLOAD_BYTES: "2048", BACKPRESSURE_LIMIT: "4096", HEARTBEAT_INTERVAL: "2", LOG_LEVEL: "warn", LOG_FORMAT: "json" };
    expect(parseServerArgs([], env)).toMatchObject({
      port: 9001, host: "::1", "max-content": 100, "max-payload": 2048, "backpressure-limit": 4096, heartbeat: 2, "log-level": "warn", "log-format": "json",
    });
  });

  test("a flag beats its env var", () => {
    expect(parseServerArgs(["--port", "9002"], { PORT: "9001" }).port).toBe(9002);
    expect(parseServerArgs(["--log-level", "error"], { LOG_LEVEL: "debug" })["log-level"]).toBe("error");
  });

  test("a flag beats a bad env var, which is then not read", () => {
    expect(parseServerArgs(["--port", "9002"], { PORT: "not a port" }).port).toBe(9002);
  });

  test("an empty env var counts as unset", () => {
    expect(parseServerArgs([], { PORT: "", LOG_LEVEL: "" })).toMatchObject({ port: 8080, "log-level": "info" });
  });

  test("env vars of other programs are ignored", () => {
    expect(parseServerArgs([], { CHAT_URL: "nonsense", NO_COLOR: "1", port: "1" }).port).toBe(8080);
  });

  test("values at the edges of their ranges are accepted", () => {
    expect(parseServerArgs(["--port", "0"], {}).port).toBe(0);
    expect(parseServerArgs(["--port", "65535"], {}).port).toBe(65535);
    expect(parseServerArgs(["--max-content", "1"], {})["max-content"]).toBe(1);
    expect(parseServerArgs(["--max-content", String(1 << 20)], {})["max-content"]).toBe(1 << 20);
    expect(parseServerArgs(["--max-payload", "1024"], {})["max-payload"]).toBe(1024);
    expect(parseServerArgs(["--heartbeat", "0.1"], {}).heartbeat).toBe(0.1);
    expect(parseServerArgs(["--heartbeat", "3600"], {}).heartbeat).toBe(3600);
  });

  const badValues: Array<[string, string]> = [
    ["--port", "-1"], ["--port", "65536"], ["--port", "abc"], ["--port", "80.5"], ["--port", ""], ["--port", "1e3"], ["--port", "0x50"],
    ["--max-content", "0"], ["--max-content", String((1 << 20) + 1)],
    ["--max-payload", "1023"], ["--backpressure-limit", "1023"],
    ["--heartbeat", "0"], ["--heartbeat", "0.05"], ["--heartbeat", "3601"], ["--heartbeat", "abc"], ["--heartbeat", "Infinity"], ["--heartbeat", ""], ["--heartbeat", " "],
    ["--log-level", "verbose"], ["--log-level", "INFO"], ["--log-format", "xml"],
    ["--host", ""], ["--host", "  "],
  ];
  for (const [flag, value] of badValues) {
    test(`${flag}=${JSON.stringify(value)} is refused with an error naming ${flag}`, () => {
      const error = configError(() => parseServerArgs([`${flag}=${value}`], {}));
      expect(error.message).toContain(flag);
    });
  }

  test("a bad env var is refused with an error naming the env var and its flag", () => {
    const error = configError(() => parseServerArgs([], { PORT: "http" }));
    expect(error.message).toContain("PORT");
    expect(error.message).toContain("--port");
    expect(error.message).toContain("'http'");
    expect(configError(() => parseServerArgs([], { LOG_FORMAT: "yaml" })).message).toContain("LOG_FORMAT");
    expect(configError(() => parseServerArgs([], { HEARTBEAT_INTERVAL: "-5" })).message).toContain("HEARTBEAT_INTERVAL");
  });

  test("a boolean env var reads the usual words for on and off, and refuses anything else", () => {
    for (const off of ["false", "0", "off", "no", "FALSE"]) expect(parseServerArgs([], { COMPRESS: off }).compress).toBe(false);
    for (const on of ["true", "1", "on", "yes"]) expect(parseServerArgs([], { COMPRESS: on }).compress).toBe(true);
    expect(configError(() => parseServerArgs([], { COMPRESS: "maybe" })).message).toContain("COMPRESS");
    expect(parseServerArgs(["--compress"], { COMPRESS: "maybe" }).compress).toBe(true); // the flag wins; the env var is not read
    // NO_COLOR keeps its own rule: any non-empty value.
    expect(parseClientArgs([], { NO_COLOR: "false" })["no-color"]).toBe(true);
  });

  test("an unknown flag is refused by name", () => {
    expect(configError(() => parseServerArgs(["--prot", "80"], {})).message).toContain("--prot");
    expect(configError(() => parseServerArgs(["-p"], {})).message).toContain("-p");
  });

  test("a flag without its value is refused by name", () => {
    expect(configError(() => parseServerArgs(["--port"], {})).message).toBe("--port needs a value");
    // parseArgs takes "-1" for a flag: say how to give a value that starts with '-'.
    expect(configError(() => parseServerArgs(["--port", "-1"], {})).message).toBe("--port needs a value; for one that starts with '-', write --port=VALUE");
    expect(configError(() => parseServerArgs(["--port=-1"], {})).message).toBe("--port must be a whole number from 0 to 65535 (got '-1')");
  });

  test("a number with spaces around it is refused, not read as the number", () => {
    expect(configError(() => parseServerArgs(["--port", " 80"], {})).message).toBe("--port must be a whole number from 0 to 65535 (got ' 80')");
    expect(configError(() => parseServerArgs(["--grace", "5 "], {})).message).toContain("--grace must be a number of seconds");
  });

  test("a boolean flag given a value is refused by name", () => {
    expect(configError(() => parseServerArgs(["--help=yes"], {})).message).toContain("--help");
  });

  test("the server takes no positional arguments", () => {
    expect(configError(() => parseServerArgs(["8080"], {})).message).toContain("'8080'");
  });

  test("ConfigError is an Error named ConfigError", () => {
    const error = configError(() => parseServerArgs(["--port", "x"], {}));
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe("ConfigError");
  });
});

describe("parseClientArgs", () => {
  test("--name and --room are checked with the server's rules (a leading # is dropped)", () => {
    expect(configError(() => parseClientArgs(["--name", "two words"], {})).message).toContain("--name");
    expect(configError(() => parseClientArgs(["--name", "User-x"], {})).message).toContain("reserved");
    expect(configError(() => parseClientArgs(["--room", "Dev"], {})).message).toContain("--room");
    expect(parseClientArgs(["--room", "#dev", "--name", "ann.b"], {})).toMatchObject({ room: "dev", name: "ann.b" });
  });

  test("every option takes its default when neither flag nor env var is given", () => {
    const values = parseClientArgs([], {}) as Record<string, unknown>;
    for (const [flag, spec] of Object.entries(clientOptions)) expect(values[flag]).toBe(spec.default);
  });

  test("the defaults connect to ws://localhost:8080 with colour", () => {
    expect(parseClientArgs([], {})).toMatchObject({
      url: "ws://localhost:8080", name: undefined, room: undefined, json: false, "no-color": false, help: false,
    });
  });

  test("the URL may be the first argument", () => {
    expect(parseClientArgs(["ws://chat.example:9000"], {}).url).toBe("ws://chat.example:9000");
  });

  test("the URL may be given with --url", () => {
    expect(parseClientArgs(["--url", "wss://chat.example/"], {}).url).toBe("wss://chat.example/");
    expect(parseClientArgs(["--url=ws://[::1]:1"], {}).url).toBe("ws://[::1]:1");
  });

  test("the URL argument may come after the flags", () => {
    expect(parseClientArgs(["--name", "alice", "ws://h:1"], {})).toMatchObject({ url: "ws://h:1", name: "alice" });
  });

  test("a URL given both ways is refused", () => {
    expect(configError(() => parseClientArgs(["ws://a:1", "--url", "ws://b:1"], {})).message).toContain("not both");
    expect(configError(() => parseClientArgs(["--url=ws://b:1", "ws://a:1"], {})).message).toContain("not both");
  });

  test("two URL arguments are refused", () => {
    const error = configError(() => parseClientArgs(["ws://a:1", "ws://b:1"], {}));
    expect(error.message).toContain("at most one");
    expect(error.message).toContain("ws://b:1");
  });

  test("a URL that is not ws:// or wss:// is refused, naming where it came from", () => {
    for (const bad of ["http://localhost:8080", "localhost:8080", "not a url", "", "file:///etc/passwd"]) {
      expect(configError(() => parseClientArgs(["--url", bad], {})).message).toContain("--url");
    }
    for (const bad of ["http://localhost:8080", "https://x", "not a url"]) {
      expect(configError(() => parseClientArgs([bad], {})).message).toContain("URL argument");
    }
    expect(configError(() => parseClientArgs([], { CHAT_URL: "http://x" })).message).toContain("CHAT_URL");
  });

  test("CHAT_URL sets the URL, and --url or an argument beats it", () => {
    expect(parseClientArgs([], { CHAT_URL: "ws://env:1" }).url).toBe("ws://env:1");
    expect(parseClientArgs(["--url", "ws://flag:1"], { CHAT_URL: "ws://env:1" }).url).toBe("ws://flag:1");
    expect(parseClientArgs(["ws://arg:1"], { CHAT_URL: "ws://env:1" }).url).toBe("ws://arg:1");
  });

  test("name and room come from flags or env", () => {
    expect(parseClientArgs(["--name", "alice", "--room", "dev"], {})).toMatchObject({ name: "alice", room: "dev" });
    expect(parseClientArgs([], { CHAT_NAME: "bob", CHAT_ROOM: "ops" })).toMatchObject({ name: "bob", room: "ops" });
    expect(parseClientArgs(["--name=carol"], { CHAT_NAME: "bob" }).name).toBe("carol");
  });

  test("an empty name or room flag is refused by name", () => {
    expect(configError(() => parseClientArgs(["--name="], {})).message).toContain("--name");
    expect(configError(() => parseClientArgs(["--room", " "], {})).message).toContain("--room");
  });

  test("NO_COLOR with any non-empty value turns colour off", () => {
    for (const value of ["1", "0", "false", "yes", " "]) expect(parseClientArgs([], { NO_COLOR: value })["no-color"]).toBe(true);
  });

  test("an empty or missing NO_COLOR leaves colour on", () => {
    expect(parseClientArgs([], { NO_COLOR: "" })["no-color"]).toBe(false);
    expect(parseClientArgs([], { NO_COLOR: undefined })["no-color"]).toBe(false);
  });

  test("--no-color and --json are switches", () => {
    expect(parseClientArgs(["--no-color", "--json"], {})).toMatchObject({ "no-color": true, json: true });
  });

  test("an unknown client flag is refused by name", () => {
    expect(configError(() => parseClientArgs(["--colour"], {})).message).toContain("--colour");
  });
});

describe("readOptions", () => {
  const specs = {
    level: { kind: "string" as const, env: "LEVEL", default: 1, help: "a level", parse: (raw: string) => Number(raw) },
    word: { kind: "string" as const, default: "none", help: "a word" },
    loud: { kind: "boolean" as const, env: "LOUD", default: false, help: "a switch" },
  };

  test("returns the values and the positionals", () => {
    expect(readOptions(specs, ["a", "--level", "3", "b", "--word", "hi"], {}, true)).toStrictEqual({
      values: { level: 3, word: "hi", loud: false },
      positionals: ["a", "b"],
      flagsGiven: new Set(["level", "word"]),
    });
  });

  test("a string option without a parser keeps the raw text", () => {
    expect(readOptions(specs, ["--word", " spaced "], {}).values.word).toBe(" spaced ");
  });

  test("the env var goes through the parser too", () => {
    expect(readOptions(specs, [], { LEVEL: "7", LOUD: "on" }).values).toStrictEqual({ level: 7, word: "none", loud: true });
  });

  test("positionals are refused unless allowed", () => {
    expect(configError(() => readOptions(specs, ["a"], {})).message).toContain("'a'");
  });
});

describe("helpText", () => {
  for (const [program, specs] of [["server", serverOptions], ["client", clientOptions]] as const) {
    const text = helpText(`Usage: ${program}`, specs);
    const lines = text.split("\n");

    test(`the ${program} help starts with the usage line`, () => {
      expect(lines[0]).toBe(`Usage: ${program}`);
      expect(text).toContain("Options:");
    });

    test(`the ${program} help lists every option with its env var and default`, () => {
      for (const [flag, spec] of Object.entries(specs) as Array<[string, { kind: string; env?: string; default: unknown; arg?: string; help: string }]>) {
        const row = lines.find((line) => line.startsWith(`  --${flag} `) || line === `  --${flag}`);
        expect(row).toBeDefined();
        expect(row).toContain(spec.help);
        if (spec.arg) expect(row).toContain(`--${flag} ${spec.arg}`);
        if (spec.env) expect(row).toContain(`[env ${spec.env}]`);
        if (spec.kind === "string" && spec.default !== undefined) expect(row).toContain(`(default: ${String(spec.default)})`);
      }
    });

    test(`the ${program} help lines its descriptions up in one column`, () => {
      const rows = lines.filter((line) => line.startsWith("  --"));
      expect(rows.length).toBe(Object.keys(specs).length);
      const columns = new Set(rows.map((row) => /^ {2}--\S+(?: \S+)? +/.exec(row)?.[0].length));
      expect(columns.size).toBe(1);
    });
  }

  test("the server help shows the documented defaults", () => {
    const text = helpText("u", serverOptions);
    expect(text).toMatch(/--port N +.*\(default: 8080\) \[env PORT\]/);
    expect(text).toMatch(/--max-content BYTES +.*\(default: 4096\) \[env MAX_CONTENT_BYTES\]/);
    expect(text).toMatch(/--log-level LEVEL +.*\(default: info\) \[env LOG_LEVEL\]/);
  });

  test("the client help shows the default URL and NO_COLOR", () => {
    const text = helpText("u", clientOptions);
    expect(text).toMatch(/--url URL +.*\(default: ws:\/\/localhost:8080\) \[env CHAT_URL\]/);
    expect(text).toMatch(/--no-color +.*\[env NO_COLOR\]/);
  });
});
