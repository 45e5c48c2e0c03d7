using System.Text.Json;
using LoraServe.Lora.Adapters;
using LoraServe.Models.Llama;
using LoraServe.Models.Tokenization;
using LoraServe.Testing;

namespace LoraServe.Cli.Tests;

/// <summary>A tiny float32 model made by `loraserve create-model`, and a PEFT adapter for it.</summary>
public sealed class TinyModelFixture : IDisposable
{
    public TinyModelFixture()
    {
        Root = Directory.CreateTempSubdirectory("cli-").FullName;
        ModelDir = Path.Combine(Root, "model");
        var (code, _, err) = CliRunner.Run("create-model", "--shape", "tiny", "--dtype", "F32", "--seed", "5", "--out", ModelDir);
        Assert.True(code == 0, err);
        Model = InMemoryModel.FromDirectory(ModelDir);
        var rng = new Random(3);
        var modules = new List<LoraModule>();
        for (int l = 0; l < Model.Config.NumLayers; l++)
            foreach (var kind in new[] { LinearKind.Q, LinearKind.V, LinearKind.Down })
            {
                var (o, i) = kind.Shape(Model.Config);
                float[] R(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
                modules.Add(new LoraModule(l, kind, R(4 * i), R(o * 4), 4, i, o, LoraModule.ScaleFor(8, 4, false)));
            }
        Adapter = new LoraAdapter("shout", Model.Config.NumLayers, modules);
        AdapterDir = Path.Combine(ModelDir, "adapters", "shout");
        PeftAdapterWriter.Write(AdapterDir, Adapter, alpha: 8, useRsLora: false, baseModelNameOrPath: ModelDir);
    }

    public string Root { get; }
    public string ModelDir { get; }
    public string AdapterDir { get; }
    public InMemoryModel Model { get; }
    public LoraAdapter Adapter { get; }

    public void Dispose()
    {
        Model.Dispose();
        Directory.Delete(Root, recursive: true);
    }
}

public class GenerateCommandTests(TinyModelFixture fx) : IClassFixture<TinyModelFixture>
{
    private static JsonElement Json(string stdout) => JsonDocument.Parse(stdout).RootElement;

    /// <summary>Greedy tokens and their log-probabilities, re-derived with the float64 reference forward.</summary>
    private void AssertMatchesReference(int[] prompt, JsonElement result, IReadOnlyDictionary<(int, LinearKind), ReferenceLoraModule>? lora)
    {
        var generated = result.GetProperty("token_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var logprobs = result.GetProperty("logprobs").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        Assert.Equal(generated.Length, logprobs.Length);
        var logits = ReferenceForward.Logits(fx.Model, [.. prompt, .. generated], lora);
        int vocab = fx.Model.Config.VocabSize;
        for (int k = 0; k < generated.Length; k++)
        {
            int row = prompt.Length - 1 + k;
            int best = 0;
            double max = double.NegativeInfinity;
            for (int v = 0; v < vocab; v++) if (logits[row, v] > max) { max = logits[row, v]; best = v; }
            double z = 0;
            for (int v = 0; v < vocab; v++) z += Math.Exp(logits[row, v] - max);
            Assert.Equal(best, generated[k]);
            Assert.Equal(logits[row, best] - max - Math.Log(z), logprobs[k], 3);
        }
    }

    [Fact]
    public void Greedy_json_output_matches_the_float64_reference()
    {
        var (code, stdout, stderr) = CliRunner.Run("generate", "--model", fx.ModelDir, "--prompt-tokens", "5,90,13,200", "--max-tokens", "6", "--ignore-eos", "--json");
        Assert.True(code == 0, stderr);
        var result = Json(stdout);
        Assert.Equal([5, 90, 13, 200], result.GetProperty("prompt_token_ids").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal("length", result.GetProperty("finish_reason").GetString());
        AssertMatchesReference([5, 90, 13, 200], result, null);
    }

    [Fact]
    public void Adapter_by_name_under_the_model_directory_matches_the_reference_with_lora()
    {
        var (code, stdout, stderr) = CliRunner.Run("generate", "--model", fx.ModelDir, "--adapter", "shout", "--prompt-tokens", "5,90,13,200", "--max-tokens", "6", "--ignore-eos", "--json");
        Assert.True(code == 0, stderr);
        var reference = fx.Adapter.Modules.ToDictionary(m => (m.Layer, m.Kind), m => new ReferenceLoraModule(m.A, m.B, m.Rank, 8.0 / 4));
        AssertMatchesReference([5, 90, 13, 200], Json(stdout), reference);
        var (_, baseOut, _) = CliRunner.Run("generate", "--model", fx.ModelDir, "--prompt-tokens", "5,90,13,200", "--max-tokens", "6", "--ignore-eos", "--json");
        Assert.NotEqual(Json(baseOut).GetProperty("logprobs").GetRawText(), Json(stdout).GetProperty("logprobs").GetRawText());
    }

    [Fact]
    public void Text_prompt_is_tokenized_with_the_model_tokenizer_and_output_text_is_its_decoding()
    {
        var (code, stdout, stderr) = CliRunner.Run("generate", "--model", fx.ModelDir, "--prompt", "The quick brown fox", "--max-tokens", "5", "--ignore-eos", "--json");
        Assert.True(code == 0, stderr);
        var result = Json(stdout);
        var tokenizer = HfTokenizer.Load(fx.ModelDir);
        Assert.Equal(tokenizer.Encode("The quick brown fox"), result.GetProperty("prompt_token_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray());
        var ids = result.GetProperty("token_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal(tokenizer.Decode(ids), result.GetProperty("text").GetString());
    }

    [Fact]
    public void Seeded_sampling_is_reproducible_and_the_seed_matters()
    {
        string[] Args(string seed) => ["generate", "--model", fx.ModelDir, "--prompt-tokens", "1,2,3", "--max-tokens", "12", "--ignore-eos", "--temperature", "1.5", "--top-k", "50", "--seed", seed, "--json"];
        var a = Json(CliRunner.Run(Args("7")).Stdout).GetProperty("token_ids").GetRawText();
        var b = Json(CliRunner.Run(Args("7")).Stdout).GetProperty("token_ids").GetRawText();
        var c = Json(CliRunner.Run(Args("8")).Stdout).GetProperty("token_ids").GetRawText();
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Theory]
    [InlineData("missing-model", "no-such-model: model directory does not exist")]
    [InlineData("bad-token", "'99999' is not a token id")]
    [InlineData("bad-adapter", "--adapter 'nope' is neither a directory")]
    [InlineData("bad-top-p", "top_p must be in (0, 1]")]
    public void Bad_input_exits_non_zero_with_a_message_naming_it(string kind, string expected)
    {
        string[] args = kind switch
        {
            "missing-model" => ["generate", "--model", Path.Combine(fx.Root, "no-such-model"), "--prompt", "hi"],
            "bad-token" => ["generate", "--model", fx.ModelDir, "--prompt-tokens", "1,99999"],
            "bad-adapter" => ["generate", "--model", fx.ModelDir, "--adapter", "nope", "--prompt", "hi"],
            "bad-top-p" => ["generate", "--model", fx.ModelDir, "--prompt", "hi", "--top-p", "0"],
            _ => throw new ArgumentException(kind),
        };
        var (code, _, stderr) = CliRunner.Run(args);
        Assert.NotEqual(0, code);
        Assert.Contains(expected, stderr);
        Assert.DoesNotContain("   at ", stderr); // a message, not a stack trace
    }
}
