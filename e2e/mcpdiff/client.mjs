// The differential test's client: the official TypeScript MCP SDK's Client, driven through
// everything @modelcontextprotocol/server-everything offers, writing a transcript of the raw
// JSON-RPC messages so that a run straight to the server and a run through the Osiris gateway
// can be compared (e2e/mcpdiff_test.go does the comparing and the normalising).
//
//   node client.mjs --out FILE --url http://127.0.0.1:PORT/mcp
//   node client.mjs --out FILE --stdio -- node server-everything/dist/index.js stdio
//
// The transcript is {"ops": [...], "outside": [...]}. Each op is one request the client sent:
// "request" and "response" exactly as on the wire, "received" the notifications and
// server-to-client requests that arrived while it was in flight, and "replies" what the client
// answered to those requests. "outside" holds what arrived while no op was in flight, each
// with the index of the op it followed. Messages are recorded at the transport, below the
// SDK's schema parsing, so unknown fields, null and absent keys survive as sent.
//
// Ops run one at a time. Where the server sends something outside the call that caused it
// (over HTTP, on the standalone GET stream: subscription logs, the first simulated log, list
// changes), the op names what it expects and stays open until it arrived or WAIT_MS passed,
// so a message that never comes costs a bounded wait and shows as a difference.
import { writeFileSync } from "node:fs";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { InMemoryTaskStore } from "@modelcontextprotocol/sdk/experimental/tasks";
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  ResultSchema,
} from "@modelcontextprotocol/sdk/types.js";

// How long an op waits for a message it expects (see above), for the reply to a request (a
// request left hanging is recorded as the client's timeout error), and for the whole run.
const WAIT_MS = 1500;
const REQUEST_MS = 5000;
const RUN_MS = 100000;

const ROOTS = [
  { uri: "file:///srv/osiris-difftest/project", name: "project" },
  { uri: "file:///srv/osiris-difftest/scratch", name: "scratch" },
];
const SAMPLING_REPLY = {
  role: "assistant",
  content: { type: "text", text: "A fixed sampling answer from the difftest client." },
  model: "difftest-model",
  stopReason: "endTurn",
};
// Deliberately not every field of the server's schema, and none with a default: a hop that
// fills in defaults changes what the server reports back.
const ELICIT_CONTENT = { name: "Ada Lovelace", check: true, integer: 7 };

function parseArgs(argv) {
  const a = { out: "", url: "", stdio: null };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--out") a.out = argv[++i];
    else if (argv[i] === "--url") a.url = argv[++i];
    else if (argv[i] === "--stdio" && argv[i + 1] === "--") {
      a.stdio = argv.slice(i + 2);
      break;
    } else throw new Error(`unknown argument ${argv[i]}`);
  }
  if (!a.out || (!a.url) === !a.stdio || (a.stdio && a.stdio.length === 0)) {
    throw new Error("usage: client.mjs --out FILE (--url URL | --stdio -- COMMAND ARGS...)");
  }
  return a;
}

// Recorder sits between the SDK Client and the real transport and files every message.
class Recorder {
  constructor(inner) {
    this.inner = inner;
    this.ops = [];
    this.outside = [];
    this.current = null;
    this.waiters = [];
  }
  // The Transport interface, delegated.
  async start() {
    this.inner.onmessage = (msg, extra) => {
      this.file(msg);
      this.onmessage?.(msg, extra);
    };
    this.inner.onclose = () => this.onclose?.();
    this.inner.onerror = (e) => this.onerror?.(e);
    return this.inner.start();
  }
  async send(msg, opts) {
    if (this.current) {
      if ("method" in msg && "id" in msg && this.current.request === undefined) this.current.request = msg;
      else if (!("method" in msg)) this.current.replies.push(msg);
      else this.current.sent.push(msg);
    } else if (!("method" in msg)) {
      this.outside.push({ after: this.ops.length - 1, reply: msg });
    }
    return this.inner.send(msg, opts);
  }
  async close() {
    return this.inner.close();
  }
  get sessionId() {
    return this.inner.sessionId;
  }
  setProtocolVersion(v) {
    this.inner.setProtocolVersion?.(v);
  }

