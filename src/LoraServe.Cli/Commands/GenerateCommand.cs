using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using LoraServe.Core.Kernels;
using LoraServe.Lora.Adapters;
using LoraServe.Lora.Execution;
using LoraServe.Models;
using LoraServe.Models.Config;
using LoraServe.Models.Generation;

namespace LoraServe.Cli.Commands;

/// <summary>`loraserve generate`: one prompt, one completion, on the CPU.</summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "Hugging Face model directory (default: the embedded default model, created on first use)" };
        var adapter = new Option<string?>("--adapter") { Description = "PEFT LoRA adapter: a directory, or the name of one under MODEL/adapters/" };
        var prompt = new Option<string?>("--prompt") { Description = "Prompt text (tokenized with the model's tokenizer, BOS added as the tokenizer config says)" };
        var promptTokens = new Option<string?>("--prompt-tokens") { Description = "Prompt as raw token ids, comma-separated (instead of --prompt)" };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Maximum tokens to generate", DefaultValueFactory = _ => 64 };
        var temperature = new Option<float>("--temperature") { Description = "Sampling temperature; 0 = greedy", DefaultValueFactory = _ => 0f };
        var topP = new Option<float>("--top-p") { Description = "Nucleus sampling mass in (0, 1]", DefaultValueFactory = _ => 1f };
        var topK = new Option<int>("--top-k") { Description = "Keep the k most likely tokens; 0 = all", DefaultValueFactory = _ => 0 };
        var seed = new Option<ulong?>("--seed") { Description = "Random seed for reproducible sampling" };
        var ignoreEos = new Option<bool>("--ignore-eos") { Description = "Keep generating after an end-of-sequence token" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object: prompt and generated token ids, text, per-token log-probabilities, finish reason" };

        var weights = WeightsOption.Create();
        var command = new Command("generate", "Generate a completion for one prompt");
        foreach (var o in new Option[] { model, weights, adapter, prompt, promptTokens, maxTokens, temperature, topP, topK, seed, ignoreEos, json }) command.Options.Add(o);
        command.SetAction(parse =>
        {
            string? text = parse.GetValue(prompt), ids = parse.GetValue(promptTokens);
            if ((text is null) == (ids is null))
            {
                Console.Error.WriteLine("error: give exactly one of --prompt or --prompt-tokens");
                return 2;
            }
            var sampling = new SamplingParams(parse.GetValue(temperature), parse.GetValue(topP), parse.GetValue(topK), parse.GetValue(seed));
            try
            {
                sampling.Validate();
                string dir = parse.GetValue(model) ?? DefaultModel.EnsureCreated(Console.Error);
                using var pretrained = PretrainedModel.Load(dir, parse.GetValue(weights));
                var promptIds = text is not null ? pretrained.Tokenizer.Encode(text) : ParseTokenIds(ids!, pretrained.Config.VocabSize);
                var delta = parse.GetValue(adapter) is { } a ? new SingleAdapterDelta(LoadAdapter(a, pretrained)) : null;
                var options = new GenerationOptions
                {
                    MaxTokens = parse.GetValue(maxTokens), Sampling = sampling, StopTokenIds = pretrained.EosTokenIds, IgnoreEos = parse.GetValue(ignoreEos),
                };
                return parse.GetValue(json) ? PrintJson(pretrained, promptIds, options, delta) : Stream(pretrained, promptIds, options, delta);
            }
            catch (Exception e) when (e is ModelFormatException or ArgumentException or IOException or FormatException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 1;
            }
        });
        return command;
    }

    /// <summary>An adapter directory as given, else a name under the model's adapters/ folder (where the embedded default keeps its own).</summary>
    private static LoraAdapter LoadAdapter(string dirOrName, PretrainedModel pretrained)
    {
        string dir = Directory.Exists(dirOrName) ? dirOrName : Path.Combine(pretrained.Directory, "adapters", dirOrName);
        if (!Directory.Exists(dir))
            throw new ArgumentException($"--adapter '{dirOrName}' is neither a directory nor the name of an adapter under {Path.Combine(pretrained.Directory, "adapters")}");
        return PeftAdapterLoader.Load(dir, Path.GetFileName(Path.GetFullPath(dir).TrimEnd('/')), pretrained.Config);
    }

    private static int Stream(PretrainedModel pretrained, IReadOnlyList<int> prompt, GenerationOptions options, SingleAdapterDelta? delta)
    {
        var detokenizer = pretrained.Tokenizer.CreateDetokenizer();
        var generator = new SingleSequenceGenerator(pretrained.Model);
        foreach (var token in generator.Generate(prompt, options, delta))
        {
            if (token.Finish == FinishReason.Stop) break;
            Console.Write(detokenizer.Push(token.TokenId));
        }
        Console.Write(detokenizer.Flush());
        Console.WriteLine();
        return 0;
    }

    private static int PrintJson(PretrainedModel pretrained, IReadOnlyList<int> prompt, GenerationOptions options, SingleAdapterDelta? delta)
    {
        var generator = new SingleSequenceGenerator(pretrained.Model);
        var tokens = new List<int>();
        var logprobs = new List<float>();
        var finish = FinishReason.None;
        foreach (var token in generator.Generate(prompt, options, delta))
        {
            tokens.Add(token.TokenId);
            logprobs.Add(token.LogProb);
            finish = token.Finish;
        }
        var result = new
        {
            prompt_token_ids = prompt,
            token_ids = tokens,
            text = pretrained.Tokenizer.Decode(tokens.ToArray(), skipSpecialTokens: true),
            logprobs,
            finish_reason = finish == FinishReason.Stop ? "stop" : "length",
        };
        Console.WriteLine(JsonSerializer.Serialize(result));
        return 0;
    }

    private static int[] ParseTokenIds(string list, int vocab)
    {
        var parts = list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var ids = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out ids[i]) || ids[i] >= vocab)
                throw new FormatException($"--prompt-tokens: '{parts[i]}' is not a token id in 0..{vocab - 1}");
        }
        return ids;
    }
}
