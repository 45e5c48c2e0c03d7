// Renders every chat template in tests/fixtures/chat-templates/*/tokenizer_config.json over a fixed
// set of conversations with @huggingface/jinja (the Jinja implementation transformers.js uses) and
// writes tests/fixtures/chat-templates/goldens.json. Our C# renderer is checked against this file;
// it never produces it. Run: npm ci && node generate.mjs
import { Template } from "@huggingface/jinja";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.resolve(here, "../../tests/fixtures/chat-templates");

const conversations = {
  system_user: [
    { role: "system", content: "You are a helpful assistant." },
    { role: "user", content: "Hello!" },
  ],
  multi_turn: [
    { role: "system", content: "Answer briefly." },
    { role: "user", content: "What is 2+2?" },
    { role: "assistant", content: "4" },
    { role: "user", content: "And 3+3?" },
  ],
  no_system: [
    { role: "user", content: "Hi there" },
    { role: "assistant", content: "Hello! How can I help?" },
    { role: "user", content: "Tell me a joke." },
  ],
  special_characters: [
    { role: "user", content: "  Line one\nline two\n\ttabbed \"quoted\" 'single' \\ backslash {{ not_a_tag }} {% raw %} <|im_end|>  " },
    { role: "assistant", content: "Ünïcödé: 中文, emoji 🙂, accents é è, math ∑\n" },
    { role: "user", content: "Thanks — bye…" },
  ],
  content_parts: [
    { role: "system", content: [{ type: "text", text: "You are terse." }] },
    { role: "user", content: [{ type: "text", text: "Describe" }, { type: "text", text: "this sentence." }] },
  ],
  assistant_last: [
    { role: "user", content: "Start the story." },
    { role: "assistant", content: "Once upon a time" },
  ],
  bad_role_order: [
    { role: "user", content: "first" },
    { role: "user", content: "second" },
  ],
};

// A tool definition in the OpenAI/transformers JSON-schema form, rendered by the templates that
// have tool branches. Non-ASCII and quotes exercise tojson's escaping.
const tools = [
  {
    type: "function",
    function: {
      name: "get_weather",
      description: "Get the current weather in a city, e.g. \"Zürich\".",
      parameters: {
        type: "object",
        properties: {
          city: { type: "string", description: "City name" },
          days: { type: "integer", description: "Forecast length", enum: [1, 3] },
        },
        required: ["city"],
      },
    },
  },
];
const toolTemplates = new Set(["qwen2.5-instruct", "llama3.1-instruct", "mistral-v0.3-instruct"]);
// An assistant tool call and the tool's answer: messages carry extra keys (tool_calls, tool_call_id, name).
conversations.tool_round_trip = [
  { role: "user", content: "What's the weather in Paris?" },
  {
    role: "assistant",
    content: "",
    tool_calls: [{ id: "call12345", type: "function", function: { name: "get_weather", arguments: { city: "Paris", days: 1 } } }],
  },
  { role: "tool", content: "22 C, sunny", tool_call_id: "call12345", name: "get_weather" },
];
const toolOnly = new Set(["tool_round_trip"]);
const toolConversations = ["system_user", "no_system", "tool_round_trip"];

// Templates that loop over message.content take the parts list as is; every other template gets the
// text parts joined with "\n" (what vLLM does for string-content templates). The C# renderer detects
// this from the template's syntax tree; this table states the expected detection independently.
const takesContentParts = new Set(["qwen2.5-vl-instruct"]);

function tokenText(t) {
  if (t === null || t === undefined) return undefined;
  return typeof t === "string" ? t : t.content;
}

function pickTemplate(ct) {
  if (typeof ct === "string") return ct;
  const d = ct.find((e) => e.name === "default");
  if (!d) throw new Error("no default template");
  return d.template;
}

function flatten(messages, parts) {
  return messages.map((m) =>
    typeof m.content === "string" || parts
      ? { ...m }
      : { ...m, content: m.content.map((p) => p.text).join("\n") },
  );
}

const cases = [];
const templates = {};
for (const name of fs.readdirSync(fixtures).sort()) {
  const cfgPath = path.join(fixtures, name, "tokenizer_config.json");
  if (!fs.existsSync(cfgPath)) continue;
  const cfg = JSON.parse(fs.readFileSync(cfgPath, "utf8"));
  if (cfg.chat_template === undefined) continue;
  const template = new Template(pickTemplate(cfg.chat_template));
  const parts = takesContentParts.has(name);
  templates[name] = { content_format: parts ? "openai" : "string" };
  const runs = Object.keys(conversations).filter((conv) => !toolOnly.has(conv)).map((conv) => [conv, false]);
  if (toolTemplates.has(name)) for (const conv of toolConversations) runs.push([conv, true]);
  for (const [conv, withTools] of runs) {
    const messages = conversations[conv];
    for (const addGenerationPrompt of [false, true]) {
      // transformers passes tools=None and documents=None, plus the special tokens that are set.
      const ctx = { messages: flatten(messages, parts), tools: withTools ? tools : null, documents: null, add_generation_prompt: addGenerationPrompt };
      for (const key of ["bos_token", "eos_token", "unk_token", "pad_token"]) {
        const v = tokenText(cfg[key]);
        if (v !== undefined) ctx[key] = v;
      }
      const entry = { template: name, conversation: conv, add_generation_prompt: addGenerationPrompt, tools: withTools };
      try {
        entry.output = template.render(ctx);
      } catch (e) {
        entry.error = String(e.message ?? e);
      }
      cases.push(entry);
    }
  }
}

const out = {
  generator: "tools/chat-template-goldens/generate.mjs with @huggingface/jinja " +
    JSON.parse(fs.readFileSync(path.join(here, "node_modules/@huggingface/jinja/package.json"), "utf8")).version,
  conversations,
  tools,
  templates,
  cases,
};
fs.writeFileSync(path.join(fixtures, "goldens.json"), JSON.stringify(out, null, 1) + "\n");
console.log(`wrote ${cases.length} cases (${cases.filter((c) => c.error).length} errors)`);
