// The page's only door to the server: the public API, exactly as any client uses it.
// Every call carries `Authorization: Key <key>` when a key is stored in this browser;
// without one (a loopback server) no header is sent.

const KEY_STORE = "vidserve.key";

export class ApiError extends Error {
  /** A non-2xx answer; `detail` is the body's `detail` (a 422's list of field errors). */
  constructor(status, body) {
    const detail = body && typeof body === "object" ? body.detail : body;
    super(typeof detail === "string" ? detail : `HTTP ${status}`);
    this.status = status;
    this.body = body;
    this.detail = detail;
    this.errorType = body && body.error_type;
  }
}

export function getKey() {
  return localStorage.getItem(KEY_STORE) || "";
}

export function setKey(key) {
  if (key) localStorage.setItem(KEY_STORE, key);
  else localStorage.removeItem(KEY_STORE);
}

/** `url` on this page's origin: the server builds absolute URLs from the address it was
 * called by, which behind a proxy may not be the address the browser sees. */
export function sameOrigin(url) {
  const u = new URL(url, location.href);
  return u.origin === location.origin ? u.href : location.origin + u.pathname + u.search;
}

export async function apiFetch(url, options = {}) {
  const headers = new Headers(options.headers || {});
  const key = getKey();
  if (key) headers.set("Authorization", `Key ${key}`);
  return fetch(sameOrigin(url), { ...options, headers });
}

async function readBody(res) {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The JSON answer of a call, or an ApiError. */
export async function apiJson(url, options = {}) {
  const res = await apiFetch(url, options);
  const body = await readBody(res);
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}

/** Upload through fal's storage API (initiate, then PUT); resolves to the file's URL. */
export async function upload(blob, fileName) {
  const contentType = blob.type || "application/octet-stream";
  const grant = await apiJson("/rest/storage/upload/initiate", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ content_type: contentType, file_name: fileName }),
  });
  // The upload URL is a signed token: no key goes with the PUT, as with fal's clients.
  const res = await fetch(sameOrigin(grant.upload_url), {
    method: "PUT",
    headers: { "Content-Type": contentType },
    body: blob,
  });
  if (!res.ok) throw new ApiError(res.status, await readBody(res));
  return grant.file_url;
}

export function submit(endpointId, body) {
  return apiJson(`/queue/${endpointId}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

/** Read the SSE status stream, calling `onStatus` with each status object, until the server
 * ends it (after COMPLETED). Uses fetch rather than EventSource so the key header goes along. */
export async function streamStatus(statusUrl, onStatus, signal) {
  const res = await apiFetch(`${statusUrl}/stream?logs=1`, {
    headers: { Accept: "text/event-stream" },
    signal,
  });
  if (!res.ok) throw new ApiError(res.status, await readBody(res));
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).trimStart())
        .join("\n");
      if (data) onStatus(JSON.parse(data));
    }
  }
}

export function getStatus(statusUrl) {
  return apiJson(`${statusUrl}?logs=1`);
}

export async function cancel(cancelUrl) {
  return apiJson(cancelUrl, { method: "PUT" });
}
