// The MCP tests' client: the official TypeScript SDK (@modelcontextprotocol/sdk) driving Clarity's MCP server.
//
//   node client.mjs http URL KEY [ORG]          Streamable HTTP to URL (…/mcp) with Authorization: Bearer KEY
//   node client.mjs stdio DOTNET DLL URL KEY    stdio: spawns `DOTNET DLL mcp --server URL --key KEY`
//
// It reads one JSON script from standard input: {"calls": [{"tool": "...", "arguments": {...}}, ...]}, connects, lists
// the tools, then makes the calls in order and prints one JSON line per event to standard output:
//   {"event":"tools","names":[...]}                       after tools/list
//   {"event":"asking","index":N}                           as a call starts (the test answers a question meanwhile)
//   {"event":"progress","index":N,"progress":P}            each progress notification of a call
//   {"event":"result","index":N,"isError":B,"structured":{...},"text":"..."}
//   {"event":"error","message":"..."}                      a protocol or connection error (then it exits 1)
//   {"event":"closed"}                                     after the session was closed (HTTP DELETE / stdio exit)
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const emit = (event) => process.stdout.write(JSON.stringify(event) + "\n");

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString("utf8").trim();
  return text ? JSON.parse(text) : { calls: [] };
}

function transportFor(args) {
  const [mode, ...rest] = args;
  if (mode === "http") {
    const [url, key, org] = rest;
    const headers = { Authorization: `Bearer ${key}` };
    if (org) headers["X-Clarity-Org"] = org;
    return new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  }
  if (mode === "stdio") {
    const [dotnet, dll, url, key] = rest;
    return new StdioClientTransport({ command: dotnet, args: [dll, "mcp", "--server", url, "--key", key], stderr: "inherit" });
  }
  throw new Error(`unknown mode ${mode}`);
}

async function main() {
  const script = await readStdin();
  const transport = transportFor(process.argv.slice(2));
  const client = new Client({ name: "clarity-test-agent", version: "1.2.3" });
  await client.connect(transport);
  const tools = await client.listTools();
  emit({ event: "tools", names: tools.tools.map((t) => t.name), tools: tools.tools });
  for (const [index, call] of (script.calls ?? []).entries()) {
    emit({ event: "asking", index });
    const result = await client.callTool({ name: call.tool, arguments: call.arguments ?? {} }, undefined, {
      onprogress: (p) => emit({ event: "progress", index, progress: p.progress, message: p.message }),
      resetTimeoutOnProgress: true,
      timeout: 120000,
    });
    const text = (result.content ?? []).filter((c) => c.type === "text").map((c) => c.text).join("\n");
    emit({ event: "result", index, isError: result.isError === true, structured: result.structuredContent ?? null, text });
  }
  if (transport instanceof StreamableHTTPClientTransport) {
    await transport.terminateSession();
  }
  await client.close();
  emit({ event: "closed" });
}

main().catch((error) => {
  emit({ event: "error", message: String(error?.message ?? error) });
  process.exit(1);
});
