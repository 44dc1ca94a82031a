// Runs @fal-ai/client 1.10.1, unchanged, against vidserve at process.argv[2] and prints one
// JSON report: each flow's outcome, for tests/clients/test_js_client.py to check.
import { createFalClient, ValidationError } from "@fal-ai/client";
import { readFileSync } from "node:fs";

const base = process.argv[2];
const imagePath = process.argv[3];
const V1 = "fal-ai/kling-video/v1/standard/image-to-video";

const rewrite = (url) =>
  url
    .replace("https://queue.fal.run/", `${base}/queue/`)
    .replace("https://fal.run/", `${base}/run/`)
    .replace("https://rest.fal.ai/", `${base}/rest/`);

const viaMiddleware = createFalClient({
  credentials: "js-test-key",
  requestMiddleware: async (req) => ({ ...req, url: rewrite(req.url) }),
});
const viaProxy = createFalClient({
  credentials: "js-test-key",
  proxyUrl: { url: `${base}/api/fal/proxy`, when: "always" },
});

const png = readFileSync(imagePath);
const report = {};

async function flow(name, fn) {
  try {
    report[name] = { ok: true, ...(await fn()) };
  } catch (err) {
    report[name] = { ok: false, error: String(err), name: err?.name, body: err?.body };
  }
}

await flow("upload", async () => {
  const url = await viaMiddleware.storage.upload(new Blob([png], { type: "image/png" }));
  report.imageUrl = url;
  return { url };
});
const image = report.imageUrl;

await flow("subscribe", async () => {
  const messages = [];
  const statuses = [];
  const result = await viaMiddleware.subscribe(V1, {
    input: { prompt: "push in", image_url: image },
    logs: true,
    pollInterval: 100,
    onQueueUpdate: (update) => {
      statuses.push(update.status);
      (update.logs || []).forEach((log) => messages.push(log.message));
    },
  });
  return { video: result.data.video, requestId: result.requestId, messages, statuses };
});

await flow("queue", async () => {
  const { request_id } = await viaMiddleware.queue.submit(V1, {
    input: { prompt: "p", image_url: image },
  });
  const first = await viaMiddleware.queue.status(V1, { requestId: request_id, logs: true });
  const stream = await viaMiddleware.queue.streamStatus(V1, { requestId: request_id, logs: true });
  const events = [];
  stream.on("data", (event) => events.push(event));
  const last = await stream.done();
  const result = await viaMiddleware.queue.result(V1, { requestId: request_id });
  return {
    firstStatus: first.status,
    streamed: events.map((e) => ({ status: e.status, logs: (e.logs || []).map((l) => l.message) })),
    lastStatus: last.status,
    video: result.data.video,
    requestId: result.requestId,
  };
});

await flow("cancel", async () => {
  const long = { prompt: "p", image_url: image, duration: "10" };
  const blockers = [];
  for (let i = 0; i < 2; i++) blockers.push(await viaMiddleware.queue.submit(V1, { input: long }));
  const { request_id } = await viaMiddleware.queue.submit(V1, { input: long });
  await viaMiddleware.queue.cancel(V1, { requestId: request_id });
  const status = await viaMiddleware.queue.status(V1, { requestId: request_id });
  for (const b of blockers) await viaMiddleware.queue.cancel(V1, { requestId: b.request_id });
  return { status: status.status, error_type: status.error_type };
});

await flow("run", async () => {
  const result = await viaMiddleware.run(V1, { input: { prompt: "p", image_url: image } });
  return { video: result.data.video, requestId: result.requestId };
});

await flow("validation", async () => {
  try {
    await viaMiddleware.queue.submit(V1, { input: { prompt: "p", image_url: image, cfg_scale: 2 } });
    return { raised: false };
  } catch (err) {
    return {
      raised: true,
      isValidationError: err instanceof ValidationError,
      status: err.status,
      fieldErrors: err.getFieldErrors("cfg_scale"),
    };
  }
});

await flow("proxy", async () => {
  const url = await viaProxy.storage.upload(new Blob([png], { type: "image/png" }));
  const result = await viaProxy.subscribe(V1, {
    input: { prompt: "p", image_url: url },
    pollInterval: 100,
    mode: "streaming",
  });
  return { video: result.data.video, uploaded: url };
});

console.log(JSON.stringify(report));