  file(msg) {
    const op = this.current;
    if (op && op.request && !("method" in msg) && msg.id === op.request.id) {
      op.response = msg;
    } else if (op) {
      op.received.push(msg);
    } else {
      this.outside.push({ after: this.ops.length - 1, message: msg });
    }
    for (const w of [...this.waiters]) w();
  }

  // run records one op: fn sends exactly one request (through the SDK); expect lists
  // predicates over received messages the op waits for after its response.
  // fn may be null: the op then only collects what arrives until expect holds.
  async run(name, fn, expect = [], waitMs = WAIT_MS) {
    const op = { name, request: undefined, response: undefined, received: [], replies: [], sent: [] };
    this.current = op;
    this.ops.push(op);
    try {
      await fn?.();
    } catch (e) {
      // The raw error response is in op.response; a failure without one (a timeout, a
      // transport error) is recorded as what the client saw.
      if (!op.response) op.clientError = String(e?.message ?? e);
    }
    // A predicate listed n times needs n matching messages.
    const met = () => expect.every((p) => expect.filter((q) => q === p).length <= op.received.filter(p).length);
    if (expect.length > 0) await this.waitFor(met, waitMs);
    if (op.sent.length === 0) delete op.sent;
    this.current = null;
    return op;
  }

  // waitFor resolves when cond holds (checked on every message) or after waitMs.
  waitFor(cond, waitMs = WAIT_MS) {
    return new Promise((resolve) => {
      if (cond()) return resolve(true);
      const done = (ok) => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        resolve(ok);
      };
      const check = () => cond() && done(true);
      const timer = setTimeout(() => done(false), waitMs);
      this.waiters.push(check);
    });
  }
}

const isLog = (text) => (m) =>
  m.method === "notifications/message" && typeof m.params?.data === "string" && m.params.data.includes(text);
const isMethod = (method) => (m) => m.method === method;

const LEVELS = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];
// Any result, unknown fields kept (the transcript records the raw message anyway).
const loose = ResultSchema;

