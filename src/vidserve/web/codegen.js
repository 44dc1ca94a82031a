// The request on screen as code: curl, Python (fal's fal_client and vidserve's client) and
// JavaScript (fal's @fal-ai/client through vidserve's proxy route). The key never appears
// in the code: it is read from the environment. Each ends by printing the result's file
// URL: `video`, or `audio` for text-to-speech.

/** A JSON value as a Python literal (True/False/None), indented like json.dumps(indent=4). */
export function pythonLiteral(value, indent = 0) {
  const pad = " ".repeat(indent + 4);
  const end = " ".repeat(indent);
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : "None";
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) {
    if (!value.length) return "[]";
    return `[\n${value.map((v) => pad + pythonLiteral(v, indent + 4)).join(",\n")},\n${end}]`;
  }
  const entries = Object.entries(value);
  if (!entries.length) return "{}";
  return `{\n${entries.map(([k, v]) => `${pad}${JSON.stringify(k)}: ${pythonLiteral(v, indent + 4)}`).join(",\n")},\n${end}}`;
}

function indentLines(text, spaces) {
  return text.replace(/\n/g, `\n${" ".repeat(spaces)}`);
}

function shellQuote(text) {
  return `'${text.replace(/'/g, "'\\''")}'`;
}

function curl(base, endpointId, body, withKey, file) {
  const auth = withKey ? `  -H "Authorization: Key $VIDSERVE_KEY" \\\n` : "";
  return [
    `# Submit to the queue; the answer has status_url, response_url and cancel_url.`,
    `curl -s -X POST ${base}/queue/${endpointId} \\`,
    `${auth}  -H 'Content-Type: application/json' \\`,
    `  -d ${shellQuote(JSON.stringify(body, null, 2))}`,
    ``,
    `# Then: curl -s "$STATUS_URL?logs=1"   (or $STATUS_URL/stream for server-sent events)`,
    `#       curl -s "$RESPONSE_URL"        -> {${JSON.stringify(file)}: {"url": ...}}`,
  ].join("\n");
}

function falClient(base, endpointId, body, withKey, file) {
  const key = withKey ? `, key=os.environ["VIDSERVE_KEY"]` : "";
  return [
    withKey ? "import os\n" : "",
    "from vidserve.compat import use_vidserve",
    "",
    `fal_client = use_vidserve(${JSON.stringify(base)}${key})  # points fal_client here`,
    "result = fal_client.subscribe(",
    `    ${JSON.stringify(endpointId)},`,
    `    arguments=${indentLines(pythonLiteral(body), 4)},`,
    "    with_logs=True,",
    "    on_queue_update=print,",
    ")",
    `print(result[${JSON.stringify(file)}]["url"])`,
  ].join("\n").replace(/^\n/, "");
}

function vidserveClient(base, endpointId, body, withKey, file) {
  const key = withKey ? `, key=os.environ["VIDSERVE_KEY"]` : "";
  return [
    withKey ? "import os\n" : "",
    "from vidserve.client import SyncClient",
    "",
    `with SyncClient(base_url=${JSON.stringify(base)}${key}) as client:`,
    "    result = client.subscribe(",
    `        ${JSON.stringify(endpointId)},`,
    `        ${indentLines(pythonLiteral(body), 8)},`,
    "        with_logs=True,",
    "        on_queue_update=print,",
    "    )",
    `print(result[${JSON.stringify(file)}]["url"])`,
  ].join("\n").replace(/^\n/, "");
}

function javascript(base, endpointId, body, withKey, file) {
  const credentials = withKey ? "process.env.VIDSERVE_KEY" : '"none"';
  return [
    'import { fal } from "@fal-ai/client";',
    "",
    "// Every call goes through vidserve's proxy route, uploads included.",
    `fal.config({ credentials: ${credentials}, proxyUrl: { url: "${base}/api/fal/proxy", when: "always" } });`,
    "",
    `const result = await fal.subscribe(${JSON.stringify(endpointId)}, {`,
    `  input: ${indentLines(JSON.stringify(body, null, 2), 2)},`,
    "  logs: true,",
    "  onQueueUpdate: (update) => console.log(update.status, update.logs ?? []),",
    "});",
    `console.log(result.data.${file}.url);`,
  ].join("\n");
}

export const LANGUAGES = [
  ["curl", "curl", curl],
  ["python", "Python (fal_client)", falClient],
  ["vidserve", "Python (vidserve.client)", vidserveClient],
  ["js", "JavaScript", javascript],
];

/** `text` as comment lines of at most `width` characters. */
function comment(text, marker, width = 92) {
  const lines = [];
  let line = marker;
  for (const word of text.split(/\s+/)) {
    if (line.length + word.length + 1 > width && line !== marker) {
      lines.push(line);
      line = marker;
    }
    line += ` ${word}`;
  }
  return [...lines, line].join("\n");
}

/** The request as code in `language`; `note` (say, that this server does not serve the
 * endpoint) comes first, as a comment. `file`: the result's field holding its file. */
export function snippet(language, base, endpointId, body, withKey, note = null, file = "video") {
  const entry = LANGUAGES.find(([id]) => id === language) || LANGUAGES[0];
  const code = entry[2](base, endpointId, body, withKey, file);
  return note ? `${comment(note, language === "js" ? "//" : "#")}\n\n${code}` : code;
}
