// Writes tests/fixtures/tokenizers/<name>/goldens.json: token ids and decoded strings produced by
// Hugging Face tokenizers.js (@huggingface/tokenizers), an implementation of HF `tokenizers`
// independent of LoraServe's C# one. CI does not run this; rerun after changing the cases:
//   npm install && npm run fixtures && npm run goldens
import fs from "fs";
import path from "path";
import zlib from "zlib";
import { Tokenizer } from "@huggingface/tokenizers";

const here = path.dirname(new URL(import.meta.url).pathname);
const root = path.resolve(here, "../../tests/fixtures/tokenizers");

// Strings chosen to hit the places where tokenizers usually disagree: whitespace runs,
// newlines/tabs, digit grouping, contractions (and their case-insensitive forms), multi-byte
// UTF-8 (emoji incl. ZWJ sequences, CJK, astral letters), accents (NFC vs NFD input),
// special tokens written in the text, a leading space and the empty string.
const cases = [
  "",
  " ",
  "Hello world",
  " Hello world",
  "Hello  world   with    spaces",
  "   leading and trailing   ",
  "line one\nline two\n\nline four\r\nwindows\r\n",
  "tabs\tand\t\tmore\ttabs",
  "\n\n\n",
  "1234567890 12 345 6789 3.14159 1,000,000",
  "I'm sure you're right, they've said it's what we'll do, I'd say.",
  "I'M SURE YOU'RE RIGHT, THEY'VE SAID IT'S WHAT WE'LL DO",
  "don't won't can't shouldn't",
  "emoji 😀👍🏽 family 👨‍👩‍👧‍👦 flags 🇫🇷🇯🇵!",
  "中文分词测试，你好世界。日本語のテキスト、한국어 텍스트",
  "café naïve résumé Ångström",
  "cafe\u0301 and Ame\u0301lie (decomposed accents)",
  "math 𝐀𝐁𝐂 𝟏𝟐𝟑 and ancient 𐌰𐌱𐌲",
  "<|endoftext|>Hello<|endoftext|> world",
  "<s>Hello</s> <s> world </s>",
  "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>",
  "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nhi<|im_end|>",
  "<tool_call>{\"name\": \"f\"}</tool_call>",
  "def f(x):\n    return x ** 2  # square\n\n\nprint(f(3))",
  "Symbols: @#$%^&*()_+-=[]{}|;':\",./<>?`~ and ... — “quotes” ‘single’",
  "ALL CAPS and MiXeD cAsE words",
  "a\u00a0b\u2003c\u3000d zero\u200bwidth",
  "trailing newline\n",
  "   ",
  "\t",
  "The quick brown fox jumps over the lazy dog. " .repeat(3).trim(),
];

function loadDir(dir) {
  const gz = path.join(dir, "tokenizer.json.gz");
  const raw = fs.existsSync(gz) ? zlib.gunzipSync(fs.readFileSync(gz)).toString("utf8") : fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8");
  const cfgPath = path.join(dir, "tokenizer_config.json");
  const cfg = fs.existsSync(cfgPath) ? JSON.parse(fs.readFileSync(cfgPath, "utf8")) : {};
  return new Tokenizer(JSON.parse(raw), cfg);
}

const only = process.argv.slice(2);
for (const name of fs.readdirSync(root).sort()) {
  const dir = path.join(root, name);
  if (!fs.statSync(dir).isDirectory() || (only.length && !only.includes(name))) continue;
  const extraPath = path.join(dir, "extra_cases.json");
  const extra = fs.existsSync(extraPath) ? JSON.parse(fs.readFileSync(extraPath, "utf8")) : [];
  const tok = loadDir(dir);
  const out = [];
  for (const text of [...cases, ...extra]) {
    const withSpecial = tok.encode(text, { add_special_tokens: true }).ids;
    const withoutSpecial = tok.encode(text, { add_special_tokens: false }).ids;
    out.push({
      text,
      ids: withSpecial,
      ids_no_special: withoutSpecial,
      // tokenizers.js refuses to decode an empty list; HF decodes it to "".
      decode_keep_special: withSpecial.length ? tok.decode(withSpecial, { skip_special_tokens: false, clean_up_tokenization_spaces: false }) : "",
      decode_skip_special: withSpecial.length ? tok.decode(withSpecial, { skip_special_tokens: true, clean_up_tokenization_spaces: false }) : "",
    });
  }
  const doc = {
    generator: "@huggingface/tokenizers@0.2.0 (tools/tokenizer-goldens/generate.mjs)",
    cases: out,
  };
  fs.writeFileSync(path.join(dir, "goldens.json"), JSON.stringify(doc, null, 1) + "\n");
  console.log(name, out.length, "cases");
}

// Unicode normalization goldens from V8/ICU's String.prototype.normalize, for LoraServe's own
// NFC/NFD/NFKC/NFKD tables (it runs with InvariantGlobalization, where .NET does not normalize).
{
  const texts = [
    "e\u0301", "\u00e9", "cafe\u0301 Ame\u0301lie", "A\u030a ångström \u212b", "\u1e9b\u0323", "q\u0307\u0323",
    "a\u0323\u0301", "a\u0301\u0323", "\u0041\u0300\u0316", "\uac00\ud55c\uad6d\uc5b4", "\u1112\u1161\u11ab",
    "\u1100\u1161", "\ufb01 \ufb03 \u2460 \u00bd \u2126 \u212a", "\uff28\uff45\uff4c\uff4c\uff4f", "\u0344\u0345",
    "\u0958 \u0915\u093c", "x\u0301\u0301\u0327", "\u0301leading mark", "\u00c5\u0327", "\ud834\udd5e \ud834\udd57\ud834\udd65",
    "Ṩ ṩ \u1e69", "\u3060 \u305f\u3099", "plain ASCII text", "",
  ];
  const cases = texts.map(t => ({ text: t, nfc: t.normalize("NFC"), nfd: t.normalize("NFD"), nfkc: t.normalize("NFKC"), nfkd: t.normalize("NFKD") }));
  fs.writeFileSync(path.join(root, "normalization.json"), JSON.stringify({ generator: `String.prototype.normalize (node ${process.version}, ICU ${process.versions.icu}, Unicode ${process.versions.unicode})`, cases }, null, 1) + "\n");
  console.log("normalization", cases.length, "cases");
}