async function exercise(client, rec) {
  const req = (method, params, opts) =>
    client.request({ method, ...(params ? { params } : {}) }, loose, { timeout: REQUEST_MS, ...opts });

  // What the server sends by itself after initialized (list changes of its conditional tools,
  // then roots/list 350 ms later and a log of the roots it got) lands in "outside".
  await rec.waitFor(() => rec.outside.some((o) => o.message && isLog("Roots updated")(o.message)));

  await rec.run("ping", () => req("ping"));
  await rec.run("logging/setLevel debug", () => req("logging/setLevel", { level: "debug" }));

  // Tools: list every page, then call each tool the server offers.
  let cursor;
  do {
    const op = await rec.run("tools/list", () => req("tools/list", cursor ? { cursor } : undefined));
    cursor = op.response?.result?.nextCursor;
  } while (cursor);
  const call = (name, args, expect, opts) =>
    rec.run(`tools/call ${name}`, () => req("tools/call", { name, ...(args === undefined ? {} : { arguments: args }) }, opts), expect);
  await rec.run("tools/call get-tiny-image without arguments", () => req("tools/call", { name: "get-tiny-image" }));
  await call("echo", { message: "hello from the difftest" });
  await call("echo", { message: "" });
  for (const messageType of ["error", "success", "debug"]) {
    await call("get-annotated-message", { messageType, includeImage: messageType === "success" });
  }
  await call("get-env", {});
  await call("get-resource-links", { count: 4 });
  await call("get-resource-links", {});
  await call("get-resource-reference", { resourceType: "Text", resourceId: 2 });
  await call("get-resource-reference", { resourceType: "Blob", resourceId: 3 });
  await call("get-resource-reference", { resourceType: "Nope", resourceId: 1 });
  for (const location of ["New York", "Chicago", "Los Angeles"]) await call("get-structured-content", { location });
  await call("get-sum", { a: 2, b: 40.5 });
  await call("get-sum", { a: "two", b: 1 });
  await call("get-tiny-image", {});
  await call("no-such-tool", {});
  // A data: URL, so the test needs no network; the gzip is deterministic (no mtime).
  const data = "data:text/plain;base64," + Buffer.from("Osiris difftest\n".repeat(8)).toString("base64");
  // Each registers a session resource, so the resource list changes.
  const listChanged = [isMethod("notifications/resources/list_changed")];
  await call("gzip-file-as-resource", { name: "difftest.txt.gz", data, outputType: "resource" }, listChanged);
  await call("gzip-file-as-resource", { name: "difftest-link.txt.gz", data, outputType: "resourceLink" }, listChanged);
  await rec.run("resources/read session resource", () => req("resources/read", { uri: "demo://resource/session/difftest-link.txt.gz" }));

  // Progress on a long-running tool (the SDK sets progressToken from onprogress).
  await rec.run("tools/call trigger-long-running-operation with progress", () =>
    client.request(
      { method: "tools/call", params: { name: "trigger-long-running-operation", arguments: { duration: 0.6, steps: 3 } } },
      loose,
      { onprogress: () => {}, timeout: REQUEST_MS },
    ),
  );
  await call("trigger-long-running-operation", { duration: 0.2, steps: 2 }); // no token: no progress

  // Sampling, elicitation (form and URL, request and error paths), roots.
  await call("trigger-sampling-request", { prompt: "Say something fixed.", maxTokens: 42 });
  await call("trigger-elicitation-request", {});
  await call("trigger-url-elicitation", {
    url: "https://example.com/difftest/authorize",
    message: "Open the difftest link.",
    elicitationId: "difftest-elicitation-1",
  });
  const urlErr = { url: "https://example.com/difftest/prerequisite", elicitationId: "difftest-elicitation-2", errorPath: true };
  await call("trigger-url-elicitation", urlErr);
  await call("trigger-url-elicitation", urlErr); // the retry proceeds on the request path
  await call("get-roots-list", {});
  await rec.run("notifications/roots/list_changed", () => client.sendRootsListChanged(), [
    isMethod("roots/list"),
    isLog("Roots updated"),
  ]);

  // A tool that requires a task: created, then its status notifications until it completed
  // (about 4 s; the server announces each stage), its status, result and the task list.
  // Nothing polls meanwhile: the number of polls would depend on timing.
  const created = await rec.run("tools/call simulate-research-query as a task", () =>
    req("tools/call", { name: "simulate-research-query", arguments: { topic: "difftest" }, task: { ttl: 60000 } }),
  );
  const taskId = created.response?.result?.task?.taskId;
  const completed = (m) => m.method === "notifications/tasks/status" && m.params?.status === "completed";
  // Always an op (the two transcripts' ops stay aligned), waiting only if there is a task.
  await rec.run("(notifications/tasks/status until completed)", null, [completed], taskId ? 10000 : 0);
  await rec.run("tasks/get", () => req("tasks/get", { taskId: taskId ?? "no-task-was-created" }));
  await rec.run("tasks/result", () => req("tasks/result", { taskId: taskId ?? "no-task-was-created" }));
  await rec.run("tasks/list", () => req("tasks/list"));
  await call("simulate-research-query", { topic: "without a task" }); // refused: task required

  // An ambiguous query: the task stops at input_required and its elicitation is queued; the
  // client's tasks/result delivers it, the answer lets the task finish, the result returns.
  const ambiguous = await rec.run("tools/call simulate-research-query ambiguous as a task", () =>
    req("tools/call", { name: "simulate-research-query", arguments: { topic: "python", ambiguous: true }, task: { ttl: 60000 } }),
  );
  const ambiguousId = ambiguous.response?.result?.task?.taskId;
  const inputRequired = (m) => m.method === "notifications/tasks/status" && m.params?.status === "input_required";
  // Twice: the server's own status update, then its SDK's when it queues the elicitation.
  await rec.run("(notifications/tasks/status until input_required)", null, [inputRequired, inputRequired], ambiguousId ? 10000 : 0);
  await rec.run("tasks/result of the ambiguous task", () =>
    req("tasks/result", { taskId: ambiguousId ?? "no-task-was-created" }, { timeout: 15000 }),
  );

  // A task cancelled at once (the server's later stage updates then fail, silently).
  const doomed = await rec.run("tools/call simulate-research-query as a task to cancel", () =>
    req("tools/call", { name: "simulate-research-query", arguments: { topic: "cancelled" }, task: { ttl: 60000 } }),
  );
  await rec.run("tasks/cancel", () => req("tasks/cancel", { taskId: doomed.response?.result?.task?.taskId ?? "no-task-was-created" }));

  // The server asks the client to run sampling and elicitation as tasks, then fetches the
  // results with tasks/get and tasks/result sent to the client.
  await call("trigger-sampling-request-async", { prompt: "Say something fixed, as a task.", maxTokens: 21 });
  await call("trigger-elicitation-request-async", {});

  // Prompts: list, get each with arguments, completions of their arguments.
  await rec.run("prompts/list", () => req("prompts/list"));
  await rec.run("prompts/get simple-prompt", () => req("prompts/get", { name: "simple-prompt" }));
  await rec.run("prompts/get args-prompt", () => req("prompts/get", { name: "args-prompt", arguments: { city: "Cairo", state: "Giza" } }));
  await rec.run("prompts/get args-prompt without the optional argument", () =>
    req("prompts/get", { name: "args-prompt", arguments: { city: "Luxor" } }),
  );
  await rec.run("prompts/get completable-prompt", () =>
    req("prompts/get", { name: "completable-prompt", arguments: { department: "Engineering", name: "Alice" } }),
  );
  for (const resourceType of ["Text", "Blob"]) {
    await rec.run(`prompts/get resource-prompt ${resourceType}`, () =>
      req("prompts/get", { name: "resource-prompt", arguments: { resourceType, resourceId: "5" } }),
    );
  }
  await rec.run("prompts/get resource-prompt invalid", () =>
    req("prompts/get", { name: "resource-prompt", arguments: { resourceType: "Text", resourceId: "x" } }),
  );
  await rec.run("prompts/get no-such-prompt", () => req("prompts/get", { name: "no-such-prompt" }));
  const complete = (name, ref, argument, context) =>
    rec.run(`completion/complete ${name}`, () => req("completion/complete", { ref, argument, ...(context ? { context } : {}) }));
  await complete("prompt department", { type: "ref/prompt", name: "completable-prompt" }, { name: "department", value: "" });
  await complete("prompt department S", { type: "ref/prompt", name: "completable-prompt" }, { name: "department", value: "S" });
  await complete("prompt name in context", { type: "ref/prompt", name: "completable-prompt" }, { name: "name", value: "" }, {
    arguments: { department: "Marketing" },
  });
  await complete("prompt resourceType", { type: "ref/prompt", name: "resource-prompt" }, { name: "resourceType", value: "B" });
  await complete("template resourceId", { type: "ref/resource", uri: "demo://resource/dynamic/text/{resourceId}" }, {
    name: "resourceId",
    value: "12",
  });
  await complete("template resourceId invalid", { type: "ref/resource", uri: "demo://resource/dynamic/blob/{resourceId}" }, {
    name: "resourceId",
    value: "x",
  });

  // Resources: every page of the list, every resource read, templates, dynamic resources.
  const uris = [];
  cursor = undefined;
  do {
    const op = await rec.run("resources/list", () => req("resources/list", cursor ? { cursor } : undefined));
    for (const r of op.response?.result?.resources ?? []) uris.push(r.uri);
    cursor = op.response?.result?.nextCursor;
  } while (cursor);
  for (const uri of uris) await rec.run(`resources/read ${uri}`, () => req("resources/read", { uri }));
  await rec.run("resources/templates/list", () => req("resources/templates/list"));
  for (const uri of ["demo://resource/dynamic/text/1", "demo://resource/dynamic/blob/2", "demo://resource/dynamic/text/0", "demo://nowhere/1"]) {
    await rec.run(`resources/read ${uri}`, () => req("resources/read", { uri }));
  }

  // Subscriptions: subscribe (the server logs it), updates while subscribed, unsubscribe.
  const sub = "demo://resource/dynamic/text/1";
  await rec.run("resources/subscribe", () => req("resources/subscribe", { uri: sub }), [isLog("Received Subscribe Resource")]);
  await call("toggle-subscriber-updates", {}, [(m) => m.method === "notifications/resources/updated" && m.params?.uri === sub]);
  await call("toggle-subscriber-updates", {});
  await rec.run("resources/unsubscribe", () => req("resources/unsubscribe", { uri: sub }), [isLog("Received Unsubscribe Resource")]);

  // Logging: the first simulated message comes at once (random level, at debug all pass);
  // then each level, with a subscribe and unsubscribe whose info logs pass only up to info.
  await call("toggle-simulated-logging", {}, [(m) => m.method === "notifications/message" && /level[- ]message/.test(m.params?.data)]);
  await call("toggle-simulated-logging", {});
  for (const [i, level] of LEVELS.entries()) {
    const shown = i <= LEVELS.indexOf("info");
    await rec.run(`logging/setLevel ${level}`, () => req("logging/setLevel", { level }));
    await rec.run(`resources/subscribe at ${level}`, () => req("resources/subscribe", { uri: sub }), shown ? [isLog("Received Subscribe")] : []);
    await rec.run(`resources/unsubscribe at ${level}`, () => req("resources/unsubscribe", { uri: sub }), shown ? [isLog("Received Unsubscribe")] : []);
  }
  await rec.run("logging/setLevel not-a-level", () => req("logging/setLevel", { level: "loud" }));
  await rec.run("no-such/method", () => req("no-such/method", {}));
  await rec.run("ping at the end", () => req("ping"));
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const inner = args.url
    ? // No SSE reconnection: this SDK resumes a POST stream that ended with a JSON-RPC *error*
      // (it counts only results as answers), and server-everything's event store then replays
      // every later event of every stream, so calls long finished would arrive again, at a
      // time that depends on the backoff. Neither is the gateway's doing.
      new StreamableHTTPClientTransport(new URL(args.url), { reconnectionOptions: { maxRetries: 0, initialReconnectionDelay: 1000, maxReconnectionDelay: 1000, reconnectionDelayGrowFactor: 1 } })
    : new StdioClientTransport({ command: args.stdio[0], args: args.stdio.slice(1), env: process.env, stderr: "ignore" });
  const rec = new Recorder(inner);
  // The client also runs sampling and elicitation as tasks when the server asks (the
  // *-async tools): it finishes each at once, so the server finds it completed without
  // polling (the number of polls would depend on timing).
  const client = new Client(
    { name: "osiris-difftest", version: "1.0.0" },
    {
      capabilities: {
        sampling: {},
        elicitation: { form: {}, url: {} },
        roots: { listChanged: true },
        tasks: { list: {}, cancel: {}, requests: { sampling: { createMessage: {} }, elicitation: { create: {} } } },
      },
      // No task message queue: with one, this SDK queues the answer to a request about the
      // server's task (the ambiguous query's elicitation) for a task of its own, which never
      // comes, instead of sending it.
      taskStore: new InMemoryTaskStore(),
    },
  );
  const asTask = async (r, extra, result) => {
    if (!r.params.task) return result;
    const task = await extra.taskStore.createTask({ ttl: r.params.task.ttl, pollInterval: 100 });
    await extra.taskStore.storeTaskResult(task.taskId, "completed", result);
    return { task: await extra.taskStore.getTask(task.taskId) };
  };
  client.setRequestHandler(CreateMessageRequestSchema, async (r, extra) => asTask(r, extra, SAMPLING_REPLY));
  client.setRequestHandler(ElicitRequestSchema, async (r, extra) =>
    asTask(r, extra, r.params.mode === "url" ? { action: "accept" } : { action: "accept", content: ELICIT_CONTENT }),
  );
  client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: ROOTS }));

  const timer = setTimeout(() => {
    console.error(`client.mjs: the run took longer than ${RUN_MS} ms`);
    process.exit(2);
  }, RUN_MS);
  await rec.run("initialize", () => client.connect(rec));
  // connect also sends notifications/initialized: keep it with the op that caused it.
  await exercise(client, rec);
  // Not an op: only the HTTP runs have a session to delete. A failure is printed.
  if (args.url) await inner.terminateSession().catch((e) => console.error("DELETE session:", e?.message ?? e));
  await client.close();
  clearTimeout(timer);
  writeFileSync(args.out, JSON.stringify({ ops: rec.ops, outside: rec.outside }, null, 2) + "\n");
  process.exit(0); // the task stores' TTL timers would keep node alive
}

main().catch((e) => {
  console.error("client.mjs:", e?.stack ?? e);
  process.exit(1);
});
